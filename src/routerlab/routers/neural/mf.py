"""The matrix-factorisation router ("mf", EmbedLLM-style): query projection · model embedding + model offset."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from routerlab.routers._params import Constraint
from routerlab.routers.neural._torch import masked_bce_with_logits
from routerlab.routers.neural.training import POSITIVE_INT, TorchRouter


class MatrixFactorizationRouter(TorchRouter):
    """EmbedLLM-style matrix factorisation: ``score[q, m] = sigmoid(<W x_q, v_m> + b_m)``.

    The latent-factor router of `routing-plateau.txt` (arXiv:2606.07587) §4.1 (EmbedLLM, Zhuang et al. 2024) and
    the "Collaborative Filtering (Matrix Factorization)" router of
    `rethinking-router-evaluation.txt` ("Who Routes the Router") App. E: the outcome matrix is factorised as
    ``Y[q, m] ≈ u_m^T v_q`` with a learned embedding per model and a query embedding obtained by a linear
    projection of the query features, so unseen queries can be scored. Here ``v_q = W x_q + c`` (``dim`` wide), a
    learned model embedding ``v_m`` and a per-model offset ``b_m``; the method-specific objective (App. E.4) is
    the masked BCE-with-logits of the observed cells. ``v_m`` starts at 0 and ``b_m`` at the logit of the model's
    mean training quality, so the router starts as the best-single prior.

    ``param_grid`` (12 configurations): ``dim`` × ``weight_decay``.
    """

    name = "mf"
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "dim": [16, 32, 64, 128],
        "weight_decay": [1e-5, 1e-4, 1e-3],
    }
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        **TorchRouter._parameter_constraints,
        "dim": [POSITIVE_INT],
    }

    def __init__(
        self,
        *,
        dim: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        epochs: int = 60,
        batch_size: int = 256,
        validation_fraction: float = 0.1,
        patience: int = 10,
        random_state: int | None = 0,
    ) -> None:
        self.dim = dim
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state

    def _build(self, torch: Any, n_features: int, prior_logit: np.ndarray) -> Any:
        nn = torch.nn
        net = nn.Module()
        net.query = nn.Linear(n_features, int(self.dim))
        net.model_embedding = nn.Parameter(torch.zeros(len(prior_logit), int(self.dim)))
        net.model_bias = nn.Parameter(torch.from_numpy(prior_logit.astype(np.float32)))
        return net

    def _forward(self, torch: Any, net: Any, x: Any) -> Any:
        return net.query(x) @ net.model_embedding.T + net.model_bias

    def _loss(self, torch: Any, net: Any, batch: dict[str, Any]) -> Any:
        return masked_bce_with_logits(torch, self._forward(torch, net, batch["x"]), batch["y"], batch["w"])
