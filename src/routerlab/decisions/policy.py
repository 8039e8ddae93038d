"""The single selection policy every router shares: scores (and costs) in, one model per query out.

Routers only estimate quality (``predict_scores``); *which* model is picked is decided here, once,
so that two routers differ only in their estimates (`routing-plateau.txt` (arXiv:2606.07587) §3: a
router is "a predictor that produces scores p̂_{i,m} ... and a selector").

Policies
--------
* :class:`Argmax` — ``argmax_m p̂[i, m]`` (λ = 0).
* :class:`CostUtility` — ``argmax_m U(λ; q_i, m) = (1 − λ)·p̂[i, m] − λ·c̃[i, m]``
  (`routing-plateau.txt` §3, "Cost-aware utility"). The formula lives in
  :func:`utility_terms`, which the metrics reuse for the realised U(λ).
* :class:`Budget` — the best estimated quality among models whose cost is at most ``max_cost``
  per query; the cheapest model when none fits.

Ties are broken towards the cheaper model, then the lower column: the oracle therefore picks
"the cheapest model achieving full quality" (`rethinking-router-evaluation.txt` ("Who Routes the Router") §4.2).

Cost normalisation
------------------
``c̃ = (c − c_lo) / (c_hi − c_lo)``, clipped to [0, 1], with ``c_lo``/``c_hi`` the smallest and
largest observed per-call cost in the *training* split (:class:`CostScale`). The paper scales
cost to the unit interval so that λ trades accuracy points against a bounded cost; it does not
spell out the scaling, and min–max over the training costs is the choice that keeps c̃ ∈ [0, 1]
without looking at test data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from routerlab.errors import SchemaError


@dataclass(frozen=True, slots=True)
class CostScale:
    """Bounds used to map raw cost to c̃ ∈ [0, 1]."""

    lo: float
    hi: float

    @classmethod
    def from_costs(cls, cost: np.ndarray, observed: np.ndarray | None = None) -> CostScale:
        """Min and max of the (observed, finite) costs; a degenerate range maps every cost to 0."""
        values = cost[observed] if observed is not None else cost.reshape(-1)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return cls(0.0, 0.0)
        return cls(float(values.min()), float(values.max()))

    def normalize(self, cost: np.ndarray) -> np.ndarray:
        """c̃ = (c − lo) / (hi − lo), clipped to [0, 1]; all zeros when hi == lo (cost cannot discriminate)."""
        span = self.hi - self.lo
        if span <= 0:
            return np.zeros_like(cost, dtype=np.float64)
        return np.clip((cost - self.lo) / span, 0.0, 1.0)


def lam_key(lam: float) -> str:
    """How λ is written where a file needs a string (JSON keys, column names): ``0``, ``0.2``, ``0.1234567``.

    The one encoding of the project: ``%g`` (what the sweep's files have always used), or ``repr`` where
    ``%g``'s six significant digits would not give the same float back. In memory λ is a float.
    """
    value = float(lam)
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def utility_terms(quality: np.ndarray, cost_norm: np.ndarray, lam: float) -> np.ndarray:
    """``(1 − λ)·q − λ·c̃``, elementwise: the one place U(λ) is written.

    The policy applies it to estimates (``q = p̂``, ``c̃`` of the cost estimate) to choose; the
    metrics apply it to the chosen models' true quality and true normalised cost and average over
    queries (`routing-plateau.txt` (arXiv:2606.07587) §3, Eq. for U(λ)).
    """
    if lam == 0:
        return np.asarray(quality, dtype=np.float64)
    return np.asarray((1.0 - lam) * np.asarray(quality) - lam * np.asarray(cost_norm), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Argmax:
    """Pick the model with the highest estimated quality (λ = 0)."""

    def utility(self, scores: np.ndarray, cost_norm: np.ndarray) -> np.ndarray:
        """Per-(query, model) utility; ties go to the cheaper model in :func:`select`."""
        return scores


@dataclass(frozen=True, slots=True)
class CostUtility:
    """Pick ``argmax_m (1 − λ)·p̂ − λ·c̃`` (`routing-plateau.txt` (arXiv:2606.07587) §3)."""

    lam: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lambda must be in [0, 1] (0 = quality only, 1 = cost only). Got {self.lam}.")

    def utility(self, scores: np.ndarray, cost_norm: np.ndarray) -> np.ndarray:
        """(1 − λ)·p̂ − λ·c̃ (:func:`utility_terms`)."""
        return utility_terms(scores, cost_norm, self.lam)


@dataclass(frozen=True, slots=True)
class Budget:
    """Best estimated quality among models costing at most ``max_cost`` (raw units) on the query."""

    max_cost: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.max_cost) or self.max_cost < 0:
            raise ValueError(f"A cost budget must be a finite number >= 0. Got {self.max_cost}.")


Policy = Argmax | CostUtility | Budget


def policy_for(lam: float | None = None, budget: float | None = None) -> Policy:
    """The policy for a λ or a per-query budget (not both); :class:`Argmax` when neither is given."""
    if lam is not None and budget is not None:
        raise ValueError("Give either lam (cost-utility) or budget (per-query cost cap), not both.")
    if budget is not None:
        return Budget(budget)
    if lam is None or lam == 0:
        return Argmax()
    return CostUtility(lam)


def select(
    scores: np.ndarray,
    cost: np.ndarray,
    policy: Policy,
    scale: CostScale,
    available: np.ndarray | None = None,
) -> np.ndarray:
    """Return the chosen column for each query.

    ``cost`` is the raw cost estimate used for the decision (shape of ``scores``);
    ``available`` masks models that may not be chosen for a query (e.g. no outcome was recorded).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or cost.shape != scores.shape:
        raise SchemaError(f"scores and cost must both be (n_queries, n_models); got {scores.shape} and {cost.shape}.")
    if np.isnan(scores).any():
        q, m = np.argwhere(np.isnan(scores))[0]
        raise SchemaError(f"Router scores contain NaN at query {q}, model {m}; a router must score every cell.")
    allowed = np.ones(scores.shape, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    if scores.shape[0] and not allowed.any(axis=1).all():
        q = int(np.flatnonzero(~allowed.any(axis=1))[0])
        raise SchemaError(f"Query {q} has no available model to route to; drop it or mark a model as available.")
    safe_cost = np.where(np.isfinite(cost), cost, np.inf)
    if isinstance(policy, Budget):
        within = allowed & (safe_cost <= policy.max_cost)
        fallback = ~within.any(axis=1)  # nothing fits: the cheapest available model
        utility = np.where(within, scores, -np.inf)
        cheapest = _lexargmax(np.where(allowed, -safe_cost, -np.inf), np.zeros_like(safe_cost))
        choice = _lexargmax(utility, safe_cost)
        return np.where(fallback, cheapest, choice)
    utility = policy.utility(scores, scale.normalize(np.where(np.isfinite(cost), cost, scale.hi)))
    return _lexargmax(np.where(allowed, utility, -np.inf), safe_cost)


def _lexargmax(primary: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Row-wise argmax of ``primary``; among exact ties the lowest cost, then the lowest column."""
    n_q = primary.shape[0]
    if n_q == 0:
        return np.zeros(0, dtype=np.intp)
    best = primary.max(axis=1, keepdims=True)
    tied = primary == best
    masked_cost = np.where(tied, cost, np.inf)
    cheapest = masked_cost.min(axis=1, keepdims=True)
    # argmax returns the first True, i.e. the lowest column among the cheapest ties
    picked: np.ndarray = np.argmax(tied & (masked_cost == cheapest), axis=1).astype(np.intp)
    return picked
