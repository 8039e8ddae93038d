"""The same sweep on the local backend and on a local Ray cluster of 1 and 2 worker nodes: wall time each.

    python benchmarks/ray_sweep.py [--data routerlab-dcrouter] [--encoder hashing] [--routers knn,mlp]
                                   [--max-configs 6] [--seeds 42,1337,2026,7,99]

The cluster is real (tests/experiments/ray_cluster.py): a head with no CPUs (it schedules, runs no
task) and worker nodes of 1 CPU each, separate process groups on loopback. Features are encoded
(cached) first, so every row times the runs only; each sweep writes a fresh out dir. The Ray rows
include joining the cluster (about a second); "ray (in-process)" also starts a local Ray of
``--n-jobs`` CPUs. Every summary.json is checked byte for byte against the local one. On a 2-core
machine two 1-CPU nodes can at best halve the wall time, and the driver, the head's processes and
anything else running share the same two cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.experiments.ray_cluster

from tests.experiments.ray_cluster import LocalRayCluster

from routerlab.data import load
from routerlab.data.features import encode
from routerlab.experiments.sweep import SweepConfig, read_records, run_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="routerlab-dcrouter")
    ap.add_argument("--encoder", default="hashing")
    ap.add_argument("--routers", default="knn,mlp")
    ap.add_argument("--max-configs", type=int, default=6)
    ap.add_argument("--seeds", default="42,1337,2026,7,99")
    ap.add_argument("--n-jobs", type=int, default=2, help="local backend processes / in-process Ray CPUs")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ray-sweep-"))
    try:
        _compare(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _compare(args: argparse.Namespace, root: Path) -> None:
    os.environ.setdefault("ROUTERLAB_CACHE_DIR", str(root / "cache"))
    encode(load(args.data), args.encoder)  # cached: the sweeps below time the runs, not the encoder
    base = {
        "datasets": [args.data],
        "routers": args.routers.split(","),
        "encoders": [args.encoder],
        "max_configs": args.max_configs,
        "seeds": [int(s) for s in args.seeds.split(",")],
        "top_k": 2,
        "lams": [0.0, 0.5],
    }
    rows: list[tuple[str, float, int, bool]] = []
    reference = root / "local-1"

    def timed(label: str, out: str, **extra: object) -> None:
        t0 = time.perf_counter()
        result = run_sweep(SweepConfig.build(**base, out_dir=root / out, **extra))
        wall = time.perf_counter() - t0
        same = (root / out / "summary.json").read_bytes() == (reference / "summary.json").read_bytes()
        rows.append((label, wall, result.n_executed, same))
        load = os.getloadavg()[0]
        print(f"{label:<28} {wall:7.1f} s  {result.n_executed} runs  same summary: {same}  load {load:.1f}", flush=True)

    timed("local, 1 process", "local-1", n_jobs=1)
    cpu = sum(r["fit_s"] + r.get("predict_s", 0.0) for r in read_records(reference / "runs.jsonl"))
    print(f"(fit + predict time summed over the runs: {cpu:.1f} s)")
    timed(f"local, {args.n_jobs} processes (loky)", "local-n", n_jobs=args.n_jobs)
    cluster = LocalRayCluster().start(head_cpus=0)
    try:
        cluster.add_worker()
        timed("ray, 1 worker node", "ray-1", backend="ray", address=cluster.address)
        cluster.add_worker()
        timed("ray, 2 worker nodes", "ray-2", backend="ray", address=cluster.address)
    finally:
        cluster.stop()
    timed(f"ray (in-process, {args.n_jobs} CPUs)", "ray-local", backend="ray", n_jobs=args.n_jobs)
    print("\n| backend | wall s | runs | summary.json identical |\n|---|---:|---:|---|")
    for label, wall, n, same in rows:
        print(f"| {label} | {wall:.1f} | {n} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
