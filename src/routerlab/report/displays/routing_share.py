"""Share of queries routed to each model, flagging collapse.

As in `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab.experiments.collapse import COLLAPSE_THRESHOLD
from routerlab.metrics import core as M
from routerlab.report._mpl import colour, new_axes, require_matplotlib
from routerlab.report.displays._common import _short

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
