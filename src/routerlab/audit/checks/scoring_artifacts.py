"""The ``artifacts`` check: what of the unsolved share is judge, truncation or parse artefact."""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.audit._common import SOLVED_THRESHOLD, UNSOLVABILITY, answered, share, solved_cells
from routerlab.audit.checks._shared import _EPS, _r
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData


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
    ``parsed``; otherwise one info finding says so. Following
    `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §3.3 and §5:

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
    source_names, codes = np.unique(data.sources.astype(str), return_inverse=True)  # once, not per source
    for i, s in enumerate(source_names):
        r = rows & (codes.reshape(-1) == i)
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
    if raw is not None:
        title = (
            f"{int(anyart.sum())} of {n_uns} unsolved queries ({art_share:.0%}) show an evaluation artifact; "
            f"ceiling {judge_ceiling or 0:.1%} (judge) vs {em_ceiling or 0:.1%} (exact-match corrected)"
        )
        advice = (
            "Pair the judge with exact match where gold answers exist and build oracle labels from the metric "
            "that matches deployment; raise generation budgets until truncation is rare and report the rate; "
            "fix answer extraction before calling a query unsolvable. Quote the corrected ceiling beside the "
            "judge ceiling."
        )
    else:
        # no judge here: Y is the scorer's own verdict, so the only artifacts are truncation and parsing
        kinds = " or ".join(k for k, v in (("truncated", have["truncated"]), ("unparsed", have["parsed"])) if v)
        title = (
            f"{int(anyart.sum())} of {n_uns} unsolved queries ({art_share:.0%}) have a {kinds} answer; "
            f"ceiling {judge_ceiling or 0:.1%} as scored, up to {upper or 0:.1%} were every such answer recoverable"
        )
        advice = (
            "Raise generation budgets until truncation is rare and report the rate; fix answer extraction "
            "before calling a query unsolvable. Quote the ceiling with artifacts recovered beside the scored one."
        )
    return [
        make_finding(
            check,
            severity,
            title,
            numbers=numbers,
            involved=data.query_ids[anyart],
            advice=advice,
            reference=ref,
        )
    ]
