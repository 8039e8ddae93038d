"""Calibration of predicted probabilities, and per-tier diagnostics of a router's choices.

`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8.1 (Tab. 14) judges tier-label
routers by accuracy, ECE, Brier score and per-tier recall ``R[tier]``; §4.2 defines the oracle-optimal label of a query
as "the cheapest tier achieving score2" (``none`` when no tier does); §8.6 counts under-routing and
over-routing errors. The paper names ECE and Brier without formulas, so the standard ones are
used (see :func:`ece_loss`, :func:`brier_loss`).

Probabilities come in two shapes:

* ``prob`` (n,) with ``outcome`` in {0, 1}: a binary forecast ``P(outcome = 1)``, e.g. a router's
  predicted correctness ``p̂[i, m]`` against ``Y[i, m]``. Reliability is read on ``prob`` itself.
* ``prob`` (n, K) rows summing to 1 with integer ``outcome`` labels in [0, K): a multiclass
  forecast, e.g. the tier classifier of §3.4. ECE uses the top-label confidence ``max_k prob`` and
  whether ``argmax_k prob`` equals the label (Guo et al., 2017); Brier sums over the K classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from routerlab.errors import SchemaError
from routerlab.metrics.core import chosen
from routerlab.metrics.curves import _outcomes, _same_length, _vector

Strategy = Literal["uniform", "quantile"]


def _forecast(prob: Any, outcome: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validated (prob, outcome, multiclass)."""
    p = np.asarray(prob, dtype=np.float64)
    if p.ndim == 1:
        p = _vector("prob", p)
        o = _vector("outcome", outcome)
        _same_length(prob=p, outcome=o)
        if not np.isin(o, (0.0, 1.0)).all():
            i = int(np.flatnonzero(~np.isin(o, (0.0, 1.0)))[0])
            raise SchemaError(f"outcome[{i}] must be 0 or 1 for a binary forecast. Got {float(o[i])!r}.")
        multiclass = False
    elif p.ndim == 2:
        if p.shape[0] == 0 or p.shape[1] < 2:
            raise SchemaError(f"A multiclass prob must be (n, K) with n > 0 and K >= 2. Got shape {p.shape}.")
        if not np.isfinite(p).all():
            q, k = np.argwhere(~np.isfinite(p))[0]
            raise SchemaError(
                f"prob[{q}, {k}] must be finite. Got {float(p[q, k])!r}; predict every class for every query."
            )
        sums = p.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            i = int(np.flatnonzero(~np.isclose(sums, 1.0, atol=1e-6))[0])
            raise SchemaError(
                f"prob row {i} sums to {float(sums[i])!r}, not 1; pass class probabilities (e.g. a softmax)."
            )
        o = _vector("outcome", outcome)
        _same_length(prob=p, outcome=o)
        bad = (o != np.round(o)) | (o < 0) | (o >= p.shape[1])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SchemaError(f"outcome[{i}] must be a class index in [0, {p.shape[1] - 1}]. Got {float(o[i])!r}.")
        multiclass = True
    else:
        raise SchemaError(f"prob must be (n,) binary or (n, K) multiclass probabilities. Got shape {p.shape}.")
    if ((p < 0) | (p > 1)).any():
        idx = tuple(int(v) for v in np.argwhere((p < 0) | (p > 1))[0])
        raise SchemaError(f"prob{list(idx)} must be in [0, 1]. Got {float(p[idx])!r}; pass probabilities, not logits.")
    return p, o, multiclass


@dataclass(frozen=True, slots=True)
class ReliabilityTable:
    """Per-bin calibration: count, mean predicted probability and observed rate (plot-ready).

    ``edges`` has one more entry than the bins; bin b holds ``edges[b] ≤ p < edges[b+1]`` (the last
    bin is closed). Empty bins have count 0 and NaN means, and carry no weight in :attr:`ece`.
    """

    edges: np.ndarray
    count: np.ndarray
    mean_predicted: np.ndarray
    observed_rate: np.ndarray

    @property
    def ece(self) -> float:
        """``Σ_b (n_b / N) · |observed_b − predicted_b|`` over non-empty bins."""
        full = self.count > 0
        weights = self.count[full] / self.count.sum()
        return float((weights * np.abs(self.observed_rate[full] - self.mean_predicted[full])).sum())


def reliability_table(*, prob: Any, outcome: Any, n_bins: int = 10, strategy: Strategy = "uniform") -> ReliabilityTable:
    """Bin forecasts by predicted probability and compare with the observed rate in each bin.

    ``strategy="uniform"``: edges ``k / n_bins`` for k = 0..n_bins. ``strategy="quantile"``: edges
    at the ``k / n_bins`` quantiles of the predicted probabilities (equal-mass bins; repeated edges
    merge, so ties never straddle two bins and there may be fewer than ``n_bins`` bins).
    For a multiclass ``prob`` the binned value is the top-label confidence and the outcome whether
    the top label was right.
    """
    p, o, multiclass = _forecast(prob, outcome)
    if multiclass:
        top = np.argmax(p, axis=1)
        p, o = p.max(axis=1), (top == o.astype(np.intp)).astype(np.float64)
    if not isinstance(n_bins, (int, np.integer)) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int. Got {n_bins!r}.")
    if strategy == "uniform":
        edges = np.arange(n_bins + 1) / n_bins
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        if len(edges) == 1:  # every forecast equal: one closed bin [p, p]
            edges = np.r_[edges, edges]
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile'. Got {strategy!r}.")
    n = len(edges) - 1
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n - 1)
    count = np.bincount(which, minlength=n).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, np.bincount(which, weights=p, minlength=n) / count, np.nan)
        rate = np.where(count > 0, np.bincount(which, weights=o, minlength=n) / count, np.nan)
    return ReliabilityTable(edges=edges, count=count, mean_predicted=mean_p, observed_rate=rate)


def ece_loss(*, prob: Any, outcome: Any, n_bins: int = 10, strategy: Strategy = "uniform") -> float:
    """Expected calibration error ``ECE = Σ_b (n_b / N) |ō_b − p̄_b|`` (Naeini et al., 2015; Guo et al., 2017).

    Reported per router in `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8.1,
    Tab. 14, which gives no binning; the defaults are the usual 10 equal-width bins. See :func:`reliability_table`.
    """
    return reliability_table(prob=prob, outcome=outcome, n_bins=n_bins, strategy=strategy).ece


def brier_loss(*, prob: Any, outcome: Any) -> float:
    """Brier score: ``1/N Σ_i (p_i − o_i)²`` (binary) or ``1/N Σ_i Σ_k (p_ik − 1[o_i = k])²`` (multiclass).

    Reported in `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8.1, Tab. 14
    without a formula; the multiclass form (Brier, 1950; range [0, 2]) is the one on that table's scale: forecasting the
    §3.4 label shares (0.793, 0.100, 0.065, 0.042) for every query scores ``1 − Σ_k p_k² ≈ 0.355``,
    next to the collapsed routers' 0.33–0.36.
    """
    p, o, multiclass = _forecast(prob, outcome)
    if multiclass:
        onehot = np.zeros_like(p)
        onehot[np.arange(len(o)), o.astype(np.intp)] = 1.0
        return float(((p - onehot) ** 2).sum(axis=1).mean())
    return float(((p - o) ** 2).mean())


# --------------------------------------------------------------------------- tiers and oracle labels


def _labels(name: str, value: Any, n_models: int, *, allow_none: bool) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.size == 0:
        raise SchemaError(f"{name} must be a non-empty 1-d array of model column indices. Got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        raise SchemaError(f"{name} must hold integer model column indices. Got dtype {arr.dtype}.")
    lo = -1 if allow_none else 0
    bad = (arr < lo) | (arr >= n_models)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        allowed = f"[{lo}, {n_models - 1}]" + (" (-1 = no tier solves the query)" if allow_none else "")
        raise SchemaError(f"{name}[{i}] must be in {allowed}. Got {int(arr[i])}.")
    return arr.astype(np.intp)


def _tier_rank(cost: Any | None, shape: tuple[int, int]) -> np.ndarray:
    """(n_queries, n_models) position of each model in increasing cost (ties: lower column first)."""
    n_q, n_m = shape
    if cost is None:
        return np.tile(np.arange(n_m), (n_q, 1))
    c = np.asarray(cost, dtype=np.float64)
    if c.shape == (n_m,):
        c = np.tile(c, (n_q, 1))
    if c.shape != shape:
        raise SchemaError(
            f"cost must be (n_models,) per-tier costs or (n_queries, n_models). Got {c.shape}; Y is {shape}."
        )
    if np.isnan(c).any():
        q, m = np.argwhere(np.isnan(c))[0]
        raise SchemaError(f"cost[{q}, {m}] is NaN; every tier needs a cost to be ordered (use a proxy such as params).")
    order = np.argsort(c, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_m)[None, :].repeat(n_q, axis=0), axis=1)
    return rank


def oracle_labels(*, Y: Any, cost: Any | None = None, threshold: float = 1.0) -> np.ndarray:
    """The oracle-optimal tier per query: the cheapest model with ``Y ≥ threshold``; −1 when none.

    `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §4.2: "For each query we
    identify the cheapest tier achieving score2. Queries where no tier achieves score2 are labeled none." ``threshold``
    is the top score on the [0, 1] scale (judge score 2 of 2 → 1.0). ``cost`` orders the tiers:
    (n_models,) per tier, (n_queries, n_models) per call, or None for column order (cheapest
    first); equal costs go to the lower column. Missing outcomes (NaN) do not solve a query.
    """
    Y = _outcomes(Y)
    rank = _tier_rank(cost, Y.shape)
    solved = np.nan_to_num(Y, nan=-1.0) >= threshold
    rank_if_solved = np.where(solved, rank, Y.shape[1])
    best = np.argmin(rank_if_solved, axis=1)
    return np.where(solved.any(axis=1), best, -1).astype(np.intp)


def per_model_recall(*, choice: Any, oracle_label: Any, n_models: int) -> np.ndarray:
    """Recall per tier ``R[m] = #{choice = m ∧ label = m} / #{label = m}``.

    As in `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8.1.

    Queries labelled −1 (no tier solves them) are left out. A tier that is never the label has no
    recall: its entry is NaN (reported, not averaged over).
    """
    c = _labels("choice", choice, n_models, allow_none=False)
    y = _labels("oracle_label", oracle_label, n_models, allow_none=True)
    _same_length(choice=c, oracle_label=y)
    keep = y >= 0
    support = np.bincount(y[keep], minlength=n_models).astype(np.float64)
    hits = np.bincount(y[keep & (c == y)], minlength=n_models).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, hits / support, np.nan)


def confusion_matrix(*, choice: Any, oracle_label: Any, n_models: int) -> np.ndarray:
    """Counts ``C[label, choice]``, shape (n_models + 1, n_models); the last row is label −1 ("none").

    Rows are the oracle-optimal tiers (:func:`oracle_labels`,
    `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §4.2), columns the chosen
    tiers, so ``C[-1]`` counts where unsolvable queries were sent and a diagonal-heavy first column shows collapse to
    the cheapest tier (§8.1).
    """
    c = _labels("choice", choice, n_models, allow_none=False)
    y = _labels("oracle_label", oracle_label, n_models, allow_none=True)
    _same_length(choice=c, oracle_label=y)
    row = np.where(y < 0, n_models, y)
    counts = np.bincount(row * n_models + c, minlength=(n_models + 1) * n_models)
    return counts.reshape(n_models + 1, n_models).astype(np.int64)


@dataclass(frozen=True, slots=True)
class RoutingErrors:
    """Counts of a router's choices against the oracle-optimal tier.

    As in `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8.6.

    * ``under``: a solvable query sent to a cheaper tier than its cheapest correct one (which
      therefore fails) — "routing hard queries to E2B".
    * ``over``: a solvable query sent to a dearer tier than needed that succeeds — correct but
      wasted cost.
    * ``over_failed``: sent to a dearer tier than needed that fails (possible when tiers are not
      nested: a larger model misses what a smaller one solves). Neither of the paper's two kinds.
    * ``exact``: sent to the optimal tier. ``unsolvable``: no tier solves the query; not an error.
    """

    under: int
    over: int
    over_failed: int
    exact: int
    unsolvable: int

    @property
    def n_queries(self) -> int:
        """All queries counted."""
        return self.under + self.over + self.over_failed + self.exact + self.unsolvable


def routing_errors(*, Y: Any, choice: Any, cost: Any | None = None, threshold: float = 1.0) -> RoutingErrors:
    """Under- and over-routing error counts.

    As in `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8.6.

    The oracle-optimal tier is :func:`oracle_labels` (cheapest tier with ``Y ≥ threshold``, tiers
    ordered by ``cost`` as there). With ``rank`` a tier's position in that order and ``opt`` the
    optimal tier of a solvable query: under-routing is ``rank(choice) < rank(opt)``; over-routing
    is ``rank(choice) > rank(opt)`` with ``Y[choice] ≥ threshold``. A choice on a missing outcome
    is an error.
    """
    Y = _outcomes(Y)
    c = _labels("choice", choice, Y.shape[1], allow_none=False)
    if len(c) != Y.shape[0]:
        raise SchemaError(f"choice must have one entry per query ({Y.shape[0]}). Got {len(c)}.")
    got = chosen(Y, c)
    if np.isnan(got).any():
        i = int(np.flatnonzero(np.isnan(got))[0])
        raise SchemaError(
            f"The router chose model column {int(c[i])} for query row {i}, which has no outcome; "
            "route with available=observed."
        )
    label = oracle_labels(Y=Y, cost=cost, threshold=threshold)
    rank = _tier_rank(cost, Y.shape)
    solvable = label >= 0
    r_choice = chosen(rank, c)
    r_opt = chosen(rank, np.where(solvable, label, 0))
    success = got >= threshold
    return RoutingErrors(
        under=int((solvable & (r_choice < r_opt)).sum()),
        over=int((solvable & (r_choice > r_opt) & success).sum()),
        over_failed=int((solvable & (r_choice > r_opt) & ~success).sum()),
        exact=int((solvable & (r_choice == r_opt)).sum()),
        unsolvable=int((~solvable).sum()),
    )
