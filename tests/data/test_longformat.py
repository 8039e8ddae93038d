"""The long-format loader: round trips through every format, options, and one test per error message."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from routerlab.data import RoutingData, load, load_long, write_parquet
from routerlab.data.longformat import SUPPORTED_SUFFIXES, load_file
from routerlab.errors import DataNotFoundError, SchemaError
from tests.conftest import make_routing_problem


def long_rows(data: RoutingData) -> pd.DataFrame:
    """One row per observed (query, model) cell of ``data``, with its per-query columns."""
    rows = [
        {
            "query_id": q,
            "model": m,
            "score": float(data.Y[i, j]),
            "cost": float(data.cost[i, j]),
            "text": data.texts[i] if data.texts is not None else None,
            "source": data.sources[i],
            "split": data.splits[i],
        }
        for i, q in enumerate(data.query_ids)
        for j, m in enumerate(data.model_names)
        if not np.isnan(data.Y[i, j])
    ]
    return pd.DataFrame(rows)


def write(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` in the format its suffix names; floats exactly (repr) in every format."""
    name = path.name
    if name.endswith((".parquet", ".pq")):
        df.to_parquet(path)
    elif name.endswith((".jsonl", ".ndjson", ".jsonl.gz")):
        lines = "".join(json.dumps(r) + "\n" for r in df.to_dict(orient="records"))
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(lines.encode()))
        else:
            path.write_text(lines)
    else:
        df.to_csv(path, sep="\t" if ".tsv" in name else ",", index=False)
    return path


def write_csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def problem_missing() -> RoutingData:
    return make_routing_problem(missing=0.1)


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".csv.gz", ".jsonl.gz"])
def test_round_trip_reproduces_matrices(tmp_path: Path, problem_missing: RoutingData, suffix: str) -> None:
    original = problem_missing
    assert np.isnan(original.Y).sum() > 0
    path = write(long_rows(original), tmp_path / f"long{suffix}")
    loaded = load_long(path).select_models(original.model_names)  # model order = first appearance
    assert loaded.name == "long"
    assert loaded.query_ids.tolist() == original.query_ids.tolist()
    assert np.array_equal(loaded.Y, original.Y, equal_nan=True)
    observed = original.observed
    assert np.array_equal(loaded.cost[observed], original.cost[observed])
    assert np.isnan(loaded.cost[~observed]).all()  # no row → no cost
    assert loaded.splits.tolist() == original.splits.tolist()
    assert loaded.texts is not None and loaded.texts.tolist() == original.texts.tolist()
    assert loaded.sources.tolist() == original.sources.tolist()
    assert loaded.cost_unit == "usd"
    assert loaded.meta["missing_cells"] == int((~observed).sum())


def test_round_trip_survives_row_shuffling(tmp_path: Path, problem_missing: RoutingData) -> None:
    df = long_rows(problem_missing).sample(frac=1.0, random_state=3)
    loaded = load_long(write(df, tmp_path / "shuffled.csv"))
    order = [int(np.flatnonzero(loaded.query_ids == q)[0]) for q in problem_missing.query_ids]
    again = loaded.subset(order).select_models(problem_missing.model_names)
    assert np.array_equal(again.Y, problem_missing.Y, equal_nan=True)


def test_hash_split_without_split_column_is_seeded_and_order_free(tmp_path: Path, problem_missing: RoutingData) -> None:
    df = long_rows(problem_missing).drop(columns=["split"])
    a = load_long(write(df, tmp_path / "a.csv"), seed=5)
    b = load_long(write(df.iloc[::-1], tmp_path / "b.csv"), seed=5)
    c = load_long(write(df, tmp_path / "c.csv"), seed=6)
    split_a = dict(zip(a.query_ids, a.splits, strict=True))
    split_b = dict(zip(b.query_ids, b.splits, strict=True))
    assert split_a == split_b
    assert split_a != dict(zip(c.query_ids, c.splits, strict=True))
    assert "seeded hash split, seed=5" in a.meta["split"]
    assert set(a.splits) <= {"train", "val", "test"}


def test_no_cost_column_counts_calls(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score\nq1,a,1\nq1,b,0\nq2,a,0.5\n")
    data = load_long(path)
    assert data.cost_unit == "calls"
    assert np.array_equal(data.cost, [[1.0, 1.0], [1.0, np.nan]], equal_nan=True)
    assert np.isnan(data.Y[1, 1])
    assert data.sources.tolist() == ["t", "t"]  # no source column: the dataset name
    assert "calls" in data.meta["cost"]


def test_score_scale_maps_linearly_and_keeps_raw(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score\nq1,a,1\nq1,b,10\nq2,a,5.5\nq2,b,\n")
    data = load_long(path, score_scale=(1, 10))
    assert np.allclose(data.Y, [[0.0, 1.0], [0.5, np.nan]], equal_nan=True)
    assert data.raw_score is not None
    assert np.array_equal(data.raw_score, [[1.0, 10.0], [5.5, np.nan]], equal_nan=True)
    assert data.meta["score_scale"] == [1.0, 10.0] and "raw_score" in data.meta


def test_optional_columns_and_renamed_columns(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "qid": ["x", "x", "y", "y"],
            "llm": ["a", "b", "a", "b"],
            "acc": [1.0, 0.0, 0.5, 1.0],
            "price": [0.1, 2.0, 0.1, 2.0],
            "prompt": ["hi", "hi", "yo", None],  # a blank cell is fine when another row of the query has it
            "split": ["train", "train", "dev", "dev"],
            "category": ["c1", "c1", "c2", "c2"],
            "gold": ["A", "A", None, None],
            "tokens_in": [10, 11, 12, 13],
            "tokens": [5, 6, 7, 8],
            "latency": [0.5, 1.5, 0.25, 2.0],
            "truncated": ["false", "true", "0", "1"],
            "parsed": [True, True, False, True],
            "response": ["ok", "", "fine", "sure"],
        }
    )
    data = load_long(
        write(df, tmp_path / "renamed.parquet"),
        query_col="qid",
        model_col="llm",
        score_col="acc",
        cost_col="price",
        text_col="prompt",
        cost_unit="usd_per_1m_tokens",
        name="mine",
    )
    assert data.name == "mine" and data.cost_unit == "usd_per_1m_tokens"
    assert data.texts is not None and data.texts.tolist() == ["hi", "yo"]
    assert data.splits.tolist() == ["train", "val"]  # dev → val
    assert data.categories.tolist() == ["c1", "c2"]
    assert data.gold is not None and data.gold.tolist() == ["A", None]
    assert data.tokens_in is not None and data.tokens_in.tolist() == [[10, 11], [12, 13]]
    assert data.tokens_out is not None and data.tokens_out.tolist() == [[5, 6], [7, 8]]
    assert data.latency_s is not None and data.latency_s.tolist() == [[0.5, 1.5], [0.25, 2.0]]
    assert data.truncated is not None and data.truncated.tolist() == [[False, True], [False, True]]
    assert data.parsed is not None and data.parsed.tolist() == [[True, True], [False, True]]
    assert data.meta["n_responses"] == 3
    assert data.meta["columns"]["tokens_out"] == "tokens"


def test_identical_duplicates_are_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_csv(tmp_path, "query_id,model,score\nq1,a,1\nq1,a,1\nq1,b,0\n")
    with caplog.at_level(logging.WARNING, logger="routerlab.data.longformat"):
        data = load_long(path)
    assert data.meta["duplicate_rows_dropped"] == 1
    assert data.Y.tolist() == [[1.0, 0.0]]
    assert "dropped 1 duplicate row" in caplog.text


def test_numeric_query_ids_become_text(tmp_path: Path) -> None:
    df = pd.DataFrame({"query_id": [1, 2], "model": ["a", "a"], "score": [1.0, 0.0]})
    data = load_long(write(df, tmp_path / "ints.jsonl"))
    assert data.query_ids.tolist() == ["1", "2"]


# ----------------------------------------------------------------------------- load_file / load(path)
def test_load_file_reads_routerlab_parquet_as_such(tmp_path: Path, problem_missing: RoutingData) -> None:
    saved = write_parquet(problem_missing, tmp_path / "saved.parquet")
    data = load_file(saved)
    assert np.array_equal(data.Y, problem_missing.Y, equal_nan=True)
    assert data.name == "synthetic"
    with pytest.raises(SchemaError, match="apply only to long tables"):
        load_file(saved, score_col="acc")


def test_load_file_reads_plain_parquet_as_long_table(tmp_path: Path, problem_missing: RoutingData) -> None:
    path = write(long_rows(problem_missing), tmp_path / "plain.parquet")
    assert load_file(path).n_queries == problem_missing.n_queries


def test_registry_load_dispatches_a_path(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score\nq1,a,1\n")
    assert load(str(path)).n_queries == 1


# ----------------------------------------------------------------------------- errors


def test_error_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="No file at"):
        load_long(tmp_path / "absent.csv")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_error_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(SchemaError, match=r"is empty \(0 bytes\)"):
        load_long(path)


def test_error_header_only(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score\n")
    with pytest.raises(SchemaError, match="has a header but no rows"):
        load_long(path)


def test_error_header_only_parquet(tmp_path: Path) -> None:
    path = write(pd.DataFrame({"query_id": [], "model": [], "score": []}), tmp_path / "none.parquet")
    with pytest.raises(SchemaError, match="has a header but no rows"):
        load_long(path)


def test_error_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "scores.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(SchemaError, match=r"unsupported suffix '\.xlsx'") as err:
        load_long(path)
    for suffix in (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".csv.gz"):
        assert suffix in str(err.value)
    assert set(SUPPORTED_SUFFIXES) >= {".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".csv.gz"}


def test_error_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(SchemaError, match="could not be read as parquet"):
        load_long(path)


@pytest.mark.parametrize(
    ("header", "column", "option"),
    [
        ("query_id,llm,score", "model", "model_col='llm'"),
        ("id,model,score", "query_id", "query_col='id'"),
        ("query_id,model,accuracy", "score", "score_col='accuracy'"),
        ("query_id,modle,score", "model", "model_col='modle'"),
    ],
)
def test_error_required_column_missing(tmp_path: Path, header: str, column: str, option: str) -> None:
    path = write_csv(tmp_path, f"{header}\nq1,a,1\n")
    with pytest.raises(SchemaError) as err:
        load_long(path)
    message = str(err.value)
    assert f"column {column!r} not found" in message
    assert f"columns are {header.split(',')}" in message
    assert option in message


def test_error_explicit_optional_column_missing(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score,usd\nq1,a,1,0.1\n")
    with pytest.raises(SchemaError, match=r"column 'price' not found.*pass --cost-col usd \(Python: cost_col="):
        load_long(path, cost_col="price")


def test_error_score_outside_unit_interval(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score\nq1,a,1\nq2,gpt-x,7\n")
    with pytest.raises(SchemaError) as err:
        load_long(path)
    message = str(err.value)
    for fragment in ("7.0", "'q2'", "'gpt-x'", "row 2", "outside [0, 1]", "score_scale="):
        assert fragment in message


def test_error_score_outside_declared_scale(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score\nq1,a,11\n")
    with pytest.raises(SchemaError, match=r"outside \[1, 10\].*widen score_scale"):
        load_long(path, score_scale=(1, 10))
    with pytest.raises(SchemaError, match="finite lo < hi"):
        load_long(path, score_scale=(10, 1))


def test_error_negative_cost(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score,cost\nq1,a,1,0.5\nq1,b,0,-0.25\n")
    with pytest.raises(
        SchemaError, match=r"cost must be a finite number >= 0\. Got -0\.25 \(query 'q1', model 'b', row 2\)"
    ):
        load_long(path)


def test_error_missing_cost_on_scored_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score,cost\nq1,a,1,0.5\nq1,b,0,\n")
    with pytest.raises(SchemaError, match=r"cost is empty .*row 2.*cost_col=None"):
        load_long(path)


def test_error_non_numeric_score(tmp_path: Path) -> None:
    rows = "".join(f"q{i},m,{'abc' if i == 7 else 1}\n" for i in range(1, 10))
    path = write_csv(tmp_path, "query_id,model,score\n" + rows)
    with pytest.raises(SchemaError) as err:
        load_long(path)
    assert "Got 'abc' at row 7" in str(err.value)
    assert "column 'score' must hold numbers" in str(err.value)


def test_error_empty_query_id(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score\nq1,a,1\n,a,0\n")
    with pytest.raises(SchemaError, match="column 'query_id' is empty at row 2"):
        load_long(path)


def test_error_bad_flag(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score,truncated\nq1,a,1,maybe\n")
    with pytest.raises(SchemaError, match=r"column 'truncated' must be true/false.*Got 'maybe' at row 1"):
        load_long(path)


def test_error_conflicting_duplicates(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score\nq1,a,1\nq2,a,0\nq1,a,0\n")
    with pytest.raises(SchemaError) as err:
        load_long(path)
    message = str(err.value)
    for fragment in ("query 'q1' and model 'a'", "rows [1, 3]", "score: [1.0, 0.0]", "one row per (query, model)"):
        assert fragment in message


@pytest.mark.parametrize("column", ["text", "source", "split"])
def test_error_per_query_column_disagrees(tmp_path: Path, column: str) -> None:
    values = {"text": ("hello", "bye"), "source": ("mmlu", "gsm8k"), "split": ("train", "test")}[column]
    path = write_csv(
        tmp_path,
        f"query_id,model,score,{column}\nq1,a,1,{values[0]}\nq1,b,0,{values[1]}\n",
    )
    with pytest.raises(SchemaError) as err:
        load_long(path)
    message = str(err.value)
    assert f"column {column!r} disagrees between rows of query 'q1'" in message
    assert f"row 1 has {values[0]!r}" in message and f"row 2 has {values[1]!r}" in message


def test_error_unknown_split(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score,split\nq1,a,1,holdout\n")
    with pytest.raises(SchemaError, match="split 'holdout' is not a known split; use one of train, val, test, ood"):
        load_long(path)


def test_error_per_query_column_empty_for_a_query(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score,text\nq1,a,1,hi\nq2,a,1,\n")
    with pytest.raises(SchemaError, match="column 'text' is empty on every row of query 'q2'"):
        load_long(path)


def test_errors_are_never_pandas_errors(tmp_path: Path) -> None:
    """A malformed CSV (ragged rows) is reported as a SchemaError, not a pandas ParserError."""
    path = write_csv(tmp_path, 'query_id,model,score\nq1,a,1\nq2,"b,0\n')
    with pytest.raises(SchemaError):
        load_long(path)


def test_missing_score_column_suggested_by_content_with_cli_flag(tmp_path: Path) -> None:
    # 'score' is closer in spelling to 'source' than to 'correct'; the values decide.
    rows = "".join(f"q{i},{m},{'math' if i % 2 else 'code'},{(i * 37) % 101}\n" for i in range(6) for m in "ab")
    path = write_csv(tmp_path, "qid,llm,source,correct\n" + rows)
    with pytest.raises(SchemaError) as err:
        load_long(path, query_col="qid", model_col="llm")
    assert "pass --score-col correct (Python: score_col='correct')" in str(err.value)
    with pytest.raises(SchemaError) as err:
        load_long(path, query_col="qid", score_col="correct", score_scale=(0, 100))
    assert "pass --model-col llm" in str(err.value)
    with pytest.raises(SchemaError) as err:
        load_long(path, model_col="llm", score_col="correct", score_scale=(0, 100))
    assert "pass --query-col qid" in str(err.value)


def test_out_of_range_score_names_the_cli_flag(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score\nq1,a,80\n")
    with pytest.raises(SchemaError, match=r"--score-scale 100 for percentages"):
        load_long(path)


def test_prices_cost_from_tokens(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "query_id,model,score,tokens_in,tokens_out\nq1,a,1,1000,200\nq1,b,0,500,\nq2,a,0,10,10\n"
    )
    data = load_long(path, prices={"a": (1.0, 4.0), "b": (2.0, 8.0), "zz": (1.0, 1.0)})
    assert data.cost_unit == "usd"
    np.testing.assert_allclose(data.cost[:, 0], [(1000 * 1 + 200 * 4) / 1e6, (10 + 40) / 1e6])
    assert data.cost[0, 1] == pytest.approx(500 * 2 / 1e6)
    assert np.isnan(data.cost[1, 1])
    assert any("'zz'" in w for w in data.meta["warnings"])


def test_prices_given_as_a_file_path_are_read_not_iterated(tmp_path: Path) -> None:
    """A sweep config's `options: {prices: prices.yaml}` passes a string: it names a file, not 11 models."""
    path = write_csv(tmp_path, "query_id,model,score,tokens_in,tokens_out\nq1,a,1,1000,200\nq1,b,0,500,100\n")
    (tmp_path / "prices.yaml").write_text("a: [1.0, 4.0]\nb: [2.0, 8.0]\n")
    for given in (str(tmp_path / "prices.yaml"), tmp_path / "prices.yaml"):
        data = load_long(path, prices=given)
        np.testing.assert_allclose(data.cost[0], [(1000 + 800) / 1e6, (1000 + 800) / 1e6])
    with pytest.raises(SchemaError, match="prices must be a mapping"):
        load_long(path, prices=[("a", 1.0)])  # type: ignore[arg-type]


def test_prices_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "query_id,model,score,tokens_in,tokens_out\nq1,a,1,1,2\nq1,b,0,1,2\n")
    with pytest.raises(SchemaError, match=r"'b' have token counts but no price.*\"b\": \[IN, OUT\]"):
        load_long(path, prices={"a": (1.0, 1.0)})
    with_cost = write_csv(tmp_path, "query_id,model,score,cost\nq1,a,1,0.1\n")
    with pytest.raises(SchemaError, match=r"has a cost column 'cost'.*--cost-col none"):
        load_long(with_cost, prices={"a": (1.0, 1.0)})
    no_tokens = write_csv(tmp_path, "query_id,model,score\nq1,a,1\n")
    with pytest.raises(SchemaError, match=r"no tokens_in/tokens_out"):
        load_long(no_tokens, prices={"a": (1.0, 1.0)})
