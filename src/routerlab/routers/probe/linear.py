"""Hidden-state probes over a layer-weighted representation; the fixed-weight linear ones: ProbeFinal, ProbeMean.

`routerxbench.txt` (arXiv:2602.11877) §4 and §5.3 (Tab. 3): per layer ``l`` the small model's hidden
states, mean-pooled over the query's tokens, ``z⁽ˡ⁾(x) = (1/T) Σ_t h_t⁽ˡ⁾`` (Eq. 12), are combined as
``ẑ(x) = Σ_l α_l z⁽ˡ⁾(x)`` (Eq. 13) and a linear classifier on ``ẑ`` predicts whether the small model
answers correctly. The three aggregations of Tab. 3 differ only in ``α``:

* ``probe_final`` (:class:`ProbeFinal`): ``α`` one-hot on the last layer ("Final Layer"); ``layer``
  picks another single layer (``layer=0``, the input embeddings, is Tab. 4's "LLM Emb." row);
* ``probe_mean`` (:class:`ProbeMean`): ``α_l = 1/L`` ("Mean Pool", App. C's Mean Pooling);
* ``probe_dirichlet`` (:class:`~routerlab.routers.probe.dirichlet.ProbeDirichlet`): ``α ~ Dir(β)`` with
  a learned concentration ``β`` while training, ``E[α]`` at inference (Eqs. 14–15, App. C).

Shared design (:class:`LayerProbe`)
-----------------------------------
* **Layout.** The feature row is ``n_layers`` blocks of ``d`` columns, layer-major (layer 0 first),
  as the ``hidden:`` encoders write it; ``n_layers`` is a hyper-parameter because a bare matrix
  cannot carry it (a wrong value is a SchemaError listing the divisors of the width).
* **Per-layer standardisation.** Each (layer, dimension) column is z-scored with its training mean
  and standard deviation before aggregation. The paper does not say; we do it because the residual
  stream's scale grows with depth (by orders of magnitude in small LMs), and without it ``α`` would
  weigh layers by their norm instead of their information, and Mean would be the last layers' mean.
* **Head.** ``p̂ = σ(ẑ·coef_ + intercept_)`` (or one ReLU hidden layer first: the MLP probe of §6,
  Fig. 3). Prediction is numpy float64 in blocks of rows, so scores do not depend on batch order.
* **Scores.** :func:`~routerlab.routers.probe._common.small_model_scores`: ``p̂`` for the small model,
  each other model's mean training quality.

The linear probes fit an L2-penalised logistic regression (scikit-learn's ``LogisticRegression``,
L-BFGS, deterministic) on ``ẑ`` standardised once more, and fold that standardisation into
``coef_``/``intercept_``. §5.1 trains "a lightweight linear model"; the penalty ``C`` is ours, chosen on
validation by the seed protocol over ``param_grid`` (four decades around scikit-learn's default).
"""

from __future__ import annotations

import logging
import numbers
import warnings
from typing import Any, ClassVar

import numpy as np

from routerlab.errors import SchemaError
from routerlab.routers._params import Constraint, Interval
from routerlab.routers._tabular import soft_binary_targets
from routerlab.routers.probe._common import SMALL_MODEL, SmallModelRouter, sigmoid, split_layers

log = logging.getLogger(__name__)

N_LAYERS: list[Constraint] = [Interval(numbers.Integral, 1, None, closed="left"), None]
#: the stage-1 grid of the linear probes' inverse L2 strength (seed protocol, validation-selected)
C_GRID: list[float] = [1e-3, 1e-2, 1e-1, 1.0, 10.0]


class LayerProbe(SmallModelRouter):
    """A probe on ``ẑ = Σ_l α_l z⁽ˡ⁾`` of standardised per-layer features (design: :mod:`~.probe.linear`).

    Learned state: ``layer_mean_``/``layer_scale_`` (n_layers, d), ``layer_weights_`` (n_layers,) —
    the ``α`` used at prediction —, ``coef_`` and ``intercept_`` of the output unit, and for an MLP
    head ``hidden_coef_`` (d, hidden) and ``hidden_intercept_`` (hidden,) (None for a linear head).
    """

    features: ClassVar[str | None] = "hidden_states"
    n_layers: int | None
    coef_: np.ndarray
    intercept_: float

    def _layers(self, feats: np.ndarray) -> np.ndarray:
        return split_layers(feats, self.n_layers, type(self).__name__)

    def _prepare(self, feats: np.ndarray) -> None:
        H = self._layers(feats)
        self.layer_mean_ = H.mean(axis=0, dtype=np.float64)
        scale = H.std(axis=0, dtype=np.float64)
        self.layer_scale_ = np.where(scale > 1e-12, scale, 1.0)
        self.layer_weights_ = self._fixed_weights(H.shape[1])
        self.hidden_coef_: np.ndarray | None = None
        self.hidden_intercept_: np.ndarray | None = None

    def _fixed_weights(self, n_layers: int) -> np.ndarray:
        """``α`` of a fixed aggregation (and the starting point of a learned one)."""
        return np.full(n_layers, 1.0 / n_layers)

    def standardized(self, feats: np.ndarray) -> np.ndarray:
        """The per-layer z-scores ``(n, n_layers, d)`` of a block of rows, float64."""
        return np.asarray((self._layers(feats) - self.layer_mean_) / self.layer_scale_)

    def aggregate(self, feats: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """``ẑ = Σ_l α_l z⁽ˡ⁾`` (Eq. 13) of standardised rows, ``α = layer_weights_`` unless given; (n, d)."""
        w = self.layer_weights_ if weights is None else weights
        out = np.zeros((feats.shape[0], self.layer_mean_.shape[1]), dtype=np.float64)
        for start in range(0, feats.shape[0], 512):
            out[start : start + 512] = np.einsum("l,nld->nd", w, self.standardized(feats[start : start + 512]))
        return out

    def _head(self, Z: np.ndarray) -> np.ndarray:
        if self.hidden_coef_ is not None and self.hidden_intercept_ is not None:
            Z = np.maximum(Z @ self.hidden_coef_ + self.hidden_intercept_, 0.0)
        return np.asarray(Z @ self.coef_ + self.intercept_)

    def _predict_p(self, feats: np.ndarray) -> np.ndarray:
        return sigmoid(self._head(self.aggregate(feats)))


class _LinearLayerProbe(LayerProbe):
    """Fixed ``α``, then an L2 logistic regression (scikit-learn's ``LogisticRegression``, ``C``)."""

    C: float

    def _fit_p(self, feats: np.ndarray, y: np.ndarray, query_ids: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        Z = self.aggregate(feats)
        mu, sd = Z.mean(axis=0), Z.std(axis=0)
        sd = np.where(sd > 1e-12, sd, 1.0)
        rows, labels, weights = soft_binary_targets(y)  # graded outcomes are soft labels
        model = LogisticRegression(C=float(self.C), max_iter=2000, tol=1e-6)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(((Z - mu) / sd)[rows], labels, sample_weight=weights)
        for w in caught:
            log.warning("%s (C=%s): %s", type(self).__name__, self.C, w.message)
        coef = model.coef_[0] / sd  # fold the standardisation of ẑ into the head
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = float(model.intercept_[0] - coef @ mu)


class ProbeMean(_LinearLayerProbe):
    """Linear probe on the uniform mean of the layers ("Mean Pool", `routerxbench.txt` §5.3 Tab. 3, App. C).

    ``α_l = 1/L`` in Eq. 13: the special case of ProbeDirichlet with uniform concentration (§4,
    "β_l ≡ c"). Design and score mapping in :mod:`routerlab.routers.probe.linear`.
    """

    name = "probe_mean"
    param_grid: ClassVar[dict[str, list[Any]]] = {"C": C_GRID}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "n_layers": N_LAYERS,
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "small_model": SMALL_MODEL,
    }

    def __init__(self, *, n_layers: int | None = None, C: float = 1.0, small_model: str | None = None) -> None:
        self.n_layers = n_layers
        self.C = C
        self.small_model = small_model


class ProbeFinal(_LinearLayerProbe):
    """Linear probe on one layer, the last by default ("Final Layer", `routerxbench.txt` §5.3 Tab. 3).

    ``layer`` indexes the stacked layers as Python does (``-1`` the last, ``0`` the first: for
    ``hidden:`` encoders layer 0 is the input embedding, Tab. 4's "LLM Emb." row). Design and score
    mapping in :mod:`routerlab.routers.probe.linear`.
    """

    name = "probe_final"
    param_grid: ClassVar[dict[str, list[Any]]] = {"C": C_GRID}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "n_layers": N_LAYERS,
        "layer": [Interval(numbers.Integral, None, None)],
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "small_model": SMALL_MODEL,
    }

    def __init__(
        self, *, n_layers: int | None = None, layer: int = -1, C: float = 1.0, small_model: str | None = None
    ) -> None:
        self.n_layers = n_layers
        self.layer = layer
        self.C = C
        self.small_model = small_model

    def _fixed_weights(self, n_layers: int) -> np.ndarray:
        if not -n_layers <= self.layer < n_layers:
            raise SchemaError(
                f"ProbeFinal: layer={self.layer} is out of range for features of n_layers={n_layers}; "
                f"give a layer in [{-n_layers}, {n_layers - 1}] (-1 is the last layer, 0 the first)."
            )
        w = np.zeros(n_layers)
        w[self.layer] = 1.0
        return w
