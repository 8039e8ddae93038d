"""The figures of one router's choices on the test queries: a :class:`LeaderboardRow` per λ.

One function (:func:`_row`) turns a choice into quality, cost, U(λ), gap and CNA, for
:func:`~routerlab.experiments.evaluate.evaluate`, for
:func:`~routerlab.experiments.evaluate.load_results` (which recomputes the rows from the saved
decisions) and for the sweep (:func:`score_choice`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from routerlab.data.schema import RoutingData
from routerlab.decisions import CostScale
from routerlab.experiments.evaluate.leaderboard import LeaderboardRow
from routerlab.metrics import core as M
from routerlab.metrics.core import DEFAULT_MISSING, MissingPolicy, check_missing_policy
from routerlab.routers import Router


def score_choice(
    name: str,
    router: Router,
    test: RoutingData,
    choice: np.ndarray,
    lam: float,
    scale: CostScale,
    *,
    missing: str = DEFAULT_MISSING,
) -> LeaderboardRow:
    """All leaderboard figures of one router's ``choice`` on ``test`` at ``lam`` (cost scaled by ``scale``).

    Choices on cells with no outcome count as ``missing`` says (:mod:`routerlab.metrics.core`).
    """
    hit = int(M.missing_decisions(Y=test.Y, choice=choice).sum())
    return _row(name, _simple_params(router), test, choice, lam, scale, missing=missing, n_missing=hit)


def _row(
    name: str,
    params: dict[str, Any],
    test: RoutingData,
    choice: np.ndarray,
    lam: float,
    scale: CostScale,
    *,
    missing: str,
    n_missing: int,
) -> LeaderboardRow:
    policy: MissingPolicy = check_missing_policy(missing)
    rates = M.call_rate(choice=choice, n_models=test.n_models)
    return LeaderboardRow(
        router=name,
        params=params,
        lam=float(lam),
        quality=M.routing_accuracy_score(Y=test.Y, choice=choice, missing=policy),
        mean_cost=M.mean_cost(cost=test.cost, choice=choice, Y=test.Y, missing=policy),
        utility=M.utility_score(Y=test.Y, cost=test.cost, choice=choice, lam=lam, scale=scale, missing=policy),
        oracle_gap=M.oracle_gap_loss(Y=test.Y, choice=choice, missing=policy),
        cna=M.cna_score(Y=test.Y, choice=choice, missing=policy),
        call_rate={m: float(r) for m, r in zip(test.model_names, rates, strict=True) if r > 0},
        missing_outcomes=n_missing,
    )


def _simple_params(router: Router) -> dict[str, Any]:
    return {k: v for k, v in router.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))}


def _sorted(rows: Sequence[LeaderboardRow]) -> tuple[LeaderboardRow, ...]:
    """Rows by λ, then U(λ) best first, then cheaper, then by name."""
    return tuple(sorted(rows, key=lambda r: (r.lam, -r.utility, r.mean_cost, r.router)))
