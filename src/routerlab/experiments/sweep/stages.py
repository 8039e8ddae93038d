"""The two stages of the seed protocol: the (dataset, router, encoder) groups and the runs each stage asks for."""

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
                    _Group(ref.name, name, encoder, cls, configs, math.prod(len(v) for v in grid.values()), stage2)
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
