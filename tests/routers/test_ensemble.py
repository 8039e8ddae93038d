"""The ensembles (routers/ensemble.py): bagged and stacked routers, their out-of-fold scores, errors, sweeps."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from routerlab.data.schema import RoutingData
from routerlab.errors import InvalidParameterError, SchemaError
from routerlab.routers import load_router, make_router, save_router
from routerlab.routers.checks import make_check_problem
from routerlab.routers.ensemble import BaggedRouter, StackedRouter, member_seeds, out_of_fold_scores, subsample_rows


def _split() -> tuple[RoutingData, np.ndarray, RoutingData, np.ndarray]:
    data, X = make_check_problem(seed=0)
    tr, te = data.splits == "train", data.splits == "test"
    return data.subset(tr), X[tr], data.subset(te), X[te]


TRAIN, XTR, TEST, XTE = _split()


# ---------------------------------------------------------------------------------------------- bagged
def test_one_member_without_resampling_is_the_base() -> None:
    bag = make_router("bagged", base="knn", base_params={"k": 7}, n_members=1, max_samples=1.0).fit(TRAIN, XTR)
    knn = make_router("knn", k=7).fit(TRAIN, XTR)
    np.testing.assert_array_equal(bag.predict_scores(TEST, XTE), knn.predict_scores(TEST, XTE))
    # a stochastic base: the one member is the base at the member seed drawn from the ensemble's random_state
    bag = make_router("bagged", base="kmeans", n_members=1, max_samples=1.0, random_state=3).fit(TRAIN, XTR)
    km = make_router("kmeans", random_state=member_seeds(3, 1)[0]).fit(TRAIN, XTR)
    np.testing.assert_array_equal(bag.predict_scores(TEST, XTE), km.predict_scores(TEST, XTE))


def test_members_of_a_deterministic_base_differ_and_the_score_is_their_mean() -> None:
    bag = make_router("bagged", base="knn", base_params={"k": 3}, n_members=4, max_samples=0.5).fit(TRAIN, XTR)
    assert isinstance(bag, BaggedRouter)
    each = [m.predict_scores(TEST, XTE) for m in bag.members_]
    assert not np.array_equal(each[0], each[1])  # the subsamples make kNN members differ
    sizes = {m.train_embeddings_.shape[0] for m in bag.members_}
    assert sizes == {int(np.ceil(0.5 * TRAIN.n_queries))}
    np.testing.assert_allclose(bag.predict_scores(TEST, XTE), np.mean(each, axis=0))


def test_a_fixed_seed_reproduces_and_another_seed_differs() -> None:
    def scores(seed: int) -> np.ndarray:
        return (
            make_router("bagged", n_members=3, max_samples=0.5, random_state=seed)
            .fit(TRAIN, XTR)
            .predict_scores(TEST, XTE)
        )

    np.testing.assert_array_equal(scores(5), scores(5))
    assert not np.array_equal(scores(5), scores(6))


def test_subsample_depends_on_ids_not_on_row_order() -> None:
    ids = np.array([f"q{i}" for i in range(50)], dtype=object)
    rows = subsample_rows(ids, 0.3, seed=1)
    assert len(rows) == 15 and np.all(np.diff(rows) > 0)
    perm = np.random.default_rng(0).permutation(50)
    assert set(ids[perm][subsample_rows(ids[perm], 0.3, seed=1)]) == set(ids[rows])
    np.testing.assert_array_equal(subsample_rows(ids, 1.0, seed=1), np.arange(50))


# ---------------------------------------------------------------------------------------------- stacked
def test_stacked_with_one_member_ranks_each_model_like_that_member() -> None:
    st = make_router("stacked", members=["knn"], member_params={"knn": {"k": 15}}).fit(TRAIN, XTR)
    knn = make_router("knn", k=15).fit(TRAIN, XTR)
    a, b = st.predict_scores(TEST, XTE), knn.predict_scores(TEST, XTE)
    assert isinstance(st, StackedRouter) and (st.weights_ > 0).all()  # kNN's scores carry signal for every model
    for m in range(TEST.n_models):  # an increasing affine map per model column
        np.testing.assert_allclose(a[:, m], st.intercepts_[m] + st.weights_[m, 0] * b[:, m])
    mean = make_router("stacked", members=["knn"], member_params={"knn": {"k": 15}}, meta="mean").fit(TRAIN, XTR)
    np.testing.assert_array_equal(mean.predict_scores(TEST, XTE), b)


def test_stacking_weights_follow_the_informative_member() -> None:
    # best_single's scores are the same for every query: nothing in them explains who is right on which query
    st = make_router("stacked", members=["knn", "best_single"], member_params={"knn": {"k": 15}}).fit(TRAIN, XTR)
    assert (st.weights_[:, 0] > 0).all()
    np.testing.assert_allclose(st.weights_[:, 1], 0.0, atol=1e-12)


def _knn1() -> list:
    return [make_router("knn", k=1)]


def test_out_of_fold_scores_never_read_the_querys_own_label() -> None:
    oof = out_of_fold_scores(_knn1(), TRAIN, XTR, 5, seed=0)
    assert oof.shape == (TRAIN.n_queries, 1, TRAIN.n_models) and np.isfinite(oof).all()
    # in-sample, a 1-NN returns every query's own label; out of fold it must not
    assert not np.array_equal(oof[:, 0], TRAIN.Y)
    q, knn20 = 17, [make_router("knn", k=20)]
    oof = out_of_fold_scores(knn20, TRAIN, XTR, 5, seed=0)
    Y = TRAIN.Y.copy()
    Y[q] = 1.0 - Y[q]
    flipped = out_of_fold_scores(knn20, dataclasses.replace(TRAIN, Y=Y), XTR, 5, seed=0)
    np.testing.assert_array_equal(flipped[q], oof[q])
    assert not np.array_equal(flipped, oof)  # the flip does reach the other queries' scores


def test_a_text_duplicate_shares_its_twins_fold() -> None:
    # query 1 becomes a copy of query 0 (same text up to case and spaces, same features): 1-NN would copy its label
    texts = TRAIN.texts.copy()
    texts[1] = "  " + str(texts[0]).upper() + " "
    X = XTR.copy()
    X[1] = X[0]
    data = dataclasses.replace(TRAIN, texts=texts)
    oof = out_of_fold_scores(_knn1(), data, X, 5, seed=0)
    Y = data.Y.copy()
    Y[1] = 1.0 - Y[1]
    flipped = out_of_fold_scores(_knn1(), dataclasses.replace(data, Y=Y), X, 5, seed=0)
    np.testing.assert_array_equal(flipped[0], oof[0])


def test_missing_outcomes_are_left_out_of_the_meta_regression() -> None:
    from scipy.optimize import nnls

    Y = TRAIN.Y.copy()
    Y[::3, 2] = np.nan
    Y[:, 3] = np.nan  # a model never observed in training
    data = dataclasses.replace(TRAIN, Y=Y)
    st = make_router("stacked", members=["knn", "feat_lr"]).fit(data, XTR)
    np.testing.assert_allclose(st.weights_[3], [0.5, 0.5])  # the members' mean
    assert st.intercepts_[3] == 0.0
    oof = out_of_fold_scores(st._templates(), data, XTR, 5, seed=0)
    rows = ~np.isnan(Y[:, 2])
    S, y = oof[rows, :, 2], Y[rows, 2]
    w, _ = nnls(S - S.mean(axis=0), y - y.mean())
    np.testing.assert_allclose(st.weights_[2], w)
    np.testing.assert_allclose(st.intercepts_[2], y.mean() - S.mean(axis=0) @ w)
    assert np.isfinite(st.predict_scores(TEST, XTE)).all()


def test_save_and_load_keep_the_members(tmp_path: Path) -> None:
    st = make_router("stacked", members=["knn", "kmeans"], member_params={"kmeans": {"n_clusters": 4}}).fit(TRAIN, XTR)
    save_router(st, tmp_path / "st")
    manifest = json.loads((tmp_path / "st" / "router.json").read_text())
    assert [n["router"] for n in manifest["attributes"]["members_"]] == ["knn", "kmeans"]
    loaded = load_router(tmp_path / "st")
    assert [type(m).__name__ for m in loaded.members_] == ["KNNRouter", "KMeansRouter"]
    np.testing.assert_array_equal(loaded.predict_scores(TEST, XTE), st.predict_scores(TEST, XTE))


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("bagged", {"base": "knnn"}, r"BaggedRouter: base must be a registered router name\. Got 'knnn'\..*'knn'"),
        ("bagged", {"base_params": {"k": 0}}, r"BaggedRouter: base: KNNRouter: k must be an int >= 1\. Got 0\."),
        ("bagged", {"base_params": {"kk": 3}}, r"BaggedRouter: base: Bad parameters for router 'knn'.*Valid"),
        ("bagged", {"base_params": {"random_state": 3}}, r"must not set random_state \(got 3\).*set that instead"),
        ("bagged", {"base": "oracle"}, r"BaggedRouter: base must be a router that decides without the test outcomes"),
        ("bagged", {"max_samples": 0.0}, r"BaggedRouter: max_samples must be a number in \(0, 1\]\. Got 0\.0\."),
        ("stacked", {"members": []}, r"StackedRouter: members must name at least one router\. Got \[\]\."),
        ("stacked", {"members": ["knn", "knn"]}, r"members lists \['knn'\] more than once"),
        ("stacked", {"member_params": {"rf": {}}}, r"member_params has entries \['rf'\] that are not"),
        ("stacked", {"members": ["knn", 3]}, r"StackedRouter: members\[1\] must be a registered router name .*Got 3\."),
        ("stacked", {"n_folds": 1}, r"StackedRouter: n_folds must be an int >= 2\. Got 1\."),
        ("stacked", {"meta": "ridge"}, r"StackedRouter: meta must be 'mean' or 'nnls'\. Got 'ridge'\."),
    ],
)
def test_bad_parameters_name_the_field_the_value_and_the_fix(name: str, params: dict, message: str) -> None:
    router = make_router(name, **params)
    with pytest.raises(InvalidParameterError, match=message):
        router.fit(TRAIN, XTR)
    assert not getattr(router, "fitted_", False)


def test_too_few_queries_for_the_folds_is_a_clear_error() -> None:
    with pytest.raises(SchemaError, match=r"n_folds=5 puts all 1 training queries .* in one fold"):
        make_router("stacked", members=["knn"]).fit(TRAIN.subset([0]), XTR[:1])


# ---------------------------------------------------------------------------------------------- sweeps
def test_a_sweep_yaml_grid_tunes_the_ensembles(tmp_path: Path) -> None:
    from routerlab.experiments.sweep import SweepConfig, run_sweep

    data, X = make_check_problem(seed=2, n_queries=200)
    data = data.with_splits(np.array(["train", "train", "val", "test"] * 50, dtype=object))
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "datasets: [check]\nrouters: [bagged, stacked]\nencoders: [fake]\nseeds: [42, 7]\nlams: [0]\ntop_k: 1\n"
        "n_jobs: 1\ngrids:\n"
        "  bagged: {base_params: [{k: 5}, {k: 20}], n_members: [3]}\n"
        "  stacked: {members: [[knn, feat_lr]], member_params: [{knn: {k: 20}}], n_folds: [3]}\n"
    )
    config = SweepConfig.from_yaml(path, out_dir=tmp_path / "out")
    result = run_sweep(config, data={"check": data}, features={("check", "fake"): X})
    assert not result.errors
    bagged, stacked = result.row("bagged"), result.row("stacked")
    assert bagged.n_configs == 2 and bagged.params["n_members"] == 3 and bagged.seeds == (42, 7)
    assert stacked.params == {"members": ["knn", "feat_lr"], "member_params": {"knn": {"k": 20}}, "n_folds": 3}
    assert stacked.test_acc_mean is not None and stacked.test_acc_mean > 0.5
