"""Pseudo-specialist and OOD probes on planted data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.audit import audit
from routerlab.audit.probes import (
    add_pseudo_specialists,
    match_categories,
    ood_holdout,
    ood_probe,
    pseudo_specialist_probe,
    select_targets,
)
from routerlab.errors import SchemaError
from routerlab.routers.knn import KNNRouter
from tests.audit._toy import toy

PER_CAT = 100
# k spans a whole training cluster (70 queries), so kNN's estimate on a category is its exact train mean
WIDE_KNN = KNNRouter(k=70)


def planted(acc: dict[str, list[float]], seed: int = 0) -> tuple:
    """Categories of PER_CAT queries, one tight cluster each; model j is correct on exactly acc[c][j] of c.

    Splits alternate 7 train / 3 test within each category, so every category is in both.
    """
    rng = np.random.default_rng(seed)
    cats = list(acc)
    n_models = len(next(iter(acc.values())))
    Y = np.zeros((PER_CAT * len(cats), n_models))
    X = np.zeros((PER_CAT * len(cats), len(cats) + 2))
    for i, c in enumerate(cats):
        rows = slice(i * PER_CAT, (i + 1) * PER_CAT)
        for j, p in enumerate(acc[c]):
            col = np.zeros(PER_CAT)
            col[rng.permutation(PER_CAT)[: round(p * PER_CAT)]] = 1.0
            Y[rows, j] = col
        X[rows, i] = 10.0
        X[rows, -2:] = rng.normal(0, 0.1, size=(PER_CAT, 2))
    labels = np.repeat(cats, PER_CAT)
    splits = ["train" if (k % 10) < 7 else "test" for k in range(len(labels))]
    names = ["gen", "small"] + [f"m{j}" for j in range(2, n_models)]
    data = toy(
        Y,
        names=names[:n_models],
        costs=[2.0, 1.0, *[1.5] * (n_models - 2)],
        categories=labels,
        splits=splits,
        texts=[f"{c} question {k}" for k, c in enumerate(labels)],
    )
    return data, X


def test_pseudo_specialist_accuracies_match_the_definition() -> None:
    data, _ = planted({"A": [0.8, 0.5], "B": [0.7, 0.4], "C": [0.3, 0.2]})
    aug, injected = add_pseudo_specialists(data, ["C"], boost=0.25, random_state=3)
    assert aug.model_names == ["gen", "small", "pseudo:C"]
    np.testing.assert_array_equal(aug.Y[:, :2], data.Y)  # the real pool is untouched
    col = aug.Y[:, 2]
    cats = np.asarray(data.categories)
    # BestAcc(C) + 25 pp = 0.55 exactly on C; the pool mean elsewhere (A: 0.65, B: 0.55)
    assert col[cats == "C"].mean() == pytest.approx(0.55)
    assert col[cats == "A"].mean() == pytest.approx(0.65)
    assert col[cats == "B"].mean() == pytest.approx(0.55)
    assert injected[0].best_accuracy == pytest.approx(0.3)
    assert injected[0].target_accuracy == pytest.approx(0.55)
    # cost is the median of the real models' costs on each query (here 1.5)
    np.testing.assert_allclose(aug.cost[:, 2], 1.5)
    # the accuracy is capped at 1
    _, inj2 = add_pseudo_specialists(data, ["A"], boost=0.25)
    assert inj2[0].target_accuracy == 1.0
    # a seed reproduces; another seed moves the correct answers but not their number
    again, _ = add_pseudo_specialists(data, ["C"], boost=0.25, random_state=3)
    other, _ = add_pseudo_specialists(data, ["C"], boost=0.25, random_state=4)
    np.testing.assert_array_equal(again.Y, aug.Y)
    assert not np.array_equal(other.Y[:, 2], aug.Y[:, 2])
    assert other.Y[cats == "C", 2].sum() == aug.Y[cats == "C", 2].sum()


def test_pseudo_specialist_errors_name_the_problem() -> None:
    data, _ = planted({"A": [0.8, 0.5], "C": [0.3, 0.2]})
    with pytest.raises(SchemaError, match=r"Unknown target categories.*'Z'.*A, C"):
        add_pseudo_specialists(data, ["Z"])
    with pytest.raises(SchemaError, match="boost must be in"):
        add_pseudo_specialists(data, ["A"], boost=0.0)
    aug, _ = add_pseudo_specialists(data, ["A"])
    with pytest.raises(SchemaError, match="already exists"):
        add_pseudo_specialists(aug, ["A"])


def test_select_targets_prefers_hard_non_dominated_categories() -> None:
    # D is the hardest on average but dominated by one model (gap 0.6); C is hard with a small gap.
    data, _ = planted({"A": [0.9, 0.8, 0.85], "B": [0.7, 0.6, 0.65], "C": [0.3, 0.2, 0.25], "D": [0.7, 0.05, 0.0]})
    assert select_targets(data, 1) == ["C"]
    assert select_targets(data, 2) == ["C", "B"]


def test_knn_leaves_the_generalist_for_the_specialist_on_its_category() -> None:
    data, X = planted({"A": [0.8, 0.5], "B": [0.7, 0.4], "C": [0.3, 0.2]})
    res = pseudo_specialist_probe(data, X, routers=[WIDE_KNN], targets=["C"])
    assert res.generalist == "gen" and res.routers == ("knn(k=70, weights='uniform')",)
    knn = res.routers[0]
    # before: on C the generalist is also the best real model, so kNN agrees with it everywhere
    assert res.before[knn]["C"] == pytest.approx(100.0)
    # after: the specialist is 25 pp better on its tight cluster, so kNN sends C there
    assert res.after[knn]["C"] == pytest.approx(0.0)
    assert res.to_specialist[knn]["C"] == pytest.approx(100.0)
    assert res.delta(knn, "C") == pytest.approx(-100.0)
    # overall: exactly C's third of the test queries moved away
    assert res.delta(knn) == pytest.approx(-100.0 / 3)
    table = res.to_markdown()
    assert "| C | -100.00 |" in table and "| overall | -33.33 |" in table
    # the same seed reproduces the whole probe
    again = pseudo_specialist_probe(data, X, routers=[WIDE_KNN], targets=["C"])
    assert again.after == res.after and again.before == res.before


def test_a_router_that_ignores_features_is_flagged_as_not_adaptive() -> None:
    data, X = planted({"A": [0.8, 0.5], "B": [0.7, 0.4], "C": [0.3, 0.2]})
    found = audit(data, ["pseudo_specialists"], X=X, routers=[WIDE_KNN, "best_single"], targets=["C"])
    by_router = {f.involved[0].split("(")[0]: f for f in found.findings[1:]}
    assert by_router["best_single"].severity == "warning"  # it never moves: Δ = 0 on C
    assert by_router["best_single"].numbers["to_specialist_pct"] == {"C": 0.0}
    assert by_router["knn"].severity == "info"
    assert found.findings[0].numbers["agreement_change_pp"]["knn(k=70, weights='uniform')"]["C"] == -100.0


def test_ood_drop_equals_the_hand_computed_accuracies() -> None:
    # On C the small model is far better; A and B favour the generalist.
    data, X = planted({"A": [0.8, 0.5], "B": [0.7, 0.4], "C": [0.1, 0.9]})
    res = ood_probe(data, ["C"], X, routers=["knn"])  # default k = 10: the drop is this large for any k
    test_c = (np.asarray(data.splits) == "test") & (np.asarray(data.categories) == "C")
    # in distribution kNN routes C to the small model; without C in training its neighbours are A/B
    # queries, which route to the generalist
    assert res.in_dist["knn"]["C"] == pytest.approx(100 * data.Y[test_c, 1].mean())
    assert res.ood["knn"]["C"] == pytest.approx(100 * data.Y[test_c, 0].mean())
    assert res.delta("knn", "C") < -50
    assert res.n_test == {"C": int(test_c.sum())}
    assert "| C | 30 |" in res.to_markdown()


def test_ood_holdout_check_warns_on_a_drop_and_skips_without_math() -> None:
    data, X = planted({"A": [0.8, 0.5], "B": [0.7, 0.4], "C": [0.1, 0.9]})
    found = ood_holdout(data, X=X, routers=["knn"], holdout="C")
    assert found[1].severity == "warning" and "knn" in found[1].title
    skipped = ood_holdout(data, X=X, routers=["knn"])
    assert skipped[0].title.startswith("Not run: no math category")
    # the default hold-out finds math-like categories by name
    mathy, Xm = planted({"arc": [0.8, 0.5], "gsm8k": [0.1, 0.9], "mmlu": [0.7, 0.4]})
    found = ood_holdout(mathy, X=Xm, routers=["knn"])
    assert found[0].involved == ("gsm8k",)


def test_match_categories_and_split_errors() -> None:
    data, X = planted({"gsm8k": [0.8, 0.5], "math": [0.7, 0.4], "mmlu": [0.1, 0.9]})
    assert match_categories(data, "math|gsm") == ["gsm8k", "math"]
    assert match_categories(data, "mmlu, math") == ["mmlu", "math"]
    with pytest.raises(SchemaError, match=r"'physics' matches none.*gsm8k, math, mmlu"):
        match_categories(data, "physics")
    with pytest.raises(SchemaError, match="not a valid regular expression"):
        match_categories(data, "(")
    with pytest.raises(SchemaError, match="leaves no training queries"):
        ood_probe(data, ".*", X, routers=["knn"])
    no_test = data.with_splits(["train"] * data.n_queries)
    with pytest.raises(SchemaError, match="'train' split and score on 'test'"):
        ood_probe(no_test, "math", X, routers=["knn"])
    with pytest.raises(SchemaError, match="X must be a"):
        pseudo_specialist_probe(data, X[:5], routers=["knn"], targets=["math"])


def test_default_targets_have_train_and_test_queries() -> None:
    data, X = planted({"A": [0.8, 0.5], "B": [0.7, 0.4], "C": [0.3, 0.2]})
    cats = np.asarray(data.categories)
    splits = np.where(cats == "C", "ood", np.asarray(data.splits))  # C, the hardest, is never in test
    assert select_targets(data, 1) == ["C"]
    res = pseudo_specialist_probe(data.with_splits(splits), X, routers=["best_single"], n_specialists=1)
    assert [s.target for s in res.specialists] == ["B"]
