"""Encoder speed: sentences/s on routerlab-mini queries, and cold (encode + write) vs warm (cached) time.

    python benchmarks/bench_encode.py [--n 1000] [--encoders static64 hashing handcrafted minilm]

Each encoder is first loaded and warmed up on one text that is not in the benchmark, so "cold"
is encoding plus writing the cache, not model loading (reported separately as "load"). The cache
lives in a fresh temporary folder unless --cache-dir is given.

MiniLM backends side by side (issue 16, item 1), on real query texts:

    ROUTERLAB_DATA_DIR=/work/shared/data python benchmarks/bench_encode.py --backends torch onnx onnx-int8 \
        [--data llmrouter-dcrouter] [--n 400] [--rounds 4] [--routing]

prints the sample's length distribution (characters, word pieces, share cut at the 254-piece
window), then per backend: queries/s (wall) and queries per CPU-second (all threads; less
sensitive to other jobs on a shared machine), the speed-up over torch, and the mean / minimum
cosine to the torch vectors. The sample is split into --rounds parts and the backends take turns
on each part, so a change in the machine's load hits them alike. --routing adds the routing Δ:
kNN (k chosen on the validation split from 5/10/20/50, and at the reference's k) test accuracy at
λ = 0 with each backend's vectors of the whole dataset against the plain minilm ones, with a
paired-bootstrap 95 % CI (1,000 resamples, seed 0; * when it excludes 0). Those vectors go through
the embedding cache (the user's, not a temporary one), so a second run is quick.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "llmrouter-dcrouter"


def load_texts_data(n: int):  # -> RoutingData
    """The first n queries of routerlab-mini, else of llmrouter-dcrouter (test.json then train.json)."""
    from routerlab.data import ModelInfo, RoutingData, load

    try:
        data = load("routerlab-mini")
        source = "routerlab-mini"
    except Exception as exc:  # the shipped subset may not be built yet
        print(f"routerlab-mini unavailable ({type(exc).__name__}: {exc}); falling back to llmrouter-dcrouter")
        try:
            data = load("llmrouter-dcrouter", path=SHARED)
            source = "llmrouter-dcrouter"
        except Exception as exc2:
            print(f"llmrouter-dcrouter loader unavailable ({type(exc2).__name__}); reading its JSON directly")
            rows = [r for f in ("test.json", "train.json") for r in json.loads((SHARED / f).read_text())]
            questions = [r["question"] for r in rows]
            questions = list(dict.fromkeys(questions))[:n]
            k = len(questions)
            data = RoutingData(
                name="dcrouter-raw",
                query_ids=[f"q{i}" for i in range(k)],
                texts=questions,
                sources=["dcrouter"] * k,
                splits=["test"] * k,
                models=(ModelInfo(name="m"),),
                Y=np.zeros((k, 1)),
                cost=np.zeros((k, 1)),
                cost_unit="usd",
            )
            source = "llmrouter-dcrouter JSON"
    data = data.subset(np.arange(min(n, data.n_queries)))
    return data, source


#: the instruction sets that decide int8 speed: with VNNI (AVX-512 or AVX) a u8 × s8 dot product is one
#: instruction; AVX2 alone needs two and saturates to int16 in between, so int8 gains less over fp32
_INT8_ISA = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


def cpu_line() -> str:
    """The CPU model and the int8-relevant instruction sets it has, from /proc/cpuinfo (Linux)."""
    from routerlab.data.features.onnx_backend import cpu_fields

    fields = cpu_fields()
    if not fields:
        return platform.processor() or "CPU model unknown"
    flags = set(fields.get("flags", "").split())
    isa = [f for f in _INT8_ISA if f in flags]
    return f"{fields.get('model name', 'CPU model unknown')} ({', '.join(isa) or 'no AVX2'})"


def _pct(values: np.ndarray) -> str:
    p = np.percentile(values, [10, 50, 90, 99])
    return f"p10 {p[0]:.0f}, median {p[1]:.0f}, p90 {p[2]:.0f}, p99 {p[3]:.0f}, max {values.max():.0f}"


def compare_backends(args: argparse.Namespace) -> None:
    """Throughput, cosine to torch and (with --routing) the kNN routing Δ of each MiniLM backend."""
    from routerlab.data import load
    from routerlab.data.features import get_encoder, token_spans

    data = load(args.data)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(data.n_queries, size=min(args.n, data.n_queries), replace=False))
    texts = [str(data.texts[i]) for i in rows]
    spans = token_spans(get_encoder("minilm"), texts)
    assert spans is not None
    chars = np.array([len(t) for t in texts])
    print(f"{len(texts)} of {data.n_queries} {args.data} queries (seeded sample, all splits)")
    print(f"  characters:  {_pct(chars)}")
    print(f"  word pieces: {_pct(spans.n_tokens)}; {100 * spans.truncated.mean():.1f} % cut at the 254-piece window")
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, {cpu_line()}; load average {os.getloadavg()[0]:.1f} at "
        f"the start; batch size {args.batch_size}, {args.rounds} rounds"
    )

    encoders = {b: get_encoder("minilm" if b == "torch" else f"minilm?backend={b}") for b in args.backends}
    for backend, enc in encoders.items():
        t0 = time.perf_counter()
        enc.encode(["warm-up text, not part of the benchmark"])  # load, and export the ONNX file if missing
        print(f"  {backend}: ready in {time.perf_counter() - t0:.1f} s ({enc.name})")
    wall = dict.fromkeys(encoders, 0.0)
    cpu = dict.fromkeys(encoders, 0.0)
    parts: dict[str, list[np.ndarray]] = {b: [] for b in encoders}
    for chunk in np.array_split(np.arange(len(texts)), args.rounds):
        batch = [texts[i] for i in chunk]
        for backend, enc in encoders.items():
            t0, c0 = time.perf_counter(), time.process_time()
            parts[backend].append(enc.encode(batch, batch_size=args.batch_size))
            wall[backend] += time.perf_counter() - t0
            cpu[backend] += time.process_time() - c0
    vectors = {b: np.concatenate(v) for b, v in parts.items()}
    ref = vectors.get("torch")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    header = f"{'backend':<10} {'q/s':>7} {'q/cpu-s':>8} {'speed-up':>9} {'cos mean':>9} {'cos min':>8}"
    print(header)
    print("-" * len(header))
    for backend in encoders:
        speed = len(texts) / wall[backend]
        up = f"{wall['torch'] / wall[backend]:.2f}x" if "torch" in wall else "-"
        cos = (vectors[backend] * ref).sum(axis=1) if ref is not None else np.full(1, np.nan)
        print(
            f"{backend:<10} {speed:>7.1f} {len(texts) / cpu[backend]:>8.1f} {up:>9} "
            f"{cos.mean():>9.5f} {cos.min():>8.5f}"
        )
    if args.routing:
        routing_delta(data, [b for b in encoders if b != "torch"], args.batch_size)


def routing_delta(data, backends: list[str], batch_size: int) -> None:  # data: RoutingData
    """kNN test accuracy at λ = 0 with each backend's vectors vs the torch ones, paired-bootstrap CI."""
    from routerlab.data.features import encode
    from routerlab.metrics.bootstrap import paired_difference_ci
    from routerlab.routers import make_router

    train, val, test = (np.flatnonzero(np.asarray(data.splits) == s) for s in ("train", "val", "test"))

    def quality(X: np.ndarray, k: int, rows: np.ndarray) -> np.ndarray:
        router = make_router("knn", k=k).fit(data.subset(train), X[train])
        choice = router.route(data.subset(rows), X[rows], lam=0.0)
        return np.asarray(data.Y[rows, choice], dtype=np.float64)

    ks = (5, 10, 20, 50)

    def per_query(X: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """Test rows at the k validation picks, that k, and the validation rows for every k."""
        on_val = np.stack([quality(X, k, val) for k in ks])
        best = ks[int(np.argmax(np.nanmean(on_val, axis=1)))]
        print(f"    validation accuracy by k: {_by_k(on_val)}; {selection_noise(on_val)}")
        return quality(X, best, test), best, on_val

    def _by_k(on_val: np.ndarray) -> str:
        return ", ".join(f"{k}: {np.nanmean(row):.4f}" for k, row in zip(ks, on_val, strict=True))

    def selection_noise(on_val: np.ndarray) -> str:
        # how often each k wins when the validation queries are resampled: a k picked in, say, 40 % of
        # resamples is a coin flip, and a backend that picks another k has moved within selection noise
        rng = np.random.default_rng(0)
        filled = np.nan_to_num(on_val, nan=0.0)
        seen = np.isfinite(on_val).astype(np.float64)
        draws = rng.integers(0, on_val.shape[1], size=(1000, on_val.shape[1]))
        means = filled[:, draws].sum(axis=2) / np.maximum(seen[:, draws].sum(axis=2), 1)
        wins = np.bincount(np.argmax(means, axis=0), minlength=len(ks)) / draws.shape[0]
        return "k picked in 1,000 bootstrap resamples of validation: " + ", ".join(
            f"{k}: {100 * w:.0f} %" for k, w in zip(ks, wins, strict=True)
        )

    def delta(other: np.ndarray, base: np.ndarray) -> str:
        ok = np.isfinite(base) & np.isfinite(other)
        ci = paired_difference_ci(other[ok], base[ok], n_resamples=1000, seed=0)
        star = "*" if ci.low > 0 or ci.high < 0 else ""
        return f"Δ {100 * ci.estimate:+.2f} pp [{100 * ci.low:+.2f}, {100 * ci.high:+.2f}]{star}"

    print(f"routing: kNN at λ = 0 on {data.name} ({len(train)} train / {len(val)} val / {len(test)} test)")
    X0 = encode(data, "minilm", batch_size=batch_size)
    base, k0, base_on_val = per_query(X0)
    print(f"  torch      test accuracy {np.nanmean(base):.4f} (k = {k0})")
    base_val = base_on_val[ks.index(k0)]
    for backend in backends:
        t0 = time.perf_counter()
        X = encode(data, f"minilm?backend={backend}", batch_size=batch_size)
        enc_s = time.perf_counter() - t0
        made = "read from the cache" if enc_s < 5 else f"{enc_s:.0f} s, {data.n_queries / enc_s:.0f} q/s, now cached"
        other, k, on_val = per_query(X)
        same_k = other if k == k0 else quality(X, k0, test)
        print(
            f"  {backend:<10} test accuracy {np.nanmean(other):.4f} (k = {k}); {delta(other, base)}; "
            f"at the reference's k = {k0}: {np.nanmean(same_k):.4f}, {delta(same_k, base)} "
            f"(vectors: {made}); on validation at k = {k0}: {delta(on_val[ks.index(k0)], base_val)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="texts (default: 1000; 400 with --backends)")
    parser.add_argument("--encoders", nargs="+", default=["static64", "hashing", "handcrafted", "minilm"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--backends", nargs="+", choices=["torch", "onnx", "onnx-int8"], default=None)
    parser.add_argument("--data", default="llmrouter-dcrouter", help="dataset for --backends")
    parser.add_argument("--rounds", type=int, default=4, help="turns the backends take on the sample")
    parser.add_argument("--routing", action="store_true", help="with --backends: the kNN routing Δ")
    args = parser.parse_args()
    if args.backends:
        if args.n is None:
            args.n = 400
        if args.cache_dir is not None:
            os.environ["ROUTERLAB_CACHE_DIR"] = str(args.cache_dir)
        compare_backends(args)
        return
    if args.n is None:
        args.n = 1000

    tmp = tempfile.TemporaryDirectory(prefix="bench-encode-")
    os.environ["ROUTERLAB_CACHE_DIR"] = str(args.cache_dir or tmp.name)
    from routerlab.data.features import encode, get_encoder

    data, source = load_texts_data(args.n)
    lengths = np.array([len(t) for t in data.texts])
    print(
        f"{data.n_queries} queries from {source}: {lengths.mean():.0f} chars on average "
        f"(median {np.median(lengths):.0f}, max {lengths.max()}); {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, batch size {args.batch_size}"
    )
    header = f"{'encoder':<12} {'dim':>5} {'load s':>7} {'cold s':>8} {'sent/s':>9} {'warm s':>8} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    for name in args.encoders:
        t0 = time.perf_counter()
        enc = get_encoder(name)
        enc.encode(["warm-up text, not part of the benchmark"])
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cold = encode(data, enc, batch_size=args.batch_size)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = encode(data, enc, batch_size=args.batch_size)
        warm_s = time.perf_counter() - t0
        assert warm.tobytes() == cold.tobytes()
        print(
            f"{name:<12} {cold.shape[1]:>5} {load_s:>7.2f} {cold_s:>8.3f} {data.n_queries / cold_s:>9.0f} "
            f"{warm_s:>8.3f} {cold_s / warm_s:>8.0f}x"
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
