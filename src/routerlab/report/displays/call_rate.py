"""Call-rate curves: Φ against the call rate to the large model of a fixed (small, large) pair.

With LPM/MPM/HCR (`routerxbench.txt` (arXiv:2602.11877) §3; `rethinking-router-evaluation.txt` ("Who Routes the Router")
App. I.1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab.errors import SchemaError
from routerlab.metrics.curves import Curve, auroc_score, call_rate_curve, hcr_score, lpm_score, mpm_score
from routerlab.report._mpl import new_axes, require_matplotlib
from routerlab.report.displays._common import CORRECT_AT, _label, _or_none, _short, _style

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
