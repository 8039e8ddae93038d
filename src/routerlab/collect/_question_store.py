"""What ``collect-lm`` and ``collect-lm-gen``'s SQLite folders share.

Both keep a ``store_meta`` table (the schema version), the ``questions`` table of the question set
they ran on (with the large models' outcomes as JSON) and UTC timestamps; only their result tables
differ. One connection routine makes every such file durable the same way (WAL, ``synchronous=FULL``:
a committed batch survives ``kill -9``) and refuses a file written under another schema.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

from routerlab._sqlite import enable_wal
from routerlab.data.loaders.mcq import QuestionSet
from routerlab.errors import SchemaError

__all__ = ["QUESTIONS_DDL", "commit_batch", "connect_store", "finish_run", "utc_now", "write_questions"]

#: the tables every question-set store has, before its own
QUESTIONS_DDL = """
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS questions (
    query_id TEXT PRIMARY KEY, dataset TEXT NOT NULL, subject TEXT NOT NULL, text TEXT NOT NULL,
    gold INTEGER NOT NULL, large TEXT NOT NULL
);
"""


def utc_now() -> str:
    """The current UTC time as naive ISO-8601 with milliseconds (the stores' ``created_at``)."""
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


@contextmanager
def connect_store(path: Path, ddl: str, *, schema_version: int, kind: str) -> Iterator[sqlite3.Connection]:
    """Open (creating if new) the store at ``path`` with ``QUESTIONS_DDL`` + ``ddl``; check its schema.

    ``kind`` names the store in the error ("outcome-store", "generation-store").
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(str(path), timeout=30.0)) as con:
        enable_wal(con)
        con.execute("PRAGMA synchronous=FULL")  # a committed batch survives a kill or a power cut
        con.executescript(QUESTIONS_DDL + ddl)
        con.execute("INSERT OR IGNORE INTO store_meta VALUES ('schema_version', ?)", (str(schema_version),))
        row = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        if row is None or int(row[0]) != schema_version:
            raise SchemaError(
                f"{str(path)!r} has {kind} schema {row[0] if row else None}; this routerlab writes "
                f"{schema_version}. Collect into a new --out folder."
            )
        con.commit()
        yield con


def write_questions(con: sqlite3.Connection, questions: QuestionSet, large_sources: Mapping[str, str]) -> None:
    """Upsert ``questions`` into the ``questions`` table; ``large`` maps short name → RouteLLM column."""
    rows = []
    for i, qid in enumerate(questions.query_ids):
        large = {
            short: float(questions.large[i, questions.large_models.index(src)])
            for short, src in large_sources.items()
            if src in questions.large_models
        }
        rows.append(
            (qid, questions.name, questions.subjects[i], questions.texts[i], int(questions.gold[i]), json.dumps(large))
        )
    with con:
        con.executemany(
            "INSERT INTO questions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (query_id) DO UPDATE SET dataset = "
            "excluded.dataset, subject = excluded.subject, text = excluded.text, gold = excluded.gold, "
            "large = excluded.large",
            rows,
        )


def commit_batch(
    con: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    run_id: str,
    n_done: int,
) -> None:
    """One batch's rows (only inserted, never rewritten) and its run's progress, in one transaction."""
    with con:
        con.executemany(
            f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
        )
        con.execute("UPDATE runs SET n_done = ? WHERE run_id = ?", (n_done, run_id))


def finish_run(con: sqlite3.Connection, run_id: str, n_done: int) -> None:
    """Mark the run finished with ``n_done`` questions done."""
    with con:
        con.execute(
            "UPDATE runs SET finished_at = ?, status = 'finished', n_done = ? WHERE run_id = ?",
            (utc_now(), n_done, run_id),
        )
