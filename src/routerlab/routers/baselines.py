"""Reference routers that every benchmark should report: the bounds and the trivial policies.

* :class:`Oracle` — picks the best model per query from the true outcomes (the upper bound
  ``A_oracle = 1/N Σ_i max_m Y_{i,m}``, `routing-plateau.txt` (arXiv:2606.07587) §3); with a cost weight it
  maximises the realised U(λ) exactly.
* :class:`Random` — a uniformly random model per query, keyed by query id (order-independent).
* :class:`BestSingle` — the model with the best mean training quality, optionally among those
  whose mean cost fits a budget (the "best single model" baseline of every routing paper).
* :class:`Cheapest` — always the model with the lowest mean training cost.
* :class:`MajorityLabel` — always the most frequent oracle label of the training split (the "majority class" trap
  of `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8: a collapsed router
  scores this).
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np

from routerlab._random import stable_uniform
from routerlab.data.schema import RoutingData
from routerlab.decisions.policy import Argmax, CostScale, select
from routerlab.routers._params import Constraint, Interval
from routerlab.routers.base import Router


def oracle_choice(data: RoutingData) -> np.ndarray:
    """Per query the model :class:`Oracle` routes to among those with an outcome; -1 where none has one.

    The cheapest model among those with the highest observed outcome (then the lower column), by the
    shared :func:`~routerlab.decisions.policy.select`: the label :class:`MajorityLabel` counts, the
    feature routers learn (:func:`routerlab.routers._tabular.oracle_candidates`) and the audit and
    collapse checks report. A missing outcome is never a label.
    """
    observed = data.observed
    rows = observed.any(axis=1)
    labels = np.full(data.n_queries, -1, dtype=np.intp)
    labels[rows] = select(
        np.where(observed[rows], data.Y[rows], -1.0),
        np.where(np.isfinite(data.cost[rows]), data.cost[rows], np.inf),
        Argmax(),
        CostScale(0.0, 0.0),  # Argmax does not use normalised cost; ties go to the cheaper raw cost
        observed[rows],
    )
    return labels


def _broadcast(row: np.ndarray, n_queries: int) -> np.ndarray:
    return np.tile(np.asarray(row, dtype=np.float64), (n_queries, 1))


class Oracle(Router):
    """The per-query oracle: scores are the true outcomes, costs the true costs.

    Missing outcomes score −1 so the oracle never prefers an unanswered cell; ties (e.g. several
    models correct) go to the cheapest model by the shared policy.
    """

    name = "oracle"
    baseline = True
    needs_outcomes = True

    def __init__(self) -> None:
        pass

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        return None

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        return np.where(data.observed, data.Y, -1.0)

    def predict_costs(self, data: RoutingData) -> np.ndarray:
        """The real per-call costs (the oracle knows them; other routers only estimate)."""
        self.check_is_fitted()
        return np.where(np.isfinite(data.cost), data.cost, np.inf)


class Random(Router):
    """A uniformly random model per query; the draw depends only on (query id, ``random_state``)."""

    name = "random"
    baseline = True
    stochastic = True
    uses_labels = False
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "random_state": [Interval(numbers.Integral, 0, None, closed="left")]
    }

    def __init__(self, *, random_state: int = 0) -> None:
        self.random_state = random_state

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        return None

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        keys = [f"{qid}\x1f{m}" for qid in data.query_ids for m in range(data.n_models)]
        return stable_uniform(keys, int(self.random_state), salt="random-router").reshape(data.n_queries, data.n_models)


class BestSingle(Router):
    """The single model with the best mean training quality, among those whose mean cost ≤ ``budget``.

    Means are over observed outcomes only (`routing-plateau.txt` (arXiv:2606.07587) §3's best single model): a model
    with no training outcome is never chosen, and one with partial coverage is compared on what it
    has; ``coverage_`` keeps each model's training coverage to show beside it.

    Its scores are each model's mean training quality, the same for every query, so with the
    shared U(λ) policy it becomes the best single model under that trade-off.
    """

    name = "best_single"
    baseline = True
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "budget": [Interval(numbers.Real, 0, None, closed="left"), None]
    }

    def __init__(self, *, budget: float | None = None) -> None:
        self.budget = budget

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        mean_q = train.mean_quality()
        eligible = np.isfinite(mean_q)
        if self.budget is not None:
            within = eligible & (self.model_cost_ <= self.budget)
            # no model fits the budget: fall back to the cheapest one, as the budget policy does
            # (a model with no training outcome is never eligible: it cannot be the best single model)
            eligible = within if within.any() else eligible & (self.model_cost_ == self.model_cost_[eligible].min())
        self.mean_quality_ = np.where(np.isfinite(mean_q), mean_q, 0.0)
        self.coverage_ = train.coverage()
        self.eligible_ = eligible
        masked = np.where(eligible, self.mean_quality_, -np.inf)
        tied = masked == masked.max()
        self.best_index_ = int(np.flatnonzero(tied)[np.argmin(self.model_cost_[tied])])
        self.best_model_ = self.model_names_[self.best_index_]

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        # models outside the budget score below any real quality, so they can never win
        return _broadcast(np.where(self.eligible_, self.mean_quality_, -1.0), data.n_queries)


class Cheapest(Router):
    """Always the model with the lowest mean training cost."""

    name = "cheapest"
    baseline = True
    uses_labels = False

    def __init__(self) -> None:
        pass

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        self.cheapest_index_ = int(np.argmin(self.model_cost_))

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        scores = np.zeros(data.n_models)
        scores[self.cheapest_index_] = 1.0
        return _broadcast(scores, data.n_queries)


class MajorityLabel(Router):
    """Always the model that is most often the oracle's choice on the training split.

    Scores are each model's share of training oracle labels (the label being the cheapest
    model with the highest outcome on the query).
    """

    name = "majority_label"
    baseline = True

    def __init__(self) -> None:
        pass

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        labels = oracle_choice(train)
        labels = labels[labels >= 0]
        self.label_share_ = np.bincount(labels, minlength=train.n_models) / max(len(labels), 1)

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        return _broadcast(self.label_share_, data.n_queries)
