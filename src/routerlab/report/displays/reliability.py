"""Reliability diagram of the scores read as probabilities, with ECE."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab.errors import SchemaError
from routerlab.metrics.calibration import ReliabilityTable, brier_loss, reliability_table
from routerlab.report._mpl import colour, new_axes, require_matplotlib
from routerlab.report.displays._common import _label, binary_outcomes

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
