"""The ``oracle_ceiling`` check: unsolvability ceiling, CNA ceiling and routing gain per source."""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.audit._common import (
    RETHINKING,
    SOLVED_THRESHOLD,
    UNSOLVABILITY,
    answered,
    best_observed,
    full_quality_labels,
    group_means,
    label_distribution,
    pick_best,
    round_figs,
    solved_cells,
)
from routerlab.audit.checks._shared import _EPS, _r
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData


def oracle_ceiling(
    data: RoutingData, *, solved_threshold: float = SOLVED_THRESHOLD, unsolvable_warn: float = 0.10
) -> list[Finding]:
    """The unsolvability ceiling, the CNA ceiling and the routing gain available per source.

    For each query the *optimal label* is the cheapest model reaching full quality
    (``Y >= solved_threshold``), and ``"none"`` when no model does
    (`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §4.2, Table 5). The
    **ceiling** is the share of queries with a label (§4.2: "the fraction of queries solved by at least one tier"),
    reported overall, per source and per category. For graded scores no model may reach 1, so the **oracle
    quality** ``1/N Σ_i max_m Y[i, m]`` is reported as well: it is
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
        # each query's group index, once: a text comparison of every key per group cost groups × N string ops
        codes = np.unique(keys.astype(str), return_inverse=True)[1].reshape(-1)
        out: dict[str, dict[str, Any]] = {}
        for gi, g in enumerate(gnames):
            r = rows & (codes == gi)
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
