"""Audit checks on a routing dataset: ceilings, specialists, dominance, redundancy, label sanity, artifacts.

Every check is a function ``(data: RoutingData, **options) -> list[Finding]`` registered in
:data:`routerlab.audit.AUDIT_CHECKS`; each option is keyword-only with a documented default, and
each check's docstring gives the formula and the paper section it implements. Duplicate detection
lives in :mod:`routerlab.audit.duplicates`.

"Full quality" means ``Y >= solved_threshold`` (default 1.0, i.e. a correct answer or a top judge
score); only observed cells count anywhere (NaN = no outcome is never read as 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from routerlab.audit._common import (
    RETHINKING,
    SOLVED_THRESHOLD,
    UNSOLVABILITY,
    answered,
    best_observed,
    full_quality_labels,
    group_means,
    label_distribution,
    model_name_key,
    pick_best,
    round_figs,
    share,
    solved_cells,
)
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import SchemaError
from routerlab.routers.baselines import oracle_choice

_EPS = 1e-9


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), digits)


def _nanmax_rows(values: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Row-wise max over the boolean column mask ``cols``, ignoring NaN (NaN when nothing is finite)."""
    sub = values[:, cols]
    m = np.where(np.isnan(sub), -np.inf, sub).max(axis=1) if sub.shape[1] else np.full(len(values), -np.inf)
    out: np.ndarray = np.where(np.isfinite(m), m, np.nan)
    return out


# ---------------------------------------------------------------------------------------- 1. ceiling
def oracle_ceiling(
    data: RoutingData, *, solved_threshold: float = SOLVED_THRESHOLD, unsolvable_warn: float = 0.10
) -> list[Finding]:
    """The unsolvability ceiling, the CNA ceiling and the routing gain available per source.

    For each query the *optimal label* is the cheapest model reaching full quality
    (``Y >= solved_threshold``), and ``"none"`` when no model does (`unsolvability-ceiling-artifacts.txt`
    §4.2, Table 5). The **ceiling** is the share of queries with a label (§4.2: "the fraction of queries
    solved by at least one tier"), reported overall, per source and per category. For graded scores no
    model may reach 1, so the **oracle quality** ``1/N Σ_i max_m Y[i, m]`` is reported as well: it is
    :func:`routerlab.metrics.core.ceiling_score`, the denominator of CNA = ``A_r / ceiling`` (§4.2, Eq. 1);
    for 0/1 outcomes both coincide. The **routing gain** per source is the strongest model's mean minus
    the cheapest model's mean (§6.1, Table 10: E2B → 31B), the two models being fixed over the whole
    dataset (lowest mean cost; highest mean quality), as the paper fixes its tiers.

    Warns when the unsolved share is at least ``unsolvable_warn``, and when the loader recorded that
    per-question columns look misaligned between model groups (``meta["alignment_check"]``): a ceiling
    taken across misaligned columns is inflated.
    """
    check = "oracle_ceiling"
    rows = answered(data)
    n_ans = int(rows.sum())
    if n_ans == 0:
        return [make_finding(check, "info", "No query has an outcome; the ceiling is undefined")]
    names = data.model_names
    best = best_observed(data)
    solved = best >= solved_threshold - _EPS
    ceiling = float(solved[rows].mean())
    oracle_quality = float(best[rows].mean())
    obs = data.observed
    binary = bool(np.isin(data.Y[obs], (0.0, 1.0)).all())
    fq = full_quality_labels(data, solved_threshold)
    mean_q, mean_c = data.mean_quality(), data.mean_cost()
    all_models = np.ones(data.n_models, dtype=bool)
    b = pick_best(mean_q, mean_c, all_models)
    cheapest = int(np.argmin(np.where(np.isfinite(mean_c), mean_c, np.inf)))

    def per_group(keys: np.ndarray) -> dict[str, dict[str, Any]]:
        gnames, means, _ = group_means(data, keys)
        out: dict[str, dict[str, Any]] = {}
        for gi, g in enumerate(gnames):
            r = rows & (keys.astype(str) == g)
            n = int(r.sum())
            if not n:
                continue
            gain = means[gi, b] - means[gi, cheapest]
            out[g] = {
                "n": n,
                "ceiling": _r(solved[r].mean()),
                "unsolvable_share": _r(1.0 - solved[r].mean()),
                "oracle_quality": _r(best[r].mean()),
                "cheapest_mean": _r(means[gi, cheapest]),
                "strongest_mean": _r(means[gi, b]),
                "routing_gain": _r(gain),
            }
        return out

    numbers: dict[str, Any] = {
        "n_queries": data.n_queries,
        "n_answered": n_ans,
        "solved_threshold": solved_threshold,
        "binary_outcomes": binary,
        "ceiling": _r(ceiling),
        "unsolvable_share": _r(1.0 - ceiling),
        "oracle_quality": _r(oracle_quality),
        "cna_ceiling": _r(oracle_quality),
        "best_single_model": names[b],
        "best_single_quality": _r(mean_q[b]),
        "best_single_cna": _r(mean_q[b] / oracle_quality) if oracle_quality > 0 else None,
        "cheapest_model": names[cheapest],
        "strongest_model": names[b],
        "routing_gain": _r(mean_q[b] - mean_q[cheapest]),
        "optimal_label_distribution": round_figs(label_distribution(fq[rows], names, none_label="none")),
        "per_source": per_group(data.sources),
    }
    assert data.categories is not None
    if not np.array_equal(data.categories.astype(str), data.sources.astype(str)):
        numbers["per_category"] = per_group(data.categories)
    unsolvable = 1.0 - ceiling
    quality_note = "" if binary else f" (graded outcomes: oracle quality {oracle_quality:.1%})"
    title = f"Ceiling {ceiling:.1%}: {unsolvable:.1%} of queries have no model at full quality{quality_note}"
    findings = [
        make_finding(
            check,
            "warning" if unsolvable >= unsolvable_warn else "info",
            title,
            numbers=numbers,
            involved=data.query_ids[rows & ~solved],
            advice="Report CNA = routing accuracy / ceiling beside accuracy, and PGR only against this ceiling. "
            "Before reading the unsolved share as genuine, run the `artifacts` check: judge/exact-match "
            "discordance, truncation and parse failures inflate it. Quote routing gains per source: a source "
            "with ceiling near 1 and gain near 0 offers no routing headroom.",
            reference=f"{UNSOLVABILITY} §4.2 (Table 5, Eq. 1), §6.1 (Table 10)",
        )
    ]
    findings += _alignment_findings(data, solved_threshold)
    return findings


def _alignment_findings(data: RoutingData, solved_threshold: float) -> list[Finding]:
    info = data.meta.get("alignment_check")
    if not isinstance(info, dict) or int(info.get("n_groups", 1) or 1) <= 1:
        return []
    groups = [[n for n in g if n in data.model_names] for g in info.get("groups", [])]
    rows = answered(data)
    solved = solved_cells(data, solved_threshold)
    within: dict[str, Any] = {}
    for gi, g in enumerate(groups):
        cols = [data.model_index(n) for n in g]
        r = rows & data.observed[:, cols].any(axis=1)
        within[f"group_{gi}"] = {
            "models": g,
            "ceiling_within_group": _r(solved[r][:, cols].any(axis=1).mean()) if r.any() else None,
        }
    overall = float(solved[rows].any(axis=1).mean())
    return [
        make_finding(
            "oracle_ceiling",
            "warning",
            f"Per-question columns look misaligned between {len(groups)} model groups; the ceiling across "
            f"groups ({overall:.1%}) is suspect",
            numbers={
                "n_groups": len(groups),
                "ceiling_across_groups": _r(overall),
                "groups": within,
                "max_abs_corr_between_groups": info.get("max_abs_corr_between_groups"),
            },
            involved=[n for g in groups for n in g],
            advice="Per-query oracles, routing gains and duplicate-label checks compare cells across models; "
            "if the question order differs between groups those comparisons are artefacts. Compute them "
            "within one aligned group, or re-derive the matrix from the per-model leaderboard details.",
            reference="routerlab.data.loaders.openllm (meta['alignment_check']); "
            f"{RETHINKING} §4.5 (CARROT analysis relies on aligned columns)",
        )
    ]


# ---------------------------------------------------------------------------------------- 2. specialists
def specialist_score(
    data: RoutingData,
    *,
    generalist: str | None = None,
    budgets: Sequence[float] | None = None,
    specialist_min: float = 0.05,
) -> list[Finding]:
    """Per-category specialist score and its distribution.

    ``specialist_score_t = E_{b∈B}[ max_{m ∈ M_non-gen^(b)} ACC_{m,t} − ACC_{gen(b),t} ]``
    (`rethinking-router-evaluation.txt` §4.2, Problem 1; Figure 2, App. G Figure 9, §4.5 Figure 4).

    * ``ACC_{m,t}``: model ``m``'s mean observed quality on category ``t``.
    * Cost budgets ``B``: by default the distinct per-model mean costs, i.e. the points of the deferral
      curve where the set of affordable models changes (§4.1, App. F: the x-axis is "the maximum cost a
      router can spend per query"); ``budgets=`` overrides them.
    * ``gen(b)``: the **best generalist (heuristic) model** at budget b — the Heuristic Router of App. E,
      ``argmax_{cost(m) <= b} TrainAcc(m)`` with overall mean quality as accuracy — so at the largest
      budget it is the best single model. ``generalist="name"`` fixes one model at every budget instead
      (what §4.5 does with Qwen2.5-72B-Instruct); the budget then restricts only the non-generalists.
    * ``M_non-gen^(b)``: the models with ``cost <= b`` other than ``gen(b)``; budgets where it is empty
      are skipped (the difference is undefined there).

    Reports every category's score and the distribution as §4.5 does: the shares below 0
    (generalist-sufficient), in ``[0, specialist_min)`` (marginal) and ``>= specialist_min``
    (specialist-demanding). Warns when no category reaches ``specialist_min``.
    """
    check = "specialist_score"
    ref = f"{RETHINKING} §4.2 (specialist score), §4.5 (Figure 4), App. E (heuristic router), App. G"
    names = data.model_names
    cats, acc, _ = group_means(data, data.categories if data.categories is not None else data.sources)
    overall, cost = data.mean_quality(), data.mean_cost()
    usable = np.isfinite(overall) & np.isfinite(cost)
    if usable.sum() < 2:
        return [
            make_finding(check, "info", "Not applicable: the specialist score needs at least two models with outcomes")
        ]
    gen_fixed = data.model_index(generalist) if generalist is not None else None
    grid = np.unique(cost[usable]) if budgets is None else np.asarray(sorted(float(x) for x in budgets))
    rows_d: list[np.ndarray] = []
    used: list[dict[str, Any]] = []
    for b in grid:
        admissible = usable & (cost <= b + _EPS * max(1.0, abs(float(b))))
        g = pick_best(overall, cost, admissible) if gen_fixed is None else gen_fixed
        if gen_fixed is None and not admissible.any():
            continue
        nongen = admissible.copy()
        nongen[g] = False
        if not nongen.any():
            continue
        rows_d.append(_nanmax_rows(acc, nongen) - acc[:, g])
        used.append({"budget": _r(float(b), 6), "generalist": names[g], "n_models": int(admissible.sum())})
    if not rows_d:
        return [
            make_finding(
                check,
                "info",
                "Not applicable: no cost budget admits a generalist and at least one other model",
                numbers={"budgets": [_r(float(x), 6) for x in grid]},
            )
        ]
    d = np.vstack(rows_d)
    finite = np.isfinite(d)
    n_fin = finite.sum(axis=0)
    scores = np.where(n_fin > 0, np.where(finite, d, 0.0).sum(axis=0) / np.maximum(n_fin, 1), np.nan)
    ok = np.isfinite(scores)
    s = scores[ok]
    per_cat = {
        c: _r(v) for c, v in sorted(zip(cats, scores, strict=True), key=lambda kv: -np.nan_to_num(kv[1], nan=-9))
    }
    n = int(ok.sum())
    n_neg = int((s < 0).sum())
    n_spec = int((s >= specialist_min).sum())
    n_marg = n - n_neg - n_spec
    bins = [-1.0, -0.2, -0.1, -0.05, 0.0, specialist_min, 0.1, 0.2, 1.0]
    hist, _ = np.histogram(np.clip(s, -1, 1), bins=bins)
    spec_cats = [c for c, v in per_cat.items() if v is not None and v >= specialist_min]
    numbers: dict[str, Any] = {
        "n_categories": n,
        "n_budgets": len(used),
        "generalist": generalist if generalist is not None else "heuristic router per budget",
        "budgets": used,
        "specialist_min": specialist_min,
        "n_negative": n_neg,
        "n_marginal": n_marg,
        "n_specialist": n_spec,
        "share_negative": _r(share(n_neg, n)),
        "share_marginal": _r(share(n_marg, n)),
        "share_specialist": _r(share(n_spec, n)),
        "mean": _r(float(s.mean())) if n else None,
        "median": _r(float(np.median(s))) if n else None,
        "min": _r(float(s.min())) if n else None,
        "max": _r(float(s.max())) if n else None,
        "histogram": {"edges": bins, "counts": hist.tolist()},
        "scores": per_cat,
    }
    title = (
        f"{n_spec} of {n} categories are specialist-demanding (score >= {specialist_min:g}); "
        f"{n_neg} ({share(n_neg, n) or 0:.0%}) are generalist-sufficient (score < 0)"
    )
    return [
        make_finding(
            check,
            "warning" if n_spec == 0 else "info",
            title,
            numbers=numbers,
            involved=spec_cats,
            advice="A benchmark where the generalist wins nearly every category cannot test whether a router "
            "finds specialists. Add specialist-demanding tasks (subsample by specialist score, §5.1) or "
            "inject pseudo-specialist models on hard, non-dominated tasks (§4.3), and report per-category "
            "results beside the average.",
            reference=ref,
        )
    ]


# ---------------------------------------------------------------------------------------- 3. dominance
def model_dominance(
    data: RoutingData, *, dominance_rank: float = 1.5, min_category_share: float = 0.5, top_k: int = 5
) -> list[Finding]:
    """Each model's average rank across categories; flags a single dominant model.

    In every category the models with outcomes are ranked by mean observed quality (rank 1 = best;
    tied models share the average of their ranks); a model's **average rank** is the mean over the
    categories where it has outcomes (`rethinking-router-evaluation.txt` §4.3, Problem 1, Table 2;
    §4.5, Figure 5). Only models with outcomes in at least ``min_category_share`` of the categories may
    be named dominant (a model seen in one category would otherwise win with rank 1). The check warns
    when the best average rank is ``<= dominance_rank`` (RouterBench's generalist: 1.36) and that model
    is first (ties included) in more than half of the categories — routing then reduces to finding that
    model. The second condition keeps a two-model pool whose models each win half the categories
    (average ranks 1.5 and 1.5) from being called dominated.
    """
    check = "model_dominance"
    names = data.model_names
    cats, means, _ = group_means(data, data.categories if data.categories is not None else data.sources)
    k = len(cats)
    rank_sum = np.zeros(data.n_models)
    n_cat = np.zeros(data.n_models, dtype=int)
    wins = np.zeros(data.n_models, dtype=int)
    for gi in range(k):
        present = np.isfinite(means[gi])
        if present.sum() == 0:
            continue
        ranks = rankdata(-means[gi, present], method="average")
        rank_sum[present] += ranks
        n_cat[present] += 1
        top = means[gi, present].max()
        wins[present & (np.nan_to_num(means[gi], nan=-1.0) == top)] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(n_cat > 0, rank_sum / np.maximum(n_cat, 1), np.nan)
    eligible = (n_cat >= max(1, math.ceil(min_category_share * k))) & np.isfinite(avg)
    if not eligible.any() or data.n_models < 2:
        return [make_finding(check, "info", "Not applicable: dominance needs two models with outcomes")]
    overall = data.mean_quality()
    order = np.lexsort((-np.nan_to_num(overall, nan=-1.0), np.where(eligible, avg, np.inf)))
    best = int(order[0])
    table = [
        {
            "model": names[j],
            "avg_rank": _r(avg[j], 3),
            "n_categories": int(n_cat[j]),
            "n_best": int(wins[j]),
            "mean_quality": _r(overall[j]),
        }
        for j in order[: max(top_k, 1)]
        if eligible[j]
    ]
    numbers = {
        "n_categories": k,
        "dominant_model": names[best],
        "best_avg_rank": _r(avg[best], 3),
        "dominance_rank": dominance_rank,
        "top": table,
        "avg_rank": {names[j]: _r(avg[j], 3) for j in order if np.isfinite(avg[j])},
    }
    dominant = k >= 2 and avg[best] <= dominance_rank and wins[best] > k / 2
    if dominant:
        severity, title = "warning", f"{names[best]} dominates: average rank {avg[best]:.2f} over {k} categories"
    elif k < 2:
        severity, title = "info", f"One category only: {names[best]} ranks first; dominance needs several categories"
    else:
        severity, title = (
            "info",
            f"No dominant model: best average rank {avg[best]:.2f} ({names[best]}) over {k} categories",
        )
    return [
        make_finding(
            check,
            severity,
            title,
            numbers=numbers,
            involved=[names[best]] if dominant else [],
            advice="With one model first nearly everywhere, a router's gain over the best single model is small "
            "by construction. Compare routers against the best single model at each budget, rebalance the pool "
            "(add models with distinct strengths, prune near-clones), or inject pseudo-specialists (§4.3) to "
            "test whether routers can find a specialist at all.",
            reference=f"{RETHINKING} §4.3 (Table 2), §4.5 (Figure 5)",
        )
    ]


# ---------------------------------------------------------------------------------------- 4. redundancy
def jaccard_similarity(data: RoutingData, solved_threshold: float = SOLVED_THRESHOLD) -> np.ndarray:
    """``sim(m_i, m_j) = |C_i ∩ C_j| / |C_i ∪ C_j|`` over queries both models answered (0 when the union is empty).

    ``C_m`` is the set of queries where ``Y >= solved_threshold`` (`rethinking-router-evaluation.txt` App. H).
    Only queries observed for both models count, so missing coverage does not read as disagreement.
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
    (`rethinking-router-evaluation.txt` App. H). Ties go out more expensive first, then later column.
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
    with the lowest ``λ·Accuracy − (1 − λ)·AvgSim`` (`rethinking-router-evaluation.txt` App. H, §4.3
    Problem 2) until ``target_size`` remain — by default 73 % of the pool, the paper's 112 → 82.
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


# ---------------------------------------------------------------------------------------- 8. label sanity
PER_MODEL_COST_UNITS = ("params_b", "usd_per_1m_tokens", "usd_per_1k_tokens")


def label_sanity(
    data: RoutingData,
    *,
    majority_trap: float = 0.79,
    min_coverage: float = 0.5,
    max_tokens: float = 1e6,
    solved_threshold: float = SOLVED_THRESHOLD,
) -> list[Finding]:
    """Oracle-label imbalance, prices, costs, token counts and coverage.

    * **Majority trap**: the oracle label (cheapest model with the highest observed outcome, the label
      :class:`~routerlab.routers.baselines.MajorityLabel` learns) — if one model takes at least
      ``majority_trap`` of the labels (79.3 % in `unsolvability-ceiling-artifacts.txt` §3.4, §8.1), an
      unweighted router collapses to it and still scores the majority baseline (§8.1–8.5). Reported
      over all answered queries, over the train split, and among solved queries only (unsolved queries
      tie at the bottom and all go to the cheapest model, §8.4).
    * **Prices**: ``ModelInfo.input_price``/``output_price`` missing (None: unknown) or 0 (the schema
      forbids 0 for unknown; a free model wins every cost-aware decision).
    * **Constant costs**: a model whose cost is the same on every observed query — by design for a
      per-model proxy unit (params_b, usd_per_1m_tokens: info), suspicious for a per-call ``"usd"`` cost
      that should vary with tokens (warning).
    * **Token counts** (``tokens_in``/``tokens_out``): negative, zero on an answered cell, or above
      ``max_tokens``.
    * **Coverage**: models with outcomes on fewer than ``min_coverage`` of the queries.
    """
    check = "label_sanity"
    names = data.model_names
    findings: list[Finding] = []
    rows = answered(data)
    labels = oracle_choice(data)
    lab = labels[rows]
    if lab.size:
        counts = np.bincount(lab, minlength=data.n_models)
        top = int(np.argmax(counts))
        maj = float(counts[top] / lab.size)
        fq = full_quality_labels(data, solved_threshold)
        solved_lab = fq[fq >= 0]
        train = rows & (data.splits == "train")
        tl = labels[train]
        numbers: dict[str, Any] = {
            "majority_model": names[top],
            "majority_share": _r(maj),
            "majority_trap": majority_trap,
            "n_labelled": int(lab.size),
            "label_distribution": round_figs(label_distribution(lab, names)),
            "majority_share_train": _r(float(np.bincount(tl).max() / tl.size)) if tl.size else None,
            "majority_share_among_solved": _r(float(np.bincount(solved_lab).max() / solved_lab.size))
            if solved_lab.size
            else None,
            "n_unsolved_labelled_cheapest": int(lab.size - solved_lab.size),
        }
        trap = maj >= majority_trap
        findings.append(
            make_finding(
                check,
                "warning" if trap else "info",
                f"Oracle-label majority: {names[top]} is the label of {maj:.1%} of queries"
                + (f" (>= {majority_trap:.0%}: majority trap)" if trap else ""),
                numbers=numbers,
                involved=[names[top]] if trap else [],
                advice="A router trained with an unweighted objective on such labels can collapse to the majority "
                "model and still match the majority baseline. Train with class weights / cost-sensitive "
                "objectives, compare against `majority_label`, report per-model recall, and run the collapse "
                "controls (routerlab.experiments.collapse).",
                reference=f"{UNSOLVABILITY} §3.4, §8.1–8.5",
            )
        )
    zero = [m.name for m in data.models if m.input_price == 0 or m.output_price == 0]
    missing = [m.name for m in data.models if m.input_price is None or m.output_price is None]
    if zero:
        findings.append(
            make_finding(
                check,
                "warning",
                f"{len(zero)} model(s) have a price of 0",
                numbers={"zero_price_models": zero},
                involved=zero,
                advice="A price of 0 makes the model free to every cost-aware router. Use the real price, or None "
                "when it is unknown (ModelInfo prices are USD per 1M tokens).",
                reference="routerlab.data.schema.ModelInfo",
            )
        )
    if missing:
        findings.append(
            make_finding(
                check,
                "info",
                f"{len(missing)} of {data.n_models} model(s) have no price (cost unit {data.cost_unit!r})",
                numbers={"missing_price_models": missing, "cost_unit": data.cost_unit},
                involved=missing,
                advice=(
                    "Per-call USD costs are recorded, so measured savings are real; prices are still needed to "
                    "cost queries outside this dataset (e.g. when serving a router)."
                    if data.cost_unit == "usd"
                    else "Without prices, dollar savings cannot be quoted; name the cost proxy "
                    f"({data.cost_unit!r}) wherever costs or savings are reported."
                ),
                reference=f"{RETHINKING} App. F (cost proxies)",
            )
        )
    obs = data.observed
    constant: list[str] = []
    for j in range(data.n_models):
        c = data.cost[obs[:, j], j]
        c = c[np.isfinite(c)]
        if c.size >= 2 and np.ptp(c) <= 1e-12 * max(1.0, abs(float(c.max()))):
            constant.append(names[j])
    if constant:
        per_call = data.cost_unit not in PER_MODEL_COST_UNITS
        findings.append(
            make_finding(
                check,
                "warning" if per_call else "info",
                f"Cost is constant across queries for {len(constant)} of {data.n_models} model(s) "
                f"(cost unit {data.cost_unit!r})",
                numbers={
                    "constant_cost_models": constant,
                    "cost_unit": data.cost_unit,
                    "all": len(constant) == data.n_models,
                },
                involved=constant,
                advice=(
                    "A per-call cost should vary with prompt and answer length; a constant one suggests a price "
                    "was copied in place of the call cost. Recompute it from token counts."
                    if per_call
                    else "Cost-aware routing then trades only a per-model price, not per-query cost; say so when "
                    "quoting savings, and prefer token-based costs when the answers are available."
                ),
                reference=f"{RETHINKING} §4.4, App. F (per-query cost)",
            )
        )
    for attr in ("tokens_in", "tokens_out"):
        tok = getattr(data, attr)
        if tok is None:
            continue
        neg = obs & (tok < 0)
        zero_answered = obs & (tok == 0)
        huge = obs & (tok > max_tokens)
        nan = obs & np.isnan(tok)
        bad = neg | zero_answered | huge
        if bad.any() or nan.any():
            per_model = {
                names[j]: int(bad[:, j].sum() + nan[:, j].sum())
                for j in range(data.n_models)
                if bad[:, j].any() or nan[:, j].any()
            }
            findings.append(
                make_finding(
                    check,
                    "warning",
                    f"{attr}: {int(bad.sum() + nan.sum())} implausible counts on answered cells",
                    numbers={
                        "negative": int(neg.sum()),
                        "zero_where_answered": int(zero_answered.sum()),
                        f"above_{int(max_tokens)}": int(huge.sum()),
                        "missing_where_answered": int(nan.sum()),
                        "by_model": per_model,
                    },
                    involved=data.query_ids[(bad | nan).any(axis=1)],
                    advice="Token counts drive per-call cost and truncation analysis; re-read them from the API "
                    "usage fields, and treat zero-token answers as failed calls, not as outcomes.",
                    reference=f"{UNSOLVABILITY} §6.3 (token cost)",
                )
            )
    cov = data.coverage()
    low = [names[j] for j in range(data.n_models) if cov[j] < min_coverage]
    if low:
        findings.append(
            make_finding(
                check,
                "warning",
                f"{len(low)} model(s) have outcomes on fewer than {min_coverage:.0%} of the queries",
                numbers={"coverage": {names[j]: _r(cov[j]) for j in range(data.n_models) if cov[j] < min_coverage}},
                involved=low,
                advice="Sparse columns make per-query oracles and model comparisons rest on different query sets. "
                "Complete the runs, restrict the evaluation to the covered queries, or drop the model.",
                reference=f"{RETHINKING} §2.1 (per-query ground truth for every model)",
            )
        )
    return findings


# ---------------------------------------------------------------------------------------- 9. artifacts
def _rescaled_sources(raw: np.ndarray, y: np.ndarray, sources: np.ndarray) -> tuple[set[str], set[str]]:
    """Sources whose raw_score is a rescaling of Y (one judgement, not two), and all sources with a raw score.

    Rescaling means raw is a non-decreasing function of Y within the source. A run can mix judge-only
    sources (Y = grade / 2) with dual-judged ones.
    """
    rescaled: set[str] = set()
    with_raw: set[str] = set()
    src = sources.astype(str)
    for s in np.unique(src):
        r = src == s
        a, b = raw[r], y[r]
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        if a.size == 0:
            continue
        with_raw.add(str(s))
        pairs = np.unique(np.stack([b, a], axis=1), axis=0)  # sorted by Y, then raw
        if len(np.unique(pairs[:, 0])) == len(pairs) and not np.any(np.diff(pairs[:, 1]) < 0):
            rescaled.add(str(s))
    return rescaled, with_raw


def artifacts(
    data: RoutingData,
    *,
    solved_threshold: float = SOLVED_THRESHOLD,
    judge_pass: float | None = None,
    artifact_warn: float = 0.10,
) -> list[Finding]:
    """Artifact decomposition of the unsolved queries and the exact-match-corrected ceiling.

    Needs at least one of ``raw_score`` (a judge score beside an exact-match-style Y), ``truncated`` or
    ``parsed``; otherwise one info finding says so. Following `unsolvability-ceiling-artifacts.txt`
    §3.3 and §5:

    * **Judge solved** ``J[q, m]``: ``raw_score >= judge_pass`` — by default the top of the judge's scale,
      taken per source as the highest raw score observed there ("score2" of a 0/1/2 rubric, §4.1); cells
      without a raw score fall back to ``Y >= solved_threshold``.
    * **Exact-match cells**: observed cells whose Y is 0/1 and, when ``parsed`` is given, that parsed
      ("unparsed responses are excluded from exact-match calculations", §3.3).
    * **Dual-judge discordance** (§2.3, §5.1, Table 8): on exact-match cells with a raw score, the share
      where ``J`` and ``Y == 1`` disagree, split into judge false positives (J without EM) and false
      negatives (EM without J), with per-model judge-pass rate minus EM accuracy. When raw_score is only
      a rescaling of Y (same judgement) the discordance is 0 by construction and is reported as such.
    * **Unsolved** queries: answered, with no model judge-solved (§4.2). Among them, the counts and shares
      with (1) evaluation misalignment — some model exact-match correct; (2) truncation — some model's
      answer truncated; (3) parse failure — some model's answer not parsed (§3.3, Table 3). They may
      overlap; "unexplained" counts unsolved queries with none of the three.
    * **Ceilings**: judge ceiling (share of answered queries judge-solved); **exact-match-corrected
      ceiling** — exact match replaces the judge on queries that have exact-match cells, the judge stays
      elsewhere (§5.4, Table 9); and an optimistic bound that also counts queries whose failures were all
      truncated or unparsed as recoverable (§5.2–5.3).
    """
    check = "artifacts"
    ref = f"{UNSOLVABILITY} §3.3 (Table 3), §5 (Tables 7–9)"
    have = {a: getattr(data, a) is not None for a in ("raw_score", "truncated", "parsed")}
    if not any(have.values()):
        return [
            make_finding(
                check,
                "info",
                "Not applicable: needs raw_score (a judge score beside an exact-match Y), truncated or parsed",
                advice="Record the judge's raw score, whether each answer hit the token budget and whether an "
                "answer could be parsed (RoutingData.raw_score / truncated / parsed) to decompose the "
                "unsolved queries into evaluation artifacts.",
                reference=ref,
            )
        ]
    names = data.model_names
    obs = data.observed
    rows = answered(data)
    n_ans = int(rows.sum())
    y = np.nan_to_num(data.Y, nan=-1.0)
    y_solved = solved_cells(data, solved_threshold)
    parsed = data.parsed if data.parsed is not None else np.ones_like(obs)
    em_cells = obs & np.isin(y, (0.0, 1.0)) & parsed
    em_correct = em_cells & (y == 1.0)
    numbers: dict[str, Any] = {"available": [a for a, v in have.items() if v], "n_answered": n_ans}
    notes: list[str] = []
    judge = y_solved.copy()
    raw = data.raw_score
    if raw is not None:
        raw_obs = obs & np.isfinite(raw)
        thr = np.full(data.n_queries, np.nan)
        src = data.sources.astype(str)
        for s in np.unique(src):
            r = src == s
            vals = raw[r][raw_obs[r]]
            if vals.size:
                thr[r] = float(vals.max()) if judge_pass is None else judge_pass
        with np.errstate(invalid="ignore"):
            j_raw = raw_obs & (np.nan_to_num(raw, nan=-np.inf) >= thr[:, None] - _EPS)
        judge = np.where(raw_obs, j_raw, y_solved)
        rescaled, with_raw = _rescaled_sources(np.where(obs, raw, np.nan), np.where(obs, data.Y, np.nan), data.sources)
        same = rescaled == with_raw
        both = em_cells & raw_obs
        if not same and rescaled:
            # single-judge sources would count as dual cells that always agree and dilute the discordance
            both &= ~np.isin(src, sorted(rescaled))[:, None]
            numbers["single_judge_sources"] = sorted(rescaled)
        fp = both & judge & ~em_correct
        fn = both & ~judge & em_correct
        nb = int(both.sum())
        per_model = {}
        for j in range(data.n_models):
            cells = both[:, j]
            if cells.any():
                per_model[names[j]] = {
                    "judge_pass_rate": _r(judge[cells, j].mean()),
                    "exact_match_accuracy": _r(em_correct[cells, j].mean()),
                    "divergence": _r(judge[cells, j].mean() - em_correct[cells, j].mean()),
                }
        numbers["judge_pass"] = "top raw score per source" if judge_pass is None else judge_pass
        numbers["raw_score_is_rescaled_y"] = same
        numbers["dual_judge"] = {
            "n_cells": nb,
            "discordance": _r(share(int((fp | fn).sum()), nb)),
            "judge_false_positive": _r(share(int(fp.sum()), nb)),
            "judge_false_negative": _r(share(int(fn.sum()), nb)),
            "by_model": per_model,
        }
        if same:
            notes.append(
                "raw_score is a rescaling of Y (same judgement), so dual-judge discordance is 0 by construction"
            )
        elif nb == 0:
            notes.append("no cell has both a raw score and a 0/1 exact-match outcome: discordance not measurable")
    judge_solved_q = (judge & obs).any(axis=1)
    unsolved = rows & ~judge_solved_q
    n_uns = int(unsolved.sum())
    mis = unsolved & em_correct.any(axis=1) if raw is not None else np.zeros_like(unsolved)
    trunc_cells = obs & data.truncated if data.truncated is not None else np.zeros_like(obs)
    parse_cells = obs & ~data.parsed if data.parsed is not None else np.zeros_like(obs)
    trunc = unsolved & trunc_cells.any(axis=1)
    pfail = unsolved & parse_cells.any(axis=1)
    anyart = mis | trunc | pfail
    decomposition = {
        "n_unsolved": n_uns,
        "evaluation_misalignment": {"n": int(mis.sum()), "share": _r(share(int(mis.sum()), n_uns))}
        if raw is not None
        else None,
        "truncation": {"n": int(trunc.sum()), "share": _r(share(int(trunc.sum()), n_uns))}
        if data.truncated is not None
        else None,
        "parse_failure": {"n": int(pfail.sum()), "share": _r(share(int(pfail.sum()), n_uns))}
        if data.parsed is not None
        else None,
        "any_artifact": {"n": int(anyart.sum()), "share": _r(share(int(anyart.sum()), n_uns))},
        "unexplained": {
            "n": int((unsolved & ~anyart).sum()),
            "share": _r(share(int((unsolved & ~anyart).sum()), n_uns)),
        },
    }
    numbers["unsolved_decomposition"] = decomposition
    rates: dict[str, Any] = {}
    if data.truncated is not None:
        rates["truncation_rate"] = {
            names[j]: _r(trunc_cells[obs[:, j], j].mean()) for j in range(data.n_models) if obs[:, j].any()
        }
    if data.parsed is not None:
        rates["parse_failure_rate"] = {
            names[j]: _r(parse_cells[obs[:, j], j].mean()) for j in range(data.n_models) if obs[:, j].any()
        }
    if rates:
        numbers["rates_by_model"] = rates
    has_em = em_cells.any(axis=1)
    corrected_q = np.where(has_em, em_correct.any(axis=1), judge_solved_q)
    judge_ceiling = share(int((rows & judge_solved_q).sum()), n_ans)
    em_ceiling = share(int((rows & corrected_q).sum()), n_ans)
    recoverable = (trunc_cells | parse_cells).any(axis=1)
    upper = share(int((rows & (corrected_q | judge_solved_q | recoverable)).sum()), n_ans)
    numbers["judge_ceiling"] = _r(judge_ceiling)
    numbers["exact_match_corrected_ceiling"] = _r(em_ceiling)
    numbers["ceiling_if_artifacts_recovered"] = _r(upper)
    numbers["n_queries_with_exact_match"] = int((rows & has_em).sum())
    per_source: dict[str, Any] = {}
    for s in np.unique(data.sources.astype(str)):
        r = rows & (data.sources.astype(str) == s)
        if r.any():
            per_source[s] = {
                "n": int(r.sum()),
                "judge_ceiling": _r(judge_solved_q[r].mean()),
                "exact_match_corrected_ceiling": _r(corrected_q[r].mean()),
                "has_exact_match": _r(has_em[r].mean()),
            }
    numbers["per_source"] = per_source
    if notes:
        numbers["notes"] = notes
    disc = numbers.get("dual_judge", {}).get("discordance") or 0.0
    art_share = share(int(anyart.sum()), n_uns) or 0.0
    severity = "warning" if art_share >= artifact_warn or disc >= 0.05 else "info"
    title = (
        f"{int(anyart.sum())} of {n_uns} unsolved queries ({art_share:.0%}) show an evaluation artifact; "
        f"ceiling {judge_ceiling or 0:.1%} (judge) vs {em_ceiling or 0:.1%} (exact-match corrected)"
    )
    return [
        make_finding(
            check,
            severity,
            title,
            numbers=numbers,
            involved=data.query_ids[anyart],
            advice="Pair the judge with exact match where gold answers exist and build oracle labels from the metric "
            "that matches deployment; raise generation budgets until truncation is rare and report the rate; "
            "fix answer extraction before calling a query unsolvable. Quote the corrected ceiling beside the "
            "judge ceiling.",
            reference=ref,
        )
    ]


# ---------------------------------------------------------------------------------------- 10. cost and tokens
_LEADERBOARD_REF = "issue 11 §3 (cost and token sanity: failures public leaderboards have had)"
#: Query ids quoted per finding as examples.
N_EXAMPLES = 5


def _tokens_used(data: RoutingData) -> np.ndarray | None:
    """``tokens_in + tokens_out`` per cell (a missing count as 0; NaN where both are missing); None without counts."""
    mats = [m for m in (data.tokens_in, data.tokens_out) if m is not None]
    if not mats:
        return None
    stacked = np.stack(mats)
    total: np.ndarray = np.where(np.isnan(stacked).all(axis=0), np.nan, np.nansum(stacked, axis=0))
    return total


def _declared_free(model: ModelInfo) -> bool:
    return model.input_price == 0 and model.output_price == 0


def zero_cost_tokens(data: RoutingData, *, n_examples: int = N_EXAMPLES) -> list[Finding]:
    """Rows of a model at zero cost although the call used tokens (a cost lost on the way, read as free).

    For each model, among the rows with a recorded cost (finite) and ``tokens_in + tokens_out > 0``, the
    count and share with ``cost == 0``; any share above 0 is a warning, one finding per model, with example
    query ids. Public leaderboards have shipped such rows (cost columns left at 0 for part of a model's
    calls); a cost-aware router then sends those queries to the "free" model and the savings are fiction.

    * A model declared free (``input_price == 0`` and ``output_price == 0``: a local model) is consistent at
      cost 0 and skipped; the ``label_sanity`` check still asks to confirm a price of 0.
    * Rows with zero tokens are not counted (nothing was charged; ``label_sanity`` reports zero token
      counts on answered cells).
    * Without token counts, a per-call cost (unit ``"usd"``) that is 0 on some but not all of a model's
      answered rows is flagged the same way, since its other calls were charged.
    """
    check = "zero_cost_tokens"
    names = data.model_names
    used = _tokens_used(data)
    findings: list[Finding] = []
    if used is not None:
        recorded = np.isfinite(data.cost) & (np.nan_to_num(used, nan=0.0) > 0)
        basis, note = "rows with tokens", ""
    elif data.cost_unit == "usd":
        recorded = data.observed & np.isfinite(data.cost)
        basis, note = "answered rows", " while its other calls were charged (no token counts)"
    else:
        return [
            make_finding(
                check,
                "info",
                f"Not applicable: no token counts, and cost unit {data.cost_unit!r} is not a per-call cost",
                reference=_LEADERBOARD_REF,
            )
        ]
    zero = recorded & (np.nan_to_num(data.cost, nan=np.inf) == 0)
    for j, model in enumerate(data.models):
        n_rows, n_zero = int(recorded[:, j].sum()), int(zero[:, j].sum())
        if n_zero == 0 or _declared_free(model) or (used is None and n_zero == n_rows):
            continue
        ids = data.query_ids[zero[:, j]]
        frac = n_zero / n_rows
        tokens = (
            {"median_tokens_on_zero_rows": _r(float(np.nanmedian(used[zero[:, j], j])), 1)} if used is not None else {}
        )
        findings.append(
            make_finding(
                check,
                "warning",
                f"{names[j]}: {n_zero:,} of {n_rows:,} {basis} ({frac:.1%}) cost 0{note}",
                numbers={
                    "model": names[j],
                    "n_zero_cost": n_zero,
                    "n_rows": n_rows,
                    "fraction": _r(frac),
                    "basis": "tokens_in + tokens_out > 0 and a recorded cost"
                    if used is not None
                    else "answered rows of a per-call cost",
                    "cost_unit": data.cost_unit,
                    "example_query_ids": [str(q) for q in ids[:n_examples]],
                    **tokens,
                },
                involved=ids,
                advice=f"These calls were charged; cost 0 makes {names[j]} free to every cost-aware router on these "
                "queries and inflates its savings. Recompute the cost from the token counts (re-read them from the API "
                "usage fields if absent) and the model's prices (ModelInfo input_price/output_price, USD per 1M "
                "tokens), or drop the rows; if the model really is free (local), declare input_price=0 and "
                "output_price=0.",
                reference=_LEADERBOARD_REF,
            )
        )
    if not findings:
        findings.append(
            make_finding(
                check,
                "info",
                f"No model has stray zero costs on its {basis}",
                numbers={"basis": basis},
                reference=_LEADERBOARD_REF,
            )
        )
    return findings


def constant_tokens(data: RoutingData, *, min_rows: int = 5) -> list[Finding]:
    """Token counts identical on every row of a model: a default filled in, not a measured count.

    For ``tokens_in`` and ``tokens_out`` separately: a model whose finite counts on its answered rows (at
    least ``min_rows`` of them) are all the same positive number. Prompts differ in length and answers in
    length, so a constant count was written by a loader or a collection default (or every answer hit the
    same ``max_tokens`` cap: truncation). One warning per field naming the models, their constant value,
    and whether the other models' counts vary. Constant zeros are left to ``label_sanity``'s token check
    (zero tokens on an answered cell: a count not recorded).
    """
    check = "constant_tokens"
    names = data.model_names
    obs = data.observed
    findings: list[Finding] = []
    seen = False
    for attr in ("tokens_in", "tokens_out"):
        tok = getattr(data, attr)
        if tok is None:
            continue
        seen = True
        constant: dict[str, dict[str, Any]] = {}
        varying: list[str] = []
        for j in range(data.n_models):
            v = tok[obs[:, j], j]
            v = v[np.isfinite(v)]
            if v.size < max(min_rows, 2):
                continue
            if np.ptp(v) == 0 and v[0] > 0:
                constant[names[j]] = {"value": _r(float(v[0]), 2), "n_rows": int(v.size)}
            elif np.ptp(v) > 0:
                varying.append(names[j])
        if not constant:
            continue
        others = f"while {len(varying)} other model(s) vary" if varying else "(no model's count varies)"
        values = ", ".join(f"{m} = {c['value']:g}" for m, c in list(constant.items())[:3])
        findings.append(
            make_finding(
                check,
                "warning",
                f"{attr} is the same on every row for {len(constant)} of {data.n_models} model(s) ({values}) {others}",
                numbers={"field": attr, "constant": constant, "n_varying_models": len(varying), "min_rows": min_rows},
                involved=list(constant),
                advice=f"A constant {attr} is a default filled in, not a measured count, so costs derived from it and "
                "any length or truncation analysis are wrong. Re-read the counts from the API usage fields; if "
                "every answer hit the same max_tokens cap, the answers are truncated: raise the budget.",
                reference=_LEADERBOARD_REF,
            )
        )
    if not findings:
        title = "No model has constant token counts" if seen else "Not applicable: no token counts"
        findings.append(make_finding(check, "info", title, reference=_LEADERBOARD_REF))
    return findings


def missing_prices(data: RoutingData) -> list[Finding]:
    """Models with token counts but no price, and cells whose tokens are known but whose cost is not.

    A model needs ``ModelInfo.input_price`` when it has ``tokens_in > 0`` on some row, and ``output_price``
    when it has ``tokens_out > 0``: without them a cost cannot be derived from (or checked against) its
    tokens. Cells with tokens but a NaN cost (calls without an outcome — failed or unscored — still cost
    money) are counted per model as well. One finding listing the models: a **warning** when some row with
    tokens has no cost, or when prices are missing and the cost is not a measured per-call cost (unit other
    than ``"usd"``: a proxy or call count the tokens could replace); an **info** when prices are missing but
    every row with tokens has a measured per-call USD cost (the costs stand; prices would only check them).
    """
    check = "missing_prices"
    names = data.model_names
    used = _tokens_used(data)
    if used is None:
        return [make_finding(check, "info", "Not applicable: no token counts", reference=_LEADERBOARD_REF)]
    per_model: dict[str, dict[str, Any]] = {}
    for j, model in enumerate(data.models):
        lacking = [
            price
            for attr, price in (("tokens_in", "input_price"), ("tokens_out", "output_price"))
            if getattr(data, attr) is not None
            and (np.nan_to_num(getattr(data, attr)[:, j], nan=0.0) > 0).any()
            and getattr(model, price) is None
        ]
        with_tokens = np.nan_to_num(used[:, j], nan=0.0) > 0
        no_cost = int((with_tokens & np.isnan(data.cost[:, j])).sum())
        if lacking or no_cost:
            per_model[names[j]] = {
                "missing": lacking,
                "n_rows_with_tokens": int(with_tokens.sum()),
                "n_rows_with_tokens_but_no_cost": no_cost,
            }
    if not per_model:
        return [make_finding(check, "info", "Every model with token counts has its prices", reference=_LEADERBOARD_REF)]
    n_no_cost = sum(v["n_rows_with_tokens_but_no_cost"] for v in per_model.values())
    n_unpriced = sum(bool(v["missing"]) for v in per_model.values())
    measured = data.cost_unit == "usd"
    return [
        make_finding(
            check,
            "warning" if n_no_cost or not measured else "info",
            f"{n_unpriced} model(s) with token counts have no price; {n_no_cost:,} row(s) with tokens have no cost"
            + (f" (cost unit {data.cost_unit!r})" if not measured else ""),
            numbers={"by_model": per_model, "cost_unit": data.cost_unit, "per_call_usd_cost": measured},
            involved=list(per_model),
            advice="Give each model its input_price and output_price (ModelInfo, USD per 1M tokens) so cost = "
            "(tokens_in·input_price + tokens_out·output_price) / 1e6 can be computed and checked, and cost the "
            "calls that used tokens without an outcome: they were paid for.",
            reference=f"routerlab.data.schema.ModelInfo; {_LEADERBOARD_REF}",
        )
    ]


def model_aliases(data: RoutingData) -> list[Finding]:
    """Model names that look like one model under two names (coverage split between near-identical columns).

    Names are compared by :func:`routerlab.audit._common.model_name_key`: case, punctuation, an organisation
    prefix, a date snapshot suffix, ``-latest``/``-hf`` and a ``meta-`` before ``llama`` are ignored, so
    ``gpt-4o-mini`` ~ ``gpt-4o-mini-2024-07-18`` and ``Llama-3-8B`` ~ ``llama3-8b``. Two names with
    *different* dates (``gpt-4o-2024-05-13``, ``gpt-4o-2024-08-06``) are distinct snapshots and not flagged.
    One warning per pair with each name's coverage, the queries both answered and, on those, the share of
    equal outcomes: complementary coverage (no shared query) means one model's results were split in two
    columns; overlapping coverage means the same model counts twice in the pool.
    """
    check = "model_aliases"
    names = data.model_names
    keys = [model_name_key(n) for n in names]
    obs = data.observed
    cov = data.coverage()
    findings: list[Finding] = []
    for a in range(data.n_models):
        for b in range(a + 1, data.n_models):
            (ka, da), (kb, db) = keys[a], keys[b]
            if ka != kb or (da and db and da != db):
                continue
            both = obs[:, a] & obs[:, b]
            n_both = int(both.sum())
            agree = float(np.mean(np.abs(data.Y[both, a] - data.Y[both, b]) <= _EPS)) if n_both else None
            union = float((obs[:, a] | obs[:, b]).mean()) if data.n_queries else 0.0
            kind = "complementary" if n_both == 0 else "overlapping"
            findings.append(
                make_finding(
                    check,
                    "warning",
                    f"{names[a]!r} and {names[b]!r} look like one model under two names: coverage {cov[a]:.0%} and "
                    f"{cov[b]:.0%}, {kind} ({n_both:,} queries answered by both)",
                    numbers={
                        "names": [names[a], names[b]],
                        "normalised": ka,
                        "coverage": {names[a]: _r(cov[a]), names[b]: _r(cov[b])},
                        "n_answered": {names[a]: int(obs[:, a].sum()), names[b]: int(obs[:, b].sum())},
                        "n_both": n_both,
                        "coverage_combined": _r(union),
                        "kind": kind,
                        "agreement_on_shared": _r(agree),
                    },
                    involved=[names[a], names[b]],
                    advice="Merge the two columns under one name when they are one model (split coverage gives "
                    "each a sparse column, so oracles and comparisons rest on different queries; a duplicate counts "
                    "twice in dominance and redundancy). If they are really different models or snapshots, rename "
                    "them so the difference is visible (e.g. add the snapshot date to both).",
                    reference=_LEADERBOARD_REF,
                )
            )
    if not findings:
        findings.append(
            make_finding(
                check, "info", f"No two of the {data.n_models} model names look alike", reference=_LEADERBOARD_REF
            )
        )
    return findings
