"""routerlab: honest, practical LLM routing.

The public verbs: :func:`load_benchmark` to get a :class:`RoutingData`, :func:`evaluate` to
fit and compare routers on it. See ``routerlab --help`` for the command line.
"""

from __future__ import annotations

import logging

from routerlab._version import __version__
from routerlab.data import ModelInfo, RoutingData, load, load_long, read_parquet

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
    "read_parquet",
    "report",
    "sweep",
]
