"""Cluster router: KMeans over query embeddings, per-cluster per-model mean quality."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np

from routerlab._arrays import l2_normalise
from routerlab.data.schema import RoutingData
from routerlab.routers._params import Constraint, Interval
from routerlab.routers._tabular import as_features, masked_model_means, openmp_threads
from routerlab.routers.base import Router

#: KMeans restarts (k-means++ seeding each); fixed so that ``random_state`` alone decides the result
_N_INIT = 4


class KMeansRouter(Router):
    """KMeans cluster router: a query gets the per-model mean quality of its nearest training cluster.

    The "KMeans" baseline of `routing-plateau.txt` (arXiv:2606.07587) §4.1 (after Jitkrittum et al. [25],
    "Universal Model Routing"; in the top tier of Tab. 1) and the K-Means router of
    `rethinking-router-evaluation.txt` ("Who Routes the Router") App. E: "clusters training queries into K
    clusters based on their embeddings. Given a test query q, the router finds the closest cluster C_k and selects
    the model m* that performs best on average within that cluster".

    Design
    ------
    * Training embeddings are L2-normalised (cosine geometry, as for kNN) and clustered by
      scikit-learn's ``KMeans`` with ``n_init=4`` k-means++ restarts and ``random_state``. Asking for
      more clusters than distinct training queries uses one cluster per distinct query.
    * Cluster means use *observed* outcomes only, shrunk towards the model's global training mean
      ``μ_m``: ``score[c, m] = (Σ_{q∈c, observed} Y[q, m] + τ·μ_m) / (n_obs[c, m] + τ)`` with
      ``τ = prior_strength`` pseudo-observations. With τ = 0 this is the paper's plain cluster mean;
      τ > 0 stops a 3-query cluster from claiming a model is perfect, and a (cluster, model) cell
      with no observation at all gets ``μ_m``. With one cluster the score is ``μ_m`` for any τ.
    * A test query (normalised the same way) takes the row of its nearest centroid (Euclidean
      distance, as KMeans assigns; ties to the lower cluster index).

    The paper gives no per-method ranges; the stage-1 grid (≤ 15 configurations, App. E.4) spans
    coarse to fine partitions with light and strong shrinkage.
    """

    name = "kmeans"
    stochastic = True
    requires_features = True
    param_grid: ClassVar[dict[str, list[Any]]] = {"n_clusters": [5, 10, 20, 50, 100], "prior_strength": [1.0, 10.0]}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "prior_strength": [Interval(numbers.Real, 0, np.inf, closed="left")],
        "random_state": [Interval(numbers.Integral, 0, None, closed="left"), None],
    }

    def __init__(self, *, n_clusters: int = 20, prior_strength: float = 5.0, random_state: int = 0) -> None:
        self.n_clusters = n_clusters
        self.prior_strength = prior_strength
        self.random_state = random_state

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        from sklearn.cluster import KMeans

        feats = l2_normalise(as_features(X, self, fitting=True))
        n_distinct = len(np.unique(feats, axis=0))
        k = min(int(self.n_clusters), n_distinct)
        with openmp_threads(None):  # single-threaded: predictable on busy machines, same result
            km = KMeans(n_clusters=k, n_init=_N_INIT, random_state=self.random_state).fit(feats)
        self.cluster_centers_ = np.asarray(km.cluster_centers_, dtype=np.float64)
        assign = self._assign(feats)  # the same rule as at prediction time
        observed = train.observed
        onehot = np.zeros((len(feats), k))
        onehot[np.arange(len(feats)), assign] = 1.0
        sums = onehot.T @ np.where(observed, train.Y, 0.0)
        counts = onehot.T @ observed.astype(np.float64)
        self.model_mean_ = masked_model_means(train)
        tau = float(self.prior_strength)
        den = counts + tau
        with np.errstate(invalid="ignore", divide="ignore"):
            table = (sums + tau * self.model_mean_) / den
        self.cluster_scores_ = np.where(den > 0, table, self.model_mean_)
        self.cluster_sizes_ = onehot.sum(axis=0).astype(np.int64)

    def _assign(self, feats: np.ndarray) -> np.ndarray:
        centers = self.cluster_centers_
        dist = (centers**2).sum(axis=1)[None, :] - 2.0 * feats @ centers.T
        return np.asarray(np.argmin(dist, axis=1))

    def predict_clusters(self, X: np.ndarray) -> np.ndarray:
        """Return the cluster index of each query (nearest centroid of the normalised embedding)."""
        self.check_is_fitted()
        return self._assign(l2_normalise(as_features(X, self, fitting=False)))

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        feats = l2_normalise(as_features(X, self, fitting=False))
        return np.asarray(self.cluster_scores_[self._assign(feats)])
