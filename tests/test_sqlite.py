"""``enable_wal``: the switch to WAL mode waits out a lock SQLite refuses at once, and gives up after its timeout."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from routerlab._sqlite import enable_wal


def _holding_a_shared_lock(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    con.execute("CREATE TABLE IF NOT EXISTS t (x)")
    con.execute("BEGIN")
    con.execute("SELECT * FROM t").fetchall()  # a read transaction: a shared lock until COMMIT
    return con


def test_wal_switch_is_retried_until_the_other_reader_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    reader = _holding_a_shared_lock(path)
    # timeout=0: no busy handler, so the first PRAGMA fails at once, as in SQLite's deadlock rule
    with closing(sqlite3.connect(str(path), timeout=0)) as con:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            con.execute("PRAGMA journal_mode=WAL")
        releaser = threading.Timer(0.3, lambda: reader.execute("COMMIT"))
        releaser.start()
        start = time.monotonic()
        enable_wal(con, timeout_s=10)
        assert time.monotonic() - start >= 0.25  # it waited for the reader, it did not skip the switch
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    releaser.join()
    reader.close()


def test_wal_switch_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    reader = _holding_a_shared_lock(path)
    with closing(sqlite3.connect(str(path), timeout=0)) as con:
        start = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            enable_wal(con, timeout_s=0.2)
        assert 0.2 <= time.monotonic() - start < 5
    reader.close()
