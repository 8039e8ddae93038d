"""Tree-ensemble routers: one random forest ("rf", RoRF-style) or one gradient-boosted model ("gbdt") per model.

Each model ``m`` gets its own estimator of ``P(correct | x)`` (expected quality for graded
outcomes), trained on the queries where ``m`` has an outcome and only those: a missing outcome is
never a 0 label. A model whose observed outcomes are all equal (or that was never observed) gets
that constant score without calling scikit-learn, which cannot fit a single-class classifier.
"""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np

from routerlab.data.schema import RoutingData
from routerlab.routers._params import Constraint, Interval, StrOptions
from routerlab.routers._tabular import as_features, masked_model_means, model_seeds, openmp_threads, soft_binary_targets
from routerlab.routers.base import Router

_POSITIVE_INT = Interval(numbers.Integral, 1, None, closed="left")
_RANDOM_STATE: list[Constraint] = [Interval(numbers.Integral, 0, None, closed="left"), None]


class _PerModelEstimator(Router):
    """Fit one estimator per model column on that model's observed rows; constant models bypass sklearn."""

    stochastic = True
    requires_features = True
    random_state: int | None

    def _fit_one(self, X: np.ndarray, rows: np.ndarray, y: np.ndarray, seed: int) -> Any:
        """The estimator of one model, fitted on ``X[rows]`` (its observed rows) and their outcomes ``y``."""
        raise NotImplementedError

    def _predict_one(self, est: Any, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _start_fit(self, X: np.ndarray) -> None:
        """Called once before the per-model fits (state shared by the models, e.g. binned features)."""

    def _end_fit(self) -> None:
        """Called once after the per-model fits (drop what only the fits needed)."""

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        feats = as_features(X, self, fitting=True)
        observed = train.observed
        means = masked_model_means(train)
        seeds = model_seeds(self.random_state, train.n_models)
        self.estimators_: list[Any] = []
        self.constant_: np.ndarray = np.full(train.n_models, np.nan)
        self._start_fit(feats)
        for m in range(train.n_models):
            rows = np.flatnonzero(observed[:, m])
            y = train.Y[rows, m]
            if len(rows) == 0 or np.all(y == y[0]):
                # never observed: the BestSingle fallback (0); all outcomes equal: that value
                self.constant_[m] = y[0] if len(rows) else means[m]
                self.estimators_.append(None)
                continue
            self.estimators_.append(self._fit_one(feats, rows, y, seeds[m]))
        self._end_fit()

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        feats = as_features(X, self, fitting=False)
        scores = np.empty((feats.shape[0], len(self.model_names_)), dtype=np.float64)
        for m, est in enumerate(self.estimators_):
            scores[:, m] = self.constant_[m] if est is None else self._predict_one(est, feats)
        return scores


class RandomForestRouter(_PerModelEstimator):
    """RoRF-style router: a random forest per model predicting its correctness from the query features.

    `routing-plateau.txt` (arXiv:2606.07587) §4.1 lists RoRF [41] ("Routing on Random Forests", Not Diamond) among the
    classifier-style routers of Tab. 1; like ``optllm_xgb`` it uses external features only (§6.1).

    Design
    ------
    * One forest per model, trained on that model's observed rows only (scikit-learn forests take
      no masked multi-output targets, so a single multi-output forest would treat missing cells as
      labels). Each forest is a ``RandomForestRegressor`` on the outcome ``Y ∈ [0, 1]`` with
      ``max_features`` features per split: on 0/1 outcomes its leaf values are class-1 fractions and
      its squared-error splits are the Gini splits of a classifier (a Bernoulli's variance is half
      its Gini impurity), so it estimates ``P(correct)``; on graded outcomes it estimates the mean.
    * Every forest gets its own seed drawn from ``random_state`` (:func:`routerlab._random.rng`).
      ``n_jobs`` only parallelises and never changes the result.

    Stage-1 grid (8 ≤ 15, App. E.4; the paper gives no ranges): leaf size (how local the estimate
    is) × features tried per split (√d or log₂d), with **50 trees** (the constructor's default is
    100). The number of trees is not a hyper-parameter of what a forest estimates — more trees
    only average away more of the bootstrap's Monte-Carlo noise — so the grid keeps its meaning at
    half the cost (routerdc-7models, 6,852 × 384, 7 models, one core: 12.5 → 6.7 s at log₂d and leaf
    50, 41 → 21 s at √d and leaf 5; test accuracy moved by −0.1 to −0.4 pp on four seeded runs).
    ``n_estimators`` is in the grid, so the sweep's records and run keys name it and no record of
    a 100-tree forest is reused as a 50-tree one. ``n_jobs=-1`` parallelises over trees.
    """

    name = "rf"
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "min_samples_leaf": [1, 5, 20, 50],
        "max_features": ["sqrt", "log2"],
        "n_estimators": [50],
    }
    # scikit-learn's RandomForestRegressor constraints, checked before the first forest is fitted
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "n_estimators": [_POSITIVE_INT],
        "max_depth": [_POSITIVE_INT, None],
        "min_samples_leaf": [_POSITIVE_INT, Interval(numbers.Real, 0, 1, closed="neither")],
        "max_features": [
            StrOptions({"sqrt", "log2"}),
            _POSITIVE_INT,
            Interval(numbers.Real, 0, 1, closed="right"),
            None,
        ],
        "n_jobs": [int, None],
        "random_state": _RANDOM_STATE,
    }

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_depth: int | None = None,
        min_samples_leaf: int = 5,
        max_features: str | float = "sqrt",
        n_jobs: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit_one(self, X: np.ndarray, rows: np.ndarray, y: np.ndarray, seed: int) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        forest = RandomForestRegressor(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            n_jobs=self.n_jobs,
            random_state=seed,
        )
        return forest.fit(X[rows], y)

    def _predict_one(self, est: Any, X: np.ndarray) -> np.ndarray:
        return np.asarray(est.predict(X), dtype=np.float64)


class GradientBoostingRouter(_PerModelEstimator):
    """Gradient-boosted trees per model (``HistGradientBoostingClassifier``) predicting P(correct) from the features.

    The boosted-tree member of the classifier-style family of `routing-plateau.txt` (arXiv:2606.07587) §4.1
    (``optllm_xgb`` [36], a feature-only router, §6.1), with scikit-learn's histogram GBDT in place
    of XGBoost (LightGBM/XGBoost are not dependencies; scikit-learn's histogram GBDT is the same
    algorithm family and fits a 7-model routerdc-7models run in ~15 s on one core).

    Design
    ------
    * One binary classifier (log-loss) per model on that model's observed rows only. Graded
      outcomes ``y ∈ (0, 1)`` enter as two weighted rows, (1, ``y``) and (0, ``1 − y``), so the loss
      is the soft-label cross-entropy; 0/1 outcomes are the ordinary binary problem.
    * A fixed number of boosting rounds, ``early_stopping=False``: the grid tunes ``max_iter`` on the
      protocol's validation split (App. E.4 selection), which is what early stopping would do on a
      random 10 % slice of train taken away from the fit — and scikit-learn's stratified slice
      fails for a model with a single correct answer.
    * **Deterministic, hence not** ``stochastic``: without early stopping and with
      ``max_features=1.0`` scikit-learn uses its seed only to subsample rows for binning above
      200,000 rows; it gets the constant 0, so the fit is a function of the data alone and the seed
      protocol runs no seed stage for it (on routerdc-7models the 20 stage-2 refits of the old
      protocol had the same validation accuracy to the last digit as their stage-1 run).
      ``random_state`` is kept for API compatibility and has no effect.
    * Graded outcomes need sample weights, and scikit-learn bins weighted data with a slow weighted
      percentile; for them the features are binned here first (unweighted training quantiles, ≤ 255
      bins per feature, as the estimator itself bins), which leaves the fitted trees unchanged in
      kind and keeps the fit fast. Models observed on the same rows share one binning (computed
      once per fit, and the test features quantised once per prediction): the same numbers as one
      binning per model, without the 7 × repeated quantiles.
    * ``n_jobs`` OpenMP threads (None = 1, -1 = all cores); the result does not depend on it. One
      thread by default because OpenMP's busy-waiting made small fits 20× slower on busy machines.

    Stage-1 grid (8 ≤ 15, App. E.4; the paper gives no ranges): learning rate × rounds × leaves per tree.
    """

    name = "gbdt"
    stochastic = False
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "learning_rate": [0.03, 0.1],
        "max_iter": [100, 200],
        "max_leaf_nodes": [7, 31],
    }
    # scikit-learn's HistGradientBoostingClassifier constraints, checked before the first model is fitted
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [_POSITIVE_INT],
        "max_leaf_nodes": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "min_samples_leaf": [_POSITIVE_INT],
        "l2_regularization": [Interval(numbers.Real, 0, None, closed="left")],
        "n_jobs": [int, None],
        "random_state": _RANDOM_STATE,
    }

    def __init__(
        self,
        *,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 20,
        l2_regularization: float = 1.0,
        n_jobs: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _start_fit(self, X: np.ndarray) -> None:
        #: the distinct binnings of this fit (one per distinct set of observed rows)
        self.bin_edges_: list[list[np.ndarray]] = []
        self._binned: dict[bytes, tuple[int, np.ndarray]] = {}

    def _end_fit(self) -> None:
        del self._binned  # the binned training matrices: only the fits need them (and persistence must not)

    def _binned_rows(self, X: np.ndarray, rows: np.ndarray) -> tuple[int, np.ndarray]:
        """The index into ``bin_edges_`` and the binned ``X[rows]``, computed once per distinct ``rows``."""
        key = rows.tobytes()
        if key not in self._binned:
            edges = _bin_edges(X[rows])
            self.bin_edges_.append(edges)
            self._binned[key] = (len(self.bin_edges_) - 1, _quantize(X[rows], edges))
        return self._binned[key]

    def _fit_one(self, X: np.ndarray, rows: np.ndarray, y: np.ndarray, seed: int) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        pairs, labels, weights = soft_binary_targets(y)
        clf = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=0,  # only the binning subsample above 200,000 rows reads it: constant, so no seed effect
        )
        if np.all(weights == 1.0):  # 0/1 outcomes: one unweighted row per query
            with openmp_threads(self.n_jobs):
                clf.fit(X[rows[pairs]], labels)
            return clf, None
        # graded outcomes need weights, and scikit-learn bins weighted data with a slow per-bin
        # weighted percentile (20× slower in our timings): bin the features here, unweighted, as the
        # estimator would, so that it sees at most 255 distinct values per feature and skips that path
        index, binned = self._binned_rows(X, rows)
        with openmp_threads(self.n_jobs):
            clf.fit(binned[pairs], labels, sample_weight=weights)
        return clf, index

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        feats = as_features(X, self, fitting=False)
        quantized = [_quantize(feats, edges) for edges in self.bin_edges_]  # once per binning, not per model
        scores = np.empty((feats.shape[0], len(self.model_names_)), dtype=np.float64)
        for m, est in enumerate(self.estimators_):
            if est is None:
                scores[:, m] = self.constant_[m]
                continue
            clf, index = est
            with openmp_threads(self.n_jobs):
                proba = clf.predict_proba(feats if index is None else quantized[index])
            scores[:, m] = proba[:, list(clf.classes_).index(1)]
        return scores


def _bin_edges(X: np.ndarray, max_bins: int = 255) -> list[np.ndarray]:
    """Per-feature thresholds at the training quantiles, giving at most ``max_bins`` bins per feature."""
    levels = np.linspace(0.0, 1.0, max_bins + 1)[1:-1]
    return [np.unique(np.quantile(X[:, j], levels)) for j in range(X.shape[1])]


def _quantize(X: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """Each feature replaced by its bin index under ``edges`` (a value equal to an edge goes to the upper bin)."""
    out = np.empty(X.shape, dtype=np.float64)
    for j, e in enumerate(edges):
        out[:, j] = np.searchsorted(e, X[:, j], side="right")
    return out
