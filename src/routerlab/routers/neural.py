"""Neural routers over frozen query embeddings: per-model MLP, matrix factorisation, dual contrastive.

The three routers are a per-model MLP, EmbedLLM-style matrix factorisation and RouterDC-style dual
contrastive learning. All three follow the frozen-encoder protocol of `routing-plateau.txt` §4.1 and App. E.4: the query
embeddings ``X`` are computed once and a small head is trained on top of them. Shared mechanics live
in :class:`TorchRouter`:

* **Inputs.** ``X`` is standardised with the training mean and standard deviation (stored as
  ``x_mean_`` / ``x_scale_``); the feature width is checked again at prediction time.
* **Missing outcomes are never labels.** ``Y`` has NaN where a model was not run. Every loss reads
  the outcome only through the coverage mask: NaN targets are replaced by 0 *and* given weight 0
  before the loss is computed, so a NaN can never reach a loss value or a gradient.
* **Internal validation and checkpoint selection.** A share ``validation_fraction`` of the training
  rows (chosen from a hash of the query ids and the router's seed, so it does not depend on row
  order) is held out. After every epoch the router computes the validation *routing accuracy*
  at λ = 0 — the mean outcome of the model it would pick among the models observed on each query —
  and the validation loss. The kept checkpoint is the best by (routing accuracy, then lower loss):
  the ``checkpoint_type=best_routing`` rule of `routing-plateau.txt` App. E.4. Training stops early
  once neither the routing accuracy nor the loss has improved for ``patience`` epochs. The held-out
  rows are used only for this selection, never for a gradient step. With fewer than 2 validation
  rows (or ``validation_fraction=0``) all rows are trained on and the last epoch is kept.
* **Optimiser.** AdamW, mini-batches of ``batch_size`` rows in an order drawn from a numpy Generator
  seeded by ``random_state``; weight decay applies to weight matrices and embeddings only, never to
  biases, abilities or the per-model prior terms.
* **Prior initialisation.** Each model's output offset starts at the logit of its mean observed
  training quality (``prior_``); a model with no outcome at all starts at the logit of the overall
  observed mean. Per-model parameters that multiply the query representation start at 0, so a model
  that is never observed receives no gradient and keeps its prior score (the MLP and MF routers
  then score it exactly ``prior_[m]`` on every query).
* **Determinism.** Training runs inside :func:`torch.random.fork_rng` after
  ``torch.manual_seed(seed)`` (the global torch RNG is restored afterwards) with
  ``torch.use_deterministic_algorithms(True)`` (restored afterwards); the seed, the batch order and
  the validation rows all derive from ``random_state`` through :func:`routerlab._random.rng`. A fixed
  ``random_state`` therefore reproduces the scores bit-for-bit. Fit and predict run torch on one
  intra-op thread (``torch.set_num_threads(1)``, restored afterwards): float32 reductions split
  their work by thread count, and the same seed gave scores differing by ~1e-8 between 1 and 2
  threads, so one thread makes results independent of the machine's core count (at no measurable
  cost for heads this small, and without OpenMP spin-waiting on shared cores). After training the
  network is converted to float64 and put in eval mode (no dropout), and prediction is a row-wise
  float64 forward pass, so the scores of a query do not depend on the other queries in the batch or
  on their order.

PyTorch is an optional dependency (``pip install 'routerlab[embed]'``); it is imported inside the
methods, and a missing install raises :class:`~routerlab.errors.PrerequisiteError`.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from routerlab._optional import require
from routerlab._random import rng, stable_uniform
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError
from routerlab.routers._params import Constraint, Interval
from routerlab.routers.base import Router

log = logging.getLogger(__name__)

#: prior probabilities are clipped to [_PRIOR_CLIP, 1 - _PRIOR_CLIP] before taking the logit
_PRIOR_CLIP = 1e-3
#: a masked-out logit: finite (so no NaN in gradients), far below any cosine / temperature
_MASKED_LOGIT = -1e4


def require_torch(owner: str) -> Any:
    """Import and return :mod:`torch`, or raise :class:`PrerequisiteError` naming the extra to install."""
    return require(
        "torch",
        f"{owner} needs PyTorch, an optional dependency of routerlab that is not installed "
        "({exc}); install it with: pip install 'routerlab[embed]'",
    )


@contextlib.contextmanager
def _single_thread(torch: Any) -> Iterator[None]:
    """Run torch on one intra-op thread (restored on exit).

    float32 reductions split work by thread count, so the same seed gave scores differing by ~1e-8
    between 1 and 2 threads; one thread makes fits bit-identical on any machine. On these small
    heads it costs nothing measurable, and it avoids OpenMP spin-waiting when cores are shared.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _seeded_torch(torch: Any, seed: int) -> Iterator[None]:
    """Seed torch's global RNG inside a fork, one thread, deterministic algorithms; all restored on exit."""
    previous = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]), _single_thread(torch):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous, warn_only=warn_only)


def masked_bce_with_logits(torch: Any, logits: Any, target: Any, weight: Any) -> Any:
    """Mean BCE-with-logits over the observed cells only.

    ``target`` must already hold 0 (not NaN) in missing cells and ``weight`` 0 there, 1 elsewhere;
    fractional targets in [0, 1] (e.g. F1 scores) are valid soft labels. A batch with no observed
    cell gives a loss of exactly 0.
    """
    per_cell = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (per_cell * weight).sum() / weight.sum().clamp_min(1.0)


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
    """Shared training loop of the torch routers (see the module docstring for the protocol).

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

        with _seeded_torch(torch, seed):
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
        with torch.no_grad(), _single_thread(torch):
            raw = self._forward(torch, self.net_, torch.from_numpy(np.ascontiguousarray(Xs)))
            return np.asarray(self._link(torch, raw).numpy(), dtype=np.float64)


def _mlp(torch: Any, n_in: int, hidden: int, n_layers: int, dropout: float) -> tuple[Any, int]:
    """Build a ReLU MLP trunk (``n_layers`` hidden layers, dropout after each); return it and its output width."""
    nn = torch.nn
    layers: list[Any] = []
    width = n_in
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    return nn.Sequential(*layers), width


class PerModelMLPRouter(TorchRouter):
    """A shared MLP trunk with one logit per model, trained with masked BCE-with-logits.

    The "MLP" router of `rethinking-router-evaluation.txt` App. E (Hu et al.: a network predicting
    each model's performance score from the query embedding, the model with the highest prediction
    is chosen) and the classifier-style ``mlp_cn`` of `routing-plateau.txt` §4.1; as App. E.4 of that
    paper prescribes for classifier-style methods, the loss is BCE-with-logits per (query, model)
    cell — here over the observed cells only. The per-model heads share one trunk (one network with
    ``n_models`` outputs rather than ``n_models`` networks), the usual multi-label form.

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
        trunk, width = _mlp(torch, n_features, int(self.hidden), int(self.n_layers), float(self.dropout))
        head = torch.nn.Linear(width, len(prior_logit))
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.from_numpy(prior_logit))
        return torch.nn.Sequential(trunk, head)

    def _forward(self, torch: Any, net: Any, x: Any) -> Any:
        return net(x)

    def _loss(self, torch: Any, net: Any, batch: dict[str, Any]) -> Any:
        return masked_bce_with_logits(torch, net(batch["x"]), batch["y"], batch["w"])


class MatrixFactorizationRouter(TorchRouter):
    """EmbedLLM-style matrix factorisation: ``score[q, m] = sigmoid(<W x_q, v_m> + b_m)``.

    The latent-factor router of `routing-plateau.txt` §4.1 (EmbedLLM, Zhuang et al. 2024) and the
    "Collaborative Filtering (Matrix Factorization)" router of `rethinking-router-evaluation.txt`
    App. E: the outcome matrix is factorised as ``Y[q, m] ≈ u_m^T v_q`` with a learned embedding per
    model and a query embedding obtained by a linear projection of the query features, so unseen
    queries can be scored. Here ``v_q = W x_q + c`` (``dim`` wide), a learned model embedding
    ``v_m`` and a per-model offset ``b_m``; the method-specific objective (App. E.4) is the
    masked BCE-with-logits of the observed cells. ``v_m`` starts at 0 and ``b_m`` at the logit of the
    model's mean training quality, so the router starts as the best-single prior.

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

    RouterDC (Chen et al. 2024; the contrastive family of `routing-plateau.txt` §4.1 and §2, and of
    `routerxbench.txt` §2, "contrastive query–model embedding alignment") learns an embedding
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
        trunk, width = _mlp(torch, n_features, int(self.hidden), 1, float(self.dropout))
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
