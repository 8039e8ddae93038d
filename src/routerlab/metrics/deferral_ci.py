"""Paired-bootstrap confidence intervals of deferral-curve AUCs, from per-query values of each operating point.

`rethinking-router-evaluation.txt` ("Who Routes the Router") App. F, "Statistical Testing": "we report the area
under the deferral curve (AUC) with 95% bootstrap confidence intervals over queries ... paired bootstrap
resampling of test queries and recompute method AUCs per sample; differences are deemed significant when the
95% CI of the pairwise AUC difference excludes zero". Each method is given as the per-query cost and quality
of each of its operating points (a router's λ sweep, a cascade's thresholds): every resample draws one set
of query indices for all methods, re-traces each method's hull (:func:`~routerlab.metrics.curves.non_decreasing_hull`)
from the resampled means and integrates it (:func:`~routerlab.metrics.curves.area_under_curve`, quality 0
below a method's cheapest point) over the same ``x_range``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from routerlab.errors import SchemaError
from routerlab.metrics.bootstrap import Interval, bootstrap_means
from routerlab.metrics.curves import area_under_curve, non_decreasing_hull

PerQuery = tuple[np.ndarray, np.ndarray]


def _checked(per_query: Mapping[str, PerQuery]) -> dict[str, PerQuery]:
    if not per_query:
        raise SchemaError("No method to compare; give each method's per-query (cost, quality) of its points.")
    out: dict[str, PerQuery] = {}
    n: int | None = None
    for name, (cost, quality) in per_query.items():
        c = np.atleast_2d(np.asarray(cost, dtype=np.float64))
        q = np.atleast_2d(np.asarray(quality, dtype=np.float64))
        if c.shape != q.shape or c.shape[1] == 0:
            raise SchemaError(
                f"{name!r}: cost and quality must both be (n_points, n_queries) with n_queries > 0. "
                f"Got {c.shape} and {q.shape}."
            )
        if not (np.isfinite(c).all() and np.isfinite(q).all()):
            raise SchemaError(f"{name!r}: per-query cost/quality hold NaN or infinity; score every query first.")
        if n is not None and c.shape[1] != n:
            raise SchemaError(f"{name!r} has {c.shape[1]} queries, another method {n}; pair them on the same queries.")
        n = c.shape[1]
        out[name] = (c, q)
    return out


def _auc_of(xs: np.ndarray, ys: np.ndarray, x_range: tuple[float, float]) -> float:
    return area_under_curve(non_decreasing_hull(np.column_stack([xs, ys])), x_range=x_range, left=0.0)


def deferral_auc_intervals(
    per_query: Mapping[str, PerQuery],
    *,
    x_range: tuple[float, float],
    reference: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[dict[str, Interval], dict[str, Interval]]:
    """Each method's deferral AUC with its CI, and (with ``reference``) AUC(method) − AUC(reference) with its CI.

    ``per_query[name] = (cost, quality)``, each (n_points, n_queries): the per-query cost and quality of
    each operating point of the method, on the same queries for every method. The estimate is the AUC on
    all queries; the interval the percentile interval of the paired resamples (module doc).
    """
    methods = _checked(per_query)
    if reference is not None and reference not in methods:
        raise SchemaError(f"reference {reference!r} is not among the methods {list(methods)}.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1). Got {level}.")
    names = list(methods)
    blocks = [b for name in names for b in methods[name]]
    values = np.vstack(blocks)
    draws = bootstrap_means(values, n_resamples=n_resamples, seed=seed)
    est: dict[str, float] = {}
    aucs: dict[str, np.ndarray] = {}
    start = 0
    for name in names:
        c, q = methods[name]
        k = c.shape[0]
        xs, ys = draws[:, start : start + k], draws[:, start + k : start + 2 * k]
        start += 2 * k
        est[name] = _auc_of(c.mean(axis=1), q.mean(axis=1), x_range)
        aucs[name] = np.array([_auc_of(xs[b], ys[b], x_range) for b in range(draws.shape[0])])
    alpha = (1 - level) / 2

    def interval(estimate: float, sample: np.ndarray) -> Interval:
        lo, hi = np.quantile(sample, [alpha, 1 - alpha])
        return Interval(float(estimate), float(lo), float(hi), level)

    single = {name: interval(est[name], aucs[name]) for name in names}
    diffs: dict[str, Interval] = {}
    if reference is not None:
        for name in names:
            if name != reference:
                diffs[name] = interval(est[name] - est[reference], aucs[name] - aucs[reference])
    return single, diffs
