"""Audit every dataset in ../shared/data and print the issue-5 summary table.

Per dataset: the unsolvability ceiling, the best model by average rank across categories and its rank
(a rank near 1 = a dominant model), exact and near-duplicate groups (cosine >= 0.999 on MiniLM-L6)
with the share of groups whose labels disagree, and the oracle-label majority share (the 79 % trap).

Usage::

    python benchmarks/audit_all.py [--encoder minilm] [--datasets a,b] [--out benchmarks/results/audit]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from routerlab.audit import audit
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
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/audit"))
    args = ap.parse_args()
    rows = []
    for name in args.datasets.split(","):
        t0 = time.perf_counter()
        data = load(name, SHARED / name)
        options = {"encoder": args.encoder} if data.texts is not None else {}
        report = audit(data, **options)
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        (out / "audit.json").write_text(report.to_json() + "\n")
        (out / "audit.md").write_text(report.to_markdown())
        ceil = _numbers(report, "oracle_ceiling", "ceiling")[0]
        dom = _numbers(report, "model_dominance", "best_avg_rank")[0]
        lab = _numbers(report, "label_sanity", "majority_share")[0]
        best = dom.get("dominant_model") or (dom["top"][0]["model"] if dom.get("top") else "?")
        rows.append(
            (
                name,
                f"{100 * ceil['ceiling']:.1f} %",
                f"{best} ({dom['best_avg_rank']:.2f})",
                _dup(report, near=False),
                _dup(report, near=True),
                f"{100 * lab['majority_share']:.1f} % ({lab['majority_model']})",
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
        "time",
    )
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
