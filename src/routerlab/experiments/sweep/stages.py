"""The two stages of the seed protocol: the (dataset, router, encoder) groups and the runs each stage asks for.

With ``selection: cv`` stage 1 is k-fold cross-validation on train ∪ val and stage 2 the refit of
the selected configuration on train ∪ val (see :mod:`routerlab.experiments.sweep`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routerlab.errors import SchemaError
from routerlab.experiments.sweep.config import NO_ENCODER, SweepConfig
from routerlab.experiments.sweep.keys import config_id, enumerate_configs
from routerlab.experiments.sweep.run import RunSpec, _has_random_state
from routerlab.routers._params import validate_params
from routerlab.routers.base import Router

log = logging.getLogger(__name__)


@dataclass
class _Group:
    dataset: str
    router: str
    encoder: str
    cls: type[Router]
    configs: list[tuple[int, dict[str, Any]]]
    grid_size: int
    stage2: bool
    #: cross-validated selection: the hash of the dataset's fold partition (set once the data is loaded)
    folds_id: str | None = None


def _resolve_routers(config: SweepConfig) -> dict[str, type[Router]]:
    from routerlab.routers import ROUTERS

    classes = {name: ROUTERS.get(name) for name in config.routers}
    for name, cls in classes.items():
        cls.check_requirements()  # a missing optional package (torch for mlp): one error naming the pip install
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
            for value in grid[param]:  # a value outside the declared constraints fails here, not in every run
                validate_params(f"grids.{name}: {cls.__name__}", {param: value}, cls._parameter_constraints)
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
                    _Group(ref.key, name, encoder, cls, configs, math.prod(len(v) for v in grid.values()), stage2)
                )
    return groups


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


# ------------------------------------------------------------------ cross-validated selection (selection: cv)
@dataclass(frozen=True, slots=True)
class _CvScore:
    """A configuration's held-out accuracy on every fold (stage 1 at ``seeds[0]``) and their mean."""

    config_index: int
    params: dict[str, Any]
    fold_scores: tuple[float, ...]

    @property
    def mean(self) -> float:
        return math.fsum(self.fold_scores) / len(self.fold_scores)


def _cv_specs(g: _Group, config: SweepConfig, index: int, params: dict[str, Any]) -> list[RunSpec]:
    seed, k = config.seeds[0], config.cv_folds
    cid = config_id(params)
    return [
        RunSpec(g.dataset, g.router, g.encoder, cid, index, params, seed, 1, fold=f, n_folds=k, folds_id=g.folds_id)
        for f in range(k)
    ]


def _cv_stage1_specs(g: _Group, config: SweepConfig) -> list[RunSpec]:
    """Every configuration fitted on k - 1 folds of train ∪ val and scored on the one held out."""
    return [s for i, p in g.configs for s in _cv_specs(g, config, i, p)]


def _rank_cv(g: _Group, config: SweepConfig, done: Mapping[str, dict[str, Any]]) -> list[_CvScore]:
    """Configurations with every fold done, best mean held-out accuracy first (ties → earlier configuration).

    Only held-out folds of train ∪ val enter: no test figure is read (fold runs have none).
    """
    scored = []
    for index, params in g.configs:
        specs = _cv_specs(g, config, index, params)
        if all(s.key in done for s in specs):
            scored.append(_CvScore(index, params, tuple(float(done[s.key]["val_acc"]) for s in specs)))
        else:
            log.debug("%s: configuration %s lacks successful folds; not eligible", g.router, config_id(params))
    return sorted(scored, key=lambda c: (-round(c.mean, 12), c.config_index))


def _refit_seeds(g: _Group, config: SweepConfig) -> list[int]:
    return list(config.seeds) if g.stage2 else [config.seeds[0]]


def _refit_specs(g: _Group, config: SweepConfig, done: Mapping[str, dict[str, Any]]) -> list[RunSpec]:
    """The selected configuration refitted on all of train ∪ val with every headline seed, scored on test."""
    ranked = _rank_cv(g, config, done)
    if not ranked:
        return []
    best = ranked[0]
    cid = config_id(best.params)
    return [
        RunSpec(g.dataset, g.router, g.encoder, cid, best.config_index, best.params, seed, 2, refit=True)
        for seed in _refit_seeds(g, config)
    ]
