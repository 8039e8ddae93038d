"""The ``model_dominance`` check: average rank across categories, flagging a dominant model."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

from routerlab.audit._common import RETHINKING, group_means
from routerlab.audit.checks._shared import _r
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData


def model_dominance(
    data: RoutingData, *, dominance_rank: float = 1.5, min_category_share: float = 0.5, top_k: int = 5
) -> list[Finding]:
    """Each model's average rank across categories; flags a single dominant model.

    In every category the models with outcomes are ranked by mean observed quality (rank 1 = best;
    tied models share the average of their ranks); a model's **average rank** is the mean over the
    categories where it has outcomes (`rethinking-router-evaluation.txt` ("Who Routes the Router") §4.3, Problem 1,
    Table 2; §4.5, Figure 5). Only models with outcomes in at least ``min_category_share`` of the categories may
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
