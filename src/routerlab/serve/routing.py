"""From one chat request to a ranked list of pool models: the saved router's decision, made once.

The query text is the last user message's content (text parts of a content list joined by a
newline). It is put in a one-row :class:`~routerlab.data.schema.RoutingData` (no outcomes), the
router's :class:`~routerlab.decisions.Decisions` are made on it (a
:class:`~routerlab.routers.FeatureRouter` encodes the text with its own encoder), and
:meth:`Decisions.choose` picks the model under the request's policy: the same selection every
metric and report uses. The fallback order after the choice is the router's own ranking: the
cost-utility ``(1 − λ)·p̂ − λ·c̃`` at the request's λ (:func:`~routerlab.decisions.utility_terms`),
ties to the cheaper model; under a budget, only the other models whose estimated cost is within it,
best estimated quality first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerlab.data.features.value import featurize
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.decisions import Budget, Decisions, Policy, policy_for, utility_terms
from routerlab.routers.base import Router
from routerlab.routers.pipeline import FeatureRouter

__all__ = ["PolicySpec", "RequestRouter", "query_text"]


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A request's policy: a cost weight ``lam`` in [0, 1], or a per-query ``budget`` (raw cost units)."""

    lam: float = 0.0
    budget: float | None = None

    @property
    def policy(self) -> Policy:
        """The selection policy (:func:`routerlab.decisions.policy_for`)."""
        return policy_for(budget=self.budget) if self.budget is not None else policy_for(lam=self.lam)

    @property
    def label(self) -> str:
        """``lambda=0.3`` or ``budget=0.002``, as the ``x-routerlab-policy`` header shows it."""
        return f"budget={self.budget:g}" if self.budget is not None else f"lambda={self.lam:g}"


def query_text(messages: list[Any]) -> str | None:
    """The last user message's text (None when there is no user message with text)."""
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            texts = [t for t in parts if isinstance(t, str)]
            if texts:
                return "\n".join(texts)
        return None
    return None


class RequestRouter:
    """A fitted router deciding one query at a time (thread-safe: one decision at a time)."""

    def __init__(self, router: Router, *, cost_unit: str | None) -> None:
        self.router = router
        self.models: tuple[str, ...] = tuple(router.model_names_)
        self.cost_unit = cost_unit or "usd"
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        """The router's label (``knn (hashing)``) or registry name."""
        return str(getattr(self.router, "label", self.router.name))

    def decide(self, text: str) -> Decisions:
        """The router's decisions on the one query ``text``."""
        m = len(self.models)
        data = RoutingData(
            name="serve",
            query_ids=np.array(["request"], dtype=object),
            sources=np.array(["serve"], dtype=object),
            splits=np.array(["test"], dtype=object),
            models=tuple(ModelInfo(name) for name in self.models),
            Y=np.full((1, m), np.nan),
            cost=np.full((1, m), np.nan),
            cost_unit=self.cost_unit,
            texts=np.array([text], dtype=object),
        )
        with self._lock:
            if isinstance(self.router, FeatureRouter):
                features = featurize(data, self.router.encoder, cache=False)
                return self.router.decide(data, features)
            return self.router.decide(data)

    @property
    def encoder(self) -> str | None:
        """The encoder's identity (model and version) of a :class:`FeatureRouter`; None for a text-free router."""
        value = getattr(self.router, "encoder_", None)
        return None if value is None else str(value)

    def ranking(self, text: str, spec: PolicySpec) -> list[str]:
        """The chosen model first, then the fallbacks in the router's own order (see the module doc)."""
        return self.rank(text, spec)[0]

    def rank(self, text: str, spec: PolicySpec) -> tuple[list[str], dict[str, float]]:
        """:meth:`ranking` and the router's estimated quality of each model (its Decisions' scores)."""
        decided = self.decide(text)
        chosen = int(decided.choose(spec.policy)[0])
        scores = np.asarray(decided.scores[0], dtype=np.float64)
        cost = np.asarray(decided.cost_estimate[0], dtype=np.float64)
        if isinstance(spec.policy, Budget):
            allowed = np.flatnonzero(cost <= spec.policy.max_cost)
            order = sorted(allowed.tolist(), key=lambda j: (-scores[j], cost[j]))
        else:
            norm = decided.scale.normalize(cost[None, :])[0]
            utility = utility_terms(scores[None, :], norm[None, :], spec.lam)[0]
            order = sorted(range(len(self.models)), key=lambda j: (-utility[j], cost[j]))
        ranked = [self.models[chosen]] + [self.models[j] for j in order if j != chosen]
        return ranked, {m: float(scores[j]) for j, m in enumerate(self.models)}
