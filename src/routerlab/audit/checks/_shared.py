"""Helpers shared by the audit checks: rounding for reading, token totals, the float tolerance."""

from __future__ import annotations

import math

import numpy as np

from routerlab.data.schema import RoutingData

_EPS = 1e-9
_LEADERBOARD_REF = "issue 11 §3 (cost and token sanity: failures public leaderboards have had)"


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), digits)


def _tokens_used(data: RoutingData) -> np.ndarray | None:
    """``tokens_in + tokens_out`` per cell (a missing count as 0; NaN where both are missing); None without counts."""
    mats = [m for m in (data.tokens_in, data.tokens_out) if m is not None]
    if not mats:
        return None
    stacked = np.stack(mats)
    total: np.ndarray = np.where(np.isnan(stacked).all(axis=0), np.nan, np.nansum(stacked, axis=0))
    return total
