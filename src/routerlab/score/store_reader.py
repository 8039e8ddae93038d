"""Read a collection run (a DuckDB file) for scoring: its ``records`` and ``queries`` tables.

The collection store is written by :mod:`routerlab.collect`; this reader depends only on the columns that
scoring needs and ignores any others, so the store may grow. ``records`` needs ``query_id`` and ``model``
(and normally ``response_text``, ``finish_reason``, ``truncated``, ``prompt_tokens``, ``completion_tokens``,
``latency_s``, ``cost_usd``, ``error``); ``queries`` needs ``query_id`` (and normally ``text``, ``source``,
``gold``, ``split`` and a JSON ``meta`` holding ``choices``, ``tests``, ``entry_point``, ...). The file is
opened read-only. DuckDB is the optional ``collect`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from routerlab._optional import optional_dependency
from routerlab.errors import DataNotFoundError, RouterlabError, SchemaError
from routerlab.score.base import ScoreItem

__all__ = ["iter_records", "read_queries", "read_run"]

_REQUIRED = {"records": ("query_id", "model"), "queries": ("query_id",)}


def _connect(path: str | Path) -> Any:
    with optional_dependency("Reading a collection store needs DuckDB: pip install 'routerlab[collect]'"):
        import duckdb
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(
            f"No collection store at {str(p)!r}; give the DuckDB file written by `routerlab collect`."
        )
    try:
        return duckdb.connect(str(p), read_only=True)
    except duckdb.Error as exc:
        raise RouterlabError(
            f"Could not open {str(p)!r} read-only ({exc}). If a collection is still writing to it, wait for it to "
            "finish or score a copy of the file."
        ) from None


def _rows(con: Any, table: str, path: str | Path, batch: int = 10_000) -> Iterator[dict[str, Any]]:
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if table not in tables:
        raise SchemaError(
            f"{str(path)!r} has no {table!r} table (it has {', '.join(sorted(tables)) or 'no tables'}); "
            "is it a routerlab collection store?"
        )
    cur = con.execute(f'SELECT * FROM "{table}"')
    columns = [d[0] for d in cur.description]
    missing = [c for c in _REQUIRED[table] if c not in columns]
    if missing:
        raise SchemaError(f"table {table!r} of {str(path)!r} lacks column(s) {missing}; it has {columns}.")
    while rows := cur.fetchmany(batch):
        for row in rows:
            yield dict(zip(columns, row, strict=True))


def iter_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the ``records`` table's rows as dicts (all columns, extra ones included)."""
    con = _connect(path)
    try:
        yield from _rows(con, "records", path)
    finally:
        con.close()


def read_queries(path: str | Path) -> dict[str, ScoreItem]:
    """The ``queries`` table as query id → :class:`ScoreItem`, in table order."""
    con = _connect(path)
    try:
        items: dict[str, ScoreItem] = {}
        for row in _rows(con, "queries", path):
            item = ScoreItem.from_mapping(row)
            if item.query_id in items:
                raise SchemaError(f"query_id {item.query_id!r} appears more than once in the queries of {str(path)!r}.")
            items[item.query_id] = item
        return items
    finally:
        con.close()


def read_run(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, ScoreItem]]:
    """``(records, queries)`` of a collection run."""
    return list(iter_records(path)), read_queries(path)
