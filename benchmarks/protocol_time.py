"""The protocol in minutes (issue 16 item 2): wall time of the full seed protocol per dataset, and where it goes.

For each dataset of a sweep config (``benchmarks/configs/protocol-time.yaml``), one at a time, into
``OUT/<dataset>``: ``run_sweep`` (stage 1: every router's grid selected on validation; stage 2: the
top configurations refitted over the other seeds), timed wall-clock; then the per-router breakdown
from its ``runs.jsonl``: runs (stage 1 / stage 2), Σ fit_s, Σ predict_s, seconds per run and share
of the dataset's total. ``--before DATASET=PATH`` prints the same breakdown of an older runs.jsonl
(e.g. the issue-15 run of the old code) and, for routers in both, the before/after ratio.

Usage::

    ROUTERLAB_DATA_DIR=/work/shared/data flock /tmp/routerlab-heavy.lock python benchmarks/protocol_time.py \
        benchmarks/configs/protocol-time.yaml --out ../runs/protocol-time [--n-jobs 2] [--datasets a,b] \
        [--before routerdc-7models=../runs/past-plateau/routerdc-7models/sweep/runs.jsonl] [--resume]

The MiniLM vectors come from the embedding cache (encode once beforehand: ``routerlab encode``), so
the time is routing work only. A dataset whose OUT folder already holds runs is refused unless
``--resume`` (records are reused then, and the wall time no longer covers every run). The load
average at the start and end of each dataset is printed: this machine is shared, and the per-run
seconds of a busy machine are longer. Writes ``OUT/protocol_time.json`` (walls, breakdowns, loads).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from routerlab.experiments.sweep import SweepConfig, run_sweep


def read_ok_runs(path: Path) -> list[dict[str, Any]]:
    """The successful records of a runs.jsonl (any schema version), the last one per run key."""
    last: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec.get("status") == "ok":
                last[rec["run_key"]] = rec
    return list(last.values())


def breakdown(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per router: runs, stage-1 and stage-2 runs, Σ fit_s, Σ predict_s."""
    rows: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(("runs", "s1", "s2", "fit", "predict"), 0.0))
    for rec in records:
        row = rows[rec["router"]]
        row["runs"] += 1
        row["s1" if rec.get("stage") == 1 else "s2"] += 1
        row["fit"] += float(rec.get("fit_s", 0.0))
        row["predict"] += float(rec.get("predict_s", 0.0))
    return dict(rows)


def breakdown_table(rows: dict[str, dict[str, float]]) -> str:
    total = sum(r["fit"] + r["predict"] for r in rows.values()) or 1.0
    lines = [
        "| router | runs (stage 1 + 2) | Σ fit s | Σ predict s | Σ fit+predict s | s / run | share |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in sorted(rows.items(), key=lambda kv: -(kv[1]["fit"] + kv[1]["predict"])):
        both = r["fit"] + r["predict"]
        lines.append(
            f"| {name} | {r['runs']:.0f} ({r['s1']:.0f} + {r['s2']:.0f}) | {r['fit']:.1f} | {r['predict']:.1f} | "
            f"{both:.1f} | {both / r['runs']:.1f} | {100 * both / total:.1f} % |"
        )
    n = sum(r["runs"] for r in rows.values())
    lines.append(f"| **all** | {n:.0f} | | | {total:.1f} | {total / max(n, 1):.1f} | 100 % |")
    return "\n".join(lines)


def compare_table(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> str:
    lines = ["| router | runs before → after | Σ s before → after | × faster |", "|---|---:|---:|---:|"]
    for name in sorted(set(before) & set(after), key=lambda n: -(before[n]["fit"] + before[n]["predict"])):
        b, a = before[name], after[name]
        sb, sa = b["fit"] + b["predict"], a["fit"] + a["predict"]
        lines.append(f"| {name} | {b['runs']:.0f} → {a['runs']:.0f} | {sb:.0f} → {sa:.0f} | {sb / max(sa, 1e-9):.1f} |")
    return "\n".join(lines)


def _progress(t0: float, every: int = 10) -> Any:
    def tick(done: int, total: int, message: str) -> None:
        if done % every == 0 or done == total or message.startswith("stage"):
            print(f"  [{time.perf_counter() - t0:7.0f} s] {done}/{total} {message}", file=sys.stderr, flush=True)

    return tick


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_dataset(config: SweepConfig, index: int, out: Path, resume: bool) -> dict[str, Any]:
    ref = config.datasets[index]
    folder = out / ref.key
    if (folder / "runs.jsonl").exists() and not resume:
        raise SystemExit(
            f"{folder / 'runs.jsonl'} exists: its records would be reused and the wall time would not cover "
            "every run. Use another --out, delete the folder, or pass --resume."
        )
    cfg = config.model_copy(update={"datasets": [ref], "out_dir": folder})
    load_start = _load()
    print(f"## {ref.key}: load average {load_start} at start", flush=True)
    t0 = time.perf_counter()
    result = run_sweep(cfg, progress=_progress(t0))
    wall = time.perf_counter() - t0
    rows = breakdown(read_ok_runs(folder / "runs.jsonl"))
    print(
        f"\n{ref.key}: protocol wall time {wall:.0f} s ({wall / 60:.1f} min), {result.n_executed} runs executed, "
        f"{result.n_skipped} reused, {len(result.errors)} failed; n_jobs {cfg.effective_n_jobs}; "
        f"load average {load_start} at start, {_load()} at end\n",
        flush=True,
    )
    print(breakdown_table(rows) + "\n", flush=True)
    return {
        "dataset": ref.key,
        "wall_s": round(wall, 1),
        "executed": result.n_executed,
        "reused": result.n_skipped,
        "errors": len(result.errors),
        "load_start": load_start,
        "load_end": _load(),
        "breakdown": rows,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/protocol-time"))
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument("--datasets", default=None, help="comma-separated subset of the config's datasets (its order)")
    ap.add_argument("--before", action="append", default=[], metavar="DATASET=RUNS_JSONL")
    ap.add_argument("--resume", action="store_true", help="reuse records already in OUT/<dataset>")
    args = ap.parse_args(argv)
    config = SweepConfig.from_yaml(args.config, n_jobs=args.n_jobs, out_dir=args.out)
    wanted = None if args.datasets is None else set(args.datasets.split(","))
    before = dict(item.split("=", 1) for item in args.before)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"routers: {', '.join(config.routers)}; encoders: {', '.join(config.encoders)}; cpus: {os.cpu_count()}\n")
    results = []
    for i, ref in enumerate(config.datasets):
        if wanted is None or ref.key in wanted:
            results.append(run_dataset(config, i, args.out, args.resume))
            (args.out / "protocol_time.json").write_text(json.dumps(results, indent=2) + "\n")
    total = sum(r["wall_s"] for r in results)
    print("| dataset | wall s | min | runs | load at start → end |\n|---|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['dataset']} | {r['wall_s']:.0f} | {r['wall_s'] / 60:.1f} | {r['executed']} | "
            f"{r['load_start']} → {r['load_end']} |"
        )
    print(f"| **all** | {total:.0f} | {total / 60:.1f} | {sum(r['executed'] for r in results)} | |\n")
    after = {r["dataset"]: r["breakdown"] for r in results}
    for dataset, path in before.items():
        rows = breakdown(read_ok_runs(Path(path)))
        print(f"### before: {dataset} ({path})\n\n{breakdown_table(rows)}\n")
        if dataset in after:
            print(f"### {dataset}: before → after, per router\n\n{compare_table(rows, after[dataset])}\n")


if __name__ == "__main__":
    main()
