"""Parquet persistence for :class:`~routerlab.data.schema.RoutingData`.

One file per dataset, one row per query. Per-model matrices are fixed-size list columns of
length ``n_models`` in the order of ``models``; the model pool, the cost unit, free-form
metadata and ``schema_version`` live in the file's key-value metadata under ``routerlab``.
Floats round-trip bit for bit (NaN included); nothing is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab._files import atomic_write
from routerlab.data.schema import OPTIONAL_MATRICES, SCHEMA_VERSION, ModelInfo, RoutingData
from routerlab.errors import DataNotFoundError, SchemaError

if TYPE_CHECKING:
    from routerlab.data.features.value import Features

_META_KEY = b"routerlab"
_STR_COLUMNS = ("query_ids", "sources", "categories", "splits", "texts", "gold")
#: rows per Parquet row group: a reader can stream a large file group by group (pyarrow's iter_batches,
#: DuckDB) instead of decoding one 1M-row group at once
ROW_GROUP_ROWS = 1 << 16


def write_parquet(data: RoutingData, path: str | Path) -> Path:
    """Write ``data`` to ``path`` (parent folders are created)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    k = data.n_models
    columns: dict[str, Any] = {}
    for name in _STR_COLUMNS:
        value = getattr(data, name)
        if value is not None:
            columns[name] = pa.array(value.tolist(), type=pa.string())
    for name in ("Y", "cost", *OPTIONAL_MATRICES):
        value = getattr(data, name)
        if value is None:
            continue
        flat = pa.array(value.reshape(-1), type=pa.float64() if value.dtype.kind == "f" else pa.bool_())
        columns[name] = pa.FixedSizeListArray.from_arrays(flat, k)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "name": data.name,
        "cost_unit": data.cost_unit,
        "models": [m.to_dict() for m in data.models],
        "meta": data.meta,
    }
    table = pa.table(columns).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    with atomic_write(path) as fh:  # never leave a half-written file under the real name
        pq.write_table(table, fh, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    return path


def read_parquet(path: str | Path) -> RoutingData:
    """Read a file written by :func:`write_parquet`; a clear error for anything else."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"No RoutingData file at {str(path)!r}; check the path (it should end in .parquet).")
    if path.stat().st_size == 0:
        raise SchemaError(f"{str(path)!r} is empty (0 bytes); re-create it with routerlab.data.write_parquet().")
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{str(path)!r} is not a readable Parquet file ({exc}).") from None
    raw_meta = (schema.metadata or {}).get(_META_KEY)
    if raw_meta is None:
        raise SchemaError(
            f"{str(path)!r} is a Parquet file but not a routerlab dataset (no 'routerlab' metadata). "
            "For a long table of (query_id, model, score) rows use routerlab.data.load_long()."
        )
    try:
        meta = json.loads(raw_meta)
    except (ValueError, RecursionError):  # bad UTF-8 / JSON, or a nesting bomb
        meta = None
    if not isinstance(meta, dict):
        raise SchemaError(
            f"{str(path)!r} has unreadable 'routerlab' metadata (not a JSON object); "
            "re-create it with routerlab.data.write_parquet()."
        )
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"{str(path)!r} has schema_version {version!r}; this routerlab reads version {SCHEMA_VERSION}. "
            "Upgrade routerlab or re-create the file."
        )
    missing = [c for c in ("query_ids", "sources", "splits", "Y", "cost") if c not in schema.names]
    if missing:
        raise SchemaError(
            f"{str(path)!r} lacks the column(s) {missing}; re-create it with routerlab.data.write_parquet()."
        )
    models = _models(meta, path)
    for key in ("name", "cost_unit"):
        if not isinstance(meta.get(key), str):
            raise SchemaError(
                f"{str(path)!r}: the 'routerlab' metadata field {key!r} must be text. Got {meta.get(key)!r:.80}. "
                "Re-create the file with routerlab.data.write_parquet()."
            )
    k = len(models)
    n = parquet.metadata.num_rows
    kwargs: dict[str, Any] = {}
    for name in schema.names:
        try:
            kwargs[name] = _read_column(parquet, name, n, k)
            pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed column buffers otherwise
        except (ValueError, TypeError, AttributeError, pa.ArrowException) as exc:
            raise SchemaError(
                f"{str(path)!r}: column {name!r} is not a list of {k} values per query (one per model) "
                f"({type(exc).__name__}: {exc}); re-create the file with routerlab.data.write_parquet()."
            ) from None
    return RoutingData(
        name=meta["name"], models=models, cost_unit=meta["cost_unit"], meta=meta.get("meta", {}), **kwargs
    )


def _read_column(parquet: Any, name: str, n: int, k: int) -> np.ndarray:
    """One column as numpy: text as an object array, a per-model list column as an (n, k) matrix.

    Columns are read one at a time and each matrix is filled chunk by chunk, so the Arrow buffers of
    one column at most are alive beside the numpy arrays: reading the whole table first, then
    combining its chunks, held the file's data two to three times over (1M queries × 30 models:
    +2.4 GB at peak).
    """
    col = parquet.read(columns=[name], use_threads=False).column(0)
    if name in _STR_COLUMNS:
        values: np.ndarray = col.to_numpy(zero_copy_only=False)
        return values
    out: np.ndarray | None = None
    start = 0
    for chunk in col.chunks:
        flat = np.asarray(chunk.flatten().to_numpy(zero_copy_only=False)).reshape(-1, k)
        if out is None:
            out = np.empty((n, k), dtype=flat.dtype)
        out[start : start + len(flat)] = flat
        start += len(flat)
    if out is None:
        return np.empty((0, k))
    if start != n:
        raise ValueError(f"{start} rows of {k} values for {n} queries")
    return out


def _models(meta: dict[str, Any], path: Path) -> tuple[ModelInfo, ...]:
    """The model pool of the file's metadata; a SchemaError naming the entry when one is malformed."""
    entries = meta.get("models")
    if not isinstance(entries, list) or not entries:
        raise SchemaError(
            f"{str(path)!r}: the 'routerlab' metadata field 'models' must be a non-empty list. Got "
            f"{entries!r:.80}. Re-create the file with routerlab.data.write_parquet()."
        )
    models = []
    for i, entry in enumerate(entries):
        try:
            models.append(ModelInfo(**entry))
        except TypeError as exc:  # not a mapping, or unknown / missing fields
            raise SchemaError(
                f"{str(path)!r}: models[{i}] of the 'routerlab' metadata is not a model entry ({exc}). Got "
                f"{entry!r:.80}. Re-create the file with routerlab.data.write_parquet()."
            ) from None
    return tuple(models)


#: rows checked for NaN/inf at a time when reading a features file (bounds the temporary mask)
_CHECK_ROWS = 1 << 16


def read_features(path: str | Path, data: RoutingData) -> Features:
    """Precomputed query vectors for ``data`` from a ``.npy`` file: row ``i`` is the vector of ``data``'s row ``i``.

    The file is memory-mapped (read-only), so a 1M × 384 float32 matrix (1.5 GB) is paged in as routers read
    it rather than copied. The features' identity is ``file:<name>#<hash of the file>``: a sweep resumed on
    other vectors does not reuse records computed on these. A clear error names what is wrong: not a 2-D
    numeric array, a row count other than ``data``'s query count, NaN or infinite values.
    """
    import hashlib

    from routerlab.data.features.value import Features

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"No features file at {str(path)!r}; give a .npy file (numpy.save of a matrix).")
    if path.suffix.lower() != ".npy":
        raise SchemaError(
            f"{str(path)!r}: features must be a .npy file (numpy.save of an (n_queries, d) matrix). "
            f"Got a {path.suffix or 'suffix-less'} file."
        )
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise SchemaError(f"{str(path)!r} is not a readable .npy file ({exc}).") from None
    if matrix.ndim != 2 or matrix.dtype.kind not in "fiu":
        raise SchemaError(
            f"{str(path)!r} holds a {matrix.dtype} array of shape {matrix.shape}; features must be a numeric "
            "(n_queries, d) matrix, one row per query of the dataset."
        )
    if matrix.shape[0] != data.n_queries:
        raise SchemaError(
            f"{str(path)!r} has {matrix.shape[0]} rows but {data.name!r} has {data.n_queries} queries; row i of the "
            "features must be the vector of row i of the dataset file (options that drop queries, such as "
            "--sources, cannot be combined with a features file: subset the file instead)."
        )
    for start in range(0, matrix.shape[0], _CHECK_ROWS):
        bad = ~np.isfinite(matrix[start : start + _CHECK_ROWS]).all(axis=1)
        if bad.any():
            row = start + int(np.flatnonzero(bad)[0])
            raise SchemaError(f"{str(path)!r} row {row} (query {data.query_ids[row]!r}) holds NaN or inf values.")
    digest = hashlib.blake2b(digest_size=6)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            digest.update(chunk)
    return Features(f"file:{path.name}#{digest.hexdigest()}", data.query_ids, matrix)
