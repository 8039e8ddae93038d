"""FrugalGPT-style cascades: call a cheap model, score its answer, escalate when unsure.

`routing-plateau.txt` (arXiv:2606.07587) §2 places cascades [15, 73, 74, 66] "at the edge of the single-shot
setting"; FrugalGPT (Chen et al., 2023, its "LLM cascade" strategy) calls an ordered chain of models, scores
each answer with a learned scorer g(query, answer) ∈ [0, 1] and returns the first answer whose score
reaches that stage's threshold; the chain and the thresholds are chosen on training data under a budget.
Offline, on a benchmark that holds every model's response (:mod:`routerlab.data.responses`), a cascade
is replayed exactly: the answer it returns is the answering model's recorded one, and its cost is the sum
of **every** model it called, the rejected ones included.

A cascade is not a :class:`~routerlab.routers.base.Router` (one model per query, one call): it reads the
answers of the models it calls, so it is fitted and run with a :class:`~routerlab.data.responses.Responses`
beside the data and is not in the router registry.

What is learned, and from what (no test outcome is ever read):

* **Scorer** (one per model, :class:`AnswerScorer`): a logistic regression (scikit-learn, liblinear, L2,
  ``C``) on hashed word uni- and bigrams of the query and, in a separate block, of the answer (scikit-learn's
  ``HashingVectorizer``, ``n_features`` each, single-character tokens kept so that an MCQ answer "B" counts),
  plus three answer features: no response, empty response, log length. Target: ``Y[q, m] ≥ 0.5`` on the
  training queries where the model has an outcome. A model whose training labels are all one class gets
  a constant scorer (its rate).
* **Chain and thresholds** (:meth:`Cascade.fit`): every scorer is also fitted ``n_folds`` times to score
  the training queries out of fold (folds by a hash of the query id). The candidate chains are the given
  ``chain``, or every subset of at most ``max_stages`` models called cheapest first (mean training cost);
  a stage's threshold grid is 0 (always accept) and ``n_thresholds − 1`` quantiles of its out-of-fold
  scores. Every (chain, thresholds) is replayed on the out-of-fold scores of the training queries; the
  Pareto-optimal ones (no other is both cheaper and better) form :attr:`Cascade.frontier_`, the cascade's
  cost–quality curve, and :meth:`Cascade.policy_for_budget` picks FrugalGPT's "best quality within a
  budget" from it.

Training rows are put in query-id order before anything is fitted, so a permutation of the training
queries changes nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from routerlab.data.responses import Responses
from routerlab.data.schema import RoutingData
from routerlab.errors import NotFittedError, SchemaError

log = logging.getLogger(__name__)

#: characters of a query the scorer reads (responses are bounded when loaded, ResponseLimits)
QUERY_CHARS = 8_000
_TOKENS = r"(?u)\b\w+\b"  # single characters kept: "B" is a whole MCQ answer


# --------------------------------------------------------------------------- the policy and its replay


@dataclass(frozen=True, slots=True)
class CascadePolicy:
    """An ordered chain of models (called in this order) and one threshold per stage but the last."""

    chain: tuple[str, ...]
    thresholds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.chain:
            raise SchemaError("CascadePolicy.chain is empty; a cascade calls at least one model.")
        if len(set(self.chain)) != len(self.chain):
            raise SchemaError(f"CascadePolicy.chain calls a model twice: {list(self.chain)}.")
        if len(self.thresholds) != len(self.chain) - 1:
            raise SchemaError(
                f"CascadePolicy has {len(self.chain)} stages and {len(self.thresholds)} thresholds; give one threshold "
                "per stage but the last (which always answers)."
            )
        for t in self.thresholds:
            if not np.isfinite(t) or t < 0:
                raise SchemaError(f"CascadePolicy thresholds must be finite and >= 0. Got {list(self.thresholds)}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"chain": list(self.chain), "thresholds": [float(t) for t in self.thresholds]}


@dataclass(frozen=True, slots=True, eq=False)
class CascadeRun:
    """What a cascade did on each query.

    ``answered[q]`` is the model column whose answer was returned (-1 when no model of the chain was
    available for q), ``stage[q]`` its position in the chain, ``calls[q, m]`` whether model m was called,
    ``cost[q]`` the sum of the called models' costs.
    """

    answered: np.ndarray
    stage: np.ndarray
    calls: np.ndarray
    cost: np.ndarray

    @property
    def unanswered(self) -> int:
        """Queries on which no model of the chain was available."""
        return int((self.answered < 0).sum())

    def quality(self, Y: np.ndarray) -> np.ndarray:
        """Each query's quality: ``Y`` of the answering model; 0 for a query no chain model could answer."""
        Y = np.asarray(Y, dtype=np.float64)
        rows = np.arange(len(self.answered))
        got = Y[rows, np.maximum(self.answered, 0)]
        out: np.ndarray = np.where(self.answered >= 0, np.nan_to_num(got, nan=0.0), 0.0)
        return out


def run_cascade(
    *,
    confidence: np.ndarray,
    cost: np.ndarray,
    chain: Sequence[int],
    thresholds: Sequence[float],
    available: np.ndarray | None = None,
) -> CascadeRun:
    """Replay a cascade: call ``chain[0]``, accept its answer when ``confidence ≥ thresholds[0]``, else go on.

    FrugalGPT's LLM cascade: the first stage whose score reaches its threshold answers; the last
    *available* stage of the chain always answers (a threshold of 0 accepts every answer, one above 1
    none). A model not ``available`` for a query (no outcome recorded for it) is skipped: not called, not
    charged. ``cost[q]`` sums the cost of every model called on q. ``confidence`` and ``cost`` are
    (n_queries, n_models); ``chain`` holds model columns.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    price = np.asarray(cost, dtype=np.float64)
    n, n_models = conf.shape
    if price.shape != conf.shape:
        raise SchemaError(f"cost has shape {price.shape} but confidence has {conf.shape}; one per (query, model).")
    chain = [int(m) for m in chain]
    if len(thresholds) != len(chain) - 1:
        raise SchemaError(f"{len(chain)} stages need {len(chain) - 1} thresholds. Got {len(thresholds)}.")
    avail = np.ones((n, n_models), dtype=bool) if available is None else np.asarray(available, dtype=bool)
    on_chain = avail[:, chain]
    # the last available stage answers whatever its score: later stages cannot be called
    last = np.where(on_chain.any(axis=1), len(chain) - 1 - np.argmax(on_chain[:, ::-1], axis=1), -1)
    answered = np.full(n, -1, dtype=np.intp)
    stage = np.full(n, -1, dtype=np.intp)
    calls = np.zeros((n, n_models), dtype=bool)
    spent = np.zeros(n)
    done = np.zeros(n, dtype=bool)
    for k, m in enumerate(chain):
        active = ~done & on_chain[:, k]
        calls[active, m] = True
        spent[active] += price[active, m]
        passes = conf[:, m] >= thresholds[k] if k < len(chain) - 1 else np.ones(n, dtype=bool)
        accept = active & (passes | (last == k))
        answered[accept] = m
        stage[accept] = k
        done |= accept
    for arr in (answered, stage, calls, spent):
        arr.setflags(write=False)
    return CascadeRun(answered=answered, stage=stage, calls=calls, cost=spent)


def sweep_chain(
    *,
    confidence: np.ndarray,
    cost: np.ndarray,
    quality: np.ndarray,
    chain: Sequence[int],
    grid: Sequence[Sequence[float]],
    available: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean cost and mean quality of :func:`run_cascade` for each threshold vector of ``grid``, at once.

    The same replay, broadcast over the thresholds instead of looped: ``grid`` is the product of one
    list of thresholds per stage but the last, in ``itertools.product`` order (as :meth:`Cascade._grid`
    builds it) or any list of threshold vectors. ``quality``/``cost`` must be 0 where not available.
    """
    chain = [int(m) for m in chain]
    thresholds = np.asarray(grid, dtype=np.float64).reshape(len(grid), len(chain) - 1)
    n = confidence.shape[0]
    on_chain = np.asarray(available, dtype=bool)[:, chain]
    last = np.where(on_chain.any(axis=1), len(chain) - 1 - np.argmax(on_chain[:, ::-1], axis=1), -1)
    done = np.zeros((len(grid), n), dtype=bool)
    spent = np.zeros((len(grid), n))
    got = np.zeros((len(grid), n))
    for k, m in enumerate(chain):
        active = ~done & on_chain[:, k]
        spent += active * cost[:, m]
        if k < len(chain) - 1:
            passes = confidence[None, :, m] >= thresholds[:, k : k + 1]
        else:
            passes = np.ones((1, n), dtype=bool)
        accept = active & (passes | (last == k))
        got += accept * quality[:, m]
        done |= accept
    return spent.mean(axis=1), got.mean(axis=1)


# --------------------------------------------------------------------------- the scorer


def _hashing(n_features: int) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        n_features=n_features, alternate_sign=False, ngram_range=(1, 2), norm="l2", token_pattern=_TOKENS
    )


def query_features(queries: Sequence[str | None], *, n_features: int = 2**15) -> sparse.csr_matrix:
    """Hashed word uni- and bigrams of the queries, cut to :data:`QUERY_CHARS` characters (L2-normalised rows)."""
    out: sparse.csr_matrix = _hashing(n_features).transform([(t or "")[:QUERY_CHARS] for t in queries])
    return out


def pair_features(
    queries: Sequence[str | None],
    answers: Sequence[str | None],
    *,
    n_features: int = 2**15,
    query: sparse.csr_matrix | None = None,
) -> sparse.csr_matrix:
    """Hashed (query, answer) features: query n-grams | answer n-grams | [no response, empty, log length].

    A missing answer (None) contributes no answer n-grams and sets the "no response" feature; it is never
    read as "". ``query`` is :func:`query_features` of ``queries`` when already computed.
    """
    q = query_features(queries, n_features=n_features) if query is None else query
    a = _hashing(n_features).transform(["" if t is None else t for t in answers])
    missing = np.array([t is None for t in answers], dtype=np.float64)
    empty = np.array([t is not None and not t.strip() for t in answers], dtype=np.float64)
    length = np.array([np.log1p(len(t)) / 10.0 if t is not None else 0.0 for t in answers])
    extra = sparse.csr_matrix(np.column_stack([missing, empty, length]))
    out: sparse.csr_matrix = sparse.hstack([q, a, extra], format="csr")
    return out


@dataclass(frozen=True, slots=True, eq=False)
class AnswerScorer:
    """P̂(answer correct | query, answer) for one model: a fitted logistic regression, or a constant rate."""

    model: str
    estimator: Any | None
    rate: float
    n_train: int

    def predict(self, X: sparse.csr_matrix) -> np.ndarray:
        """Scores in [0, 1], one per row of ``X``."""
        if self.estimator is None:
            return np.full(X.shape[0], self.rate)
        out: np.ndarray = self.estimator.predict_proba(X)[:, 1]
        return out


def fit_scorer(model: str, X: sparse.csr_matrix, label: np.ndarray, *, C: float) -> AnswerScorer:
    """Fit one model's scorer on its labelled rows (``label`` 0/1); constant when one class only."""
    rate = float(label.mean()) if len(label) else 0.0
    if len(np.unique(label)) < 2:
        return AnswerScorer(model, None, rate, len(label))
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression(C=C, solver="liblinear", max_iter=1000)
    est.fit(X, label)
    return AnswerScorer(model, est, rate, len(label))


def _fold_of(query_ids: Sequence[str], n_folds: int, seed: int) -> np.ndarray:
    """A fold per query from a hash of its id: independent of row order."""
    out = np.empty(len(query_ids), dtype=np.intp)
    for i, q in enumerate(query_ids):
        digest = hashlib.blake2b(f"{seed}:{q}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little") % n_folds
    return out


# --------------------------------------------------------------------------- the cascade


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """One (chain, thresholds) with its mean cost and quality on the training queries' out-of-fold scores."""

    policy: CascadePolicy
    cost: float
    quality: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.policy.to_dict(), "train_cost": self.cost, "train_quality": self.quality}


class Cascade:
    """A FrugalGPT-style cascade with learned per-model answer scorers (module doc).

    Hyper-parameters (keyword-only, stored unchanged): ``chain`` (model names called in this order; None =
    search every cheapest-first chain of at most ``max_stages`` models), ``max_stages``, ``n_thresholds``
    (threshold levels per stage), ``n_folds`` (out-of-fold scoring of the training queries),
    ``n_features`` (hash buckets per text), ``C`` (inverse L2 strength), ``random_state`` (fold hash).
    """

    def __init__(
        self,
        *,
        chain: Sequence[str] | None = None,
        max_stages: int = 3,
        n_thresholds: int = 10,
        n_folds: int = 5,
        n_features: int = 2**15,
        C: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.chain = chain
        self.max_stages = max_stages
        self.n_thresholds = n_thresholds
        self.n_folds = n_folds
        self.n_features = n_features
        self.C = C
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as given."""
        return {
            "chain": None if self.chain is None else list(self.chain),
            "max_stages": self.max_stages,
            "n_thresholds": self.n_thresholds,
            "n_folds": self.n_folds,
            "n_features": self.n_features,
            "C": self.C,
            "random_state": self.random_state,
        }

    # ------------------------------------------------------------------ fit
    def validate(self, data: RoutingData) -> None:
        """Raise a SchemaError naming the fix when the hyper-parameters or ``data`` cannot be fitted."""
        for name, low in (("max_stages", 1), ("n_thresholds", 1), ("n_folds", 2), ("n_features", 8)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise SchemaError(f"Cascade.{name} must be an integer >= {low}. Got {value!r}.")
        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise SchemaError(f"Cascade.C must be > 0. Got {self.C!r}.")
        if data.texts is None:
            raise SchemaError(f"{data.name!r} has no query texts; the cascade's scorer reads (query, answer) pairs.")
        if self.chain is not None:
            for m in self.chain:
                data.model_index(m)  # a clear error for an unknown name
            CascadePolicy(tuple(self.chain), (0.0,) * (len(self.chain) - 1))

    def _features(self, data: RoutingData, responses: Responses) -> list[sparse.csr_matrix]:
        texts = [str(t) for t in data.texts] if data.texts is not None else [""] * data.n_queries
        query = query_features(texts, n_features=self.n_features)  # once: every model's pairs share it
        return [
            pair_features(texts, responses.text[:, j].tolist(), n_features=self.n_features, query=query)
            for j in range(data.n_models)
        ]

    def fit(self, train: RoutingData, responses: Responses) -> Cascade:
        """Fit the scorers, score the training queries out of fold, and keep the Pareto frontier of policies."""
        self.validate(train)
        order = np.argsort(train.query_ids.astype(str), kind="stable")  # canonical: row order cannot matter
        train = train.subset(order)
        resp = responses.aligned(train)
        feats = self._features(train, resp)
        observed = train.observed
        label = np.where(observed, train.Y >= 0.5, False)
        folds = _fold_of(train.query_ids.tolist(), self.n_folds, self.random_state)
        oof = np.zeros((train.n_queries, train.n_models))
        scorers = []
        for j, name in enumerate(train.model_names):
            rows = np.flatnonzero(observed[:, j])
            scorers.append(fit_scorer(name, feats[j][rows], label[rows, j].astype(int), C=self.C))
            for f in range(self.n_folds):
                fit_rows = rows[folds[rows] != f]
                held = np.flatnonzero(folds == f)
                part = fit_scorer(name, feats[j][fit_rows], label[fit_rows, j].astype(int), C=self.C)
                oof[held, j] = part.predict(feats[j][held])
        self.model_names_ = tuple(train.model_names)
        self.scorers_ = tuple(scorers)
        self.mean_cost_ = train.mean_cost()
        self.oof_confidence_ = oof
        self.frontier_ = self._frontier(train, oof)
        log.info("cascade: %d policies on the frontier", len(self.frontier_))
        return self

    def _chains(self, train: RoutingData) -> list[tuple[int, ...]]:
        if self.chain is not None:
            return [tuple(train.model_index(m) for m in self.chain)]
        usable = [j for j in range(train.n_models) if train.observed[:, j].any()]
        by_cost = sorted(usable, key=lambda j: (float(self.mean_cost_[j]), train.model_names[j]))
        out: list[tuple[int, ...]] = []
        for k in range(1, min(self.max_stages, len(by_cost)) + 1):
            out += list(itertools.combinations(by_cost, k))  # combinations keep the cheapest-first order
        return out

    def _grid(self, oof: np.ndarray, observed: np.ndarray, chain: tuple[int, ...]) -> list[tuple[float, ...]]:
        levels = np.arange(1, self.n_thresholds) / self.n_thresholds
        per_stage = []
        for m in chain[:-1]:
            scores = oof[observed[:, m], m]
            qs = np.quantile(scores, levels) if scores.size else np.array([])
            per_stage.append(sorted({0.0, *(float(v) for v in qs)}))
        if len(per_stage) <= 3:
            return list(itertools.product(*per_stage))
        # a long given chain: one quantile level shared by every stage (a full grid would be levels^stages)
        shared = [(0.0,) * len(per_stage)]
        for i in range(len(levels)):
            shared.append(tuple(s[min(i + 1, len(s) - 1)] for s in per_stage))
        return shared

    def _frontier(self, train: RoutingData, oof: np.ndarray) -> tuple[OperatingPoint, ...]:
        observed = train.observed
        cost = np.where(observed, train.cost, 0.0)
        quality = np.where(observed, train.Y, 0.0)
        points: list[OperatingPoint] = []
        for chain in self._chains(train):
            grid = self._grid(oof, observed, chain)
            costs, quals = sweep_chain(
                confidence=oof, cost=cost, quality=quality, chain=chain, grid=grid, available=observed
            )
            names = tuple(train.model_names[m] for m in chain)
            for thresholds, c, q in zip(grid, costs, quals, strict=True):
                points.append(OperatingPoint(CascadePolicy(names, tuple(thresholds)), float(c), float(q)))
        return pareto_frontier(points)

    # ------------------------------------------------------------------ use
    def _require_fitted(self) -> None:
        if not hasattr(self, "frontier_"):
            raise NotFittedError("This Cascade is not fitted yet; call fit(train, responses) first.")

    def confidence(self, data: RoutingData, responses: Responses) -> np.ndarray:
        """P̂(correct) of each model's recorded answer, (n_queries, n_models); reads texts and responses only."""
        self._require_fitted()
        if tuple(data.model_names) != self.model_names_:
            raise SchemaError(
                f"The cascade was fitted on models {list(self.model_names_)}; {data.name!r} has "
                f"{data.model_names}. Use the same pool (data.select_models(...))."
            )
        if data.texts is None:
            raise SchemaError(f"{data.name!r} has no query texts; the cascade's scorer reads (query, answer) pairs.")
        resp = responses.aligned(data)
        feats = self._features(data, resp)
        return np.column_stack([s.predict(x) for s, x in zip(self.scorers_, feats, strict=True)])

    def run(
        self,
        data: RoutingData,
        responses: Responses,
        policy: CascadePolicy,
        *,
        available: np.ndarray | None = None,
        confidence: np.ndarray | None = None,
    ) -> CascadeRun:
        """Replay ``policy`` on ``data`` (its costs; ``available`` = models that may be called per query).

        ``confidence`` (from :meth:`confidence`) saves rescoring when several policies run on the same data.
        """
        conf = self.confidence(data, responses) if confidence is None else confidence
        chain = [data.model_index(m) for m in policy.chain]
        cost = np.where(np.isfinite(data.cost), data.cost, 0.0)
        return run_cascade(confidence=conf, cost=cost, chain=chain, thresholds=policy.thresholds, available=available)

    def policy_for_budget(self, budget: float) -> OperatingPoint:
        """The frontier's best training quality with mean training cost ≤ ``budget`` (FrugalGPT's budgeted choice).

        Below the cheapest frontier point, that point (the cheapest policy there is).
        """
        self._require_fitted()
        within = [p for p in self.frontier_ if p.cost <= budget]
        return within[-1] if within else self.frontier_[0]


def pareto_frontier(points: Sequence[OperatingPoint]) -> tuple[OperatingPoint, ...]:
    """The points no other beats on both cost (lower) and quality (higher), cheapest first.

    Ties keep the first point given (so the result depends on the candidates' order, not on floats' noise).
    """
    ranked = sorted(enumerate(points), key=lambda ip: (ip[1].cost, -ip[1].quality, ip[0]))
    out: list[OperatingPoint] = []
    best = -np.inf
    for _, p in ranked:
        if p.quality > best:
            out.append(p)
            best = p.quality
    return tuple(out)
