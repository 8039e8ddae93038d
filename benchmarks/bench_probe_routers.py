"""Fit time, peak memory and layer recovery of the probe routers at SmolLM2-135M's shape (31 layers × 576).

Synthetic hidden states with a known layer structure (no model needed): ``n`` queries × 31 layers ×
576 dims (float32, each layer on its own scale, growing with depth as a residual stream does), the
small model right with probability ``σ(3·u·h_l)`` averaged over the signal layers. Prints, per router,
the fit and predict seconds, the test AUROC (`routerxbench.txt` §3.3) and where the layer weights sit.

    PYTHONPATH=src python benchmarks/bench_probe_routers.py --n 4000 --signal 18,19,20

The real-data tables (Tab. 1/3/4 layouts) are benchmarks/probes_xbench.py's job; this script only
sizes the routers on the real feature shape. On the 2-core dev machine (shared), ``--n 14000``
(MMLU's size; 954 MiB of float32 features, 10.5k training queries) gave: probe_final fit 14.9 s,
AUROC 0.512 (the last layer is noise here); probe_mean 6.3 s, 0.589; probe_dirichlet 29.4 s,
0.902, weights 0.27–0.28 on layers 18–20; the hidden=64 MLP probe 26.3 s, 0.867; peak RSS 3.6 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from routerlab.data import ModelInfo, RoutingData
from routerlab.metrics import auroc_score
from routerlab.routers import make_router


def problem(n: int, n_layers: int, d: int, signal: list[int], seed: int) -> tuple[RoutingData, np.ndarray]:
    g = np.random.default_rng(seed)
    scales = np.geomspace(1.0, 50.0, n_layers).astype(np.float32)
    X = np.empty((n, n_layers, d), dtype=np.float32)
    for layer in range(n_layers):  # layer by layer: a float64 (n, L, d) draw would be 4× the float32 array
        X[:, layer] = g.standard_normal((n, d), dtype=np.float32) * scales[layer]
    u = g.normal(size=d)
    u /= np.linalg.norm(u)
    t = np.mean([(X[:, k].astype(np.float64) / scales[k]) @ u for k in signal], axis=0) * np.sqrt(len(signal))
    y_small = (g.random(n) < 1 / (1 + np.exp(-3 * t))).astype(float)
    y_large = (g.random(n) < 0.8).astype(float)
    data = RoutingData(
        name="bench-probe",
        query_ids=np.array([f"q{i:06d}" for i in range(n)], dtype=object),
        texts=np.array([f"q{i}" for i in range(n)], dtype=object),
        sources=np.array(["synthetic"] * n, dtype=object),
        splits=np.where(np.arange(n) < int(0.75 * n), "train", "test").astype(object),
        models=(
            ModelInfo(name="smollm2-135m", input_price=0.0, output_price=0.0),
            ModelInfo(name="large", input_price=1.0, output_price=1.0),
        ),
        Y=np.c_[y_small, y_large],
        cost=np.tile([0.001, 1.0], (n, 1)),
        cost_unit="usd",
    )
    return data, X.reshape(n, n_layers * d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--layers", type=int, default=31)
    ap.add_argument("--dim", type=int, default=576)
    ap.add_argument("--signal", default="18,19,20", help="comma-separated layers that carry the signal")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    signal = [int(s) for s in args.signal.split(",")]
    t0 = time.perf_counter()
    data, X = problem(args.n, args.layers, args.dim, signal, args.seed)
    print(f"features {X.shape} float32 = {X.nbytes / 2**20:.0f} MiB, made in {time.perf_counter() - t0:.1f} s")
    tr, te = data.splits == "train", data.splits == "test"
    train, test = data.subset(tr), data.subset(te)
    print(f"{'router':<28}{'fit s':>8}{'pred s':>8}{'AUROC':>8}  top layers (weight)")
    for name, params in [
        ("probe_final", {}),
        ("probe_mean", {}),
        ("probe_dirichlet", {"epochs": args.epochs}),
        ("probe_dirichlet", {"epochs": args.epochs, "hidden": 64}),
    ]:
        router = make_router(name, n_layers=args.layers, **params)
        t1 = time.perf_counter()
        router.fit(train, X[tr])
        t2 = time.perf_counter()
        p = router.predict_small_proba(X[te])
        t3 = time.perf_counter()
        auroc = auroc_score(score=p, label=test.Y[:, 0])
        w = router.layer_weights_
        top = ", ".join(f"{i} ({w[i]:.2f})" for i in np.argsort(-w)[:3])
        label = name + ("(hidden=64)" if params.get("hidden") else "")
        print(f"{label:<28}{t2 - t1:>8.2f}{t3 - t2:>8.2f}{auroc:>8.3f}  {top}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MiB; signal layers {signal}")


if __name__ == "__main__":
    main()
