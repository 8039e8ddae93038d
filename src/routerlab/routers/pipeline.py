"""A router with its encoder inside, as scikit-learn's ``Pipeline`` holds its steps.

``FeatureRouter(encoder="hashing", router=make_router("knn", k=20))`` encodes the queries itself
(:func:`routerlab.data.features.featurize`, cached on disk), so the encoder is a parameter of the
estimator: it is part of ``get_params()`` (and so of sweep run keys), of the fitted state
(``encoder_``, the encoder's identity string: model and version), of every :class:`Decisions` it
produces (``Decisions.encoder``) and of a saved router. Features passed in must be
:class:`~routerlab.data.features.Features` from that same encoder for the same queries; a bare
matrix, features from another encoder, or for other queries are refused with an error that names
both encoders, where a bare router would only have checked the width.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self

import numpy as np

from routerlab.data.features.value import Features, encoder_identity, featurize
from routerlab.data.schema import RoutingData
from routerlab.decisions import Decisions
from routerlab.errors import SchemaError
from routerlab.routers._params import Constraint
from routerlab.routers.base import Router, clone


class FeatureRouter(Router):
    """Encode the queries with ``encoder``, then route with ``router`` (a router name or an unfitted Router)."""

    name = "feature_router"
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "encoder": [str],
        "router": [str, Router],
        "cache": ["boolean"],
    }

    def __init__(self, *, encoder: str = "hashing", router: str | Router = "knn", cache: bool = True) -> None:
        self.encoder = encoder
        self.router = router
        self.cache = cache

    @property
    def label(self) -> str:
        """``knn (hashing)``: the inner router's name and the encoder, as tables show them."""
        inner = self.router if isinstance(self.router, str) else self.router.name
        return f"{inner} ({self.encoder})"

    def _inner(self) -> Router:
        if isinstance(self.router, Router):
            return clone(self.router)
        from routerlab.routers import make_router  # the registry imports this module's package

        return make_router(self.router)

    def _matrix(self, data: RoutingData, X: Any, encoder: str, where: str) -> np.ndarray:
        if X is None:
            return featurize(data, self.encoder, cache=self.cache).for_data(data, encoder=encoder, owner=where)
        if isinstance(X, Features):
            return X.for_data(data, encoder=encoder, owner=where)
        raise SchemaError(
            f"{where} encodes its own queries with {self.encoder!r}; pass no X, or Features from "
            f"routerlab.data.features.featurize(data, {self.encoder!r}). A bare {type(X).__name__} cannot say which "
            "encoder made it."
        )

    def fit(self, train: RoutingData, X: Any = None) -> Self:
        """Encode ``train`` (or check the given :class:`Features`) and fit the inner router on it."""
        self._validate_params()
        identity = encoder_identity(self.encoder)
        matrix = self._matrix(train, X, identity, f"FeatureRouter({self.label}).fit")
        super().fit(train, matrix)
        self.encoder_ = identity
        return self

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        from routerlab.routers.probe import with_encoder_layout  # the registry imports this module's package

        # a hidden-state probe without n_layers takes it from the encoder's identity (hidden:...:shape=31x576)
        self.router_ = with_encoder_layout(self._inner(), encoder_identity(self.encoder)).fit(train, X)
        self.stochastic_ = self.router_.stochastic

    def predict_scores(self, data: RoutingData, X: Any = None) -> np.ndarray:
        """The inner router's scores on ``data`` encoded by the fitted encoder (checked)."""
        self.check_is_fitted()
        matrix = self._matrix(data, X, self.encoder_, f"FeatureRouter({self.label}).predict_scores")
        return super().predict_scores(data, matrix)

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        return self.router_.predict_scores(data, X)

    def predict_costs(self, data: RoutingData) -> np.ndarray:
        """The inner router's cost estimate."""
        self.check_is_fitted()
        return self.router_.predict_costs(data)

    def decide(self, data: RoutingData, X: Any = None, *, available: np.ndarray | None = None) -> Decisions:
        """The inner router's decisions, labelled with the encoder that made its features."""
        decided = super().decide(data, X, available=available)
        return dataclasses.replace(decided, router=self.label, encoder=self.encoder_)
