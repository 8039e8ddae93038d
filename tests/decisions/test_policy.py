"""The shared selection policy, on hand-computed cases and as properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from routerlab.decisions.policy import Argmax, Budget, CostScale, CostUtility, policy_for, select
from routerlab.errors import SchemaError

UNIT = CostScale(0.0, 1.0)


def test_argmax_picks_highest_score() -> None:
    scores = np.array([[0.2, 0.9, 0.5], [0.7, 0.1, 0.3], [0.0, 0.0, 0.01]])
    cost = np.ones_like(scores)
    assert select(scores, cost, Argmax(), UNIT).tolist() == [1, 0, 2]


def test_argmax_tie_goes_to_cheaper_model_then_lower_column() -> None:
    scores = np.array([[0.8, 0.8, 0.8], [0.8, 0.8, 0.3], [0.5, 0.5, 0.5]])
    cost = np.array([[3.0, 1.0, 2.0], [2.0, 2.0, 0.1], [1.0, 1.0, 1.0]])
    # row 0: all tied -> cheapest (col 1); row 1: cols 0, 1 tied at equal cost -> col 0 (col 2 is cheaper but worse)
    # row 2: everything tied -> col 0
    assert select(scores, cost, Argmax(), UNIT).tolist() == [1, 0, 0]


def test_cost_scale_normalisation() -> None:
    scale = CostScale.from_costs(np.array([[2.0, 4.0], [6.0, 100.0]]), np.array([[True, True], [True, False]]))
    assert (scale.lo, scale.hi) == (2.0, 6.0)  # the unobserved 100 does not count
    np.testing.assert_allclose(scale.normalize(np.array([2.0, 3.0, 6.0, 100.0, 0.0])), [0.0, 0.25, 1.0, 1.0, 0.0])
    assert CostScale(3.0, 3.0).normalize(np.array([1.0, 3.0, 9.0])).tolist() == [0.0, 0.0, 0.0]
    assert CostScale.from_costs(np.array([[np.nan, np.inf]])) == CostScale(0.0, 0.0)


def test_cost_utility_lambda_half_hand_example() -> None:
    """U = 0.5·p − 0.5·c̃ with c̃ = (c − 1) / (5 − 1).

    row 0: c̃ = [1, .5, 0]     U = [.45 − .5, .30 − .25, .15 − 0]      = [−.05, .05, .15]  -> col 2
    row 1: c̃ = [.25, .75, .5] U = [.25 − .125, .20 − .375, .225 − .25] = [.125, −.175, −.025] -> col 0
    """
    scores = np.array([[0.9, 0.6, 0.3], [0.5, 0.4, 0.45]])
    cost = np.array([[5.0, 3.0, 1.0], [2.0, 4.0, 3.0]])
    scale = CostScale(1.0, 5.0)
    policy = CostUtility(0.5)
    np.testing.assert_allclose(
        policy.utility(scores, scale.normalize(cost)), [[-0.05, 0.05, 0.15], [0.125, -0.175, -0.025]]
    )
    assert select(scores, cost, policy, scale).tolist() == [2, 0]
    assert select(scores, cost, Argmax(), scale).tolist() == [0, 0]  # λ = 0 ignores cost


def test_cost_utility_clips_normalised_cost() -> None:
    """A cost above the training maximum counts as c̃ = 1, not more.

    λ = 0.4, scale (1, 5): U0 = 0.6·0 − 0.4·0 = 0, U1 = 0.6·1 − 0.4·1 = 0.2 -> col 1.
    Unclipped, c̃1 would be 24.75 and col 0 would win.
    """
    scores = np.array([[0.0, 1.0]])
    cost = np.array([[1.0, 100.0]])
    assert select(scores, cost, CostUtility(0.4), CostScale(1.0, 5.0)).tolist() == [1]


def test_cost_utility_lambda_one_picks_cheapest() -> None:
    scores = np.array([[1.0, 0.0, 0.5]])
    cost = np.array([[9.0, 2.0, 1.0]])
    assert select(scores, cost, CostUtility(1.0), CostScale(1.0, 9.0)).tolist() == [2]


def test_budget_best_quality_within_cap() -> None:
    scores = np.array([[0.9, 0.8, 0.3], [0.9, 0.8, 0.3], [0.9, 0.7, 0.7]])
    cost = np.array([[5.0, 2.0, 1.0], [5.0, 2.0, 1.0], [5.0, 2.0, 1.0]])
    assert select(scores, cost, Budget(2.0), UNIT).tolist() == [1, 1, 2]  # row 2: tie within budget -> cheaper
    assert select(scores, cost, Budget(5.0), UNIT).tolist() == [0, 0, 0]
    assert select(scores, cost, Budget(1.5), UNIT).tolist() == [2, 2, 2]


def test_budget_falls_back_to_cheapest_when_nothing_fits() -> None:
    scores = np.array([[0.9, 0.8, 0.3], [0.1, 0.2, 0.9]])
    cost = np.array([[5.0, 2.0, 1.5], [0.7, 0.6, 3.0]])
    assert select(scores, cost, Budget(0.5), UNIT).tolist() == [2, 1]
    # the fallback respects the available mask: the cheapest *available* model
    available = np.array([[True, True, False], [True, False, True]])
    assert select(scores, cost, Budget(0.5), UNIT, available).tolist() == [1, 0]


def test_budget_ignores_unavailable_models_within_cap() -> None:
    scores = np.array([[0.9, 0.8, 0.3]])
    cost = np.array([[1.0, 1.0, 1.0]])
    available = np.array([[False, True, True]])
    assert select(scores, cost, Budget(1.0), UNIT, available).tolist() == [1]


@pytest.mark.parametrize("policy", [Argmax(), CostUtility(0.3)])
def test_available_mask_respected(policy: Argmax | CostUtility) -> None:
    scores = np.array([[0.9, 0.1, 0.5], [0.9, 0.8, 0.7]])
    cost = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    available = np.array([[False, True, True], [False, False, True]])
    assert select(scores, cost, policy, UNIT, available).tolist() == [2, 2]


def test_query_with_no_available_model_is_an_error() -> None:
    scores = np.array([[0.9, 0.1], [0.2, 0.3]])
    with pytest.raises(SchemaError, match="Query 1 has no available model"):
        select(scores, np.ones((2, 2)), Argmax(), UNIT, np.array([[True, False], [False, False]]))


def test_nan_scores_rejected() -> None:
    scores = np.array([[0.9, 0.1], [np.nan, 0.3]])
    with pytest.raises(SchemaError, match="NaN at query 1, model 0; a router must score every cell"):
        select(scores, np.ones((2, 2)), Argmax(), UNIT)


def test_shape_mismatch_rejected() -> None:
    with pytest.raises(SchemaError, match="scores and cost must both be"):
        select(np.zeros((2, 3)), np.zeros((2, 2)), Argmax(), UNIT)
    with pytest.raises(SchemaError, match="scores and cost must both be"):
        select(np.zeros(3), np.zeros(3), Argmax(), UNIT)


def test_zero_queries_give_empty_choice() -> None:
    out = select(np.zeros((0, 3)), np.zeros((0, 3)), Argmax(), UNIT)
    assert out.shape == (0,) and out.dtype == np.intp


def test_policy_for() -> None:
    assert policy_for() == Argmax() and policy_for(0.0) == Argmax() and policy_for(0) == Argmax()
    assert policy_for(0.2) == CostUtility(0.2)
    assert policy_for(budget=3.0) == Budget(3.0)
    with pytest.raises(ValueError, match="not both"):
        policy_for(0.2, 1.0)
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"lambda must be in \[0, 1\]"):
            policy_for(bad)
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="finite number >= 0"):
            Budget(bad)


@st.composite
def selection_problem(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    n_q = draw(st.integers(1, 8))
    n_m = draw(st.integers(1, 5))
    # coarse values so that exact ties happen often
    scores = draw(hnp.arrays(np.float64, (n_q, n_m), elements=st.sampled_from([0.0, 0.25, 0.5, 1.0])))
    cost = draw(hnp.arrays(np.float64, (n_q, n_m), elements=st.sampled_from([0.0, 1.0, 2.0, 4.0])))
    available = draw(hnp.arrays(np.bool_, (n_q, n_m)))
    available[np.arange(n_q), draw(hnp.arrays(np.int64, n_q, elements=st.integers(0, n_m - 1)))] = True
    lam = draw(st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]))
    return scores, cost, available, lam


@settings(max_examples=50, deadline=None)
@given(selection_problem())
def test_selection_maximises_utility_then_minimises_cost(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray, float],
) -> None:
    scores, cost, available, lam = problem
    scale = CostScale(0.0, 4.0)
    policy = CostUtility(lam)
    choice = select(scores, cost, policy, scale, available)
    rows = np.arange(len(choice))
    assert available[rows, choice].all()
    utility = np.where(available, policy.utility(scores, scale.normalize(cost)), -np.inf)
    best = utility.max(axis=1)
    assert np.array_equal(utility[rows, choice], best)
    tied_cost = np.where(utility == best[:, None], cost, np.inf).min(axis=1)
    assert np.array_equal(cost[rows, choice], tied_cost)


@settings(max_examples=50, deadline=None)
@given(selection_problem(), st.sampled_from([0.0, 0.5, 1.0, 2.0, 10.0]))
def test_budget_choice_fits_whenever_possible(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray, float], cap: float
) -> None:
    scores, cost, available, _ = problem
    choice = select(scores, cost, Budget(cap), UNIT, available)
    rows = np.arange(len(choice))
    assert available[rows, choice].all()
    fits = available & (cost <= cap)
    any_fits = fits.any(axis=1)
    assert (cost[rows, choice][any_fits] <= cap).all()
    best_within = np.where(fits, scores, -np.inf).max(axis=1)
    assert np.array_equal(scores[rows, choice][any_fits], best_within[any_fits])
    cheapest = np.where(available, cost, np.inf).min(axis=1)
    assert np.array_equal(cost[rows, choice][~any_fits], cheapest[~any_fits])


@settings(max_examples=50, deadline=None)
@given(selection_problem(), st.randoms(use_true_random=False))
def test_selection_is_row_wise(problem: tuple[np.ndarray, np.ndarray, np.ndarray, float], rnd) -> None:  # type: ignore[no-untyped-def]
    scores, cost, available, lam = problem
    perm = list(range(len(scores)))
    rnd.shuffle(perm)
    scale = CostScale(0.0, 4.0)
    base = select(scores, cost, policy_for(lam), scale, available)
    permuted = select(scores[perm], cost[perm], policy_for(lam), scale, available[perm])
    assert np.array_equal(permuted, base[perm])


def test_lam_key_is_one_exact_encoding() -> None:
    from routerlab.decisions import lam_key

    assert [lam_key(v) for v in (0, 0.0, 0.2, 0.5, 1)] == ["0", "0", "0.2", "0.5", "1"]
    assert float(lam_key(0.1234567)) == 0.1234567  # %g would round it to 0.123457
    for v in (0.0, 1 / 3, 0.7, 1e-9):
        assert float(lam_key(v)) == v
