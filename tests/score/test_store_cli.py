"""Reading a DuckDB collection store and the `routerlab score` command on one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from routerlab.cli.score import parse_scorer_option, score_cmd
from routerlab.data import read_parquet
from routerlab.errors import DataNotFoundError, SchemaError
from routerlab.score.base import SCORERS
from routerlab.score.runner.checkpoint import Checkpoint
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


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_bytes().split(b"\n") if x]


def _stable(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for line in lines:
        line["score"]["detail"].pop("duration_s", None)
    return lines


def _same_dataset(a: Path, b: Path) -> None:
    x, y = read_parquet(a), read_parquet(b)
    for field in ("Y", "cost", "parsed", "truncated", "latency_s", "tokens_in", "tokens_out"):
        np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=field)
    assert x.meta == y.meta and x.model_names == y.model_names


def test_score_command_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.duckdb")
    args = ["score", str(store), "--scorer", "mmlu=letter,humaneval=code", "--workers", "2"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "one.parquet")])
    assert first.exit_code == 0, first.output
    details = tmp_path / "one.scores.jsonl"
    one_shot = details.read_bytes()
    # a run killed while writing its third line: two whole lines and a fragment
    lines = one_shot.split(b"\n")
    details.write_bytes(lines[0] + b"\n" + lines[1] + b"\n" + lines[2][:40])
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "one.parquet")])
    assert again.exit_code == 0, again.output
    assert "resumed: 2 scores read back" in again.output and "2 scored now" in again.output
    # one line per record, in record order, as a one-shot run leaves it (but for the sandbox's run times)
    assert _stable(_lines(details)) == _stable([json.loads(x) for x in one_shot.split(b"\n") if x])
    fresh = runner.invoke(app, [*args, "--out", str(tmp_path / "two.parquet")])
    assert fresh.exit_code == 0, fresh.output
    _same_dataset(tmp_path / "one.parquet", tmp_path / "two.parquet")
    done = runner.invoke(app, [*args, "--out", str(tmp_path / "one.parquet")])
    assert "resumed: 4 scores read back" in done.output and "0 scored now" in done.output


def test_changed_scorer_spec_rescores_only_that_source(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.duckdb")
    out = tmp_path / "scored.parquet"
    base = ["score", str(store), "--scorer", "mmlu=letter,humaneval=code", "--out", str(out)]
    assert runner.invoke(app, base).exit_code == 0
    result = runner.invoke(app, [*base, "--code-timeout", "5"])  # the sandbox limits are in the code spec
    assert result.exit_code == 0, result.output
    assert "scorer changed for source 'humaneval': 2 stored scores made by code" in result.output
    assert "resumed: 2 scores read back" in result.output and "2 scored now" in result.output
    specs = {line["source"]: line["score"]["scorer"]["params"] for line in _lines(out.with_suffix(".scores.jsonl"))}
    assert specs["humaneval"]["limits"]["timeout_s"] == 5.0


def test_changed_answer_is_scored_again(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.duckdb")
    out = tmp_path / "scored.parquet"
    args = ["score", str(store), "--scorer", "mmlu=letter,humaneval=code", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    con = duckdb.connect(str(store))
    con.execute("UPDATE records SET response_text = 'Answer: C' WHERE query_id = 'mmlu/1' AND model = 'big'")
    con.close()
    result = runner.invoke(app, args)
    assert "answers changed since they were scored: 1 scored again" in result.output
    np.testing.assert_array_equal(read_parquet(out).Y[0], [1.0, 1.0])


def test_score_command_options_are_checked(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.duckdb")
    base = ["score", str(store), "--scorer", "mmlu=letter,humaneval=code"]
    result = runner.invoke(app, [*base, "--score-timeout", "12", "--code-timeout", "10"])
    assert result.exit_code == 2 and "--score-timeout (12 s)" in result.output and "at least 20 s" in result.output
    result = runner.invoke(app, [*base, "--workers", "0"])
    assert result.exit_code == 2 and "--workers must be at least 1" in result.output


def test_a_second_run_on_the_same_checkpoint_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.duckdb")
    out = tmp_path / "scored.parquet"
    with Checkpoint(out.with_suffix(".scores.jsonl")):
        result = runner.invoke(app, ["score", str(store), "--scorer", "mmlu=letter,humaneval=code", "--out", str(out)])
    assert result.exit_code == 2 and "Another scoring run is writing" in result.output


def test_scorer_option_takes_registered_names() -> None:
    assert parse_scorer_option("mmlu=dual:math,*=exact") == {"mmlu": "dual:math", "*": "exact"}
    SCORERS.register("toy-plugin", "routerlab.score.exact:ExactScorer")
    try:
        assert parse_scorer_option("toy-plugin") == {"*": "toy-plugin"}
        with pytest.raises(ValueError, match=r"Did you mean 'toy-plugin'.*source 'gsm8k'"):
            parse_scorer_option("gsm8k=toy-plugn")
    finally:
        SCORERS.unregister("toy-plugin")
    with pytest.raises(ValueError, match="Only dual takes"):
        parse_scorer_option("letter:math")
    with pytest.raises(ValueError, match="must be an exact-match scorer"):
        parse_scorer_option("dual:judge")
