"""Scaling table: time and peak memory of the routerlab steps on generated data of 10k / 100k / 1M queries × 30 models.

    python benchmarks/scale.py [--sizes 10000 100000 1000000] [--root /work/scale] [--steps ...]
                               [--knn-queries 2000] [--force]
    python benchmarks/scale.py --table            # print the table of what was measured

Data: :func:`routerlab.data.synthetic.write_synthetic` (seed 0) writes ``ROOT/N/data.parquet`` (Y, cost,
tokens_in, tokens_out, latency_s; 2 % missing cells, 1 % duplicate queries) and ``ROOT/N/embeddings.npy``
(384-d float32 unit vectors, clustered by topic). Every step runs in a fresh process; its peak RSS is that
process's ``ru_maxrss`` from ``os.wait4`` (the whole process: interpreter and imports included), its time the
wall clock of the process. The command-line steps run the ``routerlab`` command exactly as a user would:

* ``startup``   ``routerlab --help``: the fixed cost of starting the command (subtracted before the exponents)
* ``generate``  make and write the data (python: ``write_synthetic``)
* ``load``      ``read_parquet`` + ``np.load`` of the vectors (python)
* ``show``      ``routerlab data show ROOT/N/data.parquet``
* ``audit``     ``routerlab audit ROOT/N/data.parquet --checks`` every non-embedding check (exact duplicates by
  text; no encoder, no probe)
* ``knn``       ``KNNRouter(k=50)`` fitted on the train split's vectors, ``predict_scores`` on the first
  ``--knn-queries`` test queries against the *whole* train split (exact, blocked products); the table also
  gives ms per query and the extrapolated time for the whole test split (python)
* ``knn-faiss`` only where ``faiss`` imports (faiss-cpu is no dependency): ``IndexFlatIP`` (exact, float32) and
  ``IndexIVFFlat`` (nlist 2·√n_train, nprobe 8 and 32) on the same queries, recall@50 against the exact float64
  neighbours of ``KNNRouter`` (python)
* ``evaluate``  ``routerlab evaluate -d ROOT/N/data.parquet -r oracle,random,best_single,cheapest,majority_label``
  (the baselines; they read no features)
* ``eval-knn``  ``routerlab evaluate ... -r knn --features ROOT/N/embeddings.npy`` (the seed protocol of kNN on the
  precomputed vectors; only up to ``--eval-knn-max`` queries (default 100k): it grows ∝ N² (363 s at 100k on
  2 cores), so 1M would be ~10 hours; the ``knn`` row gives the per-query cost at 1M)

Results are appended to ``ROOT/results.jsonl`` (one record per step and size; ``--force`` re-measures) and the
table is printed with the growth exponent between successive sizes (``log(t2/t1) / log(N2/N1)``: 1 is linear).
Run heavy sizes under the shared lock: ``flock /tmp/routerlab-heavy.lock .venv/bin/python benchmarks/scale.py ...``
(1M: ~6 min and ~10 GB peak for the kNN steps; the data take 0.45 GB of Parquet and 1.5 GB of vectors on disk).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STEPS = ("startup", "generate", "load", "show", "audit", "knn", "knn-faiss", "evaluate", "eval-knn")
BASELINES = "oracle,random,best_single,cheapest,majority_label"
#: the audit checks that need no embeddings and fit no router
AUDIT_CHECKS = (
    "oracle_ceiling,label_sanity,specialist_score,model_dominance,model_redundancy,duplicates,artifacts,"
    "zero_cost_tokens,constant_tokens,missing_prices,model_aliases"
)
#: the command of the interpreter running this script (its venv), else the one on PATH
ROUTERLAB = next(
    (str(p) for p in (Path(sys.executable).parent / "routerlab", Path(shutil.which("routerlab") or "")) if p.is_file()),
    "routerlab",
)


def _python_step(step: str, folder: Path, args: argparse.Namespace) -> list[str]:
    return [sys.executable, __file__, "_step", step, str(folder), "--knn-queries", str(args.knn_queries)]


def command(step: str, n: int, folder: Path, args: argparse.Namespace) -> list[str] | None:
    """The command line of ``step`` at size ``n`` (None: skipped at this size)."""
    data = str(folder / "data.parquet")
    if step == "startup":
        return [ROUTERLAB, "--help"]
    if step == "knn-faiss":
        try:
            import faiss  # noqa: F401
        except ImportError:
            return None  # faiss-cpu is not a dependency: measured only where it is installed
        return [*_python_step(step, folder, args), "--n", str(n)]
    if step in ("generate", "load", "knn"):
        return [*_python_step(step, folder, args), "--n", str(n)]
    if step == "show":
        return [ROUTERLAB, "data", "show", data]
    if step == "audit":
        return [ROUTERLAB, "audit", data, "--checks", AUDIT_CHECKS, "--out", str(folder / "audit")]
    if step == "evaluate":
        return [ROUTERLAB, "evaluate", "-d", data, "-r", BASELINES, "--out", str(folder / "eval")]
    if step == "eval-knn":
        if n > args.eval_knn_max:
            return None
        out = folder / "eval-knn"
        shutil.rmtree(out, ignore_errors=True)  # a fresh sweep, not a resumed one
        feats = str(folder / "embeddings.npy")
        return [ROUTERLAB, "evaluate", "-d", data, "-r", "knn", "--features", feats, "--out", str(out)]
    raise ValueError(step)


def measure(cmd: list[str], log_path: Path) -> dict[str, Any]:
    """Run ``cmd`` in a fresh process: wall seconds, its own peak RSS (MiB) and exit status."""
    with log_path.open("w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen so it does not wait again
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "rc": proc.returncode,
    }


# ------------------------------------------------------------------ the python steps (run in the child)
def _step_generate(folder: Path, n: int) -> dict[str, Any]:
    from routerlab.data.synthetic import write_synthetic

    paths = write_synthetic(folder, n, seed=0)
    return {"parquet_mib": round(paths["data"].stat().st_size / 2**20, 1)}


def _step_load(folder: Path, n: int) -> dict[str, Any]:
    import numpy as np

    from routerlab.data import read_parquet

    t0 = time.perf_counter()
    data = read_parquet(folder / "data.parquet")
    t1 = time.perf_counter()
    vectors = np.load(folder / "embeddings.npy")
    t2 = time.perf_counter()
    assert data.n_queries == n == len(vectors)
    return {"parquet_s": round(t1 - t0, 2), "npy_s": round(t2 - t1, 2)}


def _step_knn(folder: Path, n: int, n_queries: int) -> dict[str, Any]:
    import numpy as np

    from routerlab.data import read_parquet
    from routerlab.routers.knn import KNNRouter

    data = read_parquet(folder / "data.parquet")
    vectors = np.load(folder / "embeddings.npy", mmap_mode="r")
    train_rows = np.flatnonzero(data.splits == "train")
    test_rows = np.flatnonzero(data.splits == "test")
    picked = test_rows[:n_queries]
    t0 = time.perf_counter()
    router = KNNRouter(k=50).fit(data.subset(train_rows), np.asarray(vectors[train_rows]))
    t1 = time.perf_counter()
    scores = router.predict_scores(data.subset(picked).without_outcomes(), np.asarray(vectors[picked]))
    t2 = time.perf_counter()
    y = data.Y[picked]
    chosen = scores.argmax(axis=1)
    quality = float(np.nanmean(y[np.arange(len(picked)), chosen]))
    per_query = (t2 - t1) / len(picked)
    return {
        "n_train": len(train_rows),
        "n_test_scored": len(picked),
        "n_test": len(test_rows),
        "fit_s": round(t1 - t0, 2),
        "predict_s": round(t2 - t1, 2),
        "ms_per_query": round(1000 * per_query, 3),
        "full_test_s_est": round(per_query * len(test_rows), 1),
        "knn_quality": round(quality, 4),
    }


def _step_faiss(folder: Path, n: int, n_queries: int) -> dict[str, Any]:
    """faiss-cpu beside the exact search: flat inner product (exact, float32) and IVF (approximate), recall@50."""
    import faiss
    import numpy as np

    from routerlab.data import read_parquet
    from routerlab.routers.knn import KNNRouter

    data = read_parquet(folder / "data.parquet")
    vectors = np.load(folder / "embeddings.npy", mmap_mode="r")
    train_rows = np.flatnonzero(data.splits == "train")
    picked = np.flatnonzero(data.splits == "test")[:n_queries]
    train, queries = np.ascontiguousarray(vectors[train_rows]), np.ascontiguousarray(vectors[picked])
    k = 50
    t0 = time.perf_counter()
    exact = KNNRouter(k=k).fit(data.subset(train_rows), train)
    blocks = []
    for start in range(0, len(picked), 64):  # 64 × 700k float64 similarities at a time (360 MB)
        sims = np.round(queries[start : start + 64].astype(np.float64) @ exact.train_embeddings_.T, 12)
        blocks.append(exact._neighbor_indices(sims))
    reference = np.concatenate(blocks)
    del sims
    t_exact = time.perf_counter() - t0
    out: dict[str, Any] = {
        "k": k,
        "n_train": len(train_rows),
        "n_queries": len(picked),
        "numpy_exact_s": round(t_exact, 2),
    }

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(found, reference, strict=True)]))

    flat = faiss.IndexFlatIP(train.shape[1])
    t0 = time.perf_counter()
    flat.add(train)
    _, found = flat.search(queries, k)
    out["flat_s"], out["flat_recall"] = round(time.perf_counter() - t0, 2), round(recall(found), 4)
    nlist = int(2 * np.sqrt(len(train_rows)))
    quantizer = faiss.IndexFlatIP(train.shape[1])
    ivf = faiss.IndexIVFFlat(quantizer, train.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    t0 = time.perf_counter()
    sample = train[np.random.default_rng(0).permutation(len(train))[: min(len(train), 40 * nlist)]]
    ivf.train(sample)
    ivf.add(train)
    out["ivf_nlist"], out["ivf_build_s"] = nlist, round(time.perf_counter() - t0, 2)
    for nprobe in (8, 32):
        ivf.nprobe = nprobe
        t0 = time.perf_counter()
        _, found = ivf.search(queries, k)
        out[f"ivf{nprobe}_s"], out[f"ivf{nprobe}_recall"] = round(time.perf_counter() - t0, 3), round(recall(found), 4)
    return out


def _child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("step")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--knn-queries", type=int, default=2000)
    a = parser.parse_args(argv)
    if a.step == "generate":
        extra = _step_generate(a.folder, a.n)
    elif a.step == "load":
        extra = _step_load(a.folder, a.n)
    elif a.step == "knn-faiss":
        extra = _step_faiss(a.folder, a.n, a.knn_queries)
    else:
        extra = _step_knn(a.folder, a.n, a.knn_queries)
    print("EXTRA " + json.dumps(extra))
    return 0


# ------------------------------------------------------------------ the table
def _records(root: Path) -> list[dict[str, Any]]:
    path = root / "results.jsonl"
    if not path.exists():
        return []
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        latest[(rec["step"], rec["n"])] = rec
    return list(latest.values())


def _exponent(a: float, b: float, n_a: int, n_b: int) -> str:
    if a <= 0 or b <= 0:
        return "-"
    return f"{math.log(b / a) / math.log(n_b / n_a):.2f}"


#: why a step's time grows as it does (printed for the steps the table flags as worse than linear)
WHY = {
    "knn": "per test query the exact search reads every training vector (n_train × 384 multiply-adds), so the "
    "whole test split costs n_test × n_train ∝ N²; the step times a fixed number of test queries, so its "
    "own time grows ∝ N (the training split) and the whole-split estimate ∝ N²",
    "eval-knn": "the seed protocol runs kNN's grid on val and test against the whole train split: ∝ N²",
}
#: a growth exponent above this counts as worse than linear (timer noise at 10k is ~±0.1)
SUPERLINEAR = 1.15


def _net(by: dict[tuple[str, int], dict[str, Any]], step: str, n: int) -> float | None:
    """Seconds of ``step`` at ``n`` above the bare command start-up (``routerlab --help``) at that size."""
    r = by.get((step, n))
    if r is None or r["rc"] != 0:
        return None
    start = by.get(("startup", n))
    return max(1e-3, r["seconds"] - (start["seconds"] if start and step != "startup" else 0.0))


def table(root: Path) -> str:
    """The scaling table: per step and size seconds and peak RSS, growth exponents, and what grows worse than linear."""
    recs = _records(root)
    sizes = sorted({r["n"] for r in recs})
    by = {(r["step"], r["n"]): r for r in recs}
    head = ["step"] + [f"{n:,} s" for n in sizes] + [f"{n:,} MiB" for n in sizes]
    head += [f"exp {a // 1000}k→{b // 1000}k" for a, b in itertools.pairwise(sizes)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    flagged: dict[str, list[str]] = {}
    for step in STEPS:
        cells = [step]
        for key in ("seconds", "peak_rss_mib"):
            for n in sizes:
                r = by.get((step, n))
                cells.append("–" if r is None else f"{r[key]:,}" + ("" if r["rc"] == 0 else f" (rc {r['rc']})"))
        for a, b in itertools.pairwise(sizes):
            ta, tb = _net(by, step, a), _net(by, step, b)
            cells.append("–" if ta is None or tb is None or step == "startup" else _exponent(ta, tb, a, b))
            if ta is not None and tb is not None and step != "startup":
                if math.log(tb / ta) / math.log(b / a) > SUPERLINEAR:
                    flagged.setdefault(step, []).append(f"{a // 1000}k→{b // 1000}k")
        if any(c != "–" for c in cells[1:]):
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "s: wall seconds of the whole command in a fresh process; MiB: its peak RSS (ru_maxrss); exp: growth exponent "
        "log(t2/t1)/log(N2/N1) of the seconds above the start-up row (1 = linear).",
    ]
    knn = [by[("knn", n)]["extra"] for n in sizes if by.get(("knn", n), {}).get("extra")]
    for n, e in zip([n for n in sizes if by.get(("knn", n), {}).get("extra")], knn, strict=True):
        lines.append(
            f"kNN k=50 exact, N={n:,}: {e['n_test_scored']:,} test queries vs {e['n_train']:,} "
            f"train vectors in {e['predict_s']} s = {e['ms_per_query']} ms/query; the whole test split "
            f"({e['n_test']:,}) would take ~{e['full_test_s_est']:,} s; fit {e['fit_s']} s; quality {e['knn_quality']}"
        )
    if len(knn) > 1:
        est = [(e["n_test"], e["full_test_s_est"]) for e in knn]
        exps = [_exponent(ta, tb, na, nb) for (na, ta), (nb, tb) in itertools.pairwise(est)]
        lines.append(f"kNN on the whole test split (estimated): growth exponents {', '.join(exps)} (2 = quadratic).")
        flagged.setdefault("knn", []).append("whole test split")
    for n in sizes:
        e = by.get(("knn-faiss", n), {}).get("extra")
        ours = by.get(("knn", n), {}).get("extra")
        if e:
            versus = (
                f" vs KNNRouter's {ours['predict_s']} s ({ours['predict_s'] / max(e['flat_s'], 1e-3):.1f}x)"
                if ours
                else ""
            )
            lines.append(
                f"faiss-cpu, N={n:,}, {e['n_queries']:,} queries vs {e['n_train']:,}: IndexFlatIP (exact search in "
                f"float32) {e['flat_s']} s{versus}, recall@50 {e['flat_recall']} of the float64 neighbours; "
                f"IVF nlist={e['ivf_nlist']} "
                f"(built in {e['ivf_build_s']} s): nprobe 8 {e['ivf8_s']} s recall {e['ivf8_recall']}, nprobe 32 "
                f"{e['ivf32_s']} s recall {e['ivf32_recall']}"
            )
    top = max(sizes, default=0)
    per_query = {
        step: by[(step, top)]["peak_rss_mib"] * 1024 / top for step in STEPS if by.get((step, top), {}).get("rc") == 0
    }
    if per_query and top >= 100_000:
        worst = max(per_query, key=lambda k: per_query[k])
        lines.append(
            f"Peak memory at N={top:,}: {', '.join(f'{k} {v:.1f}' for k, v in per_query.items())} KiB per query; "
            f"at that rate 24 GiB holds ~{24 * 2**20 / per_query[worst] / 1e6:.1f}M queries for {worst} (the most "
            "memory-hungry step) and more for the others: past that, stream by Parquet row group."
        )
    lines.append("")
    if flagged:
        lines.append("Worse than linear:")
        for step, where in flagged.items():
            lines.append(f"* {step} ({', '.join(where)}): {WHY.get(step, 'see the logs under ROOT/N/')}")
    else:
        lines.append(f"No step grows worse than linearly (every exponent <= {SUPERLINEAR}).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_step"]:
        return _child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--root", type=Path, default=Path("/work/scale"))
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--knn-queries", type=int, default=2000)
    parser.add_argument("--eval-knn-max", type=int, default=100_000)
    parser.add_argument("--force", action="store_true", help="re-measure steps already in results.jsonl")
    parser.add_argument("--table", action="store_true", help="only print the table of ROOT/results.jsonl")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.root))
        return 0
    done = {(r["step"], r["n"]) for r in _records(args.root)}
    for n in args.sizes:
        folder = args.root / str(n)
        folder.mkdir(parents=True, exist_ok=True)
        for step in args.steps:
            if (step, n) in done and not args.force:
                continue
            if step != "generate" and not (folder / "data.parquet").exists():
                print(f"N={n}: no data; run the generate step first", file=sys.stderr)
                break
            cmd = command(step, n, folder, args)
            if cmd is None:
                continue
            log_path = folder / f"{step}.log"
            rec: dict[str, Any] = {"step": step, "n": n, **measure(cmd, log_path)}
            extra = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.startswith("EXTRA ")]
            if extra:
                rec["extra"] = json.loads(extra[-1][6:])
            rec["cmd"] = " ".join(cmd)
            with (args.root / "results.jsonl").open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)
    print(table(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
