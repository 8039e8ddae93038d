"""The ``specialist_score`` check: per-category specialist score and its distribution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from routerlab.audit._common import RETHINKING, group_means, pick_best, share
from routerlab.audit.checks._shared import _EPS, _r
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData


def specialist_score(
    data: RoutingData,
    *,
    generalist: str | None = None,
    budgets: Sequence[float] | None = None,
    specialist_min: float = 0.05,
) -> list[Finding]:
    """Per-category specialist score and its distribution.

    ``specialist_score_t = E_{b∈B}[ max_{m ∈ M_non-gen^(b)} ACC_{m,t} − ACC_{gen(b),t} ]``
    (`rethinking-router-evaluation.txt` ("Who Routes the Router") §4.2, Problem 1; Figure 2, App. G Figure 9, §4.5
    Figure 4).

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


def _nanmax_rows(values: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Row-wise max over the boolean column mask ``cols``, ignoring NaN (NaN when nothing is finite)."""
    sub = values[:, cols]
    m = np.where(np.isnan(sub), -np.inf, sub).max(axis=1) if sub.shape[1] else np.full(len(values), -np.inf)
    out: np.ndarray = np.where(np.isfinite(m), m, np.nan)
    return out
