"""Routing data: the :class:`RoutingData` model, benchmark loaders, splits and persistence."""

from __future__ import annotations

from routerlab.data import loaders as _loaders  # noqa: F401  (registers the public benchmarks)
from routerlab.data.io import read_parquet, write_parquet
from routerlab.data.registry import DATASETS, DatasetSpec, load, register_dataset
from routerlab.data.responses import Responses, load_responses
from routerlab.data.schema import SCHEMA_VERSION, SPLITS, ModelInfo, RoutingData

__all__ = [
    "DATASETS",
    "SCHEMA_VERSION",
    "SPLITS",
    "DatasetSpec",
    "ModelInfo",
    "Responses",
    "RoutingData",
    "load",
    "load_long",
    "load_responses",
    "read_parquet",
    "register_dataset",
    "write_parquet",
]


def load_long(path: str, **options: object) -> RoutingData:
    """Load a long-format table (one row per query x model); see :mod:`routerlab.data.longformat`."""
    from routerlab.data.longformat import load_long as _load_long

    return _load_long(path, **options)  # type: ignore[arg-type]
