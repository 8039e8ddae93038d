"""Baseline routers: the estimator contract, hand-computed picks, and the oracle bound."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from routerlab.data import ModelInfo, RoutingData
from routerlab.decisions.policy import CostScale
from routerlab.errors import NotFittedError, SchemaError
from routerlab.experiments.evaluate import evaluate
from routerlab.metrics import core as M
from routerlab.routers import BASELINES, make_router
from routerlab.routers.base import Router, clone
from routerlab.routers.baselines import BestSingle, Cheapest, MajorityLabel, Oracle, Random
from tests.conftest import make_routing_problem

ALL_BASELINES = [
    pytest.param(Oracle, {}, id="oracle"),
    pytest.param(Random, {"random_state": 3}, id="random"),
    pytest.param(BestSingle, {}, id="best_single"),
    pytest.param(BestSingle, {"budget": 5.0}, id="best_single_budget"),
    pytest.param(Cheapest, {}, id="cheapest"),
    pytest.param(MajorityLabel, {}, id="majority_label"),
]
NON_ORACLE = [p for p in ALL_BASELINES if p.id != "oracle"]


def _numpy_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Column means over ``mask`` cells, computed without routerlab."""
    return np.array([values[mask[:, j], j].mean() for j in range(values.shape[1])])


# ---------------------------------------------------------------------------------------- contract


@pytest.mark.parametrize(("cls", "params"), ALL_BASELINES)
def test_fit_returns_self_and_sets_state(cls: type[Router], params: dict) -> None:
    data = make_routing_problem(60)
    router = cls(**params)
    assert router.fit(data.split("train")) is router
    assert router.model_names_ == ("m0", "m1", "m2", "m3")
    assert router.fitted_ is True


@pytest.mark.parametrize(("cls", "params"), ALL_BASELINES)
def test_unfitted_router_raises(cls: type[Router], params: dict) -> None:
    data = make_routing_problem(20)
    router = cls(**params)
    with pytest.raises(NotFittedError, match=f"This {cls.__name__} is not fitted yet; call fit"):
        router.predict_scores(data)
    with pytest.raises(NotFittedError):
        router.route(data)
    with pytest.raises(AttributeError):  # NotFittedError is also an AttributeError, as in scikit-learn
        router.predict_costs(data)


@pytest.mark.parametrize(("cls", "params"), ALL_BASELINES)
def test_clone_is_unfitted_with_equal_params(cls: type[Router], params: dict) -> None:
    data = make_routing_problem(60)
    router = cls(**params).fit(data.split("train"))
    twin = clone(router)
    assert type(twin) is cls and twin is not router
    assert twin.get_params() == router.get_params() == {**cls().get_params(), **params}
    with pytest.raises(NotFittedError):
        twin.predict_scores(data)
    twin.fit(data.split("train"))
    np.testing.assert_array_equal(twin.predict_scores(data), router.predict_scores(data))


def test_set_params_and_repr() -> None:
    r = BestSingle().set_params(budget=2.5)
    assert r.budget == 2.5 and repr(r) == "BestSingle(budget=2.5)"
    with pytest.raises(ValueError, match=r"BestSingle has no parameter 'budgt'; valid parameters: \['budget'\]"):
        r.set_params(budgt=1.0)
    with pytest.raises(TypeError, match="clone expects a Router"):
        clone("best_single")  # type: ignore[arg-type]


def test_fit_rejects_empty_or_unlabelled_training_data() -> None:
    data = make_routing_problem(20)
    with pytest.raises(SchemaError, match="Cannot fit BestSingle on 0 queries"):
        BestSingle().fit(data.subset([]))
    with pytest.raises(SchemaError, match="has no outcomes at all"):
        BestSingle().fit(data.without_outcomes())
    with pytest.raises(TypeError, match="fit expects a RoutingData"):
        BestSingle().fit(data.Y)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cls", "params"), ALL_BASELINES)
def test_predict_on_reordered_models_is_an_error(cls: type[Router], params: dict) -> None:
    data = make_routing_problem(40)
    router = cls(**params).fit(data.split("train"))
    swapped = data.select_models(["m1", "m0", "m2", "m3"])
    with pytest.raises(SchemaError, match=r"fitted on models \['m0', 'm1', 'm2', 'm3'\].*select_models"):
        router.predict_scores(swapped)
    with pytest.raises(SchemaError):
        router.route(data.select_models(["m0", "m1", "m2"]))
    # and re-selecting the training order makes it work again
    assert router.route(swapped.select_models(list(router.model_names_))).shape == (40,)


@pytest.mark.parametrize(("cls", "params"), NON_ORACLE)
@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_non_oracle_never_reads_outcomes(cls: type[Router], params: dict, missing: float) -> None:
    data = make_routing_problem(80, seed=4, missing=missing)
    router = cls(**params).fit(data.split("train"))
    test = data.split("test")
    rng = np.random.default_rng(0)
    scrambled = dataclasses.replace(test, Y=rng.random(test.Y.shape), raw_score=rng.random(test.Y.shape))
    a, b = router.predict_scores(test), router.predict_scores(scrambled)
    assert a.shape == (test.n_queries, 4) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(router.route(test), router.route(scrambled))


def test_oracle_does_read_outcomes() -> None:
    data = make_routing_problem(80, seed=4)
    test = data.split("test")
    oracle = Oracle().fit(data.split("train"))
    flipped = dataclasses.replace(test, Y=1.0 - test.Y)
    assert not np.array_equal(oracle.predict_scores(test), oracle.predict_scores(flipped))
    np.testing.assert_array_equal(oracle.predict_scores(test), test.Y)


@pytest.mark.parametrize(("cls", "params"), ALL_BASELINES)
@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_results_do_not_depend_on_query_order(cls: type[Router], params: dict, lam: float) -> None:
    data = make_routing_problem(120, seed=2, missing=0.1)
    perm = np.random.default_rng(11).permutation(data.n_queries)
    shuffled = data.subset(perm)
    inverse = np.argsort(perm)
    a = cls(**params).fit(data.split("train"))
    b = cls(**params).fit(shuffled.split("train"))
    choice_a = a.route(data, lam=lam, available=data.observed)
    choice_b = b.route(shuffled, lam=lam, available=shuffled.observed)
    np.testing.assert_array_equal(choice_b[inverse], choice_a)
    np.testing.assert_array_equal(b.predict_scores(shuffled)[inverse], a.predict_scores(data))


# ---------------------------------------------------------------------------------------- the oracle bound


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("missing", [0.0, 0.1])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_oracle_dominates_every_baseline(seed: int, missing: float, split: str) -> None:
    data = make_routing_problem(150, 4, seed=seed, missing=missing)
    lams = (0.0, 0.2, 0.5, 0.9)
    board = evaluate(data, BASELINES, lams=lams, train_splits=("train",), test_split=split)
    for lam in lams:
        rows = {r.router: r for r in board.at(lam)}
        assert set(rows) == set(BASELINES)
        oracle = rows.pop("oracle")
        for name, row in rows.items():
            assert oracle.utility >= row.utility - 1e-12, (name, lam, split)
            if lam == 0.0:
                assert oracle.quality >= row.quality, name
        if lam == 0.0:
            assert oracle.quality == board.oracle_quality


def test_oracle_realised_utility_matches_direct_computation() -> None:
    """The oracle's pick maximises each query's own realised (1 − λ)·Y − λ·c̃."""
    data = make_routing_problem(100, 3, seed=5, missing=0.1)
    train, test = data.split("train"), data.split("test")
    oracle = Oracle().fit(train)
    scale = CostScale.from_costs(train.cost, train.observed)
    assert oracle.cost_scale_ == scale
    for lam in (0.2, 0.5, 0.9):
        choice = oracle.route(test, lam=lam, available=test.observed)
        per_query = np.where(test.observed, (1 - lam) * test.Y - lam * scale.normalize(test.cost), -np.inf)
        got = per_query[np.arange(test.n_queries), choice]
        np.testing.assert_array_equal(got, per_query.max(axis=1))
        assert M.utility_score(Y=test.Y, cost=test.cost, choice=choice, lam=lam, scale=scale) == pytest.approx(
            got.mean(), abs=1e-12
        )


# ---------------------------------------------------------------------------------------- BestSingle


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_best_single_test_quality_and_cost_equal_its_column(seed: int) -> None:
    data = make_routing_problem(200, 4, seed=seed)
    train, test = data.split("train"), data.split("test")
    mean_q = train.Y.mean(axis=0)
    mean_c = train.cost.mean(axis=0)
    best = int(np.flatnonzero(mean_q == mean_q.max())[np.argmin(mean_c[mean_q == mean_q.max()])])
    router = BestSingle().fit(train)
    assert router.best_index_ == best and router.best_model_ == f"m{best}"
    board = evaluate(data, ["best_single"])
    row = board.row("best_single")
    assert row.quality == pytest.approx(test.Y[:, best].mean(), abs=1e-12)
    assert row.mean_cost == pytest.approx(test.cost[:, best].mean(), rel=1e-12)
    assert row.call_rate == {f"m{best}": 1.0}


def test_best_single_uses_observed_means_only() -> None:
    """A model right whenever observed is the best single model, however sparse its coverage."""
    Y = np.array([[1, 0.0], [np.nan, 1], [np.nan, 1], [1, 0]])
    data = RoutingData(
        name="sparse",
        query_ids=list("abcd"),
        sources=["s"] * 4,
        splits=["train"] * 4,
        models=(ModelInfo("a"), ModelInfo("b")),
        Y=Y,
        cost=np.ones((4, 2)),
        cost_unit="usd",
    )
    router = BestSingle().fit(data)
    np.testing.assert_allclose(router.mean_quality_, [1.0, 0.5])
    assert router.best_model_ == "a"


@pytest.mark.parametrize("budget", [0.05, 2.0, 5.0, 8.0, 100.0])
def test_best_single_with_budget(budget: float) -> None:
    data = make_routing_problem(200, 4, seed=3)
    train = data.split("train")
    mean_q = train.Y.mean(axis=0)
    mean_c = train.cost.mean(axis=0)
    fits = mean_c <= budget
    expected = int(np.argmin(mean_c)) if not fits.any() else int(np.flatnonzero(fits)[np.argmax(mean_q[fits])])
    router = BestSingle(budget=budget).fit(train)
    assert router.best_index_ == expected
    assert set(router.route(data.split("test")).tolist()) == {expected}
    if fits.any():
        assert mean_c[expected] <= budget
        assert mean_q[expected] == mean_q[fits].max()


def test_best_single_budget_changes_the_pick() -> None:
    data = make_routing_problem(200, 4, seed=3)
    train = data.split("train")
    unconstrained = BestSingle().fit(train).best_index_
    assert unconstrained == 3  # the strongest, most expensive model
    assert BestSingle(budget=float(train.cost.mean(axis=0)[1]) + 1e-9).fit(train).best_index_ in (0, 1)


def test_best_single_is_best_single_under_cost_utility() -> None:
    """With λ > 0 BestSingle picks argmax_m (1 − λ)·q̄_m − λ·c̃(c̄_m), the same model for every query."""
    data = make_routing_problem(200, 4, seed=0)
    train, test = data.split("train"), data.split("test")
    scale = CostScale.from_costs(train.cost)
    mean_q, mean_c = train.Y.mean(axis=0), train.cost.mean(axis=0)
    router = BestSingle().fit(train)
    picks = set()
    for lam in (0.0, 0.2, 0.5, 0.9, 1.0):
        expected = int(np.argmax((1 - lam) * mean_q - lam * scale.normalize(mean_c)))
        choice = router.route(test, lam=lam)
        assert set(choice.tolist()) == {expected}, lam
        picks.add(expected)
    assert len(picks) > 1  # the trade-off does move the pick on this problem


# ---------------------------------------------------------------------------------------- Cheapest, MajorityLabel


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cheapest_picks_min_mean_train_cost(seed: int) -> None:
    data = make_routing_problem(100, 5, seed=seed)
    # make a middle model cheapest in training so the answer is not simply column 0
    cost = np.array(data.cost)
    cost[:, 2] = 0.01 + 0.001 * seed
    data = dataclasses.replace(data, cost=cost)
    train = data.split("train")
    expected = int(np.argmin(train.cost.mean(axis=0)))
    assert expected == 2
    router = Cheapest().fit(train)
    assert router.cheapest_index_ == expected
    assert set(router.route(data.split("test")).tolist()) == {expected}
    assert set(router.route(data.split("test"), lam=0.7).tolist()) == {expected}


def test_cheapest_ignores_unobserved_costs() -> None:
    """Mean training cost is over observed calls; an unobserved cell's cost is not averaged in."""
    Y = np.array([[1.0, 1.0], [np.nan, 1.0], [1.0, 1.0]])
    cost = np.array([[2.0, 3.0], [100.0, 3.0], [2.0, 3.0]])
    data = RoutingData(
        name="c",
        query_ids=["a", "b", "c"],
        sources=["s"] * 3,
        splits=["train"] * 3,
        models=(ModelInfo("x"), ModelInfo("y")),
        Y=Y,
        cost=cost,
        cost_unit="usd",
    )
    assert Cheapest().fit(data).cheapest_index_ == 0


def _majority_example() -> RoutingData:
    """5 queries x 3 models; oracle label = cheapest model with the highest outcome on the query.

    q0 [1,1,1] cost [1,2,3] -> m0      q1 [1,0,1] cost [1,2,3] -> m0      q2 [0,0,1] -> m2
    q3 [1,1,1] cost [1,2,3] -> m0      q4 [0,1,1] cost [1,3,2] -> m2 (tie m1/m2, m2 cheaper *on this query*)
    Labels: m0 x3, m2 x2 -> shares [0.6, 0, 0.4]. Mean quality [0.6, 0.6, 1.0]: BestSingle would pick m2.
    """
    Y = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=float)
    cost = np.array([[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 3, 2]], dtype=float)
    return RoutingData(
        name="majority",
        query_ids=[f"q{i}" for i in range(5)],
        sources=["s"] * 5,
        splits=["train"] * 5,
        models=(ModelInfo("m0"), ModelInfo("m1"), ModelInfo("m2")),
        Y=Y,
        cost=cost,
        cost_unit="usd",
    )


def test_majority_label_hand_example() -> None:
    data = _majority_example()
    router = MajorityLabel().fit(data)
    np.testing.assert_allclose(router.label_share_, [0.6, 0.0, 0.4])
    assert router.route(data).tolist() == [0] * 5
    assert BestSingle().fit(data).route(data).tolist() == [2] * 5


def test_majority_label_skips_queries_without_outcomes() -> None:
    data = _majority_example()
    Y = np.vstack([data.Y, [[np.nan, np.nan, np.nan], [np.nan, 1.0, np.nan]]])
    cost = np.vstack([data.cost, [[1, 2, 3], [1, 2, 3]]])
    bigger = RoutingData(
        name="majority2",
        query_ids=[f"q{i}" for i in range(7)],
        sources=["s"] * 7,
        splits=["train"] * 7,
        models=data.models,
        Y=Y,
        cost=cost,
        cost_unit="usd",
    )
    router = MajorityLabel().fit(bigger)
    # q5 has no outcome (not counted); q6 is labelled m1 because only m1 was observed
    np.testing.assert_allclose(router.label_share_, [3 / 6, 1 / 6, 2 / 6])


# ---------------------------------------------------------------------------------------- Random


def test_random_is_reproducible_and_seed_dependent() -> None:
    data = make_routing_problem(400, 4, seed=0)
    train, test = data.split("train"), data.split("test")
    a = Random(random_state=1).fit(train).route(test)
    b = Random(random_state=1).fit(train).route(test)
    c = Random(random_state=2).fit(train).route(test)
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.5  # another seed gives a different assignment
    np.testing.assert_array_equal(
        Random(random_state=1).fit(train).predict_scores(test), Random(random_state=1).fit(train).predict_scores(test)
    )


def test_random_is_roughly_uniform() -> None:
    data = make_routing_problem(2000, 4, seed=0)
    choice = Random(random_state=0).fit(data.split("train")).route(data)
    shares = np.bincount(choice, minlength=4) / len(choice)
    assert np.all(np.abs(shares - 0.25) < 0.04), shares


def test_random_depends_on_query_id_not_position() -> None:
    data = make_routing_problem(100, 4, seed=0)
    router = Random(random_state=5).fit(data.split("train"))
    full = router.route(data)
    rows = np.array([99, 3, 50, 7])
    np.testing.assert_array_equal(router.route(data.subset(rows)), full[rows])
    # renaming the queries changes the draw
    renamed = dataclasses.replace(data, query_ids=np.array([f"other-{i}" for i in range(100)], dtype=object))
    assert (router.route(renamed) != full).mean() > 0.5


def test_make_router_builds_each_baseline() -> None:
    for name in BASELINES:
        router = make_router(name)
        assert router.name == name and not getattr(router, "fitted_", False)


# ---------------------------------------------------------------------------------------- contract details


def _two_model(Y: np.ndarray, cost: np.ndarray, splits: list[str]) -> RoutingData:
    return RoutingData(
        name="two",
        query_ids=[f"q{i}" for i in range(len(Y))],
        sources=["s"] * len(Y),
        splits=splits,
        models=(ModelInfo("a"), ModelInfo("b")),
        Y=Y,
        cost=cost,
        cost_unit="usd",
    )


def test_oracle_breaks_ties_by_the_real_cost_of_the_query() -> None:
    """On average 'a' is cheaper, but on q2 'b' is: the oracle pays the real price, so it picks 'b' there."""
    Y = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    cost = np.array([[1.0, 5.0], [1.0, 5.0], [9.0, 1.0], [1.0, 5.0]])
    data = _two_model(Y, cost, ["train", "train", "test", "test"])
    oracle = Oracle().fit(data.split("train"))
    test = data.split("test")
    # q3 (Y = [0, 1], c̃ = [0, 1] on the training scale 1..5): U_a = 0, U_b = (1 − λ) − λ
    # λ = 0 -> b; λ = 0.5 -> tie, the cheaper a; λ = 0.9 -> a
    for lam, expected in ((0.0, [1, 1]), (0.5, [1, 0]), (0.9, [1, 0])):
        assert oracle.route(test, lam=lam, available=test.observed).tolist() == expected, lam
    assert BestSingle().fit(data.split("train")).route(test).tolist() == [0, 0]  # mean cost decides for the others


def test_oracle_never_prefers_a_missing_outcome() -> None:
    """Without an availability mask the oracle still avoids unanswered cells, even cheaper ones."""
    Y = np.array([[np.nan, 0.0], [1.0, 1.0]])
    cost = np.array([[1.0, 5.0], [1.0, 5.0]])
    data = _two_model(Y, cost, ["test", "train"])
    assert Oracle().fit(data.split("train")).route(data).tolist() == [1, 0]


def test_best_single_budget_is_inclusive() -> None:
    data = make_routing_problem(200, 4, seed=3)
    train = data.split("train")
    model_cost = BestSingle().fit(train).model_cost_
    mean_q = train.Y.mean(axis=0)
    budget = float(model_cost[2])  # exactly m2's mean training cost: m2 fits
    expected = int(np.argmax(np.where(model_cost <= budget, mean_q, -np.inf)))
    assert expected == 2
    assert BestSingle(budget=budget).fit(train).best_index_ == 2
    assert BestSingle(budget=np.nextafter(budget, 0)).fit(train).best_index_ != 2


def test_routers_only_see_data_without_outcomes() -> None:
    """The base class, not each router, hides outcomes: a router that tries to read Y finds only NaN."""
    seen: list[RoutingData] = []

    class Peeking(BestSingle):
        def _predict_scores(self, data, X):  # type: ignore[no-untyped-def]
            seen.append(data)
            return np.nan_to_num(data.Y, nan=0.5)

    data = make_routing_problem(40, seed=1)
    router = Peeking().fit(data.split("train"))
    scores = router.predict_scores(data.split("test"))
    np.testing.assert_array_equal(scores, np.full((8, 4), 0.5))
    (view,) = seen
    assert not view.observed.any() and view.gold is None and view.raw_score is None
    np.testing.assert_array_equal(view.cost, data.split("test").cost)  # cost is a decision-time input


def test_best_single_never_picks_a_model_without_training_outcomes() -> None:
    data = make_routing_problem(100, 3, seed=2)
    y = np.array(data.Y)
    y[:, 2] = np.nan  # the strongest model has no outcome at all
    holes = dataclasses.replace(data, Y=y)
    for budget in (None, 0.0):  # 0.0: nothing fits, the cheapest-model fallback must not pick it either
        best = BestSingle(budget=budget).fit(holes.split("train"))
        assert best.best_model_ != "m2" and best.coverage_[2] == 0.0
