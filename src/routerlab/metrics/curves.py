"""Cost–quality curves and the scalar metrics read off them.

Two families of curves, both returned as a :class:`Curve` (x ascending, y the quality there):

* **Deferral curves** over the whole pool (`rethinking-router-evaluation.txt` ("Who Routes the Router") §2.1 Eq. 2, §4.4
  and App. F): x is the mean cost per query a router spends, y its mean quality. A router traces one
  operating point per λ (cost-utility selection) or per budget; :func:`non_decreasing_hull` turns
  the points into the curve the paper compares, and :func:`area_under_curve` summarises it.
* **Call-rate curves** for a fixed small/large pair (`rethinking-router-evaluation.txt` §4.4 and
  App. I.1, "binary routing trade-off"; `routerxbench.txt` (arXiv:2602.11877) §3.1 Eqs. 1–5): x is the share of
  queries sent to the large model, y the resulting mean quality, ``Φ(x)``. RouterXBench's LPM, HCR
  and MPM (§3.3, Eqs. 6–11) and RouteLLM's APGR and CPT are integrals and level crossings of Φ.

Curves are piecewise linear between their points. A deferral curve is extended flat to the right
(a larger budget may be left unspent, Eq. 2 constrains expected cost by ``≤ B``) and is undefined
to the left of its cheapest point (no policy spends less); a call-rate curve spans exactly [0, 1].

:func:`auroc_score` (RouterXBench "router ability", §3.3) and :func:`utility_sweep` (the realised
U(λ) table of `routing-plateau.txt` (arXiv:2606.07587) §3 and §4.2, Tab. 2) complete the module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from routerlab.decisions import Decisions
from routerlab.errors import SchemaError
from routerlab.metrics.core import (
    DEFAULT_MISSING,
    _check,
    check_missing_policy,
    mean_cost,
    routing_accuracy_score,
    utility_score,
)

#: default sweep of the cost-utility trade-off (`routing-plateau.txt` (arXiv:2606.07587) §4.2, Tab. 2 and App. F.1)
PLATEAU_LAMBDAS: tuple[float, ...] = (0.0, 0.2, 0.5, 0.7, 0.9)

# --------------------------------------------------------------------------- input checks (shared)


def _vector(name: str, value: Any, *, allow_nan: bool = False, unit: bool = False) -> np.ndarray:
    """A non-empty finite 1-d float array (NaN only when ``allow_nan``; in [0, 1] when ``unit``)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"{name} must be a 1-d numeric array: {exc}.") from None
    if arr.ndim != 1:
        raise SchemaError(f"{name} must be 1-d (one value per query). Got shape {arr.shape}; flatten or index it.")
    if arr.size == 0:
        raise SchemaError(f"{name} is empty; a metric over 0 queries is undefined. Check the split is not empty.")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"{name}[{i}] must be finite. Got {float(arr[i])!r}; "
            f"{int(bad.sum())} entries are not. Score every query, or drop the queries without a value."
        )
    if unit:
        out = ~np.isnan(arr) & ((arr < 0) | (arr > 1))
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise SchemaError(f"{name}[{i}] must be in [0, 1]. Got {float(arr[i])!r}; rescale quality to [0, 1].")
    return arr


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{n} has {k}" for n, k in lengths.items())
        raise SchemaError(f"Inputs must have one entry per query, but {listed}; pass arrays over the same queries.")


def _outcomes(Y: Any, name: str = "Y") -> np.ndarray:
    """(n_queries, n_models) quality in [0, 1], NaN for missing (the RoutingData convention)."""
    arr, _ = _check(np.asarray(Y, dtype=np.float64))
    if arr.shape[1] == 0:
        raise SchemaError(f"{name} has no model columns; a routing problem needs at least one model.")
    if np.isinf(arr).any():
        q, m = np.argwhere(np.isinf(arr))[0]
        raise SchemaError(f"{name}[{q}, {m}] is infinite; quality must be in [0, 1] or NaN for no outcome.")
    out = ~np.isnan(arr) & ((arr < 0) | (arr > 1))
    if out.any():
        q, m = np.argwhere(out)[0]
        raise SchemaError(f"{name}[{q}, {m}] must be in [0, 1]. Got {float(arr[q, m])!r}; rescale quality to [0, 1].")
    return arr


def _matching_cost(cost: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(cost, dtype=np.float64)
    if arr.shape != shape:
        raise SchemaError(f"cost has shape {arr.shape} but Y has shape {shape}; give one cost per (query, model).")
    if (arr[np.isfinite(arr)] < 0).any():
        q, m = np.argwhere(np.isfinite(arr) & (arr < 0))[0]
        raise SchemaError(f"cost[{q}, {m}] must be >= 0. Got {float(arr[q, m])!r}.")
    return arr


# --------------------------------------------------------------------------- the curve object


@dataclass(frozen=True, slots=True)
class Curve:
    """Points of a cost–quality curve, sorted by x (then y); piecewise linear between them.

    ``x`` is a cost (mean cost per query, or the large-model call rate), ``y`` the mean quality at
    that cost, ``param`` the λ, budget or score threshold that produced each point (None when the
    points are not one router's sweep, e.g. a hull). Arrays are read-only.
    """

    x: np.ndarray
    y: np.ndarray
    param: np.ndarray | None = None

    def __post_init__(self) -> None:
        x = _vector("Curve.x", self.x)
        y = _vector("Curve.y", self.y)
        _same_length(x=x, y=y)
        order = np.lexsort((y, x))
        set_ = object.__setattr__
        set_(self, "x", x[order])
        set_(self, "y", y[order])
        if self.param is not None:
            p = np.asarray(self.param, dtype=np.float64)
            if p.shape != x.shape:
                raise SchemaError(f"Curve.param must have one value per point ({len(x)}). Got shape {p.shape}.")
            set_(self, "param", p[order])
        for arr in (self.x, self.y, self.param):
            if arr is not None:
                arr.setflags(write=False)

    def __len__(self) -> int:
        return len(self.x)

    def envelope(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct x with the best y at each: a budget that affords one point at x affords them all."""
        last = np.r_[self.x[1:] != self.x[:-1], True]  # y ascends within equal x, so the last is the max
        return self.x[last], self.y[last]

    def at(self, x: Any) -> np.ndarray:
        """Quality at cost(s) ``x``: linear between points, flat after the last, NaN before the first."""
        xs, ys = self.envelope()
        out: np.ndarray = np.interp(np.asarray(x, dtype=np.float64), xs, ys, left=np.nan, right=float(ys[-1]))
        return out


# --------------------------------------------------------------------------- deferral curves


def non_decreasing_hull(points: Curve | np.ndarray) -> Curve:
    """The upper-left, non-decreasing convex hull of (cost, quality) points.

    `rethinking-router-evaluation.txt` ("Who Routes the Router") §2.1 Eq. (2) optimises a *possibly stochastic* policy
    under an expected-cost budget ``E[c] ≤ B``. Mixing two operating points reaches every point on the segment
    between them (so the achievable frontier is the upper concave envelope), and an unspent budget
    costs nothing (so quality never decreases with B). The hull therefore keeps the upper concave
    chain from the cheapest point (best quality at that cost) up to the *first* point of maximal
    quality; beyond it the curve is flat (:meth:`Curve.at`). Collinear interior points are dropped.

    ``points`` is a :class:`Curve` or an (n, 2) array of (cost, quality) rows.
    """
    if isinstance(points, Curve):
        curve = points
    else:
        arr = np.asarray(points, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise SchemaError(f"points must be an (n, 2) array of (cost, quality) rows. Got shape {arr.shape}.")
        curve = Curve(x=arr[:, 0], y=arr[:, 1])
    hx, hy = _hull_arrays(*curve.envelope())
    return Curve(x=hx, y=hy)


def _hull_arrays(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing upper hull of points with distinct ascending ``xs`` (see :func:`non_decreasing_hull`)."""
    px, py = xs.tolist(), ys.tolist()  # Python floats: the loop is scalar work
    hull: list[int] = []
    for i in range(len(px)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # b lies on or below the chord a -> i: it is not a vertex of the upper hull
            cross = (px[b] - px[a]) * (py[i] - py[a]) - (py[b] - py[a]) * (px[i] - px[a])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    hx, hy = xs[hull], ys[hull]
    top = int(np.argmax(hy))  # first maximum: the concave chain rises up to here
    return hx[: top + 1], hy[: top + 1]


def deferral_curve(
    *,
    cost: Any,
    quality: Any,
    model_cost: Any | None = None,
    model_quality: Any | None = None,
    hull: bool = True,
) -> Curve:
    """A deferral curve from operating points.

    As in `rethinking-router-evaluation.txt` ("Who Routes the Router") §4.4, App. F.

    ``cost``/``quality`` are a router's operating points (mean cost per query, mean quality), e.g.
    from :func:`router_deferral_points`; ``model_cost``/``model_quality`` optionally add the single
    models of the pool as points (always-pick-m is a policy too). With ``hull=True`` (the default)
    the result is :func:`non_decreasing_hull` of all points, the curve compared by AUC; with
    ``hull=False`` it is the raw points sorted by cost.
    """
    xs = [_vector("cost", cost)]
    ys = [_vector("quality", quality, unit=True)]
    _same_length(cost=xs[0], quality=ys[0])
    if (model_cost is None) != (model_quality is None):
        raise SchemaError("Give both model_cost and model_quality (the per-model points) or neither.")
    if model_cost is not None:
        mc, mq = _vector("model_cost", model_cost), _vector("model_quality", model_quality, unit=True)
        _same_length(model_cost=mc, model_quality=mq)
        xs.append(mc)
        ys.append(mq)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if (x < 0).any():
        raise SchemaError(f"cost must be >= 0. Got {float(x[x < 0][0])!r}.")
    curve = Curve(x=x, y=y)
    return non_decreasing_hull(curve) if hull else curve


def _checked_decisions(decisions: Decisions, Y: np.ndarray, what: str, missing: str) -> Decisions:
    """``decisions`` aligned with ``Y``; under ``missing="reroute"`` offered only the observed cells (unless masked)."""
    if not isinstance(decisions, Decisions):
        raise TypeError(
            f"{what} takes decisions=router.decide(data, X) (a routerlab.decisions.Decisions). "
            f"Got {type(decisions).__name__}."
        )
    if decisions.scores.shape != Y.shape:
        raise SchemaError(
            f"decisions of {decisions.router!r} have shape {decisions.scores.shape} but Y has shape {Y.shape}; "
            "decide on the same queries and model pool as Y."
        )
    if decisions.available is None and check_missing_policy(missing) == "reroute":
        return decisions.restricted(~np.isnan(Y))  # a choice never lands on a cell with no outcome
    return decisions


def _realised(Y: np.ndarray, cost: np.ndarray, choice: np.ndarray, missing: str) -> tuple[float, float]:
    """(mean quality, mean true cost) of ``choice``, choices on missing cells counted as ``missing`` says."""
    return (
        routing_accuracy_score(Y=Y, choice=choice, missing=missing),
        mean_cost(cost=cost, choice=choice, Y=Y, missing=missing),
    )


def router_deferral_points(
    *,
    decisions: Decisions,
    Y: Any,
    cost: Any,
    lams: Sequence[float] | np.ndarray | None = None,
    budgets: Sequence[float] | np.ndarray | None = None,
    missing: str = DEFAULT_MISSING,
) -> Curve:
    """A router's operating points (mean true cost, mean quality), one per λ or per budget.

    Each point is ``decisions.choose(...)`` (:mod:`routerlab.decisions`: the router chooses with its
    own cost estimate and training cost scale, available = observed cells unless the decisions
    carry a mask), scored with the true ``Y`` and ``cost``: cost-utility
    ``argmax_m (1 − λ)·p̂ − λ·c̃`` for each λ (`routing-plateau.txt` (arXiv:2606.07587) §3), or the best estimated
    quality within a per-query budget on the estimated cost
    (`rethinking-router-evaluation.txt` ("Who Routes the Router") App. E, Heuristic/Oracle routers). Give ``lams`` or
    ``budgets``, not both; neither sweeps 21 evenly spaced λ in [0, 1]. The points come back unhulled, with ``param``
    the λ or budget of each. ``missing`` is the missing-outcome policy (:mod:`routerlab.metrics.core`).
    """
    Y = _outcomes(Y)
    cost_arr = _matching_cost(cost, Y.shape)
    if lams is not None and budgets is not None:
        raise SchemaError("Give either lams (cost-utility sweep) or budgets (per-query cost caps), not both.")
    decided = _checked_decisions(decisions, Y, "router_deferral_points", missing)
    if budgets is not None:
        params = _vector("budgets", budgets)
        choices = [decided.choose(budget=float(b)) for b in params]
    else:
        params = np.linspace(0.0, 1.0, 21) if lams is None else _vector("lams", lams)
        choices = [decided.choose(lam=float(lam)) for lam in params]
    points = [_realised(Y, cost_arr, choice, missing) for choice in choices]
    return Curve(x=np.array([c for _, c in points]), y=np.array([q for q, _ in points]), param=params)


def oracle_deferral_curve(*, Y: Any, cost: Any) -> Curve:
    """The best achievable deferral curve: the exact frontier of Eq. (2) with the true qualities.

    `rethinking-router-evaluation.txt` ("Who Routes the Router") §2.1 Eq. (2) maximises ``E[Σ_m s_m(p) q_m(p)]`` subject
    to ``E[Σ_m s_m(p) c_m(p)] ≤ B`` over stochastic per-query policies ``s``. Its value as a function
    of B is the sup-convolution of the per-query frontiers, each the non-decreasing concave hull of
    that query's (cost, quality) points (:func:`non_decreasing_hull`). The frontier starts at the
    mean cost of each query's cheapest model (best quality among the cheapest) and then applies every
    per-query hull segment in decreasing order of slope (quality gained per unit cost), each scaled
    by 1/N. No router's operating point lies above it, and its AUC upper-bounds every router's.

    App. E's "Oracle Router" (best model within a per-query cap) is
    ``router_deferral_points(scores=np.nan_to_num(Y), Y=Y, cost=cost, budgets=...)``; its points
    lie on or below this frontier.
    """
    Y = _outcomes(Y)
    cost_arr = _matching_cost(cost, Y.shape)
    observed = ~np.isnan(Y)
    usable = observed & np.isfinite(cost_arr)
    if not usable.any(axis=1).all():
        q = int(np.flatnonzero(~usable.any(axis=1))[0])
        raise SchemaError(f"Query row {q} has no model with both an outcome and a cost; drop it before tracing.")
    start_x = start_y = 0.0
    dx: list[np.ndarray] = []
    dy: list[np.ndarray] = []
    for i in range(Y.shape[0]):
        cols = np.flatnonzero(usable[i])
        cx, qy = cost_arr[i, cols], Y[i, cols]
        order = np.lexsort((qy, cx))
        cx, qy = cx[order], qy[order]
        last = np.r_[cx[1:] != cx[:-1], True]  # best quality at each distinct cost
        hx, hy = _hull_arrays(cx[last], qy[last])
        start_x += float(hx[0])
        start_y += float(hy[0])
        dx.append(np.diff(hx))
        dy.append(np.diff(hy))
    seg_x, seg_y = np.concatenate(dx), np.concatenate(dy)
    order = np.argsort(-(seg_y / seg_x), kind="stable")
    n = Y.shape[0]
    x = (start_x + np.r_[0.0, np.cumsum(seg_x[order])]) / n
    y = (start_y + np.r_[0.0, np.cumsum(seg_y[order])]) / n
    return non_decreasing_hull(Curve(x=x, y=np.clip(y, 0.0, 1.0)))


def _integral(xs: np.ndarray, ys: np.ndarray, lo: float, hi: float) -> float:
    """∫_lo^hi of the piecewise-linear curve through (xs, ys) (distinct xs, lo ≥ xs[0]), flat after xs[-1]."""
    if hi <= lo:
        return 0.0
    inner = xs[(xs > lo) & (xs < hi)]
    pts = np.r_[lo, inner, hi]
    vals = np.interp(pts, xs, ys)
    return float(np.trapezoid(vals, pts))


def area_under_curve(curve: Curve, *, x_range: tuple[float, float] | None = None, left: float | None = None) -> float:
    """Normalised area under a curve: ``AUC = 1/(x_hi − x_lo) ∫_{x_lo}^{x_hi} f(x) dx``.

    `rethinking-router-evaluation.txt` ("Who Routes the Router") App. F reports "the area under the deferral curve
    (AUC)" (e.g. 0.567 for K-NN, §5.2, against a peak accuracy of 69.83 %) and integrates routing-rate
    trade-off curves "over deferral rates"; it does not state the normalisation. Dividing by the
    width of the cost range makes AUC the mean quality over budgets in ``x_range`` (in the units of
    y; a constant curve at q has AUC q), which is the scale of the reported numbers and keeps
    curves in different cost units comparable. Pass the same ``x_range`` (e.g. the pool's cheapest
    and dearest model cost) for every router being compared; by default it is the curve's own
    x-span. ``f`` is linear between points and flat after the last. Below the first point no policy
    exists: ``left`` is the quality assumed there (e.g. 0.0); None makes that an error.
    """
    xs, ys = curve.envelope()
    lo, hi = (float(xs[0]), float(xs[-1])) if x_range is None else (float(x_range[0]), float(x_range[1]))
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        raise SchemaError(
            f"x_range must be finite with x_hi > x_lo. Got ({lo}, {hi}); "
            "a curve with a single cost needs an explicit x_range."
        )
    width = hi - lo
    area = 0.0
    if lo < xs[0]:
        if left is None:
            raise SchemaError(
                f"x_range starts at {lo}, below the curve's cheapest point {xs[0]}: no policy spends that little. "
                "Start x_range at the cheapest point, or pass left= (the quality assumed there, e.g. 0.0)."
            )
        cut = min(float(xs[0]), hi)
        area += left * (cut - lo)
        lo = cut
    area += _integral(xs, ys, lo, hi)
    return area / width


# --------------------------------------------------------------------------- call-rate curves Φ(x)


def call_rate_curve(
    *,
    y_small: Any,
    y_large: Any,
    strong_score: Any | None = None,
    p_small_suffices: Any | None = None,
) -> Curve:
    """The cost–performance curve Φ of a binary router, re-parameterised by large-model call rate.

    `routerxbench.txt` (arXiv:2602.11877) §3.1: the router scores each query ``s(q)`` and calls the large model when
    ``s(q) ≥ θ`` (Eq. 1); the system quality is ``δ(q;θ) = (1 − r)·δ_small + r·δ_large`` (Eq. 2),
    the call rate ``d(θ) = 1/|Q| Σ r(q;θ)`` (Eq. 3) and the performance ``Perf(θ) = 1/|Q| Σ δ(q;θ)``
    (Eq. 4). Sweeping θ over every distinct score (plus θ = +∞, no call) gives the points
    ``(d(θ), Perf(θ))`` (Eq. 5); Φ(x) is their linear interpolation on x ∈ [0, 1]. Queries with
    tied scores switch together, so ties add no intermediate points. This is also the "binary
    routing trade-off curve" of `rethinking-router-evaluation.txt` ("Who Routes the Router") §4.4 / App. I.1 (queries
    ranked by confidence for the small model, the rest deferred to the large one).

    Give ``strong_score`` (higher = call the large model) or ``p_small_suffices`` (higher = keep the
    small one; ``strong_score = −p_small_suffices``). ``param`` holds each point's θ.
    """
    ys = _vector("y_small", y_small, unit=True)
    yl = _vector("y_large", y_large, unit=True)
    if (strong_score is None) == (p_small_suffices is None):
        raise SchemaError("Give exactly one of strong_score (higher = call the large model) or p_small_suffices.")
    if strong_score is not None:
        s = _vector("strong_score", strong_score)
    else:
        s = -_vector("p_small_suffices", p_small_suffices)
    _same_length(y_small=ys, y_large=yl, score=s)
    n = len(s)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    gain = np.cumsum((yl - ys)[order])
    ends = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), n - 1]  # last index of each tie group
    x = np.r_[0.0, (ends + 1) / n]
    y = (ys.sum() + np.r_[0.0, gain[ends]]) / n
    theta = np.r_[np.inf, s_sorted[ends]]
    return Curve(x=x, y=np.clip(y, 0.0, 1.0), param=theta)


def _phi(curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = curve.envelope()
    if xs[0] != 0.0 or xs[-1] != 1.0:
        raise SchemaError(
            f"A call-rate curve must span call rates [0, 1]; this one spans [{xs[0]}, {xs[-1]}]. "
            "Build it with call_rate_curve."
        )
    return xs, ys


def _band(ys: np.ndarray, rho: float) -> float:
    perf_s, perf_l = float(ys[0]), float(ys[-1])
    if perf_l <= perf_s:
        raise ValueError(
            f"Relative performance is undefined when the large model is not better than the small one "
            f"(Perf_L = {perf_l}, Perf_S = {perf_s}); pick a pair where the large model is stronger."
        )
    # Eq. (7) written as a convex combination, clipped: ρ = 0 and ρ = 1 give Perf_S and Perf_L exactly
    return min(max((1.0 - rho) * perf_s + rho * perf_l, perf_s), perf_l)


def _first_reach(xs: np.ndarray, ys: np.ndarray, target: float) -> float:
    """``min{x : Φ(x) ≥ target}`` on the piecewise-linear Φ (NaN if never reached)."""
    hit = ys >= target
    if not hit.any():
        return float("nan")
    j = int(np.argmax(hit))
    if j == 0:
        return float(xs[0])
    x0, x1, y0, y1 = xs[j - 1], xs[j], ys[j - 1], ys[j]
    return float(x0 + (target - y0) / (y1 - y0) * (x1 - x0))


def lpm_score(*, curve: Curve, d1: float = 0.3) -> float:
    """Low-band Performance Mean, ``LPM = (1/d1) ∫_0^{d1} Φ(x) dx`` (`routerxbench.txt` (arXiv:2602.11877) §3.3, Eq. 6).

    ``d1 ∈ (0, 1]`` is the largest affordable call rate. The paper's Tab. 2 reports LPM "at 25-30 %
    call rate" without fixing one value; the default 0.3 is the upper end of that band.
    """
    if not 0 < d1 <= 1:
        raise ValueError(f"d1 (the largest allowed call rate) must be in (0, 1]. Got {d1}.")
    xs, ys = _phi(curve)
    return _integral(xs, ys, 0.0, d1) / d1


def hcr_score(*, curve: Curve, rho: tuple[float, float] = (0.85, 0.95)) -> float:
    """High-band Call Rate, ``HCR = 1 − (1/|D|) ∫_D x dx`` (`routerxbench.txt` (arXiv:2602.11877) §3.3, Eqs. 7–9).

    The relative-performance band ``[ρ1, ρ2]`` maps to ``τ_i = Perf_S + ρ_i (Perf_L − Perf_S)``
    (Eq. 7), with ``Perf_S = Φ(0)`` (small model only) and ``Perf_L = Φ(1)`` (large model only);
    ``D = {x ∈ [0, 1] : τ1 ≤ Φ(x) ≤ τ2}`` (Eq. 8). Both |D| and ∫_D x dx are computed exactly on
    the piecewise-linear Φ (D may be a union of intervals). Default band 85–95 % (§5.2, Tab. 2).
    Raises ValueError when D has zero length (Φ never lingers in the band).
    """
    r1, r2 = rho
    if not 0 <= r1 <= r2 <= 1:
        raise ValueError(f"rho must satisfy 0 <= rho1 <= rho2 <= 1. Got {rho}.")
    xs, ys = _phi(curve)
    tau1, tau2 = _band(ys, r1), _band(ys, r2)
    x0, x1, y0, y1 = xs[:-1], xs[1:], ys[:-1], ys[1:]
    slope = y1 - y0
    flat = slope == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(flat, -np.inf, (tau1 - y0) / slope)
        t2 = np.where(flat, np.inf, (tau2 - y0) / slope)
    lo_t = np.where(flat, np.where((tau1 <= y0) & (y0 <= tau2), 0.0, 1.0), np.minimum(t1, t2))
    hi_t = np.where(flat, np.where((tau1 <= y0) & (y0 <= tau2), 1.0, 0.0), np.maximum(t1, t2))
    lo_t, hi_t = np.clip(lo_t, 0.0, 1.0), np.clip(hi_t, 0.0, 1.0)
    a = x0 + lo_t * (x1 - x0)
    b = x0 + np.maximum(hi_t, lo_t) * (x1 - x0)
    length = float((b - a).sum())
    if length <= 0:
        raise ValueError(
            f"HCR is undefined: Φ spends no call-rate interval of positive length within [τ1, τ2] = "
            f"[{tau1:.4g}, {tau2:.4g}]; widen rho."
        )
    return 1.0 - float(((b**2 - a**2) / 2).sum()) / length


def mpm_score(*, curve: Curve, d1: float = 0.3, rho1: float = 0.85) -> float:
    """Mid-band Performance Mean, ``MPM = 1/(d2 − d1) ∫_{d1}^{d2} Φ(x) dx``.

    As in `routerxbench.txt` (arXiv:2602.11877) §3.3, Eqs. 10–11.

    ``d2 = min{x ∈ [0, 1] : Φ(x) ≥ τ1}`` (Eq. 10) is the first call rate reaching the high-accuracy
    threshold ``τ1 = Perf_S + ρ1 (Perf_L − Perf_S)`` (Eq. 7), found exactly on the interpolated Φ.
    The paper defines MPM only "provided that a valid transition region exists": when
    ``d2 ≤ d1`` this raises ValueError.
    """
    if not 0 < d1 <= 1:
        raise ValueError(f"d1 (the largest allowed call rate of the low band) must be in (0, 1]. Got {d1}.")
    if not 0 <= rho1 <= 1:
        raise ValueError(f"rho1 must be in [0, 1]. Got {rho1}.")
    xs, ys = _phi(curve)
    d2 = _first_reach(xs, ys, _band(ys, rho1))
    if not d2 > d1:
        raise ValueError(
            f"MPM is undefined: Φ reaches the high-accuracy threshold at call rate d2 = {d2:.4g} <= d1 = {d1}, "
            "so there is no mid band (d1, d2]. Lower d1 or raise rho1."
        )
    return _integral(xs, ys, d1, d2) / (d2 - d1)


def apgr_score(*, curve: Curve) -> float:
    """Average Performance Gap Recovered, ``APGR = ∫_0^1 PGR(Φ(x)) dx`` (RouteLLM).

    RouteLLM (Ong et al., ICLR 2025, its evaluation metrics; cited in `routerxbench.txt` (arXiv:2602.11877) §3.2 as a
    curve-based metric) defines ``PGR = (r − r_weak) / (r_strong − r_weak)`` and APGR as its average
    over the call rate to the strong model; their reference code (``routellm/evals/evaluate.py``,
    ``apgr_metric``) integrates the router's (call rate, accuracy) points with the trapezoid rule:
    ``APGR = (AUC − r_weak) / (r_strong − r_weak)``. Here the weak and strong
    references are the curve's own ends, ``Φ(0)`` and ``Φ(1)``, and the integral is exact on the
    interpolated Φ. A router whose scores carry no information (all tied) gets exactly 0.5;
    ``apgr(s) + apgr(−s) = 1``.
    """
    xs, ys = _phi(curve)
    perf_s, perf_l = float(ys[0]), float(ys[-1])
    _band(ys, 0.0)  # raises when the strong model is not stronger
    return (_integral(xs, ys, 0.0, 1.0) - perf_s) / (perf_l - perf_s)


def cpt_cost(*, curve: Curve, pgr: float = 0.5) -> float:
    """Call-Performance Threshold ``CPT(x%) = min{c ∈ [0, 1] : PGR(Φ(c)) ≥ x/100}`` (RouteLLM).

    RouteLLM (Ong et al., ICLR 2025, its evaluation metrics) reports the call rate to the strong
    model needed to reach x % PGR, i.e. quality ``r_weak + x/100 · (r_strong − r_weak)``
    (CPT(50 %), CPT(80 %)); ``pgr`` is that fraction (0.5 for CPT(50 %)). Their reference code
    (``routellm/evals/evaluate.py``, ``pct_call_metric``) inverts the curve with ``np.interp``,
    which assumes Φ increases; the first crossing used here is the same number on an increasing
    curve and stays well defined when Φ dips. Lower is better.
    """
    if not 0 <= pgr <= 1:
        raise ValueError(f"pgr (the fraction of the gap to recover) must be in [0, 1]. Got {pgr}.")
    xs, ys = _phi(curve)
    return _first_reach(xs, ys, _band(ys, pgr))


cpt = cpt_cost


# --------------------------------------------------------------------------- router ability, U(λ)


def auroc_score(*, score: Any, label: Any) -> float:
    """Area under the ROC curve, rank-based: ``(R₊ − n₊(n₊ + 1)/2) / (n₊ n₋)`` with average ranks for ties.

    RouterXBench's "router ability" (`routerxbench.txt` (arXiv:2602.11877) §3.3 (1), Tab. 1): the router's score
    against the ground-truth label built from the small model's performance (App. B.1, Eqs. 16–17:
    1 = the small model suffices). Pass ``score`` oriented towards ``label = 1`` — e.g.
    ``p_small_suffices`` with ``label = y_small``, or a strong-model score with ``1 − y_small``.
    This is the Mann–Whitney statistic, the probability that a random positive outranks a random
    negative with ties counting ½: 1 for a perfect scorer, 0 for a reversed one, 0.5 for a constant.
    """
    s = _vector("score", score)
    y = _vector("label", label)
    _same_length(score=s, label=y)
    if not np.isin(y, (0.0, 1.0)).all():
        i = int(np.flatnonzero(~np.isin(y, (0.0, 1.0)))[0])
        raise SchemaError(f"label[{i}] must be 0 or 1. Got {float(y[i])!r}; threshold graded quality into 0/1 labels.")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        present = "1" if n_pos else "0"
        raise SchemaError(
            f"AUROC needs both classes, but every label is {present} ({len(y)} queries); "
            "evaluate on a split where the small model both succeeds and fails."
        )
    ranks = rankdata(s, method="average")
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True, slots=True)
class UtilitySweep:
    """Realised cost-utility per λ, with the routing accuracy and mean cost behind each value."""

    lams: np.ndarray
    utility: np.ndarray
    quality: np.ndarray
    cost: np.ndarray

    def as_dict(self) -> dict[float, float]:
        """``{λ: U(λ)}``."""
        return {float(lam): float(u) for lam, u in zip(self.lams, self.utility, strict=True)}


def utility_sweep(
    *,
    decisions: Decisions,
    Y: Any,
    cost: Any,
    lams: Sequence[float] | np.ndarray = PLATEAU_LAMBDAS,
    missing: str = DEFAULT_MISSING,
) -> UtilitySweep:
    """Realised ``U(λ) = 1/N Σ_i [(1 − λ) Y[i, r_i] − λ c̃[i, r_i]]`` for each λ.

    As in `routing-plateau.txt` (arXiv:2606.07587) §3, §4.2.

    The router's λ = 0 scores are reused for every λ and the route is picked post hoc by
    ``argmax_m (1 − λ)·p̂ − λ·c̃`` (§4.2, "using each method's λ = 0 probabilities to select routes
    post hoc"; Tab. 2 sweeps λ ∈ {0.2, 0.5, 0.7, 0.9}, λ = 0 being plain accuracy): that is
    ``decisions.choose(lam=λ)`` (:mod:`routerlab.decisions`, the router's cost estimate), scored
    with the true ``Y`` and ``cost``, normalised by the decisions' training cost scale. ``missing``
    is the missing-outcome policy (:mod:`routerlab.metrics.core`).
    """
    Y = _outcomes(Y)
    cost_arr = _matching_cost(cost, Y.shape)
    lam_arr = _vector("lams", lams)
    decided = _checked_decisions(decisions, Y, "utility_sweep", missing)
    util, qual, spend = (np.empty(len(lam_arr)) for _ in range(3))
    for j, lam in enumerate(lam_arr):
        choice = decided.choose(lam=float(lam))
        util[j] = utility_score(Y=Y, cost=cost_arr, choice=choice, lam=float(lam), scale=decided.scale, missing=missing)
        qual[j], spend[j] = _realised(Y, cost_arr, choice, missing)
    return UtilitySweep(lams=lam_arr, utility=util, quality=qual, cost=spend)
