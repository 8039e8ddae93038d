"""kNN's blocked top-k path gives the scores of the plain dense computation, at any block size."""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.routers import knn as knn_module
from routerlab.routers.knn import KNNRouter
from tests.conftest import make_routing_problem


def _dense_reference(router: KNNRouter, X: np.ndarray) -> np.ndarray:
    """The definition written out over the whole (test × train) matrix: mask, weights, one dense product each."""
    feats = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = np.round(feats @ router.train_embeddings_.T, 12)
    n_train = sims.shape[1]
    k = min(router.k, n_train)
    kth = np.sort(sims, axis=1)[:, n_train - k][:, None]
    above, tied = sims > kth, sims == kth
    mask = above | (tied & (np.cumsum(tied, axis=1) <= k - above.sum(axis=1, keepdims=True)))
    if router.weights == "distance":
        weight = np.where(mask, 1.0 / np.maximum(1.0 - sims, 1e-6), 0.0)
    else:
        weight = mask.astype(float)
    total, count = weight @ router.train_outcomes_, weight @ router.train_observed_
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, router.model_mean_)


def _problem() -> tuple[object, np.ndarray, np.ndarray, np.ndarray]:
    data = make_routing_problem(400, 5, seed=4, missing=0.3)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((400, 6))
    X[::5] = np.round(X[::5], 0)  # coarse rows: many exact ties at the k-th similarity
    X[1::9] = X[0]  # exact duplicates of one query
    X[0] = X[0] + 1.0  # keep every row non-zero
    train, test = np.arange(300), np.arange(300, 400)
    return data, X, train, test


@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("k", [1, 7, 300, 1000])
@pytest.mark.parametrize("cells", [1, 1 << 24])
def test_blocked_scores_equal_the_dense_definition(
    monkeypatch: pytest.MonkeyPatch, weights: str, k: int, cells: int
) -> None:
    data, X, train, test = _problem()
    monkeypatch.setattr(knn_module, "_BLOCK_CELLS", cells)  # 1: one-row... clamped to the minimum block
    monkeypatch.setattr(knn_module, "_MIN_BLOCK_ROWS", 3)  # blocks that do not divide the 100 test rows
    router = KNNRouter(k=k, weights=weights).fit(data.subset(train), X[train])
    got = router.predict_scores(data.subset(test).without_outcomes(), X[test])
    want = _dense_reference(router, X[test])
    if weights == "uniform":  # sums of 0/1 outcomes are exact in any order
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))


def test_neighbors_are_k_per_row_with_ties_to_the_lowest_index() -> None:
    data, X, train, test = _problem()
    router = KNNRouter(k=7).fit(data.subset(train), X[train])
    mask = router.neighbors(X[test])
    assert mask.shape == (100, 300) and (mask.sum(axis=1) == 7).all()
    sims = np.round((X[test] / np.linalg.norm(X[test], axis=1, keepdims=True)) @ router.train_embeddings_.T, 12)
    for row, chosen in zip(sims, mask, strict=True):
        kth = row[chosen].min()
        assert (row[~chosen] <= kth).all()  # nothing left out is more similar
        tied_out = np.flatnonzero(~chosen & (row == kth))
        tied_in = np.flatnonzero(chosen & (row == kth))
        assert tied_out.size == 0 or tied_in.max() < tied_out.min()  # ties go to the lower index
