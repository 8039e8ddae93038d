"""From the gateway's decision log to offline figures: a router's off-policy value, and training data.

**Off-policy evaluation** (:func:`logged_bandit`, :func:`evaluate_on_log`). A logged request is a
bandit round: the query ``x_i`` (its text), the model the gateway tried first ``a_i`` (``chosen``),
the probability ``p_i`` that the logging policy tried it (``propensity``, exact under ε-exploration)
and the reward ``r_i`` (the ``feedback`` score). A record is used only when all of these belong
together: it was routed (a propensity), answered with status 200 **by the logged choice** (after a
fallback the feedback rates another model than ``a_i``), scored, and its text was logged
(``--log-queries``). Every other record is counted under the first reason that excludes it, never
dropped silently. The target router — a saved folder or a fitted :class:`~routerlab.routers.Router`
over the same pool — decides every used query at once under the target policy (λ or a budget), by
the same ``decide`` → ``choose`` path the gateway uses (:mod:`routerlab.serve.routing`), and
:func:`routerlab.metrics.ope.off_policy_value` gives IPS, SNIPS, DR and DM with bootstrap CIs.

**The reward model q̂ of DR and DM.** By default the logging router's own ``scores``, stored with
each record: its estimated quality of every model, made before the answer and its feedback were
known, so q̂ is independent of the rewards and DR stays unbiased with exact propensities
(Dudík, Langford & Li 2011, §3). ``reward_model="target"`` uses the target router's scores instead:
DM then is the target's belief about itself, which is optimistic when the target is overconfident.

**The logging probability of the target's action** (for the unsupported-record flag): with the
record's ε, its greedy model ``g`` and ``K`` admissible models, ``P[π(x)] = (1 − ε)·1[π(x) = g] +
ε/K`` when ``π(x)`` is admissible (:mod:`routerlab.serve.log`). ``K`` is recovered from the logged
propensity; when ``K`` is the pool size every model is admissible; otherwise (a budget excluded
some models) admissibility is known only for ``g`` and ``a_i`` and the probability is unknown (NaN).

**Training data** (:func:`routing_data_from_log`). Each scored, answered request with its text
becomes one row of a :class:`~routerlab.data.schema.RoutingData`: ``Y`` holds the feedback in the
column of the model that answered and NaN elsewhere (partial outcomes, one model per query),
``cost`` that call's USD cost. Splits hash the query text, so repeated queries never straddle
splits.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.data.splits import hash_split
from routerlab.decisions import Decisions, policy_for
from routerlab.metrics.ope import OffPolicyValue, off_policy_value
from routerlab.routers.base import Router
from routerlab.routers.persist import load_router
from routerlab.serve.routing import RequestRouter

log = logging.getLogger(__name__)

__all__ = [
    "LogEvaluation",
    "LoggedBandit",
    "RewardModel",
    "evaluate_on_log",
    "logged_bandit",
    "routing_data_from_log",
]

RewardModel = Literal["logged", "target"]
REWARD_MODELS: tuple[str, ...] = ("logged", "target")

# the reasons a record is left out, in the order they are tested, each with what would fix it
NOT_ROUTED = "not routed (pass-through or refused: no propensity)"
NOT_ANSWERED = "not answered (status other than 200)"
FALLBACK = "answered by a fallback model, not the logged choice"
NO_FEEDBACK = "no feedback"
NO_QUERY = "no query text"
NO_SCORES = "router scores do not cover the pool"
NO_COST = "no cost (the upstream reported no usage)"
OUTSIDE_POOL = "answered by a model outside the pool"
_FIXES = {
    NOT_ROUTED: "send requests with model 'router' so the gateway routes them and logs a propensity",
    NOT_ANSWERED: "only answered requests have an outcome",
    FALLBACK: "their feedback rates another model than the logged action",
    NO_FEEDBACK: "send scores with POST /v1/feedback {request_id, score}",
    NO_QUERY: "start the gateway with --log-queries so the log keeps each query's text",
    NO_SCORES: "the log holds traffic of another router; evaluate on that router's part of the log",
    NO_COST: "give the pool's prices and use upstreams that report usage",
    OUTSIDE_POOL: "widen --models to keep them",
}


class _Exclusions:
    """Counts of the records left out, by reason (in the order the reasons are tested)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, reason: str) -> None:
        self._counts[reason] = self._counts.get(reason, 0) + 1

    @property
    def counts(self) -> dict[str, int]:
        order = list(_FIXES)
        return {reason: self._counts[reason] for reason in sorted(self._counts, key=order.index)}

    def nothing_left(self, n_records: int, what: str) -> ValueError:
        parts = "; ".join(f"{n} {reason} ({_FIXES[reason]})" for reason, n in self.counts.items())
        return ValueError(f"None of the {n_records} logged records can be used {what}: {parts}.")

    @classmethod
    def partition(
        cls, records: Sequence[Mapping[str, Any]], exclusion: Callable[[Mapping[str, Any]], str | None], what: str
    ) -> tuple[list[Mapping[str, Any]], _Exclusions]:
        """The records ``exclusion`` keeps (it returns None for them) and the count of the others by reason.

        A ValueError naming every reason and its fix when none is kept.
        """
        kept: list[Mapping[str, Any]] = []
        left_out = cls()
        for rec in records:
            reason = exclusion(rec)
            if reason is None:
                kept.append(rec)
            else:
                left_out.add(reason)
        if not kept:
            raise left_out.nothing_left(len(records), what)
        return kept, left_out


def _first_failure(tests: Sequence[tuple[str, bool]]) -> str | None:
    return next((reason for reason, failed in tests if failed), None)


# ---------------------------------------------------------------------- the target router
def _load(router: Router | str | os.PathLike[str]) -> Router:
    return router if isinstance(router, Router) else load_router(router)


def target_decisions(router: Router, texts: Sequence[str]) -> Decisions:
    """``router``'s decisions on every query text at once, as the gateway makes them (one table, one encoder call)."""
    # no thread limit: an offline evaluation does not share its cores with an event loop
    decided = RequestRouter(router, cost_unit=getattr(router, "cost_unit_", None), threads=None).decide_many(texts)
    if decided.needs_outcomes:
        raise ValueError(
            f"router {decided.router!r} reads the outcomes to choose (an oracle); it cannot be evaluated on logged "
            "traffic. Give a router that decides from the query alone."
        )
    return decided


# ---------------------------------------------------------------------- off-policy evaluation
@dataclass(frozen=True, slots=True, eq=False)
class LoggedBandit:
    """The usable records of a log as bandit arrays, with the target router's choices on them.

    Model indices are columns of ``models`` (the target router's pool order). ``excluded`` maps a
    reason to the number of records it left out, of ``n_records`` read.
    """

    models: tuple[str, ...]
    request_ids: np.ndarray
    texts: np.ndarray
    actions: np.ndarray
    propensities: np.ndarray
    rewards: np.ndarray
    logged_scores: np.ndarray
    target_actions: np.ndarray
    target_scores: np.ndarray
    target_propensities: np.ndarray
    target: str
    policy: str
    reward_model: RewardModel
    n_records: int
    excluded: Mapping[str, int]

    @property
    def n(self) -> int:
        """How many records are used."""
        return len(self.actions)

    @property
    def q_hat(self) -> np.ndarray:
        """The reward model of DR and DM: the logging router's scores, or the target's (``reward_model``)."""
        return self.logged_scores if self.reward_model == "logged" else self.target_scores


def _bandit_exclusion(rec: Mapping[str, Any], pool: frozenset[str]) -> str | None:
    scores = rec.get("scores")
    return _first_failure(
        [
            (NOT_ROUTED, rec.get("propensity") is None),
            (NOT_ANSWERED, rec.get("status") != 200),
            (FALLBACK, rec.get("answered_by") != rec.get("chosen")),
            (NO_FEEDBACK, rec.get("feedback") is None),
            (NO_QUERY, not isinstance(rec.get("query"), str)),
            (NO_SCORES, not isinstance(scores, dict) or not pool <= set(scores) or rec.get("chosen") not in pool),
        ],
    )


def _check_pool(records: Iterable[Mapping[str, Any]], models: tuple[str, ...]) -> None:
    """The log's pool (the union of the routed records' scores keys) must be the router's."""
    logged: list[str] = []
    for rec in records:
        if rec.get("propensity") is not None and isinstance(rec.get("scores"), dict):
            logged.extend(m for m in rec["scores"] if m not in logged)
    if logged and set(logged) != set(models):
        raise ValueError(
            f"the log's routed requests were scored over the models {logged}, but the target router's pool is "
            f"{list(models)}; evaluate a router fitted on the logged pool."
        )


def _target_propensity(rec: Mapping[str, Any], target: str, m: int) -> float:
    """The logging policy's probability of ``target`` on this record (see the module doc); NaN when unknown."""
    eps = float(rec.get("epsilon") or 0.0)
    greedy, chosen, p = rec.get("greedy") or rec["chosen"], rec["chosen"], float(rec["propensity"])
    if eps <= 0:
        return 1.0 if target == greedy else 0.0
    k = eps / (p - (1 - eps)) if chosen == greedy else eps / p
    admissible = round(k) >= m or target in (greedy, chosen)
    if not admissible:
        return float("nan")
    return float((1 - eps) * (target == greedy) + eps / k)


def logged_bandit(
    records: Sequence[Mapping[str, Any]],
    router: Router | str | os.PathLike[str],
    *,
    lam: float = 0.0,
    budget: float | None = None,
    reward_model: RewardModel = "logged",
) -> LoggedBandit:
    """The usable records of ``records`` (:func:`routerlab.serve.log.read_log`) and ``router``'s choices on them.

    ``router`` is a saved router folder or a fitted router; it chooses under ``lam`` (or ``budget``).
    The reward is the record's feedback score. A ValueError when no record is usable (naming each
    reason and its fix) or when the router's pool is not the log's.
    """
    if reward_model not in REWARD_MODELS:
        raise ValueError(f"reward_model must be one of {', '.join(REWARD_MODELS)}. Got {reward_model!r}.")
    fitted = _load(router)
    models = tuple(fitted.model_names_)
    _check_pool(records, models)
    pool = frozenset(models)
    used, exclusions = _Exclusions.partition(
        records, lambda rec: _bandit_exclusion(rec, pool), "for off-policy evaluation"
    )
    column = {name: j for j, name in enumerate(models)}
    ids = [str(rec["request_id"]) for rec in used]
    texts = [str(rec["query"]) for rec in used]
    decided = target_decisions(fitted, texts)
    target = np.asarray(decided.choose(policy_for(lam=None if budget is not None else lam, budget=budget)))
    bandit = LoggedBandit(
        models=models,
        request_ids=np.array(ids, dtype=object),
        texts=np.array(texts, dtype=object),
        actions=np.array([column[rec["chosen"]] for rec in used], dtype=np.intp),
        propensities=np.array([float(rec["propensity"]) for rec in used]),
        rewards=np.array([float(rec["feedback"]) for rec in used]),
        logged_scores=np.array([[float(rec["scores"][name]) for name in models] for rec in used]),
        target_actions=target.astype(np.intp),
        target_scores=np.asarray(decided.scores, dtype=np.float64),
        target_propensities=np.array(
            [_target_propensity(rec, models[j], len(models)) for rec, j in zip(used, target, strict=True)]
        ),
        target=decided.router,
        policy=f"budget={budget:g}" if budget is not None else f"lambda={lam:g}",
        reward_model=reward_model,
        n_records=len(records),
        excluded=dict(exclusions.counts),
    )
    log.info("off-policy evaluation on %d of %d logged records; excluded %s", bandit.n, len(records), bandit.excluded)
    return bandit


@dataclass(frozen=True, slots=True, eq=False)
class LogEvaluation:
    """A target router's estimated value on a log (``value``) and the bandit arrays it came from."""

    bandit: LoggedBandit
    value: OffPolicyValue

    @property
    def n_unknown_support(self) -> int:
        """Records where the logging probability of the target's action could not be recovered (see module doc)."""
        return int(np.isnan(self.bandit.target_propensities).sum())


def evaluate_on_log(
    records: Sequence[Mapping[str, Any]],
    router: Router | str | os.PathLike[str],
    *,
    lam: float = 0.0,
    budget: float | None = None,
    reward_model: RewardModel = "logged",
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> LogEvaluation:
    """IPS, SNIPS, DR and DM estimates of ``router``'s value on the logged traffic, with bootstrap CIs.

    See :func:`logged_bandit` for which records count and :func:`routerlab.metrics.ope.off_policy_value`
    for the estimators.
    """
    bandit = logged_bandit(records, router, lam=lam, budget=budget, reward_model=reward_model)
    value = off_policy_value(
        actions=bandit.actions,
        propensities=bandit.propensities,
        rewards=bandit.rewards,
        target_actions=bandit.target_actions,
        reward_model=bandit.q_hat,
        target_propensities=bandit.target_propensities,
        n_resamples=n_resamples,
        seed=seed,
        level=level,
    )
    return LogEvaluation(bandit, value)


# ---------------------------------------------------------------------- training data
def _log_pool(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The models of the log: its scores' keys in first-seen order, then models that answered pass-throughs."""
    names: list[str] = []
    answered: list[str] = []
    for rec in records:
        if isinstance(rec.get("scores"), dict):
            names.extend(m for m in rec["scores"] if m not in names)
        who = rec.get("answered_by")
        if isinstance(who, str) and who not in answered:
            answered.append(who)
    return names + [m for m in answered if m not in names]


def _check_fractions(val: float, test: float) -> dict[str, float]:
    for flag, value in (("val", val), ("test", test)):
        if not 0 <= value < 1:
            raise ValueError(f"--{flag} is the share of queries in the {flag} split, in [0, 1). Got {value!r}.")
    if val + test >= 1:
        raise ValueError(f"--val + --test must leave some queries for train (sum < 1). Got {val} + {test}.")
    return {"train": 1.0 - val - test, "val": val, "test": test}


def _row_exclusion(rec: Mapping[str, Any], pool: frozenset[str]) -> str | None:
    cost = rec.get("cost_usd")
    return _first_failure(
        [
            (NOT_ANSWERED, rec.get("status") != 200 or not isinstance(rec.get("answered_by"), str)),
            (NO_FEEDBACK, rec.get("feedback") is None),
            (NO_QUERY, not isinstance(rec.get("query"), str)),
            (OUTSIDE_POOL, rec.get("answered_by") not in pool),
            (NO_COST, cost is None or not np.isfinite(float(cost)) or float(cost) < 0),
        ],
    )


def routing_data_from_log(
    records: Sequence[Mapping[str, Any]],
    *,
    models: Sequence[str] | None = None,
    val: float = 0.1,
    test: float = 0.3,
    seed: int = 0,
    name: str = "serve-log",
    source: str | None = None,
) -> RoutingData:
    """One row per scored, answered request with its text: ``Y`` = feedback of the model that answered, NaN elsewhere.

    ``models`` (default: the log's pool, see :func:`_log_pool`) fixes the columns; ``val`` and
    ``test`` are the split shares, assigned by a hash of the query text with ``seed``
    (:func:`routerlab.data.splits.hash_split`). ``meta`` records the source log, the counts and the
    exclusions. A ValueError when no record is usable, naming each reason and its fix.
    """
    fractions = _check_fractions(val, test)
    pool = list(models) if models is not None else _log_pool(records)
    if not pool:
        raise ValueError("the log names no model (no scores and no answered request); nothing to build a pool from.")
    keep = frozenset(pool)
    used, exclusions = _Exclusions.partition(records, lambda rec: _row_exclusion(rec, keep), "as training data")
    n, m = len(used), len(pool)
    column = {model: j for j, model in enumerate(pool)}
    rows = np.arange(n)
    cols = np.array([column[rec["answered_by"]] for rec in used], dtype=np.intp)

    def cell(key: str) -> np.ndarray:
        out = np.full((n, m), np.nan)
        values = [rec.get(key) for rec in used]
        out[rows, cols] = [np.nan if v is None else float(v) for v in values]
        return out

    texts = [str(rec["query"]) for rec in used]
    meta = {
        "source_log": source,
        "records": len(records),
        "rows": n,
        "excluded": dict(exclusions.counts),
        "outcomes": "partial: Y is the feedback score of the model that answered; NaN for the other models",
        "split_method": f"hash of the query text (seed {seed}): val {val:g}, test {test:g}",
        "split_seed": seed,
    }
    data = RoutingData(
        name=name,
        query_ids=np.array([str(rec["request_id"]) for rec in used], dtype=object),
        sources=np.array([name] * n, dtype=object),
        splits=hash_split(texts, fractions, seed),
        models=tuple(ModelInfo(model) for model in pool),
        Y=cell("feedback"),
        cost=cell("cost_usd"),
        cost_unit="usd",
        texts=np.array(texts, dtype=object),
        tokens_in=cell("prompt_tokens"),
        tokens_out=cell("completion_tokens"),
        meta=meta,
    )
    log.info("%d training rows from %d logged records; excluded %s", n, len(records), meta["excluded"])
    return data
