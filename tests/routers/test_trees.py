"""rf / gbdt beyond conformance: gbdt's shared binning changes no number, and gbdt does not depend on its seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.routers.checks import make_check_problem
from routerlab.routers.persist import load_router
from routerlab.routers.trees import GradientBoostingRouter, RandomForestRouter


def _graded(n_queries: int = 240, missing: bool = False) -> tuple[RoutingData, np.ndarray, RoutingData, np.ndarray]:
    """The check problem with graded outcomes; with ``missing``, model 1 is unobserved on every 4th query."""
    data, X = make_check_problem(seed=3, n_queries=n_queries)
    tr, te = data.splits == "train", data.splits == "test"
    train, test = data.subset(tr), data.subset(te)
    noise = (np.arange(train.n_queries)[:, None] * np.arange(1, train.n_models + 1)) % 3
    Y = np.clip(np.asarray(train.Y) * 0.75 + 0.25 * (noise == 0), 0.0, 1.0)
    if missing:
        Y[::4, 1] = np.nan
    return _with_outcomes(train, Y), X[tr], test, X[te]


def _with_outcomes(data: RoutingData, Y: np.ndarray, columns: list[int] | None = None) -> RoutingData:
    cols = list(range(Y.shape[1])) if columns is None else columns
    return RoutingData(
        name="graded",
        query_ids=list(data.query_ids),
        sources=["s"] * data.n_queries,
        splits=["train"] * data.n_queries,
        models=tuple(ModelInfo(name=f"m{j}") for j in cols),
        Y=Y[:, cols],
        cost=np.tile(np.arange(1.0, len(cols) + 1), (data.n_queries, 1)),
        cost_unit="usd",
    )


@pytest.mark.parametrize("missing", [False, True])
def test_gbdt_shared_binning_equals_one_model_at_a_time(missing: bool) -> None:
    """Each model's scores are those of a router fitted on that model alone (its own binning of its own rows)."""
    train, Xtr, test, Xte = _graded(missing=missing)
    together = GradientBoostingRouter(max_iter=15).fit(train, Xtr)
    # models with the same observed rows share one binning; model 1 with missing cells gets its own
    assert len(together.bin_edges_) == (2 if missing else 1)
    scores = together.predict_scores(test, Xte)
    for m in range(train.n_models):
        alone = GradientBoostingRouter(max_iter=15).fit(_with_outcomes(train, np.asarray(train.Y), [m]), Xtr)
        one = test.select_models([test.model_names[m]])
        np.testing.assert_array_equal(scores[:, m], alone.predict_scores(one, Xte)[:, 0])


def test_gbdt_does_not_depend_on_its_seed() -> None:
    """Not stochastic: the seed protocol gives it no seed stage, so any seed must give the same scores."""
    train, Xtr, test, Xte = _graded()
    a = GradientBoostingRouter(max_iter=15, random_state=0).fit(train, Xtr).predict_scores(test, Xte)
    b = GradientBoostingRouter(max_iter=15, random_state=12345).fit(train, Xtr).predict_scores(test, Xte)
    np.testing.assert_array_equal(a, b)
    assert not GradientBoostingRouter.tags().stochastic and RandomForestRouter.tags().stochastic


def test_gbdt_fit_keeps_no_training_matrix(tmp_path: Path) -> None:
    """The binned training features are dropped after the fit; a saved router predicts as before."""
    pytest.importorskip("skops")
    train, Xtr, test, Xte = _graded(missing=True)
    router = GradientBoostingRouter(max_iter=10).fit(train, Xtr)
    assert not hasattr(router, "_binned")
    loaded = load_router(router.save(tmp_path / "gbdt"))
    np.testing.assert_array_equal(loaded.predict_scores(test, Xte), router.predict_scores(test, Xte))


def test_the_seed_protocol_refits_rf_over_the_seeds_but_not_gbdt(tmp_path: Path) -> None:
    """gbdt gets stage 1 only (its seeds would repeat one fit); rf's grid names its 50 trees in the records."""
    from routerlab.experiments.sweep import SweepConfig, run_sweep

    data, X = make_check_problem(seed=2, n_queries=160)
    data = data.with_splits(np.array(["train", "train", "val", "test"] * 40, dtype=object))
    config = SweepConfig.model_validate(
        {
            "datasets": ["check"],
            "routers": ["rf", "gbdt"],
            "encoders": ["fake"],
            "seeds": [42, 7],
            "lams": [0],
            "top_k": 1,
            "n_jobs": 1,
            "out_dir": str(tmp_path / "out"),
            "grids": {"rf": {"min_samples_leaf": [5], "n_estimators": [5]}, "gbdt": {"max_iter": [5, 10]}},
        }
    )
    result = run_sweep(config, data={"check": data}, features={("check", "fake"): X})
    assert not result.errors
    stages = {(r["router"], r["stage"]) for r in result.records}
    assert ("gbdt", 2) not in stages and ("rf", 2) in stages
    assert result.row("gbdt").seeds == (42,) and result.row("rf").seeds == (42, 7)
    assert RandomForestRouter.param_grid["n_estimators"] == [50]
