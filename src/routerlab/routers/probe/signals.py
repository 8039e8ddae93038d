"""The logit-signal baselines of RouterXBench: max probability, entropy and margin of the small model's answer.

`routerxbench.txt` (arXiv:2602.11877) §5.1 "Baselines" (2), "Logit-based. Routers that only use the
final-layer logits, such as entropy (Su et al., 2025), margin (Ramírez et al., 2024)", and Tab. 1's rows
MaxLogits, Entropy and ConfidenceMargin. Each is one scalar per query, computed by the small model's
forward pass over the prompt (its distribution over the answer options' next tokens):

* ``max_prob`` — the largest option probability; higher = more confident;
* ``entropy`` — the entropy of the option distribution; *lower* = more confident;
* ``margin`` — top-1 minus top-2 probability; higher = more confident.

The routers read them as query features, through the same interface as any encoder: a signals matrix
whose columns are :data:`LOGIT_SIGNALS` in that order (``column`` overrides the position). That is
the order of ``routerlab collect-lm``'s signal columns (``letter_max_prob``, ``letter_entropy``,
``letter_margin``, then the same three over the whole vocabulary): with all six as the matrix, the
default columns read the answer-letter distribution and ``column=3/4/5`` the vocabulary one. The
direction is fixed by the signal's meaning, not learned, so a signal that is anti-correlated with
correctness on some data shows an AUROC below 0.5, as the paper's Tab. 1 does (MaxLogits 43.82 on
MMLU). Fitting only *calibrates*: ``p̂ = σ(a·z + b)`` on the standardised, oriented signal ``z``
(Platt scaling, BCE on the training queries), with the slope bounded to ``[1e-6, 10]`` — positive,
so ``p̂`` is strictly increasing in ``z`` and ranks queries exactly as the raw signal (the AUROC is the
signal's own), and capped so that ``σ`` does not saturate into ties. The calibration is what lets the
shared cost-utility policy threshold it against the large model's accuracy
(:func:`~routerlab.routers.probe._common.small_model_scores`).
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
import scipy.optimize

from routerlab.errors import SchemaError
from routerlab.routers._params import Constraint, Interval
from routerlab.routers.probe._common import SMALL_MODEL, SmallModelRouter, sigmoid

__all__ = ["LOGIT_SIGNALS", "LogitEntropyRouter", "LogitMarginRouter", "LogitMaxProbRouter"]

#: the columns of a logit-signals feature matrix, in order
LOGIT_SIGNALS: tuple[str, ...] = ("max_prob", "entropy", "margin")
_SLOPE_BOUNDS = (1e-6, 10.0)


class _LogitSignalRouter(SmallModelRouter):
    """One signal column, oriented so that higher = the small model is more likely right, Platt-calibrated."""

    features: ClassVar[str | None] = "logit_signals"
    #: the columns of the signals matrix this family reads, in order (``signal`` is one of them)
    signal_columns: ClassVar[tuple[str, ...]] = LOGIT_SIGNALS
    signal: ClassVar[str]
    higher_is_confident: ClassVar[bool]
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "column": [Interval(numbers.Integral, 0, None, closed="left"), None],
        "small_model": SMALL_MODEL,
    }

    def __init__(self, *, column: int | None = None, small_model: str | None = None) -> None:
        self.column = column
        self.small_model = small_model

    def _oriented(self, feats: np.ndarray) -> np.ndarray:
        s = np.asarray(feats[:, self.column_], dtype=np.float64)
        return s if self.higher_is_confident else -s

    def _prepare(self, feats: np.ndarray) -> None:
        column = self.signal_columns.index(self.signal) if self.column is None else int(self.column)
        if column >= feats.shape[1]:
            raise SchemaError(
                f"{type(self).__name__}: column={column} ({self.signal!r}) is beyond the {feats.shape[1]} feature "
                f"columns; pass the {self.features.replace('_', '-') if self.features else 'signals'} matrix "
                f"(columns {list(self.signal_columns)}) or set column to the position of {self.signal!r} in your "
                "features."
            )
        self.column_ = column
        s = self._oriented(feats)
        self.signal_mean_ = float(s.mean())
        sd = float(s.std())
        self.signal_scale_ = sd if sd > 1e-12 else 1.0

    def _fit_p(self, feats: np.ndarray, y: np.ndarray, query_ids: np.ndarray) -> None:
        z = (self._oriented(feats) - self.signal_mean_) / self.signal_scale_

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            p = np.clip(sigmoid(theta[0] * z + theta[1]), 1e-12, 1 - 1e-12)
            loss = -float(np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
            g = (p - y) / len(y)
            return loss, np.array([float(g @ z), float(g.sum())])

        base = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
        result = scipy.optimize.minimize(
            objective,
            np.array([1.0, np.log(base / (1 - base))]),
            jac=True,
            method="L-BFGS-B",
            bounds=[_SLOPE_BOUNDS, (None, None)],
        )
        self.slope_, self.intercept_ = float(result.x[0]), float(result.x[1])

    def _predict_p(self, feats: np.ndarray) -> np.ndarray:
        z = (self._oriented(feats) - self.signal_mean_) / self.signal_scale_
        return sigmoid(self.slope_ * z + self.intercept_)


class LogitMaxProbRouter(_LogitSignalRouter):
    """``logit_max_prob``: the small model's largest answer probability (Tab. 1 "MaxLogits"); see the module."""

    name = "logit_max_prob"
    signal = "max_prob"
    higher_is_confident = True


class LogitEntropyRouter(_LogitSignalRouter):
    """``logit_entropy``: the entropy of the answer distribution, lower = confident (Tab. 1 "Entropy")."""

    name = "logit_entropy"
    signal = "entropy"
    higher_is_confident = False


class LogitMarginRouter(_LogitSignalRouter):
    """``logit_margin``: top-1 minus top-2 answer probability (Tab. 1 "ConfidenceMargin"); see the module."""

    name = "logit_margin"
    signal = "margin"
    higher_is_confident = True
