"""Fit routers on a benchmark's training split and score them on its test split: the leaderboard.

Protocol: every router is fitted once on the training split, then routes each test query by the
shared policy at each requested λ (`routing-plateau.txt` (arXiv:2606.07587) App. E: the cost-utility sweep is applied
post hoc to the same predictions). Routers see ``test.without_outcomes()``; only the oracle reads
the labels.

Missing outcomes follow the one policy of :mod:`routerlab.metrics.core` (``missing=``, default
``"reroute"``): under ``"reroute"`` a model with no recorded outcome on a query is not offered for
it (``available = observed``); under ``"zero"``/``"skip"``/``"error"`` the router chooses freely
and the metrics count, drop or refuse the choices that land on a missing cell. Either way every
decision the router *wanted* to make on a cell with no outcome is counted per router and λ
(:attr:`LeaderboardRow.missing_outcomes`), logged as a warning, and recorded in ``meta["missing"]``
(``{"policy", "meaning", "decisions": {router: {λ: count}}, "warnings": [...]}``), which
``leaderboard.json`` and ``predictions.parquet`` keep. On fully covered data nothing changes.

Besides the figures, :func:`evaluate` keeps what each router decided (:class:`RouterPredictions`:
its test choice at every λ, its ``predict_scores`` and the cost estimates its policy used), so a
report can recompute any curve or confidence interval later without refitting.

The result is a :class:`~routerlab.experiments.evaluate.Leaderboard`; its results directory is
described in :mod:`routerlab.experiments.evaluate.results`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from routerlab.data.features.value import Features
from routerlab.data.schema import RoutingData
from routerlab.decisions import CostScale, lam_key, policy_for
from routerlab.errors import SchemaError
from routerlab.experiments.evaluate.figures import _row, _simple_params, _sorted
from routerlab.experiments.evaluate.leaderboard import Leaderboard, LeaderboardRow, RouterPredictions
from routerlab.metrics import core as M
from routerlab.metrics.core import DEFAULT_MISSING, MISSING_MEANING, check_missing_policy
from routerlab.routers import BASELINES, Router, clone, describe, make_router
from routerlab.routers.pipeline import FeatureRouter

log = logging.getLogger(__name__)


def _reads_features(router: Router) -> bool:
    return bool(router.requires_features) or isinstance(router, FeatureRouter)


def _as_router(spec: str | Router) -> tuple[str, Router]:
    if isinstance(spec, FeatureRouter):
        return spec.label, clone(spec)  # "knn (hashing)": the encoder is part of the name
    if isinstance(spec, Router):
        return spec.name, clone(spec)  # never refit the caller's object in place
    return spec, make_router(spec)


def _named_routers(routers: Sequence[str | Router]) -> list[tuple[str, Router]]:
    """Each router with a unique leaderboard name: its registered name, or ``name(params)`` when the class repeats."""
    named = [_as_router(spec) for spec in routers]
    counts = Counter(name for name, _ in named)
    out = [(describe(r) if counts[name] > 1 else name, r) for name, r in named]
    seen: set[str] = set()
    for name, _ in out:
        if name in seen:
            raise SchemaError(
                f"Router {name!r} is listed twice with the same parameters; drop one, or change its parameters."
            )
        seen.add(name)
    return out


def evaluate(
    data: RoutingData,
    routers: Sequence[str | Router] = BASELINES,
    *,
    lams: Sequence[float] = (0.0,),
    train_splits: Sequence[str] = ("train",),
    test_split: str = "test",
    features: np.ndarray | Features | None = None,
    encoder: str | None = None,
    missing: str = DEFAULT_MISSING,
) -> Leaderboard:
    """Fit each router on ``train_splits`` and score it on ``test_split`` at each λ in ``lams``.

    ``missing`` is the missing-outcome policy (:mod:`routerlab.metrics.core`): ``"reroute"``
    (default) offers a router only the models with an outcome on each query; ``"zero"``, ``"skip"``
    and ``"error"`` let it choose freely and count, drop or refuse the choices on missing cells.
    Every decision on a cell with no outcome is counted, warned about and recorded (module doc).

    ``features`` (optional) is an (n_queries, d) matrix aligned with ``data``'s rows, or better
    :class:`~routerlab.data.features.Features` (which carry the encoder's identity), passed to
    routers as ``X`` (routers that use no features ignore it; a :class:`~routerlab.routers.FeatureRouter`
    checks the encoder). ``encoder`` (a registered name such as ``"hashing"``) encodes ``data``
    once here instead, when a router needs features. The encoder's identity is recorded with each
    feature-reading router's decisions (``RouterPredictions.encoder``). The result keeps the evaluated
    queries (``test``) and every router's decisions (``predictions``) for reports; write them with
    :meth:`Leaderboard.save_results`.
    """
    if not routers:
        raise ValueError("No routers to evaluate; pass router names such as ['oracle', 'best_single'].")
    policy = check_missing_policy(missing)
    for lam in lams:
        policy_for(lam)  # validates λ before any fitting
    train_mask = np.isin(data.splits, list(train_splits))
    test_mask = data.splits == test_split
    for label, mask, splits in (("training", train_mask, train_splits), ("test", test_mask, [test_split])):
        if not mask.any():
            raise SchemaError(
                f"{data.name!r} has no {label} queries (split {list(splits)}); its splits are {data.split_sizes()}."
            )
    test_rows = np.flatnonzero(test_mask & data.observed.any(axis=1))  # a query nobody answered cannot be scored
    train, test = data.subset(train_mask), data.subset(test_rows)
    named = _named_routers(routers)
    if features is not None and encoder is not None:
        raise ValueError("Give features= (already encoded) or encoder= (encode here), not both.")
    if encoder is not None and any(_reads_features(r) for _, r in named):
        from routerlab.data.features.value import featurize

        features = featurize(data, encoder)  # once, for every router
    feats = features if isinstance(features, Features) else None
    matrix = None if features is None else (feats.matrix if feats is not None else np.asarray(features))
    scale = CostScale.from_costs(train.cost, train.observed)
    rows: list[LeaderboardRow] = []
    predictions: list[RouterPredictions] = []
    decisions: dict[str, dict[str, int]] = {}
    warnings: list[str] = []
    for name, router in named:
        log.info("fitting %s on %d queries", name, train.n_queries)
        X_train: Any = None if matrix is None else matrix[train_mask]
        X_test: Any = None if matrix is None else matrix[test_rows]
        if isinstance(router, FeatureRouter):  # it checks the encoder of what it is given
            X_train = feats.subset(train_mask) if feats is not None else None
            X_test = feats.subset(test_rows) if feats is not None else None
        router.fit(train, X_train)
        decided = router.decide(test, X_test).renamed(name)  # scores and cost estimates, once
        used = decided.encoder or (feats.encoder if feats is not None and router.requires_features else None)
        offered = decided.restricted(test.observed) if policy == "reroute" else decided
        choices: dict[float, np.ndarray] = {}
        for lam in lams:
            wanted = decided.choose(lam=lam)
            hit = int(M.missing_decisions(Y=test.Y, choice=wanted).sum())
            choice = offered.choose(lam=lam) if policy == "reroute" else wanted
            choices[float(lam)] = choice
            decisions.setdefault(name, {})[lam_key(lam)] = hit
            if hit:
                message = (
                    f"{name} routed {hit} of {test.n_queries} test queries (λ={float(lam):g}) to models with no "
                    f"outcome; under missing={policy!r} they are {MISSING_MEANING[policy]}."
                )
                log.warning(message)
                warnings.append(message)
            rows.append(_row(name, _simple_params(router), test, choice, lam, scale, missing=policy, n_missing=hit))
        predictions.append(
            RouterPredictions(
                router=name,
                params=_simple_params(router),
                needs_outcomes=bool(router.needs_outcomes),
                choices=choices,
                scores=decided.scores,
                cost_estimate=decided.cost_estimate,
                encoder=used,
            )
        )
    from routerlab.audit import data_warnings  # the audit imports routers: kept out of module import

    checks = data_warnings(data)  # zero-cost rows with tokens, constant tokens, missing prices, alias names
    for line in checks:
        log.warning(line)
    return Leaderboard.on_test(
        test,
        dataset=data.name,
        split=test_split,
        cost_scale=(scale.lo, scale.hi),
        rows=_sorted(rows),
        meta={
            "train_splits": list(train_splits),
            "n_train": train.n_queries,
            "data_warnings": checks,
            "missing": {
                "policy": policy,
                "meaning": MISSING_MEANING[policy],
                "decisions": decisions,
                "warnings": warnings,
            },
        },
        predictions=tuple(predictions),
    )
