"""The cascade: every call is charged, thresholds behave at their ends, no test outcome is read, order is moot."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from routerlab.data.responses import Responses
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import NotFittedError, SchemaError
from routerlab.routers.cascade import (
    Cascade,
    CascadePolicy,
    OperatingPoint,
    pair_features,
    pareto_frontier,
    run_cascade,
    sweep_chain,
)

CONF = np.array([[0.9, 0.5], [0.2, 0.5], [0.6, 0.5]])
COST = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
Y = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])


def test_cost_counts_every_call_hand_computed() -> None:
    # q0: stage 0 scores 0.9 >= 0.5, accepted (cost 1); q1: 0.2 < 0.5, escalates: 2 + 20 = 22; q2: 0.6, accepted (3)
    run = run_cascade(confidence=CONF, cost=COST, chain=[0, 1], thresholds=[0.5])
    assert run.answered.tolist() == [0, 1, 0]
    assert run.stage.tolist() == [0, 1, 0]
    assert run.cost.tolist() == [1.0, 22.0, 3.0]
    assert run.calls.tolist() == [[True, False], [True, True], [True, False]]
    assert run.quality(Y).tolist() == [1.0, 1.0, 0.0]


def test_threshold_ends() -> None:
    first = run_cascade(confidence=CONF, cost=COST, chain=[0, 1], thresholds=[0.0])
    assert first.answered.tolist() == [0, 0, 0] and first.cost.tolist() == [1.0, 2.0, 3.0]
    last = run_cascade(confidence=CONF, cost=COST, chain=[0, 1], thresholds=[1.01])
    assert last.answered.tolist() == [1, 1, 1] and last.cost.tolist() == [11.0, 22.0, 33.0]


def test_unavailable_models_are_skipped_and_not_charged() -> None:
    available = np.array([[True, True], [False, True], [True, False]])
    conf = CONF.copy()
    conf[2, 0] = 0.1  # q2 would escalate, but its last available stage is model 0: it answers
    run = run_cascade(confidence=conf, cost=COST, chain=[0, 1], thresholds=[0.5], available=available)
    assert run.answered.tolist() == [0, 1, 0]
    assert run.cost.tolist() == [1.0, 20.0, 3.0]
    none = run_cascade(confidence=CONF, cost=COST, chain=[1], thresholds=[], available=available)
    assert none.answered.tolist() == [1, 1, -1] and none.unanswered == 1
    assert none.quality(Y).tolist() == [1.0, 1.0, 0.0] and none.cost[2] == 0.0


def test_sweep_equals_replay() -> None:
    rng = np.random.default_rng(0)
    conf, cost, y = rng.random((50, 4)), rng.random((50, 4)), (rng.random((50, 4)) < 0.6).astype(float)
    avail = rng.random((50, 4)) < 0.85
    chain = (0, 2, 3)
    grid = [(a, b) for a in (0.0, 0.3, 0.7) for b in (0.0, 0.5, 1.5)]
    costs, quals = sweep_chain(
        confidence=conf,
        cost=np.where(avail, cost, 0),
        quality=np.where(avail, y, 0),
        chain=chain,
        grid=grid,
        available=avail,
    )
    for g, c, q in zip(grid, costs, quals, strict=True):
        run = run_cascade(confidence=conf, cost=cost, chain=chain, thresholds=g, available=avail)
        assert c == pytest.approx(run.cost.mean()) and q == pytest.approx(run.quality(y).mean())


def test_policy_and_frontier_checks() -> None:
    with pytest.raises(SchemaError, match="one threshold per stage but the last"):
        CascadePolicy(("a", "b"), ())
    with pytest.raises(SchemaError, match="calls a model twice"):
        CascadePolicy(("a", "a"), (0.5,))
    pol = CascadePolicy(("a",), ())
    pts = [OperatingPoint(pol, 1.0, 0.5), OperatingPoint(pol, 2.0, 0.4), OperatingPoint(pol, 3.0, 0.7)]
    assert [(p.cost, p.quality) for p in pareto_frontier(pts)] == [(1.0, 0.5), (3.0, 0.7)]


def cascade_problem(n: int = 240, seed: int = 0, *, missing_responses: float = 0.0) -> tuple[RoutingData, Responses]:
    """Three models (cheap, mid, dear); each answer says "sure" when right and "unsure" when wrong, 10 % flipped."""
    rng = np.random.default_rng(seed)
    acc = np.array([0.5, 0.7, 0.9])
    y = (rng.random((n, 3)) < acc).astype(float)
    flip = rng.random((n, 3)) < 0.1
    text = np.where((y == 1) != flip, "final answer B sure", "perhaps C unsure").astype(object)
    text[rng.random((n, 3)) < missing_responses] = None
    cost = np.tile([1.0, 3.0, 10.0], (n, 1)) * rng.uniform(0.8, 1.2, (n, 1))
    splits = np.array(["train"] * n, dtype=object)
    splits[int(0.7 * n) :] = "test"
    data = RoutingData(
        name="cascade-synthetic",
        query_ids=[f"q{i:04d}" for i in range(n)],
        texts=[f"question {i} topic {i % 5}" for i in range(n)],
        sources=["s"] * n,
        splits=splits,
        models=tuple(ModelInfo(m) for m in ("cheap", "mid", "dear")),
        Y=y,
        cost=cost,
        cost_unit="usd",
    )
    return data, Responses(data.query_ids, tuple(data.model_names), text)


def _fit(data: RoutingData, resp: Responses, **params: object) -> Cascade:
    return Cascade(n_features=2**10, n_folds=3, **params).fit(data.split("train"), resp)  # type: ignore[arg-type]


def test_fit_frontier_and_budget() -> None:
    data, resp = cascade_problem()
    c = _fit(data, resp)
    front = c.frontier_
    assert [p.cost for p in front] == sorted(p.cost for p in front)
    assert all(b.quality > a.quality for a, b in itertools.pairwise(front))
    assert front[0].policy.chain == ("cheap",)  # the cheapest single model is the cheapest policy
    # the scorer reads the answers: some cascade beats the dearest model's quality at a lower cost
    train = data.split("train")
    dear_q, dear_c = train.mean_quality()[2], train.mean_cost()[2]
    assert any(p.quality >= dear_q and p.cost < dear_c for p in front)
    assert c.policy_for_budget(0.0) is front[0]
    assert c.policy_for_budget(1e9) is front[-1]
    with pytest.raises(NotFittedError):
        Cascade().confidence(data, resp)


def test_no_test_outcome_is_read() -> None:
    data, resp = cascade_problem()
    c = _fit(data, resp)
    test = data.split("test")
    scrambled = dataclasses.replace(test, Y=1.0 - test.Y)
    for view in (test.without_outcomes(), scrambled):
        assert np.array_equal(c.confidence(view, resp), c.confidence(test, resp))
    pol = c.frontier_[len(c.frontier_) // 2].policy
    a, b = c.run(test, resp, pol), c.run(scrambled, resp, pol)
    assert np.array_equal(a.answered, b.answered) and np.array_equal(a.cost, b.cost)
    # and the fit reads only the training rows it is given: test outcomes changed, the frontier is the same
    whole = dataclasses.replace(data, Y=np.where((data.splits == "test")[:, None], 0.0, data.Y))
    assert [p.to_dict() for p in _fit(whole, resp).frontier_] == [p.to_dict() for p in c.frontier_]


def test_query_order_does_not_matter() -> None:
    data, resp = cascade_problem()
    c = _fit(data, resp)
    perm = np.random.default_rng(1).permutation(data.n_queries)
    shuffled = data.subset(perm)
    c2 = _fit(shuffled, resp.subset(perm))  # rows of data and of responses both permuted
    assert [p.to_dict() for p in c2.frontier_] == [p.to_dict() for p in c.frontier_]
    test = data.split("test")
    order = np.random.default_rng(2).permutation(test.n_queries)
    pol = c.frontier_[-1].policy
    assert np.array_equal(c.run(test.subset(order), resp, pol).cost, c.run(test, resp, pol).cost[order])


def test_missing_responses() -> None:
    data, resp = cascade_problem(missing_responses=0.3)
    assert resp.missing.mean() == pytest.approx(0.3, abs=0.05)
    c = _fit(data, resp)
    assert len(c.frontier_) >= 1
    conf = c.confidence(data.split("test"), resp)
    assert np.isfinite(conf).all() and ((conf >= 0) & (conf <= 1)).all()
    x_none = pair_features(["q"], [None], n_features=16).toarray()
    x_empty = pair_features(["q"], [""], n_features=16).toarray()
    assert x_none[0, -3] == 1.0 and x_empty[0, -3] == 0.0  # a missing answer is flagged, never read as ""
    assert x_empty[0, -2] == 1.0


def test_given_chain_and_bad_params() -> None:
    data, resp = cascade_problem()
    c = _fit(data, resp, chain=["mid", "dear"])
    assert {p.policy.chain for p in c.frontier_} == {("mid", "dear")}
    with pytest.raises(SchemaError, match="No model column 'nope'"):
        _fit(data, resp, chain=["nope"])
    with pytest.raises(SchemaError, match="max_stages must be an integer >= 1"):
        _fit(data, resp, max_stages=0)
