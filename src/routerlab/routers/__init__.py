"""Routers: one contract (:class:`Router`), one selection policy, and a registry of families.

``ROUTERS.get("knn")`` returns a router class; :func:`make_router` builds one from a name and
hyper-parameters, with a "did you mean" error for an unknown name.
"""

from __future__ import annotations

from typing import Any

from routerlab._registry import Registry
from routerlab.decisions.policy import Argmax, Budget, CostScale, CostUtility, policy_for, select
from routerlab.routers.base import Router, clone, describe
from routerlab.routers.persist import load_router, save_router

ROUTERS: Registry[type[Router]] = Registry("router")

for _name, _target in {
    "oracle": "routerlab.routers.baselines:Oracle",
    "random": "routerlab.routers.baselines:Random",
    "best_single": "routerlab.routers.baselines:BestSingle",
    "cheapest": "routerlab.routers.baselines:Cheapest",
    "majority_label": "routerlab.routers.baselines:MajorityLabel",
    "knn": "routerlab.routers.knn:KNNRouter",
    "kmeans": "routerlab.routers.cluster:KMeansRouter",
    "feat_lr": "routerlab.routers.classifiers:FeatureLogisticRouter",
    "feat_mlp": "routerlab.routers.classifiers:FeatureMLPRouter",
    "rf": "routerlab.routers.trees:RandomForestRouter",
    "gbdt": "routerlab.routers.trees:GradientBoostingRouter",
    "linucb": "routerlab.routers.bandit:LinUCBRouter",
    "elo": "routerlab.routers.pairwise:BradleyTerryRouter",
    "mlp": "routerlab.routers.neural:PerModelMLPRouter",
    "mf": "routerlab.routers.neural:MatrixFactorizationRouter",
    "contrastive": "routerlab.routers.neural:ContrastiveRouter",
    "irt": "routerlab.routers.irt:IRTRouter",
}.items():
    ROUTERS.register(_name, _target)

BASELINES = ("oracle", "random", "best_single", "cheapest", "majority_label")
LEARNED = ("knn", "kmeans", "feat_lr", "feat_mlp", "rf", "gbdt", "linucb", "elo", "mlp", "mf", "contrastive", "irt")


def make_router(name: str, **params: Any) -> Router:
    """Instantiate the router registered as ``name`` with ``params``."""
    cls = ROUTERS.get(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(
            f"Bad parameters for router {name!r}: {exc}. Valid parameters: {cls._param_names()}."
        ) from None


__all__ = [
    "BASELINES",
    "LEARNED",
    "ROUTERS",
    "Argmax",
    "Budget",
    "CostScale",
    "CostUtility",
    "Router",
    "clone",
    "describe",
    "load_router",
    "make_router",
    "policy_for",
    "save_router",
    "select",
]
