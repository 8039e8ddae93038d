"""The dataset registry and ``load(name)``.

Each public benchmark is registered under the name of its folder in the project's shared data
(``llmrouter-dcrouter``, ``routerbench-0shot-subset``, ...). A :class:`DatasetSpec` says where
the benchmark lives publicly, its licence, and which function parses its original files.

Where files are looked for, in order:

1. the ``path`` argument (an error for a dataset shipped in the package, or a file given by name,
   where it could only be ignored);
2. ``$ROUTERLAB_DATA_DIR/<name>``;
3. the download cache ``$ROUTERLAB_CACHE_DIR`` (default ``~/.cache/routerlab``)``/datasets/<name>``;
4. with ``download=True``: the benchmark's public home (pinned commit), fetched into the cache.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routerlab._files import atomic_write
from routerlab._optional import optional_dependency
from routerlab._registry import Registry
from routerlab.data.schema import RoutingData
from routerlab.errors import DataNotFoundError, SchemaError

log = logging.getLogger(__name__)

LoaderFn = Callable[..., RoutingData]


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """What routerlab knows about one registered benchmark.

    ``files`` are paths relative to the dataset folder that must exist locally; ``base_url`` +
    each file (or ``extra["remote"][file]`` where the public layout differs) is its public
    address, used only with ``download=True``. ``responses`` ("module:function") reads the
    models' answer texts where the files hold them (:func:`routerlab.data.responses.load_responses`).
    """

    name: str
    loader: str | LoaderFn
    description: str
    license: str
    homepage: str
    files: tuple[str, ...] = ()
    base_url: str | None = None
    shipped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    responses: str | None = None

    def load_fn(self) -> LoaderFn:
        """The parse function, imported on first use."""
        if callable(self.loader):
            return self.loader
        import importlib

        module, _, attr = self.loader.partition(":")
        fn: LoaderFn = getattr(importlib.import_module(module), attr)
        return fn


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to :data:`DATASETS` and return it."""
    DATASETS.register(spec.name, spec)
    return spec


def cache_dir() -> Path:
    """Root of routerlab's on-disk cache (downloads, embeddings)."""
    return Path(os.environ.get("ROUTERLAB_CACHE_DIR", Path.home() / ".cache" / "routerlab"))


def resolve_dataset_dir(spec: DatasetSpec, path: str | Path | None, download: bool) -> Path:
    """Find the folder holding ``spec``'s files, downloading them if asked; see the module doc."""
    tried: list[str] = []
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    else:
        env = os.environ.get("ROUTERLAB_DATA_DIR")
        if env:
            candidates.append(Path(env) / spec.name)
        candidates.append(cache_dir() / "datasets" / spec.name)
    for cand in candidates:
        tried.append(str(cand))
        if cand.is_dir() and all((cand / f).exists() for f in spec.files):
            return cand
        if cand.is_dir() and path is not None:
            missing = [f for f in spec.files if not (cand / f).exists()]
            raise DataNotFoundError(
                f"{str(cand)!r} does not hold the {spec.name!r} files; missing {missing[:5]}. "
                f"Point path= at the folder with the benchmark's original files ({spec.homepage})."
            )
    if download and path is None:
        return download_dataset(spec, cache_dir() / "datasets" / spec.name)
    raise DataNotFoundError(
        f"Dataset {spec.name!r} was not found (looked in: {', '.join(tried)}). Pass path= to its folder, set "
        f"ROUTERLAB_DATA_DIR to a folder that contains {spec.name}/, or pass download=True to fetch it "
        f"from {spec.homepage}."
    )


def download_dataset(spec: DatasetSpec, dest: Path) -> Path:
    """Fetch ``spec.files`` from ``spec.base_url`` into ``dest`` (atomic per file, resumable)."""
    if not spec.base_url or not spec.files:
        raise DataNotFoundError(f"{spec.name!r} has no download address; fetch it by hand from {spec.homepage}.")
    with optional_dependency("Downloading needs httpx: pip install httpx"):  # a core dependency, in fact
        import httpx
    dest.mkdir(parents=True, exist_ok=True)
    with httpx.Client(follow_redirects=True, timeout=60.0) as client:
        for rel in spec.files:
            target = dest / rel
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            remote = spec.extra.get("remote", {}).get(rel, rel)  # where the public layout differs from ours
            url = f"{spec.base_url.rstrip('/')}/{remote}"
            log.info("downloading %s", url)
            with client.stream("GET", url) as resp:
                resp.raise_for_status()
                with atomic_write(target) as fh:
                    for chunk in resp.iter_bytes():
                        fh.write(chunk)
    return dest


def load(name: str, path: str | Path | None = None, *, download: bool = False, **options: Any) -> RoutingData:
    """Load a registered benchmark by name, or a RoutingData Parquet / long-format file by path.

    ``load("llmrouter-dcrouter")`` parses the benchmark's original public files; ``options`` go to
    its loader (see ``routerlab data show NAME``). ``path`` is the folder of a registered benchmark's
    files; with a shipped dataset or a file name it is an error (it could only be ignored).
    """
    as_path = Path(name)
    if name not in DATASETS and (as_path.suffix or as_path.exists()):
        if path is not None:
            raise SchemaError(
                f"{name!r} is a file, so path={str(path)!r} has nothing to point at (path= is the folder of a "
                "registered benchmark's original files); drop path= (--path, or 'path:' in a config) and give the "
                "file's full path as the name."
            )
        from routerlab.data.longformat import load_file

        return load_file(as_path, **options)
    spec = DATASETS.get(name)
    if spec.shipped and path is not None:
        raise SchemaError(
            f"Dataset {name!r} ships inside the routerlab package; path={str(path)!r} cannot point it elsewhere and "
            "would be ignored. Drop path= (--path, or 'path:' in a config); to load your own copy, give the file's "
            "path as the name instead (e.g. routerlab.data.load('/dir/my-copy.parquet'))."
        )
    root = None if spec.shipped else resolve_dataset_dir(spec, path, download)
    data = spec.load_fn()(root, **options)
    log.info("loaded %r", data)
    return data
