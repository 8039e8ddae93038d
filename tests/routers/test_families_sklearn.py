"""Feature-based router families beyond conformance: kNN, KMeans, feat_lr/feat_mlp, rf/gbdt, LinUCB, BT."""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import SchemaError
from routerlab.routers import make_router
from routerlab.routers._tabular import oracle_candidates
from routerlab.routers.bandit import LinUCBRouter
from routerlab.routers.baselines import BestSingle
from routerlab.routers.checks import make_check_problem
from routerlab.routers.classifiers import FeatureLogisticRouter
from routerlab.routers.cluster import KMeansRouter
from routerlab.routers.knn import KNNRouter
from routerlab.routers.pairwise import BradleyTerryRouter, preference_pairs
from routerlab.routers.trees import GradientBoostingRouter, RandomForestRouter

FAMILIES = ("knn", "kmeans", "feat_lr", "feat_mlp", "rf", "gbdt", "linucb", "elo")


def _data(Y: np.ndarray, price: list[float] | None = None, name: str = "tiny") -> RoutingData:
    n, m = Y.shape
    price_arr = np.asarray(price if price is not None else np.arange(1, m + 1), dtype=float)
    return RoutingData(
        name=name,
        query_ids=[f"q{i}" for i in range(n)],
        sources=["s"] * n,
        splits=["train"] * n,
        models=tuple(ModelInfo(name=f"m{j}") for j in range(m)),
        Y=Y,
        cost=np.tile(price_arr, (n, 1)),
        cost_unit="usd",
    )


def _split(seed: int = 0, n_queries: int = 400, **kw: float) -> tuple[RoutingData, np.ndarray, RoutingData, np.ndarray]:
    data, X = make_check_problem(seed=seed, n_queries=n_queries, **kw)
    tr, te = data.splits == "train", data.splits == "test"
    return data.subset(tr), X[tr], data.subset(te), X[te]


def _accuracy(router, test: RoutingData, X: np.ndarray | None) -> float:  # type: ignore[no-untyped-def]
    chosen = router.route(test, X)
    return float(test.Y[np.arange(test.n_queries), chosen].mean())


# ---------------------------------------------------------------------------------------------- all families
@pytest.mark.parametrize("name", FAMILIES)
def test_learned_router_beats_best_single(name: str) -> None:
    """Cluster k is solved by model k: every feature router must route by cluster, far above one model."""
    train, Xtr, test, Xte = _split()
    base = _accuracy(BestSingle().fit(train), test, None)
    acc = _accuracy(make_router(name).fit(train, Xtr), test, Xte)
    assert acc >= base + 0.2, f"{name}: routing accuracy {acc:.2f} vs BestSingle {base:.2f}"


@pytest.mark.parametrize("name", FAMILIES)
def test_feature_width_mismatch_is_schema_error(name: str) -> None:
    train, Xtr, test, Xte = _split(n_queries=120)
    router = make_router(name).fit(train, Xtr)
    with pytest.raises(SchemaError, match="features"):
        router.predict_scores(test, Xte[:, :-1])


@pytest.mark.parametrize("name", FAMILIES)
def test_param_grid_is_small_and_valid(name: str) -> None:
    router = make_router(name)
    grid = type(router).param_grid
    assert grid and set(grid) <= set(router.get_params())
    assert int(np.prod([len(v) for v in grid.values()])) <= 15


# ---------------------------------------------------------------------------------------------- kNN
def _knn_example() -> tuple[RoutingData, np.ndarray]:
    X = np.array([[1.0, 0.0], [1.0, 0.1], [1.0, 0.5], [0.0, 1.0], [-1.0, 0.0], [0.5, 1.0]])
    nan = np.nan
    Y = np.array(
        [
            [1.0, 0.0, nan],
            [0.0, nan, nan],
            [1.0, 1.0, nan],
            [0.0, 1.0, 1.0],
            [0.0, 1.0, 0.0],
            [1.0, 0.0, 1.0],
        ]
    )
    return _data(Y), X


def test_knn_uniform_matches_hand_computed_average() -> None:
    train, X = _knn_example()
    router = KNNRouter(k=3).fit(train, X)
    query = np.array([[2.0, 0.1]])  # nearest by cosine: rows 0, 1, 2
    np.testing.assert_array_equal(np.flatnonzero(router.neighbors(query)[0]), [0, 1, 2])
    scores = router.predict_scores(train.subset([0]), query)
    # m0: (1 + 0 + 1) / 3; m1: row 1 is missing -> (0 + 1) / 2; m2: no neighbour observed -> train mean 2/3
    np.testing.assert_allclose(scores, [[2 / 3, 1 / 2, 2 / 3]])


def test_knn_distance_weights_match_hand_computation() -> None:
    train, X = _knn_example()
    query = np.array([[2.0, 0.1]])
    q = query[0] / np.linalg.norm(query[0])
    sims = np.array([X[i] @ q / np.linalg.norm(X[i]) for i in (0, 1, 2)])
    w = 1.0 / (1.0 - sims)
    expected_m0 = (w[0] * 1 + w[1] * 0 + w[2] * 1) / w.sum()
    expected_m1 = (w[0] * 0 + w[2] * 1) / (w[0] + w[2])
    scores = KNNRouter(k=3, weights="distance").fit(train, X).predict_scores(train.subset([0]), query)
    np.testing.assert_allclose(scores, [[expected_m0, expected_m1, 2 / 3]], rtol=1e-9)


def test_knn_ties_at_the_kth_neighbour_go_to_the_lower_index() -> None:
    X = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])  # rows 1-3 are equally similar to [0, 1]
    train = _data(np.array([[1.0], [0.0], [1.0], [1.0]]))
    router = KNNRouter(k=2).fit(train, X)
    np.testing.assert_array_equal(np.flatnonzero(router.neighbors(np.array([[0.0, 1.0]]))[0]), [1, 2])
    assert router.predict_scores(train.subset([0]), np.array([[0.0, 1.0]]))[0, 0] == 0.5


def test_knn_k_larger_than_training_set_uses_every_query() -> None:
    train, X = _knn_example()
    scores = KNNRouter(k=100).fit(train, X).predict_scores(train.subset([0]), X[:1])
    np.testing.assert_allclose(scores[0], train.mean_quality())


# ---------------------------------------------------------------------------------------------- KMeans
@pytest.mark.parametrize("prior_strength", [0.0, 5.0, 100.0])
def test_kmeans_one_cluster_is_per_model_train_mean(prior_strength: float) -> None:
    train, Xtr, test, Xte = _split(n_queries=200, missing_model0=0.5)
    router = KMeansRouter(n_clusters=1, prior_strength=prior_strength).fit(train, Xtr)
    expected = np.tile(train.mean_quality(), (test.n_queries, 1))
    np.testing.assert_allclose(router.predict_scores(test, Xte), expected, rtol=1e-12)


def test_kmeans_shrinks_small_clusters_towards_the_model_mean() -> None:
    train, Xtr, _, _ = _split(n_queries=200)
    plain = KMeansRouter(n_clusters=8, prior_strength=0.0).fit(train, Xtr)
    shrunk = KMeansRouter(n_clusters=8, prior_strength=1e6).fit(train, Xtr)
    mean = train.mean_quality()
    assert np.abs(plain.cluster_scores_ - mean).max() > 0.2
    np.testing.assert_allclose(shrunk.cluster_scores_, np.tile(mean, (8, 1)), atol=1e-3)


# ---------------------------------------------------------------------------------------------- classifiers
def _imbalanced_problem(seed: int = 0, n: int = 600) -> tuple[RoutingData, np.ndarray]:
    """Oracle label 0 on 85 % of queries; the rest are model 1 when x0 > 0 else model 2 (weak signal)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    label = np.where(rng.random(n) < 0.85, 0, np.where(X[:, 0] > 0, 1, 2))
    Y = np.zeros((n, 3))
    Y[np.arange(n), label] = 1.0
    return _data(Y, name="imbalanced"), X


def test_balanced_class_weight_routes_to_more_models() -> None:
    data, X = _imbalanced_problem()
    assert np.bincount(np.argmax(data.Y, axis=1))[0] / data.n_queries > 0.8
    plain = FeatureLogisticRouter().fit(data, X)
    balanced = FeatureLogisticRouter(class_weight="balanced").fit(data, X)
    n_plain = len(np.unique(plain.route(data, X)))
    n_balanced = len(np.unique(balanced.route(data, X)))
    assert n_plain == 1, "the unweighted classifier should collapse to the majority label"
    assert n_balanced > n_plain


def test_feat_mlp_balanced_also_escapes_collapse() -> None:
    data, X = _imbalanced_problem()
    router = make_router("feat_mlp", hidden=(32, 32), class_weight="balanced").fit(data, X)
    assert len(np.unique(router.route(data, X))) > 1


def test_feat_lr_matches_sklearn_logistic_regression_on_dense_data() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train, Xtr, _, Xte = _split(n_queries=240)
    router = FeatureLogisticRouter(C=0.5).fit(train, Xtr)
    rows, labels, cand = oracle_candidates(train, router.model_cost_)
    assert (cand.sum(axis=1) == 1).all()  # dense outcomes: every label is certain
    scaler = StandardScaler().fit(Xtr[rows])
    ref = LogisticRegression(C=0.5, max_iter=1000, tol=1e-8).fit(scaler.transform(Xtr[rows]), labels)
    np.testing.assert_allclose(router.predict_proba(Xte), ref.predict_proba(scaler.transform(Xte)), atol=2e-3)


def test_oracle_candidates_under_missing_outcomes() -> None:
    nan = np.nan
    Y = np.array([[nan, 1.0, 0.0], [nan, 0.5, 0.0], [1.0, nan, 0.0], [0.0, 1.0, 1.0], [nan, nan, nan]])
    data = _data(Y, price=[1.0, 2.0, 3.0])
    rows, labels, cand = oracle_candidates(data, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(rows, [0, 1, 2, 3])  # the query with no outcome is dropped
    np.testing.assert_array_equal(labels, [1, 1, 0, 1])
    expected = [
        [True, True, False],  # a cheaper unobserved model could also be right
        [True, True, False],  # best observed < 1: any unobserved model could beat it
        [True, False, False],  # the cheapest model is right: a dearer one cannot take the label
        [False, True, False],  # fully observed: tie at 1 goes to the cheaper model
    ]
    np.testing.assert_array_equal(cand, expected)


def test_class_never_seen_in_training_gets_probability_zero() -> None:
    train, Xtr, test, Xte = _split(n_queries=200)
    Y = np.array(train.Y)
    Y[:, 3] = 0.0  # the dearest model is never the oracle label
    train = _data(Y, price=[1, 2, 3, 4])
    for name in ("feat_lr", "feat_mlp"):
        scores = make_router(name).fit(train, Xtr).predict_scores(test, Xte)
        assert (scores[:, 3] == 0).all()
        np.testing.assert_allclose(scores.sum(axis=1), 1.0)


def test_single_label_classifier_is_constant() -> None:
    train, Xtr, test, Xte = _split(n_queries=120)
    Y = np.array(train.Y)
    Y[:, 0] = 1.0  # the cheapest model is always right: the only label
    scores = FeatureLogisticRouter().fit(_data(Y), Xtr).predict_scores(test, Xte)
    np.testing.assert_array_equal(scores, np.tile([1.0, 0.0, 0.0, 0.0], (test.n_queries, 1)))


# ---------------------------------------------------------------------------------------------- trees
@pytest.mark.parametrize("cls", [RandomForestRouter, GradientBoostingRouter])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_tree_model_with_one_outcome_value_scores_that_value(cls: type, value: float) -> None:
    train, Xtr, test, Xte = _split(n_queries=160)
    Y = np.array(train.Y)
    Y[:, 2] = value
    Y[::3, 2] = np.nan  # missing cells stay missing, not a second class
    router = cls(n_estimators=10) if cls is RandomForestRouter else cls(max_iter=10)
    scores = router.fit(_data(Y), Xtr).predict_scores(test, Xte)
    assert (scores[:, 2] == value).all()
    assert np.isfinite(scores).all()


def test_gbdt_takes_graded_outcomes() -> None:
    train, Xtr, test, Xte = _split(n_queries=200)
    Y = np.round(np.array(train.Y) * 0.5 + 0.5 * (np.arange(train.n_queries) % 2)[:, None], 1)  # values 0, .5, 1
    scores = GradientBoostingRouter(max_iter=20).fit(_data(Y), Xtr).predict_scores(test, Xte)
    assert scores.shape == (test.n_queries, 4) and ((scores > 0) & (scores < 1)).all()


# ---------------------------------------------------------------------------------------------- LinUCB
def test_linucb_alpha_zero_is_per_model_ridge() -> None:
    train, Xtr, test, Xte = _split(n_queries=160, missing_model0=0.4)
    router = LinUCBRouter(alpha=0.0, ridge=2.0).fit(train, Xtr)
    ctx_tr = np.hstack([Xtr, np.ones((len(Xtr), 1))])
    ctx_te = np.hstack([Xte, np.ones((len(Xte), 1))])
    expected = np.empty((test.n_queries, train.n_models))
    for m in range(train.n_models):
        obs = ~np.isnan(train.Y[:, m])
        A = 2.0 * np.eye(ctx_tr.shape[1]) + ctx_tr[obs].T @ ctx_tr[obs]
        theta = np.linalg.solve(A, ctx_tr[obs].T @ train.Y[obs, m])
        expected[:, m] = ctx_te @ theta
    np.testing.assert_allclose(router.predict_scores(test, Xte), expected, rtol=1e-8, atol=1e-10)
    # the exploration bonus adds alpha * sqrt(x^T A^-1 x)
    bonus = LinUCBRouter(alpha=0.7, ridge=2.0).fit(train, Xtr).predict_scores(test, Xte) - expected
    obs = ~np.isnan(train.Y[:, 1])
    A_inv = np.linalg.inv(2.0 * np.eye(ctx_tr.shape[1]) + ctx_tr[obs].T @ ctx_tr[obs])
    np.testing.assert_allclose(bonus[:, 1], 0.7 * np.sqrt(np.einsum("qi,ij,qj->q", ctx_te, A_inv, ctx_te)), rtol=1e-7)


# ---------------------------------------------------------------------------------------------- Bradley–Terry
def test_preference_pairs_skip_ties_and_missing() -> None:
    Y = np.array([[1.0, 0.0, np.nan], [0.5, 0.5, 1.0]])
    q, win, lose = preference_pairs(Y)
    assert sorted(zip(q.tolist(), win.tolist(), lose.tolist(), strict=True)) == [(0, 0, 1), (1, 2, 0), (1, 2, 1)]


def test_preference_pairs_subsample_large_pools() -> None:
    rng = np.random.default_rng(0)
    Y = (rng.random((30, 40)) < 0.5).astype(float)
    q, win, lose = preference_pairs(Y, max_pairs_per_query=20, random_state=3)
    assert len(q) <= 30 * 20 and (Y[q, win] > Y[q, lose]).all()
    again = preference_pairs(Y, max_pairs_per_query=20, random_state=3)
    assert all(np.array_equal(a, b) for a, b in zip((q, win, lose), again, strict=True))


def test_bradley_terry_recovers_planted_order() -> None:
    """Each query compares two random models (the others missing); winners drawn from planted strengths."""
    rng = np.random.default_rng(0)
    strength = np.array([0.5, 2.0, -1.0, 1.0, 0.0])
    n, n_m = 800, len(strength)
    Y = np.full((n, n_m), np.nan)
    for i in range(n):
        a, b = rng.choice(n_m, size=2, replace=False)
        a_wins = rng.random() < 1.0 / (1.0 + np.exp(strength[b] - strength[a]))
        Y[i, a], Y[i, b] = (1.0, 0.0) if a_wins else (0.0, 1.0)
    X = rng.normal(size=(n, 3))  # features carry no signal: the global order must come out
    router = BradleyTerryRouter(l2=1e-3).fit(_data(Y), X)
    mean_scores = router.predict_scores(_data(Y), X).mean(axis=0)
    np.testing.assert_array_equal(np.argsort(-mean_scores), np.argsort(-strength))
    intercepts = router.coef_[:, -1]
    np.testing.assert_array_equal(np.argsort(-intercepts), np.argsort(-strength))
    assert np.corrcoef(intercepts, strength)[0, 1] > 0.98
