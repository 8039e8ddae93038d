"""The per-model MLP router ("mlp"): a shared trunk with one logit per model, masked BCE-with-logits."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from routerlab.routers._params import Constraint
from routerlab.routers.neural._torch import masked_bce_with_logits, mlp_trunk
from routerlab.routers.neural.training import FRACTION, NONNEGATIVE_INT, POSITIVE_INT, TorchRouter


class PerModelMLPRouter(TorchRouter):
    """A shared MLP trunk with one logit per model, trained with masked BCE-with-logits.

    The "MLP" router of `rethinking-router-evaluation.txt` ("Who Routes the Router") App. E (Hu et al.: a network
    predicting each model's performance score from the query embedding, the model with the highest prediction is
    chosen) and the classifier-style ``mlp_cn`` of `routing-plateau.txt` (arXiv:2606.07587) §4.1; as App. E.4 of
    that paper prescribes for classifier-style methods, the loss is BCE-with-logits per (query, model) cell — here
    over the observed cells only. The per-model heads share one trunk (one network with ``n_models`` outputs
    rather than ``n_models`` networks), the usual multi-label form.

    Architecture: ``n_layers`` × (Linear → ReLU → Dropout) of width ``hidden``, then a linear head
    with one output per model whose weights start at 0 and whose biases start at the logit of each
    model's mean training quality. Scores are ``sigmoid(logit)``: estimated P(correct) or, for
    fractional outcomes (F1 in [0, 1], valid soft BCE targets), the expected quality.

    ``param_grid`` (12 configurations): ``hidden`` × ``n_layers`` × ``lr``.
    """

    name = "mlp"
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "hidden": [128, 256, 512],
        "n_layers": [1, 2],
        "lr": [1e-3, 3e-4],
    }
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        **TorchRouter._parameter_constraints,
        "hidden": [POSITIVE_INT],
        "n_layers": [NONNEGATIVE_INT],
        "dropout": [FRACTION],
    }

    def __init__(
        self,
        *,
        hidden: int = 256,
        n_layers: int = 2,
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        epochs: int = 60,
        batch_size: int = 256,
        validation_fraction: float = 0.1,
        patience: int = 10,
        random_state: int | None = 0,
    ) -> None:
        self.hidden = hidden
        self.n_layers = n_layers
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state

    def _build(self, torch: Any, n_features: int, prior_logit: np.ndarray) -> Any:
        trunk, width = mlp_trunk(torch, n_features, int(self.hidden), int(self.n_layers), float(self.dropout))
        head = torch.nn.Linear(width, len(prior_logit))
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.from_numpy(prior_logit))
        return torch.nn.Sequential(trunk, head)

    def _forward(self, torch: Any, net: Any, x: Any) -> Any:
        return net(x)

    def _loss(self, torch: Any, net: Any, batch: dict[str, Any]) -> Any:
        return masked_bce_with_logits(torch, net(batch["x"]), batch["y"], batch["w"])
