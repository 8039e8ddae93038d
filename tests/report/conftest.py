"""Fixtures of the report tests: an evaluated synthetic problem written as a results directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from routerlab.experiments.evaluate import Leaderboard, evaluate
from routerlab.routers import BASELINES
from routerlab.routers.baselines import Cheapest
from routerlab.routers.knn import KNNRouter
from tests.conftest import make_routing_problem

pytest.importorskip("matplotlib")


class CheapestCopy(Cheapest):
    """Routes exactly as ``cheapest``: the two must share a tier."""

    name = "cheapest_copy"


@pytest.fixture(scope="session")
def synthetic_board() -> Leaderboard:
    data = make_routing_problem(300, 4, seed=3, missing=0.05)
    X = np.random.default_rng(0).normal(size=(data.n_queries, 8))
    X[:, 0] += (data.sources == "s0") * 3.0  # model 0 is a specialist on s0: a signal kNN can use
    routers = [*BASELINES, CheapestCopy(), KNNRouter(k=15)]
    return evaluate(data, routers, lams=(0.0, 0.5), features=X)


@pytest.fixture(scope="session")
def results_dir(synthetic_board: Leaderboard, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    synthetic_board.save_results(out)
    return out
