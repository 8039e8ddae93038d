"""collapse_controls(): the §8.3 controls (random features, shuffled labels, balanced objective)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import pytest

from routerlab.data.schema import RoutingData
from routerlab.experiments.collapse import collapse_controls, shuffle_outcomes
from routerlab.routers.base import Router
from routerlab.routers.baselines import oracle_choice
from routerlab.routers.checks import make_check_problem


class AlwaysFirst(Router):
    """Routes every query to model 0 whatever it sees: collapsed by construction."""

    name = "always_first"

    def __init__(self) -> None:
        pass

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        return None

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        scores = np.zeros((data.n_queries, data.n_models))
        scores[:, 0] = 1.0
        return scores


class Centroid(Router):
    """Mean outcome of each model among the training queries of the nearest centroid (features carry the signal)."""

    name = "centroid"
    requires_features = True
    param_grid: ClassVar[dict[str, list[Any]]] = {}

    def __init__(self, *, n_centroids: int = 4, class_weight: str | None = None, random_state: int = 0) -> None:
        self.n_centroids = n_centroids
        self.class_weight = class_weight
        self.random_state = random_state

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        assert X is not None
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"bad class_weight {self.class_weight!r}")
        gen = np.random.default_rng(self.random_state)
        C = X[gen.choice(len(X), self.n_centroids, replace=False)]
        for _ in range(10):
            assign = np.argmin(((X[:, None] - C[None]) ** 2).sum(-1), axis=1)
            C = np.array([X[assign == k].mean(0) if (assign == k).any() else C[k] for k in range(len(C))])
        self.C_ = C
        Y = np.where(train.observed, train.Y, 0.0)
        self.table_ = np.array([Y[assign == k].mean(0) if (assign == k).any() else Y.mean(0) for k in range(len(C))])
        if self.class_weight == "balanced":  # push scores towards rarely-best models
            self.table_ = self.table_ / np.maximum(self.table_.mean(0, keepdims=True), 1e-9)

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        assert X is not None
        return self.table_[np.argmin(((X[:, None] - self.C_[None]) ** 2).sum(-1), axis=1)]


class NoWeights(Centroid):
    name = "no_weights"

    def __init__(self, *, n_centroids: int = 4, random_state: int = 0) -> None:
        self.n_centroids = n_centroids
        self.class_weight = None
        self.random_state = random_state


@pytest.fixture(scope="module")
def problem() -> tuple[RoutingData, np.ndarray]:
    return make_check_problem(seed=0, n_queries=400)


def test_always_one_model_is_collapsed(
    problem: tuple[RoutingData, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    data, X = problem
    with caplog.at_level(logging.WARNING, logger="routerlab.experiments.collapse"):
        report = collapse_controls(AlwaysFirst(), data, X, seed=0)
    real = report.condition("real")
    assert real.collapsed and real.top_model == "m0" and real.top_share == 1.0
    assert real.recall["m0"] == 1.0 and all(real.recall[m] == 0.0 for m in ("m1", "m2", "m3"))
    assert report.collapsed
    msg = next(r.getMessage() for r in caplog.records if "'real'" in r.getMessage())
    assert "always_first" in msg and "m0" in msg
    assert "| real |" in report.to_markdown() and "**yes**" in report.to_markdown()


def test_controls_expose_a_feature_dependent_router(problem: tuple[RoutingData, np.ndarray]) -> None:
    data, X = problem
    report = collapse_controls(Centroid(), data, X, seed=1)
    real, rand, shuf = (report.condition(c) for c in ("real", "random_features", "shuffled_labels"))
    assert not real.collapsed and real.macro_recall is not None and real.macro_recall > 0.5
    assert real.accuracy is not None and rand.accuracy is not None and shuf.accuracy is not None
    assert real.accuracy > report.majority_accuracy + 0.15
    assert rand.accuracy < real.accuracy - 0.15
    assert shuf.accuracy < real.accuracy - 0.15
    assert sum(real.call_rate.values()) == pytest.approx(1.0)
    assert report.condition("balanced").applicable
    # the controls are seeded
    again = collapse_controls(Centroid(), data, X, seed=1)
    assert again.condition("random_features") == rand and again.condition("shuffled_labels") == shuf


def test_balanced_not_applicable_without_class_weight(problem: tuple[RoutingData, np.ndarray]) -> None:
    data, X = problem
    report = collapse_controls(NoWeights(), data, X)
    bal = report.condition("balanced")
    assert not bal.applicable and "class_weight" in bal.reason and bal.accuracy is None
    assert "not applicable" in report.to_markdown()
    no_x = collapse_controls(AlwaysFirst(), data, None)
    assert not no_x.condition("random_features").applicable


def test_oracle_choice_and_shuffle(problem: tuple[RoutingData, np.ndarray]) -> None:
    data, _ = problem
    labels = oracle_choice(data)
    best = np.nanmax(data.Y, axis=1)
    assert (data.Y[np.arange(data.n_queries), labels] == best).all()
    perm = np.random.default_rng(0).permutation(data.n_queries)
    shuffled = shuffle_outcomes(data, perm)
    np.testing.assert_array_equal(shuffled.Y, data.Y[perm])
    assert list(shuffled.query_ids) == list(data.query_ids)
