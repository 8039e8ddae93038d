"""Routers: one contract (:class:`Router`), one selection policy, and a registry of families.

``ROUTERS.get("knn")`` returns a router class; :func:`make_router` builds one from a name and
hyper-parameters, with a "did you mean" error for an unknown name and a
:class:`~routerlab.errors.PrerequisiteError` naming the ``pip install`` when the router's optional
dependencies (its ``requires`` tag) are missing.

Which routers are baselines is read from their tags (:meth:`Router.tags`), not kept by hand:
:func:`baseline_names` lists every registered baseline, plug-ins included; ``BASELINES`` and
``LEARNED`` are the built-in routers of each kind, in registration order, computed on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routerlab._registry import Registry
from routerlab.decisions.policy import Argmax, Budget, CostScale, CostUtility, policy_for, select
from routerlab.routers._tags import Tags
from routerlab.routers.base import Router, clone, describe
from routerlab.routers.persist import load_router, save_router

ROUTERS: Registry[type[Router]] = Registry("router")

_BUILTINS = {
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
    "finetuned": "routerlab.routers.neural.finetune:FineTunedRouter",
    "irt": "routerlab.routers.irt:IRTRouter",
    "probe_final": "routerlab.routers.probe.linear:ProbeFinal",
    "probe_mean": "routerlab.routers.probe.linear:ProbeMean",
    "probe_dirichlet": "routerlab.routers.probe.dirichlet:ProbeDirichlet",
    "logit_max_prob": "routerlab.routers.probe.signals:LogitMaxProbRouter",
    "logit_entropy": "routerlab.routers.probe.signals:LogitEntropyRouter",
    "logit_margin": "routerlab.routers.probe.signals:LogitMarginRouter",
    "selfask": "routerlab.routers.probe.verbal:SelfAskRouter",
    "semantic_entropy": "routerlab.routers.probe.verbal:SemanticEntropyRouter",
    "bagged": "routerlab.routers.ensemble:BaggedRouter",
    "stacked": "routerlab.routers.ensemble:StackedRouter",
}
for _name, _target in _BUILTINS.items():
    ROUTERS.register(_name, _target)

if TYPE_CHECKING:
    #: the built-in baselines (tag ``baseline``), in registration order
    BASELINES: tuple[str, ...]
    #: the built-in learned routers (every other built-in), in registration order
    LEARNED: tuple[str, ...]


def router_tags(name: str) -> Tags:
    """The :class:`Tags` of the router registered as ``name`` (importing its module, not its optional packages)."""
    return ROUTERS.get(name).tags()


def baseline_names() -> tuple[str, ...]:
    """Every registered router tagged ``baseline``, plug-ins included, in registration order."""
    return tuple(name for name in ROUTERS.names_in_order() if router_tags(name).baseline)


_BUILTIN_KINDS: dict[str, tuple[str, ...]] = {}


def __getattr__(name: str) -> tuple[str, ...]:
    # BASELINES / LEARNED are derived from the built-ins' tags, which needs their modules imported
    # (scipy, scikit-learn): done once, on first use, so that importing routerlab.routers stays light
    if name in ("BASELINES", "LEARNED"):
        if not _BUILTIN_KINDS:
            base = tuple(n for n in _BUILTINS if router_tags(n).baseline)
            _BUILTIN_KINDS.update(BASELINES=base, LEARNED=tuple(n for n in _BUILTINS if n not in base))
        return _BUILTIN_KINDS[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_router(name: str, **params: Any) -> Router:
    """Instantiate the router registered as ``name`` with ``params``.

    Raises :class:`PrerequisiteError` with the ``pip install`` to run when the router needs an
    optional package that is not installed (e.g. torch for ``mlp``), before anything is fitted.
    """
    cls = ROUTERS.get(name)
    cls.check_requirements()
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
    "Tags",
    "baseline_names",
    "clone",
    "describe",
    "load_router",
    "make_router",
    "policy_for",
    "router_tags",
    "save_router",
    "select",
]
