"""RouterXBench's tables for a binary small/large router: AUROC, LPM, MPM, HCR with paired-bootstrap CIs.

`routerxbench.txt` (arXiv:2602.11877) compares routers that decide, before a small local model
answers, whether to call a large model. Each router gives every test query a "keep the small model"
score; Tab. 1 reports, per router,

* AUROC of that score against the small model's correctness (§3.3 (1));
* LPM (Eq. 6, d1 = 0.3), MPM (Eqs. 10–11) and HCR (Eqs. 7–9, band 85–95 %) of the call-rate curve
  Φ between the small and the large model (§3.1, Eqs. 1–5) — undefined (None) when the large model's
  outcomes are unknown (e.g. MedQA) or Φ has no such band.

Comparisons are paired (`rethinking-router-evaluation.txt` §4.4, App. F): one matrix of resampled
test-query indices is drawn and every router's AUROC is computed on the same resamples, so the
difference to a reference router has its own percentile interval. Our significance tiers: ``**``
when the 99 % interval of the difference excludes 0, ``*`` when the 95 % one does, blank otherwise.

Hyper-parameters are chosen on validation only (:func:`select_on_validation`: best validation AUROC
over the router's ``param_grid``); the paper fixes one configuration per router.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from routerlab._random import rng
from routerlab.data.loaders.mcq import mmlu_group
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError
from routerlab.metrics import call_rate_curve, hcr_score, lpm_score, mpm_score
from routerlab.metrics.bootstrap import Interval
from routerlab.routers import ROUTERS, Router, make_router
from routerlab.routers.probe import with_encoder_layout

log = logging.getLogger(__name__)

#: Tab. 2's operating points: LPM up to a 30 % call rate, the high band at 85–95 % relative performance
D1 = 0.3
RHO = (0.85, 0.95)


def auroc_or_nan(score: np.ndarray, label: np.ndarray) -> float:
    """AUROC by average ranks (as :func:`routerlab.metrics.auroc_score`); NaN when ``label`` has one class.

    A bootstrap resample of a small test set can hold one class only; it carries no AUROC and is dropped.
    """
    n_pos = int(label.sum())
    n_neg = len(label) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def paired_auroc_draws(
    scores: Mapping[str, np.ndarray], label: np.ndarray, *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each router's AUROC on the same ``n_resamples`` bootstrap resamples of the test queries (NaN: one class)."""
    label = np.asarray(label, dtype=np.float64)
    for name, s in scores.items():
        if np.shape(s) != label.shape:
            raise SchemaError(
                f"router {name!r}: {np.shape(s)} scores for {label.shape} labels; score every test query."
            )
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1. Got {n_resamples}.")
    draws = rng(seed).integers(0, len(label), size=(n_resamples, len(label)))
    return {name: np.array([auroc_or_nan(np.asarray(s)[d], label[d]) for d in draws]) for name, s in scores.items()}


def _interval(estimate: float, draws: np.ndarray, level: float) -> Interval:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return Interval(estimate, float("nan"), float("nan"), level)
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return Interval(estimate, float(low), float(high), level)


def significance_mark(diff_draws: np.ndarray) -> str:
    """``**`` if the 99 % paired interval of the difference excludes 0, ``*`` if the 95 % one does, else ``""``."""
    for mark, level in (("**", 0.99), ("*", 0.95)):
        if _interval(0.0, diff_draws, level).excludes_zero:
            return mark
    return ""


def call_rate_metrics(
    keep_small: np.ndarray, y_small: np.ndarray, y_large: np.ndarray | None
) -> tuple[float | None, float | None, float | None]:
    """(LPM, MPM, HCR) of the call-rate curve of ``keep_small`` (Eqs. 1–11); None where undefined.

    None when the large model's outcomes are unknown (an out-of-domain set with the small model
    only) or when the paper leaves the metric undefined (no mid band for MPM, no band for HCR).
    """
    if y_large is None or not np.isfinite(y_large).all():
        return None, None, None
    curve = call_rate_curve(y_small=y_small, y_large=y_large, p_small_suffices=keep_small)
    metrics: tuple[Callable[[], float], ...] = (
        lambda: lpm_score(curve=curve, d1=D1),
        lambda: mpm_score(curve=curve, d1=D1, rho1=RHO[0]),
        lambda: hcr_score(curve=curve, rho=RHO),
    )
    out: list[float | None] = []
    for f in metrics:
        try:
            out.append(float(f()))
        except ValueError:  # the metric is undefined on this curve (documented in routerlab.metrics.curves)
            out.append(None)
    return out[0], out[1], out[2]


@dataclass(frozen=True, slots=True)
class Table1Row:
    """One router's line of Tab. 1: AUROC with its CI, the paired difference to the reference, LPM/MPM/HCR."""

    router: str
    auroc: Interval
    delta: Interval | None  # None for the reference itself
    mark: str
    lpm: float | None
    mpm: float | None
    hcr: float | None
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values (intervals as estimate/low/high/level; NaN stays NaN)."""

        def iv(i: Interval | None) -> dict[str, float] | None:
            return None if i is None else {"estimate": i.estimate, "low": i.low, "high": i.high, "level": i.level}

        return {
            "router": self.router,
            "auroc": iv(self.auroc),
            "delta_vs_reference": iv(self.delta),
            "significance": self.mark,
            "lpm": self.lpm,
            "mpm": self.mpm,
            "hcr": self.hcr,
            "params": {k: _jsonable(v) for k, v in self.params.items()},
        }


def _jsonable(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool) or v is None else repr(v)


def table1_rows(
    scores: Mapping[str, np.ndarray],
    *,
    y_small: np.ndarray,
    y_large: np.ndarray | None,
    reference: str,
    params: Mapping[str, dict[str, Any]] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[Table1Row]:
    """Tab. 1's rows for routers scored on the same test queries; ``scores[name]`` is higher = keep the small model.

    The label is the small model's correctness (``y_small >= 0.5``, App. B.1). Raises SchemaError
    when the test queries hold one class only (no AUROC) or ``reference`` is not among ``scores``.
    """
    if reference not in scores:
        raise SchemaError(f"reference router {reference!r} is not among the scored routers {sorted(scores)}.")
    y_small = np.asarray(y_small, dtype=np.float64)
    label = (y_small >= 0.5).astype(np.float64)
    if label.min() == label.max():
        raise SchemaError(
            f"AUROC needs both classes, but the small model is {'right' if label[0] else 'wrong'} on all "
            f"{len(label)} test queries; test on a set where it both succeeds and fails."
        )
    draws = paired_auroc_draws(scores, label, n_resamples=n_resamples, seed=seed)
    ref_auc = auroc_or_nan(np.asarray(scores[reference]), label)
    rows = []
    for name, s in scores.items():
        s = np.asarray(s, dtype=np.float64)
        auc = auroc_or_nan(s, label)
        delta, mark = None, ""
        if name != reference:
            diff = draws[name] - draws[reference]
            delta = _interval(auc - ref_auc, diff, level)
            mark = significance_mark(diff)
        lpm, mpm, hcr = call_rate_metrics(s, y_small, None if y_large is None else np.asarray(y_large, float))
        rows.append(
            Table1Row(
                name, _interval(auc, draws[name], level), delta, mark, lpm, mpm, hcr, dict((params or {}).get(name, {}))
            )
        )
    return rows


def keep_small_score(router: Router, data: RoutingData, X: np.ndarray, small: int, large: int) -> np.ndarray:
    """Higher = keep the small model: ``scores[:, small] − scores[:, large]`` (the report's strong score, negated).

    Read this way, the probes (whose small-model score is p̂) and routerlab's other families (kNN,
    MLP, ...) are compared on one footing.
    """
    scores = router.predict_scores(data, X)
    return np.asarray(scores[:, small] - scores[:, large], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Selected:
    """A router fitted on train with the configuration of best validation AUROC."""

    router: Router
    params: dict[str, Any]
    val_auroc: float


def select_on_validation(
    name: str,
    fixed: Mapping[str, Any],
    encoder: str,
    train: tuple[RoutingData, np.ndarray],
    val: tuple[RoutingData, np.ndarray],
    pair: tuple[int, int] = (0, 1),
) -> Selected:
    """Fit each configuration of ``name``'s ``param_grid`` (less ``fixed``) on train; keep the best validation AUROC.

    Test data never enters: the choice rests on ``val`` alone. Ties keep the first configuration.
    """
    grid = {k: v for k, v in ROUTERS.get(name).param_grid.items() if k not in fixed}
    val_data, X_val = val
    label = (val_data.Y[:, pair[0]] >= 0.5).astype(np.float64)
    best: Selected | None = None
    for values in itertools.product(*grid.values()):
        params = {**fixed, **dict(zip(grid, values, strict=True))}
        router = with_encoder_layout(make_router(name, **params), encoder).fit(*train)
        auc = auroc_or_nan(keep_small_score(router, val_data, X_val, *pair), label)
        # a NaN validation AUROC (one-class validation set) never displaces a finite one
        if best is None or (math.isfinite(auc) and (not math.isfinite(best.val_auroc) or auc > best.val_auroc)):
            best = Selected(router, params, auc)
    assert best is not None  # itertools.product of an empty grid still yields one configuration
    log.info("%s: selected %s (validation AUROC %.3f)", name, best.params, best.val_auroc)
    return best


def mmlu_groups(data: RoutingData) -> np.ndarray:
    """Each query's MMLU group (:data:`~routerlab.data.loaders.mcq.MMLU_GROUPS`) from its id ``mmlu/<subject>/<n>``."""
    out = []
    for qid in data.query_ids:
        parts = str(qid).split("/")
        if len(parts) < 3 or parts[0] != "mmlu":
            raise SchemaError(
                f"query id {qid!r} is not an MMLU id 'mmlu/<subject>/<n>'; subject groups need MMLU queries."
            )
        out.append(mmlu_group(parts[1]))
    return np.array(out)


def scaling_sizes(n_train: int, sizes: Sequence[int | None] = (1000, 4000, None)) -> list[tuple[str, int]]:
    """§6's training-set sizes capped at ``n_train``: (label, size) pairs, a size reached twice kept once.

    ``None`` means all training queries. A capped size is labelled ``"1K (all 204)"`` so the table says so.
    """
    out: list[tuple[str, int]] = []
    for size in sizes:
        n = n_train if size is None else min(size, n_train)
        if size is None:
            label = f"all ({n_train})"
        else:
            label = f"{size // 1000}K" if size % 1000 == 0 else str(size)
            if size > n_train:
                label += f" (all {n_train})"
        if all(n != m for _, m in out):
            out.append((label, n))
    return out


def _cell(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.3f}"


def rows_markdown(rows: Sequence[Table1Row], *, reference: str) -> str:
    """Tab. 1's layout as a Markdown table (AUROC [95 % CI], Δ vs the reference [95 % CI] and tier, LPM, MPM, HCR)."""
    lines = [
        f"| router | AUROC [95% CI] | Δ AUROC vs {reference} [95% CI] | LPM | MPM | HCR | selected |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a = r.auroc
        delta = (
            "(reference)"
            if r.delta is None
            else (f"{r.delta.estimate:+.3f} [{r.delta.low:+.3f}, {r.delta.high:+.3f}]{r.mark}")
        )
        shown = ", ".join(f"{k}={v}" for k, v in r.params.items() if k != "n_layers") or "–"
        lines.append(
            f"| {r.router} | {_cell(a.estimate)} [{_cell(a.low)}, {_cell(a.high)}] | {delta} | "
            f"{_cell(r.lpm)} | {_cell(r.mpm)} | {_cell(r.hcr)} | {shown} |"
        )
    return "\n".join(lines)
