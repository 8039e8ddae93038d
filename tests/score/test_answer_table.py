"""`routerlab score` on a table of answers (CSV, TSV, JSONL, Parquet): same output as a store, clear errors."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from routerlab.cli.score import score_cmd
from routerlab.data import read_parquet
from routerlab.errors import SchemaError
from routerlab.score import extract_letter
from routerlab.score.answer_table import answer_files, read_answer_table, read_answer_tables
from routerlab.score.store_reader import read_run
from tests.conftest import assert_identical
from tests.score.helpers import unwrap_cell

duckdb = pytest.importorskip("duckdb", reason="the collect extra (duckdb) is not installed")

from tests.score.test_store_cli import make_store  # noqa: E402  (after the duckdb skip)

runner = CliRunner()
app = typer.Typer()
app.command("score")(score_cmd)
app.command("noop")(lambda: None)  # two commands, so "score" is a sub-command as in the real app

SCORER = "mmlu=letter,humaneval=code"


def long_rows(store: Path) -> list[dict[str, Any]]:
    """The store's answers as one flat row per (query, model): the table a user would hand in."""
    records, queries = read_run(store)
    rows = []
    for r in records:
        q = queries[r["query_id"]]
        rows.append(
            {
                "query_id": r["query_id"],
                "model": r["model"],
                "response": r["response_text"],
                "gold": q.gold,
                "text": q.text,
                "source": q.source,
                "split": q.split,
                "choices": list(q.choices) if q.choices else None,
                "tests": q.tests,
                "entry_point": q.entry_point,
                "prompt_tokens": r["prompt_tokens"],
                "completion_tokens": r["completion_tokens"],
                "cost_usd": r["cost_usd"],
                "latency_s": r["latency_s"],
                "finish_reason": r["finish_reason"],
                "truncated": r["truncated"],
                "error": r["error"],
            }
        )
    return rows


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write ``rows`` as CSV/TSV (choices as a|b|c text), JSONL (JSON lists) or Parquet, by suffix."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path
    df = pd.DataFrame(rows)
    if path.suffix in (".csv", ".tsv"):
        if "choices" in df:
            df["choices"] = df["choices"].map(lambda c: "|".join(c) if isinstance(c, list) else None)
        df.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    else:
        df.to_parquet(path, index=False)
    return path


def score(path: Path, out: Path, *extra: str) -> Any:
    return runner.invoke(app, ["score", str(path), "--scorer", SCORER, "--out", str(out), "--name", "run", *extra])


def test_read_answer_table_gives_what_read_run_gives(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.duckdb")
    records, queries = read_run(store)
    for suffix in (".csv", ".tsv", ".jsonl", ".parquet"):
        got_records, got_queries = read_answer_table(write_table(long_rows(store), tmp_path / f"a{suffix}"))
        assert list(got_queries) == list(queries), suffix
        for qid, item in queries.items():
            mine = got_queries[qid]
            for field in ("text", "gold", "choices", "tests", "entry_point", "source", "split", "query_id"):
                assert getattr(mine, field) == getattr(item, field), (suffix, qid, field)
        for mine, theirs in zip(got_records, records, strict=True):
            for key, value in mine.items():
                expected = theirs[key]
                assert value == (bool(expected) if key == "truncated" else expected), (suffix, key)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_table_and_store_give_identical_matrices(tmp_path: Path, suffix: str) -> None:
    store = make_store(tmp_path / "run.duckdb")
    table = write_table(long_rows(store), tmp_path / f"answers{suffix}")
    from_store = score(store, tmp_path / "store.parquet")
    assert from_store.exit_code == 0, from_store.output
    from_table = score(table, tmp_path / "table.parquet")
    assert from_table.exit_code == 0, from_table.output
    assert_identical(read_parquet(tmp_path / "store.parquet"), read_parquet(tmp_path / "table.parquet"))
    np.testing.assert_array_equal(read_parquet(tmp_path / "table.parquet").Y, [[0.0, 1.0], [1.0, 0.0]])


def test_table_aliases_and_default_output(tmp_path: Path) -> None:
    rows = long_rows(make_store(tmp_path / "run.duckdb"))
    for r in rows:
        r["response_text"] = r.pop("response")
        r["tokens_in"], r["tokens_out"] = r.pop("prompt_tokens"), r.pop("completion_tokens")
        r["cost"] = r.pop("cost_usd")
    table = write_table(rows, tmp_path / "answers.parquet")
    result = runner.invoke(app, ["score", str(table), "--scorer", SCORER])
    assert result.exit_code == 0, result.output
    out = tmp_path / "answers.scored.parquet"  # never over the input
    data = read_parquet(out)
    assert data.name == "answers" and data.tokens_in is not None and np.isfinite(data.cost).all()
    assert out.with_suffix(".scores.jsonl").is_file()


def test_column_flags_rename_columns(tmp_path: Path) -> None:
    rows = [
        {"qid": r["query_id"], "llm": r["model"], "output": r["response"], "label": r["gold"], "question": r["text"]}
        | {k: v for k, v in r.items() if k not in ("query_id", "model", "response", "gold", "text")}
        for r in long_rows(make_store(tmp_path / "run.duckdb"))
    ]
    table = write_table(rows, tmp_path / "renamed.csv")
    flags = ["--query-col", "qid", "--model-col", "llm", "--response-col", "output", "--gold-col", "label"]
    result = score(table, tmp_path / "out.parquet", *flags, "--col", "text=question")
    assert result.exit_code == 0, result.output
    data = read_parquet(tmp_path / "out.parquet")
    np.testing.assert_array_equal(data.Y, [[0.0, 1.0], [1.0, 0.0]])
    assert data.texts is not None and data.texts[0] == "Capital of Italy?"
    bad = score(table, tmp_path / "x.parquet", *flags, "--col", "txt=question")
    assert bad.exit_code == 2 and "unknown field 'txt'" in bad.output and "Did you mean 'text'" in bad.output
    bad = score(table, tmp_path / "x.parquet", *flags[:-1], "lable")
    assert bad.exit_code == 2 and "--gold-col lable" in bad.output and "Did you mean --gold-col label" in bad.output


def _answers(n_queries: int = 6, models: tuple[str, ...] = ("small", "big")) -> list[dict[str, Any]]:
    rows = []
    for i in range(n_queries):
        for j, m in enumerate(models):
            rows.append(
                {
                    "response_id": f"r{i}-{j}",
                    "query_id": f"q{i}",
                    "model": m,
                    "output": f"Let me think about question {i}. The answer is ({'ABCD'[(i + j) % 4]}).",
                    "gold": "ABCD"[i % 4],
                    "source": "mmlu",
                    "cost_usd": 0.001,
                }
            )
    return rows


def test_missing_column_suggests_by_content_not_only_by_name(tmp_path: Path) -> None:
    """'response_id' is the closer name, but 'generated' holds the answers: the error says so and gives the flag."""
    rows = [{("generated" if k == "output" else k): v for k, v in r.items()} for r in _answers()]
    table = write_table(rows, tmp_path / "answers.csv")
    result = score(table, tmp_path / "x.parquet")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"{str(table)!r} has no column 'response' or 'response_text'" in text
    assert "Did you mean 'generated'?" in text and "free text like model answers" in text
    assert "Pass --response-col generated." in text
    assert "'response_id' has a closer name, but its values look like short ids" in text
    assert "Columns found: 'response_id', 'query_id', 'model', 'generated', 'gold', 'source', 'cost_usd'." in text
    fixed = score(table, tmp_path / "x.parquet", "--response-col", "generated")
    assert fixed.exit_code == 0, fixed.output


def test_missing_id_columns_are_told_apart_by_content(tmp_path: Path) -> None:
    rows = [{"item": r["query_id"], "who": r["model"], **{k: r[k] for k in ("output", "gold")}} for r in _answers(12)]
    with pytest.raises(SchemaError) as info:
        read_answer_table(write_table(rows, tmp_path / "a.jsonl"), columns={"response": "output"})
    message = str(info.value)
    assert "no column 'query_id'" in message and "Did you mean 'item'?" in message
    assert "Pass --query-col item." in message
    assert "no column 'model'" in message and "Did you mean 'who'?" in message and "Pass --model-col who." in message
    assert "a few repeated names (2 distinct values)" in message


def test_conflicting_gold_names_the_query_and_both_values(tmp_path: Path) -> None:
    rows = _answers()
    rows[3]["gold"] = "D"  # q1 had "B" on row 3
    result = score(write_table(rows, tmp_path / "a.csv"), tmp_path / "x.parquet", "--response-col", "output")
    text = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "query 'q1' has two different 'gold' values: 'B' (row 3) and 'D' (row 4)" in text
    assert "Traceback" not in result.output


def test_conflicting_choices_and_empty_vs_value_are_conflicts(tmp_path: Path) -> None:
    rows = _answers(2)
    for r in rows:
        r["choices"] = ["a", "b", "c", "d"]
    rows[1]["choices"] = ["a", "b", "c", "e"]
    rows[3]["text"] = "only here"
    path = write_table(rows, tmp_path / "a.jsonl")
    with pytest.raises(SchemaError, match=r"query 'q0' has two different 'choices' values: \('a', 'b', 'c', 'd'\)"):
        read_answer_table(path, columns={"response": "output"})
    rows[1]["choices"] = ["a", "b", "c", "d"]
    with pytest.raises(SchemaError, match=r"query 'q1' has two different 'text' values: \(empty\) \(row 3\)"):
        read_answer_table(write_table(rows, path), columns={"response": "output"})


def test_duplicate_rows_are_named(tmp_path: Path) -> None:
    rows = _answers()
    rows.append(dict(rows[2]))
    result = score(write_table(rows, tmp_path / "a.parquet"), tmp_path / "x.parquet", "--response-col", "output")
    text = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "1 (query, model) pairs have more than one row: ('q1', 'small') on rows 3 and 13" in text


def test_unknown_extension_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "answers.xlsx"
    path.write_bytes(b"PK\x03\x04")
    result = score(path, tmp_path / "x.parquet")
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "cannot read" in text and "'.xlsx'" in text
    assert ".duckdb" in text and ".csv" in text and "Traceback" not in result.output
    store = make_store(tmp_path / "run.duckdb")
    result = score(store, tmp_path / "y.parquet", "--response-col", "output")
    assert result.exit_code == 2 and "apply to a table of answers" in result.output


def test_cells_are_checked(tmp_path: Path) -> None:
    rows = _answers(2)
    rows[1]["cost_usd"] = "cheap"
    with pytest.raises(SchemaError, match=r"row 2, column 'cost_usd' must be a number. Got 'cheap'"):
        read_answer_table(write_table(rows, tmp_path / "a.csv"), columns={"response": "output"})
    rows[1]["cost_usd"], rows[2]["model"] = 0.001, ""
    with pytest.raises(SchemaError, match=r"row 3, column 'model' is empty"):
        read_answer_table(write_table(rows, tmp_path / "a.csv"), columns={"response": "output"})
    with pytest.raises(SchemaError, match="scored routerlab dataset"):
        store = make_store(tmp_path / "run.duckdb")
        assert score(store, tmp_path / "scored.parquet").exit_code == 0
        read_answer_table(tmp_path / "scored.parquet")


def test_no_price_for_tokens_is_refused_and_counted(tmp_path: Path) -> None:
    rows = _answers(4)
    for r in rows:
        r.update(cost_usd=None, prompt_tokens=100, completion_tokens=20)
    rows[0].update(output=None, error="HTTP 500")  # a failed call: no outcome, its cost stays unknown
    table = write_table(rows, tmp_path / "a.jsonl")
    result = score(table, tmp_path / "x.parquet", "--response-col", "output")
    text = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "7 answers have no cost_usd and their model has no price: 'big' (4 rows), 'small' (3 rows)" in text
    assert "Pass --prices FILE.json|.yaml" in text and "never taken as $0" in text
    prices = tmp_path / "prices.yaml"
    prices.write_text("small: [1.0, 2.0]\nbig: [10.0, 20.0]\n", encoding="utf-8")
    ok = score(table, tmp_path / "x.parquet", "--response-col", "output", "--prices", str(prices))
    assert ok.exit_code == 0, ok.output
    out = " ".join(ok.output.split())
    assert "cost unknown for 0" not in out
    data = read_parquet(tmp_path / "x.parquet")
    j = data.model_names.index("big")
    assert data.cost[1, j] == pytest.approx((100 * 10.0 + 20 * 20.0) / 1e6)
    # the failed row of 'small' was priced too (the price is known); without a price it is NaN and counted
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"smal": [1, 2], "big": [10, 20]}), encoding="utf-8")
    bad = score(table, tmp_path / "y.parquet", "--response-col", "output", "--prices", str(typo))
    text = " ".join(bad.output.split())
    assert bad.exit_code == 2 and "'small' (3 rows)" in text and "--prices names 'smal', which no row uses" in text


def test_failed_rows_without_cost_are_warned_and_left_missing(tmp_path: Path) -> None:
    rows = _answers(3)
    rows[0].update(output=None, error="timeout", cost_usd=None, prompt_tokens=80, completion_tokens=0)
    result = score(write_table(rows, tmp_path / "a.csv"), tmp_path / "x.parquet", "--response-col", "output")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "cost unknown for 1 failed rows" in text and "missing (NaN), not $0" in text
    data = read_parquet(tmp_path / "x.parquet")
    j = data.model_names.index("small")
    assert np.isnan(data.cost[0, j]) and np.isnan(data.Y[0, j])


def test_prices_file_is_checked(tmp_path: Path) -> None:
    table = write_table(_answers(2), tmp_path / "a.csv")
    for name, content, message in [
        ("p.yaml", "small: [1, -2]\n", "two finite prices >= 0"),
        ("p.yml", "- small\n", "must be a mapping {MODEL: [IN, OUT]}"),
        ("p.json", '{"small": [1]}', "must be a pair [IN, OUT]"),
        ("p.json", "[1, 2]", "must hold a mapping"),
    ]:
        (tmp_path / name).write_text(content, encoding="utf-8")
        result = score(table, tmp_path / "x.parquet", "--response-col", "output", "--prices", str(tmp_path / name))
        assert result.exit_code == 2 and message in " ".join(result.output.split()), (name, result.output)


def test_resume_works_for_a_table(tmp_path: Path) -> None:
    table = write_table(long_rows(make_store(tmp_path / "run.duckdb")), tmp_path / "answers.csv")
    out = tmp_path / "one.parquet"
    first = score(table, out, "--workers", "2")
    assert first.exit_code == 0, first.output
    details = out.with_suffix(".scores.jsonl")
    lines = details.read_bytes().split(b"\n")
    details.write_bytes(lines[0] + b"\n" + lines[1] + b"\n" + lines[2][:40])  # killed while writing line 3
    again = score(table, out, "--workers", "2")
    assert again.exit_code == 0, again.output
    assert "resumed: 2 scores read back" in again.output and "2 scored now" in again.output
    assert score(table, tmp_path / "two.parquet").exit_code == 0
    assert_identical(read_parquet(out), read_parquet(tmp_path / "two.parquet"))
    rows = long_rows(make_store(tmp_path / "run2.duckdb"))
    rows[1]["response"] = "Answer: C"  # ('mmlu/1', 'big') changes its answer
    changed = score(write_table(rows, table), out)
    assert "answers changed since they were scored: 1 scored again" in " ".join(changed.output.split())
    np.testing.assert_array_equal(read_parquet(out).Y[0], [1.0, 1.0])


def test_routerbench_long_table_scored_with_letter_agrees_with_its_labels(tmp_path: Path, shared_data: Path) -> None:
    """RouterBench's ARC-Challenge rows reshaped to one row per (query, model), scored by `routerlab score`."""
    df = pd.read_csv(shared_data / "routerbench-0shot-subset" / "arc_challenge_test.csv").head(150)
    models = [c.split("|")[0] for c in df.columns if c.endswith("|model_response")]
    rows, labels = [], {}
    for _, row in df.iterrows():
        cells, votes = [], collections.Counter[str]()
        for m in models:
            text, label = row[f"{m}|model_response"], row[m]
            if not isinstance(text, str) or pd.isna(label):
                continue
            answer = unwrap_cell(text)
            letter = extract_letter(answer, letters="ABCDE").letter
            votes.update([letter] if label == 1 and letter else [])
            cells.append((m, answer, float(label), float(row[f"{m}|total_cost"])))
        if not votes:  # no model was right: RouterBench's gold letter cannot be read back
            continue
        gold = votes.most_common(1)[0][0]
        for m, answer, label, cost in cells:
            labels[str(row["sample_id"]), m] = label
            rows.append(
                {
                    "sample_id": row["sample_id"],
                    "llm": m,
                    "answer_text": answer,
                    "gold": gold,
                    "cost": cost,
                    "source": "arc",
                }
            )
    table = write_table(rows, tmp_path / "routerbench_long.csv")
    out = tmp_path / "rb.parquet"
    flags = ["--query-col", "sample_id", "--model-col", "llm", "--response-col", "answer_text"]
    result = runner.invoke(app, ["score", str(table), "--scorer", "letter", "--out", str(out), *flags])
    assert result.exit_code == 0, result.output
    data = read_parquet(out)
    assert data.n_queries > 100 and data.n_models == len(models)
    compared = agree = 0
    for i, qid in enumerate(data.query_ids):
        for j, m in enumerate(data.model_names):
            if (qid, m) in labels and data.observed[i, j] and data.parsed is not None and data.parsed[i, j]:
                compared += 1
                agree += data.Y[i, j] == labels[qid, m]
    assert compared > 1000
    assert agree / compared > 0.98, (agree, compared)


# ----------------------------------------------------------------------------- per-model answer files
def _per_model_folder(tmp_path: Path, *, with_model_column: bool = False) -> Path:
    """The table of ``_answers`` split into one file per model (small.csv, big.jsonl), without a model column."""
    folder = tmp_path / "answers"
    folder.mkdir()
    rows = _answers()
    for model, suffix in (("small", ".csv"), ("big", ".jsonl")):
        mine = [{k: v for k, v in r.items() if k != "model" or with_model_column} for r in rows if r["model"] == model]
        write_table(mine, folder / f"{model}{suffix}")
    (folder / "prices.yaml").write_text("small: [0.1, 0.2]\n", encoding="utf-8")  # not a table: skipped
    return folder


def test_folder_of_per_model_files_gives_the_one_table(tmp_path: Path) -> None:
    """A folder of per-model files (models named by file name) scores exactly as the single table does."""
    folder = _per_model_folder(tmp_path)
    table = write_table(_answers(), tmp_path / "all.csv")
    single = score(table, tmp_path / "single.parquet", "--response-col", "output")
    assert single.exit_code == 0, single.output
    several = score(folder, tmp_path / "several.parquet", "--response-col", "output")
    assert several.exit_code == 0, several.output
    one, other = read_parquet(tmp_path / "single.parquet"), read_parquet(tmp_path / "several.parquet")
    assert sorted(other.model_names) == ["big", "small"]
    for m in one.model_names:
        np.testing.assert_array_equal(one.Y[:, one.model_names.index(m)], other.Y[:, other.model_names.index(m)])
    assert list(other.query_ids) == list(one.query_ids)
    files = score(folder / "small.csv", tmp_path / "files.parquet", "--response-col", "output")
    assert files.exit_code == 2  # one file alone is a table of answers: it needs its model column
    both = runner.invoke(
        app,
        ["score", str(folder / "small.csv"), str(folder / "big.jsonl"), "--scorer", SCORER, "--response-col", "output"],
    )
    assert both.exit_code == 0, both.output
    assert read_parquet(tmp_path / "answers.parquet").name == "answers"  # default output beside the folder


def test_model_column_wins_over_the_file_name_and_holds_one_model(tmp_path: Path) -> None:
    folder = _per_model_folder(tmp_path, with_model_column=True)
    (folder / "small.csv").rename(folder / "run-1.csv")
    records, _ = read_answer_tables(answer_files(folder), columns={"response": "output"})
    assert {r["model"] for r in records} == {"small", "big"}
    rows = [r for r in _answers() if r["model"] == "small"]
    rows[2]["model"] = "big"
    write_table(rows, folder / "run-1.csv")
    with pytest.raises(SchemaError, match=r"'model' is 'big' but row 1 is 'small': a file among several"):
        read_answer_tables(answer_files(folder), columns={"response": "output"})


def test_two_files_of_one_model_are_refused(tmp_path: Path) -> None:
    folder = _per_model_folder(tmp_path, with_model_column=True)
    rows = [r for r in _answers() if r["model"] == "small"]
    write_table(rows, folder / "small-again.csv")
    result = score(folder, tmp_path / "x.parquet", "--response-col", "output")
    text = " ".join(result.output.split())
    assert result.exit_code == 2
    assert f"{str(folder / 'small.csv')!r} holds model 'small' (from its 'model' column), and so does" in text
    assert repr(str(folder / "small-again.csv")) in text


def test_per_query_values_must_agree_across_files(tmp_path: Path) -> None:
    folder = _per_model_folder(tmp_path)
    rows = [{k: v for k, v in r.items() if k != "model"} for r in _answers() if r["model"] == "small"]
    rows[1]["gold"] = "D"  # q1's gold is 'B' in big.jsonl
    write_table(rows, folder / "small.csv")
    result = score(folder, tmp_path / "x.parquet", "--response-col", "output")
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    big, small = repr(str(folder / "big.jsonl")), repr(str(folder / "small.csv"))
    assert f"query 'q1' has two different 'gold' values: 'B' ({big}, row 2) and 'D' ({small}, row 2)" in text
    assert "Traceback" not in result.output


def test_folder_without_tables_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = score(tmp_path / "empty", tmp_path / "x.parquet")
    assert result.exit_code == 2
    assert "holds no table of answers" in " ".join(result.output.split())
