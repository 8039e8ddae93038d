"""The ``model_redundancy`` check: Jaccard similarity of correct sets and greedy pruning."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from routerlab.audit._common import RETHINKING, SOLVED_THRESHOLD, answered, solved_cells
from routerlab.audit.checks._shared import _EPS, _r
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError


def jaccard_similarity(data: RoutingData, solved_threshold: float = SOLVED_THRESHOLD) -> np.ndarray:
    """``sim(m_i, m_j) = |C_i ∩ C_j| / |C_i ∪ C_j|`` over queries both models answered (0 when the union is empty).

    ``C_m`` is the set of queries where ``Y >= solved_threshold``
    (`rethinking-router-evaluation.txt` ("Who Routes the Router") App. H). Only queries observed for both models count,
    so missing coverage does not read as disagreement.
    """
    obs = data.observed.astype(np.float64)
    c = solved_cells(data, solved_threshold).astype(np.float64)
    inter = c.T @ c
    union = c.T @ obs + obs.T @ c - inter
    sim: np.ndarray = np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)
    np.fill_diagonal(sim, 1.0)
    return sim


def prune_models(
    data: RoutingData, target_size: int, *, lam: float = 0.5, solved_threshold: float = SOLVED_THRESHOLD
) -> list[dict[str, Any]]:
    """Greedy redundancy pruning down to ``target_size`` models; returns the removal steps in order.

    At each step every remaining model gets ``score = λ·Accuracy(m) − (1 − λ)·AvgSim(m)``, AvgSim being its
    mean Jaccard similarity to the *other remaining* models, and the lowest score is removed
    (`rethinking-router-evaluation.txt` ("Who Routes the Router") App. H). Ties go out more expensive first, then later
    column.
    """
    if not 0.0 <= lam <= 1.0:
        raise SchemaError(f"lam must be in [0, 1] (1 = accuracy only, 0 = uniqueness only). Got {lam}.")
    if not 1 <= target_size <= data.n_models:
        raise SchemaError(
            f"target_size must be between 1 and the number of models ({data.n_models}). Got {target_size}."
        )
    sim = jaccard_similarity(data, solved_threshold)
    acc = np.nan_to_num(data.mean_quality(), nan=0.0)
    cost = np.nan_to_num(data.mean_cost(), nan=np.inf)
    names = data.model_names
    keep = list(range(data.n_models))
    steps: list[dict[str, Any]] = []
    while len(keep) > target_size:
        idx = np.array(keep)
        s = sim[np.ix_(idx, idx)]
        avg_sim = (s.sum(axis=1) - 1.0) / max(len(idx) - 1, 1)
        score = lam * acc[idx] - (1.0 - lam) * avg_sim
        order = np.lexsort((-idx, -cost[idx], score))
        out = int(order[0])
        steps.append(
            {
                "removed": names[idx[out]],
                "score": _r(score[out]),
                "accuracy": _r(acc[idx[out]]),
                "avg_sim": _r(avg_sim[out]),
            }
        )
        keep.remove(int(idx[out]))
    return steps


def _oracle_of(data: RoutingData, cols: list[int], solved_threshold: float) -> tuple[float, float]:
    rows = answered(data)
    sub = np.where(data.observed[:, cols], data.Y[:, cols], -np.inf).max(axis=1)[rows]
    sub = np.where(np.isfinite(sub), sub, 0.0)  # a query no kept model answered counts as unsolved
    return float(sub.mean()), float((sub >= solved_threshold - _EPS).mean())


def model_redundancy(
    data: RoutingData,
    *,
    solved_threshold: float = SOLVED_THRESHOLD,
    lam: float = 0.5,
    target_size: int | None = None,
    clone_similarity: float = 0.9,
) -> list[Finding]:
    """Pairwise Jaccard similarity of the models' correct sets and greedy redundancy pruning.

    ``sim(m_i, m_j) = |{q: m_i(q) = 1 ∧ m_j(q) = 1}| / |{q: m_i(q) = 1 ∨ m_j(q) = 1}|`` with "correct"
    meaning ``Y >= solved_threshold`` on an observed cell; pruning removes, one at a time, the model
    with the lowest ``λ·Accuracy − (1 − λ)·AvgSim`` (`rethinking-router-evaluation.txt` ("Who Routes the Router") App.
    H, §4.3 Problem 2) until ``target_size`` remain — by default 73 % of the pool, the paper's 112 → 82.
    Reports the most similar pairs, the removal order, and the oracle quality and ceiling of the full
    and the pruned pool on this data. Warns when a pair reaches ``clone_similarity``.
    """
    check = "model_redundancy"
    names = data.model_names
    n = data.n_models
    if n < 2:
        return [make_finding(check, "info", "Not applicable: redundancy needs at least two models")]
    target = max(1, math.ceil(0.73 * n)) if target_size is None else int(target_size)
    target = min(target, n)
    sim = jaccard_similarity(data, solved_threshold)
    iu = np.triu_indices(n, k=1)
    pair_sims = sim[iu]
    order = np.argsort(-pair_sims, kind="stable")
    top_pairs = [
        {"a": names[iu[0][p]], "b": names[iu[1][p]], "jaccard": _r(pair_sims[p])} for p in order[: min(5, len(order))]
    ]
    steps = prune_models(data, target, lam=lam, solved_threshold=solved_threshold) if target < n else []
    removed = [s["removed"] for s in steps]
    kept = [j for j, name in enumerate(names) if name not in removed]
    before_q, before_c = _oracle_of(data, list(range(n)), solved_threshold)
    after_q, after_c = _oracle_of(data, kept, solved_threshold)
    max_sim = float(pair_sims.max()) if len(pair_sims) else 0.0
    numbers = {
        "n_models": n,
        "target_size": target,
        "lam": lam,
        "solved_threshold": solved_threshold,
        "mean_pairwise_jaccard": _r(float(pair_sims.mean())),
        "max_pairwise_jaccard": _r(max_sim),
        "most_similar_pairs": top_pairs,
        "removal_order": steps,
        "kept": [names[j] for j in kept],
        "oracle_quality_before": _r(before_q),
        "oracle_quality_after": _r(after_q),
        "ceiling_before": _r(before_c),
        "ceiling_after": _r(after_c),
        "oracle_quality_change": _r(after_q - before_q),
    }
    clones = max_sim >= clone_similarity
    if steps:
        title = (
            f"Pruning {len(steps)} of {n} models by similarity changes the oracle quality by "
            f"{after_q - before_q:+.1%} ({before_q:.1%} → {after_q:.1%}); max pairwise Jaccard {max_sim:.2f}"
        )
    else:
        title = f"Max pairwise Jaccard similarity {max_sim:.2f}; pool too small to prune to {target}"
    return [
        make_finding(
            check,
            "warning" if clones else "info",
            title,
            numbers=numbers,
            involved=removed,
            advice="Models whose correct sets nearly coincide add cost to every evaluation and no routing "
            "signal. If the oracle barely moves after pruning, drop them (or report results on the pruned "
            "pool as well), and prefer adding models with distinct strengths.",
            reference=f"{RETHINKING} §4.3 (Problem 2), App. H",
        )
    ]
