"""The results directory: evaluate() keeps every router's decisions, save_results/load_results round-trip them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from routerlab.decisions.policy import CostScale, policy_for, select
from routerlab.errors import DataNotFoundError, SchemaError
from routerlab.experiments.evaluate import Leaderboard, evaluate, load_results
from routerlab.metrics import core as M
from tests.conftest import make_routing_problem


def test_predictions_reproduce_the_leaderboard(synthetic_board: Leaderboard) -> None:
    test = synthetic_board.test
    assert test is not None and test.n_queries == synthetic_board.n_queries
    scale = CostScale(*synthetic_board.cost_scale)
    assert [p.router for p in synthetic_board.predictions][-2:] == ["cheapest_copy", "knn"]
    for p in synthetic_board.predictions:
        assert p.scores is not None and p.cost_estimate is not None
        assert p.needs_outcomes == (p.router == "oracle")
        for lam in (0.0, 0.5):
            row = synthetic_board.row(p.router, lam)
            choice = p.choice(lam)
            assert row.quality == M.routing_accuracy_score(Y=test.Y, choice=choice)
            assert row.utility == M.utility_score(Y=test.Y, cost=test.cost, choice=choice, lam=lam, scale=scale)
            again = select(p.scores, p.cost_estimate, policy_for(lam), scale, test.observed)
            np.testing.assert_array_equal(again, choice)  # re-selection from disk gives the same choices
    with pytest.raises(KeyError, match=r"not evaluated at lambda=0\.2"):
        synthetic_board.prediction("knn").choice(0.2)


def test_to_dict_leaves_out_the_in_memory_fields(synthetic_board: Leaderboard) -> None:
    doc = synthetic_board.to_dict()
    assert "test" not in doc and "predictions" not in doc
    json.dumps(doc, allow_nan=False)
    again = Leaderboard.from_dict(json.loads(json.dumps(doc)))
    assert again == synthetic_board  # test/predictions do not take part in equality


def test_save_and_load_round_trip(synthetic_board: Leaderboard, results_dir: Path) -> None:
    assert {p.name for p in results_dir.iterdir()} >= {
        "leaderboard.json",
        "leaderboard.md",
        "test.parquet",
        "predictions.parquet",
    }
    table = pq.read_table(results_dir / "predictions.parquet")
    meta = json.loads(table.schema.metadata[b"routerlab"])
    assert meta["schema_version"] == 1 and meta["lams"] == [0.0, 0.5]
    assert [r["name"] for r in meta["routers"]] == [p.router for p in synthetic_board.predictions]
    assert {"router", "query_id", "choice@0", "choice@0.5", "score:m0", "cost_estimate:m3"} <= set(table.column_names)
    assert table.num_rows == len(synthetic_board.predictions) * synthetic_board.n_queries

    loaded = load_results(results_dir)
    assert loaded == synthetic_board
    assert loaded.test is not None and synthetic_board.test is not None
    np.testing.assert_array_equal(loaded.test.query_ids, synthetic_board.test.query_ids)
    np.testing.assert_array_equal(loaded.test.Y, synthetic_board.test.Y)
    for a, b in zip(loaded.predictions, synthetic_board.predictions, strict=True):
        assert (a.router, a.params, a.needs_outcomes) == (b.router, b.params, b.needs_outcomes)
        assert a.choices.keys() == b.choices.keys()
        for lam in a.choices:
            np.testing.assert_array_equal(a.choices[lam], b.choices[lam])
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.cost_estimate, b.cost_estimate)


def test_save_results_needs_predictions_and_unique_names(tmp_path: Path) -> None:
    data = make_routing_problem(80, 3, seed=1)
    board = evaluate(data, ["oracle", "cheapest"])
    bare = Leaderboard.from_dict(board.to_dict())
    with pytest.raises(SchemaError, match="carries no predictions"):
        bare.save_results(tmp_path / "a")
    with pytest.raises(SchemaError, match="listed twice with the same parameters"):
        evaluate(data, ["cheapest", "cheapest"])
    twice = dataclasses.replace(board, predictions=(*board.predictions, board.predictions[-1]))
    with pytest.raises(SchemaError, match=r"\['cheapest'\] appear more than once"):
        twice.save_results(tmp_path / "b")


def test_load_results_errors_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="routerlab evaluate --out"):
        load_results(tmp_path)
    board = evaluate(make_routing_problem(80, 3, seed=1), ["oracle"])
    board.save(tmp_path)  # the old format: leaderboard files only
    with pytest.raises(SchemaError, match=r"no test\.parquet or predictions\.parquet"):
        load_results(tmp_path)


def test_leaderboard_files_can_list_a_subset(synthetic_board: Leaderboard, tmp_path: Path) -> None:
    paths = synthetic_board.save_results(tmp_path / "a", leaderboard=["oracle", "cheapest"])
    rows = json.loads(paths["json"].read_text())["rows"]
    assert {r["router"] for r in rows} == {"oracle", "cheapest"}
    loaded = load_results(tmp_path / "a")  # rows are recomputed from the Parquet files: every router is back
    assert loaded == synthetic_board
    none = synthetic_board.save_results(tmp_path / "b", leaderboard=[])
    assert set(none) == {"test", "predictions"} and not (tmp_path / "b" / "leaderboard.json").exists()
    sub = synthetic_board.select(["knn"])
    assert {r.router for r in sub.rows} == {"knn"} and [p.router for p in sub.predictions] == ["knn"]
    with pytest.raises(KeyError, match="knnn"):
        synthetic_board.select(["knnn"])


# ------------------------------------------------------------------ the seed-protocol table of report.md
def _summary(lams: list[float]) -> dict[str, object]:
    ok = {
        "dataset": "synthetic",
        "router": "knn",
        "encoder": "hashing",
        "status": "ok",
        "params": {"k": 15},
        "seeds": [42, 43, 44, 45, 46],
        "test_acc_mean": 0.61,
        "test_acc_std": 0.01,
        "test_quality_mean": {"0": 0.61, "0.5": 0.6},
        "test_quality_std": {"0": 0.01, "0.5": 0.02},
        "test_utility_mean": {"0": 0.61, "0.5": 0.55},
        "test_utility_std": {"0": 0.01, "0.5": 0.03},
        "test_cost_mean": {"0": 2.5, "0.5": 1.25},
        "oracle_test_acc": 0.8,
    }
    failed = {"dataset": "synthetic", "router": "mlp", "encoder": "hashing", "status": "failed", "seeds": []}
    return {"schema_version": 1, "protocol": {"std_ddof": 0, "lams": lams}, "rows": [ok, failed]}


def test_report_md_has_the_seed_protocol_table_when_the_sweep_is_there(results_dir: Path, tmp_path: Path) -> None:
    from routerlab.experiments.evaluate import attach_sweep
    from routerlab.report.content import build_content
    from routerlab.report.markdown import render_markdown

    folder = tmp_path / "results"
    folder.mkdir()
    for f in results_dir.iterdir():
        if f.is_file():
            (folder / f.name).write_bytes(f.read_bytes())
    without = render_markdown(build_content(folder, n_resamples=50), {})
    assert "Seed protocol" not in without

    summary = _summary([0.0, 0.5])
    (folder / "sweep").mkdir()
    (folder / "sweep" / "summary.json").write_text(json.dumps(summary))
    attach_sweep(load_results(folder), summary).save(folder)  # leaderboard.md points to this table
    assert "the report's Seed protocol section" in (folder / "leaderboard.md").read_text()
    md = render_markdown(build_content(folder, n_resamples=50), {})
    section = md.split("## Seed protocol (learned routers)\n")[1]
    assert "mean ± std" in section
    assert "| router | encoder | selected params | seeds | test accuracy | U(0) | U(0.5) |" in section
    assert "| knn | hashing | k=15 | 5 | 0.6100 ± 0.0100 | 0.6100 ± 0.0100 | 0.5500 ± 0.0300 |" in section
    assert "| mlp | hashing | failed |" in section
