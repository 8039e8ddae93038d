"""Realised U(λ) over λ (`routing-plateau.txt` (arXiv:2606.07587) §3, §4.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab.decisions import CostScale, Decisions
from routerlab.errors import SchemaError
from routerlab.metrics import core as M
from routerlab.metrics.curves import PLATEAU_LAMBDAS, utility_sweep
from routerlab.report._mpl import new_axes, require_matplotlib
from routerlab.report.displays._common import _or_nan, _style

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
