"""Item-response-theory router: models are respondents with an ability, queries are items with a difficulty.

IRT-Router (Song et al. 2025) and its multidimensional variant MIRT are the IRT routers of
`routing-plateau.txt` (arXiv:2606.07587) §4.1 ("latent-factor and IRT routers"). An IRT model explains the outcome
matrix with a few interpretable numbers: each model ``m`` has an ability ``θ_m`` and each query
``q`` a difficulty ``b_q``; in the two-parameter form a discrimination term lets abilities differ
along a low-dimensional latent space of query content. Query parameters are *predicted from the
query features* (they cannot be looked up for an unseen query), so the router generalises to new
queries:

* 1PL (Rasch): ``P(correct | q, m) = σ(θ_m − b_q)`` with ``b_q = w·x_q + c``.
* 2PL (multidimensional): ``P(correct | q, m) = σ(a_m·z_q − b_q + θ_m)`` with ``z_q = W x_q``
  (``dim`` wide) and a per-model discrimination vector ``a_m``.

Known collapse of the 1PL router (not a bug, and deliberately not "fixed"): in 1PL the abilities do
not depend on the query and ``σ`` is monotone, so ``argmax_m σ(θ_m − b_q) = argmax_m θ_m`` for every
query — the router always picks the same model, the one with the highest ability, i.e. it reduces
to the best single model. `routing-plateau.txt` §4.2 reports exactly this: IRT-Router and MIRT
"collapse to routing queries to a single fixed model" on some encoders. The query difficulty still
matters for calibrated scores, hence for cost-utility routing (U(λ) mixes the score with cost).
Only the 2PL term ``a_m·z_q`` can make the choice depend on the query.

The objective is the masked BCE-with-logits of the observed (query, model) cells (the
"method-specific objective" of App. E.4 is the IRT log-likelihood, which is this BCE). Training,
standardisation, the internal validation split with ``best_routing`` checkpoint selection,
determinism and the optional-torch rule are shared with the neural routers
(:class:`routerlab.routers.neural.TorchRouter`). Initialisation: ``θ_m`` = logit of the model's mean
training quality, ``a_m = 0``, ``w = 0``, ``c = 0``: the router starts as the best-single prior,
and a model with no observed outcome keeps ``θ_m`` and ``a_m`` at their initial values.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from routerlab.routers._params import Constraint, StrOptions
from routerlab.routers.neural import POSITIVE_INT, TorchRouter, masked_bce_with_logits

MODES = ("2pl", "1pl")


class IRTRouter(TorchRouter):
    """IRT router with feature-predicted query difficulty (1PL) and latent query traits (2PL).

    ``mode="2pl"`` (default): ``σ(a_m·(W x_q) − (w·x_q + c) + θ_m)``; ``mode="1pl"``:
    ``σ(θ_m − (w·x_q + c))``, which routes every query to the same model (see the module docstring;
    `routing-plateau.txt` (arXiv:2606.07587) §4.1–4.2, IRT-Router / MIRT). Scores are the predicted P(correct).

    Learned state beyond :class:`TorchRouter`'s: :attr:`ability_` (θ, one per model) and, in 2PL,
    :attr:`discrimination_` (``a``, n_models × dim).

    ``param_grid`` (9 configurations): ``dim`` × ``lr`` (``mode`` is the modelling choice and is
    not searched; ``dim`` is unused in 1PL).
    """

    name = "irt"
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "dim": [8, 16, 32],
        "lr": [1e-3, 3e-3, 1e-2],
    }
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        **TorchRouter._parameter_constraints,
        "mode": [StrOptions(set(MODES))],
        "dim": [POSITIVE_INT],
    }

    def __init__(
        self,
        *,
        mode: str = "2pl",
        dim: int = 16,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        epochs: int = 60,
        batch_size: int = 256,
        validation_fraction: float = 0.1,
        patience: int = 10,
        random_state: int | None = 0,
    ) -> None:
        self.mode = mode
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
        net.difficulty = nn.Linear(n_features, 1)
        with torch.no_grad():
            net.difficulty.weight.zero_()
            net.difficulty.bias.zero_()
        net.ability = nn.Parameter(torch.from_numpy(prior_logit.astype(np.float32)))
        if self.mode == "2pl":
            net.query = nn.Linear(n_features, int(self.dim), bias=False)
            net.discrimination = nn.Parameter(torch.zeros(len(prior_logit), int(self.dim)))
        return net

    def _forward(self, torch: Any, net: Any, x: Any) -> Any:
        logits = net.ability[None, :] - net.difficulty(x)
        if self.mode == "2pl":
            logits = logits + net.query(x) @ net.discrimination.T
        return logits

    def _loss(self, torch: Any, net: Any, batch: dict[str, Any]) -> Any:
        return masked_bce_with_logits(torch, self._forward(torch, net, batch["x"]), batch["y"], batch["w"])

    @property
    def ability_(self) -> np.ndarray:
        """θ, each model's ability on the logit scale."""
        self.check_is_fitted()
        return np.asarray(self.net_.ability.detach().numpy(), dtype=np.float64)

    @property
    def discrimination_(self) -> np.ndarray:
        """``a``, each model's discrimination vector over the latent query space (2PL only)."""
        self.check_is_fitted()
        if self.mode != "2pl":
            raise AttributeError("discrimination_ exists only for mode='2pl'; the 1PL model has none.")
        return np.asarray(self.net_.discrimination.detach().numpy(), dtype=np.float64)
