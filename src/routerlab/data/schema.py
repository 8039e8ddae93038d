"""The routing data model: queries × models outcome and cost matrices.

A :class:`RoutingData` is the one thing every part of routerlab consumes. It is a frozen
dataclass of numpy arrays, validated on construction: an error names the field, the position
and the fix (``cost[12, 'gpt-4o'] must be >= 0. Got -0.3.``).

Conventions
-----------
* ``Y[q, m]`` is quality in [0, 1]; **NaN means "no outcome"** (the model was not run on that
  query). The coverage mask :attr:`RoutingData.observed` is derived from it, so the two can never
  disagree. Metrics and routers consult the mask explicitly; nothing averages over NaN silently.
* ``raw_score`` keeps the score before it was mapped to [0, 1] (e.g. a 0/1/2 judge score or a
  1-10 MT-Bench rating), with its meaning recorded in ``meta["raw_score"]``.
* ``cost[q, m]`` is in the unit named by ``cost_unit`` (``"usd"`` for a real per-call cost, or a
  declared proxy such as ``"usd_per_1m_tokens"`` or ``"params_b"``).
* ``splits`` takes values in :data:`SPLITS`. ``"ood"`` marks held-out distributions that a
  benchmark's authors used only for out-of-distribution testing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from routerlab.errors import SchemaError

SCHEMA_VERSION = 1
SPLITS = ("train", "val", "test", "ood")

# Optional (n_queries, n_models) matrices: field name -> numpy dtype kind they are stored as.
OPTIONAL_MATRICES: dict[str, str] = {
    "raw_score": "f",
    "tokens_in": "f",
    "tokens_out": "f",
    "latency_s": "f",
    "truncated": "b",
    "parsed": "b",
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model of the pool.

    Prices are USD per 1M tokens, as providers post them; ``None`` means unknown (never 0).
    """

    name: str
    family: str | None = None
    params_b: float | None = None
    input_price: float | None = None
    output_price: float | None = None
    provider_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SchemaError(f"ModelInfo.name must be a non-empty string. Got {self.name!r}.")
        for attr in ("params_b", "input_price", "output_price"):
            value = getattr(self, attr)
            if value is not None and (not np.isfinite(value) or value < 0):
                raise SchemaError(
                    f"ModelInfo({self.name!r}).{attr} must be a finite number >= 0 or None (unknown). Got {value!r}."
                )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return dataclasses.asdict(self)


def _as_str_array(values: Sequence[Any] | np.ndarray, name: str, n: int | None, *, allow_none: bool) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None and allow_none:
            arr[i] = None
        elif isinstance(v, str):
            arr[i] = v
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            arr[i] = str(v)
        else:
            fix = "use None for a missing value" if allow_none else "every entry must be text"
            raise SchemaError(f"{name}[{i}] must be a string. Got {v!r} ({type(v).__name__}); {fix}.")
    if n is not None and len(arr) != n:
        raise SchemaError(f"{name} has {len(arr)} entries but there are {n} queries; give one entry per query.")
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class RoutingData:
    """Queries × models outcomes, costs and metadata for one routing benchmark.

    Construct it with sequences or arrays; they are converted and validated. Use
    :meth:`subset`, :meth:`split` and :meth:`select_models` for views, and
    :func:`routerlab.data.io.write_parquet` / :func:`~routerlab.data.io.read_parquet` for disk
    (Parquet with a versioned schema, never pickle).
    """

    name: str
    query_ids: np.ndarray
    sources: np.ndarray
    splits: np.ndarray
    models: tuple[ModelInfo, ...]
    Y: np.ndarray
    cost: np.ndarray
    cost_unit: str
    texts: np.ndarray | None = None
    categories: np.ndarray | None = None
    gold: np.ndarray | None = None
    raw_score: np.ndarray | None = None
    tokens_in: np.ndarray | None = None
    tokens_out: np.ndarray | None = None
    latency_s: np.ndarray | None = None
    truncated: np.ndarray | None = None
    parsed: np.ndarray | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.name, str) or not self.name:
            raise SchemaError(f"RoutingData.name must be a non-empty string. Got {self.name!r}.")
        ids = _as_str_array(self.query_ids, "query_ids", None, allow_none=False)
        n = len(ids)
        set_(self, "query_ids", ids)
        self._check_unique_ids(ids)
        set_(self, "sources", _as_str_array(self.sources, "sources", n, allow_none=False))
        set_(self, "splits", _as_str_array(self.splits, "splits", n, allow_none=False))
        self._check_splits()
        categories = self.sources if self.categories is None else self.categories
        set_(self, "categories", _as_str_array(categories, "categories", n, allow_none=False))
        if self.texts is not None:
            set_(self, "texts", _as_str_array(self.texts, "texts", n, allow_none=False))
        if self.gold is not None:
            set_(self, "gold", _as_str_array(self.gold, "gold", n, allow_none=True))
        models = tuple(self.models)
        if not models:
            raise SchemaError("RoutingData.models is empty; a routing problem needs at least one model.")
        for i, m in enumerate(models):
            if not isinstance(m, ModelInfo):
                raise SchemaError(
                    f"models[{i}] must be a ModelInfo. Got {type(m).__name__}; wrap it as ModelInfo(name=...)."
                )
        set_(self, "models", models)
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            dup = next(x for x in names if names.count(x) > 1)
            raise SchemaError(f"models has the name {dup!r} more than once; model names must be unique.")
        if not isinstance(self.cost_unit, str) or not self.cost_unit:
            raise SchemaError(f"cost_unit must name the unit of cost (e.g. 'usd', 'params_b'). Got {self.cost_unit!r}.")
        set_(self, "Y", self._matrix("Y", self.Y, "f"))
        self._check_quality()
        set_(self, "cost", self._matrix("cost", self.cost, "f"))
        self._check_cost()
        for attr, kind in OPTIONAL_MATRICES.items():
            value = getattr(self, attr)
            if value is not None:
                set_(self, attr, self._matrix(attr, value, kind))
        set_(self, "meta", dict(self.meta))
        try:
            json.dumps(self.meta)
        except TypeError as exc:
            raise SchemaError(f"meta must be JSON-serialisable (str/number/list/dict values): {exc}.") from None

    def _check_unique_ids(self, ids: np.ndarray) -> None:
        uniq, counts = np.unique(ids.astype(str), return_counts=True)
        if len(uniq) != len(ids):
            dup = uniq[counts > 1][0]
            rows = np.flatnonzero(ids == dup)[:3].tolist()
            raise SchemaError(
                f"query_ids must be unique, but {dup!r} appears {int(counts[counts > 1][0])} times (rows {rows}). "
                "De-duplicate the queries or make the ids unique (e.g. prefix them with their source)."
            )

    def _check_splits(self) -> None:
        bad = ~np.isin(self.splits, SPLITS)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SchemaError(f"splits[{i}] = {self.splits[i]!r} is not a known split; use one of {', '.join(SPLITS)}.")

    def _matrix(self, name: str, value: Any, kind: str) -> np.ndarray:
        try:
            arr = np.array(value, dtype=np.float64 if kind == "f" else bool, copy=True)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"{name} must be a numeric (n_queries, n_models) matrix: {exc}.") from None
        shape = (len(self.query_ids), len(self.models))
        if arr.shape != shape:
            raise SchemaError(
                f"{name} has shape {arr.shape} but there are {shape[0]} queries and {shape[1]} models; "
                f"it must be {shape} with one column per model, in the order of `models`."
            )
        arr.setflags(write=False)
        return arr

    def _where(self, name: str, mask: np.ndarray) -> str:
        q, m = np.argwhere(mask)[0]
        return f"{name}[{int(q)}, {self.models[m].name!r}] (query {self.query_ids[q]!r})"

    def _check_quality(self) -> None:
        y = self.Y
        if np.isinf(y).any():
            raise SchemaError(
                f"{self._where('Y', np.isinf(y))} is infinite; quality must be in [0, 1] or NaN for no outcome."
            )
        out = ~np.isnan(y) & ((y < 0) | (y > 1))
        if out.any():
            q, m = np.argwhere(out)[0]
            raise SchemaError(
                f"{self._where('Y', out)} must be in [0, 1]. Got {float(y[q, m])!r}. Rescale the scores to [0, 1] "
                "(keep the original scale in raw_score) or use NaN for a missing outcome."
            )

    def _check_cost(self) -> None:
        c, observed = self.cost, self.observed
        neg = c < 0
        if neg.any():
            q, m = np.argwhere(neg)[0]
            raise SchemaError(f"{self._where('cost', neg)} must be >= 0. Got {float(c[q, m])!r}.")
        bad = observed & ~np.isfinite(c)
        if bad.any():
            raise SchemaError(
                f"{self._where('cost', bad)} is missing or infinite where the model has an outcome; every "
                "observed (query, model) cell needs a finite cost "
                "(use a declared proxy unit if the true cost is unknown)."
            )

    # ------------------------------------------------------------------ basic views
    @property
    def n_queries(self) -> int:
        """Number of queries (rows)."""
        return len(self.query_ids)

    @property
    def n_models(self) -> int:
        """Number of models (columns)."""
        return len(self.models)

    @property
    def model_names(self) -> list[str]:
        """Model names in column order."""
        return [m.name for m in self.models]

    @property
    def observed(self) -> np.ndarray:
        """Coverage mask: True where ``Y[q, m]`` is an outcome (not missing)."""
        mask: np.ndarray = ~np.isnan(self.Y)
        return mask

    def model_index(self, name: str) -> int:
        """Column index of model ``name``; a clear error (with close names) when it is absent."""
        names = self.model_names
        if name in names:
            return names.index(name)
        import difflib

        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise SchemaError(f"No model column {name!r} in {self.name!r}.{hint} Models: {', '.join(names)}.")

    def subset(self, rows: np.ndarray | Sequence[int] | Sequence[bool]) -> RoutingData:
        """The queries selected by an index array or boolean mask, in that order."""
        idx = np.asarray(rows)
        if idx.dtype == bool:
            if idx.shape != (self.n_queries,):
                raise SchemaError(f"A boolean row mask must have length {self.n_queries}. Got shape {idx.shape}.")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.intp, copy=False)
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                changes[f.name] = value[idx]
        return dataclasses.replace(self, **changes)

    def split(self, *names: str) -> RoutingData:
        """Keep the queries of the named splits, e.g. ``data.split("train", "val")``."""
        for n in names:
            if n not in SPLITS:
                raise SchemaError(f"Unknown split {n!r}; use one of {', '.join(SPLITS)}.")
        return self.subset(np.isin(self.splits, names))

    def split_sizes(self) -> dict[str, int]:
        """Number of queries in each split present."""
        values, counts = np.unique(self.splits.astype(str), return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}

    def select_models(self, names: Sequence[str]) -> RoutingData:
        """A copy restricted to (and re-ordered as) the given model columns."""
        cols = [self.model_index(n) for n in names]
        changes: dict[str, Any] = {"models": tuple(self.models[c] for c in cols)}
        for attr in ("Y", "cost", *OPTIONAL_MATRICES):
            value = getattr(self, attr)
            if value is not None:
                changes[attr] = value[:, cols]
        return dataclasses.replace(self, **changes)

    def without_outcomes(self) -> RoutingData:
        """A copy whose outcome matrices are all missing: what a router may see at decision time.

        Costs, texts and query metadata stay; Y, raw scores and every per-answer matrix go.
        Evaluation hands routers this view so that test labels cannot leak into predictions.
        """
        changes: dict[str, Any] = {"Y": np.full_like(self.Y, np.nan), "gold": None}
        for attr in OPTIONAL_MATRICES:
            changes[attr] = None
        return dataclasses.replace(self, **changes)

    def with_splits(self, splits: Sequence[str] | np.ndarray) -> RoutingData:
        """A copy with a new split assignment (validated)."""
        return dataclasses.replace(self, splits=np.asarray(splits, dtype=object))

    # ------------------------------------------------------------------ summaries
    def mean_quality(self) -> np.ndarray:
        """Per-model mean quality over observed queries (NaN only for a model with no outcome at all)."""
        obs = self.observed
        counts = obs.sum(axis=0)
        sums = np.where(obs, self.Y, 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def mean_cost(self) -> np.ndarray:
        """Per-model mean cost over observed queries."""
        obs = self.observed
        counts = obs.sum(axis=0)
        sums = np.where(obs, self.cost, 0.0).sum(axis=0)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def coverage(self) -> np.ndarray:
        """Per-model share of queries with an outcome."""
        return self.observed.mean(axis=0) if self.n_queries else np.zeros(self.n_models)

    def __repr__(self) -> str:
        return (
            f"RoutingData(name={self.name!r}, n_queries={self.n_queries}, n_models={self.n_models}, "
            f"splits={self.split_sizes()}, cost_unit={self.cost_unit!r})"
        )
