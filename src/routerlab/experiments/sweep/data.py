"""The datasets of a sweep: loading, the train / val / test parts, their features and a fingerprint."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError
from routerlab.experiments.sweep.config import SweepConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SplitData:
    """The train / val / test parts of one dataset and their feature rows (``None`` without an encoder).

    Under cross-validated selection ``train`` / ``val`` are the training folds and the held-out
    fold (no test), or all of train ∪ val (no val) for the refit scored on test.
    """

    train: RoutingData
    val: RoutingData | None  # None: a refit on train ∪ val, with nothing held out
    test: RoutingData | None  # None: a cross-validation fold, which never sees test
    X_train: np.ndarray | None = None
    X_val: np.ndarray | None = None
    X_test: np.ndarray | None = None


def split_rows(data: RoutingData, *, need_val: bool = True) -> dict[str, np.ndarray]:
    """Row indices of the train, val and test splits; val/test queries nobody answered are left out.

    ``need_val=False`` (cross-validated selection, which pools train and val) accepts an empty val.
    """
    answered = data.observed.any(axis=1)
    rows = {}
    for split in ("train", "val", "test"):
        mask = data.splits == split
        if split != "train":
            mask &= answered
        if not mask.any() and not (split == "val" and not need_val):
            fix = (
                " The seed protocol selects hyper-parameters on validation; carve a validation split from train: "
                "`routerlab evaluate --val-fraction 0.1`, `val_fraction: 0.1` in the sweep config's dataset entry, "
                "or routerlab.data.splits.carve_validation(data.query_ids, data.splits) in Python."
                if split == "val"
                else ""
            )
            raise SchemaError(
                f"{data.name!r} has no {split!r} queries with an outcome; its splits are {data.split_sizes()}.{fix}"
            )
        rows[split] = np.flatnonzero(mask)
    return rows


def _split_data(data: RoutingData, rows: Mapping[str, np.ndarray], X: np.ndarray | None) -> SplitData:
    parts = {s: data.subset(r) for s, r in rows.items()}
    feats = {s: (None if X is None else np.ascontiguousarray(X[r])) for s, r in rows.items()}
    return SplitData(parts["train"], parts["val"], parts["test"], feats["train"], feats["val"], feats["test"])


@dataclass(frozen=True, slots=True)
class Folds:
    """The k-fold partition of train ∪ val for cross-validated selection.

    ``pool`` holds the row indices of train ∪ val in data order, ``fold[i]`` the fold of
    ``pool[i]`` (:func:`routerlab.data.splits.group_folds`: a hash of the query id; queries with the
    same text after :func:`routerlab.audit.duplicates.normalise_text` share a fold) and ``scored[i]``
    whether that query has an outcome (only those are scored when their fold is held out).
    """

    pool: np.ndarray
    fold: np.ndarray
    scored: np.ndarray
    n_folds: int
    query_ids: np.ndarray  # the ids of ``pool``

    def held_out(self, k: int) -> np.ndarray:
        """Rows scored when fold ``k`` is held out."""
        return np.asarray(self.pool[(self.fold == k) & self.scored], dtype=np.intp)

    @property
    def fingerprint(self) -> str:
        """A hash of which query is in which fold: fold runs of another partition are not reused."""
        h = hashlib.blake2b(digest_size=8)
        h.update("\x1f".join(f"{q}={f}" for q, f in zip(self.query_ids, self.fold.tolist(), strict=True)).encode())
        return h.hexdigest()

    def training(self, k: int) -> np.ndarray:
        """Rows a router is fitted on when fold ``k`` is held out."""
        return np.asarray(self.pool[self.fold != k], dtype=np.intp)


def make_folds(data: RoutingData, rows: Mapping[str, np.ndarray], n_folds: int) -> Folds:
    """Partition the train and val rows of ``data`` into ``n_folds`` folds (see :class:`Folds`)."""
    from routerlab.audit.duplicates import normalise_text
    from routerlab.data.splits import group_folds

    pool = np.sort(np.concatenate([rows["train"], rows["val"]]))
    groups = None if data.texts is None else [normalise_text(str(t)) for t in data.texts[pool]]
    fold = group_folds(data.query_ids[pool], n_folds, groups=groups)
    folds = Folds(pool, fold, data.observed[pool].any(axis=1), n_folds, data.query_ids[pool])
    empty = [k for k in range(n_folds) if not len(folds.held_out(k)) or not len(folds.training(k))]
    if empty:
        raise SchemaError(
            f"cv_folds={n_folds} leaves fold(s) {empty} of {data.name!r} without a query with an outcome "
            f"({len(pool)} train + val queries); use fewer folds (--cv-folds 3) or selection: val."
        )
    return folds


def _fold_split(data: RoutingData, folds: Folds, k: int, X: np.ndarray | None) -> SplitData:
    """Fit on every fold but ``k``, score on fold ``k``; no test."""
    train, held = folds.training(k), folds.held_out(k)
    return SplitData(
        data.subset(train),
        data.subset(held),
        None,
        None if X is None else np.ascontiguousarray(X[train]),
        None if X is None else np.ascontiguousarray(X[held]),
        None,
    )


def _refit_split(data: RoutingData, folds: Folds, test_rows: np.ndarray, X: np.ndarray | None) -> SplitData:
    """Fit on all of train ∪ val, score on test; nothing held out."""
    return SplitData(
        data.subset(folds.pool),
        None,
        data.subset(test_rows),
        None if X is None else np.ascontiguousarray(X[folds.pool]),
        None,
        None if X is None else np.ascontiguousarray(X[test_rows]),
    )


def data_fingerprint(data: RoutingData) -> str:
    """Return a hash of what a run's figures depend on: query ids, splits, model names, outcomes and costs."""
    h = hashlib.blake2b(digest_size=10)
    for part in (data.query_ids, data.splits, np.asarray(data.model_names, dtype=object)):
        h.update("\x1f".join(map(str, part)).encode("utf-8"))
        h.update(b"\x1e")
    for matrix in (data.Y, data.cost):
        h.update(np.ascontiguousarray(matrix, dtype=np.float64).tobytes())
    return h.hexdigest()


def _load(config: SweepConfig, data: Mapping[str, RoutingData] | None) -> dict[str, RoutingData]:
    from routerlab.data import load

    out = {}
    for ref in config.datasets:
        if data is not None and ref.name in data:
            out[ref.name] = data[ref.name]
        else:
            out[ref.name] = _with_val(load(ref.name, ref.path, **ref.options), ref.val_fraction)
    return out


def _with_val(data: RoutingData, fraction: float | None) -> RoutingData:
    """``data`` with about ``fraction`` of train moved to val (hash of the query id), when asked and none exists."""
    if fraction is None:
        return data
    from routerlab.data.splits import DEFAULT_SEED, carve_validation

    if (data.splits == "val").any():
        raise SchemaError(
            f"{data.name!r} already has {int((data.splits == 'val').sum())} val queries; val_fraction only carves "
            "one when there is none. Drop val_fraction from its dataset entry."
        )
    return data.with_splits(carve_validation(data.query_ids, data.splits, fraction, DEFAULT_SEED))


def _features(
    data: RoutingData, dataset: str, encoder: str, given: Mapping[tuple[str, str], np.ndarray] | None
) -> np.ndarray:
    if given is not None and (dataset, encoder) in given:
        X = np.asarray(given[(dataset, encoder)])
    else:
        from routerlab.data.features import encode

        log.info("encoding %d queries of %s with %s", data.n_queries, dataset, encoder)
        X = np.asarray(encode(data, encoder, cache=True))
    if X.ndim != 2 or X.shape[0] != data.n_queries:
        raise SchemaError(
            f"Features of ({dataset!r}, {encoder!r}) must have shape (n_queries={data.n_queries}, n_features). "
            f"Got {X.shape}."
        )
    if not np.isfinite(X).all():
        raise SchemaError(
            f"Features of ({dataset!r}, {encoder!r}) contain NaN or infinite values; re-encode the queries."
        )
    return X
