"""The gateway's decision log: one SQLite row per ``/v1/chat/completions`` request.

Every request (routed or passed through, answered, failed over, refused with a 503, or malformed
and refused with a 4xx) appends one record: its id (also the response header ``x-request-id``),
the UTC time, the router and its encoder identity, the policy (``lambda``/``budget``/``model``),
the router's per-model scores, the chosen model, every upstream tried with its status or error
class, the model that answered, the final status and error code, the latency in ms, the token
counts and cost (USD, at the pool's prices) when the upstream reports ``usage``, and the query
text only when the gateway was started with ``log_queries=True``. An API key is never written.

**Exploration** (schema 2). With ε-exploration on, ``greedy`` is the model the router ranked first,
``chosen`` the model actually tried first (drawn uniformly from the policy's admissible models with
probability ε), ``epsilon`` the ε in force and ``propensity`` the probability that the logging
policy chose ``chosen`` for this query: ``(1 − ε)·[chosen = greedy] + ε / K`` with ``K`` the number
of admissible models. A routed request without exploration has ``propensity = 1`` and ``epsilon =
0``; a pass-through or refused request has neither. ``worker`` is the writing process's id.

**Feedback** (schema 2). ``POST /v1/feedback`` stores a score in [0, 1] for a logged request in a
second table, ``feedback`` (``request_id`` primary key, ``score``, ``ts``, ``updates``): a later
score for the same request replaces the earlier one and counts ``updates``; the request's record is
never rewritten. :func:`read_log` joins it as the record's ``feedback`` (None when none was given).

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

from routerlab._sqlite import enable_wal

__all__ = ["DEFAULT_LOG_PATH", "LOG_COLUMNS", "LOG_SCHEMA_VERSION", "DecisionLog", "UnknownRequestError", "read_log"]

#: the log file ``routerlab serve`` writes in the working directory when ``--log`` is not given
DEFAULT_LOG_PATH = "routerlab-serve.sqlite"
LOG_SCHEMA_VERSION = 2
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
    # schema 2
    "greedy": "TEXT",
    "epsilon": "REAL",
    "propensity": "REAL",
    "worker": "TEXT",
}
#: the columns schema 2 added to ``requests`` (a schema-1 file gains them, all NULL, when opened for writing)
_V2_COLUMNS = ("greedy", "epsilon", "propensity", "worker")
_FEEDBACK_TABLE = (
    "CREATE TABLE IF NOT EXISTS feedback (request_id TEXT PRIMARY KEY, score REAL NOT NULL, "
    "ts TEXT NOT NULL, updates INTEGER NOT NULL DEFAULT 0)"
)
LOG_COLUMNS: tuple[str, ...] = tuple(_COLUMNS)
_JSON_COLUMNS = ("scores", "attempts")


class UnknownRequestError(KeyError):
    """Feedback for a request id the log does not hold."""


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
        enable_wal(self._conn)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        columns = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(f"CREATE TABLE IF NOT EXISTS requests ({columns})")
                self._conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                self._conn.execute(_FEEDBACK_TABLE)
                row = self._conn.execute("SELECT version FROM schema_version").fetchone()
                if row is None:
                    self._conn.execute("INSERT INTO schema_version VALUES (?)", (LOG_SCHEMA_VERSION,))
                elif row[0] == 1:
                    # schema 2 only adds nullable columns and a table: a schema-1 log is upgraded in place
                    for name in _V2_COLUMNS:
                        self._conn.execute(f"ALTER TABLE requests ADD COLUMN {name} {_COLUMNS[name]}")
                    self._conn.execute("UPDATE schema_version SET version = ?", (LOG_SCHEMA_VERSION,))
                    row = (LOG_SCHEMA_VERSION,)
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

    def feedback(self, request_id: str, score: float, *, ts: str) -> int:
        """Store ``score`` (in [0, 1]) for the logged request ``request_id``; the number of earlier scores it replaces.

        An UnknownRequestError when the log holds no such request; a ValueError for a score outside [0, 1].
        """
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= float(score) <= 1.0:
            raise ValueError(f"score must be a number in [0, 1]; got {score!r}.")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                known = self._conn.execute("SELECT 1 FROM requests WHERE request_id = ?", (request_id,)).fetchone()
                if known is None:
                    raise UnknownRequestError(request_id)
                self._conn.execute(
                    "INSERT INTO feedback (request_id, score, ts, updates) VALUES (?, ?, ?, 0) "
                    "ON CONFLICT(request_id) DO UPDATE SET score = excluded.score, ts = excluded.ts, "
                    "updates = feedback.updates + 1",
                    (request_id, float(score), ts),
                )
                (updates,) = self._conn.execute(
                    "SELECT updates FROM feedback WHERE request_id = ?", (request_id,)
                ).fetchone()
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return int(updates)

    def close(self) -> None:
        """Close the connection (records are already committed)."""
        with self._lock:
            self._conn.close()


def read_log(path: str | os.PathLike[str], *, last: int | None = None) -> list[dict[str, Any]]:
    """The records of the log at ``path``, oldest first (the ``last`` ones only when given), JSON decoded.

    Each record has the keys :data:`LOG_COLUMNS` and ``feedback`` (the request's score, None without one).
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"No decision log at {file}: start the gateway with --log {file} first.")
    conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.row_factory = sqlite3.Row
        present = {r[1] for r in conn.execute("PRAGMA table_info(requests)")}
        has_feedback = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'feedback'").fetchone() is not None
        # a schema-1 log read without upgrading it: the schema-2 columns read as NULL
        cols = ", ".join(f"r.{c}" if c in present else f"NULL AS {c}" for c in LOG_COLUMNS)
        fb = "f.score AS feedback" if has_feedback else "NULL AS feedback"
        join = "LEFT JOIN feedback f ON f.request_id = r.request_id" if has_feedback else ""
        inner = f"SELECT r.rowid AS rid_, {cols}, {fb} FROM requests r {join}"
        if last is None:
            rows = conn.execute(f"{inner} ORDER BY r.ts, r.rowid").fetchall()
        else:
            query = f"SELECT * FROM ({inner} ORDER BY r.ts DESC, r.rowid DESC LIMIT ?) ORDER BY ts, rid_"
            rows = conn.execute(query, (max(int(last), 0),)).fetchall()
    finally:
        conn.close()
    out = []
    for row in rows:
        rec = dict(row)
        del rec["rid_"]
        for c in _JSON_COLUMNS:
            if rec[c] is not None:
                rec[c] = json.loads(rec[c])
        out.append(rec)
    return out
