"""RouterXBench table rows (routerlab.experiments.xbench) on synthetic routers whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import SchemaError
from routerlab.experiments.xbench import (
    auroc_or_nan,
    call_rate_metrics,
    mmlu_groups,
    paired_auroc_draws,
    rows_markdown,
    scaling_sizes,
    select_on_validation,
    significance_mark,
    table1_rows,
)

# 10 queries: the small model is right on the first 4, the large one on all
Y_SMALL = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=float)
Y_LARGE = np.ones(10)


def test_perfect_router_hits_the_hand_computed_ideal() -> None:
    # Calling the large model on the 6 wrong queries first: Φ(x) = 0.4 + x on [0, 0.6], then 1.
    # LPM = mean of 0.4 + x on [0, 0.3] = 0.55. τ1 = 0.4 + 0.85·0.6 = 0.91 → d2 = 0.51, so
    # MPM = mean of 0.4 + x on [0.3, 0.51] = 0.805. τ2 = 0.97 → D = [0.51, 0.57], HCR = 1 − 0.54 = 0.46.
    lpm, mpm, hcr = call_rate_metrics(Y_SMALL.copy(), Y_SMALL, Y_LARGE)
    assert lpm == pytest.approx(0.55)
    assert mpm == pytest.approx(0.805)
    assert hcr == pytest.approx(0.46)
    rows = table1_rows(
        {"oracle": Y_SMALL.copy(), "reversed": -Y_SMALL},
        y_small=Y_SMALL,
        y_large=Y_LARGE,
        reference="oracle",
        n_resamples=200,
    )
    oracle, reversed_ = rows
    assert oracle.auroc.estimate == 1.0 and oracle.delta is None and oracle.mark == ""
    # every resample with both classes gives AUROC exactly 1, so the interval is the point
    assert (oracle.auroc.low, oracle.auroc.high) == (1.0, 1.0)
    assert reversed_.auroc.estimate == 0.0
    assert reversed_.delta is not None and reversed_.delta.estimate == -1.0 and reversed_.delta.high == -1.0
    assert reversed_.mark == "**"
    # the reversed router calls the large model on the 4 right queries first: Φ stays at 0.4 up to x = 0.4
    assert reversed_.lpm == pytest.approx(0.4)


def test_unknown_large_outcomes_leave_the_curve_metrics_undefined() -> None:
    (row,) = table1_rows({"r": Y_SMALL.copy()}, y_small=Y_SMALL, y_large=None, reference="r", n_resamples=50)
    assert row.auroc.estimate == 1.0
    assert (row.lpm, row.mpm, row.hcr) == (None, None, None)
    assert "| r | 1.000 [1.000, 1.000] | (reference) | – | – | – |" in rows_markdown([row], reference="r")


def test_paired_draws_share_resamples() -> None:
    g = np.random.default_rng(1)
    label = (g.random(80) < 0.4).astype(float)
    s = g.random(80)
    draws = paired_auroc_draws({"a": s, "b": s.copy(), "c": 1 - s}, label, n_resamples=100, seed=3)
    # same scores on the same resamples: identical draws; a reversed score mirrors them around 0.5
    np.testing.assert_array_equal(draws["a"], draws["b"])
    np.testing.assert_allclose(draws["a"] + draws["c"], 1.0)
    assert significance_mark(draws["a"] - draws["b"]) == ""


def test_noise_router_is_not_significant_against_noise() -> None:
    g = np.random.default_rng(0)
    y = (g.random(200) < 0.5).astype(float)
    rows = table1_rows(
        {"a": g.random(200), "b": g.random(200)}, y_small=y, y_large=None, reference="a", n_resamples=300
    )
    assert abs(rows[0].auroc.estimate - 0.5) < 0.1
    assert rows[1].mark == "" and rows[1].delta is not None and rows[1].delta.low < 0 < rows[1].delta.high


def test_one_class_test_set_and_unknown_reference_are_clear_errors() -> None:
    with pytest.raises(SchemaError, match="both classes"):
        table1_rows({"r": np.zeros(3)}, y_small=np.ones(3), y_large=None, reference="r")
    with pytest.raises(SchemaError, match="'x' is not among"):
        table1_rows({"r": Y_SMALL}, y_small=Y_SMALL, y_large=None, reference="x")
    assert np.isnan(auroc_or_nan(np.arange(3.0), np.ones(3)))


def test_scaling_sizes_cap_and_deduplicate() -> None:
    assert scaling_sizes(10_000) == [("1K", 1000), ("4K", 4000), ("all (10000)", 10_000)]
    assert scaling_sizes(2500) == [("1K", 1000), ("4K (all 2500)", 2500)]
    assert scaling_sizes(204) == [("1K (all 204)", 204)]


def _data(n: int, y_small: np.ndarray, splits: np.ndarray, ids: list[str]) -> RoutingData:
    return RoutingData(
        name="t",
        query_ids=np.array(ids, dtype=object),
        texts=np.array([f"q{i}" for i in range(n)], dtype=object),
        sources=np.array(["synthetic"] * n, dtype=object),
        splits=splits.astype(object),
        models=(ModelInfo(name="small"), ModelInfo(name="large")),
        Y=np.c_[y_small, np.ones(n)],
        cost=np.tile([1e-6, 1e-3], (n, 1)),
        cost_unit="usd",
    )


def test_groups_from_mmlu_ids() -> None:
    d = _data(3, np.array([1.0, 0.0, 1.0]), np.array(["train"] * 3), ["mmlu/anatomy/1", "mmlu/philosophy/2", "x/y"])
    with pytest.raises(SchemaError, match="'x/y' is not an MMLU id"):
        mmlu_groups(d)
    groups = mmlu_groups(d.subset(np.array([True, True, False])))
    assert groups[0] != groups[1]


def test_selection_uses_validation_only() -> None:
    # feature 0 decides the small model's correctness; the selected probe separates validation almost perfectly
    g = np.random.default_rng(0)
    n = 120
    x = g.normal(size=(n, 4))
    y = (x[:, 0] > 0).astype(float)
    splits = np.array(["train"] * 80 + ["val"] * 40)
    d = _data(n, y, splits, [f"q{i}" for i in range(n)])
    train, val = d.splits == "train", d.splits == "val"
    sel = select_on_validation(
        "probe_final", {"n_layers": 1}, "hashing", (d.subset(train), x[train]), (d.subset(val), x[val])
    )
    assert sel.val_auroc > 0.95
    assert "C" in sel.params


def test_row_as_dict_is_json_ready() -> None:
    import json

    (row,) = table1_rows(
        {"r": Y_SMALL.copy()}, y_small=Y_SMALL, y_large=Y_LARGE, reference="r", params={"r": {"C": 0.1}}, n_resamples=20
    )
    back = json.loads(json.dumps(row.as_dict()))
    assert back["auroc"]["estimate"] == 1.0 and back["delta_vs_reference"] is None
    assert back["lpm"] == pytest.approx(0.55) and back["params"] == {"C": 0.1}
