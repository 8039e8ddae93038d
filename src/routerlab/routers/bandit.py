"""LinUCB router: disjoint linear upper-confidence-bound arms, one per model, trained offline."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
import scipy.linalg

from routerlab.data.schema import RoutingData
from routerlab.routers._params import Constraint, Interval
from routerlab.routers._tabular import as_features
from routerlab.routers.base import Router


class LinUCBRouter(Router):
    """Disjoint LinUCB (Li et al., 2010): per-model ridge regression plus an exploration bonus.

    The bandit/cost-aware router of `routing-plateau.txt` (arXiv:2606.07587) §4.1 (LinUCB [32], Tab. 1; a feature-only
    router without a trainable encoder, §6.1).

    Design
    ------
    * The context is the query's feature vector with a constant 1 appended, ``x̃ = [x, 1]`` (so each
      arm has an intercept; it is penalised like the other coefficients, as disjoint LinUCB treats
      all context dimensions alike).
    * Offline training replays the training queries. Routing data give *full information*: every
      observed (query, model) outcome is a revealed reward for that arm, not only the chosen one.
      Replaying each query and updating every arm whose outcome was observed gives, for arm ``m``,
      ``A_m = ridge·I + Σ x̃ x̃ᵀ`` and ``b_m = Σ y x̃`` over the rows where ``m`` was observed —
      order-independent, so the sequential replay is computed in one batch. Missing outcomes give
      no update. A model never observed keeps ``θ_m = 0`` and scores ``alpha`` × its prior width.
    * ``score[q, m] = x̃ᵀ θ_m + alpha · sqrt(x̃ᵀ A_m⁻¹ x̃)`` with ``θ_m = A_m⁻¹ b_m``: the ridge
      prediction plus the upper-confidence bonus. At evaluation the bonus is an optimism bias, so
      ``alpha = 0`` (the pure ridge estimate) is in the grid. Scores are not clipped to [0, 1].
    * Features are used as given (MiniLM embeddings are already unit-norm); deterministic
      (Cholesky solves, no randomness).

    Stage-1 grid (≤ 15, App. E.4; the paper gives no ranges): bonus weight × ridge strength.
    """

    name = "linucb"
    requires_features = True
    param_grid: ClassVar[dict[str, list[Any]]] = {"alpha": [0.0, 0.1, 0.5, 1.0], "ridge": [0.1, 1.0, 10.0]}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "alpha": [Interval(numbers.Real, 0, np.inf, closed="left")],
        "ridge": [Interval(numbers.Real, 0, np.inf, closed="neither")],
    }

    def __init__(self, *, alpha: float = 1.0, ridge: float = 1.0) -> None:
        self.alpha = alpha
        self.ridge = ridge

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        ctx = _context(as_features(X, self, fitting=True))
        d = ctx.shape[1]
        observed = train.observed
        self.theta_ = np.zeros((train.n_models, d))
        self.A_inv_ = np.empty((train.n_models, d, d))
        eye = np.eye(d)
        for m in range(train.n_models):
            rows = observed[:, m]
            Xm, ym = ctx[rows], train.Y[rows, m]
            A = self.ridge * eye + Xm.T @ Xm
            factor = scipy.linalg.cho_factor(A)
            self.theta_[m] = scipy.linalg.cho_solve(factor, Xm.T @ ym)
            self.A_inv_[m] = scipy.linalg.cho_solve(factor, eye)

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        ctx = _context(as_features(X, self, fitting=False))
        mean = ctx @ self.theta_.T
        if self.alpha == 0:
            return mean
        # x̃ᵀ A⁻¹ x̃ per (query, model), one model at a time (memory n_queries × d), clipped at 0 against round-off
        quad = np.column_stack([((ctx @ A_inv) * ctx).sum(axis=1) for A_inv in self.A_inv_])
        return np.asarray(mean + self.alpha * np.sqrt(np.maximum(quad, 0.0)))


def _context(feats: np.ndarray) -> np.ndarray:
    return np.hstack([feats, np.ones((feats.shape[0], 1))])
