"""Every registered router passes every conformance check (routerlab.routers.checks).

A router whose optional dependency is missing (torch for the neural routers) is skipped with the
``pip install`` that adds it; tests/routers/test_conformance_without_torch.py runs this file again in
a process where ``import torch`` fails, so both situations are covered by one test run.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pytest

from routerlab.errors import InvalidParameterError, PrerequisiteError
from routerlab.routers import BASELINES, LEARNED, ROUTERS, Router, Tags, baseline_names, make_router, router_tags
from routerlab.routers._params import Constraint, Interval
from routerlab.routers.baselines import BestSingle
from routerlab.routers.checks import (
    CHECKS,
    check_fit_idempotent,
    check_fit_keeps_params,
    check_missing_not_labels,
    check_parameter_constraints,
    check_router,
    make_check_problem,
    skip_reason,
)
from routerlab.routers.knn import KNNRouter

#: parameters a router needs on the checks' plain feature matrices (8 and 5 columns): the probes' features
#: are n_layers stacked blocks and a bare matrix cannot say how many, so n_layers has no default; 1 divides
#: every width (tests/routers/test_probe.py checks the probes on real multi-layer structure)
CONFORMANCE_PARAMS: dict[str, dict[str, object]] = {
    "probe_final": {"n_layers": 1},
    "probe_mean": {"n_layers": 1},
    "probe_dirichlet": {"n_layers": 1},
    # a real MiniLM fine-tune: short texts, one epoch (a fit takes seconds; refits hit the checkpoint cache)
    "finetuned": {"max_seq_length": 16, "epochs": 1, "batch_size": 32},
}


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", ROUTERS.names())
def test_router_conforms(name: str, check) -> None:
    reason = skip_reason(ROUTERS.get(name))
    if reason is not None:
        pytest.skip(reason)
    check(make_router(name, **CONFORMANCE_PARAMS.get(name, {})))


def test_missing_check_catches_nan_as_zero() -> None:
    """The missing-outcome check must fail a router that fills NaN with 0 (the check has teeth)."""

    class NanAsZero(BestSingle):
        def _fit(self, train, X):  # type: ignore[no-untyped-def]
            super()._fit(train, X)
            self.mean_quality_ = np.nan_to_num(train.Y, nan=0.0).mean(axis=0)
            self.eligible_ = np.ones(train.n_models, dtype=bool)

    with pytest.raises(AssertionError, match="treated as failures"):
        check_missing_not_labels(NanAsZero())
    check_missing_not_labels(BestSingle())  # and the honest version passes


def test_check_problem_is_seeded() -> None:
    a, xa = make_check_problem(seed=5)
    b, xb = make_check_problem(seed=5)
    assert np.array_equal(a.Y, b.Y, equal_nan=True) and np.array_equal(xa, xb)


# ---------------------------------------------------------------------------------------------- the checks have teeth
def test_idempotence_check_catches_state_kept_between_fits() -> None:
    class Sticky(BestSingle):
        def _fit(self, train, X):  # type: ignore[no-untyped-def]
            super()._fit(train, X)
            self.n_fits_ = getattr(self, "n_fits_", 0) + 1  # survives the next fit: a leak

        def _predict_scores(self, data, X):  # type: ignore[no-untyped-def]
            return super()._predict_scores(data, X) + 0.01 * self.n_fits_

    with pytest.raises(AssertionError, match="refitting gave other scores"):
        check_fit_idempotent(Sticky())
    check_fit_idempotent(BestSingle())


def test_params_check_catches_fit_changing_a_parameter() -> None:
    class Mutating(BestSingle):
        def _fit(self, train, X):  # type: ignore[no-untyped-def]
            self.budget = float(self.model_cost_.max())  # "resolves" None in place
            super()._fit(train, X)

    with pytest.raises(AssertionError, match=r"fit changed its parameters \['budget'\]"):
        check_fit_keeps_params(Mutating())


def test_constraint_check_needs_every_parameter_declared_and_defaults_valid() -> None:
    class Undeclared(BestSingle):
        def __init__(self, *, budget: float | None = None, shrink: float = 0.5) -> None:
            self.budget = budget
            self.shrink = shrink

    with pytest.raises(AssertionError, match=r"parameters \['shrink'\] have no entry in _parameter_constraints"):
        check_parameter_constraints(Undeclared())

    class BadDefault(BestSingle):
        _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
            "budget": [Interval(numbers.Real, 1, None, closed="left")]
        }

    with pytest.raises(AssertionError, match="the default value None of budget breaks its own declared constraints"):
        check_parameter_constraints(BadDefault())


def test_fit_rejects_a_bad_parameter_before_fitting() -> None:
    data, X = make_check_problem()
    with pytest.raises(InvalidParameterError, match=r"^KNNRouter: k must be an int >= 1\. Got 0\.$"):
        make_router("knn", k=0).fit(data, X)
    with pytest.raises(InvalidParameterError, match=r"KNNRouter: weights must be 'distance' or 'uniform'\. Got 'cos'"):
        make_router("knn", weights="cos").fit(data, X)
    with pytest.raises(InvalidParameterError, match=r"FeatureLogisticRouter: class_weight must be 'balanced' or None"):
        make_router("feat_lr", class_weight="auto").fit(data, X)
    with pytest.raises(InvalidParameterError, match=r"FeatureMLPRouter: hidden must be a non-empty tuple whose"):
        make_router("feat_mlp", hidden=()).fit(data, X)
    with pytest.raises(InvalidParameterError, match=r"BestSingle: budget must be a number >= 0 or None\. Got -1"):
        BestSingle(budget=-1).fit(data)


# ---------------------------------------------------------------------------------------------- tags
T = Tags
EXPECTED_TAGS = {
    "oracle": T(baseline=True, needs_outcomes=True),
    "random": T(baseline=True, stochastic=True, uses_labels=False),
    "best_single": T(baseline=True),
    "cheapest": T(baseline=True, uses_labels=False),
    "majority_label": T(baseline=True),
    "knn": T(requires_features=True),
    "kmeans": T(stochastic=True, requires_features=True),
    "feat_lr": T(requires_features=True),
    "feat_mlp": T(stochastic=True, requires_features=True),
    "rf": T(stochastic=True, requires_features=True),
    "gbdt": T(requires_features=True),
    "linucb": T(requires_features=True),
    "elo": T(stochastic=True, requires_features=True),
    **{n: T(stochastic=True, requires_features=True, requires=("torch",)) for n in ("mlp", "mf", "contrastive", "irt")},
    "probe_final": T(requires_features=True, features="hidden_states"),
    "probe_mean": T(requires_features=True, features="hidden_states"),
    "probe_dirichlet": T(stochastic=True, requires_features=True, requires=("torch",), features="hidden_states"),
    **{
        n: T(requires_features=True, features="logit_signals")
        for n in ("logit_max_prob", "logit_entropy", "logit_margin")
    },
    **{n: T(requires_features=True, features="verbal_signals") for n in ("selfask", "semantic_entropy")},
    "finetuned": T(stochastic=True, requires=("torch", "sentence_transformers"), features="texts"),
    "bagged": T(stochastic=True, requires_features=True),
    "stacked": T(stochastic=True, requires_features=True),
}


def test_tags_of_the_built_in_routers() -> None:
    assert {name: router_tags(name) for name in (*BASELINES, *LEARNED)} == EXPECTED_TAGS


def test_baselines_are_derived_from_tags_in_registration_order() -> None:
    assert BASELINES == ("oracle", "random", "best_single", "cheapest", "majority_label")
    assert LEARNED == (
        "knn", "kmeans", "feat_lr", "feat_mlp", "rf", "gbdt", "linucb", "elo", "mlp", "mf", "contrastive", "finetuned",
        "irt", "probe_final", "probe_mean", "probe_dirichlet", "logit_max_prob", "logit_entropy", "logit_margin",
        "selfask", "semantic_entropy", "bagged", "stacked",
    )  # fmt: skip
    assert baseline_names() == BASELINES


class AlwaysFirst(Router):
    """A plug-in baseline: always the first model of the pool."""

    name = "always_first"
    baseline = True
    uses_labels = False

    def __init__(self) -> None:
        pass

    def _fit(self, train, X):  # type: ignore[no-untyped-def]
        return None

    def _predict_scores(self, data, X):  # type: ignore[no-untyped-def]
        scores = np.zeros((data.n_queries, data.n_models))
        scores[:, 0] = 1.0
        return scores


class ShiftedKNN(KNNRouter):
    """A plug-in learned router."""

    name = "shifted_knn"


@pytest.fixture
def plugins() -> Iterator[None]:
    ROUTERS.register("always_first", AlwaysFirst)
    ROUTERS.register("shifted_knn", ShiftedKNN)
    try:
        yield
    finally:
        ROUTERS.unregister("always_first")
        ROUTERS.unregister("shifted_knn")


@pytest.mark.usefixtures("plugins")
def test_a_plugin_baseline_is_classified_by_its_tags() -> None:
    assert baseline_names() == (*BASELINES, "always_first")
    assert "shifted_knn" not in baseline_names()
    assert router_tags("always_first") == Tags(baseline=True, uses_labels=False)
    assert BASELINES == ("oracle", "random", "best_single", "cheapest", "majority_label")  # the built-ins only
    check_router(AlwaysFirst())  # and it passes the whole suite, save/load included


def test_make_router_names_the_install_command_when_torch_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what Python does for a module that must not be imported
    assert router_tags("mlp").requires == ("torch",)  # tags stay readable without torch
    for name in ("mlp", "mf", "contrastive", "irt", "probe_dirichlet"):
        with pytest.raises(PrerequisiteError, match=r"needs torch.*install it with: pip install 'routerlab\[embed\]'"):
            make_router(name)
        assert "pip install 'routerlab[embed]'" in str(skip_reason(ROUTERS.get(name)))
    assert skip_reason(ROUTERS.get("knn")) is None
    make_router("knn")
