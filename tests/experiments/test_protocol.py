"""evaluate_protocol(): the library call behind `routerlab evaluate` (issue 12 §2: the CLI is a thin command)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from routerlab.data import RoutingData
from routerlab.errors import SchemaError
from routerlab.experiments.protocol import evaluate_protocol
from routerlab.routers import ROUTERS, Router
from tests.conftest import make_routing_problem


def _with_texts(n: int = 150) -> RoutingData:
    data = make_routing_problem(n, 3, seed=4)
    texts = np.array([f"question on topic {i % 5}: item {i}" for i in range(n)], dtype=object)
    return dataclasses.replace(data, texts=texts)


def test_baselines_and_a_learned_router_in_one_leaderboard_that_resumes(tmp_path: Path) -> None:
    data = _with_texts()
    first = evaluate_protocol(data, ["oracle", "best_single", "knn"], encoder="hashing", sweep_dir=tmp_path)
    assert first.board is not None and first.sweep is not None
    assert first.baselines == ("oracle", "best_single") and first.learned == ("knn",)
    assert [(s.router, s.status) for s in first.board.seed_protocol] == [("knn", "ok")]
    knn = first.board.prediction("knn")
    assert knn.encoder is not None and knn.encoder == first.features.encoder  # type: ignore[union-attr]
    assert first.board.prediction("oracle").encoder is None
    again = evaluate_protocol(data, ["oracle", "best_single", "knn"], encoder="hashing", sweep_dir=tmp_path)
    assert again.sweep is not None and again.sweep.n_executed == 0  # every run read back from runs.jsonl
    assert again.board is not None
    assert np.array_equal(again.board.prediction("knn").choice(0.0), knn.choice(0.0))


def test_a_default_learned_router_without_validation_is_skipped_in_plain_sight(tmp_path: Path) -> None:
    data = _with_texts()
    no_val = dataclasses.replace(data, splits=np.where(data.splits == "val", "train", data.splits))
    result = evaluate_protocol(
        no_val, ["best_single", "knn"], encoder="hashing", sweep_dir=tmp_path, optional_learned=("knn",)
    )
    assert result.learned == () and result.sweep is None
    assert any("knn skipped" in w and "--val-fraction 0.1" in w for w in result.warnings)
    with pytest.raises(SchemaError, match="no 'val' queries"):  # asked for by name: an error, not a skip
        evaluate_protocol(no_val, ["best_single", "knn"], encoder="hashing", sweep_dir=tmp_path)
    with pytest.raises(ValueError, match=r"--missing reroute"):
        evaluate_protocol(data, ["knn"], encoder="hashing", sweep_dir=tmp_path, missing="zero")


class FirstModel(Router):
    """A plug-in baseline (tag ``baseline``): always the pool's first model."""

    name = "first_model"
    baseline = True
    uses_labels = False

    def __init__(self) -> None:
        pass

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        return None

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        return np.tile(np.eye(data.n_models)[0], (data.n_queries, 1))


def test_a_plugin_baseline_is_fitted_once_by_its_tag(tmp_path: Path) -> None:
    ROUTERS.register("first_model", FirstModel)
    try:
        result = evaluate_protocol(_with_texts(), ["oracle", "first_model"], encoder="hashing", sweep_dir=tmp_path)
    finally:
        ROUTERS.unregister("first_model")
    assert result.baselines == ("oracle", "first_model") and result.learned == () and result.sweep is None
    assert result.board is not None
    assert (result.board.prediction("first_model").choice(0.0) == 0).all()


def test_a_saved_selected_router_decides_the_test_split_as_the_leaderboard_recorded(tmp_path: Path) -> None:
    from routerlab.decisions import policy_for
    from routerlab.experiments.protocol import save_selected
    from routerlab.routers import load_router

    data = _with_texts()
    result = evaluate_protocol(data, ["best_single", "knn", "kmeans"], encoder="hashing", sweep_dir=tmp_path / "s")
    saved = save_selected(result, data, tmp_path / "routers")
    assert sorted(p.name for p in saved.values()) == ["kmeans-hashing", "knn-hashing"]
    assert result.board is not None
    test = result.board.test
    for label, folder in saved.items():
        router = load_router(folder)  # a FeatureRouter: it reads raw text with its own encoder
        name = label.split(" ")[0]
        recorded = result.board.prediction(name).choice(0.0)
        decided = router.decide(test).restricted(test.observed).choose(policy_for(lam=0.0))
        assert np.array_equal(decided, recorded), label


def test_saving_with_no_learned_router_says_what_to_do(tmp_path: Path) -> None:
    from routerlab.experiments.protocol import save_selected

    data = _with_texts()
    result = evaluate_protocol(data, ["best_single"], encoder="hashing", sweep_dir=tmp_path)
    with pytest.raises(ValueError, match="--router"):
        save_selected(result, data, tmp_path / "routers")
