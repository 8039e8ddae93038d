"""Ensembles of routers on the router contract: seed-bagged (``bagged``) and stacked (``stacked``).

`routing-plateau.txt` (arXiv:2606.07587) leaves ensembles outside its scope (Limitations); issue 15
item 4 asks whether averaging routers moves the plateau. Both ensembles here hold ordinary routers
built by :func:`routerlab.routers.make_router` from a registered name and a JSON-able dict of
hyper-parameters, so a sweep's ``grids:`` and a saved router (:mod:`routerlab.routers.persist`,
node type ``router``) treat them like any other router.

* :class:`BaggedRouter` — ``n_members`` clones of one base router, member ``i`` fitted with its own
  derived ``random_state`` on its own subsample of the training queries; the score is the mean of
  the members' scores (Breiman 1996, "Bagging predictors"; subsampling without replacement is
  Bühlmann & Yu 2002, "Analyzing bagging", §3 "subagging").
* :class:`StackedRouter` — several routers' scores combined per model by a meta-learner fitted on
  their out-of-fold scores (Wolpert 1992, "Stacked generalization"; non-negative least squares
  as in Breiman 1996, "Stacked regressions", §3).

Randomness flows from the ensemble's ``random_state`` through :func:`member_seeds`; member
hyper-parameters may not set ``random_state`` themselves.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from routerlab._random import stable_uniform
from routerlab.data.schema import RoutingData
from routerlab.data.splits import group_folds, normalise_text
from routerlab.errors import InvalidParameterError, SchemaError, UnknownNameError
from routerlab.routers._params import Constraint, Interval, StrOptions
from routerlab.routers._tabular import model_seeds
from routerlab.routers.base import Router, clone

__all__ = ["BaggedRouter", "StackedRouter", "member_seeds", "out_of_fold_scores", "subsample_rows"]

_SEED: list[Constraint] = [Interval(numbers.Integral, 0, None, closed="left")]


def member_seeds(random_state: int, n_members: int) -> list[int]:
    """The ``random_state`` of each member, all drawn from the ensemble's (:func:`routerlab._random.rng`)."""
    return model_seeds(random_state, n_members)


def subsample_rows(query_ids: Sequence[str] | np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Ascending row indices of ``ceil(fraction · n)`` queries drawn without replacement by a hash of their ids.

    The draw depends on (query id, ``seed``) only, not on the order of the rows; ``fraction = 1``
    keeps every row.
    """
    n = len(query_ids)
    keep = min(n, max(1, math.ceil(fraction * n)))
    if keep == n:
        return np.arange(n, dtype=np.intp)
    u = stable_uniform([str(q) for q in query_ids], seed, salt="bagged")
    return np.sort(np.argsort(u, kind="stable")[:keep]).astype(np.intp)


def _member(owner: str, field: str, name: Any, params: Any, seed: int) -> Router:
    """An unfitted member: router ``name`` with ``params`` and ``random_state = seed`` where it has one.

    Raises :class:`InvalidParameterError` naming the ensemble, the field, the value and the fix.
    """
    from routerlab.routers import ROUTERS, make_router  # the registry imports this module's package

    if not isinstance(name, str):
        raise InvalidParameterError(f"{owner}: {field} must be a registered router name (a string). Got {name!r}.")
    try:
        cls = ROUTERS.get(name)
    except UnknownNameError as exc:
        raise InvalidParameterError(f"{owner}: {field} must be a registered router name. Got {name!r}. {exc}") from None
    if cls.tags().needs_outcomes:
        raise InvalidParameterError(
            f"{owner}: {field} must be a router that decides without the test outcomes. Got {name!r}, an upper "
            "bound that reads them; use a learned router such as 'knn'."
        )
    if not isinstance(params, Mapping):
        raise InvalidParameterError(f"{owner}: the parameters of {name!r} must be a dict. Got {params!r}.")
    if "random_state" in params:
        raise InvalidParameterError(
            f"{owner}: the parameters of {name!r} must not set random_state (got {params['random_state']!r}); "
            f"each member's random_state is derived from the {owner}'s own random_state: set that instead."
        )
    try:
        member = make_router(name, **dict(params))
        if "random_state" in member.get_params():
            member.set_params(random_state=seed)
        member._validate_params()
    except (InvalidParameterError, ValueError) as exc:
        raise InvalidParameterError(f"{owner}: {field}: {exc}") from None
    return member


def _fit_member(member: Router, train: RoutingData, X: np.ndarray | None, rows: np.ndarray) -> Router:
    return member.fit(train.subset(rows), None if X is None else X[rows])


class BaggedRouter(Router):
    """Seed-bagged ensemble: the mean score of ``n_members`` clones of ``base``, each on its own subsample and seed.

    Design
    ------
    * Member ``i`` is ``make_router(base, **base_params)`` with ``random_state =
      member_seeds(random_state, n_members)[i]`` when the base has a ``random_state`` (kMeans, the
      MLPs, ...), fitted on ``ceil(max_samples · n)`` training queries drawn without replacement by
      a hash of the query id with that seed (:func:`subsample_rows`). The subsample is what makes
      members of a deterministic base such as kNN differ.
    * Without replacement, not a bootstrap: a bootstrap repeats queries, and a repeated query fills
      several of a kNN member's ``k`` neighbour slots with one label (and query ids must stay unique
      in a :class:`~routerlab.data.schema.RoutingData`). Subsampling half or more of the data
      approximates bagging (Bühlmann & Yu 2002, §3).
    * ``max_samples = 1`` keeps every query: members then differ only by their seed, and one member
      is exactly the base router fitted with ``random_state = member_seeds(random_state, 1)[0]``.
    * ``predict_scores`` is the mean of the members' scores; the cost estimates are the ensemble's
      (mean training cost per model, from all training queries).

    The stage-1 grid bags the default base (kNN) at the k values of its own grid.
    """

    name = "bagged"
    stochastic = True
    requires_features = True
    param_grid: ClassVar[dict[str, list[Any]]] = {"base_params": [{"k": 10}, {"k": 20}, {"k": 50}, {"k": 100}]}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "base": [str],
        "base_params": [dict, None],
        "n_members": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_samples": [Interval(numbers.Real, 0, 1, closed="right")],
        "random_state": _SEED,
    }

    def __init__(
        self,
        *,
        base: str = "knn",
        base_params: dict[str, Any] | None = None,
        n_members: int = 10,
        max_samples: float = 0.8,
        random_state: int = 0,
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.n_members = n_members
        self.max_samples = max_samples
        self.random_state = random_state

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        owner = type(self).__name__
        seeds = member_seeds(int(self.random_state), int(self.n_members))
        members = [_member(owner, "base", self.base, self.base_params or {}, s) for s in seeds]  # all checked first
        self.members_ = [
            _fit_member(m, train, X, subsample_rows(train.query_ids, float(self.max_samples), s))
            for m, s in zip(members, seeds, strict=True)
        ]

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        return np.asarray(np.mean([m.predict_scores(data, X) for m in self.members_], axis=0))


def out_of_fold_scores(
    members: Sequence[Router], train: RoutingData, X: np.ndarray | None, n_folds: int, seed: int
) -> np.ndarray:
    """Each member's scores on each training query from a fit that never saw that query: (n, n_members, n_models).

    The queries are cut into ``n_folds`` folds by :func:`routerlab.data.splits.group_folds` (a hash
    of the query id with ``seed``; queries whose texts are equal after
    :func:`~routerlab.data.splits.normalise_text` share a fold, so a duplicate's label never reaches
    its twin's score). Fold ``k``'s scores come from clones of ``members`` fitted on the other folds.
    """
    groups = None if train.texts is None else [normalise_text(str(t)) for t in train.texts]
    fold = group_folds(train.query_ids, n_folds, groups=groups, seed=seed)
    used = np.unique(fold)
    if len(used) < 2:
        raise SchemaError(
            f"StackedRouter: n_folds={n_folds} puts all {train.n_queries} training queries of {train.name!r} in one "
            "fold, so no out-of-fold score exists; use more training queries, or meta='mean' (no meta-learner)."
        )
    out = np.full((train.n_queries, len(members), train.n_models), np.nan)
    for k in used:
        held = np.flatnonzero(fold == k)
        rest = np.flatnonzero(fold != k)
        if not train.observed[rest].any():
            raise SchemaError(
                f"StackedRouter: the training queries outside fold {k} of {train.name!r} have no outcome; "
                "use fewer folds (n_folds) or more training data."
            )
        view = train.subset(held).without_outcomes()
        Xh = None if X is None else X[held]
        for j, member in enumerate(members):
            out[held, j] = _fit_member(clone(member), train, X, rest).predict_scores(view, Xh)
    return out


def _nnls_weights(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares ``y ≈ b + scores @ w`` with ``w >= 0`` and a free intercept ``b`` (Breiman 1996, §3).

    Centring both sides frees the intercept: NNLS on the centred problem, then ``b = ȳ − s̄ · w``.
    """
    from scipy.optimize import nnls

    mean_s, mean_y = scores.mean(axis=0), float(y.mean())
    w, _ = nnls(scores - mean_s, y - mean_y)
    return w, mean_y - float(mean_s @ w)


class StackedRouter(Router):
    """Stacked ensemble: per model, a non-negative combination of the member routers' scores fitted out of fold.

    Design
    ------
    * ``members`` are registered router names, each with its hyper-parameters in
      ``member_params[name]`` (default: the router's defaults) and ``random_state =
      member_seeds(random_state, len(members))[j]`` where it has one.
    * ``meta = "nnls"``: the members' out-of-fold scores on the training queries
      (:func:`out_of_fold_scores`, ``n_folds`` folds grouped by normalised text, seeded by
      ``random_state``) are regressed, model by model, on that model's observed outcomes: ``score[q,
      m] = b_m + Σ_j w_{m,j} · s_j[q, m]`` with ``w ≥ 0`` (:func:`_nnls_weights`). A missing outcome
      is left out of model ``m``'s regression, never filled; a model with no outcome in training
      gets the members' mean. Non-negative weights keep each member's direction: with one member,
      each model's column is an increasing affine map of that member's (a per-model recalibration,
      which may change the argmax across models).
    * ``meta = "mean"``: the members' mean score (no out-of-fold fits).
    * The members are then refitted on all training queries; prediction combines their scores.
      Nothing reads the outcomes of the queries being scored.

    Fitting costs ``(n_folds + 1) × len(members)`` member fits under ``"nnls"``.
    """

    name = "stacked"
    stochastic = True
    requires_features = True
    param_grid: ClassVar[dict[str, list[Any]]] = {"meta": ["nnls", "mean"]}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "members": [list, tuple],
        "member_params": [dict, None],
        "n_folds": [Interval(numbers.Integral, 2, None, closed="left")],
        "meta": [StrOptions({"nnls", "mean"})],
        "random_state": _SEED,
    }

    def __init__(
        self,
        *,
        members: Sequence[str] = ("knn", "kmeans"),
        member_params: dict[str, dict[str, Any]] | None = None,
        n_folds: int = 5,
        meta: str = "nnls",
        random_state: int = 0,
    ) -> None:
        self.members = members
        self.member_params = member_params
        self.n_folds = n_folds
        self.meta = meta
        self.random_state = random_state

    def _templates(self) -> list[Router]:
        """The unfitted members, every name and parameter checked (errors name the field, the value, the fix)."""
        owner = type(self).__name__
        names = list(self.members)
        if not names:
            raise InvalidParameterError(f"{owner}: members must name at least one router. Got {self.members!r}.")
        dup = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
        if dup:
            raise InvalidParameterError(
                f"{owner}: members lists {dup} more than once. Got {self.members!r}; list each router once "
                "(bag one with 'bagged' to get several of it)."
            )
        params = dict(self.member_params or {})
        stray = sorted(set(params) - {n for n in names if isinstance(n, str)})
        if stray:
            raise InvalidParameterError(
                f"{owner}: member_params has entries {stray} that are not among the members {names}; "
                "key member_params by member name."
            )
        seeds = member_seeds(int(self.random_state), len(names))
        return [
            _member(owner, f"members[{j}]", n, params.get(n, {}) if isinstance(n, str) else {}, seeds[j])
            for j, n in enumerate(names)
        ]

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        templates = self._templates()
        n_members, n_models = len(templates), train.n_models
        weights = np.full((n_models, n_members), 1.0 / n_members)
        intercepts = np.zeros(n_models)
        if self.meta == "nnls":
            oof = out_of_fold_scores(templates, train, X, int(self.n_folds), int(self.random_state))
            observed = train.observed
            for m in range(n_models):
                rows = observed[:, m]
                if rows.any():  # a model never observed in training keeps the members' mean
                    weights[m], intercepts[m] = _nnls_weights(oof[rows, :, m], train.Y[rows, m])
        everything = np.arange(train.n_queries)
        self.members_ = [_fit_member(t, train, X, everything) for t in templates]
        self.weights_ = weights  # (n_models, n_members)
        self.intercepts_ = intercepts

    def member_scores(self, data: RoutingData, X: np.ndarray | None = None) -> np.ndarray:
        """The fitted members' scores on ``data``: (n_queries, n_members, n_models)."""
        self.check_is_fitted()
        return np.stack([m.predict_scores(data, X) for m in self.members_], axis=1)

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        return np.asarray(np.einsum("qjm,mj->qm", self.member_scores(data, X), self.weights_) + self.intercepts_)
