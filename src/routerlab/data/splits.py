"""Deterministic, order-independent splits.

Where a benchmark has no public split, routerlab assigns each query to a split by hashing its
id with a seed (:func:`routerlab._random.stable_uniform`): the same id always lands in the same
split, whatever the order or subset of the file, and the seed is recorded in ``meta``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from routerlab._random import stable_uniform

DEFAULT_FRACTIONS: Mapping[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}
DEFAULT_SEED = 0
_WS = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Case-folded text with runs of whitespace collapsed to one space and the ends stripped.

    Queries whose texts are equal after this are one group for :func:`group_folds` (and exact
    duplicates for :mod:`routerlab.audit.duplicates`).
    """
    return _WS.sub(" ", text).strip().casefold()


def hash_split(
    ids: Sequence[str] | np.ndarray, fractions: Mapping[str, float] = DEFAULT_FRACTIONS, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Assign each id to a split with probability given by ``fractions`` (must sum to 1)."""
    total = sum(fractions.values())
    if not np.isclose(total, 1.0) or any(f < 0 for f in fractions.values()):
        raise ValueError(f"Split fractions must be >= 0 and sum to 1. Got {dict(fractions)} (sum {total}).")
    u = stable_uniform(list(ids), seed, salt="split")
    edges = np.cumsum(list(fractions.values()))
    edges[-1] = 1.0 + 1e-12  # u < 1 always lands in the last bin
    names = np.array(list(fractions), dtype=object)
    return names[np.searchsorted(edges, u, side="right")]


def carve_validation(
    ids: Sequence[str] | np.ndarray, splits: np.ndarray, fraction: float = 0.1, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Move about ``fraction`` of the ``"train"`` queries to ``"val"`` (hash of id, so order-independent).

    Used for benchmarks whose public split is train/test only: the test split stays untouched.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"The validation fraction must be in [0, 1). Got {fraction}.")
    out = np.array(splits, dtype=object, copy=True)
    u = stable_uniform(list(ids), seed, salt="val")
    out[(out == "train") & (u < fraction)] = "val"
    return out


def group_folds(
    ids: Sequence[str] | np.ndarray,
    n_folds: int,
    *,
    groups: Sequence[str] | np.ndarray | None = None,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """Assign each id to a fold ``0 .. n_folds - 1`` by a hash of its id; ids of one group share a fold.

    The k-fold partition of cross-validated selection. A group (e.g. the queries with one
    duplicate text) is hashed by its smallest id, so the fold of a query depends neither on the
    order of ``ids`` nor on which member of its group comes first, and no group straddles two
    folds (a query whose twin is in the training folds would be scored on what the router saw).
    Folds are of about equal size; a fold may be empty on very few ids (the caller checks).
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds must be an int >= 2. Got {n_folds!r}.")
    keys = np.asarray([str(i) for i in ids], dtype=object)
    if groups is not None:
        labels = np.asarray([str(g) for g in groups], dtype=object)
        if labels.shape != keys.shape:
            raise ValueError(f"groups must have one label per id ({len(keys)}). Got {len(labels)}.")
        first: dict[str, str] = {}
        for key, label in zip(keys, labels, strict=True):
            if label not in first or key < first[label]:
                first[label] = key
        keys = np.asarray([first[label] for label in labels], dtype=object)
    u = stable_uniform(keys, seed, salt="fold")
    return np.minimum((u * n_folds).astype(np.intp), n_folds - 1)
