"""Make the datasets shipped inside the package, from ``llmrouter-dcrouter``.

Source: LLMRouter's DCRouter data (https://github.com/ulab-uiuc/LLMRouter, commit
4e7a796942ce26e9d5f2b93191c7c2585c99c2e3, MIT licence). Both files start from
``llmrouter-dcrouter`` loaded with its default validation carve (10 % of train, seed 0) and
``drop_train_test_overlap=True``, so that no test question was also a training question (the
public files share 119 questions between train and test): 5,989 queries.

``routerlab-mini`` (1,200 queries, the public split): keeps ``--n`` queries, stratified by
(source, split) in proportion to the strata's sizes (largest-remainder rounding), taking in each
stratum the queries with the smallest ``stable_uniform(query_id, seed, salt="mini")``.

``routerlab-dcrouter`` (all 5,989 queries, re-split): the public test file has 500 questions
(95 % CIs of about +-4 pp, and it covers 10 of the 14 tasks), too few for a router's gain over the
best single model to show. The pooled queries are re-split within each task (``source``): ranked
by ``stable_uniform(query_id, seed, salt="resplit")``, the first round(30 %) go to test, the next
round(10 %) to val, the rest to train. Deterministic and independent of row order; its figures are
not comparable with figures on the public split (load ``llmrouter-dcrouter`` for those).

Each file is written to ``src/routerlab/data/shipped/`` with the licence text; PROVENANCE.md there
says the same in prose.

Usage: ``python scripts/make_shipped.py [--source /work/shared/data/llmrouter-dcrouter] [--only mini|dcrouter]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np

from routerlab._random import stable_uniform
from routerlab.data import RoutingData, load, write_parquet
from routerlab.data.loaders import llmrouter

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "routerlab" / "data" / "shipped"
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "llmrouter-dcrouter"
MAX_BYTES = 2_000_000


def allocate(sizes: dict[tuple[str, str], int], total: int) -> dict[tuple[str, str], int]:
    """Give proportional quotas summing to ``min(total, sum(sizes))`` (largest remainder, ties by stratum key)."""
    n = sum(sizes.values())
    target = min(total, n)
    exact = {k: v * target / n for k, v in sizes.items()}
    quota = {k: math.floor(x) for k, x in exact.items()}
    left = target - sum(quota.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - quota[k]), k))[:left]:
        quota[k] += 1
    return quota


def stratified_rows(data: RoutingData, total: int, seed: int) -> np.ndarray:
    """Return the row indices (in the source order) of the stratified subset."""
    u = stable_uniform(data.query_ids, seed, salt="mini")
    strata: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(data.sources, data.splits, strict=True)):
        strata.setdefault((str(key[0]), str(key[1])), []).append(i)
    quota = allocate({k: len(v) for k, v in strata.items()}, total)
    keep: list[int] = []
    for key, rows in strata.items():
        ranked = sorted(rows, key=lambda i: (u[i], data.query_ids[i]))
        keep.extend(ranked[: quota[key]])
    return np.array(sorted(keep), dtype=np.intp)


def copyright_line(license_file: Path) -> str:
    """Return the "Copyright (c) ..." line of an MIT licence file."""
    for line in license_file.read_text(encoding="utf-8").splitlines():
        if line.strip().lower().startswith("copyright"):
            return line.strip()
    raise SystemExit(f"No copyright line in {license_file}; the MIT licence must name its holder.")


def make_meta(full: RoutingData, method: str, split_method: str, seed: int, copyright_: str) -> dict[str, object]:
    """Describe the provenance, licence and method of a shipped dataset."""
    m = full.meta
    return {
        "derived_from": llmrouter.NAME,
        "homepage": m["homepage"],
        "commit": m["commit"],
        "license": "MIT",
        "copyright": copyright_,
        "license_file": "routerlab/data/shipped/LICENSE",
        "provenance_file": "routerlab/data/shipped/PROVENANCE.md",
        "made_by": "scripts/make_shipped.py",
        "method": (
            f"llmrouter-dcrouter loaded with val_fraction={m['val_fraction']}, seed={m['seed']} and "
            f"drop_train_test_overlap=True ({m['dropped_train_test_overlap']} train copies of test questions "
            f"dropped; {full.n_queries} queries left); then {method}"
        ),
        "seed": seed,
        "n_source_queries": full.n_queries,
        "split_method": split_method,
        "cost_proxy": m["cost_proxy"],
        "metric_by_source": m["metric_by_source"],
    }


def resplit(data: RoutingData, fractions: dict[str, float], seed: int) -> np.ndarray:
    """Re-split every query within its source: by ``stable_uniform`` rank, test first, then val, then train."""
    u = stable_uniform(data.query_ids, seed, salt="resplit")
    out = np.empty(data.n_queries, dtype=object)
    for source in sorted(set(map(str, data.sources))):
        rows = [i for i in range(data.n_queries) if str(data.sources[i]) == source]
        ranked = sorted(rows, key=lambda i: (u[i], data.query_ids[i]))
        start = 0
        for split in ("test", "val"):
            n = round(fractions[split] * len(ranked))
            for i in ranked[start : start + n]:
                out[i] = split
            start += n
        for i in ranked[start:]:
            out[i] = "train"
    return out


def make_mini(full: RoutingData, n: int, seed: int, copyright_: str) -> RoutingData:
    """The stratified ``n``-query subset on the public split."""
    rows = stratified_rows(full, n, seed)
    method = (
        f"{len(rows)} queries kept, stratified by (source, split) in proportion to stratum size (largest "
        f"remainder), the smallest stable_uniform(query_id, seed={seed}, salt='mini') in each stratum"
    )
    meta = make_meta(full, method, str(full.meta["split_method"]), seed, copyright_)
    return dataclasses.replace(full.subset(rows), name="routerlab-mini", meta=meta)


def make_dcrouter(full: RoutingData, seed: int, copyright_: str) -> RoutingData:
    """Every query, re-split 60/10/30 within each source."""
    fractions = {"train": 0.6, "val": 0.1, "test": 0.3}
    method = "every query kept"
    split_method = (
        "re-split of the pooled public train and test queries within each source (task): ranked by "
        f"stable_uniform(query_id, seed={seed}, salt='resplit'), the first round(30 %) go to test, the next "
        "round(10 %) to val, the rest to train (scripts/make_shipped.py:resplit). Not the public split: figures "
        "are not comparable with figures on llmrouter-dcrouter's 500-question test file."
    )
    meta = make_meta(full, method, split_method, seed, copyright_)
    meta["fractions"] = fractions
    return dataclasses.replace(full, splits=resplit(full, fractions, seed), name="routerlab-dcrouter", meta=meta)


def write(data: RoutingData, out_dir: Path) -> None:
    """Save ``data`` as ``<name>.parquet`` under the size limit and print what was written."""
    out = write_parquet(data, out_dir / f"{data.name}.parquet")
    size = out.stat().st_size
    if size >= MAX_BYTES:
        raise SystemExit(f"{out} is {size:,} bytes; a shipped file must stay under {MAX_BYTES:,}.")
    print(f"wrote {out} ({size:,} bytes): {data!r}")


def main() -> None:
    """Build the files and print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder of llmrouter-dcrouter")
    parser.add_argument("--out", type=Path, default=SHIPPED, help="folder to write into")
    parser.add_argument("--n", type=int, default=1200, help="number of queries routerlab-mini keeps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["mini", "dcrouter"], help="build one of the two files")
    args = parser.parse_args()

    full = load(llmrouter.NAME, path=args.source, drop_train_test_overlap=True)
    copyright_ = copyright_line(args.source / "LICENSE")
    if args.only in (None, "mini"):
        write(make_mini(full, args.n, args.seed, copyright_), args.out)
    if args.only in (None, "dcrouter"):
        write(make_dcrouter(full, args.seed, copyright_), args.out)
    shutil.copyfile(args.source / "LICENSE", args.out / "LICENSE")
    print(f"copied {args.source / 'LICENSE'} -> {args.out / 'LICENSE'}")


if __name__ == "__main__":
    main()
