"""Accuracy on hard and easy solvable queries (`routing-plateau.txt` (arXiv:2606.07587) §5.1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab.errors import SchemaError
from routerlab.metrics.diagnostics import HardEasyGap, hard_easy_gap
from routerlab.report._mpl import ORACLE_COLOUR, new_axes, require_matplotlib
from routerlab.report.displays._common import _short, binary_outcomes

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
