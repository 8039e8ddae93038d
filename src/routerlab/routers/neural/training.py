"""The training loop shared by the torch routers: :class:`TorchRouter` (protocol in :mod:`routerlab.routers.neural`).

Standardised inputs, the seeded validation split and ``best_routing`` checkpoint selection, AdamW
with weight decay on matrices only, prior initialisation, float64 eval-mode prediction; a subclass
supplies the network (``_build``), its raw scores (``_forward``) and its loss (``_loss``).
"""

from __future__ import annotations

import logging
import numbers
from typing import Any, ClassVar

import numpy as np

from routerlab._random import rng, stable_uniform
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError
from routerlab.routers._params import Constraint, Interval
from routerlab.routers.base import Router
from routerlab.routers.neural._torch import require_torch, seeded_torch, single_thread

log = logging.getLogger(__name__)

#: prior probabilities are clipped to [_PRIOR_CLIP, 1 - _PRIOR_CLIP] before taking the logit
_PRIOR_CLIP = 1e-3


def _prior(Y: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per-model mean observed quality; the overall observed mean for a model with no outcome."""
    counts = observed.sum(axis=0)
    sums = np.where(observed, Y, 0.0).sum(axis=0)
    overall = float(sums.sum() / max(int(counts.sum()), 1))
    return np.where(counts > 0, sums / np.maximum(counts, 1), overall)


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, _PRIOR_CLIP, 1.0 - _PRIOR_CLIP)
    return np.asarray(np.log(clipped) - np.log1p(-clipped))


def _validation_rows(query_ids: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows): the ``fraction`` of queries with the smallest seeded hash of their id."""
    n = len(query_ids)
    n_val = int(np.floor(fraction * n))
    if n_val < 2 or n - n_val < 2:
        return np.arange(n), np.zeros(0, dtype=np.intp)
    draw = stable_uniform(query_ids, seed, salt="torch-router-validation")
    val = np.sort(np.argsort(draw, kind="stable")[:n_val])
    fit = np.setdiff1d(np.arange(n), val)
    return fit, val


def _routing_accuracy(raw: np.ndarray, Y: np.ndarray, observed: np.ndarray) -> float:
    """Mean outcome of the argmax model among the observed ones, over queries with any outcome."""
    rows = observed.any(axis=1)
    if not rows.any():
        return float("nan")
    choice = np.argmax(np.where(observed[rows], raw[rows], -np.inf), axis=1)
    return float(Y[rows][np.arange(int(rows.sum())), choice].mean())


#: constraints shared by the torch routers' hyper-parameters (:mod:`routerlab.routers._params`)
POSITIVE_INT = Interval(numbers.Integral, 1, None, closed="left")
NONNEGATIVE_INT = Interval(numbers.Integral, 0, None, closed="left")
POSITIVE_FINITE = Interval(numbers.Real, 0, np.inf, closed="neither")
NONNEGATIVE_FINITE = Interval(numbers.Real, 0, np.inf, closed="left")
FRACTION = Interval(numbers.Real, 0, 1, closed="left")


class TorchRouter(Router):
    """Shared training loop of the torch routers (the protocol is in :mod:`routerlab.routers.neural`).

    Subclasses implement :meth:`_build` (the network, a ``torch.nn.Module``), :meth:`_forward` (raw
    scores, larger is better, shape (n, n_models)) and :meth:`_loss`; :meth:`_link` maps raw scores to
    the returned quality scores (sigmoid unless overridden). They must define the hyper-parameters
    ``lr``, ``weight_decay``, ``epochs``, ``batch_size``, ``validation_fraction``, ``patience`` and
    ``random_state``.

    Learned state: ``net_`` (float64, eval mode), ``x_mean_``, ``x_scale_``, ``n_features_in_``,
    ``prior_`` (per-model prior probability), ``loss_history_`` (mean training loss per epoch run),
    ``val_history_`` (validation routing accuracy per epoch; empty without validation),
    ``best_epoch_`` (the kept checkpoint; 0 = the initial network) and ``val_routing_accuracy_``
    (its validation routing accuracy, NaN without validation).
    """

    requires_features: ClassVar[bool] = True
    stochastic: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("torch",)
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "lr": [POSITIVE_FINITE],
        "weight_decay": [NONNEGATIVE_FINITE],
        "epochs": [NONNEGATIVE_INT],
        "batch_size": [POSITIVE_INT],
        "validation_fraction": [FRACTION],
        "patience": [POSITIVE_INT],
        "random_state": [NONNEGATIVE_INT, None],
    }

    lr: float
    weight_decay: float
    epochs: int
    batch_size: int
    validation_fraction: float
    patience: int
    random_state: int | None

    # ------------------------------------------------------------------ subclass hooks
    def _prepare(
        self, Xs: np.ndarray, Y: np.ndarray, observed: np.ndarray, fit_rows: np.ndarray, seed: int
    ) -> dict[str, np.ndarray]:
        """Extra per-row arrays the loss needs (aligned with the training rows); none by default."""
        return {}

    def _build(self, torch: Any, n_features: int, prior_logit: np.ndarray) -> Any:
        raise NotImplementedError

    def _forward(self, torch: Any, net: Any, x: Any) -> Any:
        raise NotImplementedError

    def _loss(self, torch: Any, net: Any, batch: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _validation_loss(self, torch: Any, net: Any, batch: dict[str, Any]) -> Any:
        """Return the loss that breaks validation-accuracy ties and drives early stopping (the training loss)."""
        return self._loss(torch, net, batch)

    def _link(self, torch: Any, raw: Any) -> Any:
        return torch.sigmoid(raw)

    # ------------------------------------------------------------------ fitting
    def _standardize(self, X: np.ndarray | None, *, fitting: bool) -> np.ndarray:
        feats = np.asarray(X, dtype=np.float64)
        if fitting:
            self.n_features_in_ = int(feats.shape[1])
            self.x_mean_ = feats.mean(axis=0)
            scale = feats.std(axis=0)
            self.x_scale_ = np.where(scale > 1e-12, scale, 1.0)
        elif feats.shape[1] != self.n_features_in_:
            raise SchemaError(
                f"{type(self).__name__} was fitted on {self.n_features_in_} features but X has {feats.shape[1]}; "
                "encode the queries with the same encoder as the training split."
            )
        return np.asarray((feats - self.x_mean_) / self.x_scale_)

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        torch = require_torch(type(self).__name__)
        Xs = self._standardize(X, fitting=True)
        observed = train.observed
        Y = np.where(observed, train.Y, 0.0)  # the NaN of a missing outcome never leaves this line
        self.prior_ = _prior(Y, observed)
        gen = rng(self.random_state)
        seed = int(gen.integers(0, 2**31 - 1))
        fit_rows, val_rows = _validation_rows(train.query_ids, float(self.validation_fraction), seed)
        if len(val_rows) and not observed[val_rows].any():
            fit_rows, val_rows = np.arange(train.n_queries), np.zeros(0, dtype=np.intp)
        arrays = {"x": Xs, "y": Y, "w": observed.astype(np.float64), **self._prepare(Xs, Y, observed, fit_rows, seed)}
        batch_size, patience = int(self.batch_size), int(self.patience)

        with seeded_torch(torch, seed):
            tensors = {
                k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32 if v.dtype.kind == "f" else np.int64))
                for k, v in arrays.items()
            }

            def take(rows: np.ndarray) -> dict[str, Any]:
                index = torch.from_numpy(rows.astype(np.int64))
                return {k: v.index_select(0, index) for k, v in tensors.items()}

            net = self._build(torch, Xs.shape[1], _logit(self.prior_))
            decay = [p for p in net.parameters() if p.ndim >= 2]
            no_decay = [p for p in net.parameters() if p.ndim < 2]
            optimizer = torch.optim.AdamW(
                [
                    {"params": decay, "weight_decay": float(self.weight_decay)},
                    {"params": no_decay, "weight_decay": 0.0},
                ],
                lr=float(self.lr),
            )
            val_batch = take(val_rows) if len(val_rows) else None
            best_key: tuple[float, float] = (-np.inf, -np.inf)
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            best_epoch, best_acc, best_loss, stale = 0, -np.inf, np.inf, 0
            losses: list[float] = []
            val_accs: list[float] = []
            for epoch in range(1, int(self.epochs) + 1):
                net.train()
                order = fit_rows[gen.permutation(len(fit_rows))]
                total = 0.0
                for start in range(0, len(order), batch_size):
                    rows = order[start : start + batch_size]
                    loss = self._loss(torch, net, take(rows))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * len(rows)
                losses.append(total / max(len(order), 1))
                if val_batch is None:
                    continue
                net.eval()
                with torch.no_grad():
                    val_loss = float(self._validation_loss(torch, net, val_batch))
                    raw = self._forward(torch, net, val_batch["x"]).numpy()
                acc = _routing_accuracy(raw, Y[val_rows], observed[val_rows])
                val_accs.append(acc)
                if (acc, -val_loss) > best_key:
                    best_key, best_epoch = (acc, -val_loss), epoch
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                if acc > best_acc or val_loss < best_loss:
                    best_acc, best_loss, stale = max(acc, best_acc), min(val_loss, best_loss), 0
                else:
                    stale += 1
                    if stale >= patience:
                        log.debug(
                            "%s: early stop after epoch %d (best epoch %d)", type(self).__name__, epoch, best_epoch
                        )
                        break
            if val_batch is not None:
                net.load_state_dict(best_state)
            else:
                best_epoch = len(losses)
        self.net_ = net.double().eval()
        self.loss_history_ = np.asarray(losses, dtype=np.float64)
        self.val_history_ = np.asarray(val_accs, dtype=np.float64)
        self.best_epoch_ = best_epoch
        self.val_routing_accuracy_ = best_key[0] if val_batch is not None and best_epoch > 0 else float("nan")

    def _module_skeleton(self, attr: str) -> Any:
        """An untrained ``net_`` built by :meth:`_build` exactly as fit builds it, in float64 and eval mode.

        The loading hook of :mod:`routerlab.routers.persist`: a saved router stores ``net_`` as its
        ``state_dict`` arrays, and loading puts them into this skeleton, so the network is rebuilt by
        the router's own code instead of being unpickled. Needs ``n_features_in_`` and ``prior_``.
        """
        if attr != "net_":
            raise AttributeError(f"{type(self).__name__} has no torch module attribute {attr!r}; only net_.")
        torch = require_torch(type(self).__name__)
        return self._build(torch, int(self.n_features_in_), _logit(self.prior_)).double().eval()

    # ------------------------------------------------------------------ prediction
    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        torch = require_torch(type(self).__name__)
        Xs = self._standardize(X, fitting=False)
        with torch.no_grad(), single_thread(torch):
            raw = self._forward(torch, self.net_, torch.from_numpy(np.ascontiguousarray(Xs)))
            return np.asarray(self._link(torch, raw).numpy(), dtype=np.float64)
