"""Reading a DuckDB collection store and the `routerlab score` command on one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from routerlab.cli.score import parse_scorer_option, score_cmd
from routerlab.data import read_parquet
from routerlab.errors import DataNotFoundError, SchemaError
from routerlab.score.store_reader import read_queries, read_run

duckdb = pytest.importorskip("duckdb", reason="the collect extra (duckdb) is not installed")

runner = CliRunner()
app = typer.Typer()
app.command("score")(score_cmd)
app.command("noop")(lambda: None)  # two commands, so "score" is a sub-command as in the real app


def make_store(path: Path, *, duplicate: bool = False) -> Path:
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE queries (query_id VARCHAR, text VARCHAR, source VARCHAR, gold VARCHAR, split VARCHAR, "
        "meta JSON, added_at TIMESTAMP)"
    )
    con.execute(
        "CREATE TABLE records (query_id VARCHAR, model VARCHAR, response_text VARCHAR, finish_reason VARCHAR, "
        "truncated BOOLEAN, prompt_tokens INTEGER, completion_tokens INTEGER, latency_s DOUBLE, cost_usd DOUBLE, "
        "error VARCHAR, attempt INTEGER, provider VARCHAR)"
    )
    he_meta = {
        "entry_point": "add",
        "tests": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
    }
    con.executemany(
        "INSERT INTO queries VALUES (?, ?, ?, ?, ?, ?, NULL)",
        [
            (
                "mmlu/1",
                "Capital of Italy?",
                "mmlu",
                "C",
                "test",
                json.dumps({"choices": ["Paris", "London", "Rome", "Berlin"]}),
            ),
            ("he/0", 'def add(a, b):\n    """Add."""\n', "humaneval", None, "test", json.dumps(he_meta)),
        ],
    )
    rows = [
        ("mmlu/1", "small", "Answer: C", "stop", False, 50, 3, 0.2, 0.0001, None, 1, "p"),
        ("mmlu/1", "big", "The answer is (B).", "stop", False, 50, 5, 0.9, 0.001, None, 1, "p"),
        (
            "he/0",
            "small",
            "```python\ndef add(a, b):\n    return a - b\n```",
            "stop",
            False,
            40,
            20,
            0.3,
            0.0002,
            None,
            1,
            "p",
        ),
        ("he/0", "big", "    return a + b\n", "stop", False, 40, 8, 1.1, 0.002, None, 1, "p"),
    ]
    if duplicate:
        rows.append(rows[0])
    con.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()
    return path


def test_read_run_tolerates_extra_columns(tmp_path: Path) -> None:
    records, queries = read_run(make_store(tmp_path / "run.duckdb"))
    assert len(records) == 4 and records[0]["provider"] == "p"
    assert queries["mmlu/1"].choices == ("Paris", "London", "Rome", "Berlin")
    assert queries["he/0"].entry_point == "add" and "def check" in str(queries["he/0"].tests)


def test_reader_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="No collection store"):
        read_queries(tmp_path / "absent.duckdb")
    con = duckdb.connect(str(tmp_path / "other.duckdb"))
    con.execute("CREATE TABLE stuff (x INTEGER)")
    con.close()
    with pytest.raises(SchemaError, match="has no 'queries' table"):
        read_queries(tmp_path / "other.duckdb")


def test_parse_scorer_option() -> None:
    assert parse_scorer_option("letter") == {"*": "letter"}
    assert parse_scorer_option("mmlu=dual, humaneval=code,*=judge") == {
        "mmlu": "dual",
        "humaneval": "code",
        "*": "judge",
    }
    with pytest.raises(ValueError, match="Did you mean 'letter'"):
        parse_scorer_option("leter")


def test_score_command_end_to_end(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.duckdb")
    out = tmp_path / "scored.parquet"
    result = runner.invoke(app, ["score", str(store), "--scorer", "mmlu=letter,humaneval=code", "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    data = read_parquet(out)
    assert data.model_names == ["big", "small"]
    np.testing.assert_array_equal(data.Y, [[0.0, 1.0], [1.0, 0.0]])
    assert data.meta["scorers"]["humaneval"]["name"] == "code"
    lines = [json.loads(x) for x in out.with_suffix(".scores.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    he_small = next(x for x in lines if x["query_id"] == "he/0" and x["model"] == "small")
    assert he_small["score"]["reason"] == "test_failed"
    assert "scored.parquet" in result.output


def test_score_command_friendly_errors(tmp_path: Path) -> None:
    store = make_store(tmp_path / "dup.duckdb", duplicate=True)
    result = runner.invoke(app, ["score", str(store), "--scorer", "mmlu=letter,humaneval=code"])
    assert result.exit_code == 2
    assert "('mmlu/1', 'small') x2" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["score", str(store), "--scorer", "judge"])
    assert result.exit_code == 2 and "--judge-model" in result.output
