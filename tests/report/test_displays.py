"""Display objects against hand-computed values on tiny inputs; plotting and the missing-matplotlib error."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pytest

from routerlab.decisions import CostScale, Decisions
from routerlab.errors import PrerequisiteError
from routerlab.metrics import Curve, hard_easy_gap
from routerlab.report import (
    CallRateDisplay,
    DeferralCurveDisplay,
    HardEasyDisplay,
    ReliabilityDisplay,
    RoutingShareDisplay,
    SignificanceDisplay,
    UtilityDisplay,
)
from routerlab.report._mpl import require_matplotlib, to_svg

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402


@pytest.fixture
def ax() -> Iterator[object]:
    fig = Figure()
    yield fig.add_subplot()


def _labels(ax: object) -> list[str]:
    return ax.get_legend_handles_labels()[1]  # type: ignore[attr-defined,no-any-return]


# A tiny problem: model 0 costs 1, model 1 costs 10; query 0 is solved by both, query 1 only by
# model 1, query 2 by neither.
Y = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
COST = np.array([[1.0, 10.0], [1.0, 10.0], [1.0, 10.0]])
SCALE = CostScale(1.0, 10.0)


def test_deferral_hull_and_auc_by_hand(ax: object) -> None:
    disp = DeferralCurveDisplay.from_points(
        points={"a": ([1, 2, 3, 4], [0.5, 0.6, 0.9, 0.8]), "b": ([2, 3], [0.6, 0.6])},
        model_cost=[1.0, 4.0],
        model_quality=[0.5, 0.9],
        model_names=["small", "large"],
    )
    # (2, 0.6) lies under the chord (1, 0.5)-(3, 0.9); (4, 0.8) comes after the maximum
    np.testing.assert_array_equal(disp.hulls["a"].x, [1.0, 3.0])
    np.testing.assert_array_equal(disp.hulls["a"].y, [0.5, 0.9])
    assert disp.x_range == (1.0, 4.0)
    assert disp.auc["a"] == pytest.approx((2 * 0.7 + 1 * 0.9) / 3)  # 0.7667
    assert disp.auc["b"] == pytest.approx((1 * 0.0 + 2 * 0.6) / 3)  # nothing below cost 2: quality 0 there
    disp.plot(ax=ax, log_x=False)  # type: ignore[arg-type]
    assert _labels(ax)[:2] == ["a (AUC 0.767)", "b (AUC 0.400)"]
    assert "single models" in _labels(ax)


def _decided(scores: np.ndarray, cost_estimate: np.ndarray) -> Decisions:
    n, m = scores.shape
    return Decisions(
        router="r",
        model_names=tuple(f"m{j}" for j in range(m)),
        query_ids=np.array([f"q{i}" for i in range(n)], dtype=object),
        scores=scores,
        cost_estimate=cost_estimate,
        scale=SCALE,
    )


def test_deferral_from_predictions_by_hand() -> None:
    disp = DeferralCurveDisplay.from_predictions(
        Y=Y, cost=COST, decisions={"r": _decided(Y, COST)}, model_names=["m0", "m1"]
    )
    # λ = 0: q0 -> m0 (tie, cheaper), q1 -> m1, q2 -> m0: cost 4, quality 2/3; λ = 1: all m0: cost 1, quality 1/3
    hull = disp.hulls["r"]
    np.testing.assert_allclose(hull.x, [1.0, 4.0])
    np.testing.assert_allclose(hull.y, [1 / 3, 2 / 3])
    np.testing.assert_allclose(disp.model_cost, [1.0, 10.0])
    np.testing.assert_allclose(disp.model_quality, [1 / 3, 2 / 3])
    assert disp.auc["r"] == pytest.approx((3 * 0.5 + 6 * 2 / 3) / 9)
    assert disp.oracle is not None
    np.testing.assert_allclose(disp.oracle.x, [1.0, 4.0])  # here the router is the oracle
    assert disp.oracle_auc == pytest.approx(disp.auc["r"])


def test_deferral_routers_without_scores_use_their_choices() -> None:
    disp = DeferralCurveDisplay.from_predictions(
        Y=Y, cost=COST, choices={"fixed": {0.0: np.array([1, 1, 1])}}, oracle=False
    )
    np.testing.assert_allclose(disp.points["fixed"].x, [10.0])
    np.testing.assert_allclose(disp.points["fixed"].y, [2 / 3])
    assert disp.oracle is None


def test_call_rate_metrics_by_hand(ax: object) -> None:
    disp = CallRateDisplay.from_scores(
        y_small=[1, 0, 0, 1],
        y_large=[1, 1, 0, 1],
        strong_scores={"r": [0.1, 0.9, 0.5, 0.2]},
        small="s",
        large="l",
    )
    curve = disp.curves["r"]
    np.testing.assert_allclose(curve.x, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve.y, [0.5, 0.75, 0.75, 0.75, 0.75])
    assert disp.lpm["r"] == pytest.approx((0.25 * 0.625 + 0.05 * 0.75) / 0.3)
    assert disp.tau == pytest.approx((0.7125, 0.7375))
    assert disp.hcr["r"] == pytest.approx(1 - 0.225)  # Φ is in the band for x in [0.2125, 0.2375]
    assert disp.mpm["r"] is None  # τ1 is reached before d1: no mid band
    assert disp.auroc["r"] == 1.0  # every query the small model solves is kept before every other
    disp.plot(ax=ax)  # type: ignore[arg-type]
    assert "r (LPM 0.646)" in _labels(ax)


def test_utility_by_hand(ax: object) -> None:
    disp = UtilityDisplay.from_predictions(Y=Y, cost=COST, decisions={"r": _decided(Y, COST)}, lams=(0.0, 0.5))
    # λ = 0.5: 0.5·Y − 0.5·c̃ with c̃ = (0, 1): every query goes to m0 (ties -> cheaper): U = 0.5 · 1/3
    np.testing.assert_allclose(disp.utility["r"], [2 / 3, 1 / 6])
    np.testing.assert_allclose(disp.quality["r"], [2 / 3, 1 / 3])
    np.testing.assert_allclose(disp.cost["r"], [4.0, 1.0])
    disp.plot(ax=ax)  # type: ignore[arg-type]
    assert _labels(ax) == ["r"]
    same = UtilityDisplay.from_values(lams=[0.0, 0.5], utility={"r": [2 / 3, 1 / 6]})
    np.testing.assert_allclose(same.utility["r"], disp.utility["r"])


def test_reliability_by_hand(ax: object) -> None:
    scores = np.array([[0.1, 0.9], [0.1, 0.9]])
    outcome = np.array([[0.0, 1.0], [1.0, 1.0]])
    disp = ReliabilityDisplay.from_predictions(Y=outcome, scores={"p": scores, "logits": scores * 5})
    # bin [0.1, 0.2): predicted 0.1, observed 0.5; bin [0.9, 1]: predicted 0.9, observed 1
    assert disp.ece["p"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    assert disp.brier["p"] == pytest.approx((0.01 + 0.81 + 0.01 + 0.01) / 4)
    assert "logits" in disp.skipped and "not probabilities" in disp.skipped["logits"]
    assert not disp.thresholded
    disp.plot(ax=ax)  # type: ignore[arg-type]
    assert "p (ECE 0.250)" in _labels(ax)
    graded = ReliabilityDisplay.from_predictions(Y=outcome * 0.7, scores={"p": scores})
    assert graded.thresholded  # 0.7 >= 0.5 reads as correct
    assert graded.ece["p"] == pytest.approx(disp.ece["p"])


def test_significance_marks_ties_and_differences(ax: object) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 60).astype(float)
    disp = SignificanceDisplay.from_per_query({"a": a, "zero": np.zeros(60), "a_copy": a.copy()}, n_resamples=200)
    assert disp.tiers == (("a", "a_copy"), ("zero",))
    iv = disp.table.difference("a", "zero")
    assert iv.estimate == pytest.approx(a.mean()) and iv.low > 0
    assert not disp.table.excludes_zero[0, 2]
    disp.plot(ax=ax)  # type: ignore[arg-type]
    texts = [t.get_text() for t in ax.texts]  # type: ignore[attr-defined]
    assert f"+{a.mean():.3f}*" in texts and "+0.000" in texts


def test_routing_share_flags_collapse(ax: object) -> None:
    disp = RoutingShareDisplay.from_choices(
        {
            "all0": np.zeros(20, dtype=int),
            "95pct": np.r_[np.zeros(19), 1].astype(int),
            "90pct": np.r_[np.zeros(18), 1, 1].astype(int),
        },
        model_names=["m0", "m1"],
    )
    np.testing.assert_allclose(disp.share, [[1.0, 0.0], [0.95, 0.05], [0.9, 0.1]])
    assert disp.collapsed == {"all0": ("m0", 1.0), "95pct": ("m0", 0.95)}
    disp.plot(ax=ax)  # type: ignore[arg-type]
    ticks = [t.get_text() for t in ax.get_yticklabels()]  # type: ignore[attr-defined]
    assert ticks == ["all0 (collapsed)", "95pct (collapsed)", "90pct"]


def test_hard_easy_matches_the_metric(ax: object) -> None:
    y = np.array([[1, 0, 0], [1, 1, 1], [0, 0, 1], [0, 0, 0], [1, 1, 0]], dtype=float)
    choices = {"r0": np.array([0, 0, 0, 0, 0]), "r2": np.array([2, 2, 2, 2, 2])}
    disp = HardEasyDisplay.from_choices(Y=y, choices=choices)
    ref = hard_easy_gap(Y=y, choice=np.stack(list(choices.values())))
    np.testing.assert_array_equal(disp.gap.hard, ref.hard)
    np.testing.assert_allclose(disp.gap.router_hard, ref.router_hard)
    assert disp.gap.gap_hard == ref.gap_hard and not disp.thresholded
    disp.plot(ax=ax)  # type: ignore[arg-type]
    assert HardEasyDisplay.from_choices(Y=y * 0.8, choices=choices).thresholded


def test_plot_without_ax_uses_pyplot() -> None:
    import matplotlib.pyplot as plt

    disp = UtilityDisplay.from_values(lams=[0.0, 0.5], utility={"r": [0.5, 0.2]})
    ax = disp.plot()
    assert ax.figure is not None
    plt.close("all")


def test_svg_is_inlinable() -> None:
    fig = Figure()
    DeferralCurveDisplay.from_points(
        points={"a": ([1, 2], [0.5, 0.7])}, model_cost=[1.0, 2.0], model_quality=[0.5, 0.7]
    ).plot(ax=fig.add_subplot())
    svg = to_svg(fig, prefix="fig1")
    assert svg.startswith("<svg") and "<!DOCTYPE" not in svg and "<metadata>" not in svg
    assert 'id="fig1-' in svg and "AUC" in svg  # ids are prefixed; text stays text


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    disp = UtilityDisplay.from_values(lams=[0.0], utility={"r": [0.5]})  # computing needs no matplotlib
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PrerequisiteError, match=r"pip install 'routerlab\[plots\]'"):
        require_matplotlib()
    with pytest.raises(PrerequisiteError, match="matplotlib"):
        disp.plot()


def test_curve_input_is_accepted() -> None:
    disp = DeferralCurveDisplay.from_points(
        points={"c": Curve(x=np.array([0.0, 1.0]), y=np.array([0.2, 0.4]))},
        model_cost=[0.0, 1.0],
        model_quality=[0.2, 0.4],
    )
    assert disp.auc["c"] == pytest.approx(0.3)
