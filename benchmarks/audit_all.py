"""Audit every dataset in ../shared/data and print the issue-5 summary table.

Per dataset: the unsolvability ceiling, the best model by average rank across categories and its rank
(a rank near 1 = a dominant model), exact and near-duplicate groups (cosine >= 0.999 on MiniLM-L6)
with the share of groups whose labels disagree, the oracle-label majority share (the 79 % trap), and the
warnings of the cost, token and name checks (issue 11 §3: $0 rows with tokens, constant token counts,
missing prices, alias model names), each printed in full below the table.

Usage::

    python benchmarks/audit_all.py [--encoder minilm] [--datasets a,b] [--checks a,b] [--out benchmarks/results/audit]

``--checks`` runs only those checks (e.g. ``--checks zero_cost_tokens,constant_tokens,missing_prices,model_aliases``
for the quick cost and name sanity pass); the columns of checks not run read "—".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from routerlab.audit import DATA_WARNING_CHECKS, audit
from routerlab.data import load

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = [
    "llmrouter-dcrouter",
    "routerdc-7models",
    "routerbench-0shot-subset",
    "openllm-leaderboard-v2",
    "routellm-evals",
]


def _numbers(report: Any, check: str, key: str | None = None) -> list[dict[str, Any]]:
    return [f.numbers for f in report.findings if f.check == check and (key is None or key in f.numbers)]


def _first(report: Any, check: str, key: str) -> dict[str, Any] | None:
    found = _numbers(report, check, key)
    return found[0] if found else None


def _dup(report: Any, near: bool) -> str:
    for f in report.findings:
        if f.check != "duplicates" or "n_groups" not in f.numbers:
            continue
        if ("threshold" in f.numbers) != near:
            continue
        n = f.numbers
        share = n.get("disagree_share")
        return f"{n['n_groups']} groups ({n.get('n_queries_in_groups', 0)} queries), " + (
            f"{100 * share:.1f} % disagree" if share is not None else "—"
        )
    return "not checked (no text)" if near else "—"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--checks", default="", help="comma-separated checks (default: every default check)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/audit"))
    args = ap.parse_args()
    rows = []
    sanity: list[str] = []
    for name in args.datasets.split(","):
        t0 = time.perf_counter()
        data = load(name, SHARED / name)
        checks = args.checks or None
        wants_encoder = data.texts is not None and (checks is None or "duplicates" in checks)
        options = {"encoder": args.encoder} if wants_encoder else {}
        report = audit(data, checks, **options)
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        (out / "audit.json").write_text(report.to_json() + "\n")
        (out / "audit.md").write_text(report.to_markdown())
        ceil = _first(report, "oracle_ceiling", "ceiling")
        dom = _first(report, "model_dominance", "best_avg_rank")
        lab = _first(report, "label_sanity", "majority_share")
        best = (dom.get("dominant_model") or (dom["top"][0]["model"] if dom.get("top") else "?")) if dom else ""
        flagged = [f for f in report.findings if f.check in DATA_WARNING_CHECKS and f.severity != "info"]
        ran = [c for c in DATA_WARNING_CHECKS if c in report.checks]
        sanity += [f"- {name}: [{f.severity}] {f.check}: {f.title}" for f in flagged]
        rows.append(
            (
                name,
                f"{100 * ceil['ceiling']:.1f} %" if ceil else "—",
                f"{best} ({dom['best_avg_rank']:.2f})" if dom else "—",
                _dup(report, near=False) if "duplicates" in report.checks else "—",
                _dup(report, near=True) if "duplicates" in report.checks else "—",
                f"{100 * lab['majority_share']:.1f} % ({lab['majority_model']})" if lab else "—",
                (f"{len(flagged)} ({', '.join(sorted({f.check for f in flagged}))})" if flagged else "0")
                if ran
                else "—",
                f"{time.perf_counter() - t0:.0f} s",
            )
        )
        print(f"{name}: done in {rows[-1][-1]}", flush=True)
    head = (
        "dataset",
        "ceiling",
        "best model (avg rank)",
        "exact dup groups",
        "near dup groups (≥0.999)",
        "oracle-label majority",
        "cost/token/name warnings",
        "time",
    )
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if sanity:
        print("\nCost, token and name warnings:")
        print("\n".join(sanity))


if __name__ == "__main__":
    main()
