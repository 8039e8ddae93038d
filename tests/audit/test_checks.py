"""Audit checks on hand-built data with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.audit.checks import (
    artifacts,
    jaccard_similarity,
    label_sanity,
    model_dominance,
    model_redundancy,
    oracle_ceiling,
    prune_models,
    specialist_score,
)
from routerlab.data import ModelInfo
from tests.audit._toy import toy


# ------------------------------------------------------------------------------------------ ceiling
def test_oracle_ceiling_by_hand() -> None:
    # costs 1, 2, 3: q0 solved by the cheapest, q1 by m1, q2 only by m2, q3 by nobody
    data = toy([[1, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0]], sources=["a", "a", "b", "b"])
    [f] = oracle_ceiling(data)
    n = f.numbers
    assert n["ceiling"] == 0.75 and n["unsolvable_share"] == 0.25
    assert n["oracle_quality"] == n["cna_ceiling"] == 0.75
    assert n["optimal_label_distribution"] == {"m0": 0.25, "m1": 0.25, "m2": 0.25, "none": 0.25}
    assert n["per_source"]["a"]["ceiling"] == 1.0 and n["per_source"]["b"]["ceiling"] == 0.5
    assert (n["cheapest_model"], n["strongest_model"]) == ("m0", "m2")
    assert n["routing_gain"] == 0.5
    assert n["per_source"]["a"]["routing_gain"] == 0.5 and n["per_source"]["b"]["routing_gain"] == 0.5
    assert n["best_single_cna"] == 1.0  # m2 reaches every solvable query
    assert f.severity == "warning" and f.involved == ("q3",)


def test_oracle_ceiling_graded_reports_both() -> None:
    data = toy([[0.5, 0.2], [1.0, 0.0], [0.1, 0.3]])
    [f] = oracle_ceiling(data)
    assert f.numbers["binary_outcomes"] is False
    assert f.numbers["ceiling"] == pytest.approx(1 / 3, abs=1e-4)
    assert f.numbers["oracle_quality"] == pytest.approx((0.5 + 1.0 + 0.3) / 3, abs=1e-4)
    assert "oracle quality" in f.title


def test_oracle_ceiling_flags_misaligned_columns() -> None:
    data = toy([[1, 0], [0, 1]], meta={"alignment_check": {"n_groups": 2, "groups": [["m0"], ["m1"]]}})
    found = oracle_ceiling(data)
    assert len(found) == 2 and found[1].severity == "warning"
    assert found[1].numbers["groups"]["group_0"]["ceiling_within_group"] == 0.5


# ------------------------------------------------------------------------------------------ specialists
def _two_categories() -> object:
    # t1: A = 1, B = 0, C = 0.5; t2: A = 0, B = 1, C = 1  (two queries each); costs 1, 2, 3
    Y = [[1, 0, 1], [1, 0, 0], [0, 1, 1], [0, 1, 1]]
    return toy(Y, names=["A", "B", "C"], categories=["t1", "t1", "t2", "t2"])


def test_specialist_score_heuristic_generalist_by_hand() -> None:
    # overall A = .5, B = .5, C = .75. Budget 1: only A, skipped. Budget 2: generalist A (tie with B, cheaper),
    # t1: B - A = -1, t2: B - A = 1. Budget 3: generalist C, t1: max(A, B) - C = .5, t2: max(A, B) - C = 0.
    [f] = specialist_score(_two_categories())
    assert f.numbers["scores"] == {"t2": 0.5, "t1": -0.25}
    assert [b["generalist"] for b in f.numbers["budgets"]] == ["A", "C"]
    assert (f.numbers["n_negative"], f.numbers["n_marginal"], f.numbers["n_specialist"]) == (1, 0, 1)
    assert f.numbers["mean"] == 0.125 and f.severity == "info" and f.involved == ("t2",)


def test_specialist_score_fixed_generalist_by_hand() -> None:
    # generalist C at every budget; non-generalists within budget: {A}, {A, B}, {A, B}
    # t1: (1 - .5) x 3 / 3 = .5; t2: (0 - 1 + 1 - 1 + 1 - 1) / 3 = -1/3
    [f] = specialist_score(_two_categories(), generalist="C")
    assert f.numbers["scores"]["t1"] == 0.5
    assert f.numbers["scores"]["t2"] == pytest.approx(-1 / 3, abs=1e-4)


def test_specialist_score_warns_without_specialist_categories() -> None:
    data = toy([[0, 1], [0, 1]], categories=["a", "b"])
    [f] = specialist_score(data)
    assert f.severity == "warning" and f.numbers["n_specialist"] == 0


# ------------------------------------------------------------------------------------------ dominance
def test_model_dominance_flags_planted_dominant_model_with_tied_ranks() -> None:
    # per category means: D = 1 everywhere; c1: E = F = .5 (ranks 2.5 each); c2: E .5 > F 0; c3: F .5 > E 0
    Y = [[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 0, 1], [1, 0, 0]]
    data = toy(Y, names=["D", "E", "F"], categories=["c1", "c1", "c2", "c2", "c3", "c3"])
    [f] = model_dominance(data)
    assert f.severity == "warning" and f.involved == ("D",)
    assert f.numbers["dominant_model"] == "D" and f.numbers["best_avg_rank"] == 1.0
    assert f.numbers["avg_rank"] == {"D": 1.0, "E": 2.5, "F": 2.5}
    [g] = model_dominance(data, dominance_rank=0.9)
    assert g.severity == "info" and g.involved == ()


def test_model_dominance_not_flagged_when_models_split_categories() -> None:
    data = toy([[1, 0], [0, 1]], categories=["c1", "c2"])
    [f] = model_dominance(data)
    # average ranks 1.5 and 1.5 reach the threshold, but neither model is first in most categories
    assert f.severity == "info" and f.numbers["best_avg_rank"] == 1.5
    three = toy([[1, 0], [0, 1], [1, 0]], categories=["c1", "c2", "c3"])
    [g] = model_dominance(three, dominance_rank=1.5)
    assert g.severity == "warning" and g.numbers["best_avg_rank"] == pytest.approx(4 / 3, abs=1e-3)


# ------------------------------------------------------------------------------------------ redundancy
def _with_clone() -> object:
    a = [1, 1, 1, 1, 0, 0, 0, 0]
    b = [0, 0, 0, 0, 1, 1, 0, 0]
    c = [0, 0, 1, 0, 0, 1, 1, 1]
    Y = np.array([a, a, b, c], dtype=float).T
    return toy(Y, names=["A", "A_clone", "B", "C"], costs=[1.0, 1.5, 1.0, 1.0])


def test_jaccard_by_hand() -> None:
    sim = jaccard_similarity(_with_clone())
    assert sim[0, 1] == 1.0 and sim[0, 2] == 0.0
    assert sim[0, 3] == pytest.approx(1 / 7) and sim[2, 3] == pytest.approx(1 / 5)


def test_jaccard_ignores_cells_not_observed_by_both() -> None:
    data = toy([[1, np.nan], [1, 1], [0, 1]])
    sim = jaccard_similarity(data)
    assert sim[0, 1] == 0.5  # rows 1 and 2 only: intersection {1}, union {1, 2}


def test_pruning_removes_planted_clone_first() -> None:
    data = _with_clone()
    steps = prune_models(data, 2)
    # scores (λ = .5): A = A_clone = .25 - .381/2, B = .125 - .0667/2, C = .25 - .162/2 -> the clone pair goes;
    # the tie is broken towards the more expensive copy. Then B (score .075) before C (.164).
    assert [s["removed"] for s in steps] == ["A_clone", "B"]
    [f] = model_redundancy(data, target_size=3)
    assert f.involved == ("A_clone",) and f.severity == "warning"
    assert f.numbers["oracle_quality_before"] == f.numbers["oracle_quality_after"] == 1.0
    assert f.numbers["most_similar_pairs"][0] == {"a": "A", "b": "A_clone", "jaccard": 1.0}


def test_pruning_reports_oracle_loss() -> None:
    [f] = model_redundancy(_with_clone(), target_size=1, lam=1.0)
    assert f.numbers["kept"] == ["A"] and f.numbers["oracle_quality_after"] == 0.5


# ------------------------------------------------------------------------------------------ label sanity
def test_majority_share_and_trap_by_hand() -> None:
    # labels (cheapest with the highest outcome): q0..q3 -> m0, q4 -> m1: 80 % >= 79 %
    data = toy([[1, 1], [1, 0], [0, 0], [1, 1], [0, 1]])
    found = label_sanity(data)
    f = found[0]
    assert f.numbers["majority_model"] == "m0" and f.numbers["majority_share"] == 0.8
    assert f.severity == "warning" and "majority trap" in f.title
    # among solved queries only: q0, q1, q3 -> m0, q4 -> m1 (q2 unsolved)
    assert f.numbers["majority_share_among_solved"] == 0.75 and f.numbers["n_unsolved_labelled_cheapest"] == 1
    g = label_sanity(data, majority_trap=0.9)[0]
    assert g.severity == "info"


def test_prices_costs_tokens_and_coverage() -> None:
    models = [
        ModelInfo(name="free", input_price=0.0, output_price=1.0),
        ModelInfo(name="unknown"),
        ModelInfo(name="ok", input_price=1.0, output_price=2.0),
    ]
    cost = np.array([[0.1, 2.0, 1.0], [0.2, 2.0, 1.5], [0.3, 2.0, 0.5], [0.4, 2.0, 2.5]])
    tokens_out = np.array([[10, -1, 5], [0, 20, 5], [2e6, 20, 5], [10, 20, 5]], dtype=float)
    Y = [[1, 0, 1], [0, 1, np.nan], [1, 1, np.nan], [0, 0, np.nan]]
    data = toy(Y, cost=cost, models=models, tokens_out=tokens_out)
    by_title = {f.title: f for f in label_sanity(data)}
    zero = next(f for t, f in by_title.items() if "price of 0" in t)
    assert zero.involved == ("free",) and zero.severity == "warning"
    missing = next(f for t, f in by_title.items() if "no price" in t)
    assert missing.involved == ("unknown",)
    constant = next(f for t, f in by_title.items() if "constant" in t)
    assert constant.involved == ("unknown",) and constant.severity == "warning"  # per-call usd should vary
    tokens = next(f for t, f in by_title.items() if t.startswith("tokens_out"))
    assert tokens.numbers["negative"] == 1 and tokens.numbers["zero_where_answered"] == 1
    assert tokens.numbers["above_1000000"] == 1 and tokens.numbers["by_model"] == {"free": 2, "unknown": 1}
    coverage = next(f for t, f in by_title.items() if "fewer than" in t)
    assert coverage.involved == ("ok",) and coverage.numbers["coverage"] == {"ok": 0.25}


def test_constant_cost_is_only_a_note_for_per_model_units() -> None:
    data = toy([[1, 0], [0, 1]], cost_unit="params_b")
    constant = [f for f in label_sanity(data) if "constant" in f.title]
    assert constant and constant[0].severity == "info" and constant[0].numbers["all"] is True


# ------------------------------------------------------------------------------------------ artifacts
def _artifact_toy() -> object:
    # Y is exact match (0/1); raw_score a 0/1/2 judge; m0's answer to q2 truncated, to q3 unparsed
    Y = [[1, 1], [0, 1], [0, 0], [0, 0], [0, 0], [1, 0]]
    raw = [[2, 2], [0, 1], [0, 1], [0, 0], [2, 0], [1, 0]]
    truncated = np.zeros((6, 2), dtype=bool)
    truncated[2, 0] = True
    parsed = np.ones((6, 2), dtype=bool)
    parsed[3, 0] = False
    return toy(Y, raw_score=raw, truncated=truncated, parsed=parsed)


def test_artifacts_by_hand() -> None:
    [f] = artifacts(_artifact_toy())
    n = f.numbers
    # judge-solved (raw == 2): q0, q4 -> ceiling 2/6; unsolved q1 (EM-correct m1: misalignment),
    # q2 (truncated), q3 (parse failure), q5 (EM-correct m0: misalignment)
    d = n["unsolved_decomposition"]
    assert d["n_unsolved"] == 4
    assert d["evaluation_misalignment"] == {"n": 2, "share": 0.5}
    assert d["truncation"] == {"n": 1, "share": 0.25}
    assert d["parse_failure"] == {"n": 1, "share": 0.25}
    assert d["any_artifact"]["n"] == 4 and d["unexplained"]["n"] == 0
    assert n["judge_ceiling"] == pytest.approx(2 / 6, abs=1e-4)
    # exact match replaces the judge where it exists: q0, q1, q5 solved; q4 was a judge false positive
    assert n["exact_match_corrected_ceiling"] == 0.5
    assert n["ceiling_if_artifacts_recovered"] == 1.0
    # 11 exact-match cells with a raw score (q3/m0 unparsed is excluded): 1 false positive, 2 false negatives
    assert n["dual_judge"]["n_cells"] == 11
    assert n["dual_judge"]["judge_false_positive"] == pytest.approx(1 / 11, abs=1e-4)
    assert n["dual_judge"]["judge_false_negative"] == pytest.approx(2 / 11, abs=1e-4)
    assert n["raw_score_is_rescaled_y"] is False
    assert n["rates_by_model"]["truncation_rate"] == {"m0": pytest.approx(1 / 6, abs=1e-4), "m1": 0.0}
    assert f.severity == "warning" and set(f.involved) == {"q1", "q2", "q3", "q5"}
    assert f.title.endswith("ceiling 33.3% (judge) vs 50.0% (exact-match corrected)")


def test_artifacts_truncation_only() -> None:
    truncated = np.array([[True, False], [False, False]])
    [f] = artifacts(toy([[0, 0], [1, 0]], truncated=truncated))
    d = f.numbers["unsolved_decomposition"]
    assert d["n_unsolved"] == 1 and d["truncation"]["n"] == 1
    assert d["evaluation_misalignment"] is None and d["parse_failure"] is None
    assert f.numbers["ceiling_if_artifacts_recovered"] == 1.0
    # no judge: the title speaks of the scorer's verdicts, not of a judge (q1 solved: 1/2 as scored)
    assert "judge" not in f.title and "judge" not in f.advice
    assert f.title == (
        "1 of 1 unsolved queries (100%) have a truncated answer; "
        "ceiling 50.0% as scored, up to 100.0% were every such answer recoverable"
    )


def test_artifacts_same_judgement_is_reported() -> None:
    Y = np.array([[1.0, 0.0], [0.0, 0.0]])
    [f] = artifacts(toy(Y, raw_score=Y * 9 + 1))
    assert f.numbers["raw_score_is_rescaled_y"] is True
    assert f.numbers["dual_judge"]["discordance"] == 0.0 and f.numbers["notes"]


def test_artifacts_not_applicable_without_matrices() -> None:
    [f] = artifacts(toy([[1, 0]]))
    assert f.severity == "info" and f.title.startswith("Not applicable: needs raw_score")


def test_artifacts_ignores_single_judge_sources_in_a_mixed_run() -> None:
    # source "dual": exact-match Y beside an independent judge (2 of 4 cells disagree);
    # source "judge": Y = grade / 2, raw = grade (one judgement) -> must not dilute the discordance
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.0]])
    raw = np.array([[2.0, 2.0], [0.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    [f] = artifacts(toy(Y, raw_score=raw, sources=["dual", "dual", "judge", "judge"]))
    n = f.numbers
    assert n["raw_score_is_rescaled_y"] is False and n["single_judge_sources"] == ["judge"]
    assert n["dual_judge"]["n_cells"] == 4
    assert n["dual_judge"]["discordance"] == 0.5
    assert n["dual_judge"]["judge_false_positive"] == 0.25 and n["dual_judge"]["judge_false_negative"] == 0.25
