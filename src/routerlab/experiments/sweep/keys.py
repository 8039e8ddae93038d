"""How configurations and runs are identified: canonical JSON, config ids, run keys, λ keys, grid points."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from routerlab._jsonl import canonical_json as _canonical_json
from routerlab._random import rng
from routerlab.decisions.policy import lam_key as lam_key  # the one encoding of λ as a string

#: seed of the draw that picks ``max_configs`` grid points when the grid is larger
SAMPLE_SEED = 42


def canonical_json(value: Any) -> str:
    """The sweep's form of :func:`routerlab._jsonl.canonical_json` (ASCII, ``repr`` for other values).

    Run keys and config ids hash this text, so it must not change: the records of a sweep written
    before would no longer be found on resume.
    """
    return _canonical_json(value, ascii_only=True, fallback=repr)


def _digest(value: Any, n: int) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:n]


def config_id(params: Mapping[str, Any]) -> str:
    """Return a short stable id of a hyper-parameter configuration (hash of its canonical JSON)."""
    return _digest(dict(params), 10)


def run_key(
    dataset: str,
    router: str,
    encoder: str,
    params: Mapping[str, Any],
    seed: int,
    *,
    fold: int | None = None,
    n_folds: int | None = None,
    folds_id: str | None = None,
    refit: bool = False,
) -> str:
    """Return the identity of one run: a hash of (dataset, router, encoder, params, seed).

    Runs of cross-validated selection add what they were fitted on: fold ``fold`` of ``n_folds``
    held out (of the partition ``folds_id``, a hash of which query is in which fold), or ``refit`` on
    all of train ∪ val. Runs of the paper's protocol (neither) keep the
    key they always had, so their records are found on resume.
    """
    key: list[Any] = [dataset, router, encoder, dict(params), int(seed)]
    if fold is not None:
        key.append({"fold": int(fold), "n_folds": int(n_folds or 0), "folds_id": folds_id})
    elif refit:
        key.append({"fit_on": "train+val"})
    return _digest(key, 20)


def _jsonable(value: Any) -> Any:
    return json.loads(canonical_json(value))


def enumerate_configs(
    grid: Mapping[str, Sequence[Any]], max_configs: int, seed: int = SAMPLE_SEED
) -> list[tuple[int, dict[str, Any]]]:
    """List the stage-1 configurations as ``(index in the full product, params)``, in product order.

    The product runs over ``grid``'s keys in their order (the last key varies fastest, as in
    :func:`itertools.product`). A grid with more than ``max_configs`` points is sampled without
    replacement by ``seed``; an empty grid is the single configuration ``{}`` (the defaults).
    """
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    for k, v in zip(keys, values, strict=True):
        if not v:
            raise ValueError(f"The grid of parameter {k!r} is empty; give at least one value.")
    sizes = [len(v) for v in values]
    total = math.prod(sizes)
    if total <= max_configs:
        indices = list(range(total))
    else:
        indices = sorted(int(i) for i in rng(seed).choice(total, size=max_configs, replace=False))
    out = []
    for index in indices:
        params, rest = {}, index
        for k, v, size in reversed(list(zip(keys, values, sizes, strict=True))):
            rest, digit = divmod(rest, size)
            params[k] = v[digit]
        out.append((index, {k: params[k] for k in keys}))
    return out
