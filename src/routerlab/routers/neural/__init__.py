"""Neural routers over frozen query embeddings: per-model MLP, matrix factorisation, dual contrastive.

The three routers are a per-model MLP, EmbedLLM-style matrix factorisation and RouterDC-style dual contrastive
learning. All three follow the frozen-encoder protocol of `routing-plateau.txt` (arXiv:2606.07587) §4.1 and
App. E.4: the query embeddings ``X`` are computed once and a small head is trained on top of them. Shared
mechanics live in :class:`TorchRouter`:

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
methods, and a missing install raises :class:`~routerlab.errors.PrerequisiteError` (the routers'
``requires`` tag is ``("torch",)``, so :func:`~routerlab.routers.make_router` and the conformance
suite say so before any fit).

Modules
-------
* :mod:`~routerlab.routers.neural.training` — :class:`TorchRouter`, the training loop above;
* :mod:`~routerlab.routers.neural.mlp` — :class:`PerModelMLPRouter` ("mlp");
* :mod:`~routerlab.routers.neural.mf` — :class:`MatrixFactorizationRouter` ("mf");
* :mod:`~routerlab.routers.neural.contrastive` — :class:`ContrastiveRouter` ("contrastive");
* ``_torch`` — the lazy torch import, the determinism contexts, the masked loss, the MLP trunk.
* :mod:`~routerlab.routers.neural.finetune` — :class:`~routerlab.routers.neural.finetune.FineTunedRouter`
  ("finetuned"): the query encoder itself (MiniLM) trained end to end with per-model heads on the
  query texts, with the same masked loss and validation rule; its checkpoints are cached on disk.

The IRT router (:mod:`routerlab.routers.irt`) is built on the same :class:`TorchRouter`.
"""

from __future__ import annotations

from routerlab.routers.neural._torch import masked_bce_with_logits, require_torch
from routerlab.routers.neural.contrastive import ContrastiveRouter
from routerlab.routers.neural.mf import MatrixFactorizationRouter
from routerlab.routers.neural.mlp import PerModelMLPRouter
from routerlab.routers.neural.training import (
    FRACTION,
    NONNEGATIVE_FINITE,
    NONNEGATIVE_INT,
    POSITIVE_FINITE,
    POSITIVE_INT,
    TorchRouter,
)

__all__ = [
    "FRACTION",
    "NONNEGATIVE_FINITE",
    "NONNEGATIVE_INT",
    "POSITIVE_FINITE",
    "POSITIVE_INT",
    "ContrastiveRouter",
    "MatrixFactorizationRouter",
    "PerModelMLPRouter",
    "TorchRouter",
    "masked_bce_with_logits",
    "require_torch",
]
