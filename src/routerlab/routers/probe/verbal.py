"""The verbal baselines of RouterXBench: SelfAsk's P(True) and semantic entropy of the small model's answers.

`routerxbench.txt` (arXiv:2602.11877) §5.1 "Baselines" (1), "Verbose-based. Routers that depend on
auxiliary generations, such as self-evaluation (Kadavath et al., 2022) or semantic entropy (Kuhn et
al., 2023)", and Tab. 1's rows SelfAsk and SemanticEntropy. Each is one scalar per query, computed
from the small model's generated answers (:mod:`routerlab.data.features.generate`,
:mod:`routerlab.data.features.verbal`):

* ``selfask`` — P(True) that the model gives its own greedy answer under Kadavath et al.'s
  self-evaluation prompt; higher = more confident;
* ``semantic_entropy`` — the discrete semantic entropy of ``K`` sampled answers, classes = the option
  letter each commits to (Farquhar et al. 2024); *lower* = more confident.

They read a signals matrix whose columns are :data:`VERBAL_SIGNALS` in that order — the rows of the
``verbal:<model>`` encoder — through the same machinery as the logit baselines
(:class:`~routerlab.routers.probe.signals._LogitSignalRouter`): a fixed direction from the signal's
meaning, a Platt calibration with a positive, capped slope, so the score ranks queries exactly as the
raw signal does (the AUROC is the signal's own).
"""

from __future__ import annotations

from typing import ClassVar

from routerlab.data.features.verbal import VERBAL_COLUMNS
from routerlab.routers.probe.signals import _LogitSignalRouter

__all__ = ["VERBAL_SIGNALS", "SelfAskRouter", "SemanticEntropyRouter"]

#: the columns of a verbal-signals feature matrix, in order (the ``verbal:`` encoder's)
VERBAL_SIGNALS: tuple[str, ...] = VERBAL_COLUMNS


class _VerbalSignalRouter(_LogitSignalRouter):
    features: ClassVar[str | None] = "verbal_signals"
    signal_columns: ClassVar[tuple[str, ...]] = VERBAL_SIGNALS


class SelfAskRouter(_VerbalSignalRouter):
    """``selfask``: the small model's P(True) for its own greedy answer (Tab. 1 "SelfAsk"); see the module."""

    name = "selfask"
    signal = "selfask_p_true"
    higher_is_confident = True


class SemanticEntropyRouter(_VerbalSignalRouter):
    """``semantic_entropy``: entropy of the sampled answers' options, lower = confident (Tab. 1 "SemanticEntropy")."""

    name = "semantic_entropy"
    signal = "semantic_entropy"
    higher_is_confident = False
