"""Decision log schema 2: feedback scores beside the records, and a schema-1 log upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from routerlab.serve.log import LOG_COLUMNS, LOG_SCHEMA_VERSION, DecisionLog, UnknownRequestError, read_log


def _record(rid: str, ts: str = "2026-11-30T00:00:00") -> dict[str, object]:
    return {"request_id": rid, "ts": ts, "status": 200, "latency_ms": 1.0, "chosen": "a", "propensity": 0.9}


def test_feedback_joins_its_record_and_a_later_score_replaces_the_earlier(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "log.sqlite")
    log.write(_record("r1"))
    log.write(_record("r2", "2026-11-30T00:00:01"))
    assert log.feedback("r1", 0.25, ts="t") == 0
    assert log.feedback("r1", 1, ts="t2") == 1
    log.close()
    first, second = read_log(tmp_path / "log.sqlite")
    assert (first["request_id"], first["feedback"], first["propensity"]) == ("r1", 1.0, 0.9)
    assert second["feedback"] is None
    assert set(first) == {*LOG_COLUMNS, "feedback"}


@pytest.mark.parametrize("score", [-0.1, 1.5, float("nan"), "0.5", True, None])
def test_a_score_outside_zero_one_is_refused_and_nothing_is_stored(tmp_path: Path, score: object) -> None:
    log = DecisionLog(tmp_path / "log.sqlite")
    log.write(_record("r1"))
    with pytest.raises(ValueError, match=r"score must be a number in \[0, 1\]"):
        log.feedback("r1", score, ts="t")  # type: ignore[arg-type]
    log.close()
    assert read_log(tmp_path / "log.sqlite")[0]["feedback"] is None


def test_feedback_for_an_unknown_request_is_refused(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "log.sqlite")
    with pytest.raises(UnknownRequestError):
        log.feedback("nope", 0.5, ts="t")
    log.close()
    with sqlite3.connect(tmp_path / "log.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM feedback").fetchone() == (0,)


def _schema_one(path: Path) -> None:
    v1 = [c for c in LOG_COLUMNS if c not in ("greedy", "epsilon", "propensity", "worker")]
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE requests ({', '.join(v1)})")
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute("INSERT INTO requests (request_id, ts, status, latency_ms) VALUES ('old', 't0', 200, 3.0)")


def test_a_schema_one_log_reads_as_is_and_is_upgraded_when_opened_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    _schema_one(path)
    (old,) = read_log(path)  # read-only: not upgraded
    assert old["request_id"] == "old" and old["propensity"] is None and old["feedback"] is None
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (1,)
    log = DecisionLog(path)
    log.write(_record("new", "t1"))
    log.feedback("old", 0.5, ts="t")
    log.close()
    old, new = read_log(path)
    assert (old["feedback"], new["propensity"]) == (0.5, 0.9)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (LOG_SCHEMA_VERSION,)


def test_a_log_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v9.sqlite"
    DecisionLog(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 9")
    with pytest.raises(ValueError, match="schema version 9"):
        DecisionLog(path)


def test_serve_log_shows_exploration_fallbacks_and_feedback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from routerlab.cli import _common
    from routerlab.cli.main import app

    monkeypatch.setattr(_common.console, "width", 200)  # the console's width is fixed when it is made

    path = tmp_path / "log.sqlite"
    log = DecisionLog(path)
    explored = {**_record("aaaaaaaa1"), "greedy": "big", "chosen": "small", "answered_by": "small"}
    explored["attempts"] = [{"model": "small", "status": 200, "error": None}]
    fell_back = {**_record("bbbbbbbb2", "2026-11-30T00:00:01"), "greedy": "big", "chosen": "big", "answered_by": "mid"}
    fell_back["attempts"] = [
        {"model": "big", "status": 503, "error": None},
        {"model": "mid", "status": 200, "error": None},
    ]
    log.write(explored)
    log.write(fell_back)
    log.feedback("bbbbbbbb2", 0.75, ts="t")
    log.close()
    result = CliRunner().invoke(app, ["serve-log", str(path)])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[2].strip(): line for line in result.output.splitlines() if line.startswith("│")}
    assert "small *" in rows["aaaaaaaa"] and "* explored" in result.output
    assert "big → mid" in rows["bbbbbbbb"] and "big:503" in rows["bbbbbbbb"] and "0.75" in rows["bbbbbbbb"]
    assert "mid:200" not in rows["bbbbbbbb"]  # the answer is not a failure
