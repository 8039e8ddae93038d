"""Long prompts (issue 15, item 2): how many query texts MiniLM cuts, and what ``?long=`` does to routers.

Three commands:

``python benchmarks/long_prompts.py spans DATASET ...``
    the truncation rate at all-MiniLM-L6-v2's 254 word pieces per dataset part (source) and split,
    from the tokenizer alone (seconds; no encoding).
``python benchmarks/long_prompts.py collapse DATASET ENCODER ...``
    per source, the share of texts whose nearest other text embeds at cosine >= 0.999 (prompts that
    embed alike), from the embedding cache.
``python benchmarks/long_prompts.py compare BASE_DIR OTHER_DIR ... [--routers knn,mlp] [--lam 0]``
    paired-bootstrap 95 % CIs (1,000 resamples over test queries, seed 0) of each learned router's
    test quality in OTHER_DIR minus BASE_DIR: results folders of ``routerlab evaluate`` on the same
    data with different ``--encoder``. The pairs are the saved decisions (the selected configuration
    fitted at seed 42), as the Δ column of ``routerlab evaluate``.

Needs ``ROUTERLAB_DATA_DIR`` for the public datasets (``/work/shared/data`` here).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from routerlab import load_benchmark
from routerlab.data.features import encode, get_encoder, token_spans
from routerlab.experiments.evaluate import Leaderboard
from routerlab.experiments.evaluate.deltas import _per_query_quality
from routerlab.experiments.evaluate.results import load_results
from routerlab.metrics.bootstrap import paired_difference_ci


def spans(datasets: list[str], encoder: str) -> None:
    """Print the truncation rate of ``encoder`` per dataset, source and split."""
    enc = get_encoder(encoder)
    for name in datasets:
        data = load_benchmark(name)
        if data.texts is None:
            print(f"{name}: no texts")
            continue
        s = token_spans(enc, [str(t) for t in data.texts])
        assert s is not None
        cut = s.truncated
        print(
            f"\n{name}: {s.n_truncated:,} of {data.n_queries:,} texts ({100 * cut.mean():.1f} %) longer than "
            f"{s.max_tokens} word pieces; tokens median {np.median(s.n_tokens):.0f}, p90 "
            f"{np.percentile(s.n_tokens, 90):.0f}, max {s.n_tokens.max():,}"
        )
        by_split = ", ".join(
            f"{sp} {int(cut[data.splits == sp].sum())}/{int((data.splits == sp).sum())}"
            f" ({100 * cut[data.splits == sp].mean():.1f} %)"
            for sp in dict.fromkeys(data.splits.tolist())
        )
        print(f"  by split: {by_split}")
        if data.sources is None:
            continue
        print(f"  {'source':<28} {'texts':>6} {'cut':>6} {'cut %':>6} {'median tok':>10} {'max tok':>8}")
        for src in sorted(set(data.sources.tolist()), key=lambda x: -cut[data.sources == x].mean()):
            rows = data.sources == src
            print(
                f"  {str(src)[:28]:<28} {int(rows.sum()):>6} {int(cut[rows].sum()):>6} {100 * cut[rows].mean():>6.1f} "
                f"{np.median(s.n_tokens[rows]):>10.0f} {int(s.n_tokens[rows].max()):>8}"
            )


def collapse(dataset: str, encoders: list[str], threshold: float) -> None:
    """Per source: the share of texts whose nearest other text embeds at cosine >= ``threshold``, and the median.

    Reads the embedding cache (run ``routerlab evaluate --encoder ...`` first, or it encodes).
    """
    data = load_benchmark(dataset)
    assert data.sources is not None
    print(f"{dataset}: nearest-neighbour cosine per source (share >= {threshold}; median)")
    for name in encoders:
        X = encode(data, name)
        parts = []
        for src in sorted(set(data.sources.tolist())):
            rows = np.flatnonzero(data.sources == src)
            sims = X[rows] @ X[rows].T
            np.fill_diagonal(sims, -1.0)
            nearest = sims.max(axis=1)
            parts.append(f"{src} {100 * (nearest >= threshold).mean():.1f} % ; {np.median(nearest):.4f}")
        print(f"  {name:<22} " + " | ".join(parts))


def compare(base: Path, others: list[Path], routers: list[str], lam: float) -> None:
    """Print each router's test quality per folder and the paired Δ vs ``base`` with its 95 % CI."""
    ref = load_results(base)
    assert ref.test is not None
    policy = str(ref.meta.get("missing", {}).get("policy", "reroute"))
    print(f"test queries: {ref.n_queries}; λ = {lam:g}; Δ in percentage points vs {base.name}")
    sources = ref.test.sources
    boards = {other: load_results(other) for other in others}
    for router in routers:
        a = _per_query_quality(ref.test, ref.prediction(router).choice(lam), policy)
        print(f"{router}: {base.name} {np.nanmean(a):.4f} {_params(ref, router)}{_by_source(a, sources)}")
        for other, board in boards.items():
            assert board.test is not None and np.array_equal(board.test.query_ids, ref.test.query_ids)
            b = _per_query_quality(board.test, board.prediction(router).choice(lam), policy)
            ok = np.isfinite(a) & np.isfinite(b)
            ci = paired_difference_ci(b[ok], a[ok], n_resamples=1000, seed=0)
            star = "*" if ci.low > 0 or ci.high < 0 else ""
            print(
                f"  {other.name}: {np.nanmean(b):.4f}  Δ {100 * ci.estimate:+.2f} pp "
                f"[{100 * ci.low:+.2f}, {100 * ci.high:+.2f}]{star} {_params(board, router)}{_by_source(b, sources)}"
            )


def _params(board: Leaderboard, router: str) -> str:
    """The selected configuration and the seed-protocol mean ± std of a learned router (empty for others)."""
    row = next((s for s in board.seed_protocol if s.router == router), None)
    if row is None or row.quality is None:
        return ""
    return f"(seeds: {row.quality:.4f} ± {row.quality_std or 0:.4f}; {row.params})"


def _by_source(values: np.ndarray, sources: np.ndarray | None) -> str:
    if sources is None:
        return ""
    parts = [f"{s} {np.nanmean(values[sources == s]):.3f}" for s in sorted(set(sources.tolist()))]
    return " | " + ", ".join(parts)


def main() -> None:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("spans")
    p.add_argument("datasets", nargs="+")
    p.add_argument("--encoder", default="minilm")
    k = sub.add_parser("collapse")
    k.add_argument("dataset")
    k.add_argument("encoders", nargs="+")
    k.add_argument("--threshold", type=float, default=0.999)
    c = sub.add_parser("compare")
    c.add_argument("base", type=Path)
    c.add_argument("others", type=Path, nargs="+")
    c.add_argument("--routers", default="knn,mlp")
    c.add_argument("--lam", type=float, default=0.0)
    args = parser.parse_args()
    if args.cmd == "spans":
        spans(args.datasets, args.encoder)
    elif args.cmd == "collapse":
        collapse(args.dataset, args.encoders, args.threshold)
    else:
        compare(args.base, args.others, args.routers.split(","), args.lam)


if __name__ == "__main__":
    main()
