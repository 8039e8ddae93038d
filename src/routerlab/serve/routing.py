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

Requests are decided in batches (:meth:`RequestRouter.rank_many`, fed by
:class:`routerlab.serve.batching.DecisionBatcher`): one n-row table, one encoder call and one
router call for n queries, each row's choice and order exactly those of deciding it alone (a kNN
router's search, a ``(n, d) @ (d, n_train)`` product, reads the training matrix once per batch
instead of once per query). Decisions run with the BLAS / OpenMP thread pools limited to
``threads`` (default 1): their workers busy-wait, and on a machine whose cores are shared with the
event loop, the upstream calls and other processes, one query's kNN search took 6–25× longer with
two threads than with one in our timings (benchmarks/bench_serve.py).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerlab.data.features.value import featurize
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.decisions import Budget, Decisions, Policy, policy_for, utility_terms
from routerlab.routers.base import Router
from routerlab.routers.pipeline import FeatureRouter

__all__ = ["PolicySpec", "Ranked", "RequestRouter", "query_text"]

#: a request's ranking (the chosen model first, then its fallbacks) and each model's estimated quality
Ranked = tuple[list[str], dict[str, float]]


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
    """A fitted router deciding queries, one batch at a time (thread-safe: one decision at a time).

    ``threads`` caps the BLAS / OpenMP thread pools while deciding (see the module doc); None leaves
    them as they are.
    """

    def __init__(self, router: Router, *, cost_unit: str | None, threads: int | None = 1) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive integer or None (no limit); got {threads!r}.")
        self.router = router
        self.models: tuple[str, ...] = tuple(router.model_names_)
        self.cost_unit = cost_unit or "usd"
        self.threads = threads
        self._infos = tuple(ModelInfo(name) for name in self.models)
        self._lock = threading.Lock()
        self._controller: Any = None
        self._decided_once = False

    @property
    def label(self) -> str:
        """The router's label (``knn (hashing)``) or registry name."""
        return str(getattr(self.router, "label", self.router.name))

    def _limited(self) -> AbstractContextManager[Any]:
        if self.threads is None:
            return nullcontext()
        if self._controller is None:
            from threadpoolctl import ThreadpoolController  # a dependency of scikit-learn

            # Built once: scanning the loaded libraries costs ~2 ms, limiting with the result ~60 µs.
            self._controller = ThreadpoolController()
        return self._controller.limit(limits=self.threads)  # type: ignore[no-any-return]

    def _table(self, texts: Sequence[str]) -> RoutingData:
        n, m = len(texts), len(self.models)
        return RoutingData(
            name="serve",
            query_ids=np.array([f"request-{i}" for i in range(n)], dtype=object),
            sources=np.full(n, "serve", dtype=object),
            splits=np.full(n, "test", dtype=object),
            models=self._infos,
            Y=np.full((n, m), np.nan),
            cost=np.full((n, m), np.nan),
            cost_unit=self.cost_unit,
            texts=np.array(list(texts), dtype=object),
        )

    def decide_many(self, texts: Sequence[str]) -> Decisions:
        """The router's decisions on ``texts`` (row ``i`` is ``texts[i]``): one encoder call, one router call."""
        data = self._table(texts)
        with self._lock, self._limited():
            if isinstance(self.router, FeatureRouter):
                features = featurize(data, self.router.encoder, cache=False)
                decided = self.router.decide(data, features)
            else:
                decided = self.router.decide(data)
            if not self._decided_once:
                # the first decision loads the encoder's model (torch's OpenMP runtime among its
                # libraries): scan the thread pools again so that the limit covers it
                self._decided_once, self._controller = True, None
            return decided

    def decide(self, text: str) -> Decisions:
        """The router's decisions on the one query ``text``."""
        return self.decide_many([text])

    @property
    def encoder(self) -> str | None:
        """The encoder's identity (model and version) of a :class:`FeatureRouter`; None for a text-free router."""
        value = getattr(self.router, "encoder_", None)
        return None if value is None else str(value)

    def ranking(self, text: str, spec: PolicySpec) -> list[str]:
        """The chosen model first, then the fallbacks in the router's own order (see the module doc)."""
        return self.rank(text, spec)[0]

    def rank(self, text: str, spec: PolicySpec) -> Ranked:
        """:meth:`ranking` and the router's estimated quality of each model (its Decisions' scores)."""
        return self.rank_many([text], [spec])[0]

    def rank_many(self, texts: Sequence[str], specs: Sequence[PolicySpec]) -> list[Ranked]:
        """:meth:`rank` of each ``(texts[i], specs[i])``, decided in one batch (one encoder and one router call).

        Each distinct policy is applied once to the whole batch by :meth:`Decisions.choose` (the one
        selection path of routerlab), and each row takes its own column; a row's outcome does not
        depend on the other rows.
        """
        if len(texts) != len(specs):
            raise ValueError(f"rank_many needs one policy per text; got {len(texts)} texts and {len(specs)} policies.")
        if not texts:
            return []
        decided = self.decide_many(texts)
        scores = np.asarray(decided.scores, dtype=np.float64)
        cost = np.asarray(decided.cost_estimate, dtype=np.float64)
        groups: defaultdict[PolicySpec, list[int]] = defaultdict(list)
        for i, spec in enumerate(specs):
            groups[spec].append(i)
        ranked: list[Ranked | None] = [None] * len(texts)
        for spec, rows in groups.items():
            chosen = decided.choose(spec.policy)  # every row: a batch holds at most a few dozen
            for i in rows:
                ranked[i] = self._ranked(scores[i], cost[i], int(chosen[i]), spec, decided)
        return [r for r in ranked if r is not None]

    def _ranked(
        self, scores: np.ndarray, cost: np.ndarray, chosen: int, spec: PolicySpec, decided: Decisions
    ) -> Ranked:
        """One row's ranking: ``chosen`` first, then the rest by (−estimate, cost), ties to the lower column."""
        policy = spec.policy
        if isinstance(policy, Budget):
            allowed = np.flatnonzero(cost <= policy.max_cost)
            # np.lexsort is stable and sorts by its last key first: (-score, cost, column), as sorted() did
            order = allowed[np.lexsort((cost[allowed], -scores[allowed]))].tolist()
        else:
            norm = decided.scale.normalize(cost[None, :])[0]
            utility = utility_terms(scores[None, :], norm[None, :], spec.lam)[0]
            order = np.lexsort((cost, -utility)).tolist()
        names = self.models
        return [names[chosen]] + [names[j] for j in order if j != chosen], dict(
            zip(names, scores.tolist(), strict=True)
        )
