"""Small-model probe routers: RouterXBench's hidden-state probes and logit-signal baselines (arXiv:2602.11877).

The setting is `routerxbench.txt` §3.1: a small local model and a large cloud model; the router
decides, before the small model answers, whether to escalate. Every router here estimates
``p̂(q) = P(small model correct | x_q)`` and scores the pool with it
(:func:`~routerlab.routers.probe._common.small_model_scores`: ``p̂`` for the small model, each other
model's mean training quality), so RouterXBench's AUROC (§3.3) and the shared cost-utility policy
both read it. The small model is ``small_model`` (default: the cheapest in the training pool).

* :mod:`~routerlab.routers.probe.linear` — :class:`ProbeFinal` (``probe_final``) and :class:`ProbeMean`
  (``probe_mean``): linear probes on one layer / the uniform layer mean of the small model's
  mean-pooled hidden states (§5.3, Tab. 3);
* :mod:`~routerlab.routers.probe.dirichlet` — :class:`ProbeDirichlet` (``probe_dirichlet``): learned
  Dirichlet layer weights (§4, App. C); ``hidden > 0`` is the MLP probe of §6;
* :mod:`~routerlab.routers.probe.signals` — ``logit_max_prob``, ``logit_entropy``, ``logit_margin``:
  the logit baselines of §5.1, over a signals matrix with columns :data:`LOGIT_SIGNALS`;
* :mod:`~routerlab.routers.probe.verbal` — ``selfask``, ``semantic_entropy``: the verbal baselines of
  §5.1, over the ``verbal:`` encoder's matrix with columns :data:`VERBAL_SIGNALS`.

Hidden-state features are ``n_layers`` blocks of ``d`` columns, layer-major; ``n_layers`` must be
given (31 for SmolLM2-135M's embeddings + 30 blocks), since a bare matrix cannot carry it;
:func:`with_encoder_layout` takes it from a ``hidden:`` encoder (its identity ends in
``:layers=all:shape=31x576``).
"""

from __future__ import annotations

from routerlab.routers.probe._common import (
    SmallModelRouter,
    encoder_n_layers,
    small_model_scores,
    split_layers,
    with_encoder_layout,
)
from routerlab.routers.probe.dirichlet import ProbeDirichlet
from routerlab.routers.probe.linear import LayerProbe, ProbeFinal, ProbeMean
from routerlab.routers.probe.signals import (
    LOGIT_SIGNALS,
    LogitEntropyRouter,
    LogitMarginRouter,
    LogitMaxProbRouter,
)
from routerlab.routers.probe.verbal import VERBAL_SIGNALS, SelfAskRouter, SemanticEntropyRouter

__all__ = [
    "LOGIT_SIGNALS",
    "VERBAL_SIGNALS",
    "LayerProbe",
    "LogitEntropyRouter",
    "LogitMarginRouter",
    "LogitMaxProbRouter",
    "ProbeDirichlet",
    "ProbeFinal",
    "ProbeMean",
    "SelfAskRouter",
    "SemanticEntropyRouter",
    "SmallModelRouter",
    "encoder_n_layers",
    "small_model_scores",
    "split_layers",
    "with_encoder_layout",
]
