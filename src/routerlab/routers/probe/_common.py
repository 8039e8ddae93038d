"""What every small-model probe router shares: the small model, the score mapping, the layer layout.

A probe router estimates ``p̂(q) = P(the small model answers q correctly | x_q)`` — the quantity
whose ranking RouterXBench's router ability scores (`routerxbench.txt` (arXiv:2602.11877) §3.3 (1),
AUROC against the label ``y = δ_small(q)``, App. B.1 Eq. 16) — and turns it into routerlab's
per-model scores, so that the one shared selection policy routes with it (:func:`small_model_scores`).
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar

import numpy as np

from routerlab.data.schema import RoutingData
from routerlab.errors import RouterlabError, SchemaError
from routerlab.routers._params import Constraint
from routerlab.routers._tabular import masked_model_means
from routerlab.routers.base import Router

log = logging.getLogger(__name__)

__all__ = [
    "SmallModelRouter",
    "encoder_n_layers",
    "resolve_small_model",
    "sigmoid",
    "small_model_scores",
    "split_layers",
    "with_encoder_layout",
]

#: rows aggregated at a time at prediction (a block of (rows, n_layers, d) float64 stays under ~70 MiB
#: for 31 × 576 features), so memory does not grow with the number of queries
_BLOCK_ROWS = 512

SMALL_MODEL: list[Constraint] = [str, None]


def resolve_small_model(small_model: str | None, model_names: tuple[str, ...], mean_cost: np.ndarray) -> int:
    """The column of the small (local) model: ``small_model`` by name, or the cheapest by mean training cost.

    Ties in cost go to the lower column, the shared selection policy's tie-break.
    """
    if small_model is None:
        return int(np.lexsort((np.arange(len(mean_cost)), mean_cost))[0])
    if small_model not in model_names:
        raise SchemaError(
            f"small_model={small_model!r} is not in the pool {list(model_names)}; give the name of the local model "
            "whose correctness the probe predicts, or None for the cheapest model."
        )
    return model_names.index(small_model)


def small_model_scores(p_small: np.ndarray, small: int, model_mean: np.ndarray) -> np.ndarray:
    """Per-model scores: ``p̂`` for the small model, each other model's mean training quality everywhere.

    `routerxbench.txt` §3.1 routes by thresholding one score (Eq. 1, ``r = 1{s(q) ≥ θ}``). Here the
    large model's column is a constant ``ȳ_L`` (its observed training accuracy), so the shared
    policy's cost-utility choice, large iff ``(1 − λ)·(ȳ_L − p̂(q)) > λ·(c̃_L − c̃_S)``, *is* Eq. 1
    with ``s = −p̂`` and a threshold ``θ = λ·(c̃_L − c̃_S)/(1 − λ) − ȳ_L`` set by λ (with mean training
    costs, the same for every query); the report's strong-model score
    ``scores[:, L] − scores[:, S] = ȳ_L − p̂`` orders queries exactly as ``−p̂``, so its AUROC is the
    probe's AUROC. The constant ignores that the large model also fails more on hard queries: the
    probe reads only the small model's state (§4), so that is all it can say.
    """
    scores = np.tile(model_mean, (len(p_small), 1))
    scores[:, small] = p_small
    return scores


def split_layers(X: np.ndarray, n_layers: int | None, owner: str) -> np.ndarray:
    """``X`` (n, n_layers·d), layer-major, as an (n, n_layers, d) view, or a SchemaError that says how to fix it.

    Layer-major: a row holds layer 0's ``d`` mean-pooled values, then layer 1's, … (Eq. 12 per layer,
    `routerxbench.txt` §4), as ``hidden_states`` stacked on axis 1 and reshaped (C order).
    """
    width = int(X.shape[1])
    if n_layers is None:
        raise SchemaError(
            f"{owner}: n_layers is None, and a feature matrix of width {width} cannot say how many layers it stacks; "
            "set n_layers to the encoder's layer count (hidden:smollm2-135m stacks 31 layers of 576: n_layers=31)."
        )
    if width % n_layers:
        raise SchemaError(
            f"{owner}: the feature width {width} is not divisible by n_layers={n_layers}; the features must be "
            f"n_layers blocks of d columns (layer-major). Set n_layers to the number of layers the encoder stacks "
            f"(divisors of {width}: {_divisors(width)}), or encode the queries with the hidden-state encoder."
        )
    return X.reshape(X.shape[0], n_layers, width // n_layers)


#: the tail of a ``hidden:`` encoder's identity (routerlab.data.features.hidden): which states a row holds, their shape
_HIDDEN_LAYOUT = re.compile(r":layers=(all|final|input|mean):shape=(\d+)x(\d+)$")


def encoder_n_layers(encoder: object) -> int | None:
    """How many stacked layers a row of ``encoder``'s features holds, when the encoder says; else None.

    ``encoder`` is an encoder object, its identity string (what :class:`~routerlab.data.features.Features`
    and a fitted :class:`~routerlab.routers.FeatureRouter` carry) or a registered encoder name (the
    sweep's ``spec.encoder``; its identity is looked up). Read, in order: an ``n_layers`` attribute; a
    ``layout`` attribute with ``layers`` and ``n_states``; the identity's
    ``:layers=<SEL>:shape=<n_states>x<dim>`` tail that ``hidden:`` encoders write. ``layers=all``
    rows stack every state (``n_states`` layers); ``final``/``input``/``mean`` rows are one layer.
    """
    n_layers = getattr(encoder, "n_layers", None)
    if isinstance(n_layers, int) and not isinstance(n_layers, bool) and n_layers >= 1:
        return n_layers
    layout = getattr(encoder, "layout", None)
    if layout is not None and hasattr(layout, "layers") and hasattr(layout, "n_states"):
        return int(layout.n_states) if layout.layers == "all" else 1
    identity = encoder if isinstance(encoder, str) else getattr(encoder, "name", None)
    if not isinstance(identity, str):
        return None
    found = _HIDDEN_LAYOUT.search(identity)
    if found is None and isinstance(encoder, str):
        found = _HIDDEN_LAYOUT.search(_identity_of(encoder) or "")
    if found is None:
        return None
    return int(found.group(2)) if found.group(1) == "all" else 1


def _identity_of(name: str) -> str | None:
    """The identity of the encoder registered as ``name`` (``hidden:smollm2-135m`` → ``…:shape=31x576``), or None."""
    from routerlab.data.features.value import encoder_identity

    try:
        return encoder_identity(name)
    except (RouterlabError, ImportError, OSError, ValueError) as exc:  # not an encoder name: nothing to read
        log.debug("encoder_n_layers: %r names no encoder here (%s)", name, exc)
        return None


def with_encoder_layout(router: Router, encoder: object) -> Router:
    """``router`` with ``n_layers`` from the encoder (:func:`encoder_n_layers`) if it reads hidden states without one.

    A bare feature matrix cannot carry its layer count; a ``hidden:`` encoder's identity does, so
    ``routerlab evaluate --encoder hidden:... --router probe_dirichlet`` can run without the user
    giving it. Only routers tagged ``features="hidden_states"`` whose ``n_layers`` is None change (in
    place, and returned); an explicit ``n_layers`` is kept, so a mismatch with the features still
    fails in :func:`split_layers`. Other routers, and encoders that do not say, are left unchanged.
    """
    if router.tags().features != "hidden_states" or router.get_params().get("n_layers", 0) is not None:
        return router
    n_layers = encoder_n_layers(encoder)
    if n_layers is not None:
        router.set_params(n_layers=n_layers)
    return router


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


class SmallModelRouter(Router):
    """Base of the routers that predict ``P(small model correct | x)`` (the probe and logit-signal routers).

    ``fit`` trains on the queries whose small-model outcome is observed (a missing outcome is never a
    label); outcomes in [0, 1] are soft labels. When every such outcome is equal the estimate is that
    constant (``constant_``), with nothing fitted. Subclasses implement :meth:`_fit_p` and
    :meth:`_predict_p`; learned state: ``small_index_``, ``model_mean_``, ``n_features_in_``,
    ``constant_`` (None when a model was fitted).
    """

    requires_features: ClassVar[bool] = True
    small_model: str | None

    def _features(self, X: np.ndarray | None, *, fitting: bool) -> np.ndarray:
        """``X`` as float32 or float64 (no copy of a float32 matrix: hidden states are large), width checked."""
        if X is None:  # the base class raises first for requires_features
            raise SchemaError(f"{type(self).__name__} needs query features X.")
        feats = np.asarray(X)
        if feats.dtype not in (np.float32, np.float64):
            feats = feats.astype(np.float64)
        if fitting:
            self.n_features_in_ = int(feats.shape[1])
        elif feats.shape[1] != self.n_features_in_:
            raise SchemaError(
                f"{type(self).__name__} was fitted on {self.n_features_in_} features but X has {feats.shape[1]}; "
                "encode the queries with the same encoder as the training split."
            )
        return feats

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        feats = self._features(X, fitting=True)
        self.small_index_ = resolve_small_model(self.small_model, self.model_names_, self.model_cost_)
        if self.small_model is None:
            log.info(
                "%s: the small model is %r, the cheapest by mean training cost (set small_model to choose)",
                type(self).__name__,
                self.model_names_[self.small_index_],
            )
        self.model_mean_ = masked_model_means(train)
        rows = np.flatnonzero(train.observed[:, self.small_index_])
        if len(rows) == 0:
            raise SchemaError(
                f"{type(self).__name__}: the small model {self.model_names_[self.small_index_]!r} has no observed "
                f"outcome in the training data {train.name!r}; the probe needs its correctness on some queries."
            )
        y = np.asarray(train.Y[rows, self.small_index_], dtype=np.float64)
        # one copy of the observed rows at most (14k queries × 31 × 576 float32 is 1 GB), none when all are
        seen = feats if len(rows) == len(feats) else feats[rows]
        self._prepare(seen)
        if y.min() == y.max():
            self.constant_: float | None = float(y[0])
            return
        self.constant_ = None
        self._fit_p(seen, y, np.asarray(train.query_ids)[rows])

    def _prepare(self, feats: np.ndarray) -> None:
        """Learn what prediction needs even without a fitted model (layer layout, standardisation)."""

    def _fit_p(self, feats: np.ndarray, y: np.ndarray, query_ids: np.ndarray) -> None:
        raise NotImplementedError

    def _predict_p(self, feats: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_small_proba(self, X: np.ndarray) -> np.ndarray:
        """``p̂(q)``, the estimated probability that the small model answers each query correctly (float64)."""
        self.check_is_fitted()
        feats = self._features(X, fitting=False)
        if self.constant_ is not None:
            return np.full(feats.shape[0], self.constant_, dtype=np.float64)
        out = np.empty(feats.shape[0], dtype=np.float64)
        for start in range(0, feats.shape[0], _BLOCK_ROWS):
            out[start : start + _BLOCK_ROWS] = self._predict_p(feats[start : start + _BLOCK_ROWS])
        return out

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        return small_model_scores(self.predict_small_proba(np.asarray(X)), self.small_index_, self.model_mean_)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large ``|z|``."""
    out: np.ndarray = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out
