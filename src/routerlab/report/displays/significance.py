"""Paired-bootstrap differences between routers; those whose CI excludes 0 are marked.

As in `rethinking-router-evaluation.txt` ("Who Routes the Router") App. F.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab.metrics.diagnostics import SignificanceTable, significance_table
from routerlab.report._mpl import new_axes, require_matplotlib
from routerlab.report.displays._common import _short

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
