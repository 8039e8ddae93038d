"""RoutingData: validation on construction, views, and the Parquet round trip."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from routerlab.data import SCHEMA_VERSION, ModelInfo, RoutingData, read_parquet, write_parquet
from routerlab.data.schema import OPTIONAL_MATRICES
from routerlab.errors import DataNotFoundError, SchemaError
from tests.conftest import make_routing_problem


def tiny(**overrides: Any) -> RoutingData:
    """A valid 3-query x 3-model dataset; ``overrides`` replace constructor arguments."""
    kwargs: dict[str, Any] = {
        "name": "tiny",
        "query_ids": ["q0", "q1", "q2"],
        "sources": ["a", "b", "a"],
        "splits": ["train", "val", "test"],
        "models": (ModelInfo("small"), ModelInfo("medium"), ModelInfo("large")),
        "Y": [[0.0, 1.0, 1.0], [1.0, np.nan, 0.5], [0.0, 0.0, 1.0]],
        "cost": [[0.1, 1.0, 10.0], [0.2, np.nan, 20.0], [0.3, 3.0, 30.0]],
        "cost_unit": "usd",
    }
    kwargs.update(overrides)
    return RoutingData(**kwargs)


def rich() -> RoutingData:
    """A dataset using every optional field, with NaN, -0.0 and None in awkward places."""
    Y = np.array([[0.0, 1.0, np.nan], [0.25, -0.0, 1.0], [np.nan, 0.5, 0.75], [1.0, 1.0, 0.0]])
    cost = np.array([[1e-9, 2.5, np.nan], [0.1, 0.2, 0.3], [np.inf, 0.0, 1e12], [3.0, 2.0, 1.0]])
    return RoutingData(
        name="rich",
        query_ids=["a", "b", "c", "d"],
        sources=["s1", "s1", "s2", "s2"],
        categories=["c1", "c2", "c3", "c1"],
        splits=["train", "val", "test", "ood"],
        texts=["What is 2+2?", "ünïcödé ✓", "", "line\nbreak"],
        gold=["4", None, "x", None],
        models=(
            ModelInfo("m-a", family="fam", params_b=7.0, input_price=0.1, output_price=0.2, provider_id="p/a"),
            ModelInfo("m-b"),
            ModelInfo("m-c", params_b=70.5),
        ),
        Y=Y,
        cost=cost,
        cost_unit="usd",
        raw_score=[[0.0, 2.0, np.nan], [1.0, 0.0, 2.0], [np.nan, 1.0, 1.5], [2.0, 2.0, 0.0]],
        tokens_in=[[10, 11, 12], [1, 2, 3], [4, 5, 6], [7, 8, 9]],
        latency_s=[[0.5, np.nan, 1.25], [0.1, 0.2, 0.3], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]],
        truncated=[[True, False, False], [False, False, True], [False, True, False], [False, False, False]],
        parsed=[[1, 1, 0], [0, 1, 1], [1, 1, 1], [0, 0, 0]],
        meta={"raw_score": "judge 0/1/2", "nested": {"k": [1, 2.5, None]}},
    )


# ---------------------------------------------------------------------------------------- validation


def test_valid_construction_converts_and_freezes() -> None:
    d = tiny()
    assert d.Y.dtype == np.float64 and d.cost.dtype == np.float64
    assert d.Y.shape == (3, 3) and d.n_queries == 3 and d.n_models == 3
    assert list(d.categories) == ["a", "b", "a"]  # defaults to sources
    np.testing.assert_array_equal(d.observed, ~np.isnan(np.asarray(tiny().Y)))
    with pytest.raises(ValueError, match="read-only"):
        d.Y[0, 0] = 0.5


def test_score_outside_unit_interval_names_cell_and_value() -> None:
    Y = [[0.0, 1.0, 1.0], [1.0, np.nan, 1.5], [0.0, 0.0, 1.0]]
    with pytest.raises(SchemaError) as info:
        tiny(Y=Y)
    msg = str(info.value)
    assert "Y[1, 'large']" in msg
    assert "query 'q1'" in msg
    assert "Got 1.5." in msg  # the plain value, not a numpy repr
    assert "raw_score" in msg and "NaN" in msg  # how to fix it


def test_negative_score_rejected() -> None:
    with pytest.raises(SchemaError, match=re.escape("Y[0, 'small'] (query 'q0') must be in [0, 1]. Got -0.1.")):
        tiny(Y=[[-0.1, 1.0, 1.0], [1.0, np.nan, 0.5], [0.0, 0.0, 1.0]])


def test_negative_cost_names_cell_and_value() -> None:
    cost = [[0.1, 1.0, 10.0], [0.2, np.nan, 20.0], [0.3, -0.3, 30.0]]
    with pytest.raises(SchemaError, match=re.escape("cost[2, 'medium'] (query 'q2') must be >= 0. Got -0.3.")):
        tiny(cost=cost)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_score_rejected(value: float) -> None:
    with pytest.raises(SchemaError) as info:
        tiny(Y=[[0.0, 1.0, 1.0], [1.0, np.nan, 0.5], [value, 0.0, 1.0]])
    msg = str(info.value)
    assert "Y[2, 'small']" in msg and "infinite" in msg and "NaN for no outcome" in msg


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_missing_cost_where_outcome_observed(bad: float) -> None:
    with pytest.raises(SchemaError) as info:
        tiny(cost=[[0.1, 1.0, 10.0], [bad, np.nan, 20.0], [0.3, 3.0, 30.0]])
    msg = str(info.value)
    assert "cost[1, 'small']" in msg and "missing or infinite" in msg and "proxy unit" in msg


def test_missing_cost_allowed_where_outcome_missing() -> None:
    d = tiny()  # cost[1, 'medium'] is NaN and so is Y[1, 'medium']
    assert np.isnan(d.cost[1, 1]) and not d.observed[1, 1]


def test_duplicate_query_ids_name_id_and_rows() -> None:
    with pytest.raises(SchemaError) as info:
        tiny(query_ids=["q0", "dup", "dup"])
    msg = str(info.value)
    assert "'dup'" in msg and "2 times" in msg and "rows [1, 2]" in msg and "unique" in msg


@pytest.mark.parametrize(
    ("field", "value", "shape"),
    [("Y", np.zeros((3, 2)), "(3, 2)"), ("cost", np.zeros((2, 3)), "(2, 3)"), ("Y", np.zeros(9), "(9,)")],
)
def test_wrong_matrix_shape(field: str, value: np.ndarray, shape: str) -> None:
    with pytest.raises(SchemaError) as info:
        tiny(**{field: value})
    msg = str(info.value)
    assert msg.startswith(f"{field} has shape {shape}")
    assert "3 queries and 3 models" in msg and "one column per model" in msg


def test_wrong_optional_matrix_shape() -> None:
    with pytest.raises(SchemaError, match=r"truncated has shape \(3, 1\)"):
        tiny(truncated=np.zeros((3, 1), dtype=bool))


def test_unknown_split_name() -> None:
    with pytest.raises(SchemaError) as info:
        tiny(splits=["train", "training", "test"])
    msg = str(info.value)
    assert "splits[1] = 'training'" in msg and "train, val, test, ood" in msg


def test_non_string_text() -> None:
    with pytest.raises(SchemaError) as info:
        tiny(texts=["ok", 3.5, "ok"])
    msg = str(info.value)
    assert "texts[1] must be a string" in msg and "3.5 (float)" in msg and "every entry must be text" in msg


def test_gold_none_allowed_but_not_floats() -> None:
    assert tiny(gold=["a", None, "c"]).gold[1] is None
    with pytest.raises(SchemaError, match=r"gold\[2\] must be a string.*use None for a missing value"):
        tiny(gold=["a", None, 1.0])


def test_text_column_length_mismatch() -> None:
    with pytest.raises(SchemaError, match="sources has 2 entries but there are 3 queries"):
        tiny(sources=["a", "b"])


def test_duplicate_model_names() -> None:
    with pytest.raises(SchemaError, match="models has the name 'small' more than once; model names must be unique"):
        tiny(models=(ModelInfo("small"), ModelInfo("medium"), ModelInfo("small")))


def test_empty_model_pool_and_non_modelinfo() -> None:
    with pytest.raises(SchemaError, match="at least one model"):
        tiny(models=(), Y=np.zeros((3, 0)), cost=np.zeros((3, 0)))
    with pytest.raises(SchemaError, match=r"models\[1\] must be a ModelInfo.*ModelInfo\(name=\.\.\.\)"):
        tiny(models=(ModelInfo("a"), "b", ModelInfo("c")))


@pytest.mark.parametrize("attr", ["input_price", "output_price", "params_b"])
def test_modelinfo_negative_price(attr: str) -> None:
    with pytest.raises(SchemaError) as info:
        ModelInfo("gpt-x", **{attr: -1.0})
    msg = str(info.value)
    assert f"ModelInfo('gpt-x').{attr}" in msg and ">= 0 or None" in msg and "-1.0" in msg


def test_modelinfo_infinite_price_and_empty_name() -> None:
    with pytest.raises(SchemaError, match="finite"):
        ModelInfo("m", input_price=float("inf"))
    with pytest.raises(SchemaError, match="non-empty string"):
        ModelInfo("  ")


def test_meta_must_be_json() -> None:
    with pytest.raises(SchemaError, match="JSON-serialisable"):
        tiny(meta={"bad": object()})


def test_cost_unit_required() -> None:
    with pytest.raises(SchemaError, match="cost_unit must name the unit"):
        tiny(cost_unit="")


# ---------------------------------------------------------------------------------------- views


def test_subset_by_index_and_mask() -> None:
    d = rich()
    s = d.subset([2, 0])
    assert list(s.query_ids) == ["c", "a"]
    assert list(s.gold) == ["x", "4"] and list(s.texts) == ["", "What is 2+2?"]
    np.testing.assert_array_equal(s.Y, d.Y[[2, 0]])
    np.testing.assert_array_equal(s.cost, d.cost[[2, 0]])
    for attr in OPTIONAL_MATRICES:
        value = getattr(d, attr)
        if value is not None:
            np.testing.assert_array_equal(getattr(s, attr), value[[2, 0]])
    assert s.models == d.models and s.meta == d.meta
    m = d.subset(np.array([False, True, False, True]))
    assert list(m.query_ids) == ["b", "d"] and list(m.splits) == ["val", "ood"]
    with pytest.raises(SchemaError, match="boolean row mask must have length 4"):
        d.subset(np.array([True, False]))


def test_split_selects_and_rejects_unknown() -> None:
    d = make_routing_problem(50)
    train_val = d.split("train", "val")
    assert set(train_val.splits) == {"train", "val"}
    assert train_val.n_queries == 40 and d.split("test").n_queries == 10
    assert d.split_sizes() == {"train": 30, "val": 10, "test": 10}
    with pytest.raises(SchemaError, match="Unknown split 'tset'; use one of train, val, test, ood"):
        d.split("tset")


def test_select_models_reorders_every_matrix() -> None:
    d = rich()
    s = d.select_models(["m-c", "m-a"])
    assert s.model_names == ["m-c", "m-a"]
    assert s.models == (d.models[2], d.models[0])
    for attr in ("Y", "cost", *OPTIONAL_MATRICES):
        value = getattr(d, attr)
        if value is None:
            assert getattr(s, attr) is None
        else:
            np.testing.assert_array_equal(getattr(s, attr), value[:, [2, 0]])
    assert list(s.query_ids) == list(d.query_ids)
    # a column keeps its own values wherever it moves
    assert np.array_equal(s.Y[:, s.model_index("m-a")], d.Y[:, 0], equal_nan=True)


def test_without_outcomes_drops_y_and_gold_keeps_cost() -> None:
    d = rich()
    v = d.without_outcomes()
    assert np.isnan(v.Y).all() and not v.observed.any()
    assert v.gold is None
    for attr in OPTIONAL_MATRICES:
        assert getattr(v, attr) is None
    assert v.cost.tobytes() == d.cost.tobytes()
    assert list(v.texts) == list(d.texts) and list(v.query_ids) == list(d.query_ids)
    assert v.models == d.models and v.cost_unit == d.cost_unit
    assert not np.isnan(d.Y).all()  # the original is untouched


def test_model_index_suggests_close_name() -> None:
    d = tiny()
    assert d.model_index("large") == 2
    with pytest.raises(SchemaError) as info:
        d.model_index("medum")
    msg = str(info.value)
    assert "No model column 'medum'" in msg and "Did you mean 'medium'?" in msg and "small, medium, large" in msg
    with pytest.raises(SchemaError) as info:
        d.model_index("zzzzzz")
    assert "Did you mean" not in str(info.value)


def test_summaries_ignore_missing_cells() -> None:
    d = tiny()
    np.testing.assert_allclose(d.mean_quality(), [1 / 3, 0.5, 2.5 / 3])
    np.testing.assert_allclose(d.mean_cost(), [0.2, 2.0, 20.0])
    np.testing.assert_allclose(d.coverage(), [1.0, 2 / 3, 1.0])


def test_with_splits_validates() -> None:
    d = tiny()
    assert list(d.with_splits(["test", "test", "train"]).splits) == ["test", "test", "train"]
    with pytest.raises(SchemaError, match="not a known split"):
        d.with_splits(["test", "bogus", "train"])


# ---------------------------------------------------------------------------------------- Parquet


def assert_identical(a: RoutingData, b: RoutingData) -> None:
    assert a.name == b.name and a.cost_unit == b.cost_unit
    assert a.models == b.models
    assert dict(a.meta) == dict(b.meta)
    for attr in ("Y", "cost", *OPTIONAL_MATRICES):
        x, y = getattr(a, attr), getattr(b, attr)
        if x is None:
            assert y is None, attr
            continue
        assert x.dtype == y.dtype, attr
        assert x.shape == y.shape, attr
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), attr
        assert x.tobytes() == y.tobytes(), attr  # bit for bit: NaN payloads and -0.0 included
    for attr in ("query_ids", "sources", "categories", "splits", "texts", "gold"):
        x, y = getattr(a, attr), getattr(b, attr)
        if x is None:
            assert y is None, attr
            continue
        assert x.dtype == y.dtype, attr
        assert x.tolist() == y.tolist(), attr


def test_parquet_round_trip_bit_for_bit(tmp_path: Path) -> None:
    d = rich()
    path = write_parquet(d, tmp_path / "sub" / "rich.parquet")
    assert path.is_file() and not list(tmp_path.rglob(".tmp-*"))
    back = read_parquet(path)
    assert_identical(d, back)
    assert back.gold[1] is None and back.gold[3] is None
    assert np.signbit(back.Y[1, 1])  # -0.0 survives


def test_parquet_round_trip_keeps_nan_payload(tmp_path: Path) -> None:
    Y = np.array(tiny().Y)
    payload_nan = np.array([0x7FF8000000000123], dtype=np.uint64).view(np.float64)[0]
    Y[1, 1] = payload_nan
    d = tiny(Y=Y)
    back = read_parquet(write_parquet(d, tmp_path / "t.parquet"))
    assert back.Y.view(np.uint64)[1, 1] == 0x7FF8000000000123
    assert_identical(d, back)


def test_parquet_round_trip_synthetic_with_missing(tmp_path: Path) -> None:
    d = make_routing_problem(60, 5, seed=3, missing=0.2, binary=False)
    assert_identical(d, read_parquet(write_parquet(d, tmp_path / "s.parquet")))


def test_read_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"No RoutingData file at .*nope\.parquet"):
        read_parquet(tmp_path / "nope.parquet")
    with pytest.raises(FileNotFoundError):  # DataNotFoundError is also a FileNotFoundError
        read_parquet(tmp_path / "nope.parquet")


def test_read_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.parquet"
    p.write_bytes(b"")
    with pytest.raises(SchemaError, match=r"is empty \(0 bytes\); re-create it with routerlab.data.write_parquet\(\)"):
        read_parquet(p)


def test_read_non_parquet(tmp_path: Path) -> None:
    p = tmp_path / "data.parquet"
    p.write_text("query_id,model,score\nq1,m1,1\n")
    with pytest.raises(SchemaError, match="is not a readable Parquet file"):
        read_parquet(p)


def test_read_parquet_without_routerlab_metadata(tmp_path: Path) -> None:
    p = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"query_id": ["q1"], "model": ["m1"], "score": [1.0]}), p)
    with pytest.raises(SchemaError) as info:
        read_parquet(p)
    msg = str(info.value)
    assert "not a routerlab dataset" in msg and "load_long" in msg


def _rewrite_meta(path: Path, transform: Any) -> None:
    table = pq.read_table(path)
    raw = table.schema.metadata[b"routerlab"]
    table = table.replace_schema_metadata({b"routerlab": transform(raw)})
    pq.write_table(table, path)


def test_read_wrong_schema_version(tmp_path: Path) -> None:
    p = write_parquet(tiny(), tmp_path / "v.parquet")

    def bump(raw: bytes) -> bytes:
        meta = json.loads(raw)
        meta["schema_version"] = SCHEMA_VERSION + 98
        return json.dumps(meta).encode()

    _rewrite_meta(p, bump)
    with pytest.raises(SchemaError) as info:
        read_parquet(p)
    msg = str(info.value)
    assert f"schema_version {SCHEMA_VERSION + 98}" in msg and f"reads version {SCHEMA_VERSION}" in msg
    assert "Upgrade routerlab or re-create the file" in msg


def test_read_corrupt_routerlab_metadata(tmp_path: Path) -> None:
    p = write_parquet(tiny(), tmp_path / "c.parquet")
    _rewrite_meta(p, lambda raw: b"{not json")
    with pytest.raises(SchemaError, match="unreadable 'routerlab' metadata"):
        read_parquet(p)


def test_read_file_missing_a_required_column(tmp_path: Path) -> None:
    p = write_parquet(tiny(), tmp_path / "m.parquet")
    table = pq.read_table(p)
    pq.write_table(table.drop_columns(["cost"]), p)
    with pytest.raises(SchemaError, match=r"lacks the column\(s\) \['cost'\]"):
        read_parquet(p)


def test_read_revalidates_content(tmp_path: Path) -> None:
    """A file edited outside routerlab is validated like any construction."""
    p = write_parquet(tiny(), tmp_path / "bad.parquet")
    table = pq.read_table(p)
    flat = pa.array([2.0] * 9, type=pa.float64())
    table = table.set_column(table.column_names.index("Y"), "Y", pa.FixedSizeListArray.from_arrays(flat, 3))
    pq.write_table(table, p)
    with pytest.raises(SchemaError, match=re.escape("Y[0, 'small'] (query 'q0') must be in [0, 1]. Got 2.0.")):
        read_parquet(p)
