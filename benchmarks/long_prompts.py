"""Long prompts (issue 15, item 2): how many query texts MiniLM cuts, and what ``?long=`` does to routers.

Two commands:

``python benchmarks/long_prompts.py spans DATASET ...``
    the truncation rate at all-MiniLM-L6-v2's 254 word pieces per dataset part (source) and split,
    from the tokenizer alone (seconds; no encoding).
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
from routerlab.data.features import get_encoder, token_spans
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


def compare(base: Path, others: list[Path], routers: list[str], lam: float) -> None:
    """Print each router's test quality per folder and the paired Δ vs ``base`` with its 95 % CI."""
    ref = load_results(base)
    assert ref.test is not None
    policy = str(ref.meta.get("missing", {}).get("policy", "reroute"))
    print(f"test queries: {ref.n_queries}; λ = {lam:g}; Δ in percentage points vs {base.name}")
    for router in routers:
        a = _per_query_quality(ref.test, ref.prediction(router).choice(lam), policy)
        print(f"{router}: {base.name} {np.nanmean(a):.4f}")
        for other in others:
            board = load_results(other)
            assert board.test is not None and np.array_equal(board.test.query_ids, ref.test.query_ids)
            b = _per_query_quality(board.test, board.prediction(router).choice(lam), policy)
            ok = np.isfinite(a) & np.isfinite(b)
            ci = paired_difference_ci(b[ok], a[ok], n_resamples=1000, seed=0)
            star = "*" if ci.low > 0 or ci.high < 0 else ""
            print(
                f"  {other.name}: {np.nanmean(b):.4f}  Δ {100 * ci.estimate:+.2f} pp "
                f"[{100 * ci.low:+.2f}, {100 * ci.high:+.2f}]{star}"
            )


def main() -> None:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("spans")
    p.add_argument("datasets", nargs="+")
    p.add_argument("--encoder", default="minilm")
    c = sub.add_parser("compare")
    c.add_argument("base", type=Path)
    c.add_argument("others", type=Path, nargs="+")
    c.add_argument("--routers", default="knn,mlp")
    c.add_argument("--lam", type=float, default=0.0)
    args = parser.parse_args()
    if args.cmd == "spans":
        spans(args.datasets, args.encoder)
    else:
        compare(args.base, args.others, args.routers.split(","), args.lam)


if __name__ == "__main__":
    main()
