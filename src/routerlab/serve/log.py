"""The gateway's decision log: one SQLite row per ``/v1/chat/completions`` request.

Every request (routed or passed through, answered, failed over, refused with a 503, or malformed
and refused with a 4xx) appends one record: its id (also the response header ``x-request-id``),
the UTC time, the router and its encoder identity, the policy (``lambda``/``budget``/``model``),
the router's per-model scores, the chosen model, every upstream tried with its status or error
class, the model that answered, the final status and error code, the latency in ms, the token
counts and cost (USD, at the pool's prices) when the upstream reports ``usage``, and the query
text only when the gateway was started with ``log_queries=True``. An API key is never written.

**Storage.** A SQLite file (stdlib :mod:`sqlite3`) in WAL mode with ``synchronous=NORMAL``: a table
``requests`` (``request_id`` a uuid4, the primary key, so a row is never written twice) and a table
``schema_version``. Each record is one short ``INSERT`` transaction with a ``busy_timeout``, so
several uvicorn workers may write the same file. The gateway writes from a worker thread, never on
the event loop.

**Durability.** A record is committed before its response is returned. A ``kill -9`` of the server
loses at most the requests still in flight (those not yet answered): never a committed record,
never a torn row (SQLite's WAL is atomic per transaction). ``synchronous=NORMAL`` in WAL mode is
durable against a crash of the process; a power loss may roll back the last transactions, never
corrupt the file. A write that fails (a full disk) is logged as an error and the answer is still
returned: the log never takes the gateway down.

Read it back with :func:`read_log` or ``routerlab serve-log PATH``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LOG_PATH", "LOG_COLUMNS", "LOG_SCHEMA_VERSION", "DecisionLog", "read_log"]

#: the log file ``routerlab serve`` writes in the working directory when ``--log`` is not given
DEFAULT_LOG_PATH = "routerlab-serve.sqlite"
LOG_SCHEMA_VERSION = 1
#: milliseconds a writer waits for another process's transaction before failing
BUSY_TIMEOUT_MS = 10_000

#: column name -> SQLite type; ``scores`` and ``attempts`` hold JSON text
_COLUMNS: dict[str, str] = {
    "request_id": "TEXT PRIMARY KEY",
    "ts": "TEXT NOT NULL",
    "router": "TEXT",
    "encoder": "TEXT",
    "requested_model": "TEXT",
    "policy": "TEXT",
    "lam": "REAL",
    "budget": "REAL",
    "scores": "TEXT",
    "chosen": "TEXT",
    "attempts": "TEXT",
    "answered_by": "TEXT",
    "status": "INTEGER NOT NULL",
    "error_code": "TEXT",
    "latency_ms": "REAL NOT NULL",
    "prompt_tokens": "INTEGER",
    "completion_tokens": "INTEGER",
    "cost_usd": "REAL",
    "query": "TEXT",
}
LOG_COLUMNS: tuple[str, ...] = tuple(_COLUMNS)
_JSON_COLUMNS = ("scores", "attempts")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


class DecisionLog:
    """An open decision log at ``path`` (created with its schema when absent); thread-safe."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = _connect(self.path)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        columns = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(f"CREATE TABLE IF NOT EXISTS requests ({columns})")
                self._conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = self._conn.execute("SELECT version FROM schema_version").fetchone()
                if row is None:
                    self._conn.execute("INSERT INTO schema_version VALUES (?)", (LOG_SCHEMA_VERSION,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        if row is not None and row[0] != LOG_SCHEMA_VERSION:
            self._conn.close()
            raise ValueError(
                f"{self.path} is a decision log of schema version {row[0]}; this routerlab writes version "
                f"{LOG_SCHEMA_VERSION}. Give --log another file."
            )

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` (keys from :data:`LOG_COLUMNS`; scores/attempts as Python values) in one transaction."""
        values = [
            json.dumps(record.get(c)) if c in _JSON_COLUMNS and record.get(c) is not None else record.get(c)
            for c in LOG_COLUMNS
        ]
        marks = ", ".join("?" for _ in LOG_COLUMNS)
        with self._lock:
            self._conn.execute(f"INSERT INTO requests ({', '.join(LOG_COLUMNS)}) VALUES ({marks})", values)

    def close(self) -> None:
        """Close the connection (records are already committed)."""
        with self._lock:
            self._conn.close()


def read_log(path: str | os.PathLike[str], *, last: int | None = None) -> list[dict[str, Any]]:
    """The records of the log at ``path``, oldest first (the ``last`` ones only when given), JSON decoded."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"No decision log at {file}: start the gateway with --log {file} first.")
    conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.row_factory = sqlite3.Row
        cols = ", ".join(LOG_COLUMNS)
        if last is None:
            rows = conn.execute(f"SELECT {cols} FROM requests ORDER BY ts, rowid").fetchall()
        else:
            inner = f"SELECT rowid AS rid_, {cols} FROM requests ORDER BY ts DESC, rowid DESC LIMIT ?"
            rows = conn.execute(f"SELECT {cols} FROM ({inner}) ORDER BY ts, rid_", (max(int(last), 0),)).fetchall()
    finally:
        conn.close()
    out = []
    for row in rows:
        rec = dict(row)
        for c in _JSON_COLUMNS:
            if rec[c] is not None:
                rec[c] = json.loads(rec[c])
        out.append(rec)
    return out
