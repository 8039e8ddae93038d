"""k-nearest-neighbour router over query embeddings (cosine similarity, exact search)."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np

from routerlab._arrays import l2_normalise
from routerlab.data.schema import RoutingData
from routerlab.routers._params import Constraint, Interval, StrOptions
from routerlab.routers._tabular import as_features, masked_model_means
from routerlab.routers.base import Router

#: similarity matrices are computed in blocks of test rows holding at most this many (test × train) cells
#: (128 MiB per float64 block; with its partitioned copy and masks, under ~350 MiB in all)
_BLOCK_CELLS = 1 << 24
#: ... but never fewer test rows than this: a block of one or two rows turns the product into a
#: matrix-vector product that re-reads the whole training matrix per row (memory-bound: 95 vs 19 ms
#: per query at 700k training rows); above ``_BLOCK_CELLS / _MIN_BLOCK_ROWS`` training rows the block
#: grows past the cell budget instead
_MIN_BLOCK_ROWS = 32
#: ... and never more than this (the gathered (rows, k, n_models) outcomes stay small with a tiny training set)
_MAX_BLOCK_ROWS = 4096
#: similarities are rounded to this many decimals before ranking, so that neighbours whose
#: similarity differs only by floating-point noise tie exactly and the lower training index wins
_SIM_DECIMALS = 12
#: cosine distances below this floor count as this floor (exact duplicates dominate, no division by 0)
_MIN_DISTANCE = 1e-6


class KNNRouter(Router):
    """kNN router: a model's score on a query is its mean observed outcome over the ``k`` nearest training queries.

    The "kNN" baseline of `routing-plateau.txt` (arXiv:2606.07587) §4.1 (after RouterBench [22]; one of the top-2
    methods on every benchmark there, §4.2 and §5.3) and the K-NN router of
    `rethinking-router-evaluation.txt` ("Who Routes the Router") App. E: "finds the K nearest neighbors of the
    query q in the training set (based on embedding distance) and routes to the model with the highest average
    score on those neighbors".

    Design
    ------
    * Similarity is cosine: rows are L2-normalised and compared by an exact numpy matrix product,
      computed in blocks of test rows so memory stays bounded (no approximate index).
    * Neighbours are the ``k`` most similar training queries; ties at the k-th similarity go to the
      lower training index (similarities are rounded to 12 decimals first), so each query's
      neighbourhood depends only on that query: permuting test queries permutes the scores.
    * ``score[q, m]`` is the mean of the neighbours' *observed* outcomes for model ``m``
      (``weights="uniform"``) or their mean weighted by inverse cosine distance ``1 / (1 − sim)``
      (``weights="distance"``, scikit-learn's convention; distances are floored at 1e-6 so an exact
      duplicate dominates instead of dividing by zero). Missing cells are ignored; when no
      neighbour observed ``m`` the score falls back to ``m``'s training mean (0 for a model never
      observed in training).
    * ``k`` larger than the training set uses every training query.

    The paper gives no per-method ranges; the stage-1 grid (≤ 15 configurations, App. E.4) spans
    k from very local (5) to the smooth regime (100) with both weightings.
    """

    name = "knn"
    requires_features = True
    param_grid: ClassVar[dict[str, list[Any]]] = {"k": [5, 10, 20, 50, 100], "weights": ["uniform", "distance"]}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "k": [Interval(numbers.Integral, 1, None, closed="left")],
        "weights": [StrOptions({"uniform", "distance"})],
    }

    def __init__(self, *, k: int = 10, weights: str = "uniform") -> None:
        self.k = k
        self.weights = weights

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        feats = as_features(X, self, fitting=True)
        observed = train.observed
        self.train_embeddings_ = l2_normalise(feats)
        self.train_outcomes_ = np.where(observed, train.Y, 0.0)
        self.train_observed_ = observed.astype(np.float64)
        self.model_mean_ = masked_model_means(train)

    def neighbors(self, X: np.ndarray) -> np.ndarray:
        """Boolean (n_queries, n_train) mask of each query's ``k`` nearest training queries (all rows at once)."""
        self.check_is_fitted()
        feats = l2_normalise(as_features(X, self, fitting=False))
        sims = np.round(feats @ self.train_embeddings_.T, _SIM_DECIMALS)
        mask = np.zeros(sims.shape, dtype=bool)
        np.put_along_axis(mask, self._neighbor_indices(sims), True, axis=1)
        return mask

    def _neighbor_indices(self, sims: np.ndarray) -> np.ndarray:
        """(n_rows, k) training indices of each row's ``k`` most similar; ties at the k-th by lowest index.

        Only the k chosen indices are kept (not an (n_rows, n_train) mask), so the outcome means
        below cost O(k · n_models) per query instead of a dense (n_rows, n_train) product.
        """
        n_rows, n_train = sims.shape
        k = min(int(self.k), n_train)
        # the k-th largest similarity per row; everything above it is in, ties at it by lowest index
        kth = np.partition(sims, n_train - k, axis=1)[:, n_train - k : n_train - k + 1]
        above_r, above_c = np.nonzero(sims > kth)
        tied_r, tied_c = np.nonzero(sims == kth)  # row-major: each row's ties in increasing index
        need = k - np.bincount(above_r, minlength=n_rows)
        first = np.searchsorted(tied_r, np.arange(n_rows))
        keep = np.arange(len(tied_r)) - first[tied_r] < need[tied_r]
        rows = np.concatenate([above_r, tied_r[keep]])
        cols = np.concatenate([above_c, tied_c[keep]])
        order = np.lexsort((cols, rows))  # each row's k neighbours by increasing training index
        return cols[order].reshape(n_rows, k)

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        feats = l2_normalise(as_features(X, self, fitting=False))
        n_train = self.train_embeddings_.shape[0]
        block = min(_MAX_BLOCK_ROWS, max(_MIN_BLOCK_ROWS, _BLOCK_CELLS // max(n_train, 1)))
        scores = np.empty((feats.shape[0], len(self.model_names_)), dtype=np.float64)
        for start in range(0, feats.shape[0], block):
            stop = start + block
            sims = feats[start:stop] @ self.train_embeddings_.T
            np.round(sims, _SIM_DECIMALS, out=sims)
            idx = self._neighbor_indices(sims)
            if self.weights == "distance":
                sim = np.take_along_axis(sims, idx, axis=1)
                weight = 1.0 / np.maximum(1.0 - sim, _MIN_DISTANCE)
            else:
                weight = np.ones(idx.shape)
            del sims
            # sum over the k neighbours, in increasing training index (the order a dense product would use)
            total = np.einsum("qk,qkm->qm", weight, self.train_outcomes_[idx])
            count = np.einsum("qk,qkm->qm", weight, self.train_observed_[idx])
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total / count
            scores[start:stop] = np.where(count > 0, mean, self.model_mean_)
        return scores
