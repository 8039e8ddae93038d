"""RouterXBench's AUROC figures: Tab. 1 as AUROC with its 95 % CI per router and setting, and the §6 scaling curve.

From an ``xbench.json`` table (:class:`~routerlab.experiments.xbench.XBenchTable`; `routerxbench.txt`
(arXiv:2602.11877) Tab. 1 and §6). AUROC is of the router's keep-the-small-model score against the
small model's correctness, so 0.5 (dashed) is a router that knows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from routerlab.errors import SchemaError
from routerlab.experiments.xbench import XBenchTable
from routerlab.report._mpl import colour, new_axes, require_matplotlib

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: AUROC of a score that carries no information about the small model's correctness
CHANCE = 0.5


def _grid(table: XBenchTable) -> tuple[tuple[str, ...], np.ndarray]:
    """Routers of ``table`` and their (estimate, low, high) AUROC per group: (n_routers, n_groups, 3), NaN if absent."""
    routers = table.routers
    if not routers:
        raise SchemaError("the table has no rows; give at least one group with one router.")
    out = np.full((len(routers), len(table.groups), 3), np.nan)
    for j, group in enumerate(table.groups):
        for r in group.rows:
            out[routers.index(r.router), j] = (r.auroc.estimate, r.auroc.low, r.auroc.high)
    return routers, out


def _clip(name: str, n: int) -> str:
    """A setting name cut to ``n`` characters (not ``_common._short``, which drops a model's "org/" prefix)."""
    return name if len(name) <= n else name[: n - 1] + "…"


@dataclass(frozen=True, slots=True)
class XBenchAurocDisplay:
    """AUROC with its 95 % CI of each router (rows) in each setting (one colour a setting)."""

    routers: tuple[str, ...]
    groups: tuple[str, ...]
    auroc: np.ndarray  # (n_routers, n_groups) point estimates, NaN where a router was not scored
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def from_table(cls, table: XBenchTable) -> XBenchAurocDisplay:
        """From Tab. 1 (or any table in its layout): one group a setting."""
        routers, g = _grid(table)
        groups = tuple(gr.name for gr in table.groups)
        return cls(routers, groups, g[..., 0], g[..., 1], g[..., 2])

    def plot(self, ax: Axes | None = None) -> Axes:
        """A dot per (router, setting) with its CI as a horizontal bar; settings side by side within a router."""
        require_matplotlib()
        ax = new_axes(ax)
        n_groups = len(self.groups)
        # the settings of a router sit within ±0.25 of its tick, well apart from the next router's
        offsets = np.linspace(-0.25, 0.25, n_groups) if n_groups > 1 else np.zeros(1)
        y = np.arange(len(self.routers), dtype=np.float64)
        for i in range(0, len(self.routers), 2):
            ax.axhspan(i - 0.5, i + 0.5, color="#f3f5f8", zorder=0)
        for j, name in enumerate(self.groups):
            est, lo, hi = self.auroc[:, j], self.low[:, j], self.high[:, j]
            shown = np.isfinite(est)
            # a NaN bound (no resample with both classes) draws the dot without a bar
            err = np.vstack([np.nan_to_num(est - lo), np.nan_to_num(hi - est)]).clip(min=0.0)
            ax.errorbar(
                est[shown],
                y[shown] + offsets[j],
                xerr=err[:, shown],
                fmt="o",
                markersize=3.5,
                elinewidth=1.0,
                capsize=2.0,
                color=colour(j),
                label=_clip(name, 48),
            )
        ax.axvline(CHANCE, color="#999999", linewidth=0.8, linestyle="--")
        ax.set_yticks(y, list(self.routers))
        ax.set_ylim(len(self.routers) - 0.5, -0.5)  # first router on top
        ax.set_xlim(0, 1)
        ax.set_xlabel("AUROC of the keep-small score vs the small model's correctness (95 % CI; dashed: chance)")
        ax.set_title("RouterXBench Table 1: AUROC per router and setting")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="setting")
        ax.grid(axis="x", alpha=0.25)
        return ax


@dataclass(frozen=True, slots=True)
class XBenchScalingDisplay:
    """§6 data scaling: each router's test AUROC (95 % CI band) against the number of training queries."""

    routers: tuple[str, ...]
    n_train: np.ndarray  # (n_sizes,) increasing
    labels: tuple[str, ...]
    auroc: np.ndarray  # (n_routers, n_sizes)
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def from_table(cls, table: XBenchTable) -> XBenchScalingDisplay:
        """From the §6 table: one group per training size, each with its ``n_train``."""
        sizes = [g.n_train for g in table.groups]
        if any(n is None for n in sizes):
            missing = [g.name for g in table.groups if g.n_train is None]
            raise SchemaError(f"scaling groups {missing} have no n_train; give each the number of training queries.")
        routers, g = _grid(table)
        order = np.argsort(np.array(sizes, dtype=np.int64), kind="stable")
        g = g[:, order]
        return cls(
            routers,
            np.array(sizes, dtype=np.int64)[order],
            tuple(table.groups[i].name for i in order),
            g[..., 0],
            g[..., 1],
            g[..., 2],
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """A line per router over training sizes (log scale when they span more than 4×), CI shaded."""
        require_matplotlib()
        ax = new_axes(ax)
        x = self.n_train.astype(np.float64)
        for i, name in enumerate(self.routers):
            est = self.auroc[i]
            ok = np.isfinite(est)
            ax.plot(x[ok], est[ok], marker="o", markersize=4, linewidth=1.4, color=colour(i), label=name)
            band = ok & np.isfinite(self.low[i]) & np.isfinite(self.high[i])
            if band.sum() > 1:
                ax.fill_between(x[band], self.low[i][band], self.high[i][band], color=colour(i), alpha=0.12)
            elif band.any():
                ax.errorbar(
                    x[band],
                    est[band],
                    yerr=[est[band] - self.low[i][band], self.high[i][band] - est[band]],
                    fmt="none",
                    color=colour(i),
                    capsize=3,
                )
        ax.axhline(CHANCE, color="#999999", linewidth=0.8, linestyle="--")
        if x.max() > 4 * x.min():
            ax.set_xscale("log")
        ax.set_xticks(x, [f"{int(n):,}" for n in self.n_train])
        ax.minorticks_off()
        ax.set_ylim(0, 1)
        ax.set_xlabel("training queries")
        ax.set_ylabel("test AUROC (95 % CI; dashed: chance)")
        ax.set_title("RouterXBench §6: data scaling")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        ax.grid(alpha=0.25)
        return ax


__all__ = ["CHANCE", "XBenchAurocDisplay", "XBenchScalingDisplay"]
