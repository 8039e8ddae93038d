"""Metrics: pure functions, registered with their direction (higher or lower is better)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from routerlab._registry import Registry
from routerlab.metrics.calibration import (
    ReliabilityTable,
    RoutingErrors,
    brier_loss,
    confusion_matrix,
    ece_loss,
    oracle_labels,
    per_model_recall,
    reliability_table,
    routing_errors,
)
from routerlab.metrics.core import (
    DEFAULT_MISSING,
    MISSING_MEANING,
    MISSING_POLICIES,
    BestSingleModel,
    ChosenOutcomes,
    MissingPolicy,
    best_single_model,
    call_rate,
    ceiling_score,
    check_missing_policy,
    chosen,
    chosen_outcomes,
    cna_score,
    mean_cost,
    missing_decisions,
    oracle_accuracy_score,
    oracle_gap_loss,
    per_query_utility,
    pgr_score,
    routing_accuracy_score,
    utility_score,
)
from routerlab.metrics.curves import (
    Curve,
    UtilitySweep,
    apgr_score,
    area_under_curve,
    auroc_score,
    call_rate_curve,
    cpt,
    cpt_cost,
    deferral_curve,
    hcr_score,
    lpm_score,
    mpm_score,
    non_decreasing_hull,
    oracle_deferral_curve,
    router_deferral_points,
    utility_sweep,
)
from routerlab.metrics.diagnostics import (
    ExchangedWins,
    HardEasyGap,
    PairwiseDifference,
    SignificanceTable,
    disagreement,
    exchanged_wins,
    hard_easy_gap,
    hard_queries,
    knn_bce_loss,
    significance_table,
)
from routerlab.metrics.ope import (
    OffPolicyDiagnostics,
    OffPolicyValue,
    dm_value,
    dr_value,
    importance_weights,
    ips_value,
    off_policy_value,
    snips_value,
)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A metric function and the direction in which it improves."""

    fn: Callable[..., float]
    higher_is_better: bool
    description: str


METRICS: Registry[MetricSpec] = Registry("metric")
for _name, _spec in {
    "routing_accuracy": MetricSpec(routing_accuracy_score, True, "mean quality of the chosen models"),
    "oracle_accuracy": MetricSpec(oracle_accuracy_score, True, "mean of the best model per query"),
    "oracle_gap": MetricSpec(oracle_gap_loss, False, "oracle accuracy minus routing accuracy"),
    "cna": MetricSpec(cna_score, True, "routing accuracy / empirical ceiling"),
    "mean_cost": MetricSpec(mean_cost, False, "mean cost of the chosen calls"),
    "utility": MetricSpec(utility_score, True, "realised (1-λ)·quality − λ·normalised cost"),
    "pgr": MetricSpec(pgr_score, True, "performance gap recovered between a weak and a strong model"),
    "deferral_auc": MetricSpec(area_under_curve, True, "normalised area under a deferral / call-rate curve"),
    "auroc": MetricSpec(auroc_score, True, "router ability: AUROC of the score against small-model success"),
    "lpm": MetricSpec(lpm_score, True, "low-band performance mean of Φ over call rates [0, d1]"),
    "mpm": MetricSpec(mpm_score, True, "mid-band performance mean of Φ over call rates (d1, d2]"),
    "hcr": MetricSpec(hcr_score, True, "high-band call rate: 1 − mean call rate where Φ is in the RP band"),
    "apgr": MetricSpec(apgr_score, True, "average performance gap recovered over call rates"),
    "cpt": MetricSpec(cpt_cost, False, "call rate to the strong model needed to recover x% of the gap"),
    "ece": MetricSpec(ece_loss, False, "expected calibration error of predicted probabilities"),
    "brier": MetricSpec(brier_loss, False, "Brier score of predicted probabilities"),
    "knn_bce": MetricSpec(knn_bce_loss, False, "BCE of kNN-predicted correctness against the labels"),
}.items():
    METRICS.register(_name, _spec)

__all__ = [
    "DEFAULT_MISSING",
    "METRICS",
    "MISSING_MEANING",
    "MISSING_POLICIES",
    "BestSingleModel",
    "ChosenOutcomes",
    "Curve",
    "ExchangedWins",
    "HardEasyGap",
    "MetricSpec",
    "MissingPolicy",
    "OffPolicyDiagnostics",
    "OffPolicyValue",
    "PairwiseDifference",
    "ReliabilityTable",
    "RoutingErrors",
    "SignificanceTable",
    "UtilitySweep",
    "apgr_score",
    "area_under_curve",
    "auroc_score",
    "best_single_model",
    "brier_loss",
    "call_rate",
    "call_rate_curve",
    "ceiling_score",
    "check_missing_policy",
    "chosen",
    "chosen_outcomes",
    "cna_score",
    "confusion_matrix",
    "cpt",
    "cpt_cost",
    "deferral_curve",
    "disagreement",
    "dm_value",
    "dr_value",
    "ece_loss",
    "exchanged_wins",
    "hard_easy_gap",
    "hard_queries",
    "hcr_score",
    "importance_weights",
    "ips_value",
    "knn_bce_loss",
    "lpm_score",
    "mean_cost",
    "missing_decisions",
    "mpm_score",
    "non_decreasing_hull",
    "off_policy_value",
    "oracle_accuracy_score",
    "oracle_deferral_curve",
    "oracle_gap_loss",
    "oracle_labels",
    "per_model_recall",
    "per_query_utility",
    "pgr_score",
    "reliability_table",
    "router_deferral_points",
    "routing_accuracy_score",
    "routing_errors",
    "significance_table",
    "snips_value",
    "utility_score",
    "utility_sweep",
]
