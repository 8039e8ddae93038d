"""Code-sandbox cost: HumanEval's 164 canonical solutions through :class:`routerlab.score.CodeScorer`.

    python benchmarks/bench_sandbox.py [--path ../shared/data/raw-evals/humaneval/HumanEval.jsonl.gz]
                                       [--limit 164] [--jobs 2]

Each answer runs in the two-process sandbox (candidate process + test process, issue 10). Prints the
pass count (all 164 must pass), the layers in force, and seconds per answer (wall clock, mean and p90),
with ``--jobs`` worker processes (the sandbox sets limits between fork and exec: one thread per process).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from routerlab.score import CodeScorer, ScoreItem
from routerlab.score.code import sandbox_layers

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw-evals" / "humaneval" / "HumanEval.jsonl.gz"


def score_one(problem: dict[str, Any]) -> tuple[str, str, float]:
    item = ScoreItem(
        text=problem["prompt"], tests=problem["test"], entry_point=problem["entry_point"], query_id=problem["task_id"]
    )
    start = time.perf_counter()
    result = CodeScorer(timeout_s=10).score(problem["canonical_solution"], item)
    return problem["task_id"], result.reason, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT)
    parser.add_argument("--limit", type=int, default=164)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with gzip.open(args.path, "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh][: args.limit]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("layers:", ", ".join(f"{k}={v}" for k, v in sandbox_layers().items()))
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(score_one, problems))
    wall = time.perf_counter() - start
    per = sorted(t for _, _, t in results)
    failed = [(task, reason) for task, reason, _ in results if reason != "passed"]
    print(f"canonical solutions passed: {len(results) - len(failed)}/{len(results)}")
    for task, reason in failed:
        print(f"  FAILED {task}: {reason}")
    print(
        f"seconds per answer: mean {statistics.mean(per):.3f}, p90 {per[int(0.9 * (len(per) - 1))]:.3f}; "
        f"{len(results) / wall:.1f} answers/s with {args.jobs} jobs ({wall:.1f} s in all)"
    )


if __name__ == "__main__":
    main()
