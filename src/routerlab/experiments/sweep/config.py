"""The sweep's configuration: which datasets, routers, encoders, grids, seeds and λ values to sweep."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routerlab._yaml import describe_errors, read_yaml
from routerlab.errors import SchemaError

#: encoder name of runs of routers that use no query features
NO_ENCODER = "none"
DEFAULT_SEEDS = (42, 1337, 2026, 7, 99)
DEFAULT_LAMS = (0.0, 0.2, 0.5, 0.7, 0.9)


class Dedupe(BaseModel):
    """Duplicate training queries to remove (`rethinking-router-evaluation.txt` §4.2, Table 1).

    Queries q_i, q_j of the training split are duplicates when cos(e_i, e_j) >= ``threshold`` for
    the L2-normalised embeddings of ``encoder`` (the paper: δ = 0.999), or, with ``encoder`` unset,
    when their texts are equal after :func:`routerlab.audit.duplicates.normalise_text`. Each group
    keeps its first query (``keep: first``) or loses every member (``keep: none``: the labels of
    a duplicate group conflict, so no copy is trusted). Val and test are never touched, so the
    routers before and after are scored on the same queries.
    """

    model_config = ConfigDict(extra="forbid")

    encoder: str | None = Field(None, min_length=1)
    threshold: float = Field(0.999, ge=-1, le=1)
    keep: Literal["first", "none"] = "first"


class DatasetRef(BaseModel):
    """A dataset of the sweep: a registered name (or a file path), its folder, and loader options."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    path: Path | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    #: carve a validation split of about this fraction of train (hash of the query id) when there is none
    val_fraction: float | None = Field(None, gt=0, lt=1)
    #: the dataset's name in the runs file and the summary (default: ``name``); lets one sweep hold
    #: several variants of one dataset (other train fractions, de-duplicated)
    label: str | None = Field(None, min_length=1)
    #: train on about this fraction of the training queries (hash of the query id, nested: the 10 %
    #: queries are among the 20 %); val and test are untouched, so every fraction is scored on the same queries
    train_fraction: float | None = Field(None, gt=0, le=1)
    #: remove duplicate training queries before fitting (val and test untouched; see :class:`Dedupe`)
    dedupe: Dedupe | None = None
    #: drop the train and val queries whose text (after normalise_text) is also a test query's: a router
    #: that memorises them scores on questions it has seen; test is untouched, so scores stay comparable
    drop_leaked: bool = False

    @property
    def key(self) -> str:
        """The dataset's name in the runs and the summary: ``label``, else ``name``."""
        return self.label or self.name


class SweepConfig(BaseModel):
    """What to sweep: datasets × routers × encoders under the seed protocol (see :mod:`routerlab.experiments.sweep`).

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
    #: "val": the paper's protocol (fit on train, select on val); "cv": k-fold cross-validation on train ∪ val,
    #: the selected configuration refitted on train ∪ val (see :mod:`routerlab.experiments.sweep`)
    selection: Literal["val", "cv"] = "val"
    #: number of folds when ``selection`` is "cv"
    cv_folds: int = 5
    #: where runs execute: "local" (``n_jobs`` processes on this machine) or "ray" (a Ray cluster, see ``address``)
    backend: Literal["local", "ray"] = "local"
    #: the Ray cluster of ``backend: ray``: its head's "HOST:PORT" (or "auto"); unset starts a local Ray
    #: with ``n_jobs`` CPUs in this process
    address: str | None = Field(None, min_length=1)

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

    @field_validator("cv_folds", mode="before")
    @classmethod
    def _check_cv_folds(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(
                f"cv_folds must be an integer >= 2 (the number of cross-validation folds, e.g. 5); got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _check_cross(self) -> SweepConfig:
        names = [d.key for d in self.datasets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"datasets: {dup} listed more than once; give each variant its own label")
        if self.address is not None and self.backend != "ray":
            raise ValueError(f"address {self.address!r} is a Ray cluster's; set backend: ray (--backend ray) to use it")
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
    model: type[BaseModel] = SweepConfig
    if loc and loc[0] == "datasets":
        model = Dedupe if len(loc) > 3 and loc[2] == "dedupe" else DatasetRef
    return list(model.model_fields)


def _missing_hint(loc: Sequence[Any]) -> str:
    return " (or pass --out)" if tuple(loc) == ("out_dir",) else ""


def _describe_errors(exc: ValidationError, source: str, node: Any) -> str:
    return describe_errors(exc, source, node, what="sweep", valid_keys=_valid_keys, missing_hint=_missing_hint)
