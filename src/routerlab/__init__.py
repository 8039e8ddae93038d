"""routerlab: honest, practical LLM routing.

The public verbs: :func:`load_benchmark` to get a :class:`RoutingData`, :func:`evaluate` to
fit and compare routers on it. See ``routerlab --help`` for the command line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from routerlab._version import __version__
from routerlab.data import ModelInfo, RoutingData, load, load_long, read_parquet

if TYPE_CHECKING:
    from routerlab.routers.base import Router

logging.getLogger(__name__).addHandler(logging.NullHandler())

load_benchmark = load


def evaluate(*args: object, **kwargs: object) -> object:
    """Fit and score routers on a dataset; see :func:`routerlab.experiments.evaluate.evaluate`."""
    from routerlab.experiments.evaluate import evaluate as _evaluate

    return _evaluate(*args, **kwargs)  # type: ignore[arg-type]


def audit(*args: object, **kwargs: object) -> object:
    """Audit a dataset; see :func:`routerlab.audit.audit`."""
    from routerlab.audit import audit as _audit

    return _audit(*args, **kwargs)  # type: ignore[arg-type]


def sweep(*args: object, **kwargs: object) -> object:
    """Run the seed protocol; see :func:`routerlab.experiments.sweep.run_sweep`."""
    from routerlab.experiments.sweep import run_sweep

    return run_sweep(*args, **kwargs)  # type: ignore[arg-type]


def load_router(
    path: str | os.PathLike[str], *, encoder: str | None = None, models: Sequence[str] | None = None
) -> Router:
    """Load a router saved by ``save_router`` (JSON + npz, never pickle); see :mod:`routerlab.routers.persist`."""
    from routerlab.routers.persist import load_router as _load_router

    return _load_router(path, encoder=encoder, models=models)


def report(*args: object, **kwargs: object) -> object:
    """Write the HTML report of a results directory; see :func:`routerlab.report.report`."""
    from routerlab.report import report as _report

    return _report(*args, **kwargs)  # type: ignore[arg-type]


__all__ = [
    "ModelInfo",
    "RoutingData",
    "__version__",
    "audit",
    "evaluate",
    "load",
    "load_benchmark",
    "load_long",
    "load_router",
    "read_parquet",
    "report",
    "sweep",
]
