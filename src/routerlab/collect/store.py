"""The resumable record store of a collection: one embedded DuckDB file.

Tables (``SCHEMA_VERSION`` 1; other routerlab readers rely on these table and column names):

``queries``
    ``query_id`` VARCHAR PRIMARY KEY, ``text``, ``source``, ``gold`` (NULL if none), ``split``,
    ``meta`` JSON. Re-running with an edited query set updates a query's row in place.
``records``
    One row per request key. ``key`` VARCHAR PRIMARY KEY is :func:`request_key`: the SHA-256 of
    the canonical JSON of (endpoint name, base URL, model id, messages, generation parameters).
    ``query_id``, ``model`` (the endpoint's name in the config), ``endpoint`` (base URL),
    ``provider_model`` (the id sent), ``max_tokens``, ``params`` JSON (every generation parameter
    sent), ``response_text``, ``finish_reason``, ``truncated`` (``finish_reason == "length"``),
    ``prompt_tokens``, ``completion_tokens``, ``latency_s`` (of the successful attempt),
    ``cost_usd``, ``error`` (NULL on success), ``attempts`` (HTTP attempts over all runs),
    ``run_id``, ``created_at`` (UTC).
``runs``
    ``run_id`` PRIMARY KEY, ``config`` JSON (the config holds no secret: only the *names* of the
    API-key variables), ``started_at``, ``finished_at``, ``status``, ``n_planned``, ``n_done``,
    ``n_errors``, ``cost_usd``, ``routerlab_version``.
``store_meta``
    ``key``/``value`` pairs; ``schema_version``.

Rules that make a killed run lose nothing and repeat nothing:

* Results are written in batches, **one transaction per batch**; a kill loses only results not yet
  committed (requests in flight or in the last, unwritten batch), which the next run asks again.
* A **successful record is final**: a later write of the same key never replaces it
  (``ON CONFLICT DO UPDATE ... WHERE records.error IS NOT NULL``), so a replay never duplicates
  or changes it.
* A request that still failed after its retries is stored with ``error`` set and is **re-attempted
  on the next run**; its row is then replaced in place (same key), ``attempts`` adding up. So there
  is exactly one row per key — and, since a plan has one key per (query, model), one row per
  (query, model) of a plan.

DuckDB allows one writing process per file, and while it writes no other process can open the file,
not even read-only: watch the writer's log to follow a run.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from routerlab._jsonl import canonical_json
from routerlab._optional import optional_dependency
from routerlab._version import __version__
from routerlab.errors import SchemaError

log = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_VERSION",
    "CollectStore",
    "QueryRow",
    "Record",
    "StoredKey",
    "request_key",
    "utc_now",
]

SCHEMA_VERSION = 1
#: version of the request-key recipe; part of every key
KEY_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS queries (
    query_id VARCHAR PRIMARY KEY,
    text VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    gold VARCHAR,
    split VARCHAR NOT NULL,
    meta JSON
);
CREATE TABLE IF NOT EXISTS records (
    key VARCHAR PRIMARY KEY,
    query_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL,
    provider_model VARCHAR NOT NULL,
    max_tokens INTEGER NOT NULL,
    params JSON NOT NULL,
    response_text VARCHAR,
    finish_reason VARCHAR,
    truncated BOOLEAN,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_s DOUBLE,
    cost_usd DOUBLE,
    error VARCHAR,
    attempts INTEGER NOT NULL,
    run_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    config JSON NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,
    n_planned INTEGER,
    n_done INTEGER,
    n_errors INTEGER,
    cost_usd DOUBLE,
    routerlab_version VARCHAR
);
"""

#: columns of ``records`` in table order
RECORD_COLUMNS = (
    "key",
    "query_id",
    "model",
    "endpoint",
    "provider_model",
    "max_tokens",
    "params",
    "response_text",
    "finish_reason",
    "truncated",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "cost_usd",
    "error",
    "attempts",
    "run_id",
    "created_at",
)
_UPSERT_RECORDS = (
    f"INSERT INTO records SELECT {', '.join(RECORD_COLUMNS)} FROM _batch ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in RECORD_COLUMNS if c not in ("key", "attempts"))
    + ", attempts = records.attempts + excluded.attempts WHERE records.error IS NOT NULL"
)


def request_key(
    *,
    endpoint: str,
    base_url: str,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
) -> str:
    """The record key: SHA-256 (hex) of the canonical JSON of everything that decides the answer.

    ``endpoint`` is the endpoint's name, ``model`` the id sent, ``params`` every generation
    parameter sent (``max_tokens``, ``temperature``, ``seed``, extra body fields). Dict order and
    a trailing ``/`` of the URL do not change the key; any other change does.
    """
    payload = {
        "v": KEY_VERSION,
        "endpoint": endpoint,
        "base_url": base_url.rstrip("/"),
        "model": model,
        "messages": [dict(m) for m in messages],
        "params": dict(params),
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class QueryRow:
    """One row of ``queries``."""

    query_id: str
    text: str
    source: str
    gold: str | None = None
    split: str = "test"
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Record:
    """One row of ``records`` (see the module doc for the columns)."""

    key: str
    query_id: str
    model: str
    endpoint: str
    provider_model: str
    max_tokens: int
    params: str
    response_text: str | None
    finish_reason: str | None
    truncated: bool | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float | None
    cost_usd: float | None
    error: str | None
    attempts: int
    run_id: str
    created_at: _dt.datetime

    @property
    def ok(self) -> bool:
        """True for a successful record (no error)."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What the store knows of one key: its (query, model) and whether it succeeded."""

    query_id: str
    model: str
    ok: bool


def utc_now() -> _dt.datetime:
    """The current UTC time without a time zone (how ``created_at`` is stored)."""
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


class CollectStore:
    """A DuckDB file holding queries, records and runs (see the module doc).

    Use as a context manager; ``read_only=True`` opens an existing file without creating tables
    (it fails while another process writes the file). Writes are serialised by a lock, so the
    collector may write from a worker thread.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        with optional_dependency("The collection store needs DuckDB: pip install 'routerlab[collect]'"):
            import duckdb
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise SchemaError(f"No collection store at {str(self.path)!r}; run `routerlab collect` first.")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise SchemaError(
                f"Cannot open the collection store {str(self.path)!r}: {exc}. Another process may be writing it "
                "(DuckDB allows one writer); wait for it to finish or stop it."
            ) from None
        self._lock = threading.Lock()
        if not read_only:
            self._con.execute(_DDL)
            self._con.execute(
                "INSERT INTO store_meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
                [str(SCHEMA_VERSION)],
            )
        self._check_version()

    def _check_version(self) -> None:
        tables = {r[0] for r in self._con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if not {"store_meta", "records", "queries", "runs"} <= tables:
            raise SchemaError(f"{str(self.path)!r} is not a routerlab collection store (tables: {sorted(tables)}).")
        row = self._con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else None
        if version != SCHEMA_VERSION:
            raise SchemaError(
                f"{str(self.path)!r} has store schema version {version}; this routerlab reads version "
                f"{SCHEMA_VERSION}. Collect into a new store file or upgrade routerlab."
            )

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the file (committed data is already durable)."""
        with self._lock:
            self._con.close()

    def __enter__(self) -> CollectStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def _write_table(self, sql: str, columns: dict[str, Any]) -> None:
        import pyarrow as pa

        table = pa.table(columns)
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._con.register("_batch", table)
                self._con.execute(sql)
                self._con.unregister("_batch")
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def upsert_queries(self, rows: Sequence[QueryRow]) -> None:
        """Insert the queries, or update the text/source/gold/split/meta of ids already stored (one transaction)."""
        if not rows:
            return
        import pyarrow as pa

        cols = {
            "query_id": pa.array([r.query_id for r in rows], pa.string()),
            "text": pa.array([r.text for r in rows], pa.string()),
            "source": pa.array([r.source for r in rows], pa.string()),
            "gold": pa.array([r.gold for r in rows], pa.string()),
            "split": pa.array([r.split for r in rows], pa.string()),
            "meta": pa.array([canonical_json(dict(r.meta)) for r in rows], pa.string()),
        }
        sql = (
            "INSERT INTO queries SELECT query_id, text, source, gold, split, meta FROM _batch "
            "ON CONFLICT (query_id) DO UPDATE SET text = excluded.text, source = excluded.source, "
            "gold = excluded.gold, split = excluded.split, meta = excluded.meta"
        )
        self._write_table(sql, cols)

    def write_records(self, records: Sequence[Record]) -> None:
        """Write a batch of records in one transaction; successful stored records are never replaced."""
        if not records:
            return
        import pyarrow as pa

        start = time.perf_counter()
        types: dict[str, Any] = {
            "max_tokens": pa.int32(),
            "truncated": pa.bool_(),
            "prompt_tokens": pa.int32(),
            "completion_tokens": pa.int32(),
            "latency_s": pa.float64(),
            "cost_usd": pa.float64(),
            "attempts": pa.int32(),
            "created_at": pa.timestamp("us"),
        }
        cols = {c: pa.array([getattr(r, c) for r in records], types.get(c, pa.string())) for c in RECORD_COLUMNS}
        self._write_table(_UPSERT_RECORDS, cols)
        log.debug("wrote %d records in %.1f ms", len(records), (time.perf_counter() - start) * 1e3)

    def delete_records(self, keys: Iterable[str]) -> int:
        """Delete the records with these keys (one transaction); returns how many keys were given."""
        import pyarrow as pa

        keys = list(keys)
        if keys:
            self._write_table("DELETE FROM records WHERE key IN (SELECT key FROM _batch)", {"key": pa.array(keys)})
        return len(keys)

    def start_run(self, run_id: str, config: Mapping[str, Any], n_planned: int) -> None:
        """Record the start of a run (its config must hold no secret)."""
        with self._lock:
            self._con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, NULL, 'running', ?, NULL, NULL, NULL, ?)",
                [run_id, canonical_json(dict(config)), utc_now(), n_planned, __version__],
            )

    def finish_run(self, run_id: str, *, status: str, n_done: int, n_errors: int, cost_usd: float) -> None:
        """Record how a run ended."""
        with self._lock:
            self._con.execute(
                "UPDATE runs SET finished_at = ?, status = ?, n_done = ?, n_errors = ?, cost_usd = ? WHERE run_id = ?",
                [utc_now(), status, n_done, n_errors, cost_usd, run_id],
            )

    # ------------------------------------------------------------------ reading
    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query and return its rows."""
        with self._lock:
            return self._con.execute(sql, list(params)).fetchall()

    def stored_keys(self) -> dict[str, StoredKey]:
        """Every stored key with its (query, model) and success flag."""
        rows = self.fetch("SELECT key, query_id, model, error IS NULL FROM records")
        return {k: StoredKey(q, m, bool(ok)) for k, q, m, ok in rows}

    def total_cost(self) -> float:
        """Cost (USD) of every successful record in the store."""
        rows = self.fetch("SELECT coalesce(sum(cost_usd), 0) FROM records WHERE error IS NULL")
        return float(rows[0][0])

    def count_records(self) -> tuple[int, int]:
        """(successful, failed) record counts."""
        rows = self.fetch(
            "SELECT count(*) FILTER (WHERE error IS NULL), count(*) FILTER (WHERE error IS NOT NULL) FROM records"
        )
        return int(rows[0][0]), int(rows[0][1])

    def records(self, where: str = "", params: Sequence[Any] = ()) -> list[Record]:
        """Records as :class:`Record` objects, optionally filtered by an SQL ``where`` clause."""
        sql = f"SELECT {', '.join(RECORD_COLUMNS)} FROM records {('WHERE ' + where) if where else ''} ORDER BY key"
        return [Record(*row) for row in self.fetch(sql, params)]

    def model_stats(self) -> dict[str, dict[str, float]]:
        """Per model: ``done``, ``errors``, ``truncated`` (share of done), ``cost_usd`` and ``completion_tokens``."""
        rows = self.fetch(
            "SELECT model, count(*) FILTER (WHERE error IS NULL), count(*) FILTER (WHERE error IS NOT NULL), "
            "avg(CASE WHEN truncated THEN 1.0 ELSE 0.0 END) FILTER (WHERE error IS NULL), "
            "coalesce(sum(cost_usd) FILTER (WHERE error IS NULL), 0), "
            "coalesce(avg(completion_tokens) FILTER (WHERE error IS NULL), 0) "
            "FROM records GROUP BY model ORDER BY model"
        )
        return {
            m: {
                "done": float(d),
                "errors": float(e),
                "truncated": float(t) if t is not None else 0.0,
                "cost_usd": float(c),
                "completion_tokens": float(ct),
            }
            for m, d, e, t, c, ct in rows
        }
