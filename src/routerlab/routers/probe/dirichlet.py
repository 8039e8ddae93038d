"""ProbeDirichlet: layer weights drawn from a learned Dirichlet while training, its mean at inference.

`routerxbench.txt` (arXiv:2602.11877) §4 ("Dirichlet Aggregation: Probabilistic Training,
Deterministic Inference", Eqs. 13–15) and App. C (Algorithm 1, ``probe_type = "dirichlet"``).
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Any, ClassVar

import numpy as np

from routerlab._random import rng, stable_uniform
from routerlab.routers._params import Constraint, Interval
from routerlab.routers.neural._torch import require_torch, seeded_torch
from routerlab.routers.probe._common import SMALL_MODEL
from routerlab.routers.probe.linear import N_LAYERS, LayerProbe

log = logging.getLogger(__name__)

_POSITIVE_INT = Interval(numbers.Integral, 1, None, closed="left")
_NONNEGATIVE_INT = Interval(numbers.Integral, 0, None, closed="left")
_POSITIVE_FINITE = Interval(numbers.Real, 0, np.inf, closed="neither")
_NONNEGATIVE_FINITE = Interval(numbers.Real, 0, np.inf, closed="left")
_FRACTION = Interval(numbers.Real, 0, 1, closed="left")


class ProbeDirichlet(LayerProbe):
    """Linear probe on ``Σ_l w_l z⁽ˡ⁾`` with ``w ~ Dir(α)`` while training and ``w = E[w]`` at inference.

    `routerxbench.txt` (arXiv:2602.11877) §4 and App. C, Algorithm 1 (``probe_type = "dirichlet"``):

    * concentration ``α = e^{β₀} · softmax(θ_α)`` (Alg. 1 line 7; the paper's Eq. 14 calls it β), a
      learned total ``e^{β₀}`` times learned proportions, so ``α`` stays positive without a clamp;
    * while training, one ``w ~ Dirichlet(α)`` per query (line 9), drawn with ``rsample``
      (reparameterised: the loss's gradient reaches ``θ_α`` and ``β₀`` through the draw) — the "layer
      dropout" regulariser of §4;
    * at inference ``w = α / Σα = softmax(θ_α)`` (line 12, Eq. 15), fixed and input-independent;
    * the head is ``Linear(d, 1)`` on ``F = Σ_l w_l z⁽ˡ⁾`` (lines 15–16), trained with BCE-with-logits
      (outcomes in [0, 1] are soft targets). ``hidden > 0`` puts one ReLU layer of that width before
      it: the MLP probe of §6 ("Impact of Probe Architecture", Fig. 3), which the paper found adds
      nothing over the linear head.

    Our choices where the paper is silent (it gives linear head, 50 epochs, lr 1e-4, one fixed seed,
    §5.1 and App. A, and a 3.2K/0.8K train/validation split, Tab. 7):

    * ``z⁽ˡ⁾`` are the per-layer standardised features of :class:`~routerlab.routers.probe.linear.LayerProbe`;
    * start: ``θ_α = 0`` and ``e^{β₀} = L`` (every ``α_l = 1``: a flat Dirichlet whose mean is ProbeMean's
      uniform weights), head weights 0 and bias at the logit of the training accuracy;
    * AdamW (weight decay on weight matrices only), mini-batches of ``batch_size`` in an order drawn
      from ``random_state``; ``validation_fraction`` (default 0.2, as Tab. 7) of the training queries,
      chosen by a seeded hash of their ids, is held out; after each epoch the validation BCE at the
      deterministic weights ``E[w]`` is computed, the epoch with the lowest is kept, and training stops
      after ``patience`` epochs without improvement (``epochs`` at most, 50 as §5.1). ``patience=0`` is
      the paper's own schedule: no held-out split, all ``epochs`` run, the last kept. On labels close
      to noise the stopping rule can keep epoch 0, the base-rate constant (every query scored alike);
      ``param_grid`` lets validation choose between the two;
    * ``lr`` 1e-3 by default (the paper's 1e-4 is in ``param_grid``): with standardised inputs and the
      stopping rule above, 1e-4 often needs more than 50 epochs on a few thousand queries.

    Determinism: training runs inside :func:`~routerlab.routers.neural._torch.seeded_torch` (one thread,
    deterministic algorithms, the global torch RNG restored), every draw derived from ``random_state``;
    the fitted state is stored as numpy float64 arrays and prediction is numpy, so a fixed seed gives
    bit-identical scores and a saved router predicts without torch.

    Learned state beyond :class:`LayerProbe`'s: ``concentration_`` (α, (n_layers,)),
    ``layer_weights_`` (E[w]), ``loss_history_``/``val_loss_history_`` per epoch, ``best_epoch_`` (0 =
    the initial head).
    """

    name = "probe_dirichlet"
    stochastic = True
    requires: ClassVar[tuple[str, ...]] = ("torch",)
    param_grid: ClassVar[dict[str, list[Any]]] = {"lr": [1e-3, 1e-4], "weight_decay": [1e-4, 1e-2], "patience": [10, 0]}
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "n_layers": N_LAYERS,
        "hidden": [_NONNEGATIVE_INT],
        "lr": [_POSITIVE_FINITE],
        "weight_decay": [_NONNEGATIVE_FINITE],
        "epochs": [_NONNEGATIVE_INT],
        "batch_size": [_POSITIVE_INT],
        "validation_fraction": [_FRACTION],
        "patience": [_NONNEGATIVE_INT],
        "small_model": SMALL_MODEL,
        "random_state": [_NONNEGATIVE_INT, None],
    }

    def __init__(
        self,
        *,
        n_layers: int | None = None,
        hidden: int = 0,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        epochs: int = 50,
        batch_size: int = 64,
        validation_fraction: float = 0.2,
        patience: int = 10,
        small_model: str | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.n_layers = n_layers
        self.hidden = hidden
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.small_model = small_model
        self.random_state = random_state

    def _prepare(self, feats: np.ndarray) -> None:
        super()._prepare(feats)
        n_layers = self.layer_weights_.shape[0]
        self.concentration_ = np.ones(n_layers)  # the starting α: flat Dirichlet, E[w] uniform
        # no training history until _fit_p runs (a constant estimate trains nothing)
        self.loss_history_ = np.zeros(0)
        self.val_loss_history_ = np.zeros(0)
        self.best_epoch_ = 0

    def _fit_p(self, feats: np.ndarray, y: np.ndarray, query_ids: np.ndarray) -> None:
        torch = require_torch(type(self).__name__)
        gen = rng(self.random_state)
        seed = int(gen.integers(0, 2**31 - 1))
        fraction = float(self.validation_fraction) if int(self.patience) > 0 else 0.0  # patience 0: §5.1, no split
        fit_rows, val_rows = _validation_rows(query_ids, fraction, seed)
        # float32 block by block: the (n, L, d) tensor of 14k MMLU queries × 31 × 576 is 1 GB in float32
        Z = np.concatenate(
            [self.standardized(feats[s : s + 512]).astype(np.float32) for s in range(0, len(feats), 512)]
        )
        base = float(np.clip(y[fit_rows].mean(), 1e-3, 1 - 1e-3))
        with seeded_torch(torch, seed):
            Zt = torch.from_numpy(Z)
            yt = torch.from_numpy(y.astype(np.float32))
            net = _build(torch, Z.shape[1], Z.shape[2], int(self.hidden), math.log(base / (1 - base)))
            decay = [p for p in net.parameters() if p.ndim >= 2]
            no_decay = [p for p in net.parameters() if p.ndim < 2]
            opt = torch.optim.AdamW(
                [
                    {"params": decay, "weight_decay": float(self.weight_decay)},
                    {"params": no_decay, "weight_decay": 0.0},
                ],
                lr=float(self.lr),
            )
            bce = torch.nn.functional.binary_cross_entropy_with_logits

            def val_loss() -> float:
                idx = torch.from_numpy(val_rows.astype(np.int64))
                with torch.no_grad():
                    return float(bce(net(Zt[idx], sample=False), yt[idx]))

            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            best_loss = val_loss() if len(val_rows) else math.inf
            best_epoch, stale = 0, 0
            losses: list[float] = []
            val_losses: list[float] = []
            batch = int(self.batch_size)
            for epoch in range(1, int(self.epochs) + 1):
                order = fit_rows[gen.permutation(len(fit_rows))]
                total = 0.0
                for start in range(0, len(order), batch):
                    idx = torch.from_numpy(order[start : start + batch].astype(np.int64))
                    loss = bce(net(Zt[idx], sample=True), yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                losses.append(total / max(len(order), 1))
                if not len(val_rows):
                    continue
                current = val_loss()
                val_losses.append(current)
                if current < best_loss - 1e-6:
                    best_loss, best_epoch, stale = current, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
                    if stale >= int(self.patience):
                        log.debug("ProbeDirichlet: early stop after epoch %d (best %d)", epoch, best_epoch)
                        break
            if len(val_rows):
                net.load_state_dict(best_state)
            else:
                best_epoch = len(losses)
        self._keep(net)
        self.loss_history_ = np.asarray(losses, dtype=np.float64)
        self.val_loss_history_ = np.asarray(val_losses, dtype=np.float64)
        self.best_epoch_ = best_epoch

    def _keep(self, net: Any) -> None:
        """Store the trained parameters as float64 numpy arrays (prediction and saving need no torch)."""
        theta = net.theta.detach().double().numpy()
        proportions = np.exp(theta - theta.max())
        proportions /= proportions.sum()
        self.layer_weights_ = proportions  # E[w] = α / Σα = softmax(θ_α), Eq. 15
        self.concentration_ = float(np.exp(net.log_total.detach().double().item())) * proportions
        layers = [m for m in net.head if hasattr(m, "weight")]
        if len(layers) == 2:
            self.hidden_coef_ = layers[0].weight.detach().double().numpy().T.copy()
            self.hidden_intercept_ = layers[0].bias.detach().double().numpy().copy()
        self.coef_ = layers[-1].weight.detach().double().numpy()[0].copy()
        self.intercept_ = float(layers[-1].bias.detach().double().item())


def _validation_rows(query_ids: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows): the ``fraction`` of queries with the smallest seeded hash of their id."""
    n = len(query_ids)
    n_val = int(np.floor(fraction * n))
    if n_val < 2 or n - n_val < 2:
        return np.arange(n), np.zeros(0, dtype=np.intp)
    draw = stable_uniform([str(q) for q in query_ids], seed, salt="probe-dirichlet-validation")
    val = np.sort(np.argsort(draw, kind="stable")[:n_val])
    return np.setdiff1d(np.arange(n), val), val


def _build(torch: Any, n_layers: int, d: int, hidden: int, prior_logit: float) -> Any:
    """The Algorithm-1 network: learned Dirichlet layer weights, then a linear (or one-hidden-layer) head."""
    nn = torch.nn

    class DirichletProbe(nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.theta = nn.Parameter(torch.zeros(n_layers))  # proportions softmax(θ_α): uniform at start
            self.log_total = nn.Parameter(torch.tensor(math.log(n_layers)))  # β₀: Σα = L, every α_l = 1
            out = nn.Linear(hidden if hidden else d, 1)
            with torch.no_grad():
                out.weight.zero_()
                out.bias.fill_(prior_logit)
            self.head = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), out) if hidden else nn.Sequential(out)

        def forward(self, H: Any, *, sample: bool) -> Any:
            proportions = torch.softmax(self.theta, dim=0)
            if sample:  # Alg. 1 line 9: w ~ Dirichlet(α), one draw per query, reparameterised
                alpha = torch.exp(self.log_total) * proportions
                w = torch.distributions.Dirichlet(alpha).rsample((H.shape[0],))
            else:  # line 12: E[w]
                w = proportions.expand(H.shape[0], -1)
            return self.head(torch.einsum("nl,nld->nd", w, H)).squeeze(-1)

    return DirichletProbe()
