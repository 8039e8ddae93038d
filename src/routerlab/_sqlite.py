"""SQLite helpers shared by the stores that several processes open at once.

``PRAGMA journal_mode=WAL`` on a database still in rollback mode needs an exclusive lock, and when
two connections that both hold a shared lock ask for it at the same moment, SQLite answers one of
them "database is locked" at once, without calling the busy handler (its deadlock rule): N
``collect-lm --shard`` processes starting on a new ``--out`` hit exactly that. The switch is
retried here with a short random back-off until it succeeds or ``timeout_s`` passes.
"""

from __future__ import annotations

import random
import sqlite3
import time

__all__ = ["enable_wal"]


def enable_wal(con: sqlite3.Connection, *, timeout_s: float = 30.0) -> None:
    """Put ``con``'s database in WAL mode, retrying the deadlock-avoidance "database is locked"."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))
