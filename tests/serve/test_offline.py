"""From a real SQLite decision log to bandit arrays, a router's off-policy value and a RoutingData."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routerlab.serve.log import DecisionLog, read_log
from routerlab.serve.offline import (
    FALLBACK,
    NO_COST,
    NO_FEEDBACK,
    NO_QUERY,
    NOT_ANSWERED,
    NOT_ROUTED,
    evaluate_on_log,
    logged_bandit,
    routing_data_from_log,
)
from tests.serve.helpers import CHAT, MATH, MODELS

_clock = itertools.count()
#: the tiny problem's true success probability of each model on a math / a chat query
MU = {"math": {"small": 0.1, "mid": 0.3, "big": 0.9}, "chat": {"small": 0.8, "mid": 0.7, "big": 0.9}}
#: the scores a (poor) logging router gave every query
LOGGED_SCORES = {"small": 0.5, "mid": 0.6, "big": 0.55}


def record(**fields: Any) -> dict[str, Any]:
    """A routed, answered log record (override any field); ts increases so read_log keeps the order."""
    base: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "ts": f"2025-01-01T00:00:{next(_clock):06d}Z",
        "router": "best_single",
        "policy": "lambda=0",
        "lam": 0.0,
        "scores": dict(LOGGED_SCORES),
        "chosen": "mid",
        "greedy": "mid",
        "epsilon": 0.0,
        "propensity": 1.0,
        "answered_by": "mid",
        "status": 200,
        "latency_ms": 3.0,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": 0.002,
        "query": MATH[0],
    }
    base.update(fields)
    return base


def write_log(path: Path, rows: list[tuple[dict[str, Any], float | None]]) -> Path:
    """Write ``(record, feedback)`` pairs to a real decision log at ``path``."""
    log = DecisionLog(path)
    try:
        for rec, score in rows:
            log.write(rec)
            if score is not None:
                log.feedback(rec["request_id"], score, ts=rec["ts"])
    finally:
        log.close()
    return path


def simulated_log(path: Path, *, n: int, eps: float, seed: int) -> float:
    """ε-greedy logging around 'mid' over the tiny problem's queries, Bernoulli(μ) feedback; the knn target's truth.

    The knn router of the conftest sends math to big and chat to small (λ = 0), so the target's
    true value over the logged queries is the mean of μ(x, π(x)).
    """
    gen = np.random.default_rng(seed)
    k = len(MODELS)
    rows, truth = [], []
    for i in range(n):
        kind, texts = ("math", MATH) if i % 2 == 0 else ("chat", CHAT)
        text = texts[int(gen.integers(len(texts)))]
        explore = gen.random() < eps
        chosen = MODELS[int(gen.integers(k))] if explore else "mid"
        p = (1 - eps) * (chosen == "mid") + eps / k
        reward = float(gen.random() < MU[kind][chosen])
        rows.append((record(query=text, chosen=chosen, answered_by=chosen, epsilon=eps, propensity=p), reward))
        truth.append(MU[kind]["big" if kind == "math" else "small"])
    write_log(path, rows)
    return float(np.mean(truth))


@pytest.fixture
def mixed_log(tmp_path: Path) -> Path:
    """Two usable records and one of each excluded kind."""
    rows = [
        (record(query=MATH[1], chosen="big", answered_by="big", epsilon=0.3, propensity=0.1), 1.0),
        (record(query=CHAT[2], chosen="mid", answered_by="mid", epsilon=0.3, propensity=0.8), 0.5),
        (record(propensity=None, epsilon=None, greedy=None, scores=None), 1.0),  # a pass-through
        (record(status=503, answered_by=None), 0.0),
        (record(chosen="mid", answered_by="big"), 1.0),  # a fallback answered
        (record(), None),  # no feedback
        (record(query=None), 1.0),  # gateway without --log-queries
    ]
    return write_log(tmp_path / "log.sqlite", rows)


def test_bandit_arrays_and_every_exclusion_counted(mixed_log: Path, fitted: tuple[Any, Path]) -> None:
    bandit = logged_bandit(read_log(mixed_log), fitted[1])
    assert bandit.models == MODELS and bandit.n == 2 and bandit.n_records == 7
    assert dict(bandit.excluded) == {NOT_ROUTED: 1, NOT_ANSWERED: 1, FALLBACK: 1, NO_FEEDBACK: 1, NO_QUERY: 1}
    np.testing.assert_array_equal(bandit.actions, [2, 1])  # big, mid in the router's column order
    np.testing.assert_array_equal(bandit.propensities, [0.1, 0.8])
    np.testing.assert_array_equal(bandit.rewards, [1.0, 0.5])
    np.testing.assert_array_equal(bandit.logged_scores, [[0.5, 0.6, 0.55]] * 2)
    np.testing.assert_array_equal(bandit.target_actions, [2, 0])  # knn: math -> big, chat -> small
    # ε = 0.3 over K = 3: the greedy 'mid' has 0.7 + 0.1, any other model 0.1
    np.testing.assert_allclose(bandit.target_propensities, [0.1, 0.1])
    assert bandit.q_hat is bandit.logged_scores


def test_target_choices_are_the_gateways_choices(tmp_path: Path, fitted: tuple[Any, Path]) -> None:
    """Deciding every logged query in one batch picks what RequestRouter picks for each request alone."""
    from routerlab.routers.persist import load_router
    from routerlab.serve.routing import PolicySpec, RequestRouter

    texts = [*MATH, *CHAT, "integral of x^9 times cos x", "hello there friend"]
    path = write_log(tmp_path / "log.sqlite", [(record(query=t), 1.0) for t in texts])
    one_by_one = RequestRouter(load_router(fitted[1]), cost_unit="usd")
    for lam in (0.0, 0.5):
        bandit = logged_bandit(read_log(path), fitted[1], lam=lam)
        expected = [one_by_one.ranking(t, PolicySpec(lam=lam))[0] for t in texts]
        assert [MODELS[j] for j in bandit.target_actions] == expected
    assert set(expected) == {"small"}  # at λ = 0.5 every query goes to the cheapest model


def test_ope_figures_match_a_plain_python_computation(tmp_path: Path, fitted: tuple[Any, Path]) -> None:
    path = tmp_path / "log.sqlite"
    simulated_log(path, n=90, eps=0.5, seed=3)
    result = evaluate_on_log(read_log(path), fitted[1], n_resamples=200)
    num = den = dr = 0.0
    recs = read_log(path)
    for rec in recs:
        target = "big" if rec["query"] in MATH else "small"
        w = (rec["chosen"] == target) / rec["propensity"]
        num, den = num + w * rec["feedback"], den + w
        dr += rec["scores"][target] + w * (rec["feedback"] - rec["scores"][rec["chosen"]])
    est = result.value.estimates
    assert est["ips"].estimate == pytest.approx(num / len(recs))
    assert est["snips"].estimate == pytest.approx(num / den)
    assert est["dr"].estimate == pytest.approx(dr / len(recs))
    assert est["dm"].estimate == pytest.approx(np.mean([0.55 if r["query"] in MATH else 0.5 for r in recs]))
    assert result.value.diagnostics.n_unsupported == 0 and result.n_unknown_support == 0
    target_q = evaluate_on_log(recs, fitted[1], reward_model="target", n_resamples=200)
    assert target_q.value.estimates["dm"].estimate == pytest.approx(1.0)  # knn believes its choices always succeed


def test_zero_exploration_flags_the_records_the_target_cannot_be_seen_on(
    tmp_path: Path, fitted: tuple[Any, Path]
) -> None:
    path = tmp_path / "log.sqlite"
    simulated_log(path, n=40, eps=0.0, seed=1)  # always 'mid'; the target never picks mid
    result = evaluate_on_log(read_log(path), fitted[1], n_resamples=100)
    assert result.value.diagnostics.n_unsupported == 40 and result.value.diagnostics.n_matched == 0
    assert any("ε-exploration" in w for w in result.value.diagnostics.warnings)


def test_errors_name_the_fix(tmp_path: Path, fitted: tuple[Any, Path]) -> None:
    no_text = write_log(tmp_path / "a.sqlite", [(record(query=None), 1.0)] * 1)
    with pytest.raises(ValueError, match="--log-queries"):
        logged_bandit(read_log(no_text), fitted[1])
    no_feedback = write_log(tmp_path / "b.sqlite", [(record(), None)])
    with pytest.raises(ValueError, match=r"1 no feedback .*POST /v1/feedback"):
        logged_bandit(read_log(no_feedback), fitted[1])
    other_pool = {"small": 0.2, "gpt-4o": 0.9}
    wrong = write_log(tmp_path / "c.sqlite", [(record(scores=other_pool, chosen="small", answered_by="small"), 1.0)])
    with pytest.raises(ValueError, match=r"\['small', 'gpt-4o'\].*\['small', 'mid', 'big'\]"):
        logged_bandit(read_log(wrong), fitted[1])
    with pytest.raises(ValueError, match="reward_model must be one of logged, target"):
        logged_bandit(read_log(no_text), fitted[1], reward_model="oracle")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- log -> RoutingData
def test_routing_data_from_log_has_partial_outcomes_and_counts(tmp_path: Path) -> None:
    from routerlab.data import load
    from routerlab.data.io import write_parquet

    repeated = CHAT[0]
    rows = [
        (record(query=repeated, answered_by="small", cost_usd=0.001), 1.0),
        (record(query=repeated, answered_by="big", cost_usd=0.004), 0.25),
        (record(query=MATH[3], chosen="mid", answered_by="big", cost_usd=0.005), 0.75),  # after a fallback: kept
        (record(propensity=None, greedy=None, scores=None, query=MATH[4], answered_by="mid"), 0.5),  # pass-through
        (record(cost_usd=None), 1.0),
        (record(), None),
        (record(status=500, answered_by=None), 0.0),
        (record(query=None), 1.0),
    ]
    path = write_log(tmp_path / "log.sqlite", rows)
    data = routing_data_from_log(read_log(path), source=str(path))
    assert data.model_names == ["small", "mid", "big"] and data.n_queries == 4 and data.cost_unit == "usd"
    y = data.Y
    np.testing.assert_array_equal(np.isnan(y).sum(axis=1), [2, 2, 2, 2])  # one outcome per row
    assert (y[0, 0], y[1, 2], y[2, 2], y[3, 1]) == (1.0, 0.25, 0.75, 0.5)
    assert (data.cost[0, 0], data.cost[1, 2], data.cost[2, 2]) == (0.001, 0.004, 0.005)
    assert np.isnan(data.cost[0, 1]) and data.tokens_in is not None and data.tokens_in[0, 0] == 10
    assert list(data.query_ids) == [rows[i][0]["request_id"] for i in range(4)]
    assert data.splits[0] == data.splits[1]  # the same text lands in one split
    assert data.meta["excluded"] == {NO_COST: 1, NO_FEEDBACK: 1, NOT_ANSWERED: 1, NO_QUERY: 1}
    assert (data.meta["records"], data.meta["rows"], data.meta["source_log"]) == (8, 4, str(path))
    out = write_parquet(data, tmp_path / "from-log.parquet")
    back = load(str(out))
    np.testing.assert_array_equal(back.Y, data.Y)
    assert back.meta["excluded"] == data.meta["excluded"]


def test_splits_follow_the_fractions_and_models_option(tmp_path: Path) -> None:
    texts = [f"question number {i}" for i in range(400)]
    path = write_log(tmp_path / "log.sqlite", [(record(query=t), 1.0) for t in texts])
    records = read_log(path)
    data = routing_data_from_log(records, val=0.2, test=0.3)
    share = {s: float(np.mean(data.splits == s)) for s in ("train", "val", "test")}
    assert share == pytest.approx({"train": 0.5, "val": 0.2, "test": 0.3}, abs=0.07)
    assert list(routing_data_from_log(records, val=0.2, test=0.3).splits) == list(data.splits)  # deterministic
    reordered = routing_data_from_log(records, models=["big", "mid"])
    assert reordered.model_names == ["big", "mid"] and np.isnan(reordered.Y[:, 0]).all()
    with pytest.raises(ValueError, match=r"400 answered by a model outside the pool .*--models"):
        routing_data_from_log(records, models=["big"])
    with pytest.raises(ValueError, match=r"--val \+ --test must leave some queries for train"):
        routing_data_from_log(records, val=0.5, test=0.5)


def test_target_support_is_unknown_when_a_budget_shrank_the_logged_ranking(
    tmp_path: Path, fitted: tuple[Any, Path]
) -> None:
    """ε = 0.5 over K = 2 admissible models (a budget left one out): P = 0.75 for the greedy, 0.25 for the other."""
    rows = [
        (record(query=MATH[0], greedy="small", chosen="small", answered_by="small", epsilon=0.5, propensity=0.75), 0.0),
        (record(query=MATH[1], greedy="small", chosen="big", answered_by="big", epsilon=0.5, propensity=0.25), 1.0),
        (record(query=CHAT[0], greedy="mid", chosen="mid", answered_by="mid", epsilon=0.5, propensity=0.75), 1.0),
    ]
    result = evaluate_on_log(read_log(write_log(tmp_path / "log.sqlite", rows)), fitted[1], n_resamples=50)
    # the target picks big, big, small: big's admissibility is unknown on row 0, known (it was drawn) on row 1;
    # small is neither greedy nor chosen on row 2
    np.testing.assert_array_equal(np.isnan(result.bandit.target_propensities), [True, False, True])
    assert result.bandit.target_propensities[1] == pytest.approx(0.25)
    assert result.n_unknown_support == 2 and result.value.diagnostics.n_unsupported == 0
