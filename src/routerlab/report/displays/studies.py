"""The figures of a sweep's studies (:mod:`routerlab.experiments.sweep.studies`).

* :class:`ScalingDisplay` — test accuracy against the number of training queries, one line per
  (router, encoder) with ± one std over seeds (`routing-plateau.txt` §6);
* :class:`EncoderDisplay` — test accuracy of each router under each encoder (grouped bars, ± std);
* :class:`FineTuneDisplay` — the frozen-encoder routers and the fine-tuned router of the same
  encoder against the number of training queries (§6, Tab. 6 "FT");
* :class:`DedupeDisplay` — each router's Avg. accuracy over λ before and after de-duplicating the
  training split (`rethinking-router-evaluation.txt` Table 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from routerlab.experiments.sweep.studies import DedupeRow, EncoderRow, FineTuneRow, Point, ScalingRow
from routerlab.report._mpl import new_axes, require_matplotlib
from routerlab.report.displays._common import _colour

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass(frozen=True, slots=True)
class ScalingDisplay:
    """Test accuracy (λ = 0) against training-set size for one dataset."""

    dataset: str
    rows: tuple[ScalingRow, ...]

    def plot(self, ax: Axes | None = None, *, colors: Mapping[str, str] | None = None) -> Axes:
        """One line per (router, encoder), error bars ± one std over seeds, log-scaled x."""
        require_matplotlib()
        ax = new_axes(ax)
        lines: dict[str, list[ScalingRow]] = {}
        for r in self.rows:
            lines.setdefault(f"{r.router} [{r.encoder}]", []).append(r)
        for i, (label, pts) in enumerate(sorted(lines.items())):
            pts = sorted(pts, key=lambda r: r.n_train)
            ax.errorbar(
                [r.n_train for r in pts],
                [r.point.acc for r in pts],
                yerr=[r.point.std for r in pts],
                marker="o",
                markersize=3.5,
                linewidth=1.3,
                capsize=2,
                label=label,
                color=_colour(i, pts[0].router, colors),
            )
        ax.set_xscale("log")
        ax.set_xlabel("training queries (nested fractions of train)")
        ax.set_ylabel("test accuracy at λ = 0 (mean ± std over seeds)")
        ax.set_title(f"{self.dataset}: accuracy against training-set size")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        ax.grid(alpha=0.25)
        return ax


def _grouped_bars(
    ax: Axes,
    groups: Sequence[str],
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    colors: Mapping[str, str] | None,
) -> None:
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (name, (values, errors)) in enumerate(series.items()):
        ax.bar(
            x + (i - (len(series) - 1) / 2) * width,
            values,
            width,
            yerr=errors if any(e > 0 for e in errors) else None,  # no caps drawn for a spread of 0
            capsize=2,
            label=name,
            color=_colour(i, name, colors),
        )
    ax.set_xticks(x, groups, rotation=30, ha="right")
    lows = [v - e for values, errors in series.values() for v, e in zip(values, errors, strict=True)]
    highs = [v + e for values, errors in series.values() for v, e in zip(values, errors, strict=True)]
    if lows:  # bars of accuracies near each other: zoom on their range, not on 0..1
        pad = max(0.01, 0.1 * (max(highs) - min(lows)))
        ax.set_ylim(max(0.0, min(lows) - pad), min(1.0, max(highs) + pad))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.grid(alpha=0.25, axis="y")


@dataclass(frozen=True, slots=True)
class EncoderDisplay:
    """Test accuracy (λ = 0) of each router of one dataset under each encoder."""

    dataset: str
    rows: tuple[EncoderRow, ...]

    def plot(self, ax: Axes | None = None, *, colors: Mapping[str, str] | None = None) -> Axes:
        """Grouped bars: routers on x, one bar per encoder, ± one std over seeds."""
        require_matplotlib()
        ax = new_axes(ax)
        routers = sorted({r.router for r in self.rows})
        encoders = sorted({r.encoder for r in self.rows})
        at = {(r.router, r.encoder): r.point for r in self.rows}
        series = {
            e: (
                [at[(r, e)].acc if (r, e) in at else np.nan for r in routers],
                [at[(r, e)].std if (r, e) in at else 0.0 for r in routers],
            )
            for e in encoders
        }
        _grouped_bars(ax, routers, series, colors)
        ax.set_ylabel("test accuracy at λ = 0")
        ax.set_title(f"{self.dataset}: accuracy by encoder")
        return ax


@dataclass(frozen=True, slots=True)
class FineTuneDisplay:
    """Frozen-encoder routers (dashed) and the fine-tuned router (solid) against training-set size."""

    dataset: str
    rows: tuple[FineTuneRow, ...]

    def plot(self, ax: Axes | None = None, *, colors: Mapping[str, str] | None = None) -> Axes:
        """One line per router, error bars ± one std over seeds, log-scaled x; a lone fraction is a point."""
        require_matplotlib()
        ax = new_axes(ax)
        lines: dict[tuple[str, bool], dict[int, Point]] = {}
        for r in self.rows:
            lines.setdefault((f"{r.frozen_router} [{r.encoder}, frozen]", False), {})[r.n_train] = r.frozen
            lines.setdefault((f"{r.tuned_router} [{r.encoder}, fine-tuned]", True), {})[r.n_train] = r.tuned
        for i, ((label, tuned), pts) in enumerate(sorted(lines.items(), key=lambda kv: (kv[0][1], kv[0][0]))):
            xs = sorted(pts)
            ax.errorbar(
                xs,
                [pts[x].acc for x in xs],
                yerr=[pts[x].std for x in xs],
                marker="o",
                markersize=4.5 if tuned else 3.5,
                linewidth=2.2 if tuned else 1.1,
                linestyle="-" if tuned else "--",
                capsize=2,
                label=label,
                color=_colour(i, label.split(" ")[0], colors),
            )
        ax.set_xscale("log")
        ax.set_xlabel("training queries (nested fractions of train)")
        ax.set_ylabel("test accuracy at λ = 0 (mean ± std over seeds)")
        ax.set_title(f"{self.dataset}: frozen vs fine-tuned encoder")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        ax.grid(alpha=0.25)
        return ax


@dataclass(frozen=True, slots=True)
class DedupeDisplay:
    """Avg. test accuracy over λ of each router before and after de-duplication (Table 1)."""

    dataset: str
    rows: tuple[DedupeRow, ...]

    def plot(self, ax: Axes | None = None, *, colors: Mapping[str, str] | None = None) -> Axes:
        """Grouped bars: (router, encoder) on x, original and reduced training split side by side."""
        require_matplotlib()
        ax = new_axes(ax)
        labels = [f"{r.router} [{r.encoder}]" for r in self.rows]
        series = {
            "original": ([r.avg_original for r in self.rows], [0.0] * len(self.rows)),
            "de-duplicated": ([r.avg_reduced for r in self.rows], [0.0] * len(self.rows)),
        }
        _grouped_bars(ax, labels, series, colors)
        ax.set_ylabel("Avg. test accuracy over λ")
        removed = self.rows[0].n_removed if self.rows else 0
        ax.set_title(f"{self.dataset}: before / after de-duplication ({removed} training queries removed)")
        return ax


__all__ = ["DedupeDisplay", "EncoderDisplay", "FineTuneDisplay", "ScalingDisplay"]
