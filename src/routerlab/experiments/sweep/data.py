"""The datasets of a sweep: loading, the train / val / test parts, their features and a fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerlab._random import stable_uniform
from routerlab.data.schema import RoutingData
from routerlab.data.splits import DEFAULT_SEED
from routerlab.errors import SchemaError
from routerlab.experiments.sweep.config import DatasetRef, Dedupe, SweepConfig

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


def _load(
    config: SweepConfig, data: Mapping[str, RoutingData] | None
) -> tuple[dict[str, RoutingData], dict[str, np.ndarray | None]]:
    """The sweep's datasets by key (:attr:`DatasetRef.key`), and for each variant the rows it kept of its base.

    A base is ``data[key]`` or ``data[name]`` when given, else loaded (and a val split carved);
    the kept rows are ``None`` when the dataset is its base unchanged.
    """
    from routerlab.data import load

    out, kept = {}, {}
    for ref in config.datasets:
        given = None if data is None else data.get(ref.key, data.get(ref.name))
        base = given if given is not None else _with_val(load(ref.name, ref.path, **ref.options), ref.val_fraction)
        out[ref.key], kept[ref.key] = _variant(base, ref)
    return out, kept


def load_datasets(config: SweepConfig, data: Mapping[str, RoutingData] | None = None) -> dict[str, RoutingData]:
    """The datasets the sweep of ``config`` fits and scores on, by key: loaded, val carved, variants made."""
    return _load(config, data)[0]


def _variant(data: RoutingData, ref: DatasetRef) -> tuple[RoutingData, np.ndarray | None]:
    """``data`` with leaked queries dropped, the training split de-duplicated and cut to ``train_fraction``.

    Returns the rows of ``data`` kept too (``None`` when nothing was applied). Leaks and duplicates
    go first, so a fraction is taken of the cleaned training queries. A step whose record is
    already in ``data.meta`` (a variant made by :func:`load_datasets` and handed back to the sweep)
    is not applied again, so the record of what it removed survives.
    """
    steps: list[Callable[[RoutingData], tuple[RoutingData, np.ndarray]]] = []
    meta = data.meta
    if ref.drop_leaked and not isinstance(meta.get("drop_leaked"), dict):
        steps.append(drop_leaked)
    if ref.dedupe is not None and not _same_dedupe(meta.get("dedupe"), ref.dedupe):
        spec = ref.dedupe
        steps.append(lambda d: dedupe_train(d, spec))
    fraction = ref.train_fraction
    if fraction is not None and fraction < 1 and (meta.get("train_fraction") or {}).get("fraction") != fraction:
        steps.append(lambda d: train_fraction(d, fraction))
    if not steps:
        return data, None
    index = np.arange(data.n_queries)
    for step in steps:
        data, rows = step(data)
        index = index[rows]
    return data, index


def _same_dedupe(record: Any, spec: Dedupe) -> bool:
    """Whether ``record`` (a ``meta["dedupe"]``) says the training split was already de-duplicated as ``spec`` asks."""
    if not isinstance(record, Mapping) or record.get("split") != "train":
        return False
    return all(record.get(k) == v for k, v in spec.model_dump().items())


def drop_leaked(data: RoutingData) -> tuple[RoutingData, np.ndarray]:
    """``data`` without the train and val queries whose normalised text is also a test query's, and the rows kept.

    `rethinking-router-evaluation.txt` §4.2: a test question repeated verbatim in train is scored on
    what the router was fitted on (kNN returns its own labels). ``meta["drop_leaked"]`` records how
    many rows left and how many test queries had a twin.
    """
    from routerlab.audit.duplicates import normalise_text

    if data.texts is None:
        raise SchemaError(f"drop_leaked needs query texts, and {data.name!r} has none; remove drop_leaked.")
    norm = np.asarray([normalise_text(str(t)) for t in data.texts], dtype=object)
    is_test = data.splits == "test"
    test_texts = set(norm[is_test].tolist())
    fitted_on = np.isin(data.splits, ["train", "val"])
    leaked = fitted_on & np.isin(norm, list(test_texts))
    rows = np.flatnonzero(~leaked)
    out = data.subset(rows)
    twins = set(norm[leaked].tolist())
    meta = dict(out.meta)
    meta["drop_leaked"] = {
        "n_removed": int(leaked.sum()),
        "n_test_with_twin": int(sum(1 for t in norm[is_test] if t in twins)),
    }
    return dataclasses.replace(out, meta=meta), rows


def train_fraction(data: RoutingData, fraction: float, seed: int = DEFAULT_SEED) -> tuple[RoutingData, np.ndarray]:
    """``data`` without the training queries outside a nested ``fraction`` of them, and the rows kept.

    A query stays when :func:`routerlab._random.stable_uniform` of its id is below ``fraction``, so
    the queries of 10 % are among those of 20 % and the choice depends neither on row order nor on
    the other splits (`routing-plateau.txt` §6: accuracy against training-set size on one test set).
    ``meta["train_fraction"]`` records the fraction and how many training queries were kept.
    """
    if not 0 < fraction <= 1:
        raise SchemaError(f"train_fraction must be in (0, 1]; got {fraction!r}. Use e.g. 0.1 for 10 % of train.")
    is_train = data.splits == "train"
    u = stable_uniform(list(data.query_ids), seed, salt="train-fraction")
    keep = ~is_train | (u < fraction)
    n_kept = int((keep & is_train).sum())
    if n_kept == 0:
        raise SchemaError(
            f"train_fraction={fraction} keeps none of the {int(is_train.sum())} training queries of {data.name!r}; "
            "raise it."
        )
    rows = np.flatnonzero(keep)
    out = data.subset(rows)
    meta = dict(out.meta)
    meta["train_fraction"] = {"fraction": fraction, "n_train": n_kept, "n_train_full": int(is_train.sum())}
    return dataclasses.replace(out, meta=meta), rows


def dedupe_train(data: RoutingData, spec: Dedupe) -> tuple[RoutingData, np.ndarray]:
    """``data`` with duplicate training queries removed as ``spec`` says (:class:`~.config.Dedupe`), and the rows kept.

    Groups are found among the training queries only and reduced with
    :func:`routerlab.audit.duplicates.dedupe`; ``meta["dedupe"]`` records the encoder, threshold,
    groups and rows removed.
    """
    from routerlab.audit.duplicates import dedupe, exact_duplicate_groups, near_duplicate_groups

    train = np.flatnonzero(data.splits == "train")
    if spec.encoder is None:
        if data.texts is None:
            raise SchemaError(f"dedupe needs query texts, and {data.name!r} has none; give dedupe.encoder features.")
        local = exact_duplicate_groups([str(t) for t in data.texts[train]])
    else:
        from routerlab.data.features import encode

        local = near_duplicate_groups(np.asarray(encode(data.subset(train), spec.encoder, cache=True)), spec.threshold)
    groups = [train[g] for g in local]
    out = dedupe(data, groups, keep=spec.keep)
    removed = np.zeros(data.n_queries, dtype=bool)
    for g in groups:
        removed[g if spec.keep == "none" else np.sort(g)[1:]] = True
    meta = dict(out.meta)
    meta["dedupe"] = {**meta["dedupe"], "encoder": spec.encoder, "threshold": spec.threshold, "split": "train"}
    return dataclasses.replace(out, meta=meta), np.flatnonzero(~removed)


def _with_val(data: RoutingData, fraction: float | None) -> RoutingData:
    """``data`` with about ``fraction`` of train moved to val (hash of the query id), when asked and none exists."""
    if fraction is None:
        return data
    from routerlab.data.splits import carve_validation

    if (data.splits == "val").any():
        raise SchemaError(
            f"{data.name!r} already has {int((data.splits == 'val').sum())} val queries; val_fraction only carves "
            "one when there is none. Drop val_fraction from its dataset entry."
        )
    return data.with_splits(carve_validation(data.query_ids, data.splits, fraction, DEFAULT_SEED))


def _features(
    data: RoutingData,
    dataset: str,
    encoder: str,
    given: Mapping[tuple[str, str], np.ndarray] | None,
    ref: DatasetRef | None = None,
    kept: np.ndarray | None = None,
) -> np.ndarray:
    """The feature rows of ``data`` (the sweep's dataset ``dataset``) under ``encoder``.

    ``given`` features are looked up by the dataset's key, then its name, and are aligned with the
    base dataset: a variant (``kept`` rows of its base) takes its rows of them.
    """
    names = [dataset] if ref is None else [ref.key, ref.name]
    hit = None if given is None else next(((n, encoder) for n in names if (n, encoder) in given), None)
    if given is not None and hit is not None:
        X = np.asarray(given[hit])
        if kept is not None and X.ndim == 2 and X.shape[0] > data.n_queries:
            X = X[kept]
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
