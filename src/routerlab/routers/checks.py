"""The router conformance suite, after scikit-learn's ``check_estimator``.

``check_router(router)`` runs every check on a small synthetic problem with known structure and
raises ``AssertionError`` naming the router and the broken rule. ``CHECKS`` lists the checks so a
test can parametrise over (router, check) pairs and report each failure separately.

Rules checked
-------------
* ``fit`` returns ``self``; using an unfitted router raises :class:`NotFittedError`.
* :func:`clone` gives an unfitted router with equal parameters, and refitting it reproduces.
* A fixed ``random_state`` reproduces scores exactly.
* Permuting the queries permutes the outputs.
* Scores have shape (n_queries, n_models), are finite (no NaN).
* Missing outcomes are never used as labels (they are not failures): a model that is right
  whenever it was observed, but observed on only half the queries, must not look like a 50 % model.
* Bad input raises a clear routerlab error (features of the wrong shape, a different model pool).
* Fitting twice gives the same scores (with another fit in between: no state leaks from one fit
  into the next), and ``fit`` leaves the hyper-parameters untouched (deep-compared).
* Saving (:func:`~routerlab.routers.persist.save_router`) and loading back gives identical decisions.
* Every ``__init__`` parameter has a declared constraint (``_parameter_constraints``) that its
  default and its ``param_grid`` values satisfy, and ``fit`` rejects a bad value of each with an
  :class:`~routerlab.errors.InvalidParameterError` naming the router, the parameter and the value.

A router whose optional dependencies (its ``requires`` tag) are not installed is skipped: every
check raises :class:`unittest.SkipTest` (a skip under pytest) with the ``pip install`` to run.
"""

from __future__ import annotations

import copy
import tempfile
import unittest
from collections.abc import Callable
from typing import Any

import numpy as np

from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import InvalidParameterError, NotFittedError, PrerequisiteError, SchemaError
from routerlab.routers._params import invalid_values, is_satisfied
from routerlab.routers._tags import requirements_error
from routerlab.routers.base import Router, clone

Check = Callable[[Router], None]


def make_check_problem(
    seed: int = 0, n_queries: int = 240, n_models: int = 4, n_features: int = 8, missing_model0: float = 0.0
) -> tuple[RoutingData, np.ndarray]:
    """A synthetic problem whose features carry the signal: cluster ``k`` of queries is solved by model ``k``.

    With ``missing_model0 > 0`` model 0 (the cheapest) is correct whenever observed but its outcome
    is hidden on that share of queries, while the other models are right 60 % of the time.
    """
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, n_models, n_queries)
    centers = rng.normal(0, 3, (n_models, n_features))
    X = centers[cluster] + rng.normal(0, 1, (n_queries, n_features))
    if missing_model0:
        Y = (rng.random((n_queries, n_models)) < 0.6).astype(float)
        Y[:, 0] = 1.0
        Y[rng.random(n_queries) < missing_model0, 0] = np.nan
    else:
        p = np.full((n_queries, n_models), 0.25)
        p[np.arange(n_queries), cluster] = 0.9
        Y = (rng.random((n_queries, n_models)) < p).astype(float)
    price = np.arange(1, n_models + 1, dtype=float)
    splits = np.where(np.arange(n_queries) < int(0.75 * n_queries), "train", "test").astype(object)
    data = RoutingData(
        name=f"check-problem-{seed}",
        query_ids=np.array([f"q{i:04d}" for i in range(n_queries)], dtype=object),
        texts=np.array(
            [f"query {i} in cluster {c}: " + " ".join(f"w{c}_{j}" for j in range(5)) for i, c in enumerate(cluster)],
            dtype=object,
        ),
        sources=np.array([f"s{c}" for c in cluster], dtype=object),
        splits=splits,
        models=tuple(
            ModelInfo(name=f"m{j}", input_price=float(price[j]), output_price=float(price[j])) for j in range(n_models)
        ),
        Y=Y,
        cost=np.tile(price, (n_queries, 1)),
        cost_unit="usd",
    )
    return data, X


def skip_reason(router: Router | type[Router]) -> str | None:
    """Why the checks cannot run ``router`` here (a missing optional dependency, with its install line), or None."""
    cls = router if isinstance(router, type) else type(router)
    err = requirements_error(f"{cls.__name__} ({cls.name!r})", cls.tags())
    return None if err is None else str(err)


def _fresh(router: Router, **overrides: object) -> Router:
    reason = skip_reason(router)
    if reason is not None:
        raise unittest.SkipTest(reason)
    new = clone(router)
    if overrides:
        new.set_params(**{k: v for k, v in overrides.items() if k in new.get_params()})
    return new


def _train_test() -> tuple[RoutingData, np.ndarray, RoutingData, np.ndarray]:
    data, X = make_check_problem()
    tr, te = data.splits == "train", data.splits == "test"
    return data.subset(tr), X[tr], data.subset(te), X[te]


def check_fit_returns_self(router: Router) -> None:
    """``fit`` returns the router itself."""
    train, Xtr, _, _ = _train_test()
    r = _fresh(router)
    assert r.fit(train, Xtr) is r, f"{type(router).__name__}.fit must return self"


def check_unfitted_raises(router: Router) -> None:
    """Predicting or routing before ``fit`` raises NotFittedError."""
    _, _, test, Xte = _train_test()
    r = _fresh(router)
    for method in (r.predict_scores, r.route):
        try:
            method(test, Xte)
        except NotFittedError:
            continue
        raise AssertionError(f"{type(router).__name__}.{method.__name__} before fit must raise NotFittedError")


def check_clone(router: Router) -> None:
    """``clone`` keeps parameters, drops fitted state, and refits to the same scores."""
    train, Xtr, test, Xte = _train_test()
    fitted = _fresh(router).fit(train, Xtr)
    twin = clone(fitted)
    assert twin.get_params().keys() == fitted.get_params().keys(), "clone must keep the parameter names"
    assert repr(twin) == repr(fitted), f"clone changed parameters: {twin!r} vs {fitted!r}"
    assert not getattr(twin, "fitted_", False), "clone must return an unfitted router"
    a = fitted.predict_scores(test, Xte)
    b = twin.fit(train, Xtr).predict_scores(test, Xte)
    np.testing.assert_array_equal(a, b, err_msg=f"{type(router).__name__}: a refitted clone must give the same scores")


def check_random_state_reproduces(router: Router) -> None:
    """Two fits with the same ``random_state`` give identical scores."""
    train, Xtr, test, Xte = _train_test()
    a = _fresh(router, random_state=7).fit(train, Xtr).predict_scores(test, Xte)
    b = _fresh(router, random_state=7).fit(train, Xtr).predict_scores(test, Xte)
    np.testing.assert_array_equal(a, b, err_msg=f"{type(router).__name__}: a fixed random_state must reproduce exactly")


def check_permutation(router: Router) -> None:
    """Permuting the test queries permutes the scores (no dependence on batch order)."""
    train, Xtr, test, Xte = _train_test()
    r = _fresh(router).fit(train, Xtr)
    perm = np.random.default_rng(1).permutation(test.n_queries)
    a = r.predict_scores(test, Xte)[perm]
    b = r.predict_scores(test.subset(perm), Xte[perm])
    np.testing.assert_allclose(
        b, a, rtol=1e-6, atol=1e-9, err_msg=f"{type(router).__name__}: scores depend on query order"
    )


def check_scores_shape_finite(router: Router) -> None:
    """Scores are a finite float matrix (n_queries, n_models)."""
    train, Xtr, test, Xte = _train_test()
    s = _fresh(router).fit(train, Xtr).predict_scores(test, Xte)
    assert s.shape == (test.n_queries, test.n_models), (
        f"scores shape {s.shape}, expected {(test.n_queries, test.n_models)}"
    )
    assert s.dtype == np.float64, f"scores must be float64, got {s.dtype}"
    assert np.isfinite(s).all(), f"{type(router).__name__} returned NaN or infinite scores"


def check_missing_not_labels(router: Router) -> None:
    """A model right whenever observed, but observed on half the queries, must win most queries."""
    if not router.uses_labels or router.needs_outcomes:
        return
    data, X = make_check_problem(seed=3, n_queries=400, missing_model0=0.5)
    tr, te = data.splits == "train", data.splits == "test"
    r = _fresh(router).fit(data.subset(tr), X[tr])
    s = r.predict_scores(data.subset(te), X[te])
    assert np.isfinite(s).all(), f"{type(router).__name__} gave NaN scores after training on data with missing outcomes"
    share = float((r.route(data.subset(te), X[te]) == 0).mean())
    assert share >= 0.7, (
        f"{type(router).__name__} routed only {share:.0%} of queries to a model that is right every time it was "
        "observed: missing outcomes seem to be treated as failures"
    )


def check_bad_input(router: Router) -> None:
    """Wrong-shaped features or a different model pool give a SchemaError, not a numpy traceback."""
    train, Xtr, test, Xte = _train_test()
    r = _fresh(router).fit(train, Xtr)
    bad_calls: tuple[Callable[[], object], ...] = (
        lambda: r.predict_scores(test, Xte[:-1]),
        lambda: r.predict_scores(test.select_models(list(reversed(test.model_names))), Xte),
    )
    for bad_call in bad_calls:
        try:
            bad_call()
        except SchemaError:
            continue
        raise AssertionError(f"{type(router).__name__} accepted bad input without a SchemaError")


def check_fit_idempotent(router: Router) -> None:
    """Fitting the same router again (after a fit on other data) gives exactly the same scores."""
    train, Xtr, test, Xte = _train_test()
    r = _fresh(router)
    first = r.fit(train, Xtr).predict_scores(test, Xte)
    other, X_other = make_check_problem(seed=1, n_queries=120, n_models=3, n_features=5)
    r.fit(other, X_other)
    again = r.fit(train, Xtr).predict_scores(test, Xte)
    np.testing.assert_array_equal(
        again, first, err_msg=f"{type(router).__name__}: refitting gave other scores (state kept from an earlier fit)"
    )


def _same(a: Any, b: Any) -> bool:
    """Deep equality of parameter values: nested containers, arrays, NaN equal to NaN, routers by their parameters."""
    if isinstance(a, Router) or isinstance(b, Router):
        return type(a) is type(b) and _same(a.get_params(), b.get_params())
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, float) and a != a:
        return bool(b != b)
    return bool(a == b)


def check_fit_keeps_params(router: Router) -> None:
    """``fit`` does not change the hyper-parameters (get_params before == after, deep-compared)."""
    train, Xtr, _, _ = _train_test()
    r = _fresh(router)
    before = copy.deepcopy(r.get_params())
    r.fit(train, Xtr)
    after = r.get_params()
    changed = sorted(k for k in before.keys() | after.keys() if not _same(before.get(k), after.get(k)))
    assert not changed, (
        f"{type(router).__name__}.fit changed its parameters {changed}: "
        f"{ {k: before.get(k) for k in changed} } became { {k: after.get(k) for k in changed} }; "
        "keep learned values in attributes ending in '_'"
    )


def check_save_load_round_trip(router: Router) -> None:
    """A saved and loaded router makes identical decisions: same scores, cost estimates and choices."""
    from routerlab.routers.persist import load_router, save_router

    train, Xtr, test, Xte = _train_test()
    r = _fresh(router).fit(train, Xtr)
    with tempfile.TemporaryDirectory(prefix="routerlab-check-") as folder:
        try:
            save_router(r, folder)
        except PrerequisiteError as exc:  # e.g. skops for the routers that hold scikit-learn estimators
            raise unittest.SkipTest(str(exc)) from None
        loaded = load_router(folder)
    name = type(router).__name__
    assert type(loaded) is type(r), f"{name}: loading gave a {type(loaded).__name__}"
    assert _same(loaded.get_params(), r.get_params()), f"{name}: loading changed the parameters"
    a, b = r.decide(test, Xte), loaded.decide(test, Xte)
    np.testing.assert_array_equal(b.scores, a.scores, err_msg=f"{name}: a loaded router gives other scores")
    np.testing.assert_array_equal(
        b.cost_estimate, a.cost_estimate, err_msg=f"{name}: a loaded router gives other cost estimates"
    )
    for lam in (None, 0.5):
        np.testing.assert_array_equal(
            b.choose(lam=lam), a.choose(lam=lam), err_msg=f"{name}: a loaded router chooses other models (λ={lam})"
        )


def check_parameter_constraints(router: Router) -> None:
    """Every parameter is constrained; defaults and grid values pass; ``fit`` rejects a bad value of each."""
    cls = type(router)
    name = cls.__name__
    constraints = cls._parameter_constraints
    params = cls._param_names()
    unconstrained = [p for p in params if p not in constraints]
    assert not unconstrained, f"{name}: parameters {unconstrained} have no entry in _parameter_constraints"
    unknown = [p for p in constraints if p not in params]
    assert not unknown, f"{name}: _parameter_constraints names {unknown}, which are not __init__ parameters"
    defaults = _fresh(router).get_params()
    for param, allowed in constraints.items():
        values = [("default", defaults[param])] + [("param_grid", v) for v in cls.param_grid.get(param, [])]
        for where, value in values:
            assert any(is_satisfied(c, value) for c in allowed), (
                f"{name}: the {where} value {value!r} of {param} breaks its own declared constraints"
            )
    train, Xtr, _, _ = _train_test()
    for param, allowed in constraints.items():
        for bad in invalid_values(allowed):
            r = _fresh(router, **{param: bad})
            try:
                r.fit(train, Xtr)
            except InvalidParameterError as exc:
                message = str(exc)
                assert message.startswith(f"{name}: {param} must be "), (
                    f"{name}: the error for {param}={bad!r} must start with '{name}: {param} must be'. Got {message!r}"
                )
                assert repr(bad) in message, f"{name}: the error for {param}={bad!r} must show the value: {message!r}"
                assert not getattr(r, "fitted_", False), f"{name}: a rejected fit must leave the router unfitted"
                continue
            raise AssertionError(f"{name}.fit accepted {param}={bad!r}, which breaks its declared constraints")


CHECKS: tuple[Check, ...] = (
    check_fit_returns_self,
    check_unfitted_raises,
    check_clone,
    check_random_state_reproduces,
    check_permutation,
    check_scores_shape_finite,
    check_missing_not_labels,
    check_bad_input,
    check_fit_idempotent,
    check_fit_keeps_params,
    check_save_load_round_trip,
    check_parameter_constraints,
)


def check_router(router: Router) -> None:
    """Run every check in :data:`CHECKS` on ``router``; raises AssertionError on the first failure.

    Raises :class:`unittest.SkipTest` when the router's optional dependencies are not installed.
    """
    reason = skip_reason(router)
    if reason is not None:
        raise unittest.SkipTest(reason)
    for check in CHECKS:
        check(router)
