"""Core routing metrics: hand-computed values, errors, and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from routerlab.decisions.policy import CostScale
from routerlab.errors import SchemaError
from routerlab.metrics import METRICS
from routerlab.metrics.core import (
    call_rate,
    ceiling_score,
    chosen,
    cna_score,
    mean_cost,
    oracle_accuracy_score,
    oracle_gap_loss,
    pgr_score,
    routing_accuracy_score,
    utility_score,
)

# 4 queries x 3 models; the router picks [0, 0, 1, 2]
Y = np.array([[1.0, 0.0, np.nan], [0.0, 0.0, 1.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])
COST = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [10.0, 11.0, 12.0]])
CHOICE = np.array([0, 0, 1, 2])
SCALE = CostScale(1.0, 9.0)  # c̃ of the chosen calls [1, 4, 8, 12] -> [0, 3/8, 7/8, 1 (clipped)]


def test_routing_accuracy_hand() -> None:
    assert routing_accuracy_score(Y=Y, choice=CHOICE) == 0.5  # (1 + 0 + 1 + 0) / 4
    assert routing_accuracy_score(Y=Y, choice=[1, 2, 0, 0]) == pytest.approx(1.5 / 4)


def test_oracle_accuracy_and_ceiling_hand() -> None:
    assert oracle_accuracy_score(Y=Y) == 0.75  # max per row [1, 1, 1, 0]; NaN is not an outcome
    assert ceiling_score(Y=Y) == 0.75
    binary = np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 1.0], [np.nan, 0.0], [1.0, np.nan]])
    assert ceiling_score(Y=binary) == pytest.approx(3 / 5)  # share of queries solved by at least one model


def test_oracle_gap_and_cna_hand() -> None:
    assert oracle_gap_loss(Y=Y, choice=CHOICE) == pytest.approx(0.25)
    assert cna_score(Y=Y, choice=CHOICE) == pytest.approx(0.5 / 0.75)
    best = np.array([0, 2, 1, 0])
    assert oracle_gap_loss(Y=Y, choice=best) == 0.0
    assert cna_score(Y=Y, choice=best) == 1.0


def test_cna_undefined_when_nothing_is_solvable() -> None:
    with pytest.raises(SchemaError, match=r"CNA is undefined.*ceiling = 0"):
        cna_score(Y=np.zeros((3, 2)), choice=np.array([0, 1, 0]))


def test_mean_cost_hand() -> None:
    assert mean_cost(cost=COST, choice=CHOICE) == 6.25  # (1 + 4 + 8 + 12) / 4
    with pytest.raises(SchemaError, match="query row 1 has no recorded cost"):
        mean_cost(cost=np.array([[1.0, 2.0], [np.nan, 1.0]]), choice=np.array([0, 0]))


def test_utility_hand() -> None:
    # mean c̃ = (0 + .375 + .875 + 1) / 4 = .5625
    assert utility_score(Y=Y, cost=COST, choice=CHOICE, lam=0.5, scale=SCALE) == pytest.approx(0.5 * 0.5 - 0.5 * 0.5625)
    assert utility_score(Y=Y, cost=COST, choice=CHOICE, lam=0.0, scale=SCALE) == 0.5
    assert utility_score(Y=Y, cost=COST, choice=CHOICE, lam=1.0, scale=SCALE) == pytest.approx(-0.5625)
    assert utility_score(Y=Y, cost=COST, choice=CHOICE, lam=0.2, scale=CostScale(3.0, 3.0)) == pytest.approx(0.8 * 0.5)
    for bad in (1.5, -0.1):
        with pytest.raises(ValueError, match=r"lam must be in \[0, 1\]"):
            utility_score(Y=Y, cost=COST, choice=CHOICE, lam=bad, scale=SCALE)


def test_utility_needs_cost_of_every_chosen_call() -> None:
    cost = COST.copy()
    cost[2, 1] = np.nan
    with pytest.raises(SchemaError, match="query row 2 has no recorded cost"):
        utility_score(Y=Y, cost=cost, choice=CHOICE, lam=0.5, scale=SCALE)


def test_pgr_hand() -> None:
    assert pgr_score(quality=0.7, weak_quality=0.5, strong_quality=0.9) == pytest.approx(0.5)
    assert pgr_score(quality=0.9, weak_quality=0.5, strong_quality=0.9) == 1.0
    assert pgr_score(quality=0.4, weak_quality=0.5, strong_quality=0.9) == pytest.approx(-0.25)
    with pytest.raises(
        ValueError, match=r"PGR is undefined when the strong and weak models have equal quality \(0.6\)"
    ):
        pgr_score(quality=0.7, weak_quality=0.6, strong_quality=0.6)


def test_call_rate_hand() -> None:
    np.testing.assert_allclose(call_rate(choice=CHOICE, n_models=3), [0.5, 0.25, 0.25])
    np.testing.assert_allclose(call_rate(choice=CHOICE, n_models=4), [0.5, 0.25, 0.25, 0.0])
    with pytest.raises(SchemaError, match="choice is empty"):
        call_rate(choice=np.array([], dtype=int), n_models=3)
    for bad in ([0, 3], [-1, 0], [0.0, 1.0]):
        with pytest.raises(SchemaError, match=r"model column indices in \[0, 2\]"):
            call_rate(choice=np.array(bad), n_models=3)


def test_chosen() -> None:
    np.testing.assert_array_equal(chosen(COST, CHOICE), [1.0, 4.0, 8.0, 12.0])


@pytest.mark.parametrize(
    "metric",
    [
        lambda c: routing_accuracy_score(Y=Y, choice=c),
        lambda c: oracle_gap_loss(Y=Y, choice=c),
        lambda c: cna_score(Y=Y, choice=c),
        lambda c: utility_score(Y=Y, cost=COST, choice=c, lam=0.0, scale=SCALE),
        lambda c: utility_score(Y=Y, cost=COST, choice=c, lam=0.5, scale=SCALE),
    ],
    ids=["accuracy", "gap", "cna", "utility0", "utility05"],
)
def test_choice_on_missing_outcome_is_an_error(metric) -> None:  # type: ignore[no-untyped-def]
    choice = np.array([2, 0, 1, 2])  # Y[0, 2] is NaN
    with pytest.raises(SchemaError, match=r"chose model column 2 for query row 0, which has no outcome.*available"):
        metric(choice)


@pytest.mark.parametrize(
    "call",
    [
        lambda: routing_accuracy_score(Y=np.zeros((0, 3)), choice=np.zeros(0, dtype=int)),
        lambda: oracle_accuracy_score(Y=np.zeros((0, 3))),
        lambda: ceiling_score(Y=np.zeros((0, 3))),
        lambda: oracle_gap_loss(Y=np.zeros((0, 3)), choice=np.zeros(0, dtype=int)),
        lambda: cna_score(Y=np.zeros((0, 3)), choice=np.zeros(0, dtype=int)),
        lambda: mean_cost(cost=np.zeros((0, 3)), choice=np.zeros(0, dtype=int)),
        lambda: utility_score(
            Y=np.zeros((0, 3)), cost=np.zeros((0, 3)), choice=np.zeros(0, dtype=int), lam=0.5, scale=SCALE
        ),
    ],
    ids=["accuracy", "oracle", "ceiling", "gap", "cna", "cost", "utility"],
)
def test_empty_input_is_an_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaError, match="no queries"):
        call()


def test_bad_inputs_are_errors() -> None:
    with pytest.raises(SchemaError, match="one entry per query"):
        routing_accuracy_score(Y=Y, choice=np.array([0, 1]))
    with pytest.raises(SchemaError, match=r"model column indices in \[0, 2\]"):
        routing_accuracy_score(Y=Y, choice=np.array([0, 1, 3, 0]))
    with pytest.raises(SchemaError, match="model column indices"):
        routing_accuracy_score(Y=Y, choice=np.array([0.0, 1.0, 1.0, 0.0]))
    with pytest.raises(SchemaError, match=r"\(n_queries, n_models\) matrix"):
        oracle_accuracy_score(Y=np.array([1.0, 0.0]))
    with pytest.raises(SchemaError, match="Query row 1 has no outcome for any model"):
        oracle_accuracy_score(Y=np.array([[1.0, 0.0], [np.nan, np.nan]]))


def test_metric_registry_directions() -> None:
    assert METRICS.get("routing_accuracy").higher_is_better
    assert METRICS.get("cna").higher_is_better and METRICS.get("utility").higher_is_better
    assert not METRICS.get("oracle_gap").higher_is_better and not METRICS.get("mean_cost").higher_is_better
    assert METRICS.get("oracle_gap").fn is oracle_gap_loss


# ---------------------------------------------------------------------------------------- properties


@st.composite
def routed(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random (Y with NaN, cost, choice) where every row has an outcome and the choice lands on one."""
    n_q = draw(st.integers(1, 12))
    n_m = draw(st.integers(1, 5))
    binary = draw(st.booleans())
    values = st.sampled_from([0.0, 1.0]) if binary else st.floats(0.0, 1.0)
    Y = draw(hnp.arrays(np.float64, (n_q, n_m), elements=values))
    missing = draw(hnp.arrays(np.bool_, (n_q, n_m)))
    keep = draw(hnp.arrays(np.int64, n_q, elements=st.integers(0, n_m - 1)))
    missing[np.arange(n_q), keep] = False
    Y[missing] = np.nan
    cost = draw(hnp.arrays(np.float64, (n_q, n_m), elements=st.floats(0.0, 100.0)))
    picks = [draw(st.sampled_from(np.flatnonzero(~missing[i]).tolist())) for i in range(n_q)]
    return Y, cost, np.array(picks, dtype=np.intp)


@settings(max_examples=50, deadline=None)
@given(routed(), st.floats(0.0, 1.0))
def test_utility_at_lambda_zero_is_accuracy_and_at_one_is_minus_cost(
    case: tuple[np.ndarray, np.ndarray, np.ndarray], lo: float
) -> None:
    Y, cost, choice = case
    scale = CostScale(lo * 50.0, 50.0 + lo * 30.0)
    acc = routing_accuracy_score(Y=Y, choice=choice)
    assert utility_score(Y=Y, cost=cost, choice=choice, lam=0.0, scale=scale) == acc
    c_tilde = np.clip((cost[np.arange(len(choice)), choice] - scale.lo) / (scale.hi - scale.lo), 0.0, 1.0)
    assert utility_score(Y=Y, cost=cost, choice=choice, lam=1.0, scale=scale) == pytest.approx(
        -c_tilde.mean(), abs=1e-12
    )
    mid = utility_score(Y=Y, cost=cost, choice=choice, lam=0.3, scale=scale)
    assert mid == pytest.approx(0.7 * acc - 0.3 * c_tilde.mean(), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(routed())
def test_oracle_bounds_any_choice(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    Y, _, choice = case
    acc = routing_accuracy_score(Y=Y, choice=choice)
    oracle = oracle_accuracy_score(Y=Y)
    assert 0.0 <= acc <= oracle <= 1.0
    assert oracle_gap_loss(Y=Y, choice=choice) >= 0.0
    if oracle > 0:
        assert 0.0 <= cna_score(Y=Y, choice=choice) <= 1.0
    best = np.nanargmax(Y, axis=1)
    assert routing_accuracy_score(Y=Y, choice=best) == oracle


@settings(max_examples=50, deadline=None)
@given(routed(), st.randoms(use_true_random=False))
def test_metrics_invariant_to_query_order(case: tuple[np.ndarray, np.ndarray, np.ndarray], rnd) -> None:  # type: ignore[no-untyped-def]
    Y, cost, choice = case
    perm = list(range(len(choice)))
    rnd.shuffle(perm)
    scale = CostScale(10.0, 60.0)
    for metric in (routing_accuracy_score, oracle_gap_loss):
        assert metric(Y=Y[perm], choice=choice[perm]) == pytest.approx(metric(Y=Y, choice=choice), abs=1e-12)
    assert oracle_accuracy_score(Y=Y[perm]) == pytest.approx(oracle_accuracy_score(Y=Y), abs=1e-12)
    assert mean_cost(cost=cost[perm], choice=choice[perm]) == pytest.approx(mean_cost(cost=cost, choice=choice))
    assert utility_score(Y=Y[perm], cost=cost[perm], choice=choice[perm], lam=0.4, scale=scale) == pytest.approx(
        utility_score(Y=Y, cost=cost, choice=choice, lam=0.4, scale=scale), abs=1e-12
    )
    np.testing.assert_array_equal(
        call_rate(choice=choice[perm], n_models=Y.shape[1]), call_rate(choice=choice, n_models=Y.shape[1])
    )


@settings(max_examples=50, deadline=None)
@given(routed())
def test_call_rate_is_a_distribution(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    Y, _, choice = case
    rates = call_rate(choice=choice, n_models=Y.shape[1])
    assert rates.shape == (Y.shape[1],) and (rates >= 0).all()
    assert rates.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(rates * len(choice), np.bincount(choice, minlength=Y.shape[1]))


# ------------------------------------------------------------------- the missing-outcome policy
from routerlab.metrics.core import (  # noqa: E402
    DEFAULT_MISSING,
    MISSING_POLICIES,
    best_single_model,
    check_missing_policy,
    chosen_outcomes,
)

HOLE_CHOICE = np.array([2, 0, 1, 2])  # query row 0 goes to column 2, which has no outcome


def test_default_policy_is_reroute_and_refuses_a_choice_on_a_hole() -> None:
    assert DEFAULT_MISSING == "reroute" and set(MISSING_POLICIES) == {"reroute", "zero", "skip", "error"}
    for missing in ("reroute", "error"):
        with pytest.raises(SchemaError, match=r"query row 0, which has no outcome; 1 choices.*missing='zero'"):
            routing_accuracy_score(Y=Y, choice=HOLE_CHOICE, missing=missing)


def test_zero_counts_a_hole_as_a_failed_call_on_every_query() -> None:
    assert routing_accuracy_score(Y=Y, choice=HOLE_CHOICE, missing="zero") == pytest.approx(1.0 / 4)
    counted = chosen_outcomes(Y=Y, choice=HOLE_CHOICE, missing="zero", cost=COST)
    assert counted.n_missing == 1 and counted.rows.tolist() == [0, 1, 2, 3]
    assert mean_cost(cost=COST, choice=HOLE_CHOICE, Y=Y, missing="zero") == pytest.approx((3 + 4 + 8 + 12) / 4)
    unpriced = COST.copy()
    unpriced[0, 2] = np.nan  # no recorded cost either: the largest per-call cost, never free
    assert mean_cost(cost=unpriced, choice=HOLE_CHOICE, Y=Y, missing="zero") == pytest.approx((12 + 4 + 8 + 12) / 4)
    oracle = oracle_accuracy_score(Y=Y)
    assert oracle_gap_loss(Y=Y, choice=HOLE_CHOICE, missing="zero") == pytest.approx(oracle - 0.25)


def test_skip_leaves_the_query_out_and_compares_with_the_oracle_on_the_same_queries() -> None:
    assert routing_accuracy_score(Y=Y, choice=HOLE_CHOICE, missing="skip") == pytest.approx(1.0 / 3)
    # oracle on rows 1..3 is (1 + 1 + 0) / 3; the gap is paired, so never negative
    assert oracle_gap_loss(Y=Y, choice=HOLE_CHOICE, missing="skip") == pytest.approx(2 / 3 - 1 / 3)
    assert cna_score(Y=Y, choice=HOLE_CHOICE, missing="skip") == pytest.approx(0.5)
    assert mean_cost(cost=COST, choice=HOLE_CHOICE, Y=Y, missing="skip") == pytest.approx((4 + 8 + 12) / 3)
    every_hole = np.array([[np.nan, 1.0]] * 3)
    with pytest.raises(SchemaError, match=r"All 3 choices land on cells with no outcome.*missing='zero'"):
        routing_accuracy_score(Y=every_hole, choice=np.zeros(3, dtype=int), missing="skip")


def test_unknown_policy_names_field_value_and_choices() -> None:
    with pytest.raises(ValueError, match=r"missing must be one of 'reroute', 'zero', 'skip', 'error'. Got 'nan'"):
        check_missing_policy("nan")
    with pytest.raises(ValueError, match="missing must be one of"):
        routing_accuracy_score(Y=Y, choice=CHOICE, missing="fill")


def test_best_single_model_ignores_a_model_without_outcomes_and_compares_partial_coverage() -> None:
    # model 0 has no outcome at all, model 1 is observed on half the queries, model 2 on all
    y = np.array([[np.nan, 1.0, 0.5], [np.nan, np.nan, 0.5], [np.nan, 1.0, 0.5], [np.nan, np.nan, 0.5]])
    best = best_single_model(Y=y)
    assert (best.index, best.quality, best.n_observed, best.coverage) == (1, 1.0, 2, 0.5)
    best = best_single_model(Y=y[:, [0, 2]])
    assert best.index == 1 and best.quality == 0.5 and best.coverage == 1.0  # never the empty column
    with pytest.raises(SchemaError, match="No model has an outcome"):
        best_single_model(Y=np.full((2, 2), np.nan))


@st.composite
def _holey_problem(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 4))
    y = draw(hnp.arrays(np.float64, (n, m), elements=st.sampled_from([0.0, 0.5, 1.0, np.nan])))
    y[:, 0] = np.where(np.isnan(y).all(axis=1), 1.0, y[:, 0])  # every query has some outcome
    choice = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, m - 1)))
    perm = np.array(draw(st.permutations(list(range(n)))), dtype=np.intp)
    return y, choice, perm


@settings(max_examples=150, deadline=None)
@given(_holey_problem(), st.sampled_from(["zero", "skip"]))
def test_policies_never_beat_the_oracle_and_ignore_query_order(
    case: tuple[np.ndarray, np.ndarray, np.ndarray], missing: str
) -> None:
    y, choice, perm = case
    try:
        acc = routing_accuracy_score(Y=y, choice=choice, missing=missing)
    except SchemaError:
        assert missing == "skip" and np.isnan(chosen(y, choice)).all()
        return
    assert oracle_gap_loss(Y=y, choice=choice, missing=missing) >= -1e-12
    if missing == "zero":
        assert acc <= oracle_accuracy_score(Y=y) + 1e-12
    again = routing_accuracy_score(Y=y[perm], choice=choice[perm], missing=missing)
    assert again == pytest.approx(acc)
    if oracle_accuracy_score(Y=y[chosen_outcomes(Y=y, choice=choice, missing=missing).rows]) > 0:
        assert cna_score(Y=y, choice=choice, missing=missing) <= 1 + 1e-12
