"""The router contract, after scikit-learn's estimator API.

* ``__init__`` stores keyword-only hyper-parameters unchanged (no logic), ``random_state`` where
  the router is random, so :meth:`Router.get_params` / :meth:`Router.set_params` / :func:`clone`
  work for every router without special cases.
* :meth:`Router.fit` ``(train, X=None) -> self``: validates the hyper-parameters against the
  class's declared ``_parameter_constraints`` (:mod:`routerlab.routers._params`) and the data,
  records the model pool and the training cost statistics, then calls the subclass's ``_fit``.
  Learned state ends in ``_``.
* :meth:`Router.tags` (``__routerlab_tags__``): what the class is (:class:`~routerlab.routers._tags.Tags`:
  baseline, needs outcomes, stochastic, uses labels, needs features, optional packages required, the
  kind of features when not any query embedding),
  built from the class attributes below; code branches on tags, never on router names.
* :meth:`Router.predict_scores` ``(data, X=None) -> (n_queries, n_models)``: estimated quality,
  from the subclass's ``_predict_scores``. A router sees ``data.without_outcomes()`` at decision
  time unless it declares ``needs_outcomes = True`` (only the oracle does).
* :meth:`Router.decide` ``(data, X=None) -> Decisions``: the scores, the cost estimates and the
  cost scale, computed once (:mod:`routerlab.decisions`); :meth:`Router.route` is
  ``decide(...).choose(policy)``, the one shared selection policy (:mod:`routerlab.decisions.policy`).

``X`` is an optional feature matrix aligned with the rows of ``data`` (query embeddings); text-free
baselines ignore it.
"""

from __future__ import annotations

import copy
import inspect
import logging
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from routerlab.data.schema import OPTIONAL_MATRICES, RoutingData
from routerlab.decisions import CostScale, Decisions, Policy
from routerlab.errors import NotFittedError, SchemaError
from routerlab.routers._params import Constraint, validate_params
from routerlab.routers._tags import Tags, requirements_error
from routerlab.routers.persist import fingerprint, save_router

log = logging.getLogger(__name__)


class Router:
    """Base class of every router. Subclasses implement ``_fit`` and ``_predict_scores``."""

    #: the name the router is registered under in :data:`routerlab.routers.ROUTERS`
    name: ClassVar[str] = "router"
    #: True for the reference routers every benchmark reports (bounds and trivial policies)
    baseline: ClassVar[bool] = False
    #: True only for routers that read the true outcomes at prediction time (the oracle)
    needs_outcomes: ClassVar[bool] = False
    #: True when the result depends on ``random_state``
    stochastic: ClassVar[bool] = False
    #: False for routers that ignore outcomes entirely (random, cheapest)
    uses_labels: ClassVar[bool] = True
    #: True for routers that need the query feature matrix ``X``
    requires_features: ClassVar[bool] = False
    #: optional packages the router imports (top-level module names), e.g. ``("torch",)``
    requires: ClassVar[tuple[str, ...]] = ()
    #: the kind of features the router reads when it is not any query embedding (:attr:`Tags.features`)
    features: ClassVar[str | None] = None
    #: stage-1 search space of the seed protocol: parameter -> candidate values
    param_grid: ClassVar[dict[str, list[Any]]] = {}
    #: the values each hyper-parameter may take (any one constraint suffices), checked by ``fit``
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {}

    # ------------------------------------------------------------------ tags
    @classmethod
    def __routerlab_tags__(cls) -> Tags:
        """The class's :class:`Tags`, from its class attributes; override to derive them otherwise."""
        return Tags(
            baseline=cls.baseline,
            needs_outcomes=cls.needs_outcomes,
            stochastic=cls.stochastic,
            uses_labels=cls.uses_labels,
            requires_features=cls.requires_features,
            requires=tuple(cls.requires),
            features=cls.features,
        )

    @classmethod
    def tags(cls) -> Tags:
        """What this router class is (:class:`Tags`): code branches on these, never on router names."""
        return cls.__routerlab_tags__()

    @classmethod
    def check_requirements(cls) -> None:
        """Raise :class:`PrerequisiteError` naming the ``pip install`` when a package of ``requires`` is missing."""
        err = requirements_error(f"{cls.__name__} ({cls.name!r})", cls.tags())
        if err is not None:
            raise err

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters passed to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set hyper-parameters by name; an unknown name is an error that lists the valid ones."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {key!r}; valid parameters: {valid}.")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ fitting
    def fit(self, train: RoutingData, X: np.ndarray | None = None) -> Self:
        """Learn from the training queries' outcomes (and features ``X``, if the router uses them)."""
        self._validate_params()
        self.check_requirements()
        self._check_input(train, X, "fit")
        if train.n_queries == 0:
            raise SchemaError(
                f"Cannot fit {type(self).__name__} on 0 queries; the training split of {train.name!r} is empty."
            )
        observed = train.observed
        if not observed.any():
            raise SchemaError(
                f"Cannot fit {type(self).__name__}: the training data {train.name!r} has no outcomes at all."
            )
        self.model_names_ = tuple(train.model_names)
        self.cost_unit_ = train.cost_unit
        self.cost_scale_ = CostScale.from_costs(train.cost, observed)
        mean_cost = train.mean_cost()
        # a model never observed in training gets the most expensive known cost: never "free" by accident
        self.model_cost_ = np.where(np.isfinite(mean_cost), mean_cost, np.nanmax(mean_cost))
        self.train_fingerprint_ = fingerprint(train)
        self._fit(train, X)
        self.fitted_ = True
        return self

    def _validate_params(self) -> None:
        """Raise :class:`InvalidParameterError` for a hyper-parameter breaking ``_parameter_constraints``."""
        validate_params(type(self).__name__, self.get_params(), self._parameter_constraints)

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ prediction
    def check_is_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless :meth:`fit` has run."""
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(train) before using it.")

    def predict_scores(self, data: RoutingData, X: np.ndarray | None = None) -> np.ndarray:
        """Estimated quality of each model on each query: a float array (n_queries, n_models)."""
        self.check_is_fitted()
        self._check_input(data, X, "predict_scores")
        if tuple(data.model_names) != self.model_names_:
            raise SchemaError(
                f"{type(self).__name__} was fitted on models {list(self.model_names_)} but got {data.model_names}; "
                "use data.select_models(...) to match the training pool."
            )
        view = data if self.needs_outcomes or _without_outcomes(data) else data.without_outcomes()
        scores = np.asarray(self._predict_scores(view, X), dtype=np.float64)
        if scores.shape != (data.n_queries, data.n_models):
            raise RuntimeError(
                f"{type(self).__name__} returned scores of shape {scores.shape}, "
                f"expected {(data.n_queries, data.n_models)}."
            )
        return scores

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def predict_costs(self, data: RoutingData) -> np.ndarray:
        """Cost estimate used for selection: each model's mean training cost.

        The real cost of a call is unknown until the model answers.
        """
        self.check_is_fitted()
        return np.tile(self.model_cost_, (data.n_queries, 1))

    def save(self, path: str | Path, *, encoder: str | None = None) -> Path:
        """Save the fitted router to the folder ``path`` (JSON + npz, never pickle); :func:`routerlab.load_router`.

        ``encoder`` is the identity of the encoder whose features it was fitted on (a
        :class:`~routerlab.routers.FeatureRouter` records its own); see :mod:`routerlab.routers.persist`.
        """
        return save_router(self, path, encoder=encoder)

    def decide(
        self, data: RoutingData, X: np.ndarray | None = None, *, available: np.ndarray | None = None
    ) -> Decisions:
        """The router's decisions on ``data``: scores and cost estimates, computed once (:class:`Decisions`).

        ``available`` (n_queries, n_models) masks the models a choice may land on; every consumer
        (metrics, curves, the sweep, ``evaluate``, the report) chooses from this value.
        """
        scores = self.predict_scores(data, X)
        return Decisions(
            router=self.name,
            params=self.get_params(),
            model_names=self.model_names_,
            query_ids=data.query_ids,
            scores=scores,
            cost_estimate=self.predict_costs(data),
            scale=self.cost_scale_,
            needs_outcomes=self.needs_outcomes,
            available=available,
        )

    def route(
        self,
        data: RoutingData,
        X: np.ndarray | None = None,
        *,
        lam: float | None = None,
        budget: float | None = None,
        policy: Policy | None = None,
        available: np.ndarray | None = None,
    ) -> np.ndarray:
        """The chosen model column per query, by the shared policy (argmax, U(λ) or a budget)."""
        return self.decide(data, X, available=available).choose(policy, lam=lam, budget=budget)

    # ------------------------------------------------------------------ helpers
    def _check_input(self, data: RoutingData, X: np.ndarray | None, where: str) -> None:
        if not isinstance(data, RoutingData):
            raise TypeError(f"{where} expects a RoutingData as its first argument. Got {type(data).__name__}.")
        if X is None and self.requires_features:
            raise SchemaError(
                f"{type(self).__name__}.{where} needs query features X of shape (n_queries, n_features); compute them "
                "with routerlab.data.features.encode(data, 'minilm') and pass them as X."
            )
        if X is not None:
            X = np.asarray(X)
            if X.ndim != 2 or X.shape[0] != data.n_queries:
                raise SchemaError(
                    f"{where}: features X must have shape (n_queries={data.n_queries}, n_features). Got {X.shape}."
                )
            if not np.isfinite(X).all():
                raise SchemaError(f"{where}: features X contain NaN or infinite values; re-encode the queries.")


def _without_outcomes(data: RoutingData) -> bool:
    """True when ``data`` already is what :meth:`RoutingData.without_outcomes` returns (no Y, gold, answers).

    Deciding on such data (a pipeline's inner router, the gateway's table of requests) then skips a
    validated copy: ~0.3 ms per call, most of a one-query decision's bookkeeping.
    """
    if data.gold is not None or any(getattr(data, attr) is not None for attr in OPTIONAL_MATRICES):
        return False
    return bool(np.isnan(data.Y).all())


def describe(router: Router) -> str:
    """``name(param=value, ...)``: a label that tells apart two routers of one class with other parameters."""
    params = ", ".join(f"{k}={v!r}" for k, v in sorted(router.get_params().items()))
    return f"{router.name}({params})"


def clone(router: Router) -> Router:
    """A new, unfitted router with the same hyper-parameters (deep-copied)."""
    if not isinstance(router, Router):
        raise TypeError(f"clone expects a Router. Got {type(router).__name__}.")
    params = {k: copy.deepcopy(v) for k, v in router.get_params().items()}
    return type(router)(**params)
