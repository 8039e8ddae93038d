"""Reproduce `routing-plateau.txt` Table 1 (λ = 0) where its benchmarks are present, and the plateau.

For each dataset: the seed protocol (App. E.4: stage 1 over up to 15 configs with seed 42, selection
on validation accuracy at λ = 0, stage 2 with seeds {1337, 2026, 7, 99} for the top 5) for every
router, with one encoder (MiniLM-L6 by default; the paper averages six encoders). Prints:

* paper vs ours for kNN, KMeans and MLP where the dataset is one the paper used;
* the plateau: the top-5 routers, their spread (max − min) and their gap to the oracle;
* the best routerlab router and its paired-bootstrap 95 % CI against kNN (seeded, 1,000 resamples
  over test queries), refitting both selected configs with seed 42.

Usage::

    python benchmarks/plateau.py [--datasets a,b] [--routers all|knn,kmeans,mlp] [--encoder minilm]
                                 [--out benchmarks/results/plateau] [--n-jobs 2]

Runs are recorded in ``OUT/<dataset>/runs.jsonl``; an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from routerlab.data import load
from routerlab.data.features import encode
from routerlab.experiments.sweep import SweepConfig, run_sweep
from routerlab.metrics import chosen
from routerlab.metrics.bootstrap import paired_difference_ci
from routerlab.routers import LEARNED, ROUTERS, make_router, router_tags

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TEXT_DATASETS = ["routerbench-0shot-subset", "llmrouter-dcrouter", "routellm-evals", "routerdc-7models"]

# routing-plateau.txt Table 1, test accuracy (%) at λ = 0, encoder-averaged, for the methods we share.
PAPER_TABLE1 = {
    "RouterBench": {
        "knn": 80.39,
        "kmeans": 80.35,
        "mlp": 80.29,
        "mf": 80.32,
        "elo": 80.36,
        "linucb": 73.41,
        "contrastive": 80.17,
        "irt": 77.49,
        "rf": 77.57,
    },
    "CARROT/SPROUT": {
        "knn": 86.78,
        "kmeans": 86.64,
        "mlp": 86.12,
        "mf": 86.34,
        "elo": 86.85,
        "linucb": 85.87,
        "contrastive": 83.13,
        "irt": 84.78,
        "rf": 86.26,
    },
}
# which of our datasets corresponds (in part) to a benchmark of the paper
PAPER_NAME = {"routerbench-0shot-subset": "RouterBench", "openllm-leaderboard-v2": "CARROT/SPROUT"}


def per_query_quality(name: str, params: dict, data, X: np.ndarray) -> np.ndarray:
    """Refit the selected config (seed 42) on train and return each test query's chosen quality."""
    router = make_router(name, **params)
    if "random_state" in router.get_params():
        router.set_params(random_state=42)
    train, test = data.splits == "train", data.splits == "test"
    test_data = data.subset(test)
    router.fit(data.subset(train), X[train])
    choice = router.route(test_data, X[test], available=test_data.observed)
    return chosen(test_data.Y, choice)


def run_dataset(name: str, routers: list[str], encoder: str, out: Path, n_jobs: int) -> None:
    data = load(name, SHARED / name)
    t0 = time.perf_counter()
    X = encode(data, encoder)
    t_enc = time.perf_counter() - t0
    config = SweepConfig.build(
        datasets=[name],
        routers=[*routers, "best_single", "oracle"],
        encoders=[encoder],
        out_dir=out / name,
        n_jobs=n_jobs,
    )
    t0 = time.perf_counter()
    result = run_sweep(config, features={(name, encoder): X}, data={name: data})
    t_sweep = time.perf_counter() - t0
    rows = {r.router: r for r in result.summary if r.status == "ok"}
    oracle = rows["oracle"].test_acc_mean
    print(f"\n=== {name}: {data.n_queries} queries, {data.n_models} models, encoder {encoder}")
    print(
        f"encode {t_enc:.1f} s (cached after the first run); protocol {t_sweep:.1f} s, "
        f"{result.n_executed} runs executed, {result.n_skipped} resumed from records"
    )
    print(f"{'router':<14}{'test acc %':>12}{'± std':>8}{'configs':>9}{'runs':>6}  selected params")
    for r in sorted(rows.values(), key=lambda r: -(r.test_acc_mean or 0)):
        print(
            f"{r.router:<14}{100 * r.test_acc_mean:>12.2f}{100 * (r.test_acc_std or 0):>8.2f}"
            f"{r.n_configs:>9}{r.n_runs:>6}  {r.params}"
        )
    paper = PAPER_TABLE1.get(PAPER_NAME.get(name, ""), {})
    if paper:
        print(f"\npaper ({PAPER_NAME[name]}, Table 1) vs ours:")
        for method, value in paper.items():
            if method in rows:
                ours = 100 * rows[method].test_acc_mean
                print(f"  {method:<12} paper {value:6.2f}  ours {ours:6.2f}  gap {ours - value:+6.2f} pp")
    learned = [r for r in rows.values() if r.router in LEARNED]
    top = sorted(learned, key=lambda r: -r.test_acc_mean)[:5]
    if top:
        accs = [100 * r.test_acc_mean for r in top]
        print(
            f"\nplateau: top-5 {[r.router for r in top]} spread {max(accs) - min(accs):.2f} pp; "
            f"best {max(accs):.2f} %, oracle {100 * oracle:.2f} %, gap to oracle {100 * oracle - max(accs):.2f} pp; "
            f"best single {100 * rows['best_single'].test_acc_mean:.2f} %"
        )
    time_by_router: dict[str, list[float]] = {}
    for rec in result.records:
        if rec.get("status") == "ok":
            time_by_router.setdefault(rec["router"], []).append(rec["fit_s"] + rec["predict_s"])
    total = sum(sum(v) for v in time_by_router.values())
    print(f"\nwhere the time goes (fit + predict, summed over runs; {total:.0f} s of compute in all):")
    for router, times in sorted(time_by_router.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {router:<14}{sum(times):>9.1f} s  {len(times):>3} runs  {sum(times) / len(times):>7.2f} s/run")
    if "knn" in rows and top:
        best = top[0]
        q_best = per_query_quality(best.router, best.params, data, X)
        q_knn = per_query_quality("knn", rows["knn"].params, data, X)
        ci = paired_difference_ci(q_best, q_knn, n_resamples=1000, seed=0)
        verdict = "beyond noise" if ci.excludes_zero else "within noise (tied)"
        print(
            f"best router {best.router} vs knn (seed-42 refits): Δ = {100 * ci.estimate:+.2f} pp, "
            f"95 % CI [{100 * ci.low:+.2f}, {100 * ci.high:+.2f}] — {verdict}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(TEXT_DATASETS))
    ap.add_argument("--routers", default="all")
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/plateau"))
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    # "all": every learned router that reads a text encoder's embeddings (not the small-model probes)
    routers = (
        [r for r in LEARNED if router_tags(r).features is None] if args.routers == "all" else args.routers.split(",")
    )
    for r in routers:
        ROUTERS.get(r)
    t0 = time.perf_counter()
    for name in args.datasets.split(","):
        run_dataset(name, routers, args.encoder, args.out, args.n_jobs)
    print(f"\ntotal wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
