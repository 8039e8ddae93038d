"""Datasets shipped inside the routerlab package, so that it works offline on a fresh install.

Both come from ``llmrouter-dcrouter``: LLMRouter's DCRouter data,
https://github.com/ulab-uiuc/LLMRouter at commit ``4e7a796942ce26e9d5f2b93191c7c2585c99c2e3``, MIT
licence (Copyright (c) 2024 U Lab @UIUC; the licence text is shipped beside the files as
``data/shipped/LICENSE``), with the 119 train copies of test questions dropped (5,989 queries).

* ``routerlab-mini``: a stratified 1,200-query subset on the public split (100 test queries):
  small and fast, for tests and a first look.
* ``routerlab-dcrouter``: all 5,989 queries re-split 60/10/30 within each task (1,796 test
  queries, 95 % CIs of about +-2 pp), the default of ``routerlab evaluate``.

``scripts/make_shipped.py`` makes them; ``data/shipped/PROVENANCE.md`` says how.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

from routerlab.data.io import read_parquet
from routerlab.data.schema import RoutingData
from routerlab.errors import DataNotFoundError, SchemaError

log = logging.getLogger(__name__)

MINI_FILE = "routerlab-mini.parquet"
DCROUTER_FILE = "routerlab-dcrouter.parquet"


def load_mini(root: Path | None = None, **options: Any) -> RoutingData:
    """Load ``routerlab-mini`` from the package data (``routerlab/data/shipped/routerlab-mini.parquet``)."""
    return load_shipped("routerlab-mini", MINI_FILE, root, options)


def load_dcrouter(root: Path | None = None, **options: Any) -> RoutingData:
    """Load ``routerlab-dcrouter`` from the package data (``routerlab/data/shipped/routerlab-dcrouter.parquet``)."""
    return load_shipped("routerlab-dcrouter", DCROUTER_FILE, root, options)


def load_shipped(name: str, file: str, root: Path | None, options: dict[str, Any]) -> RoutingData:
    """Read a shipped file.

    The file is part of the installed package (a wheel or an editable install alike), found with
    :mod:`importlib.resources`; a folder (``root``) or loader options would only be ignored, so
    either is an error.
    """
    if root is not None:
        raise SchemaError(
            f"{name} ships inside the routerlab package; the folder {str(root)!r} cannot replace it. Drop "
            "path= (--path), or load your own copy by its file path."
        )
    if options:
        raise SchemaError(
            f"{name} takes no loader options; got {sorted(options)}. Drop them (options such as "
            "score_scale= apply to long-format files loaded by path)."
        )
    resource = resources.files("routerlab.data").joinpath("shipped", file)
    if not resource.is_file():
        raise DataNotFoundError(
            f"The shipped dataset file {file!r} is missing from the routerlab package; reinstall routerlab "
            "(or, from a source checkout, run `python scripts/make_shipped.py`)."
        )
    with resources.as_file(resource) as path:
        data = read_parquet(path)
    log.debug("read %s from the package data", file)
    return data
