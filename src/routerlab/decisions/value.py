"""A router's decisions on a dataset, computed once and consumed everywhere.

:meth:`routerlab.routers.Router.decide` returns a :class:`Decisions`: the router's estimated
quality of every (query, model) cell (``scores``), the per-call cost it trades off
(``cost_estimate``), the cost scale fitted on its training split, the model pool and the router's
identity (name, parameters, encoder). :meth:`Decisions.choose` turns it into one model per query
with the shared policy (:func:`routerlab.decisions.policy.select`): argmax, cost-utility U(λ) or a
per-query budget. Every metric, curve, sweep, leaderboard and report takes its choices from here,
so one router at one λ gives one set of choices wherever it is counted.

True cost and estimated cost: the one rule
------------------------------------------
A router **chooses** with its own ``cost_estimate`` (what it knows before any call: each model's
mean training cost for learned routers and baselines; the oracle, which reads outcomes, uses the
true cost), normalised by the ``scale`` of its training costs. The figures then **score** the
chosen calls with the true quality and the true cost of the evaluated data. No curve selects with
the true cost on behalf of a router: the deferral points, the U(λ) sweep, ``evaluate`` and the
report all apply this rule (tested in ``tests/decisions``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from routerlab.decisions.policy import CostScale, Policy, policy_for, select
from routerlab.errors import SchemaError


@dataclass(frozen=True, slots=True, eq=False)
class Decisions:
    """One router's estimates on ``n`` queries of an ``m``-model pool (arrays are read-only).

    ``available`` masks the cells a choice may land on (e.g. ``data.observed``, what
    ``missing="reroute"`` means); None allows every model.
    """

    router: str
    model_names: tuple[str, ...]
    query_ids: np.ndarray
    scores: np.ndarray
    cost_estimate: np.ndarray
    scale: CostScale
    params: Mapping[str, Any] = field(default_factory=dict)
    encoder: str | None = None
    needs_outcomes: bool = False
    available: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, m = len(self.query_ids), len(self.model_names)
        for name in ("scores", "cost_estimate", "available"):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.array(value, dtype=bool if name == "available" else np.float64)
            if arr.shape != (n, m):
                raise SchemaError(
                    f"Decisions.{name} of router {self.router!r} must have shape (n_queries={n}, n_models={m}); "
                    f"got {arr.shape}."
                )
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if np.isnan(self.scores).any():
            q, j = np.argwhere(np.isnan(self.scores))[0]
            raise SchemaError(
                f"Router {self.router!r} scored query {self.query_ids[q]!r}, model {self.model_names[j]!r} as NaN; "
                "a router must score every cell."
            )
        ids = np.asarray(self.query_ids, dtype=object)
        ids.setflags(write=False)
        object.__setattr__(self, "query_ids", ids)
        object.__setattr__(self, "model_names", tuple(self.model_names))
        object.__setattr__(self, "params", dict(self.params))

    @property
    def n_queries(self) -> int:
        """How many queries were decided."""
        return len(self.query_ids)

    def choose(
        self, policy: Policy | None = None, *, lam: float | None = None, budget: float | None = None
    ) -> np.ndarray:
        """The chosen model column per query under ``policy`` (or the policy of ``lam`` / ``budget``)."""
        if policy is not None and (lam is not None or budget is not None):
            raise ValueError("Give a policy, or lam / budget, not both.")
        chosen = policy if policy is not None else policy_for(lam, budget)
        return select(self.scores, self.cost_estimate, chosen, self.scale, self.available)

    def choices(self, lams: Sequence[float]) -> dict[float, np.ndarray]:
        """``{λ: choice}`` for each λ in ``lams`` (the cost-utility policy; λ = 0 is argmax)."""
        return {float(lam): self.choose(lam=float(lam)) for lam in lams}

    def restricted(self, available: np.ndarray | None) -> Decisions:
        """The same estimates with another availability mask (None: every model may be chosen)."""
        return dataclasses.replace(self, available=available)

    def renamed(self, router: str) -> Decisions:
        """The same decisions under another label (e.g. ``knn(k=5, ...)`` when two knn configurations run)."""
        return dataclasses.replace(self, router=router)
