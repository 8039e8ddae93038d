"""The ``label_sanity`` check: oracle-label imbalance, prices, costs, token counts and coverage."""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.audit._common import (
    RETHINKING,
    SOLVED_THRESHOLD,
    UNSOLVABILITY,
    answered,
    full_quality_labels,
    label_distribution,
    round_figs,
)
from routerlab.audit.checks._shared import _r
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData
from routerlab.routers.baselines import oracle_choice

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
      ``majority_trap`` of the labels (79.3 % in
      `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §3.4, §8.1), an unweighted
      router collapses to it and still scores the majority baseline (§8.1–8.5). Reported over all answered queries, over
      the train split, and among solved queries only (unsolved queries tie at the bottom and all go to the cheapest
      model, §8.4).
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
