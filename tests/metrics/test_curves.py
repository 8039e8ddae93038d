"""Deferral and call-rate curves: hand-computed values, errors, and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from routerlab.decisions import CostScale, Decisions
from routerlab.errors import SchemaError
from routerlab.metrics import METRICS
from routerlab.metrics.curves import (
    Curve,
    apgr_score,
    area_under_curve,
    auroc_score,
    call_rate_curve,
    cpt,
    cpt_cost,
    deferral_curve,
    hcr_score,
    lpm_score,
    mpm_score,
    non_decreasing_hull,
    oracle_deferral_curve,
    router_deferral_points,
    utility_sweep,
)

# 2 queries x 2 models: model 1 solves both, model 0 only query 1; model 1 costs 3x more
Y2 = np.array([[0.0, 1.0], [1.0, 1.0]])
C2 = np.array([[1.0, 3.0], [1.0, 3.0]])
S2 = np.array([[0.2, 0.9], [0.6, 0.7]])
SCALE2 = CostScale(1.0, 3.0)  # c̃ = [0, 1]


def decided(scores: np.ndarray, cost_estimate: np.ndarray, scale: CostScale | None = None) -> Decisions:
    """A router's decisions on len(scores) queries (the curves take router.decide(...))."""
    scale = scale if scale is not None else CostScale.from_costs(cost_estimate)
    n, m = np.shape(scores)
    return Decisions(
        router="r",
        model_names=tuple(f"m{j}" for j in range(m)),
        query_ids=np.array([f"q{i}" for i in range(n)], dtype=object),
        scores=scores,
        cost_estimate=cost_estimate,
        scale=scale,
    )


# hand-built Φ: Perf_S = 0.5, Perf_L = 1.0, kink at (0.5, 0.9)
PHI = Curve(x=np.array([0.0, 0.5, 1.0]), y=np.array([0.5, 0.9, 1.0]))


# --------------------------------------------------------------------------- Curve, hull, AUC


def test_curve_sorts_and_evaluates() -> None:
    c = Curve(x=np.array([3.0, 1.0, 1.0, 2.0]), y=np.array([0.9, 0.4, 0.2, 0.5]), param=np.array([30, 10, 11, 20]))
    np.testing.assert_array_equal(c.x, [1, 1, 2, 3])
    np.testing.assert_array_equal(c.y, [0.2, 0.4, 0.5, 0.9])
    np.testing.assert_array_equal(c.param, [11, 10, 20, 30])
    xs, ys = c.envelope()  # the best quality at a repeated cost counts
    np.testing.assert_array_equal(xs, [1, 2, 3])
    np.testing.assert_array_equal(ys, [0.4, 0.5, 0.9])
    got = c.at([0.5, 1.5, 3.0, 10.0])
    assert np.isnan(got[0])  # below the cheapest point: no policy
    np.testing.assert_allclose(got[1:], [0.45, 0.9, 0.9])  # linear, then flat
    with pytest.raises(ValueError):
        c.x[0] = 5.0  # read-only


def test_hull_hand() -> None:
    pts = np.array([[1, 0.2], [2, 0.5], [3, 0.55], [4, 0.9], [5, 0.8], [2.5, 0.3]])
    hull = non_decreasing_hull(pts)
    np.testing.assert_array_equal(hull.x, [1, 2, 4])  # (3, .55) under the chord; (5, .8) after the max
    np.testing.assert_array_equal(hull.y, [0.2, 0.5, 0.9])
    collinear = non_decreasing_hull(np.array([[1, 0.0], [2, 0.5], [3, 1.0]]))
    np.testing.assert_array_equal(collinear.x, [1, 3])
    single = non_decreasing_hull(Curve(x=np.array([2.0, 2.0]), y=np.array([0.1, 0.3])))
    assert single.x.tolist() == [2.0] and single.y.tolist() == [0.3]


def test_area_under_curve_hand() -> None:
    hull = non_decreasing_hull(np.array([[1, 0.2], [2, 0.5], [4, 0.9]]))
    # [1,2]: 0.35; [2,4]: 1.4; [4,5] flat at 0.9 -> 2.65 over a width of 4
    assert area_under_curve(hull, x_range=(1, 5)) == pytest.approx(2.65 / 4)
    assert area_under_curve(hull) == pytest.approx(1.75 / 3)  # own span [1, 4]
    assert area_under_curve(hull, x_range=(0, 2), left=0.0) == pytest.approx(0.35 / 2)
    assert area_under_curve(Curve(x=np.array([0.0, 1.0]), y=np.array([0.7, 0.7]))) == pytest.approx(
        0.7
    )  # constant q -> q
    with pytest.raises(SchemaError, match="cheapest point"):
        area_under_curve(hull, x_range=(0, 2))
    with pytest.raises(SchemaError, match="x_hi > x_lo"):
        area_under_curve(Curve(x=np.array([1.0]), y=np.array([0.5])))


def test_deferral_curve_pools_model_points() -> None:
    curve = deferral_curve(cost=[2.0, 3.0], quality=[0.5, 0.6], model_cost=[1.0, 4.0], model_quality=[0.2, 0.9])
    np.testing.assert_array_equal(curve.x, [1, 2, 4])  # (3, .6) lies under the chord (2, .5)-(4, .9)
    np.testing.assert_array_equal(curve.y, [0.2, 0.5, 0.9])
    raw = deferral_curve(cost=[2.0, 3.0], quality=[0.5, 0.6], hull=False)
    np.testing.assert_array_equal(raw.x, [2, 3])
    with pytest.raises(SchemaError, match="both model_cost and model_quality"):
        deferral_curve(cost=[1.0], quality=[0.5], model_cost=[1.0])
    with pytest.raises(SchemaError, match="one entry per query"):
        deferral_curve(cost=[1.0, 2.0], quality=[0.5])
    with pytest.raises(SchemaError, match=r"quality\[0\] must be in \[0, 1\]"):
        deferral_curve(cost=[1.0], quality=[1.5])


def test_router_deferral_points_hand() -> None:
    pts = router_deferral_points(decisions=decided(S2, C2, SCALE2), Y=Y2, cost=C2, lams=[0.0, 0.2, 0.5, 1.0])
    # λ=0: both -> model 1 (cost 3, quality 1); λ=.2: q0 -> 1, q1 -> 0 (cost 2, quality 1);
    # λ=.5 and λ=1: both -> model 0 (cost 1, quality .5)
    assert pts.param is not None
    assert sorted(zip(pts.param.tolist(), pts.x.tolist(), pts.y.tolist(), strict=True)) == [
        (0.0, 3.0, 1.0),
        (0.2, 2.0, 1.0),
        (0.5, 1.0, 0.5),
        (1.0, 1.0, 0.5),
    ]
    budgets = router_deferral_points(decisions=decided(S2, C2), Y=Y2, cost=C2, budgets=[1.0, 3.0])
    assert list(zip(budgets.x.tolist(), budgets.y.tolist(), strict=True)) == [(1.0, 0.5), (3.0, 1.0)]
    with pytest.raises(SchemaError, match="not both"):
        router_deferral_points(decisions=decided(S2, C2), Y=Y2, cost=C2, lams=[0.0], budgets=[1.0])
    with pytest.raises(SchemaError, match="decisions of 'r' have shape"):
        router_deferral_points(decisions=decided(S2[:1], C2[:1]), Y=Y2, cost=C2)
    with pytest.raises(SchemaError, match="cost has shape"):
        router_deferral_points(decisions=decided(S2, C2), Y=Y2, cost=C2[:, :1])
    with pytest.raises(TypeError, match=r"router.decide\(data, X\)"):
        router_deferral_points(decisions=S2, Y=Y2, cost=C2)  # type: ignore[arg-type]


def test_curves_choose_with_the_cost_estimate_and_score_with_the_true_cost() -> None:
    """The one rule (routerlab.decisions): a router trades off what it knows, the figures count what was paid."""
    true_cost = np.array([[1.0, 3.0], [1.0, 3.0]])
    believed = np.array([[3.0, 1.0], [3.0, 1.0]])  # the router thinks model 1 is the cheap one
    d = decided(np.array([[0.5, 0.5], [0.5, 0.5]]), believed)  # equal scores: ties go to the cheaper estimate
    pts = router_deferral_points(decisions=d, Y=Y2, cost=true_cost, lams=[0.0, 0.5])
    np.testing.assert_allclose(pts.x, [3.0, 3.0])  # model 1 chosen (by belief), paid at its true cost 3
    np.testing.assert_allclose(pts.y, [1.0, 1.0])
    sweep = utility_sweep(decisions=d, Y=Y2, cost=true_cost, lams=[0.5])
    # U(0.5) = .5·1 − .5·c̃, with c̃ of the true cost 3 on the decisions' scale (1..3): 1
    np.testing.assert_allclose(sweep.utility, [0.0])
    np.testing.assert_allclose(sweep.cost, [3.0])


def test_oracle_deferral_curve_hand() -> None:
    oracle = oracle_deferral_curve(Y=Y2, cost=C2)
    # start: both queries on model 0 (cost 1, quality .5); then q0 buys +1 quality for +2 cost, /2
    np.testing.assert_allclose(oracle.x, [1.0, 2.0])
    np.testing.assert_allclose(oracle.y, [0.5, 1.0])
    # App. E's per-query-cap oracle: best true quality within the budget
    cap = router_deferral_points(decisions=decided(Y2, C2), Y=Y2, cost=C2, budgets=[1.0, 3.0])
    assert list(zip(cap.x.tolist(), cap.y.tolist(), strict=True)) == [(1.0, 0.5), (2.0, 1.0)]
    with pytest.raises(SchemaError, match="no model with both an outcome and a cost"):
        oracle_deferral_curve(Y=np.array([[np.nan, np.nan]]), cost=np.ones((1, 2)))


# --------------------------------------------------------------------------- call-rate curves and their metrics


def test_call_rate_curve_hand() -> None:
    ys, yl = np.array([1, 0, 1, 0.0]), np.array([1, 1, 0, 1.0])
    curve = call_rate_curve(y_small=ys, y_large=yl, strong_score=[0.9, 0.8, 0.1, 0.5])
    # calls in score order q0 (gain 0), q1 (+1), q3 (+1), q2 (-1), each /4 on top of Perf_S = .5
    np.testing.assert_allclose(curve.x, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(curve.y, [0.5, 0.5, 0.75, 1.0, 0.75])
    np.testing.assert_array_equal(curve.param, [np.inf, 0.9, 0.8, 0.5, 0.1])
    flipped = call_rate_curve(y_small=ys, y_large=yl, p_small_suffices=[-0.9, -0.8, -0.1, -0.5])
    np.testing.assert_allclose(flipped.y, curve.y)
    tied = call_rate_curve(y_small=ys, y_large=yl, strong_score=[0.5, 0.5, 0.1, 0.5])
    np.testing.assert_allclose(tied.x, [0, 0.75, 1])  # the three tied queries switch together
    np.testing.assert_allclose(tied.y, [0.5, 1.0, 0.75])
    assert apgr_score(curve=curve) == pytest.approx((0.71875 - 0.5) / 0.25)
    assert cpt_cost(curve=curve, pgr=0.5) == pytest.approx(0.375)
    assert cpt is cpt_cost


def test_call_rate_curve_errors() -> None:
    with pytest.raises(SchemaError, match="exactly one"):
        call_rate_curve(y_small=[1.0], y_large=[0.0])
    with pytest.raises(SchemaError, match=r"strong_score\[1\] must be finite"):
        call_rate_curve(y_small=[1.0, 0.0], y_large=[0.0, 1.0], strong_score=[0.1, np.nan])
    with pytest.raises(SchemaError, match="one entry per query"):
        call_rate_curve(y_small=[1.0, 0.0], y_large=[0.0], strong_score=[0.1, 0.2])
    with pytest.raises(SchemaError, match="is empty"):
        call_rate_curve(y_small=[], y_large=[], strong_score=[])
    with pytest.raises(SchemaError, match="must span call rates"):
        lpm_score(curve=Curve(x=np.array([0.0, 0.5]), y=np.array([0.1, 0.2])))


def test_routerxbench_metrics_on_hand_built_phi() -> None:
    # LPM, d1 = .25: ∫_0^.25 Φ = .25 (.5 + .7) / 2 = .15
    assert lpm_score(curve=PHI, d1=0.25) == pytest.approx(0.6)
    # τ = .5 + ρ .5 -> [.925, .975], reached at x = .625 and .875 -> mean call rate .75
    assert hcr_score(curve=PHI, rho=(0.85, 0.95)) == pytest.approx(0.25)
    # d2 = .625; ∫_.25^.625 Φ = .2 + .125 (.9 + .925) / 2 = .3140625 over .375
    assert mpm_score(curve=PHI, d1=0.25, rho1=0.85) == pytest.approx(0.3140625 / 0.375)
    # ∫_0^1 Φ = .825 -> APGR = (.825 − .5) / .5
    assert apgr_score(curve=PHI) == pytest.approx(0.65)
    assert cpt_cost(curve=PHI, pgr=0.5) == pytest.approx(0.3125)  # .5 + .8 x = .75
    assert cpt_cost(curve=PHI, pgr=0.0) == 0.0 and cpt_cost(curve=PHI, pgr=1.0) == 1.0
    # ρ = 1 is Perf_L exactly, also where S + 1·(L − S) rounds below L (found by Hypothesis)
    line = Curve(x=np.array([0.0, 1.0]), y=np.array([3 / 13, 11 / 13]))
    assert 3 / 13 + (11 / 13 - 3 / 13) != 11 / 13
    assert cpt_cost(curve=line, pgr=1.0) == 1.0


def test_hcr_on_a_band_split_in_two() -> None:
    # Φ rises into [τ1, τ2] = [.5, .75], overshoots to 1, falls back to .5 at x = 1
    phi = Curve(x=np.array([0.0, 0.25, 0.5, 1.0]), y=np.array([0.0, 1.0, 1.0, 0.5]))
    # S = 0, L = .5 -> τ = [.25, .375] for ρ = (.5, .75): D = [1/16, 3/32] (rising edge) only,
    # the falling edge reaches .5 at x = 1 and never goes below it
    d = (1 / 16, 3 / 32)
    assert hcr_score(curve=phi, rho=(0.5, 0.75)) == pytest.approx(1 - (d[0] + d[1]) / 2)
    # ρ = (.5, 1): τ = [.25, .5]: the rising part [1/16, 1/8] and the single point x = 1 (zero length)
    assert hcr_score(curve=phi, rho=(0.5, 1.0)) == pytest.approx(1 - (1 / 16 + 1 / 8) / 2)


def test_undefined_scenario_metrics_raise() -> None:
    with pytest.raises(ValueError, match="no mid band"):
        mpm_score(curve=PHI, d1=0.7)  # Φ reaches τ1 at .625 <= .7
    with pytest.raises(ValueError, match="not better"):
        apgr_score(curve=Curve(x=np.array([0.0, 1.0]), y=np.array([0.8, 0.6])))
    with pytest.raises(ValueError, match="positive length"):
        hcr_score(curve=Curve(x=np.array([0.0, 1.0]), y=np.array([0.0, 1.0])), rho=(0.5, 0.5))
    with pytest.raises(ValueError, match="d1"):
        lpm_score(curve=PHI, d1=0.0)


# --------------------------------------------------------------------------- AUROC, utility sweep


def test_auroc_hand() -> None:
    assert auroc_score(score=[0.1, 0.4, 0.35, 0.8], label=[0, 0, 1, 1]) == pytest.approx(0.75)
    assert auroc_score(score=[1.0, 1.0, 0.0], label=[1, 0, 0]) == pytest.approx(0.75)  # a tie counts 1/2
    assert auroc_score(score=[0.3, 0.3, 0.3], label=[True, False, True]) == 0.5


def test_auroc_errors() -> None:
    with pytest.raises(SchemaError, match="both classes"):
        auroc_score(score=[0.1, 0.2], label=[1, 1])
    with pytest.raises(SchemaError, match=r"score\[0\] must be finite"):
        auroc_score(score=[np.nan, 0.2], label=[0, 1])
    with pytest.raises(SchemaError, match=r"label\[1\] must be 0 or 1"):
        auroc_score(score=[0.1, 0.2], label=[0, 0.5])
    with pytest.raises(SchemaError, match="one entry per query"):
        auroc_score(score=[0.1, 0.2, 0.3], label=[0, 1])
    with pytest.raises(SchemaError, match="1-d"):
        auroc_score(score=[[0.1, 0.2]], label=[[0, 1]])


def test_utility_sweep_hand() -> None:
    sweep = utility_sweep(decisions=decided(S2, C2, SCALE2), Y=Y2, cost=C2)
    np.testing.assert_allclose(sweep.lams, [0, 0.2, 0.5, 0.7, 0.9])
    # λ=0: accuracy 1; λ=.2: q0 -> 1 (c̃ 1), q1 -> 0 (c̃ 0): .8·1 − .2·.5; λ>=.5: all model 0, quality .5
    np.testing.assert_allclose(sweep.utility, [1.0, 0.7, 0.25, 0.15, 0.05])
    np.testing.assert_allclose(sweep.quality, [1.0, 1.0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(sweep.cost, [3.0, 2.0, 1.0, 1.0, 1.0])
    assert sweep.as_dict()[0.2] == pytest.approx(0.7)
    with pytest.raises(SchemaError, match=r"Y\[0, 1\] must be in \[0, 1\]. Got 2.0"):
        utility_sweep(decisions=decided(S2, C2, SCALE2), Y=Y2 * 2, cost=C2)


def test_registered_with_direction() -> None:
    for name in ("auroc", "lpm", "mpm", "hcr", "apgr", "deferral_auc"):
        assert METRICS.get(name).higher_is_better, name
    assert not METRICS.get("cpt").higher_is_better
    assert METRICS.get("apgr").fn is apgr_score and METRICS.get("cpt").fn is cpt_cost


# --------------------------------------------------------------------------- properties

problems = st.integers(1, 4).flatmap(
    lambda m: st.tuples(
        hnp.arrays(np.float64, st.tuples(st.integers(1, 10), st.just(m)), elements=st.sampled_from([0.0, 1.0])),
        st.integers(0, 2**32 - 1),
    )
)


@settings(max_examples=50, deadline=None)
@given(problems)
def test_oracle_curve_dominates_every_router_curve(problem: tuple[np.ndarray, int]) -> None:
    Y, seed = problem
    gen = np.random.default_rng(seed)
    cost = gen.uniform(0.1, 10.0, Y.shape)
    Y = np.where(gen.random(Y.shape) < 0.15, np.nan, Y)
    Y[np.isnan(Y).all(axis=1), 0] = 1.0  # every query keeps one outcome
    oracle = oracle_deferral_curve(Y=Y, cost=cost)
    scores = gen.random(Y.shape)
    routers = [
        router_deferral_points(decisions=decided(scores, cost), Y=Y, cost=cost),
        router_deferral_points(decisions=decided(scores, cost), Y=Y, cost=cost, budgets=np.unique(cost)),
        # App. E's oracle: true qualities, true costs
        router_deferral_points(decisions=decided(np.nan_to_num(Y), cost), Y=Y, cost=cost, budgets=np.unique(cost)),
    ]
    for pts in routers:
        for curve in (pts, non_decreasing_hull(pts)):
            at = oracle.at(np.maximum(curve.x, oracle.x[0]))  # guards float noise at the cheapest point
            assert (at >= curve.y - 1e-9).all()
        lo, hi = oracle.x[0], max(oracle.x[-1], pts.x.max()) + 1.0
        router_auc = area_under_curve(non_decreasing_hull(pts), x_range=(lo, hi), left=0.0)
        assert area_under_curve(oracle, x_range=(lo, hi)) >= router_auc - 1e-9


point_sets = hnp.arrays(
    np.float64, st.tuples(st.integers(1, 8), st.just(2)), elements=st.floats(0, 1, allow_nan=False, width=32)
)


@settings(max_examples=50, deadline=None)
@given(point_sets, st.floats(0, 1), st.floats(0, 1))
def test_auc_never_drops_when_a_dominating_point_is_added(pts: np.ndarray, where: float, lift: float) -> None:
    hull = non_decreasing_hull(pts)
    x_range = (float(hull.x[0]), 2.0)
    x_new = x_range[0] + where * (x_range[1] - x_range[0])
    y_new = float(hull.at(x_new)) + lift
    bigger = non_decreasing_hull(np.vstack([pts, [x_new, y_new]]))
    before = area_under_curve(hull, x_range=x_range)
    after = area_under_curve(bigger, x_range=x_range)
    assert after >= before - 1e-12
    resolvable = len(hull) == 1 or np.diff(hull.x).min() > 1e-3  # else the gain can be below float resolution
    if lift > 0.01 and resolvable:  # a strictly higher point raises the curve on a neighbourhood of positive width
        assert after > before


binary_problems = st.integers(2, 30).flatmap(
    lambda n: st.tuples(
        hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])),
        hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])),
        hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])),
    )
)


@settings(max_examples=50, deadline=None)
@given(binary_problems)
def test_auroc_perfect_reversed_constant(problem: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    label, _, score = problem
    if label.min() == label.max():
        with pytest.raises(SchemaError):
            auroc_score(score=score, label=label)
        return
    assert auroc_score(score=label + 0.1, label=label) == 1.0
    assert auroc_score(score=-label, label=label) == 0.0
    assert auroc_score(score=np.zeros_like(label), label=label) == 0.5
    assert auroc_score(score=score, label=label) + auroc_score(score=-score, label=label) == pytest.approx(1.0)


@settings(max_examples=50, deadline=None)
@given(binary_problems)
def test_apgr_and_cpt_properties(problem: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y_small, y_large, score = problem
    curve = call_rate_curve(y_small=y_small, y_large=y_large, strong_score=score)
    # the ends are the single models: Φ(0) = small only, Φ(1) = strong only (PGR 1 by definition)
    assert curve.y[0] == pytest.approx(y_small.mean()) and curve.y[-1] == pytest.approx(y_large.mean())
    if y_large.mean() <= y_small.mean():
        with pytest.raises(ValueError):
            apgr_score(curve=curve)
        return
    apgr = apgr_score(curve=curve)
    reverse = apgr_score(curve=call_rate_curve(y_small=y_small, y_large=y_large, strong_score=-score))
    assert apgr + reverse == pytest.approx(1.0)
    blind = call_rate_curve(y_small=y_small, y_large=y_large, strong_score=np.zeros_like(score))
    assert apgr_score(curve=blind) == pytest.approx(0.5)  # all tied: the straight line small -> strong
    best = call_rate_curve(y_small=y_small, y_large=y_large, strong_score=y_large - y_small)
    assert apgr_score(curve=best) >= apgr - 1e-12  # calling by true gain is optimal at every call rate
    assert cpt_cost(curve=curve, pgr=1.0) <= 1.0
    assert cpt_cost(curve=best, pgr=0.5) <= cpt_cost(curve=curve, pgr=0.5) + 1e-12


phis = hnp.arrays(np.float64, st.integers(2, 7), elements=st.floats(0, 1, allow_nan=False, width=32))


@settings(max_examples=50, deadline=None)
@given(phis, st.floats(0.05, 1.0), st.floats(0.0, 0.5), st.floats(0.5, 1.0))
def test_scenario_metrics_match_their_integral_definitions(y: np.ndarray, d1: float, r1: float, r2: float) -> None:
    y = y.astype(np.float64)
    y[-1] = max(y[-1], y[0] + 0.1)  # the large model is stronger
    phi = Curve(x=np.linspace(0, 1, len(y)), y=y)
    grid = (np.arange(200_000) + 0.5) / 200_000  # midpoint rule on [0, 1]
    values = phi.at(grid)
    assert lpm_score(curve=phi, d1=d1) == pytest.approx(values[grid < d1].mean(), abs=1e-3)
    s, big = y[0], y[-1]
    tau1, tau2 = s + r1 * (big - s), s + r2 * (big - s)
    inside = (values >= tau1) & (values <= tau2)
    if inside.mean() > 1e-3:
        assert hcr_score(curve=phi, rho=(r1, r2)) == pytest.approx(1 - grid[inside].mean(), abs=5e-3)
    d2 = 0.0 if y[0] >= tau1 else grid[values >= tau1].min()  # Eq. 10 includes x = 0
    if d2 > d1 + 1e-3:
        band = (grid > d1) & (grid <= d2)
        assert mpm_score(curve=phi, d1=d1, rho1=r1) == pytest.approx(values[band].mean(), abs=5e-3)
    pgr = (values - s) / (big - s)
    assert apgr_score(curve=phi) == pytest.approx(pgr.mean(), abs=1e-4)
