"""Paired bootstrap over test queries: confidence intervals for a metric and for a difference.

Comparisons of routers on the same test queries are *paired*: each resample draws one set of query
indices and evaluates every router on it, so the shared per-query difficulty cancels out
(`rethinking-router-evaluation.txt` ("Who Routes the Router") §4.4, App. F: paired bootstrap CIs of AUC differences).
Resampling is vectorised: the (n_resamples, n_queries) index matrix is drawn once and applied to
all routers with one ``take``, in blocks so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from routerlab._random import rng
from routerlab.errors import SchemaError


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    level: float

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely on one side of 0 (a difference beyond noise)."""
        return self.low > 0 or self.high < 0


def _check_values(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] == 0:
        raise SchemaError(
            f"per-query values must be (n_queries,) or (n_routers, n_queries) with n_queries > 0. Got {values.shape}."
        )
    if not np.isfinite(values).all():
        raise SchemaError("per-query values contain NaN or infinity; score every query before bootstrapping.")
    return values


def bootstrap_means(values: np.ndarray, *, n_resamples: int = 1000, seed: int = 0, block: int = 256) -> np.ndarray:
    """Means of ``values`` (n_routers, n_queries) over paired resamples: (n_resamples, n_routers)."""
    values = _check_values(values)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1. Got {n_resamples}.")
    n = values.shape[1]
    gen = rng(seed)
    out = np.empty((n_resamples, values.shape[0]))
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        idx = gen.integers(0, n, size=(stop - start, n))
        # counts per query turn a gather of (b, n) per router into one matrix product
        flat = (np.arange(stop - start)[:, None] * n + idx).ravel()
        counts = np.bincount(flat, minlength=(stop - start) * n).reshape(stop - start, n).astype(np.float64)
        out[start:stop] = counts @ values.T / n
    return out


def _interval(estimate: float, draws: np.ndarray, level: float) -> Interval:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1). Got {level}.")
    alpha = (1 - level) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return Interval(float(estimate), float(low), float(high), level)


def mean_ci(values: np.ndarray, *, n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap CI of the mean of per-query values (e.g. each query's chosen quality)."""
    values = _check_values(values)[0]
    draws = bootstrap_means(values, n_resamples=n_resamples, seed=seed)[:, 0]
    return _interval(float(values.mean()), draws, level)


def paired_difference_ci(
    a: np.ndarray, b: np.ndarray, *, n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> Interval:
    """Paired bootstrap CI of ``mean(a) − mean(b)`` where ``a[i]``, ``b[i]`` are scored on the same query i."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise SchemaError(f"paired values must have the same shape; got {a.shape} and {b.shape}.")
    diff = _check_values(a - b)[0]
    draws = bootstrap_means(diff, n_resamples=n_resamples, seed=seed)[:, 0]
    return _interval(float(diff.mean()), draws, level)
