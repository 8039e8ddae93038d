"""The public-benchmark loaders on the real files, the shipped mini dataset, and clear errors on bad files.

Expected numbers are those measured on the files described in each dataset's SOURCE.md.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from routerlab.data import RoutingData, load, read_parquet, write_parquet
from routerlab.data.loaders._common import model_family, params_from_text
from routerlab.errors import DataNotFoundError, SchemaError
from tests.conftest import SHARED_DATA, assert_identical

DCROUTER, ROUTERDC, ROUTERBENCH = "llmrouter-dcrouter", "routerdc-7models", "routerbench-0shot-subset"
PUBLIC = (DCROUTER, ROUTERDC, ROUTERBENCH)


def _folder(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent; set ROUTERLAB_SHARED_DATA to the shared data folder to run real-data tests")
    return folder


@pytest.fixture(scope="module")
def loaded() -> Callable[[str], RoutingData]:
    """Each public dataset loaded once per module (default options)."""
    cache: dict[str, RoutingData] = {}

    def get(name: str) -> RoutingData:
        if name not in cache:
            cache[name] = load(name, path=_folder(name))
        return cache[name]

    return get


# ---------------------------------------------------------------------------------------------- all three
@pytest.mark.parametrize("name", PUBLIC)
def test_quality_in_unit_interval_or_missing(loaded: Callable[[str], RoutingData], name: str) -> None:
    d = loaded(name)
    y = d.Y[d.observed]
    assert ((y >= 0) & (y <= 1)).all()
    assert np.isfinite(d.cost[d.observed]).all() and (d.cost[d.observed] >= 0).all()
    assert d.meta["homepage"].startswith("https://github.com/") and len(d.meta["commit"]) == 40
    assert d.meta["license"] and d.meta["split_method"]


@pytest.mark.parametrize("name", PUBLIC)
def test_loading_twice_is_identical(loaded: Callable[[str], RoutingData], name: str) -> None:
    assert_identical(loaded(name), load(name, path=_folder(name)))


@pytest.mark.parametrize("name", PUBLIC)
def test_val_carving_leaves_public_test_split_alone(loaded: Callable[[str], RoutingData], name: str) -> None:
    d = loaded(name)
    other = load(name, path=_folder(name), val_fraction=0.3, seed=7)
    assert other.query_ids.tolist() == d.query_ids.tolist()
    for split in ("test", "ood"):
        assert other.query_ids[other.splits == split].tolist() == d.query_ids[d.splits == split].tolist()
    train_like = np.isin(d.splits, ["train", "val"])
    assert np.array_equal(train_like, np.isin(other.splits, ["train", "val"]))
    assert 0.05 < (d.splits == "val").sum() / train_like.sum() < 0.15
    assert 0.25 < (other.splits == "val").sum() / train_like.sum() < 0.35


@pytest.mark.parametrize("name", PUBLIC)
def test_parquet_round_trip_is_bit_for_bit(loaded: Callable[[str], RoutingData], name: str, tmp_path: Path) -> None:
    d = loaded(name)
    assert_identical(d, read_parquet(write_parquet(d, tmp_path / "x.parquet")))


# ---------------------------------------------------------------------------------------------- dcrouter
def test_dcrouter_shapes_joins_and_costs(loaded: Callable[[str], RoutingData]) -> None:
    d = loaded(DCROUTER)
    folder = _folder(DCROUTER)
    train = json.loads((folder / "train.json").read_text())
    test = json.loads((folder / "test.json").read_text())
    assert d.n_queries == len(train) + len(test) == 5608 + 500
    assert d.split_sizes()["test"] == 500
    assert d.split_sizes()["train"] + d.split_sizes()["val"] == 5608
    assert d.model_names == list(train[0]["scores"])  # the key order of the first train row
    assert d.n_models == 9 and d.coverage().min() == 1.0
    # every question joined with its task; 14 tasks; the public test file has 10 of them
    assert d.meta["unjoined"] == 0 and "unknown" not in set(d.sources)
    assert len(set(d.sources)) == 14 and len(set(d.sources[d.splits == "test"])) == 10
    assert d.categories.tolist() == d.sources.tolist()
    assert all(g is not None for g in d.gold)
    assert d.meta["repeated_texts_in_query_files"] == {"query_train.jsonl": 8, "query_test.jsonl": 0}
    # 119 test questions also appear in train: kept, with '-test' ids, and listed
    dup = d.meta["duplicates"]
    assert dup["count"] == dup["train_test_overlap"] == 119 and dup["within_file"] == 0
    assert all(i.endswith("-test") for i in dup["ids"])
    assert set(d.texts[d.splits == "test"]) == {r["question"] for r in test}
    # cost: a per-model price proxy, constant across queries
    assert d.cost_unit == "usd_per_1m_tokens"
    for j, m in enumerate(d.models):
        assert m.input_price is not None and m.output_price is not None and m.provider_id
        assert np.all(d.cost[:, j] == (m.input_price + m.output_price) / 2)
    assert {m.family for m in d.models} == {"llama", "qwen", "mistral", "gemma"}
    frac = d.Y[(d.Y > 0) & (d.Y < 1)]
    assert frac.size > 0  # F1/coverage-style scores stay fractional


def test_dcrouter_can_drop_train_copies_of_test_questions(loaded: Callable[[str], RoutingData]) -> None:
    d = load(DCROUTER, path=_folder(DCROUTER), drop_train_test_overlap=True)
    assert d.n_queries == 6108 - 119 and d.meta["dropped_train_test_overlap"] == 119
    assert not set(d.texts[d.splits != "test"]) & set(d.texts[d.splits == "test"])
    assert (
        d.query_ids[d.splits == "test"].tolist()
        == loaded(DCROUTER).query_ids[loaded(DCROUTER).splits == "test"].tolist()
    )


# ---------------------------------------------------------------------------------------------- routerdc
def test_routerdc_shapes_and_splits(loaded: Callable[[str], RoutingData]) -> None:
    d = loaded(ROUTERDC)
    folder = _folder(ROUTERDC)
    lengths = {p.name: len(json.loads(p.read_text())) for p in folder.glob("*.json")}
    assert len(lengths) == 16 and d.n_queries == sum(lengths.values()) == 20600
    sizes = d.split_sizes()
    assert sizes["train"] + sizes["val"] == 7598 and sizes["test"] == 10121 and sizes["ood"] == 2881
    assert set(d.sources[d.splits == "ood"]) == {"math_prealgebra", "ceval", "javascript", "mbpp"}
    expected_test = {
        f"{p.stem.replace('-test', '').replace('_test', '')}-test-{i}"
        for p in folder.glob("*test.json")
        for i in range(lengths[p.name])
    }
    assert set(d.query_ids[d.splits == "test"]) == expected_test
    assert d.model_names == [
        "Mistral-7B-v0.1", "MetaMath-Mistral-7B", "Chinese-Mistral-7B-v0.1", "zephyr-7b-beta",
        "dolphin-2.6-mistral-7b", "Meta-Llama-3-8B", "dolphin-2.9-llama3-8b",
    ]  # fmt: skip
    assert [m.params_b for m in d.models] == [7.0] * 5 + [8.0] * 2
    assert d.cost_unit == "params_b" and np.all(d.cost == np.array([m.params_b for m in d.models]))
    assert d.meta["clipped_cells"] == 0 and d.meta["missing_cells"] == 0 and d.coverage().min() == 1.0
    assert d.meta["duplicates"]["within_file"] == 11 and d.meta["duplicates"]["texts_in_several_files"] == 24
    mmlu = d.Y[d.sources == "mmlu"]
    assert ((mmlu > 0) & (mmlu < 1)).mean() > 0.5  # choice probabilities are kept continuous


# ---------------------------------------------------------------------------------------------- routerbench
def test_routerbench_shapes_missing_cells_and_costs(loaded: Callable[[str], RoutingData]) -> None:
    d = loaded(ROUTERBENCH)
    folder = _folder(ROUTERBENCH)
    frames = {p.name: pd.read_csv(p) for p in folder.glob("*.csv")}
    assert d.n_queries == sum(len(f) for f in frames.values()) == 3178
    assert d.n_models == 11 and d.cost_unit == "usd"
    assert d.split_sizes()["test"] == sum(len(f) for n, f in frames.items() if n.endswith("_test.csv")) == 953
    assert set(d.sources) == {"arc-challenge", "mbpp", "winogrande"}
    arc_train = (d.sources == "arc-challenge") & (d.splits != "test")
    assert np.isnan(d.Y[arc_train]).sum() == 92 == d.meta["missing_cells"]["arc_challenge_train.csv"]
    assert np.isnan(d.Y).sum() == 154 and np.isfinite(d.cost).all()
    # the 14 sample_ids RouterBench split over two rows get '#row' ids; each row keeps its own outcomes
    split_ids = [r["id"] for r in d.meta["split_rows"]]
    assert len(split_ids) == 28 and all("#" in i for i in split_ids)
    test_sids = {s for n, f in frames.items() if n.endswith("_test.csv") for s in f["sample_id"]}
    assert {i.split("#")[0] for i in d.query_ids[d.splits == "test"]} == test_sids
    assert all(m.input_price is None and m.output_price is None for m in d.models)
    assert [m.family for m in d.models].count("claude") == 3


# ---------------------------------------------------------------------------------------------- shipped mini
def test_mini_loads_from_package_data_with_licence_and_provenance() -> None:
    d = load("routerlab-mini")
    assert d.name == "routerlab-mini" and d.n_queries == 1200 and d.n_models == 9
    assert set(d.splits) == {"train", "val", "test"}
    assert d.meta["license"] == "MIT" and "U Lab @UIUC" in d.meta["copyright"]
    assert d.meta["derived_from"] == DCROUTER and len(d.meta["commit"]) == 40
    shipped = resources.files("routerlab.data").joinpath("shipped")
    assert "MIT License" in shipped.joinpath("LICENSE").read_text()
    assert "4e7a796942ce26e9d5f2b93191c7c2585c99c2e3" in shipped.joinpath("PROVENANCE.md").read_text()
    parquet = shipped.joinpath("routerlab-mini.parquet")
    with resources.as_file(parquet) as path:
        assert path.stat().st_size < 2_000_000
    # made without train copies of test questions
    assert not set(d.texts[d.splits != "test"]) & set(d.texts[d.splits == "test"])


def test_mini_matches_its_source(loaded: Callable[[str], RoutingData]) -> None:
    mini = load("routerlab-mini")
    full = loaded(DCROUTER)
    pos = {q: i for i, q in enumerate(full.query_ids)}
    rows = np.array([pos[q] for q in mini.query_ids])
    assert np.array_equal(full.Y[rows], mini.Y, equal_nan=True)
    assert full.texts[rows].tolist() == mini.texts.tolist()
    assert full.splits[rows].tolist() == mini.splits.tolist()


def _make_shipped() -> Any:
    """scripts/make_shipped.py as a module (it is a script, not part of the package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "make_shipped.py"
    spec = importlib.util.spec_from_file_location("make_shipped", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dcrouter_ships_every_query_resplit_within_each_task() -> None:
    d = load("routerlab-dcrouter")
    assert d.name == "routerlab-dcrouter" and d.n_queries == 5989 and d.n_models == 9
    assert d.split_sizes() == {"train": 3594, "val": 599, "test": 1796}
    assert d.meta["license"] == "MIT" and d.meta["fractions"] == {"train": 0.6, "val": 0.1, "test": 0.3}
    assert "Not the public split" in d.meta["split_method"]
    with resources.as_file(resources.files("routerlab.data").joinpath("shipped", "routerlab-dcrouter.parquet")) as f:
        assert f.stat().st_size < 2_000_000
    # no question is in two splits, and each task's test share is round(30 %) of its queries
    assert not set(d.texts[d.splits != "test"]) & set(d.texts[d.splits == "test"])
    for source in set(d.sources):
        rows = d.sources == source
        assert (d.splits[rows] == "test").sum() == round(0.3 * rows.sum()), source
        assert (d.splits[rows] == "val").sum() == round(0.1 * rows.sum()), source


def test_dcrouter_split_is_reproduced_by_its_script_whatever_the_row_order() -> None:
    d = load("routerlab-dcrouter")
    resplit = _make_shipped().resplit
    assert resplit(d, d.meta["fractions"], d.meta["seed"]).tolist() == d.splits.tolist()
    perm = np.random.default_rng(0).permutation(d.n_queries)
    assert resplit(d.subset(perm), d.meta["fractions"], d.meta["seed"]).tolist() == d.splits[perm].tolist()
    assert resplit(d, d.meta["fractions"], 1).tolist() != d.splits.tolist()  # the seed matters


def test_dcrouter_matches_its_source(loaded: Callable[[str], RoutingData]) -> None:
    shipped = load("routerlab-dcrouter")
    full = loaded(DCROUTER)
    pos = {q: i for i, q in enumerate(full.query_ids)}
    rows = np.array([pos[q] for q in shipped.query_ids])
    assert np.array_equal(full.Y[rows], shipped.Y, equal_nan=True)
    assert np.array_equal(full.cost[rows], shipped.cost)
    assert full.texts[rows].tolist() == shipped.texts.tolist()
    # every query of the source is kept but the train copies of the 119 test questions
    assert full.n_queries - shipped.n_queries == 119 == full.meta["duplicates"]["train_test_overlap"]


# ---------------------------------------------------------------------------------------------- helpers
@pytest.mark.parametrize(
    ("name", "family", "params"),
    [
        ("qwen2.5-7b-instruct", "qwen", 7.0),
        ("llama-3.3-nemotron-super-49b-v1", "llama", 49.0),
        ("cognitivecomputations/dolphin-2.9-llama3-8b", "llama", 8.0),
        ("HuggingFaceH4/zephyr-7b-beta", "mistral", 7.0),
        ("mistralai/mixtral-8x7b-chat", "mistral", None),
        ("zero-one-ai/Yi-34B-Chat", "yi", 34.0),
        ("gpt-4-1106-preview", "gpt", None),
        ("palmyra-creative-122b", "palmyra", 122.0),
    ],
)
def test_family_and_size_from_name(name: str, family: str, params: float | None) -> None:
    assert model_family(name) == family
    assert params_from_text(name) == params


# ---------------------------------------------------------------------------------------------- tiny inline files
def _write_dcrouter(root: Path, train: list[Any], test: list[Any], queries: list[dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.json").write_text(json.dumps(train))
    (root / "test.json").write_text(json.dumps(test))
    lines = "\n".join(json.dumps(q) for q in queries)
    (root / "query_train.jsonl").write_text(lines)
    (root / "query_test.jsonl").write_text(lines)
    prices = {"a": (0.1, 0.3, "7B"), "b": (1.0, 1.0, "70B")}
    cands = {
        m: {"size": s, "input_price": i, "output_price": o, "model": f"org/{m}"} for m, (i, o, s) in prices.items()
    }
    (root / "llm_candidates.json").write_text(json.dumps(cands))
    return root


def test_dcrouter_handles_literal_scores_missing_models_unjoined_and_duplicates(tmp_path: Path) -> None:
    train = [
        {"question": "q1", "scores": {"a": 1.0, "b": 0.0}},
        {"question": "q2", "scores": "{'a': 0.5}"},  # a Python-literal string, model b missing
        {"question": "orphan", "scores": {"b": 1, "a": 0}},
    ]
    test = [{"question": "q1", "scores": {"a": 0.0, "b": 1.0}}]
    queries = [
        {"task_name": "t1", "query": "q1", "ground_truth": "A", "metric": "em"},
        {"task_name": "t2", "query": "q2", "ground_truth": ["x", 1], "metric": "f1"},
    ]
    d = load(DCROUTER, path=_write_dcrouter(tmp_path / "dc", train, test, queries), val_fraction=0.0)
    assert d.model_names == ["a", "b"]
    assert np.array_equal(d.Y, [[1, 0], [0.5, np.nan], [0, 1], [0, 1]], equal_nan=True)
    assert d.sources.tolist() == ["t1", "t2", "unknown", "t1"] and d.meta["unjoined"] == 1
    assert d.gold.tolist() == ["A", '["x", 1]', None, "A"]
    assert d.query_ids[3] == d.query_ids[0] + "-test" and d.meta["duplicates"]["train_test_overlap"] == 1
    assert np.allclose(d.cost, [[0.2, 1.0]] * 4) and d.models[1].params_b == 70.0
    assert d.meta["metric_by_source"] == {"t1": ["em"], "t2": ["f1"]}


@pytest.mark.parametrize(
    ("file", "content", "match"),
    [
        ("train.json", '[{"question": "q1", "scores": {"a": 1.0', r"train\.json.*not valid JSON"),
        ("train.json", '{"question": "q1"}', r"train\.json.*JSON list"),
        ("train.json", '[{"scores": {"a": 1.0}}]', r"train\.json.*row 0.*'question'"),
        ("test.json", '[{"question": "q1", "scores": "[1, 2"}]', r"test\.json.*row 0.*scores"),
        ("test.json", '[{"question": "q1", "scores": {"a": "high"}}]', r"test\.json.*row 0.*scores\['a'\]"),
        ("query_test.jsonl", '{"task_name": "t1", "query": "q1"}\n{"task_name": ', r"query_test\.jsonl.*line 2"),
        ("llm_candidates.json", '{"a": {"size": "7B", "input_price": 1, "output_price": 1}}', r"'b'.*llm_candidates"),
        ("llm_candidates.json", '{"a": {"input_price": -1, "output_price": 1}, "b": {}}', r"'a'.*'input_price'"),
    ],
)
def test_dcrouter_bad_files_raise_schema_errors_naming_the_file(
    tmp_path: Path, file: str, content: str, match: str
) -> None:
    train = [{"question": "q1", "scores": {"a": 1.0, "b": 0.0}}]
    queries = [{"task_name": "t1", "query": "q1", "ground_truth": "A", "metric": "em"}]
    root = _write_dcrouter(tmp_path / "dc", train, train, queries)
    (root / file).write_text(content)
    with pytest.raises(SchemaError, match=match):
        load(DCROUTER, path=root)


def test_truncated_real_json_names_the_file(tmp_path: Path) -> None:
    src = _folder(DCROUTER)
    root = tmp_path / "dc"
    root.mkdir()
    for p in src.iterdir():
        (root / p.name).symlink_to(p)
    (root / "train.json").unlink()
    text = (src / "train.json").read_text()
    (root / "train.json").write_text(text[: len(text) // 2])
    with pytest.raises(SchemaError, match=r"train\.json.*not valid JSON"):
        load(DCROUTER, path=root)


def _write_routerdc(root: Path, rows: dict[str, list[Any]]) -> Path:
    from routerlab.data.loaders.routerdc import FILES

    root.mkdir(parents=True, exist_ok=True)
    for fname, _, _ in FILES:
        default = [{"question": f"{fname} question", "scores": {"org/m-7B": 1.0, "org/n-8b": 0.0}}]
        (root / fname).write_text(json.dumps(rows.get(fname, default)))
    return root


def test_routerdc_literal_scores_missing_models_and_clipping(tmp_path: Path) -> None:
    rows = {
        "mbpp.json": [
            {"question": "p", "scores": "{'org/m-7B': 0.3, 'org/n-8b': 1.0000000002}"},
            {"question": "p", "scores": {"org/m-7B": 0.7}},
        ]
    }
    d = load(ROUTERDC, path=_write_routerdc(tmp_path / "dc", rows), val_fraction=0.0)
    assert d.n_queries == 17 and d.model_names == ["m-7B", "n-8b"]
    ood = d.split("ood")
    assert ood.query_ids.tolist() == [
        "math_prealgebra-ood-0",
        "ceval-ood-0",
        "javascript-ood-0",
        "mbpp-ood-0",
        "mbpp-ood-1",
    ]
    assert np.array_equal(ood.Y[-2:], [[0.3, 1.0], [0.7, np.nan]], equal_nan=True)
    assert d.meta["clipped_cells"] == 1 and d.meta["missing_cells"] == 1
    assert d.meta["duplicates"]["within_file"] == 1


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        ({"org/m-7B": 1.5, "org/n-8b": 0.0}, r"mbpp\.json.*outside \[0, 1\]"),
        ("{'org/m-7B': __import__('os')}", r"mbpp\.json.*not a dict literal"),
        ({"org/m-7B": True, "org/n-8b": 0.0}, r"mbpp\.json.*must be a number"),
    ],
)
def test_routerdc_bad_scores_raise(tmp_path: Path, scores: Any, match: str) -> None:
    root = _write_routerdc(tmp_path / "dc", {"mbpp.json": [{"question": "p", "scores": scores}]})
    with pytest.raises(SchemaError, match=match):
        load(ROUTERDC, path=root)


def _routerbench_copy(tmp_path: Path, edit: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    """The real files (linked), except ``edit``, rewritten after ``change``."""
    src = _folder(ROUTERBENCH)
    root = tmp_path / "rb"
    root.mkdir()
    for p in src.iterdir():
        if p.name != edit:
            (root / p.name).symlink_to(p)
    change(pd.read_csv(src / edit, dtype=str, keep_default_na=False)).to_csv(root / edit, index=False)
    return root


def test_routerbench_csv_without_a_model_column(tmp_path: Path) -> None:
    root = _routerbench_copy(tmp_path, "mbpp_test.csv", lambda df: df.drop(columns=["claude-v1"]))
    with pytest.raises(SchemaError, match=r"mbpp_test\.csv.*'claude-v1\|total_cost' but no quality column 'claude-v1'"):
        load(ROUTERBENCH, path=root)


def test_routerbench_csv_without_a_whole_model(tmp_path: Path) -> None:
    def drop(df: pd.DataFrame) -> pd.DataFrame:
        return df.drop(columns=[c for c in df.columns if c.startswith("claude-v2")])

    root = _routerbench_copy(tmp_path, "winograde_test.csv", drop)
    with pytest.raises(SchemaError, match=r"winograde_test\.csv.*lacks the model column 'claude-v2'"):
        load(ROUTERBENCH, path=root)


def test_routerbench_missing_cost_with_an_outcome(tmp_path: Path) -> None:
    def blank(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[3, "claude-v1|total_cost"] = ""
        return df

    root = _routerbench_copy(tmp_path, "mbpp_train.csv", blank)
    with pytest.raises(SchemaError, match=r"mbpp_train\.csv.*row 3.*'claude-v1\|total_cost'.*needs its cost"):
        load(ROUTERBENCH, path=root)


def test_routerbench_unparseable_cell(tmp_path: Path) -> None:
    def bad(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[0, "gpt-4-1106-preview"] = "yes"
        return df

    root = _routerbench_copy(tmp_path, "mbpp_train.csv", bad)
    with pytest.raises(SchemaError, match=r"mbpp_train\.csv.*row 0.*'gpt-4-1106-preview'.*'yes'"):
        load(ROUTERBENCH, path=root)


def test_missing_folder_or_file_is_data_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="does not hold"):
        load(DCROUTER, path=tmp_path)
    from routerlab.data.loaders.routerdc import load_routerdc

    with pytest.raises(DataNotFoundError, match="path="):
        load_routerdc(None)
    partial = tmp_path / "partial"
    shutil.copytree(_write_routerdc(tmp_path / "dc", {}), partial)
    (partial / "mbpp.json").unlink()
    with pytest.raises(DataNotFoundError, match=r"mbpp\.json"):
        load_routerdc(partial)


@pytest.mark.parametrize(
    ("name", "total"),
    [("mistralai/mixtral-8x7b-chat", 56.0), ("Mixtral-8x22B", 176.0), ("Qwen2-72B", 72.0), ("gpt-4", None)],
)
def test_mixture_size_counts_all_experts_only_when_asked(name: str, total: float | None) -> None:
    assert params_from_text(name, moe_total=True) == total
