"""Oracle-label classifiers over query features: logistic regression ("feat_lr") and a 2-layer MLP ("feat_mlp").

Both predict the *oracle label* — the cheapest model among those with the highest observed outcome,
computed by the shared selection policy exactly as :class:`MajorityLabel` does — and score each model
by its predicted class probability, i.e. the estimated probability that it is the model to route to.

Missing outcomes
----------------
Queries with no outcome are dropped. On a query where some model was not run, the observed label
``ℓ`` is only certain if no unobserved model could have taken it; otherwise the query's label is
*censored* to a candidate set (``ℓ`` plus the unobserved models that could beat it, see
:func:`routerlab.routers._tabular.oracle_candidates`). Both classifiers maximise the partial-label
likelihood ``log Σ_{c ∈ candidates} p_c(x)``, which is the ordinary cross-entropy on fully observed
queries (one candidate) and never turns a missing cell into a "this model lost" label. With dense
outcome matrices the two routers are plain multinomial classifiers (``feat_lr`` then matches
scikit-learn's ``LogisticRegression`` to optimiser tolerance).

Class imbalance
---------------
The label marginal of real pools is skewed towards one model, and unweighted cross-entropy then collapses to the
majority class (`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §8.1, §8.5).
``class_weight="balanced"`` is that paper's collapse control (§8.3, "Balanced classifier (positive ctrl)") and its
§9.2 recommendation (class-weighted objectives): each query is weighted ``n / (n_classes · n_ℓ)`` by the frequency
of its observed label ``ℓ`` (scikit-learn's rule).

Both are implemented in numpy/scipy (no torch extra needed), because scikit-learn's classifiers take
one label per row, not a candidate set.
"""

from __future__ import annotations

import itertools
import logging
import numbers
from typing import Any, ClassVar

import numpy as np
import scipy.optimize

from routerlab._random import rng
from routerlab.data.schema import RoutingData
from routerlab.routers._params import Constraint, Interval, SequenceOf, StrOptions
from routerlab.routers._tabular import as_features, oracle_candidates
from routerlab.routers.base import Router

log = logging.getLogger(__name__)

_CLASS_WEIGHT: list[Constraint] = [StrOptions({"balanced"}), None]
_RANDOM_STATE: list[Constraint] = [Interval(numbers.Integral, 0, None, closed="left"), None]


def partial_label_nll(logits: np.ndarray, candidates: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted sum of ``−log Σ_{c∈candidates} softmax(logits)_c`` and its gradient with respect to the logits.

    The gradient of one row is ``softmax(logits) − softmax(logits restricted to the candidates)``;
    with a single candidate this is the usual cross-entropy gradient ``p − onehot``.
    """
    z = logits - logits.max(axis=1, keepdims=True)
    lse_all = np.log(np.exp(z).sum(axis=1))
    zc = np.where(candidates, z, -np.inf)
    zc_max = zc.max(axis=1, keepdims=True)  # finite: every row has a candidate
    lse_cand = zc_max[:, 0] + np.log(np.exp(zc - zc_max).sum(axis=1))
    p = np.exp(z - lse_all[:, None])
    posterior = np.exp(zc - lse_cand[:, None])
    grad = (p - posterior) * weights[:, None]
    return float(weights @ (lse_all - lse_cand)), grad


class _OracleLabelClassifier(Router):
    """Shared fit/predict: oracle candidate sets, standardisation, class weights, class mapping."""

    requires_features = True
    class_weight: str | None

    def _fit_classifier(self, Z: np.ndarray, candidates: np.ndarray, weights: np.ndarray) -> None:
        raise NotImplementedError

    def _logits(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        feats = as_features(X, self, fitting=True)
        rows, labels, candidates = oracle_candidates(train, self.model_cost_)
        self.label_share_ = np.bincount(labels, minlength=train.n_models) / len(labels)
        # the classes: every model that is a possible label of some training query; the others score 0
        self.classes_ = np.flatnonzero(candidates.any(axis=0)).astype(np.intp)
        if len(self.classes_) == 1:
            log.info(
                "%s: the only possible oracle label is model %d; scores are constant.",
                type(self).__name__,
                self.classes_[0],
            )
            return
        Xr = feats[rows]
        self.feature_mean_ = Xr.mean(axis=0)
        std = Xr.std(axis=0)
        self.feature_scale_ = np.where(std > 0, std, 1.0)
        if self.class_weight == "balanced":
            counts = np.bincount(labels, minlength=train.n_models)
            weights = len(labels) / (np.count_nonzero(counts) * counts[labels])
        else:
            weights = np.ones(len(labels))
        self._fit_classifier(self._standardize(Xr), candidates[:, self.classes_], weights.astype(np.float64))

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return np.asarray((X - self.feature_mean_) / self.feature_scale_)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Predicted probability of each model being the oracle label: (n_queries, n_models), rows sum to 1."""
        self.check_is_fitted()
        return self._proba(as_features(X, self, fitting=False))

    def _proba(self, feats: np.ndarray) -> np.ndarray:
        scores = np.zeros((feats.shape[0], len(self.model_names_)), dtype=np.float64)
        if len(self.classes_) == 1:
            scores[:, self.classes_[0]] = 1.0
            return scores
        z = self._logits(self._standardize(feats))
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        scores[:, self.classes_] = p / p.sum(axis=1, keepdims=True)
        return scores

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        return self._proba(as_features(X, self, fitting=False))


class FeatureLogisticRouter(_OracleLabelClassifier):
    """Multinomial logistic regression of the oracle label on standardised query features ("feat_lr").

    `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §3.4
    ("feat_lr: Logistic regression on hand-crafted features") and §8 (collapse under label imbalance;
    ``class_weight="balanced"`` is the §8.3 control); the classifier-style family of
    `routing-plateau.txt` (arXiv:2606.07587) §4.1. The router only sees ``X``: pass hand-crafted features or
    embeddings.

    Design
    ------
    * Features standardised on the training queries; one weight vector and intercept per class
      (multinomial softmax, the model of scikit-learn's ``LogisticRegression``).
    * Objective, as scikit-learn's: ``Σ_q w_q·nll_q / Σ_q w_q + ‖W‖² / (2·C·Σ_q w_q)`` (intercepts
      unpenalised), with the partial-label ``nll`` of the module docstring; L-BFGS from zero, at most
      1000 iterations. Deterministic, hence not ``stochastic``; ``random_state`` is kept for API
      uniformity with the MLP and has no effect.
    * Scores are the class probabilities over all models; a model that is never a possible label in
      training scores exactly 0; a single possible label gives it probability 1 everywhere.

    Stage-1 grid (App. E.4 of `routing-plateau.txt`, ≤ 15): C over three decades × class balancing.
    """

    name = "feat_lr"
    param_grid: ClassVar[dict[str, list[Any]]] = {"C": [0.01, 0.1, 1.0, 10.0], "class_weight": [None, "balanced"]}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "C": [Interval(numbers.Real, 0, None, closed="neither")],  # np.inf: no penalty
        "class_weight": _CLASS_WEIGHT,
        "random_state": _RANDOM_STATE,
    }

    def __init__(self, *, C: float = 1.0, class_weight: str | None = None, random_state: int = 0) -> None:
        self.C = C
        self.class_weight = class_weight
        self.random_state = random_state

    def _fit_classifier(self, Z: np.ndarray, candidates: np.ndarray, weights: np.ndarray) -> None:
        n_cls, d = candidates.shape[1], Z.shape[1]
        sw = float(weights.sum())
        l2 = 1.0 / (float(self.C) * sw)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, b = theta[: n_cls * d].reshape(n_cls, d), theta[n_cls * d :]
            loss, g = partial_label_nll(Z @ W.T + b, candidates, weights)
            grad_W = g.T @ Z / sw + l2 * W
            return loss / sw + 0.5 * l2 * float((W * W).sum()), np.concatenate([grad_W.ravel(), g.sum(axis=0) / sw])

        result = scipy.optimize.minimize(
            objective,
            np.zeros(n_cls * (d + 1)),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 1000, "maxls": 50, "gtol": 1e-4, "ftol": 64 * np.finfo(float).eps},
        )
        if not result.success:
            log.warning("FeatureLogisticRouter: L-BFGS did not converge (C=%s): %s", self.C, result.message)
        self.coef_ = result.x[: n_cls * d].reshape(n_cls, d)
        self.intercept_ = result.x[n_cls * d :]

    def _logits(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(Z @ self.coef_.T + self.intercept_)


class FeatureMLPRouter(_OracleLabelClassifier):
    """A two-hidden-layer MLP classifier of the oracle label on standardised query features ("feat_mlp").

    `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §3.4
    ("feat_mlp: Two-layer MLP on the same features") and §8 (collapse; ``class_weight="balanced"`` is the §8.3
    control); the classifier-style family of `routing-plateau.txt` (arXiv:2606.07587) §4.1.

    Design (scikit-learn's ``MLPClassifier`` recipe, written in numpy for the partial-label loss)
    ---------------------------------------------------------------------------------------------
    * ReLU layers of sizes ``hidden``, softmax output over the possible labels; Glorot-uniform
      initialisation; Adam (learning rate 1e-3), mini-batches of 200 queries shuffled every epoch.
    * Loss per batch: weighted mean partial-label NLL + ``alpha / (2·batch) · Σ‖W‖²`` (weights only,
      scikit-learn's L2 convention); ``class_weight="balanced"`` enters as the per-query weights.
    * ``early_stopping=True`` holds out a random 10 % of the training queries (not stratified:
      scikit-learn's stratified split fails whenever a model is the label of a single query, common
      in large pools) and keeps the parameters of the epoch with the lowest held-out loss, stopping
      after 10 epochs without improvement or ``max_iter`` epochs. Under 50 queries it trains on all.
    * Every random draw (initialisation, hold-out, shuffling) comes from ``random_state``.

    Stage-1 grid (≤ 15 configurations): weight decay × width × class balancing.
    """

    name = "feat_mlp"
    stochastic = True
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "alpha": [1e-4, 1e-2, 1.0],
        "hidden": [(128, 128), (256, 256)],
        "class_weight": [None, "balanced"],
    }
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "hidden": [SequenceOf(Interval(numbers.Integral, 1, None, closed="left"))],
        "alpha": [Interval(numbers.Real, 0, np.inf, closed="left")],
        "class_weight": _CLASS_WEIGHT,
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "random_state": _RANDOM_STATE,
    }

    def __init__(
        self,
        *,
        hidden: tuple[int, ...] = (256, 256),
        alpha: float = 1e-3,
        class_weight: str | None = None,
        max_iter: int = 200,
        early_stopping: bool = True,
        random_state: int = 0,
    ) -> None:
        self.hidden = hidden
        self.alpha = alpha
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.random_state = random_state

    def _fit_classifier(self, Z: np.ndarray, candidates: np.ndarray, weights: np.ndarray) -> None:
        gen = rng(self.random_state)
        sizes = [Z.shape[1], *map(int, self.hidden), candidates.shape[1]]
        params: list[np.ndarray] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            params += [gen.uniform(-bound, bound, (fan_in, fan_out)), gen.uniform(-bound, bound, fan_out)]
        n = len(Z)
        order = gen.permutation(n)
        if self.early_stopping and n >= 50:
            n_val = max(1, n // 10)
            val, fit = order[:n_val], order[n_val:]
        else:
            val, fit = order[:0], order
        adam = _Adam(params)
        best, best_loss, stale = [p.copy() for p in params], np.inf, 0
        batch = min(200, len(fit))
        for _epoch in range(int(self.max_iter)):
            shuffled = fit[gen.permutation(len(fit))]
            for start in range(0, len(shuffled), batch):
                idx = shuffled[start : start + batch]
                grads = self._gradients(params, Z[idx], candidates[idx], weights[idx])
                adam.step(params, grads)
            if len(val):
                loss, _ = partial_label_nll(_forward(params, Z[val])[-1], candidates[val], weights[val])
                loss /= float(weights[val].sum())
                if loss < best_loss - 1e-4:
                    best, best_loss, stale = [p.copy() for p in params], loss, 0
                else:
                    stale += 1
                    if stale >= 10:
                        break
        self.coefs_ = best if len(val) else params
        self.n_epochs_ = _epoch + 1

    def _gradients(self, params: list[np.ndarray], Z: np.ndarray, cand: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
        acts = _forward(params, Z)
        _, delta = partial_label_nll(acts[-1], cand, w)
        delta /= float(w.sum())
        grads: list[np.ndarray] = [np.empty(0)] * len(params)
        n_layers = len(params) // 2
        for layer in range(n_layers - 1, -1, -1):
            W = params[2 * layer]
            grads[2 * layer] = acts[layer].T @ delta + (self.alpha / len(Z)) * W
            grads[2 * layer + 1] = delta.sum(axis=0)
            if layer:
                delta = (delta @ W.T) * (acts[layer] > 0)
        return grads

    def _logits(self, Z: np.ndarray) -> np.ndarray:
        return _forward(self.coefs_, Z)[-1]


def _forward(params: list[np.ndarray], Z: np.ndarray) -> list[np.ndarray]:
    """Activations of every layer (input first, logits last) of the ReLU MLP ``params = [W1, b1, W2, b2, ...]``."""
    acts = [Z]
    n_layers = len(params) // 2
    for layer in range(n_layers):
        h = acts[-1] @ params[2 * layer] + params[2 * layer + 1]
        acts.append(np.maximum(h, 0.0) if layer < n_layers - 1 else h)
    return acts


class _Adam:
    """Adam (β = 0.9, 0.999; ε = 1e-8) with scikit-learn MLP's default learning rate 1e-3, updating in place."""

    def __init__(self, params: list[np.ndarray], lr: float = 1e-3) -> None:
        self.lr, self.t = lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self.t += 1
        lr = self.lr * np.sqrt(1 - 0.999**self.t) / (1 - 0.9**self.t)
        for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= lr * m / (np.sqrt(v) + 1e-8)
