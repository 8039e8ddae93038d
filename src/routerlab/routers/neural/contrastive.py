"""The dual contrastive router ("contrastive", RouterDC-style): queries and models embedded in one space."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from routerlab.routers._params import Constraint
from routerlab.routers.neural._torch import mlp_trunk
from routerlab.routers.neural.training import (
    FRACTION,
    NONNEGATIVE_FINITE,
    POSITIVE_FINITE,
    POSITIVE_INT,
    TorchRouter,
)

#: a masked-out logit: finite (so no NaN in gradients), far below any cosine / temperature
_MASKED_LOGIT = -1e4


def _contrastive_masks(Y: np.ndarray, observed: np.ndarray, top_k: int, last_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the positive (top-k observed) and negative (bottom-k observed, strictly worse) models.

    A model is a positive when fewer than ``top_k`` observed models score strictly higher on the
    query (ties at the k-th place are all included) and it beats the query's worst observed score; a
    negative when fewer than ``last_k`` observed models score strictly lower and it scores strictly
    below every positive. With 0/1 outcomes the positives are the correct models (up to ties) and
    the negatives the wrong ones; a query whose observed outcomes are all equal has neither and adds
    no sample-LLM term. Missing outcomes are never positives nor negatives.
    """
    n_models = Y.shape[1]
    higher = np.zeros(Y.shape, dtype=np.int64)
    lower = np.zeros(Y.shape, dtype=np.int64)
    for m in range(n_models):
        higher[:, m] = (observed & (Y > Y[:, [m]])).sum(axis=1)
        lower[:, m] = (observed & (Y < Y[:, [m]])).sum(axis=1)
    best = np.where(observed, Y, -np.inf).max(axis=1, keepdims=True)
    worst = np.where(observed, Y, np.inf).min(axis=1, keepdims=True)
    positive = observed & (higher < top_k) & (Y > worst)
    lowest_positive = np.where(positive, Y, np.inf).min(axis=1, keepdims=True)
    negative = observed & (lower < last_k) & (Y < best) & (Y < lowest_positive)
    return positive, negative


class ContrastiveRouter(TorchRouter):
    """RouterDC-style dual contrastive router: queries and models embedded in one space.

    RouterDC (Chen et al. 2024; the contrastive family of `routing-plateau.txt` (arXiv:2606.07587) §4.1 and §2, and of
    `routerxbench.txt` (arXiv:2602.11877) §2, "contrastive query–model embedding alignment") learns an embedding
    ``k_m`` per model and a query encoder ``E``; the similarity ``s(q, m) = cos(E(x_q), k_m) / τ``
    scores model ``m`` on query ``q``. The query encoder here is an MLP projection of the frozen
    features (Linear(hidden) → ReLU → Dropout → Linear(dim)), since the frozen-encoder protocol
    keeps the sentence encoder fixed. The objective (method-specific, App. E.4) has two terms:

    * **sample-LLM loss**: for each query, the positives are its ``top_k`` models by observed score
      and the negatives its ``last_k`` worst observed models that score strictly below every
      positive (ties at the k-th place included, see :func:`_contrastive_masks`); each positive ``p``
      adds ``−log(e^{s_p} / (e^{s_p} + Σ_n e^{s_n}))`` (InfoNCE with temperature τ). Missing outcomes
      are never positives or negatives.
    * **sample-sample loss** (weight ``cluster_weight``): the training queries are clustered with
      KMeans (``n_clusters``, seeded by the router's ``random_state``, on the standardised features);
      within a mini-batch every pair of queries from the same cluster is a positive pair and the
      batch's queries from other clusters are its negatives, with the same InfoNCE form over query
      cosine similarities / τ (an in-batch version of RouterDC's sampled positives and negatives).

    Early stopping and the validation tie-break use the sample-LLM term only (the cluster term keeps
    improving on held-out queries even when nothing about the models is being learned).

    Scores are ``softmax_m(s(q, m))``: a distribution over the models, not a calibrated P(correct);
    the argmax is the RouterDC decision, and under a cost-utility λ the scores trade off on that
    scale. ``param_grid`` (12 configurations): ``dim`` × ``temperature`` × ``n_clusters``.
    """

    name = "contrastive"
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "dim": [32, 64],
        "temperature": [0.1, 0.2, 0.5],
        "n_clusters": [5, 10],
    }
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        **TorchRouter._parameter_constraints,
        **{key: [POSITIVE_INT] for key in ("dim", "hidden", "top_k", "last_k", "n_clusters")},
        "temperature": [POSITIVE_FINITE],
        "cluster_weight": [NONNEGATIVE_FINITE],
        "dropout": [FRACTION],
    }

    def __init__(
        self,
        *,
        dim: int = 64,
        hidden: int = 256,
        temperature: float = 0.2,
        top_k: int = 3,
        last_k: int = 3,
        n_clusters: int = 8,
        cluster_weight: float = 1.0,
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        epochs: int = 60,
        batch_size: int = 256,
        validation_fraction: float = 0.1,
        patience: int = 10,
        random_state: int | None = 0,
    ) -> None:
        self.dim = dim
        self.hidden = hidden
        self.temperature = temperature
        self.top_k = top_k
        self.last_k = last_k
        self.n_clusters = n_clusters
        self.cluster_weight = cluster_weight
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state

    def _prepare(
        self, Xs: np.ndarray, Y: np.ndarray, observed: np.ndarray, fit_rows: np.ndarray, seed: int
    ) -> dict[str, np.ndarray]:
        from sklearn.cluster import KMeans

        positive, negative = _contrastive_masks(Y, observed, int(self.top_k), int(self.last_k))
        n_clusters = min(int(self.n_clusters), len(fit_rows))
        clusters = np.zeros(len(Xs), dtype=np.int64)
        self.cluster_centers_ = np.zeros((0, Xs.shape[1]))
        if n_clusters >= 2 and float(self.cluster_weight) > 0:
            km = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit(Xs[fit_rows])
            clusters = km.predict(Xs).astype(np.int64)
            self.cluster_centers_ = km.cluster_centers_
        return {"positive": positive.astype(np.float64), "negative": negative.astype(np.float64), "cluster": clusters}

    def _build(self, torch: Any, n_features: int, prior_logit: np.ndarray) -> Any:
        nn = torch.nn
        trunk, width = mlp_trunk(torch, n_features, int(self.hidden), 1, float(self.dropout))
        net = nn.Module()
        net.encoder = nn.Sequential(trunk, nn.Linear(width, int(self.dim)))
        # unit-norm scale (std 1/sqrt(dim)): with Adam's ~lr-sized steps the directions actually move
        net.model_embedding = nn.Parameter(torch.randn(len(prior_logit), int(self.dim)) / float(np.sqrt(int(self.dim))))
        return net

    def _embed(self, torch: Any, net: Any, x: Any) -> Any:
        return torch.nn.functional.normalize(net.encoder(x), dim=1)

    def _similarity(self, torch: Any, net: Any, h: Any) -> Any:
        models = torch.nn.functional.normalize(net.model_embedding, dim=1)
        return h @ models.T / float(self.temperature)

    def _forward(self, torch: Any, net: Any, x: Any) -> Any:
        return self._similarity(torch, net, self._embed(torch, net, x))

    def _link(self, torch: Any, raw: Any) -> Any:
        return torch.softmax(raw, dim=1)

    def _loss(self, torch: Any, net: Any, batch: dict[str, Any]) -> Any:
        h = self._embed(torch, net, batch["x"])
        loss = self._sample_llm_loss(torch, self._similarity(torch, net, h), batch)
        if float(self.cluster_weight) > 0:
            loss = loss + float(self.cluster_weight) * self._sample_sample_loss(torch, h, batch["cluster"])
        return loss

    def _validation_loss(self, torch: Any, net: Any, batch: dict[str, Any]) -> Any:
        # only the routing term: the cluster term keeps improving on held-out queries even when
        # nothing about the models is learned, and would defeat early stopping
        return self._sample_llm_loss(torch, self._forward(torch, net, batch["x"]), batch)

    def _sample_llm_loss(self, torch: Any, s: Any, batch: dict[str, Any]) -> Any:
        # each (query, positive model) pair against the query's negative models
        positive, negative = batch["positive"] > 0, batch["negative"] > 0
        neg_lse = torch.logsumexp(torch.where(negative, s, _MASKED_LOGIT), dim=1, keepdim=True)
        pair = positive & negative.any(dim=1, keepdim=True)
        per_pos = torch.logaddexp(s, neg_lse) - s
        return (per_pos * pair).sum() / pair.sum().clamp_min(1)

    def _sample_sample_loss(self, torch: Any, h: Any, cluster: Any) -> Any:
        s = h @ h.T / float(self.temperature)
        same = cluster[:, None] == cluster[None, :]
        eye = torch.eye(len(cluster), dtype=torch.bool)
        other = ~same
        neg_lse = torch.logsumexp(torch.where(other, s, _MASKED_LOGIT), dim=1, keepdim=True)
        pair = same & ~eye & other.any(dim=1, keepdim=True)
        per_pair = torch.logaddexp(s, neg_lse) - s
        return (per_pair * pair).sum() / pair.sum().clamp_min(1)
