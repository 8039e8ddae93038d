"""Core routing metrics: pure functions of outcomes, costs and a router's choices.

All take keyword-only numpy inputs: ``Y`` (n_queries, n_models) quality in [0, 1] with NaN for
"no outcome", ``cost`` of the same shape, and ``choice`` (n_queries,) the chosen column per query.

Missing outcomes
----------------
`routing-plateau.txt` (arXiv:2606.07587) §3 defines ``A_r`` and ``A_oracle`` for a complete ``Y`` (its Limitations
section: "our analysis assumes per-query correctness labels for every (query, model) pair"). Real
benchmarks have holes, so what a decision that lands on a cell with no outcome counts as is ONE
named policy, :data:`MissingPolicy`, applied by one function, :func:`chosen_outcomes`, and taken by
every metric here as ``missing=`` (default :data:`DEFAULT_MISSING`, ``"reroute"``):

``"reroute"`` (default)
    A model with no outcome on a query is not offered for it: routers choose among the models
    with an outcome (``select(..., available=observed)``), so a scored choice never lands on a
    missing cell; one that does is an error. :func:`routerlab.experiments.evaluate.evaluate`
    counts, warns about and records how many decisions this re-routed.
``"zero"``
    The decision counts as a failed call: quality 0, at its recorded cost, or where none was
    recorded the largest per-call cost in ``cost`` (never free by accident). Every query counts,
    so the oracle still bounds the result.
``"skip"``
    The query is left out of that router's figures: quality and cost are means over the queries
    whose chosen cell has an outcome, and the oracle gap and CNA compare with the oracle on those
    same queries (so the gap is never negative). Undefined (an error) when nothing is left.
``"error"``
    Refuse: a :class:`~routerlab.errors.SchemaError` naming the first such cell.

References
----------
* Routing accuracy ``A_r = 1/N Σ_i Y_{i, r(q_i)}`` and oracle ``A_oracle = 1/N Σ_i max_m Y_{i,m}``:
  `routing-plateau.txt` §3.
* Cost-utility ``U(λ) = (1 − λ)·ŝ − λ·c̃``: `routing-plateau.txt` §3 and App. E (applied post hoc).
* Ceiling-normalised accuracy ``CNA = A_r / ceiling``, the ceiling being the fraction of queries
  solved by at least one model: `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing")
  §4.2, Eq. (1).
* Performance gap recovered ``PGR = (q_r − q_weak) / (q_strong − q_weak)``: RouteLLM (Ong et al.),
  as discussed in `unsolvability-ceiling-artifacts.txt` §4.2 and `routerxbench.txt` (arXiv:2602.11877) §2.

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from routerlab.decisions.policy import CostScale, utility_terms
from routerlab.errors import SchemaError

MissingPolicy = Literal["reroute", "zero", "skip", "error"]
#: the policies, in documentation order
MISSING_POLICIES: tuple[MissingPolicy, ...] = get_args(MissingPolicy)
#: what every metric and :func:`~routerlab.experiments.evaluate.evaluate` use unless told otherwise
DEFAULT_MISSING: MissingPolicy = "reroute"
#: what a decision on a missing outcome counts as, in words (for warnings and reports)
MISSING_MEANING: dict[MissingPolicy, str] = {
    "reroute": "re-routed to the router's best choice among the models with an outcome",
    "zero": "a failed call (quality 0, at its recorded cost or else the split's largest per-call cost)",
    "skip": "left out of that router's quality, cost, oracle gap and CNA",
    "error": "an error",
}


def _check(Y: np.ndarray, choice: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2:
        raise SchemaError(f"Y must be a (n_queries, n_models) matrix. Got shape {Y.shape}.")
    if Y.shape[0] == 0:
        raise SchemaError("Y has no queries; a metric over 0 queries is undefined. Check the split is not empty.")
    if choice is None:
        return Y, None
    choice = np.asarray(choice)
    if choice.shape != (Y.shape[0],):
        raise SchemaError(f"choice must have one entry per query ({Y.shape[0]}). Got shape {choice.shape}.")
    if not np.issubdtype(choice.dtype, np.integer) or choice.min() < 0 or choice.max() >= Y.shape[1]:
        raise SchemaError(f"choice must hold model column indices in [0, {Y.shape[1] - 1}]. Got {choice[:5]}...")
    return Y, choice


def chosen(values: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """``values[i, choice[i]]`` for every query i."""
    return np.take_along_axis(np.asarray(values), np.asarray(choice)[:, None], axis=1)[:, 0]


def check_missing_policy(missing: str) -> MissingPolicy:
    """``missing`` as a :data:`MissingPolicy`, or an error naming the field, the value and the choices."""
    for policy in MISSING_POLICIES:
        if missing == policy:
            return policy
    raise ValueError(f"missing must be one of {', '.join(map(repr, MISSING_POLICIES))}. Got {missing!r}.")


def missing_decisions(*, Y: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Boolean (n_queries,): True where the chosen cell ``Y[i, choice[i]]`` has no outcome."""
    Y, checked = _check(Y, choice)
    assert checked is not None
    hit: np.ndarray = np.isnan(chosen(Y, checked))
    return hit


@dataclass(frozen=True, slots=True)
class ChosenOutcomes:
    """A router's decisions as the metrics count them under one :data:`MissingPolicy`.

    ``rows`` are the query rows that count (all of them except under ``"skip"``), ``quality`` and
    ``cost`` (None when no cost was given) the counted value of each, and ``n_missing`` how many
    decisions landed on a cell with no outcome (the ones the policy decided about).
    """

    missing: MissingPolicy
    rows: np.ndarray
    quality: np.ndarray
    cost: np.ndarray | None
    n_missing: int


def chosen_outcomes(
    *, Y: np.ndarray, choice: np.ndarray, missing: str = DEFAULT_MISSING, cost: np.ndarray | None = None
) -> ChosenOutcomes:
    """Apply the missing-outcome policy (module doc) to ``choice``: the one place it is decided.

    Raises :class:`SchemaError` under ``"error"`` and ``"reroute"`` when a choice lands on a cell
    with no outcome, under ``"skip"`` when every choice does, and when a counted choice has no
    recorded cost.
    """
    policy = check_missing_policy(missing)
    Y, checked = _check(Y, choice)
    assert checked is not None
    got = chosen(Y, checked)
    hit = np.isnan(got)
    n_missing = int(hit.sum())
    if n_missing and policy in ("error", "reroute"):
        i = int(np.flatnonzero(hit)[0])
        raise SchemaError(
            f"The router chose model column {int(checked[i])} for query row {i}, which has no outcome; "
            f"{n_missing} choices land on missing cells (missing={policy!r}). Route with available=data.observed "
            "(what missing='reroute' means), or pass missing='zero' or missing='skip' to count them."
        )
    rows = np.flatnonzero(~hit) if policy == "skip" else np.arange(len(got))
    if len(rows) == 0:
        raise SchemaError(
            f"All {len(got)} choices land on cells with no outcome, so under missing='skip' nothing is left to "
            "score. Use missing='zero' to count them as failed calls, or check the model's coverage."
        )
    quality = np.where(hit, 0.0, got)[rows]
    costs = None
    if cost is not None:
        cost_arr = np.asarray(cost, dtype=np.float64)
        if cost_arr.shape != Y.shape:
            raise SchemaError(f"cost must have the shape of Y {Y.shape}. Got {cost_arr.shape}.")
        per_call = chosen(cost_arr, checked)
        unknown = ~np.isfinite(per_call) & hit
        if unknown.any() and policy == "zero":
            finite = cost_arr[np.isfinite(cost_arr)]
            if finite.size == 0:
                raise SchemaError("cost has no finite entry; cannot price the calls that have no outcome.")
            per_call = np.where(unknown, finite.max(), per_call)
        costs = per_call[rows]
        if not np.isfinite(costs).all():
            i = int(rows[np.flatnonzero(~np.isfinite(costs))[0]])
            raise SchemaError(f"The chosen call for query row {i} has no recorded cost; cannot average cost.")
    return ChosenOutcomes(policy, rows, quality, costs, n_missing)


def routing_accuracy_score(*, Y: np.ndarray, choice: np.ndarray, missing: str = DEFAULT_MISSING) -> float:
    """Mean quality of the chosen models, ``A_r = 1/N Σ_i Y[i, r(q_i)]`` (`routing-plateau.txt` (arXiv:2606.07587) §3).

    A choice with no outcome counts as ``missing`` says (module doc, :func:`chosen_outcomes`).
    """
    return float(chosen_outcomes(Y=Y, choice=choice, missing=missing).quality.mean())


def oracle_accuracy_score(*, Y: np.ndarray) -> float:
    """``A_oracle = 1/N Σ_i max_m Y[i, m]`` over observed outcomes (an upper bound no router sees)."""
    Y, _ = _check(Y)
    no_outcome = np.isnan(Y).all(axis=1)
    if no_outcome.any():
        raise SchemaError(
            f"Query row {int(np.flatnonzero(no_outcome)[0])} has no outcome for any model; drop such queries."
        )
    return float(np.nanmax(Y, axis=1).mean())


def ceiling_score(*, Y: np.ndarray) -> float:
    """The empirical ceiling: share of queries solved by at least one model.

    For 0/1 labels this is ``1/N Σ_i max_m Y[i, m]``, i.e. the oracle accuracy; for graded scores
    the same expression is the best quality any router could reach, which is what CNA divides by.
    """
    return oracle_accuracy_score(Y=Y)


def oracle_gap_loss(*, Y: np.ndarray, choice: np.ndarray, missing: str = DEFAULT_MISSING) -> float:
    """``A_oracle − A_r``: the headroom the router leaves, on the queries that count under ``missing``."""
    counted = chosen_outcomes(Y=Y, choice=choice, missing=missing)
    Y = np.asarray(Y, dtype=np.float64)
    return oracle_accuracy_score(Y=Y[counted.rows]) - float(counted.quality.mean())


def cna_score(*, Y: np.ndarray, choice: np.ndarray, missing: str = DEFAULT_MISSING) -> float:
    """Ceiling-normalised accuracy ``CNA = A_r / ceiling``.

    As in `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §4.2, Eq. 1.

    A perfect router scores 1. Undefined (an error) when no query is solvable. Under
    ``missing="skip"`` the ceiling is taken on the queries that count.
    """
    counted = chosen_outcomes(Y=Y, choice=choice, missing=missing)
    ceiling = ceiling_score(Y=np.asarray(Y, dtype=np.float64)[counted.rows])
    if ceiling == 0:
        raise SchemaError("CNA is undefined: no query is solved by any model (ceiling = 0).")
    return float(counted.quality.mean()) / ceiling


def mean_cost(
    *, cost: np.ndarray, choice: np.ndarray, Y: np.ndarray | None = None, missing: str = DEFAULT_MISSING
) -> float:
    """Mean cost of the chosen calls, in the data's cost unit.

    With ``Y``, calls on cells with no outcome count as ``missing`` says (module doc); without it,
    every chosen call must have a recorded cost.
    """
    cost = np.asarray(cost, dtype=np.float64)
    _check(cost, choice)
    if Y is not None:
        counted = chosen_outcomes(Y=Y, choice=choice, missing=missing, cost=cost)
        assert counted.cost is not None
        return float(counted.cost.mean())
    got = chosen(cost, choice)
    if not np.isfinite(got).all():
        i = int(np.flatnonzero(~np.isfinite(got))[0])
        raise SchemaError(f"The chosen call for query row {i} has no recorded cost; cannot average cost.")
    return float(got.mean())


def per_query_utility(
    *,
    Y: np.ndarray,
    cost: np.ndarray,
    choice: np.ndarray,
    lam: float,
    scale: CostScale,
    missing: str = DEFAULT_MISSING,
) -> np.ndarray:
    """Each counted query's ``(1 − λ)·Y[i, r_i] − λ·c̃[i, r_i]`` (:func:`~routerlab.decisions.utility_terms`).

    The terms :func:`utility_score` averages; a report bootstraps them. ``c̃`` is the true cost
    mapped to [0, 1] by ``scale`` per call (clipping makes c̃ non-affine, so it is normalised
    before averaging). Choices with no outcome count as ``missing`` says (module doc).
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1]. Got {lam}.")
    counted = chosen_outcomes(Y=Y, choice=choice, missing=missing, cost=None if lam == 0 else cost)
    if lam == 0:
        return counted.quality
    assert counted.cost is not None
    return utility_terms(counted.quality, scale.normalize(counted.cost), lam)


def utility_score(
    *,
    Y: np.ndarray,
    cost: np.ndarray,
    choice: np.ndarray,
    lam: float,
    scale: CostScale,
    missing: str = DEFAULT_MISSING,
) -> float:
    """Realised cost-utility ``U(λ) = 1/N Σ_i [(1 − λ)·Y[i, r_i] − λ·c̃[i, r_i]]``.

    As in `routing-plateau.txt` (arXiv:2606.07587) §3.

    ``c̃`` is the cost mapped to [0, 1] by ``scale`` (fit on the training split); at λ = 0 this is
    exactly the routing accuracy. Choices with no outcome count as ``missing`` says (module doc).
    """
    terms = per_query_utility(Y=Y, cost=cost, choice=choice, lam=lam, scale=scale, missing=missing)
    return float(terms.mean())


@dataclass(frozen=True, slots=True)
class BestSingleModel:
    """The best single model on a split, judged on observed outcomes only.

    ``index`` is its column, ``quality`` its mean over the ``n_observed`` queries where it has an
    outcome, and ``coverage`` that count over ``n_queries`` (shown beside the quality when < 1).
    """

    index: int
    quality: float
    n_observed: int
    n_queries: int

    @property
    def coverage(self) -> float:
        """Share of the split's queries on which the model has an outcome."""
        return self.n_observed / self.n_queries


def best_single_model(*, Y: np.ndarray) -> BestSingleModel:
    """The column with the highest mean *observed* quality.

    This is `routing-plateau.txt` (arXiv:2606.07587) §3's best single model.

    A model with no outcome on the split is never eligible; one with partial coverage is compared
    on what it has (its coverage travels with the result). Ties go to the lower column index.
    """
    Y, _ = _check(Y)
    observed = ~np.isnan(Y)
    counts = observed.sum(axis=0)
    if not counts.any():
        raise SchemaError("No model has an outcome on these queries; there is no best single model.")
    means = np.where(observed, Y, 0.0).sum(axis=0) / np.maximum(counts, 1)
    masked = np.where(counts > 0, means, -np.inf)
    best = int(np.argmax(masked))
    return BestSingleModel(best, float(means[best]), int(counts[best]), int(Y.shape[0]))


def pgr_score(*, quality: float, weak_quality: float, strong_quality: float) -> float:
    """Performance gap recovered, ``(q − q_weak) / (q_strong − q_weak)`` (RouteLLM's PGR)."""
    gap = strong_quality - weak_quality
    if gap == 0:
        raise ValueError(
            f"PGR is undefined when the strong and weak models have equal quality ({strong_quality}); "
            "pick another pair."
        )
    return (quality - weak_quality) / gap


def call_rate(*, choice: np.ndarray, n_models: int) -> np.ndarray:
    """Share of queries routed to each model (sums to 1)."""
    choice = np.asarray(choice)
    if choice.size == 0:
        raise SchemaError("choice is empty; call rates over 0 queries are undefined.")
    if choice.ndim != 1 or not np.issubdtype(choice.dtype, np.integer) or choice.min() < 0 or choice.max() >= n_models:
        raise SchemaError(
            f"choice must be a 1-d array of model column indices in [0, {n_models - 1}]. Got {choice[:5]}..."
        )
    return np.bincount(choice, minlength=n_models)[:n_models] / choice.size
