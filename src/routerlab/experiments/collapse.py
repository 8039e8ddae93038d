"""Collapse controls: does a router use its features, or only the label marginal.

`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8 shows routers trained on oracle
labels that "collapse" to the majority class — routing nearly every query to one model, with near-zero recall on the
others — and §8.3 diagnoses it with controls. :func:`collapse_controls` runs the same controls on any router:

``real``
    the router as given, on the features ``X`` as given (the reference).
``random_features``
    ``X`` replaced by standard Gaussian noise of the same shape (seeded). A router that scores the
    same here carries no signal from its features.
``shuffled_labels``
    the training queries' outcomes (``Y``, ``cost`` and every per-answer matrix) permuted relative
    to their queries (seeded). A router that scores the same here learned only the label marginal.
``balanced``
    a clone with ``class_weight="balanced"`` (the paper's positive control: a cost-sensitive
    objective that should restore non-zero recall on every model). Not applicable, with the
    reason, for routers without a ``class_weight`` parameter.

Every condition fits a fresh clone on the ``train`` split and routes the ``test`` split (queries
nobody answered are left out; ``available = observed``) at the given λ. It reports routing
accuracy, per-model recall against the oracle-optimal labels — the cheapest model with the best
observed outcome, i.e. the :class:`~routerlab.routers.baselines.Oracle`'s choice at λ = 0;
``recall[m]`` is the share of queries whose oracle label is ``m`` that were routed to ``m`` (``None``
when no query has that label) — the call rates, and the share routed to the most-used model.
A condition is *collapsed* when that share is at least ``threshold`` (0.95); a warning names the
router, the condition and the model.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerlab._random import rng
from routerlab.data.schema import OPTIONAL_MATRICES, RoutingData
from routerlab.errors import SchemaError
from routerlab.metrics import core as M
from routerlab.routers.base import Router, clone
from routerlab.routers.baselines import oracle_choice

log = logging.getLogger(__name__)

CONDITIONS = ("real", "random_features", "shuffled_labels", "balanced")
COLLAPSE_THRESHOLD = 0.95


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """The figures of one control condition (``applicable=False`` with a ``reason`` when it could not run)."""

    condition: str
    applicable: bool
    reason: str = ""
    accuracy: float | None = None
    recall: dict[str, float | None] = dataclasses.field(default_factory=dict)
    call_rate: dict[str, float] = dataclasses.field(default_factory=dict)
    top_model: str | None = None
    top_share: float | None = None
    collapsed: bool = False

    @property
    def macro_recall(self) -> float | None:
        """Mean recall over the models that are the oracle label of at least one query."""
        values = [v for v in self.recall.values() if v is not None]
        return float(np.mean(values)) if values else None


@dataclass(frozen=True, slots=True)
class CollapseReport:
    """The result of :func:`collapse_controls`."""

    router: str
    dataset: str
    lam: float
    seed: int
    threshold: float
    n_train: int
    n_test: int
    models: tuple[str, ...]
    label_share: dict[str, float]  # oracle-label distribution on the test queries
    oracle_accuracy: float
    majority_accuracy: float  # routing every test query to the training split's most frequent oracle label
    conditions: tuple[ConditionResult, ...]

    def condition(self, name: str) -> ConditionResult:
        """Return the result of condition ``name``."""
        for c in self.conditions:
            if c.condition == name:
                return c
        raise KeyError(f"No condition {name!r}; conditions: {[c.condition for c in self.conditions]}.")

    @property
    def collapsed(self) -> bool:
        """Whether the router collapsed on the real features."""
        return self.condition("real").collapsed

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"schema_version": 1, **dataclasses.asdict(self)}

    def to_markdown(self) -> str:
        """Render a Markdown table: one row per condition, with per-model recall."""
        head = [
            "condition",
            "accuracy",
            "most-used model (share)",
            "collapsed",
            "macro recall",
            *[f"R[{m}]" for m in self.models],
        ]
        lines = [
            f"# Collapse controls: {self.router} on {self.dataset}",
            "",
            f"{self.n_test} test queries, λ = {self.lam:g}, seed {self.seed}; "
            f"oracle accuracy {self.oracle_accuracy:.4f}, majority-label accuracy {self.majority_accuracy:.4f}. "
            f"Collapsed = at least {self.threshold:.0%} of queries routed to one model.",
            "",
            "Oracle-label share: " + ", ".join(f"{m} {s:.1%}" for m, s in self.label_share.items()) + ".",
            "",
            "| " + " | ".join(head) + " |",
            "|---|" + "---:|" * (len(head) - 1),
        ]
        notes = []
        for c in self.conditions:
            if not c.applicable:
                lines.append(f"| {c.condition} | n/a |" + " |" * (len(head) - 2))
                notes.append(f"* `{c.condition}` not applicable: {c.reason}")
                continue
            recall = ["—" if c.recall.get(m) is None else f"{c.recall[m]:.1%}" for m in self.models]
            macro = c.macro_recall
            cells = [
                c.condition,
                f"{c.accuracy:.4f}",
                f"{c.top_model} ({c.top_share:.1%})",
                "**yes**" if c.collapsed else "no",
                "—" if macro is None else f"{macro:.1%}",
                *recall,
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def shuffle_outcomes(data: RoutingData, perm: np.ndarray) -> RoutingData:
    """Return ``data`` with every per-answer matrix (``Y``, ``cost``, tokens, ...) row-permuted by ``perm``."""
    changes: dict[str, Any] = {"Y": data.Y[perm], "cost": data.cost[perm]}
    for attr in OPTIONAL_MATRICES:
        value = getattr(data, attr)
        if value is not None:
            changes[attr] = value[perm]
    return dataclasses.replace(data, **changes)


def _as_router(router: Router | str) -> tuple[str, Router]:
    if isinstance(router, Router):
        return router.name if router.name != "router" else type(router).__name__, router
    from routerlab.routers import make_router

    return router, make_router(router)


def collapse_controls(
    router: Router | str,
    data: RoutingData,
    X: np.ndarray | None,
    *,
    seed: int = 0,
    lam: float = 0.0,
    threshold: float = COLLAPSE_THRESHOLD,
    train_splits: Sequence[str] = ("train",),
    test_split: str = "test",
) -> CollapseReport:
    """Run the §8.3 collapse controls on ``router`` (see the module doc); ``router`` itself is never fitted.

    ``X`` is the (n_queries, d) feature matrix aligned with ``data`` (``None`` for a router that
    uses no features: ``random_features`` is then not applicable). ``seed`` drives the random
    features and the label permutation.
    """
    name, template = _as_router(router)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]. Got {threshold}.")
    train_mask = np.isin(data.splits, list(train_splits))
    test_rows = np.flatnonzero((data.splits == test_split) & data.observed.any(axis=1))
    if not train_mask.any() or test_rows.size == 0:
        raise SchemaError(
            f"{data.name!r} needs training ({list(train_splits)}) and answered {test_split!r} queries; "
            f"its splits are {data.split_sizes()}."
        )
    if X is not None:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != data.n_queries:
            raise SchemaError(f"X must have shape (n_queries={data.n_queries}, n_features). Got {X.shape}.")
    train, test = data.subset(train_mask), data.subset(test_rows)
    labels = oracle_choice(test)
    models = tuple(data.model_names)
    gen_features, gen_labels = rng(seed).spawn(2)

    def run(condition: str, r: Router, fit_data: RoutingData, X_all: np.ndarray | None) -> ConditionResult:
        X_train = None if X_all is None else X_all[train_mask]
        X_test = None if X_all is None else X_all[test_rows]
        r.fit(fit_data, X_train)
        choice = r.route(test, X_test, lam=lam, available=test.observed)
        rates = M.call_rate(choice=choice, n_models=test.n_models)
        recall = {
            m: (float((choice[labels == j] == j).mean()) if (labels == j).any() else None) for j, m in enumerate(models)
        }
        top = int(np.argmax(rates))
        collapsed = bool(rates[top] >= threshold)
        if collapsed:
            log.warning(
                "router %s collapsed under the %r condition: %.1f%% of %d test queries routed to model %s",
                name,
                condition,
                100 * rates[top],
                test.n_queries,
                models[top],
            )
        return ConditionResult(
            condition=condition,
            applicable=True,
            accuracy=M.routing_accuracy_score(Y=test.Y, choice=choice),
            recall=recall,
            call_rate={m: float(v) for m, v in zip(models, rates, strict=True)},
            top_model=models[top],
            top_share=float(rates[top]),
            collapsed=collapsed,
        )

    results = [run("real", clone(template), train, X)]
    if X is None:
        results.append(ConditionResult("random_features", False, "no features X were given (the router uses none)"))
    else:
        dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
        noise = gen_features.standard_normal(X.shape).astype(dtype)
        results.append(run("random_features", clone(template), train, noise))
    if template.uses_labels:
        perm = gen_labels.permutation(train.n_queries)
        results.append(run("shuffled_labels", clone(template), shuffle_outcomes(train, perm), X))
    else:
        results.append(ConditionResult("shuffled_labels", False, f"{type(template).__name__} does not use outcomes"))
    if "class_weight" in template.get_params():
        balanced = clone(template)
        try:
            balanced.set_params(class_weight="balanced")
            results.append(run("balanced", balanced, train, X))
        except (ValueError, TypeError) as exc:
            results.append(ConditionResult("balanced", False, f"class_weight='balanced' was rejected: {exc}"))
    else:
        results.append(
            ConditionResult(
                "balanced", False, f"{type(template).__name__} has no class_weight parameter (no balanced objective)"
            )
        )
    from routerlab.routers.baselines import MajorityLabel

    majority = MajorityLabel().fit(train).route(test, available=test.observed)
    share = np.bincount(labels, minlength=len(models)) / labels.size
    return CollapseReport(
        router=name,
        dataset=data.name,
        lam=float(lam),
        seed=int(seed),
        threshold=float(threshold),
        n_train=train.n_queries,
        n_test=test.n_queries,
        models=models,
        label_share={m: float(s) for m, s in zip(models, share, strict=True)},
        oracle_accuracy=M.oracle_accuracy_score(Y=test.Y),
        majority_accuracy=M.routing_accuracy_score(Y=test.Y, choice=majority),
        conditions=tuple(results),
    )


__all__ = ["CONDITIONS", "CollapseReport", "ConditionResult", "collapse_controls", "shuffle_outcomes"]
