"""The seed protocol of `routing-plateau.txt` App. E.4 as a resumable, parallel sweep.

For every (dataset, router, encoder):

* **Stage 1.** Enumerate the router's ``param_grid`` (or the config's override) with
  :func:`itertools.product`, in the grid's key order (the last key varies fastest). When the grid
  holds more than ``max_configs`` points, :data:`SAMPLE_SEED` (42) draws ``max_configs`` of them
  without replacement, kept in enumeration order. Each configuration is fitted on the ``"train"``
  split with ``random_state = seeds[0]`` (42; only for routers that have a ``random_state``
  parameter) and scored on ``"val"`` by routing accuracy at λ = 0.
* **Stage 2** (stochastic routers only: ``stochastic = True`` *and* a ``random_state``
  parameter). The ``top_k`` stage-1 configurations (ties → earlier configuration) are re-fitted
  with the remaining seeds ``seeds[1:]`` (1337, 2026, 7, 99). The selected configuration is the
  one with the best mean validation accuracy over those stage-2 seeds — the four runs that played
  no part in the stage-1 ranking, so a lucky seed-42 run cannot win twice (ties → earlier
  configuration). Stage 2 of a (dataset, router, encoder) starts only once all its stage-1
  records exist.
* **Headline.** Mean ± std test accuracy of the selected configuration over *all* seeds
  (42, 1337, 2026, 7, 99), with ``std`` the population standard deviation (``ddof = 0``,
  :data:`STD_DDOF`). Deterministic routers report the single test accuracy of the selected
  variant (std 0, one seed). The cost-utility sweep U(λ) for each λ in ``lams`` is applied post
  hoc to the same predictions: scores are predicted once per run and the shared selection policy
  (``router.decide(...).choose(lam=λ)``, exactly what :meth:`Router.route` does) is applied at
  every λ.

Routers are fitted on ``"train"``, selected on ``"val"`` and scored on ``"test"``; a model with no
recorded outcome on a query is not offered for it (``available = observed``) and val/test queries
nobody answered are dropped, as in :func:`routerlab.experiments.evaluate.evaluate`. Routers with
``requires_features = False`` run once per dataset under the encoder name ``"none"`` (no ``X``).

Records and resuming
--------------------
Every run appends one JSON line to ``out_dir/runs.jsonl`` (flushed and ``fsync``-ed), written by
the parent process as results arrive, so a kill loses at most the runs in flight. A run is
identified by its *run key*, a hash of (dataset, router, encoder, params, seed); the stage is not
part of the key, so the seed-42 run of stage 1 is also the first of the five headline seeds. On
start, existing records are read and every completed run key is skipped: an interrupted sweep
resumes where it stopped. A truncated last line (a kill mid-write) is dropped with a warning; a
corrupt line elsewhere (not UTF-8 JSON) stops the sweep with an error naming the line.
Each record also carries a fingerprint of the dataset (ids, splits, models, outcomes, costs) and
its figures at every λ; a record whose data changed, or that lacks a requested λ, is redone.
Failed runs are recorded with ``status = "error"`` and retried on the next start.
``summary.json`` and ``summary.parquet`` are rewritten at the end of every sweep; they hold no
timings, so a resumed sweep writes the same summary as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routerlab._random import rng
from routerlab._yaml import describe_errors, read_yaml
from routerlab.data.schema import RoutingData
from routerlab.errors import RouterlabError, SchemaError
from routerlab.experiments.evaluate import score_choice
from routerlab.metrics import core as M
from routerlab.routers.base import Router

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: seed of the draw that picks ``max_configs`` grid points when the grid is larger
SAMPLE_SEED = 42
#: the headline std is the population standard deviation over seeds
STD_DDOF = 0
#: encoder name of runs of routers that use no query features
NO_ENCODER = "none"
RUNS_FILE = "runs.jsonl"
SUMMARY_JSON = "summary.json"
SUMMARY_PARQUET = "summary.parquet"
DEFAULT_SEEDS = (42, 1337, 2026, 7, 99)
DEFAULT_LAMS = (0.0, 0.2, 0.5, 0.7, 0.9)

#: ``progress(done, total, message)``, called once at start and after every finished run
SweepProgress = Callable[[int, int, str], None]


# ============================================================================ configuration
class DatasetRef(BaseModel):
    """A dataset of the sweep: a registered name (or a file path), its folder, and loader options."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    path: Path | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    #: carve a validation split of about this fraction of train (hash of the query id) when there is none
    val_fraction: float | None = Field(None, gt=0, lt=1)


class SweepConfig(BaseModel):
    """What to sweep: datasets × routers × encoders under the seed protocol (see the module doc).

    Build it in code, or from YAML with :meth:`from_yaml`; precedence is CLI flags (the
    ``overrides`` of :meth:`from_yaml`) > file > defaults. A dataset may be given as a bare name.
    """

    model_config = ConfigDict(extra="forbid")

    datasets: list[DatasetRef] = Field(min_length=1)
    routers: list[str] = Field(min_length=1)
    #: per-router grid override: router name -> parameter -> candidate values
    grids: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    encoders: list[str] = Field(default_factory=lambda: ["minilm"], min_length=1)
    max_configs: int = Field(15, ge=1)
    seeds: list[int] = Field(default_factory=lambda: list(DEFAULT_SEEDS), min_length=1)
    top_k: int = Field(5, ge=1)
    lams: list[float] = Field(default_factory=lambda: list(DEFAULT_LAMS), min_length=1)
    out_dir: Path
    #: worker processes; -1 means ``os.cpu_count()``
    n_jobs: int = -1
    #: stop at the first failed run instead of recording it and going on
    fail_fast: bool = False

    @field_validator("datasets", mode="before")
    @classmethod
    def _names_to_refs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("routers", "encoders")
    @classmethod
    def _unique_names(cls, value: list[str]) -> list[str]:
        if any(not v or v != v.strip() for v in value):
            raise ValueError(f"names must be non-empty and without surrounding spaces; got {value}")
        dup = sorted({v for v in value if value.count(v) > 1})
        if dup:
            raise ValueError(f"{dup} listed more than once")
        return value

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: list[int]) -> list[int]:
        if any(s < 0 for s in value):
            raise ValueError(f"seeds must be non-negative integers; got {value}")
        if len(set(value)) != len(value):
            raise ValueError(f"seeds must be distinct; got {value}")
        return value

    @field_validator("lams")
    @classmethod
    def _check_lams(cls, value: list[float]) -> list[float]:
        bad = [v for v in value if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"every λ must be in [0, 1] (0 = quality only, 1 = cost only); got {bad}")
        if len(set(value)) != len(value):
            raise ValueError(f"λ values must be distinct; got {value}")
        return [float(v) for v in value]

    @field_validator("n_jobs")
    @classmethod
    def _check_n_jobs(cls, value: int) -> int:
        if value != -1 and value < 1:
            raise ValueError(f"n_jobs must be -1 (all CPU cores) or a positive number of processes; got {value}")
        return value

    @model_validator(mode="after")
    def _check_cross(self) -> SweepConfig:
        names = [d.name for d in self.datasets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"datasets: {dup} listed more than once")
        stray = sorted(set(self.grids) - set(self.routers))
        if stray:
            raise ValueError(f"grids: {stray} are not among the routers {self.routers}")
        for router, grid in self.grids.items():
            for param, values in grid.items():
                if not values:
                    raise ValueError(f"grids.{router}.{param} is an empty list; give at least one value")
        return self

    @property
    def effective_n_jobs(self) -> int:
        """``n_jobs`` with -1 resolved to the number of CPU cores."""
        return (os.cpu_count() or 1) if self.n_jobs == -1 else self.n_jobs

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> SweepConfig:
        """Read a YAML file; ``overrides`` that are not ``None`` (CLI flags) replace the file's values.

        Errors are :class:`SchemaError` naming the file, the line and the bad key, e.g.
        ``sweep.yaml, line 3: unknown key 'rooters'. Did you mean 'routers'?``.
        """
        path = Path(path)
        raw, node = read_yaml(path, what="sweep", expected="a mapping of keys (datasets, routers, ...)", empty_ok=True)
        raw.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("routers") is not None and isinstance(raw.get("grids"), dict):
            # a --router flag narrows the sweep: grids of routers left out no longer apply
            raw["grids"] = {k: v for k, v in raw["grids"].items() if k in overrides["routers"]}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise SchemaError(_describe_errors(exc, str(path), node)) from None

    @classmethod
    def build(cls, **values: Any) -> SweepConfig:
        """Like the constructor, but a validation error is a :class:`SchemaError` with a readable message."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SchemaError(_describe_errors(exc, "sweep config", None)) from None


def _valid_keys(loc: Sequence[Any]) -> list[str]:
    model: type[BaseModel] = DatasetRef if loc and loc[0] == "datasets" else SweepConfig
    return list(model.model_fields)


def _missing_hint(loc: Sequence[Any]) -> str:
    return " (or pass --out)" if tuple(loc) == ("out_dir",) else ""


def _describe_errors(exc: ValidationError, source: str, node: Any) -> str:
    return describe_errors(exc, source, node, what="sweep", valid_keys=_valid_keys, missing_hint=_missing_hint)


# ============================================================================ configurations
def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces); values JSON cannot hold are written as their repr."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr, allow_nan=False)


def _digest(value: Any, n: int) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:n]


def config_id(params: Mapping[str, Any]) -> str:
    """Return a short stable id of a hyper-parameter configuration (hash of its canonical JSON)."""
    return _digest(dict(params), 10)


def run_key(dataset: str, router: str, encoder: str, params: Mapping[str, Any], seed: int) -> str:
    """Return the identity of one run: a hash of (dataset, router, encoder, params, seed)."""
    return _digest([dataset, router, encoder, dict(params), int(seed)], 20)


def lam_key(lam: float) -> str:
    """How a λ is written as a JSON key: ``0``, ``0.2``, ..."""
    return f"{float(lam):g}"


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


# ============================================================================ runs
@dataclass(frozen=True, slots=True)
class RunSpec:
    """One fit-and-score job of the sweep."""

    dataset: str
    router: str
    encoder: str
    config_id: str
    config_index: int
    params: dict[str, Any]
    seed: int
    stage: int

    @property
    def key(self) -> str:
        """The run key (see :func:`run_key`)."""
        return run_key(self.dataset, self.router, self.encoder, self.params, self.seed)


@dataclass(frozen=True, slots=True)
class SplitData:
    """The train / val / test parts of one dataset and their feature rows (``None`` without an encoder)."""

    train: RoutingData
    val: RoutingData
    test: RoutingData
    X_train: np.ndarray | None = None
    X_val: np.ndarray | None = None
    X_test: np.ndarray | None = None


def split_rows(data: RoutingData) -> dict[str, np.ndarray]:
    """Row indices of the train, val and test splits; val/test queries nobody answered are left out."""
    answered = data.observed.any(axis=1)
    rows = {}
    for split in ("train", "val", "test"):
        mask = data.splits == split
        if split != "train":
            mask &= answered
        if not mask.any():
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


def data_fingerprint(data: RoutingData) -> str:
    """Return a hash of what a run's figures depend on: query ids, splits, model names, outcomes and costs."""
    h = hashlib.blake2b(digest_size=10)
    for part in (data.query_ids, data.splits, np.asarray(data.model_names, dtype=object)):
        h.update("\x1f".join(map(str, part)).encode("utf-8"))
        h.update(b"\x1e")
    for matrix in (data.Y, data.cost):
        h.update(np.ascontiguousarray(matrix, dtype=np.float64).tobytes())
    return h.hexdigest()


def _has_random_state(cls: type[Router]) -> bool:
    return "random_state" in cls._param_names()


def _jsonable(value: Any) -> Any:
    return json.loads(canonical_json(value))


def execute_run(spec: RunSpec, cls: type[Router], split: SplitData, lams: Sequence[float]) -> dict[str, Any]:
    """Fit one configuration with one seed and score it; returns the run's record (never raises).

    Runs in a worker process. A failure is returned as a record with ``status = "error"``.
    """
    base: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_key": spec.key,
        "dataset": spec.dataset,
        "router": spec.router,
        "encoder": spec.encoder,
        "config_id": spec.config_id,
        "config_index": spec.config_index,
        "params": _jsonable(spec.params),
        "seed": spec.seed,
        "stage": spec.stage,
    }
    t0 = time.perf_counter()
    fit_s = 0.0
    try:
        router = cls(**spec.params)
        if _has_random_state(cls):
            router.set_params(random_state=spec.seed)
        router.fit(split.train, split.X_train)
        fit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        on_val = router.decide(split.val, split.X_val, available=split.val.observed)
        on_test = router.decide(split.test, split.X_test, available=split.test.observed)
        val_acc = M.routing_accuracy_score(Y=split.val.Y, choice=on_val.choose())
        quality, utility, cost, rates = {}, {}, {}, {}
        for lam in sorted({0.0, *map(float, lams)}):
            row = score_choice(spec.router, router, split.test, on_test.choose(lam=lam), lam, on_test.scale)
            k = lam_key(lam)
            quality[k], utility[k], cost[k], rates[k] = row.quality, row.utility, row.mean_cost, row.call_rate
        predict_s = time.perf_counter() - t1
    except Exception as exc:  # recorded, and retried on the next start
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        return {
            **base,
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": tail,
            "fit_s": round(fit_s, 6),
            "timestamp": _now(),
        }
    return {
        **base,
        "status": "ok",
        "router_params": _jsonable(router.get_params()),
        "val_acc": val_acc,
        "test_acc": quality["0"],
        "test_quality": quality,
        "test_utility": utility,
        "test_mean_cost": cost,
        "call_rate": rates,
        "n_train": split.train.n_queries,
        "n_val": split.val.n_queries,
        "n_test": split.test.n_queries,
        "fit_s": round(fit_s, 6),
        "predict_s": round(predict_s, 6),
        "timestamp": _now(),
    }


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# ============================================================================ the runs file
def read_records(path: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Read the records of a ``runs.jsonl`` file, in file order.

    A truncated last line (a process killed mid-write: no final newline) is dropped with a warning;
    with ``repair=True`` it is also cut from the file, so that later appends start on a fresh line.
    Any other line that is not valid UTF-8 JSON (a corrupt or hand-edited file) is a
    :class:`SchemaError` naming the file and line, since skipping it would silently redo or lose runs;
    a JSON object that is not a sweep record of this schema version is skipped with a warning.
    """
    from routerlab._jsonl import parse_line

    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        log.warning(
            "%s: dropping a truncated last line (%d bytes), left by an interrupted run; that run will be redone",
            path,
            len(raw) - cut,
        )
        raw = raw[:cut]
        if repair:
            os.truncate(path, cut)
    fix = (
        "the runs file is corrupt: delete that line (its run is redone on the next start) or move the file "
        "away to start the sweep afresh"
    )
    records = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        rec = parse_line(line, path=path, lineno=number, fix=fix)
        if rec.get("schema_version") != SCHEMA_VERSION or "run_key" not in rec:
            log.warning("%s, line %d: not a sweep record of schema version %d; skipped", path, number, SCHEMA_VERSION)
            continue
        records.append(rec)
    return records


class _RecordWriter:
    """Appends records to ``runs.jsonl``, one line each, flushed and fsync-ed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, allow_nan=False, default=repr) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def _complete(record: Mapping[str, Any], lams: Sequence[float], fingerprints: Mapping[str, str]) -> bool:
    if record.get("status") != "ok":
        return False
    if record.get("data_fingerprint") not in (None, fingerprints.get(record.get("dataset", ""))):
        return False
    have = record.get("test_utility") or {}
    return all(lam_key(lam) in have for lam in lams)


# ============================================================================ results
@dataclass(frozen=True, slots=True)
class SummaryRow:
    """The seed-protocol result of one (dataset, router, encoder)."""

    dataset: str
    router: str
    encoder: str
    status: str  # "ok" or "failed" (every stage-1 run failed)
    stochastic: bool  # True when the seed stage ran (stochastic router with a random_state)
    config_id: str | None
    params: dict[str, Any]
    grid_size: int
    n_configs: int  # stage-1 configurations tried
    n_runs: int  # successful runs of this (dataset, router, encoder), both stages
    seeds: tuple[int, ...]  # seeds of the headline figures
    val_acc_mean: float | None  # over the headline seeds
    stage2_val_acc_mean: float | None  # the selection criterion (None without stage 2)
    test_acc_mean: float | None
    test_acc_std: float | None  # ddof = 0
    test_quality_mean: dict[str, float]
    test_quality_std: dict[str, float]
    test_utility_mean: dict[str, float]
    test_utility_std: dict[str, float]
    test_cost_mean: dict[str, float]
    call_rate_mean: dict[str, float]  # at λ = 0
    oracle_test_acc: float | None
    n_train: int | None
    n_val: int | None
    n_test: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["seeds"] = list(self.seeds)
        return out


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What :func:`run_sweep` returns: the summary rows, the records behind them and run counts."""

    out_dir: Path
    lams: tuple[float, ...]
    summary: tuple[SummaryRow, ...]
    records: tuple[dict[str, Any], ...]  # the latest successful record of every run key used
    n_executed: int  # runs executed by this call (including failed ones)
    n_skipped: int  # runs found complete in runs.jsonl
    errors: tuple[dict[str, Any], ...] = field(default=())

    def row(self, router: str, dataset: str | None = None, encoder: str | None = None) -> SummaryRow:
        """Return the summary row of ``router`` (and ``dataset`` / ``encoder`` when several match)."""
        rows = [
            r
            for r in self.summary
            if r.router == router and dataset in (None, r.dataset) and encoder in (None, r.encoder)
        ]
        if len(rows) != 1:
            raise KeyError(
                f"{len(rows)} summary rows match router={router!r}, dataset={dataset!r}, encoder={encoder!r}."
            )
        return rows[0]

    def to_dict(self) -> dict[str, Any]:
        """Return the content of ``summary.json`` (no timings: a resumed sweep writes the same)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "protocol": {"std_ddof": STD_DDOF, "sample_seed": SAMPLE_SEED, "lams": list(self.lams)},
            "rows": [r.to_dict() for r in self.summary],
        }

    def to_markdown(self) -> str:
        """One Markdown table: selected params, mean ± std test accuracy and mean U(λ) per λ."""
        lams = [lam_key(lam) for lam in self.lams]
        head = ["dataset", "router", "encoder", "params", "seeds", "test acc", *[f"U({k})" for k in lams]]
        lines = [
            "# Sweep summary",
            "",
            f"Mean ± std (ddof = {STD_DDOF}) over the seeds of the selected configuration; deterministic routers "
            "report one run.",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * 5 + "---:|" * (1 + len(lams)),
        ]
        for r in self.summary:
            params = ", ".join(f"{k}={v}" for k, v in r.params.items()) or "defaults"
            if r.status != "ok" or r.test_acc_mean is None:
                cells = ["failed"] * (1 + len(lams))
            else:
                cells = [_pm(r.test_acc_mean, r.test_acc_std, len(r.seeds))]
                cells += [_pm(r.test_utility_mean[k], r.test_utility_std[k], len(r.seeds)) for k in lams]
            lines.append(
                f"| {r.dataset} | {r.router} | {r.encoder} | {params} | {len(r.seeds)} | " + " | ".join(cells) + " |"
            )
        return "\n".join(lines) + "\n"


def _pm(mean: float, std: float | None, n: int) -> str:
    return f"{mean:.4f} ± {std:.4f}" if n > 1 and std is not None else f"{mean:.4f}"


# ============================================================================ the sweep
@dataclass
class _Group:
    dataset: str
    router: str
    encoder: str
    cls: type[Router]
    configs: list[tuple[int, dict[str, Any]]]
    grid_size: int
    stage2: bool


def _resolve_routers(config: SweepConfig) -> dict[str, type[Router]]:
    from routerlab.routers import ROUTERS

    classes = {name: ROUTERS.get(name) for name in config.routers}
    for name, cls in classes.items():
        grid = config.grids.get(name, cls.param_grid)
        valid = cls._param_names()
        for param in grid:
            if param == "random_state":
                raise SchemaError(
                    f"grids.{name}: random_state is set by the seed protocol (seeds); remove it from the grid."
                )
            if param not in valid:
                raise SchemaError(
                    f"grids.{name}: {cls.__name__} has no parameter {param!r}; valid parameters: {valid}."
                )
        if cls.stochastic and not _has_random_state(cls) and len(config.seeds) > 1:
            log.warning("%s is marked stochastic but has no random_state parameter; it gets no seed stage", name)
    return classes


def _build_groups(config: SweepConfig, classes: Mapping[str, type[Router]]) -> list[_Group]:
    groups = []
    for ref in config.datasets:
        for name, cls in classes.items():
            grid = config.grids.get(name, cls.param_grid)
            configs, seen = [], set()
            for index, params in enumerate_configs(grid, config.max_configs):
                if config_id(params) not in seen:  # a value listed twice in a grid is one configuration
                    seen.add(config_id(params))
                    configs.append((index, params))
            stage2 = bool(cls.stochastic and _has_random_state(cls) and len(config.seeds) > 1)
            for encoder in config.encoders if cls.requires_features else [NO_ENCODER]:
                groups.append(
                    _Group(ref.name, name, encoder, cls, configs, math.prod(len(v) for v in grid.values()), stage2)
                )
    return groups


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


class _Runner:
    """Executes run specs (in parallel), writes their records and tracks progress."""

    def __init__(
        self,
        config: SweepConfig,
        writer: _RecordWriter,
        done: dict[str, dict[str, Any]],
        progress: SweepProgress | None,
        fingerprints: Mapping[str, str],
    ):
        self.fingerprints = fingerprints
        self.config = config
        self.writer = writer
        self.done = done
        self.progress = progress
        self.n_done = 0
        self.total = 0
        self.executed = 0
        self.errors: list[dict[str, Any]] = []

    def tick(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.n_done, self.total, message)

    def run(self, jobs: list[tuple[RunSpec, type[Router], SplitData]]) -> None:
        if not jobs:
            return
        lams = tuple(self.config.lams)
        n_jobs = min(self.config.effective_n_jobs, len(jobs))
        results: Iterable[dict[str, Any]]
        if n_jobs == 1:
            results = (execute_run(spec, cls, split, lams) for spec, cls, split in jobs)
        else:
            from joblib import Parallel, delayed

            parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
            results = parallel(delayed(execute_run)(spec, cls, split, lams) for spec, cls, split in jobs)
        for record in results:
            record["data_fingerprint"] = self.fingerprints[record["dataset"]]
            self.writer.write(record)
            self.executed += 1
            self.n_done += 1
            what = f"{record['dataset']} {record['router']}[{record['encoder']}] {record['config_id']}"
            what += f" seed {record['seed']}"
            if record["status"] == "ok":
                self.done[record["run_key"]] = record
                self.tick(f"{what}: val {record['val_acc']:.4f}")
            else:
                self.errors.append(record)
                log.warning("run failed: %s: %s", what, record["error"])
                self.tick(f"{what}: failed")
                if self.config.fail_fast:
                    raise RouterlabError(f"Sweep run {what} failed: {record['error']}\n{record.get('traceback', '')}")


def _stage1_specs(g: _Group, seed: int) -> list[RunSpec]:
    return [RunSpec(g.dataset, g.router, g.encoder, config_id(p), i, p, seed, 1) for i, p in g.configs]


def _rank_stage1(g: _Group, seed: int, done: Mapping[str, dict[str, Any]]) -> list[RunSpec]:
    ok = [s for s in _stage1_specs(g, seed) if s.key in done]
    return sorted(ok, key=lambda s: (-round(float(done[s.key]["val_acc"]), 12), s.config_index))


def _stage2_specs(g: _Group, config: SweepConfig, done: Mapping[str, dict[str, Any]]) -> list[RunSpec]:
    if not g.stage2:
        return []
    top = _rank_stage1(g, config.seeds[0], done)[: config.top_k]
    return [dataclasses.replace(s, seed=seed, stage=2) for s in top for seed in config.seeds[1:]]


def _planned_stage2(g: _Group, config: SweepConfig) -> int:
    return min(config.top_k, len(g.configs)) * (len(config.seeds) - 1) if g.stage2 else 0


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def _std(values: Sequence[float]) -> float:
    return float(np.std(np.asarray(values, dtype=np.float64), ddof=STD_DDOF))


def _summarise(
    g: _Group, config: SweepConfig, done: Mapping[str, dict[str, Any]], oracle: float
) -> tuple[SummaryRow, list[dict[str, Any]]]:
    seeds = config.seeds
    ranked = _rank_stage1(g, seeds[0], done)
    empty: dict[str, float] = {}
    if not ranked:
        row = SummaryRow(
            g.dataset, g.router, g.encoder, "failed", g.stage2, None, {}, g.grid_size, len(g.configs), 0, (),
            None, None, None, None, empty, empty, empty, empty, empty, empty, oracle, None, None, None,
        )  # fmt: skip
        return row, []
    stage2_mean: float | None = None
    if g.stage2:
        candidates = []
        for spec in ranked[: config.top_k]:
            keys = [dataclasses.replace(spec, seed=s).key for s in seeds[1:]]
            if all(k in done for k in keys):
                candidates.append((round(_mean([done[k]["val_acc"] for k in keys]), 12), spec))
            else:
                log.warning(
                    "%s: configuration %s lacks successful stage-2 runs; not eligible", g.router, spec.config_id
                )
        if candidates:
            stage2_mean, chosen = max(candidates, key=lambda c: (c[0], -c[1].config_index))
            used_seeds = tuple(seeds)
        else:
            chosen, used_seeds = ranked[0], (seeds[0],)
    else:
        chosen, used_seeds = ranked[0], (seeds[0],)
    recs = [done[dataclasses.replace(chosen, seed=s).key] for s in used_seeds]
    lams = [lam_key(lam) for lam in config.lams]
    group_keys = {s.key for s in _stage1_specs(g, seeds[0])}
    group_keys |= (
        {dataclasses.replace(s, seed=seed).key for s in ranked[: config.top_k] for seed in seeds[1:]}
        if g.stage2
        else set()
    )
    used = [done[k] for k in sorted(group_keys) if k in done]
    models = sorted({m for r in recs for m in r["call_rate"]["0"]})
    row = SummaryRow(
        dataset=g.dataset,
        router=g.router,
        encoder=g.encoder,
        status="ok",
        stochastic=g.stage2,
        config_id=chosen.config_id,
        params=_jsonable(chosen.params),
        grid_size=g.grid_size,
        n_configs=len(g.configs),
        n_runs=len(used),
        seeds=used_seeds,
        val_acc_mean=_mean([r["val_acc"] for r in recs]),
        stage2_val_acc_mean=stage2_mean,
        test_acc_mean=_mean([r["test_acc"] for r in recs]),
        test_acc_std=_std([r["test_acc"] for r in recs]),
        test_quality_mean={k: _mean([r["test_quality"][k] for r in recs]) for k in lams},
        test_quality_std={k: _std([r["test_quality"][k] for r in recs]) for k in lams},
        test_utility_mean={k: _mean([r["test_utility"][k] for r in recs]) for k in lams},
        test_utility_std={k: _std([r["test_utility"][k] for r in recs]) for k in lams},
        test_cost_mean={k: _mean([r["test_mean_cost"][k] for r in recs]) for k in lams},
        call_rate_mean={m: _mean([r["call_rate"]["0"].get(m, 0.0) for r in recs]) for m in models},
        oracle_test_acc=oracle,
        n_train=recs[0]["n_train"],
        n_val=recs[0]["n_val"],
        n_test=recs[0]["n_test"],
    )
    return row, used


def run_sweep(
    config: SweepConfig,
    *,
    features: Mapping[tuple[str, str], np.ndarray] | None = None,
    progress: SweepProgress | None = None,
    data: Mapping[str, RoutingData] | None = None,
) -> SweepResult:
    """Run (or resume) the seed protocol over ``config``; see the module doc.

    ``features`` maps ``(dataset name, encoder name)`` to a precomputed (n_queries, d) matrix
    aligned with the dataset's rows; pairs not given are computed once here with
    :func:`routerlab.data.features.encode` (cached on disk) and shipped to the workers.
    ``data`` maps dataset names of ``config.datasets`` to already loaded datasets (the others are
    loaded with :func:`routerlab.data.load`). ``progress(done, total, message)`` is called at the
    start and after each finished run.
    """
    classes = _resolve_routers(config)
    groups = _build_groups(config, classes)
    datasets = _load(config, data)
    rows = {name: split_rows(d) for name, d in datasets.items()}
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / RUNS_FILE
    fingerprints = {name: data_fingerprint(d) for name, d in datasets.items()}
    done: dict[str, dict[str, Any]] = {}
    stale: dict[str, str] = {}  # run key -> dataset, for successful records that cannot be reused
    for rec in read_records(runs_path, repair=True):
        if _complete(rec, config.lams, fingerprints):
            done[rec["run_key"]] = rec
        elif rec.get("status") == "ok" and rec.get("dataset") in fingerprints:
            stale[rec["run_key"]] = rec["dataset"]
    for name in sorted({d for k, d in stale.items() if k not in done}):
        n_stale = sum(1 for k, d in stale.items() if d == name and k not in done)
        log.warning(
            "%s: %d records of %r were computed on other data (or lack a requested λ); they are redone",
            runs_path,
            n_stale,
            name,
        )
    split_cache: dict[tuple[str, str], SplitData] = {}

    def split_for(dataset: str, encoder: str) -> SplitData:
        if (dataset, encoder) not in split_cache:
            d = datasets[dataset]
            X = None if encoder == NO_ENCODER else _features(d, dataset, encoder, features)
            split_cache[(dataset, encoder)] = _split_data(d, rows[dataset], X)
        return split_cache[(dataset, encoder)]

    writer = _RecordWriter(runs_path)
    runner = _Runner(config, writer, done, progress, fingerprints)
    skipped = 0
    try:
        stage1 = [(s, g) for g in groups for s in _stage1_specs(g, config.seeds[0])]
        pending1 = [(s, g) for s, g in stage1 if s.key not in done]
        skipped += len(stage1) - len(pending1)
        runner.total = len(stage1) + sum(_planned_stage2(g, config) for g in groups)
        runner.n_done = len(stage1) - len(pending1)
        runner.tick(f"stage 1: {len(pending1)} runs to do, {runner.n_done} already done")
        runner.run([(s, g.cls, split_for(g.dataset, g.encoder)) for s, g in pending1])
        # stage 2 starts only now: every stage-1 record of every group exists
        stage2 = [(s, g) for g in groups for s in _stage2_specs(g, config, done)]
        pending2 = [(s, g) for s, g in stage2 if s.key not in done]
        skipped += len(stage2) - len(pending2)
        runner.total = len(stage1) + len(stage2)
        runner.n_done = runner.total - len(pending2)
        runner.tick(f"stage 2: {len(pending2)} runs to do")
        runner.run([(s, g.cls, split_for(g.dataset, g.encoder)) for s, g in pending2])
    finally:
        writer.close()
    summary, used = [], []
    for g in groups:
        test = datasets[g.dataset].subset(rows[g.dataset]["test"])
        row, recs = _summarise(g, config, done, M.oracle_accuracy_score(Y=test.Y))
        summary.append(row)
        used.extend(recs)
    result = SweepResult(
        out_dir=out,
        lams=tuple(config.lams),
        summary=tuple(summary),
        records=tuple(used),
        n_executed=runner.executed,
        n_skipped=skipped,
        errors=tuple(runner.errors),
    )
    write_summary(result, out)
    log.info("sweep done: %d runs executed, %d found in %s", runner.executed, skipped, runs_path)
    return result


def write_summary(result: SweepResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``summary.json`` and ``summary.parquet`` (one row per dataset × router × encoder), atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    paths = {"json": out / SUMMARY_JSON, "parquet": out / SUMMARY_PARQUET}
    tmp = paths["json"].with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, paths["json"])
    flat = []
    for r in result.summary:
        d = r.to_dict()
        row: dict[str, Any] = {k: v for k, v in d.items() if not isinstance(v, (dict, list))}
        row["params_json"] = canonical_json(r.params)
        row["seeds"] = list(r.seeds)
        row["call_rate_json"] = canonical_json(r.call_rate_mean)
        for lam in result.lams:
            k = lam_key(lam)
            row[f"test_quality_mean_lam{k}"] = r.test_quality_mean.get(k)
            row[f"test_quality_std_lam{k}"] = r.test_quality_std.get(k)
            row[f"test_utility_mean_lam{k}"] = r.test_utility_mean.get(k)
            row[f"test_utility_std_lam{k}"] = r.test_utility_std.get(k)
            row[f"test_cost_mean_lam{k}"] = r.test_cost_mean.get(k)
        flat.append(row)
    table = pa.Table.from_pylist(flat) if flat else pa.table({})
    tmp_pq = paths["parquet"].with_suffix(".parquet.tmp")
    pq.write_table(table, tmp_pq)
    os.replace(tmp_pq, paths["parquet"])
    return paths


__all__ = [
    "NO_ENCODER",
    "SAMPLE_SEED",
    "STD_DDOF",
    "DatasetRef",
    "RunSpec",
    "SplitData",
    "SummaryRow",
    "SweepConfig",
    "SweepProgress",
    "SweepResult",
    "config_id",
    "enumerate_configs",
    "execute_run",
    "read_records",
    "run_key",
    "run_sweep",
    "write_summary",
]
