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

#: similarity matrices are computed in blocks of at most this many (test × train) cells (16 MiB per
#: float64 block; with the masks and weights of a block, under ~80 MiB in all)
_BLOCK_CELLS = 1 << 21
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
        return self._neighbor_mask(np.round(feats @ self.train_embeddings_.T, _SIM_DECIMALS))

    def _neighbor_mask(self, sims: np.ndarray) -> np.ndarray:
        n_train = sims.shape[1]
        k = min(int(self.k), n_train)
        # the k-th largest similarity per row; everything above it is in, ties at it by lowest index
        kth = np.partition(sims, n_train - k, axis=1)[:, n_train - k : n_train - k + 1]
        above = sims > kth
        tied = sims == kth
        need = k - above.sum(axis=1, keepdims=True)
        return np.asarray(above | (tied & (np.cumsum(tied, axis=1) <= need)))

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        feats = l2_normalise(as_features(X, self, fitting=False))
        n_train = self.train_embeddings_.shape[0]
        block = max(1, _BLOCK_CELLS // max(n_train, 1))
        scores = np.empty((feats.shape[0], len(self.model_names_)), dtype=np.float64)
        for start in range(0, feats.shape[0], block):
            stop = start + block
            sims = np.round(feats[start:stop] @ self.train_embeddings_.T, _SIM_DECIMALS)
            mask = self._neighbor_mask(sims)
            if self.weights == "distance":
                weight = np.where(mask, 1.0 / np.maximum(1.0 - sims, _MIN_DISTANCE), 0.0)
            else:
                weight = mask.astype(np.float64)
            total = weight @ self.train_outcomes_
            count = weight @ self.train_observed_
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total / count
            scores[start:stop] = np.where(count > 0, mean, self.model_mean_)
        return scores
