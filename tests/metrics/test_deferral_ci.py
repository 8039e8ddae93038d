"""Paired-bootstrap CIs of deferral AUCs from per-query values of each operating point."""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.errors import SchemaError
from routerlab.metrics.curves import area_under_curve, non_decreasing_hull
from routerlab.metrics.deferral_ci import deferral_auc_intervals


def _method(rng: np.random.Generator, k: int, n: int, skill: float) -> tuple[np.ndarray, np.ndarray]:
    cost = np.sort(rng.uniform(0, 1, (k, 1)), axis=0) * rng.uniform(0.5, 1.5, (1, n))
    quality = (rng.random((k, n)) < np.clip(skill + 0.3 * np.linspace(0, 1, k)[:, None], 0, 1)).astype(float)
    return cost, quality


def test_estimates_and_paired_differences() -> None:
    rng = np.random.default_rng(0)
    a, b = _method(rng, 6, 300, 0.4), _method(rng, 4, 300, 0.5)
    single, diffs = deferral_auc_intervals(
        {"a": a, "b": b, "a_again": a}, x_range=(0.0, 1.5), reference="a", n_resamples=200, seed=0
    )
    hull = non_decreasing_hull(np.column_stack([a[0].mean(axis=1), a[1].mean(axis=1)]))
    assert single["a"].estimate == pytest.approx(area_under_curve(hull, x_range=(0.0, 1.5), left=0.0))
    for iv in single.values():
        assert iv.low <= iv.estimate <= iv.high
    assert diffs["a_again"].estimate == 0.0 and diffs["a_again"].low == 0.0 == diffs["a_again"].high  # paired
    assert diffs["b"].estimate == pytest.approx(single["b"].estimate - single["a"].estimate)
    assert set(diffs) == {"b", "a_again"}


def test_bad_input() -> None:
    with pytest.raises(SchemaError, match="same queries"):
        deferral_auc_intervals(
            {"a": (np.ones((2, 3)), np.ones((2, 3))), "b": (np.ones((2, 4)), np.ones((2, 4)))}, x_range=(0.0, 1.0)
        )
    with pytest.raises(SchemaError, match="NaN"):
        deferral_auc_intervals({"a": (np.full((1, 3), np.nan), np.ones((1, 3)))}, x_range=(0.0, 1.0))
    with pytest.raises(SchemaError, match="reference 'z'"):
        deferral_auc_intervals({"a": (np.ones((1, 3)), np.ones((1, 3)))}, x_range=(0.0, 1.0), reference="z")
