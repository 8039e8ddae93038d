"""Deferral curves: quality against mean cost over the whole pool, per router, with the oracle frontier.

Each router's operating points along a λ sweep, their non-decreasing hull and its AUC, the single models and
the oracle frontier (`rethinking-router-evaluation.txt` ("Who Routes the Router") §4.4, App. F).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab.decisions import Decisions
from routerlab.errors import SchemaError
from routerlab.metrics import core as M
from routerlab.metrics.curves import (
    Curve,
    area_under_curve,
    non_decreasing_hull,
    oracle_deferral_curve,
    router_deferral_points,
)
from routerlab.report._mpl import ORACLE_COLOUR, new_axes, require_matplotlib
from routerlab.report.displays._common import _colour, _label, _short

if TYPE_CHECKING:
    from matplotlib.axes import Axes


#: λ grid that traces a router's deferral curve (the cost-utility policy at each λ)
DEFERRAL_LAMBDAS: tuple[float, ...] = tuple(float(v) for v in np.round(np.linspace(0.0, 1.0, 51), 4))


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
