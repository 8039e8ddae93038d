"""The paired comparison of every router with ``best_single``: Δ quality with a bootstrap CI.

The Δ column of the printed and Markdown leaderboards (``routerlab evaluate``,
:meth:`~routerlab.experiments.evaluate.Leaderboard.to_markdown`) comes from :func:`quality_deltas`,
on the decisions a leaderboard holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from routerlab.data.schema import RoutingData
from routerlab.metrics import core as M
from routerlab.metrics.core import DEFAULT_MISSING

if TYPE_CHECKING:
    from routerlab.experiments.evaluate.leaderboard import Leaderboard

#: the router every row is compared with in the Δ column of the printed and Markdown tables
DELTA_REFERENCE = "best_single"
DELTA_RESAMPLES = 1000


@dataclass(frozen=True, slots=True)
class QualityDelta:
    """``quality(router) − quality(reference)`` on the same test queries, with its paired-bootstrap CI."""

    router: str
    reference: str
    lam: float
    delta: float
    low: float
    high: float
    n_queries: int

    @property
    def significant(self) -> bool:
        """Whether the CI excludes 0 (the difference is real at its level)."""
        return self.low > 0 or self.high < 0

    def cell(self) -> str:
        """``+0.0243 [+0.0100, +0.0390]``; an asterisk marks a CI that excludes 0."""
        mark = "*" if self.significant else ""
        return f"{self.delta:+.4f} [{self.low:+.4f}, {self.high:+.4f}]{mark}"

    def short(self) -> str:
        """In percentage points with the CI's half-width, for narrow terminals: ``+2.4 ± 1.3*``."""
        mark = "*" if self.significant else ""
        return f"{100 * self.delta:+.1f} ± {50 * (self.high - self.low):.1f}{mark}"


def delta_note(n_queries: int) -> str:
    """The sentence that explains the Δ column (Markdown and the CLI alike)."""
    return (
        f"Δ quality vs {DELTA_REFERENCE}: paired bootstrap over the {n_queries} test queries ({DELTA_RESAMPLES} "
        "resamples, seed 0) on the decisions saved in predictions.parquet (a learned router: its selected "
        "configuration fitted at seed 42); * marks a 95 % CI that excludes 0."
    )


def _delta_cell(deltas: Mapping[str, QualityDelta], router: str, shown: bool) -> str:
    if not shown:
        return ""
    d = deltas.get(router)
    return f" {d.cell()} |" if d is not None else " – |"


def _per_query_quality(test: RoutingData, choice: np.ndarray, policy: str) -> np.ndarray:
    """Each test query's counted quality under ``policy``; NaN for a query ``skip`` leaves out."""
    counted = M.chosen_outcomes(Y=test.Y, choice=choice, missing=policy)
    out = np.full(test.n_queries, np.nan)
    out[counted.rows] = counted.quality
    return out


def quality_deltas(
    board: Leaderboard,
    lam: float,
    *,
    reference: str = DELTA_REFERENCE,
    n_resamples: int = DELTA_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, QualityDelta]:
    """Every router's quality minus ``reference``'s, per router, with a 95 % paired-bootstrap CI over queries.

    The pairs are the decisions the board holds (``predictions``; a learned router's are those of
    its selected configuration fitted once at seed 42), scored under the board's missing policy; a
    query that ``skip`` leaves out for either router leaves the pair. The test is the one of
    `rethinking-router-evaluation.txt` ("Who Routes the Router") App. F
    "Statistical Testing": paired bootstrap resampling of test queries, a difference significant
    when its 95 % CI excludes zero, here applied to mean quality at one λ. Empty when the board
    holds no test queries or no decisions of ``reference``.
    """
    from routerlab.metrics.bootstrap import paired_difference_ci

    if board.test is None or reference not in {p.router for p in board.predictions}:
        return {}
    policy = str(board.meta.get("missing", {}).get("policy", DEFAULT_MISSING))
    base = _per_query_quality(board.test, board.prediction(reference).choice(lam), policy)
    out: dict[str, QualityDelta] = {}
    for p in board.predictions:
        if p.router == reference or float(lam) not in p.choices:
            continue
        mine = _per_query_quality(board.test, p.choice(lam), policy)
        both = np.isfinite(mine) & np.isfinite(base)
        if not both.any():
            continue
        ci = paired_difference_ci(mine[both], base[both], n_resamples=n_resamples, seed=seed, level=level)
        out[p.router] = QualityDelta(p.router, reference, float(lam), ci.estimate, ci.low, ci.high, int(both.sum()))
    return out
