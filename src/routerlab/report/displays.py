"""Display objects: compute a figure's numbers once, draw them with ``.plot(ax=...)`` as often as needed.

After scikit-learn's ``*Display`` classes: each is a frozen dataclass built by a ``from_...``
classmethod from plain arrays (outcomes ``Y``, costs, a router's scores or choices), holding
every number the figure shows, and drawing nothing until :meth:`plot` is called. ``plot(ax=None)``
draws on ``ax`` (or on a new pyplot figure) and returns the axes. Matplotlib is imported only by
``plot``; without it a :class:`~routerlab.errors.PrerequisiteError` names ``pip install
'routerlab[plots]'``.

* :class:`DeferralCurveDisplay` — quality against mean cost over the whole pool: each router's
  operating points along a λ sweep, their non-decreasing hull and its AUC, the single models and
  the oracle frontier (`rethinking-router-evaluation.txt` §4.4, App. F).
* :class:`CallRateDisplay` — Φ against the call rate to the large model of a fixed (small, large)
  pair, with LPM/MPM/HCR (`routerxbench.txt` §3; `rethinking-router-evaluation.txt` App. I.1).
* :class:`UtilityDisplay` — realised U(λ) over λ (`routing-plateau.txt` §3, §4.2).
* :class:`ReliabilityDisplay` — reliability diagram of the scores as probabilities, with ECE.
* :class:`SignificanceDisplay` — the matrix of paired-bootstrap differences; differences whose CI
  excludes 0 are marked (`rethinking-router-evaluation.txt` App. F).
* :class:`RoutingShareDisplay` — share of queries routed to each model, flagging collapse
  (`unsolvability-ceiling-artifacts.txt` §8).
* :class:`HardEasyDisplay` — accuracy on hard and easy solvable queries (`routing-plateau.txt` §5.1).

Routers choose with the shared policy on their *own* cost estimates (the mean training cost;
the oracle knows the true cost) — exactly what :meth:`routerlab.routers.Router.route` does — and
are scored on the true outcomes and costs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab.decisions import CostScale, Decisions
from routerlab.errors import SchemaError
from routerlab.experiments.collapse import COLLAPSE_THRESHOLD
from routerlab.metrics import core as M
from routerlab.metrics.calibration import ReliabilityTable, brier_loss, reliability_table
from routerlab.metrics.curves import (
    PLATEAU_LAMBDAS,
    Curve,
    area_under_curve,
    auroc_score,
    call_rate_curve,
    hcr_score,
    lpm_score,
    mpm_score,
    non_decreasing_hull,
    oracle_deferral_curve,
    router_deferral_points,
    utility_sweep,
)
from routerlab.metrics.diagnostics import HardEasyGap, SignificanceTable, hard_easy_gap, significance_table
from routerlab.report._mpl import ORACLE_COLOUR, colour, new_axes, require_matplotlib

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: λ grid that traces a router's deferral curve (the cost-utility policy at each λ)
DEFERRAL_LAMBDAS: tuple[float, ...] = tuple(float(v) for v in np.round(np.linspace(0.0, 1.0, 51), 4))
#: graded outcomes are read as correct at or above this quality where a 0/1 label is needed
CORRECT_AT = 0.5


def binary_outcomes(Y: np.ndarray, threshold: float = CORRECT_AT) -> tuple[np.ndarray, bool]:
    """``Y`` as 0/1 labels (NaN kept), and whether it had to be thresholded (graded quality)."""
    Y = np.asarray(Y, dtype=np.float64)
    obs = ~np.isnan(Y)
    if np.isin(Y[obs], (0.0, 1.0)).all():
        return Y, False
    return np.where(obs, (Y >= threshold).astype(np.float64), np.nan), True


def _label(name: str, value: float | None, what: str, fmt: str = ".3f") -> str:
    return f"{name} ({what} {value:{fmt}})" if value is not None and np.isfinite(value) else name


def _style(i: int, name: str, bounds: Sequence[str], colors: Mapping[str, str] | None) -> dict[str, Any]:
    if name in bounds:
        return {"color": ORACLE_COLOUR, "linestyle": "--"}
    return {"color": _colour(i, name, colors)}


def _colour(i: int, name: str, colors: Mapping[str, str] | None) -> str:
    """``colors[name]`` when given (one colour per router across figures), else the ``i``-th of the palette."""
    return colors[name] if colors is not None and name in colors else colour(i)


# --------------------------------------------------------------------------- deferral curves


@dataclass(frozen=True, slots=True)
class DeferralCurveDisplay:
    """Deferral curves: per router its operating points, their non-decreasing hull and the hull's AUC.

    ``auc[r]`` is :func:`~routerlab.metrics.area_under_curve` of ``hulls[r]`` over ``x_range``
    (default: the cheapest to the dearest single model's mean cost), with quality 0 assumed below
    a router's cheapest point. The single models are drawn as points, the oracle frontier
    (:func:`~routerlab.metrics.oracle_deferral_curve`) as a dashed line.
    """

    points: dict[str, Curve]
    hulls: dict[str, Curve]
    auc: dict[str, float]
    model_names: tuple[str, ...]
    model_cost: np.ndarray
    model_quality: np.ndarray
    x_range: tuple[float, float]
    oracle: Curve | None = None
    oracle_auc: float | None = None
    cost_unit: str = "cost"

    @classmethod
    def from_points(
        cls,
        *,
        points: Mapping[str, Curve | tuple[Any, Any]],
        model_cost: Any,
        model_quality: Any,
        model_names: Sequence[str] | None = None,
        oracle: Curve | None = None,
        x_range: tuple[float, float] | None = None,
        cost_unit: str = "cost",
    ) -> DeferralCurveDisplay:
        """From each router's (cost, quality) operating points and the single models' points."""
        curves = {name: p if isinstance(p, Curve) else Curve(x=p[0], y=p[1]) for name, p in points.items()}
        mc, mq = np.asarray(model_cost, dtype=np.float64), np.asarray(model_quality, dtype=np.float64)
        if mc.shape != mq.shape or mc.ndim != 1 or mc.size == 0:
            raise SchemaError(
                f"model_cost and model_quality must be 1-d of the same length. Got {mc.shape}, {mq.shape}."
            )
        names = tuple(model_names) if model_names is not None else tuple(f"model {j}" for j in range(mc.size))
        if len(names) != mc.size:
            raise SchemaError(f"model_names has {len(names)} names for {mc.size} models.")
        if x_range is None:
            finite = mc[np.isfinite(mc)]
            x_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        hulls = {name: non_decreasing_hull(c) for name, c in curves.items()}
        auc = {name: _auc(h, x_range) for name, h in hulls.items()}
        return cls(
            points=curves,
            hulls=hulls,
            auc=auc,
            model_names=names,
            model_cost=mc,
            model_quality=mq,
            x_range=(float(x_range[0]), float(x_range[1])),
            oracle=oracle,
            oracle_auc=None if oracle is None else _auc(oracle, x_range),
            cost_unit=cost_unit,
        )

    @classmethod
    def from_predictions(
        cls,
        *,
        Y: Any,
        cost: Any,
        decisions: Mapping[str, Decisions] | None = None,
        choices: Mapping[str, Mapping[float, np.ndarray]] | None = None,
        model_names: Sequence[str] | None = None,
        lams: Sequence[float] = DEFERRAL_LAMBDAS,
        oracle: bool = True,
        cost_unit: str = "cost",
        missing: str = M.DEFAULT_MISSING,
    ) -> DeferralCurveDisplay:
        """Trace each router along ``lams`` from its :class:`~routerlab.decisions.Decisions` (or its saved ``choices``).

        A router with decisions is traced by :func:`~routerlab.metrics.router_deferral_points`
        (it chooses with its own cost estimate; the points are scored with the true cost); a router
        only in ``choices`` contributes the λ values it was evaluated at.
        """
        Y = np.asarray(Y, dtype=np.float64)
        cost = np.asarray(cost, dtype=np.float64)
        points = {
            name: router_deferral_points(
                decisions=d, Y=Y, cost=cost, lams=sorted({float(v) for v in lams}), missing=missing
            )
            for name, d in (decisions or {}).items()
        }
        for name, ch in (choices or {}).items():
            if name not in points:  # saved choices only: the λ values the router was evaluated at
                points[name] = Curve(
                    x=np.array(
                        [M.mean_cost(cost=cost, choice=np.asarray(c), Y=Y, missing=missing) for c in ch.values()]
                    ),
                    y=np.array(
                        [M.routing_accuracy_score(Y=Y, choice=np.asarray(c), missing=missing) for c in ch.values()]
                    ),
                    param=np.array([float(k) for k in ch]),
                )
        if not points:
            raise SchemaError(
                "No router to draw: give decisions (router.decide(...)) or choices for at least one router."
            )
        observed = ~np.isnan(Y)
        with np.errstate(invalid="ignore"):
            model_q = np.nanmean(np.where(observed, Y, np.nan), axis=0)
            model_c = np.nanmean(np.where(observed & np.isfinite(cost), cost, np.nan), axis=0)
        keep = np.isfinite(model_q) & np.isfinite(model_c)
        names = tuple(model_names) if model_names is not None else tuple(f"model {j}" for j in range(Y.shape[1]))
        return cls.from_points(
            points=points,
            model_cost=model_c[keep],
            model_quality=model_q[keep],
            model_names=[n for n, k in zip(names, keep, strict=True) if k],
            oracle=oracle_deferral_curve(Y=Y, cost=cost) if oracle else None,
            cost_unit=cost_unit,
        )

    def plot(
        self, ax: Axes | None = None, *, log_x: bool | None = None, colors: Mapping[str, str] | None = None
    ) -> Axes:
        """Draw points (markers), hulls (lines; AUC in the legend), models and the oracle frontier.

        ``log_x=None`` uses a log cost axis when the single models' costs span more than 50×;
        ``colors`` maps router names to colours (default: the palette in order).
        """
        require_matplotlib()
        ax = new_axes(ax)
        positive = self.model_cost[self.model_cost > 0]
        use_log = (
            log_x
            if log_x is not None
            else bool(
                positive.size == self.model_cost.size and positive.size > 1 and positive.max() / positive.min() > 50
            )
        )
        for i, name in enumerate(self.points):
            c = _colour(i, name, colors)
            pts, hull = self.points[name], self.hulls[name]
            ax.plot(pts.x, pts.y, linestyle="none", marker=".", markersize=4, color=c, alpha=0.45)
            ax.plot(*self._line(hull, use_log), color=c, linewidth=1.6, label=_label(name, self.auc[name], "AUC"))
        if self.oracle is not None:
            ax.plot(
                *self._line(self.oracle, use_log),
                color=ORACLE_COLOUR,
                linestyle="--",
                linewidth=1.2,
                label=_label("oracle frontier", self.oracle_auc, "AUC"),
            )
        ax.scatter(
            self.model_cost,
            self.model_quality,
            marker="s",
            s=22,
            color="white",
            edgecolor="black",
            zorder=3,
            label="single models",
        )
        for name, x, y in zip(self.model_names, self.model_cost, self.model_quality, strict=True):
            ax.annotate(_short(name), (x, y), textcoords="offset points", xytext=(4, -9), fontsize=6, color="#555555")
        if use_log:
            ax.set_xscale("log")
        ax.set_xlabel(f"mean cost per query ({self.cost_unit}){', log scale' if use_log else ''}")
        ax.set_ylabel("mean quality")
        ax.set_title("Deferral curves (hull of each router's λ sweep)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        ax.grid(alpha=0.25)
        return ax

    def _line(self, curve: Curve, dense: bool) -> tuple[np.ndarray, np.ndarray]:
        """The piecewise-linear curve, flat up to ``x_range``'s end; densified for a log axis."""
        xs, ys = curve.x, curve.y
        if len(xs) and xs[-1] < self.x_range[1]:  # flat after the last point: a larger budget may go unspent
            xs, ys = np.r_[xs, self.x_range[1]], np.r_[ys, ys[-1]]
        if dense and len(xs) > 1:  # linear in cost looks curved on a log axis: draw it as it is
            fine = np.unique(np.concatenate([np.linspace(a, b, 24) for a, b in itertools.pairwise(xs)]))
            return fine, np.interp(fine, xs, ys)
        return xs, ys


def _auc(curve: Curve, x_range: tuple[float, float]) -> float:
    if not x_range[1] > x_range[0]:
        return float("nan")
    return area_under_curve(curve, x_range=x_range, left=0.0)


def _short(name: str, n: int = 28) -> str:
    name = name.rsplit("/", 1)[-1]
    return name if len(name) <= n else name[: n - 1] + "…"


_NOTHING_TO_DRAW = "No router to draw: give decisions (router.decide(...)) or choices for at least one router."


def router_choices(
    *,
    decisions: Mapping[str, Decisions] | None,
    choices: Mapping[str, Mapping[float, np.ndarray]] | None,
    lams: Sequence[float],
) -> dict[str, dict[float, np.ndarray]]:
    """Each router's choices: ``decisions[name].choose(lam=λ)`` at ``lams``, else its saved ``choices``."""
    out: dict[str, dict[float, np.ndarray]] = {
        name: d.choices(sorted({float(v) for v in lams})) for name, d in (decisions or {}).items()
    }
    for name, ch in (choices or {}).items():
        if name not in out:
            out[name] = {float(k): np.asarray(v) for k, v in sorted(ch.items())}
    if not out:
        raise SchemaError(_NOTHING_TO_DRAW)
    return out


# --------------------------------------------------------------------------- call-rate curves


@dataclass(frozen=True, slots=True)
class CallRateDisplay:
    """Φ(call rate to the large model) of a fixed (small, large) pair, per router, with LPM/MPM/HCR.

    ``lpm``/``mpm``/``hcr`` are :func:`~routerlab.metrics.lpm_score` (band [0, d1]),
    :func:`~routerlab.metrics.mpm_score` and :func:`~routerlab.metrics.hcr_score` (RP band
    ``rho``); None where a metric is undefined for that curve. ``auroc`` is
    :func:`~routerlab.metrics.auroc_score` of "keep the small model" against the small model being
    correct (graded outcomes read as correct at ``CORRECT_AT``). ``tau`` is the RP band in quality.
    """

    small: str
    large: str
    curves: dict[str, Curve]
    lpm: dict[str, float | None]
    mpm: dict[str, float | None]
    hcr: dict[str, float | None]
    auroc: dict[str, float | None]
    perf_small: float
    perf_large: float
    d1: float = 0.3
    rho: tuple[float, float] = (0.85, 0.95)
    tau: tuple[float, float] = field(default=(float("nan"), float("nan")))
    n_queries: int = 0
    bounds: tuple[str, ...] = ()

    @classmethod
    def from_scores(
        cls,
        *,
        y_small: Any,
        y_large: Any,
        strong_scores: Mapping[str, Any],
        small: str = "small",
        large: str = "large",
        d1: float = 0.3,
        rho: tuple[float, float] = (0.85, 0.95),
        bounds: Sequence[str] = (),
    ) -> CallRateDisplay:
        """From the pair's outcomes and each router's score for calling the large model (higher = call it)."""
        ys = np.asarray(y_small, dtype=np.float64)
        yl = np.asarray(y_large, dtype=np.float64)
        if not strong_scores:
            raise SchemaError("strong_scores is empty; give at least one router's scores.")
        curves = {name: call_rate_curve(y_small=ys, y_large=yl, strong_score=s) for name, s in strong_scores.items()}
        label = (ys >= CORRECT_AT).astype(np.float64)
        lpm, mpm, hcr, auroc = {}, {}, {}, {}
        for name, curve in curves.items():
            lpm[name] = _or_none(lambda c=curve: lpm_score(curve=c, d1=d1))
            mpm[name] = _or_none(lambda c=curve: mpm_score(curve=c, d1=d1, rho1=rho[0]))
            hcr[name] = _or_none(lambda c=curve: hcr_score(curve=c, rho=rho))
            s = -np.asarray(strong_scores[name], dtype=np.float64)
            auroc[name] = _or_none(lambda s=s: auroc_score(score=s, label=label))
        perf_s, perf_l = float(ys.mean()), float(yl.mean())
        tau = (perf_s + rho[0] * (perf_l - perf_s), perf_s + rho[1] * (perf_l - perf_s))
        return cls(
            small=small,
            large=large,
            curves=curves,
            lpm=lpm,
            mpm=mpm,
            hcr=hcr,
            auroc=auroc,
            perf_small=perf_s,
            perf_large=perf_l,
            d1=float(d1),
            rho=(float(rho[0]), float(rho[1])),
            tau=(float(tau[0]), float(tau[1])),
            n_queries=int(ys.size),
            bounds=tuple(bounds),
        )

    def plot(self, ax: Axes | None = None, *, colors: Mapping[str, str] | None = None) -> Axes:
        """Draw Φ per router, the low band [0, d1] and the RP band [τ1, τ2]."""
        require_matplotlib()
        ax = new_axes(ax)
        ax.axvspan(0.0, self.d1, color="#1f77b4", alpha=0.07, label=f"low band [0, {self.d1:g}] (LPM)")
        if self.perf_large > self.perf_small:
            ax.axhspan(
                self.tau[0],
                self.tau[1],
                color="#2ca02c",
                alpha=0.10,
                label=f"RP band {self.rho[0]:.0%}–{self.rho[1]:.0%} (HCR)",
            )
        ax.plot(
            [0, 1],
            [self.perf_small, self.perf_large],
            color="#999999",
            linewidth=0.8,
            linestyle=":",
            label="no information (linear)",
        )
        for i, (name, curve) in enumerate(self.curves.items()):
            label = _label(name, self.lpm[name], "LPM")
            ax.plot(curve.x, curve.y, linewidth=1.4, label=label, **_style(i, name, self.bounds, colors))
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"call rate to the large model ({_short(self.large, 40)})")
        ax.set_ylabel(f"quality Φ (small: {_short(self.small, 40)})")
        ax.set_title("Binary routing trade-off: Φ against call rate")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        ax.grid(alpha=0.25)
        return ax


def _or_nan(fn: Any) -> float:
    value = _or_none(fn)
    return float("nan") if value is None else value


def _or_none(fn: Any) -> float | None:
    try:
        value = float(fn())
    except (ValueError, SchemaError):
        return None
    return value if np.isfinite(value) else None


# --------------------------------------------------------------------------- U(λ)


@dataclass(frozen=True, slots=True)
class UtilityDisplay:
    """Realised ``U(λ)`` of each router over λ (with the quality and mean cost behind each value)."""

    lams: np.ndarray
    utility: dict[str, np.ndarray]
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    cost: dict[str, np.ndarray] = field(default_factory=dict)
    bounds: tuple[str, ...] = ()

    @classmethod
    def from_values(cls, *, lams: Any, utility: Mapping[str, Any], bounds: Sequence[str] = ()) -> UtilityDisplay:
        """From precomputed U(λ) values, one array per router aligned with ``lams``."""
        lam_arr = np.asarray(lams, dtype=np.float64)
        util = {name: np.asarray(u, dtype=np.float64) for name, u in utility.items()}
        for name, u in util.items():
            if u.shape != lam_arr.shape:
                raise SchemaError(f"utility[{name!r}] has shape {u.shape}; expected one value per λ {lam_arr.shape}.")
        return cls(lams=lam_arr, utility=util, bounds=tuple(bounds))

    @classmethod
    def from_predictions(
        cls,
        *,
        Y: Any,
        cost: Any,
        decisions: Mapping[str, Decisions] | None = None,
        choices: Mapping[str, Mapping[float, np.ndarray]] | None = None,
        scale: CostScale | None = None,
        lams: Sequence[float] = PLATEAU_LAMBDAS,
        bounds: Sequence[str] = (),
        missing: str = M.DEFAULT_MISSING,
    ) -> UtilityDisplay:
        """U(λ) of each router at ``lams``: :func:`~routerlab.metrics.utility_sweep` of its decisions.

        A router given only by saved ``choices`` keeps its own λ values and needs ``scale`` (the
        training cost scale that maps cost to c̃).
        """
        Y = np.asarray(Y, dtype=np.float64)
        cost = np.asarray(cost, dtype=np.float64)
        lam_arr = np.asarray(sorted({float(v) for v in lams}), dtype=np.float64)
        util, qual, spend = {}, {}, {}
        for name, d in (decisions or {}).items():
            sweep = utility_sweep(decisions=d, Y=Y, cost=cost, lams=lam_arr, missing=missing)
            util[name], qual[name], spend[name] = sweep.utility, sweep.quality, sweep.cost
        for name, ch in (choices or {}).items():
            if name in util:
                continue
            if scale is None:
                raise SchemaError(f"Router {name!r} is given by its choices only; pass scale= to compute its U(λ).")
            u = np.full(lam_arr.size, np.nan)
            q, c = u.copy(), u.copy()
            for j, lam in enumerate(lam_arr):
                if float(lam) in ch:
                    choice = np.asarray(ch[float(lam)])
                    u[j] = M.utility_score(Y=Y, cost=cost, choice=choice, lam=float(lam), scale=scale, missing=missing)
                    q[j] = M.routing_accuracy_score(Y=Y, choice=choice, missing=missing)
                    c[j] = _or_nan(lambda choice=choice: M.mean_cost(cost=cost, choice=choice, Y=Y, missing=missing))
            util[name], qual[name], spend[name] = u, q, c
        if not util:
            raise SchemaError(
                "No router to draw: give decisions (router.decide(...)) or choices for at least one router."
            )
        return cls(lams=lam_arr, utility=util, quality=qual, cost=spend, bounds=tuple(bounds))

    def plot(self, ax: Axes | None = None, *, colors: Mapping[str, str] | None = None) -> Axes:
        """One line per router over λ."""
        require_matplotlib()
        ax = new_axes(ax)
        for i, (name, u) in enumerate(self.utility.items()):
            ok = np.isfinite(u)
            ax.plot(
                self.lams[ok],
                u[ok],
                marker="o",
                markersize=3.5,
                linewidth=1.3,
                label=name,
                **_style(i, name, self.bounds, colors),
            )
        ax.set_xticks(self.lams)
        ax.set_xlabel("λ (cost weight)")
        ax.set_ylabel("U(λ) = (1 − λ)·quality − λ·normalised cost")
        ax.set_title("Realised cost-utility U(λ)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        ax.grid(alpha=0.25)
        return ax


# --------------------------------------------------------------------------- reliability


@dataclass(frozen=True, slots=True)
class ReliabilityDisplay:
    """Reliability of each router's scores read as P(correct), per (query, model) with an outcome.

    ``tables[r]`` is :func:`~routerlab.metrics.reliability_table` of the observed cells;
    ``ece``/``brier`` its ECE and Brier score. Routers whose scores are not probabilities (outside
    [0, 1]) are left out, with the reason in ``skipped``. ``thresholded`` tells whether graded
    outcomes were read as correct at :data:`CORRECT_AT`.
    """

    tables: dict[str, ReliabilityTable]
    ece: dict[str, float]
    brier: dict[str, float]
    skipped: dict[str, str] = field(default_factory=dict)
    thresholded: bool = False

    @classmethod
    def from_predictions(
        cls, *, Y: Any, scores: Mapping[str, Any], n_bins: int = 10, strategy: str = "uniform"
    ) -> ReliabilityDisplay:
        """From the outcomes and each router's (n_queries, n_models) scores."""
        labels, thresholded = binary_outcomes(np.asarray(Y, dtype=np.float64))
        observed = ~np.isnan(labels)
        tables, ece, brier, skipped = {}, {}, {}, {}
        for name, s in scores.items():
            s = np.asarray(s, dtype=np.float64)
            if s.shape != labels.shape:
                raise SchemaError(f"scores[{name!r}] has shape {s.shape}; Y has {labels.shape}.")
            prob, outcome = s[observed], labels[observed]
            if prob.size == 0:
                skipped[name] = "no observed outcome"
                continue
            if not np.isfinite(prob).all() or prob.min() < 0 or prob.max() > 1:
                skipped[name] = f"scores span [{np.nanmin(prob):.3g}, {np.nanmax(prob):.3g}], not probabilities"
                continue
            table = reliability_table(prob=prob, outcome=outcome, n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
            tables[name], ece[name] = table, table.ece
            brier[name] = brier_loss(prob=prob, outcome=outcome)
        return cls(tables=tables, ece=ece, brier=brier, skipped=skipped, thresholded=thresholded)

    @classmethod
    def from_tables(cls, tables: Mapping[str, ReliabilityTable]) -> ReliabilityDisplay:
        """From precomputed reliability tables (Brier unknown: NaN)."""
        return cls(
            tables=dict(tables), ece={n: t.ece for n, t in tables.items()}, brier={n: float("nan") for n in tables}
        )

    def plot(self, ax: Axes | None = None, *, colors: Mapping[str, str] | None = None) -> Axes:
        """Observed rate against mean predicted probability per bin; marker area grows with the bin's count."""
        require_matplotlib()
        ax = new_axes(ax)
        ax.plot([0, 1], [0, 1], color="#999999", linewidth=0.8, linestyle=":", label="perfectly calibrated")
        for i, (name, t) in enumerate(self.tables.items()):
            full = t.count > 0
            size = 8 + 60 * t.count[full] / max(int(t.count.max()), 1)
            c = colour(i)
            ax.plot(
                t.mean_predicted[full],
                t.observed_rate[full],
                color=c,
                linewidth=1.2,
                label=_label(name, self.ece[name], "ECE"),
            )
            ax.scatter(t.mean_predicted[full], t.observed_rate[full], s=size, color=c, alpha=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("predicted probability (router score)")
        ax.set_ylabel(f"observed rate{' (quality ≥ 0.5)' if self.thresholded else ''}")
        ax.set_title("Reliability of the scores")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.25)
        return ax


# --------------------------------------------------------------------------- significance


@dataclass(frozen=True, slots=True)
class SignificanceDisplay:
    """Paired-bootstrap differences ``mean(row) − mean(column)``; ``*`` where the CI excludes 0.

    Rows and columns are ordered by mean, best first; ``tiers`` groups routers that are within
    noise of their tier's leader (:meth:`~routerlab.metrics.SignificanceTable.tiers`).
    """

    table: SignificanceTable
    label: str = "quality"
    tiers: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_per_query(
        cls,
        per_query: Mapping[str, Any],
        *,
        label: str = "quality",
        n_resamples: int = 1000,
        seed: int = 0,
        level: float = 0.95,
    ) -> SignificanceDisplay:
        """From each router's per-query scores on the same queries (e.g. chosen quality)."""
        table = significance_table(per_query, n_resamples=n_resamples, seed=seed, level=level)
        return cls.from_table(table, label=label)

    @classmethod
    def from_table(cls, table: SignificanceTable, *, label: str = "quality") -> SignificanceDisplay:
        """From a computed :class:`~routerlab.metrics.SignificanceTable`."""
        return cls(table=table, label=label, tiers=tuple(tuple(t) for t in table.tiers()))

    @property
    def order(self) -> list[int]:
        """Router indices by mean, best first."""
        return [int(i) for i in np.argsort(-self.table.means, kind="stable")]

    def plot(self, ax: Axes | None = None) -> Axes:
        """A heat map of the differences, annotated; non-significant cells are faded."""
        require_matplotlib()
        t = self.table
        order = self.order
        n = len(order)
        ax = new_axes(ax, figsize=(1.0 + 0.8 * n, 0.8 + 0.7 * n))
        est = t.estimate[np.ix_(order, order)]
        sig = t.excludes_zero[np.ix_(order, order)]
        vmax = float(np.abs(est).max()) or 1.0
        ax.imshow(np.where(sig, est, 0.0), cmap="RdBu", vmin=-vmax, vmax=vmax)
        fs = max(5.0, min(8.0, 60.0 / max(n, 1)))
        for a in range(n):
            for b in range(n):
                if a == b:
                    continue
                text = f"{est[a, b]:+.3f}{'*' if sig[a, b] else ''}"
                strong = sig[a, b] and abs(est[a, b]) > 0.6 * vmax
                ax.text(
                    b,
                    a,
                    text,
                    ha="center",
                    va="center",
                    fontsize=fs,
                    color="white" if strong else ("black" if sig[a, b] else "#888888"),
                )
        names = [_short(t.names[i], 18) for i in order]
        ax.set_xticks(range(n), names, rotation=35, ha="right")
        ax.set_yticks(range(n), names)
        ax.set_title(f"{self.label}: row − column ({t.level:.0%} CI excludes 0: *)")
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        return ax


# --------------------------------------------------------------------------- collapse and plateau


@dataclass(frozen=True, slots=True)
class RoutingShareDisplay:
    """Share of queries each router sends to each model; ``collapsed`` routers send ≥ ``threshold`` to one."""

    routers: tuple[str, ...]
    models: tuple[str, ...]
    share: np.ndarray
    threshold: float = COLLAPSE_THRESHOLD
    collapsed: dict[str, tuple[str, float]] = field(default_factory=dict)

    @classmethod
    def from_choices(
        cls, choices: Mapping[str, Any], *, model_names: Sequence[str], threshold: float = COLLAPSE_THRESHOLD
    ) -> RoutingShareDisplay:
        """From each router's chosen model column per query."""
        models = tuple(model_names)
        share = np.stack([M.call_rate(choice=np.asarray(c), n_models=len(models)) for c in choices.values()])
        collapsed = {}
        for name, row in zip(choices, share, strict=True):
            top = int(np.argmax(row))
            if row[top] >= threshold:
                collapsed[name] = (models[top], float(row[top]))
        return cls(routers=tuple(choices), models=models, share=share, threshold=threshold, collapsed=collapsed)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Stacked horizontal bars, one per router; collapsed routers are labelled."""
        require_matplotlib()
        ax = new_axes(ax)
        n = len(self.routers)
        left = np.zeros(n)
        used = self.share.max(axis=0) > 0
        for j in np.flatnonzero(used):
            ax.barh(
                range(n),
                self.share[:, j],
                left=left,
                color=colour(int(j)),
                label=_short(self.models[j]),
                edgecolor="white",
                linewidth=0.4,
            )
            left += self.share[:, j]
        labels = [f"{r} (collapsed)" if r in self.collapsed else r for r in self.routers]
        ax.set_yticks(range(n), labels)
        ax.invert_yaxis()
        ax.axvline(self.threshold, color="#d62728", linewidth=0.8, linestyle="--")
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"share of test queries routed to each model (dashed: collapse at {self.threshold:.0%})")
        ax.set_title("Routing share per model")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
        return ax


@dataclass(frozen=True, slots=True)
class HardEasyDisplay:
    """Accuracy of each router on hard and easy solvable queries (:func:`~routerlab.metrics.hard_easy_gap`)."""

    routers: tuple[str, ...]
    gap: HardEasyGap
    thresholded: bool = False

    @classmethod
    def from_choices(cls, *, Y: Any, choices: Mapping[str, Any], top_model: int | None = None) -> HardEasyDisplay:
        """From the outcomes (graded quality read as correct at :data:`CORRECT_AT`) and each router's choices."""
        if not choices:
            raise SchemaError("choices is empty; give at least one router's choices.")
        labels, thresholded = binary_outcomes(np.asarray(Y, dtype=np.float64))
        stacked = np.stack([np.asarray(c) for c in choices.values()])
        gap = hard_easy_gap(Y=labels, choice=stacked, top_model=top_model)
        return cls(routers=tuple(choices), gap=gap, thresholded=thresholded)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Grouped bars (hard, easy) per router, with the oracle's accuracy on each subset."""
        require_matplotlib()
        ax = new_axes(ax)
        g = self.gap
        x = np.arange(len(self.routers))
        w = 0.38
        ax.bar(x - w / 2, np.nan_to_num(g.router_hard), w, color="#d62728", label=f"hard ({g.f_hard:.1%} of queries)")
        ax.bar(x + w / 2, np.nan_to_num(g.router_easy), w, color="#1f77b4", label=f"easy ({g.f_easy:.1%} of queries)")
        if np.isfinite(g.oracle_hard):
            ax.axhline(g.oracle_hard, color=ORACLE_COLOUR, linewidth=0.8, linestyle="--", label="oracle")
        ax.set_xticks(x, [_short(r, 18) for r in self.routers], rotation=30, ha="right")
        ax.set_ylim(0, 1.22)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_ylabel("accuracy on the subset" + (" (quality ≥ 0.5)" if self.thresholded else ""))
        share = f"; hard queries hold {g.share_explained:.0%} of the gap" if np.isfinite(g.share_explained) else ""
        ax.set_title(f"Hard vs easy: gap {g.gap_hard:.3f} vs {g.gap_easy:.3f}{share}")
        ax.legend(loc="upper center", ncol=3, frameon=False)
        ax.grid(alpha=0.25, axis="y")
        return ax


__all__ = [
    "CORRECT_AT",
    "DEFERRAL_LAMBDAS",
    "CallRateDisplay",
    "DeferralCurveDisplay",
    "HardEasyDisplay",
    "ReliabilityDisplay",
    "RoutingShareDisplay",
    "SignificanceDisplay",
    "UtilityDisplay",
    "binary_outcomes",
    "router_choices",
]
