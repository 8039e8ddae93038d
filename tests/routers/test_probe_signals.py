"""The logit-signal baselines (routerlab.routers.probe.signals): max probability, entropy, margin.

A synthetic small model answers a 4-option question from a softmax over random logits and is right
with probability equal to its top option's probability (a calibrated model), so confidence predicts
correctness; `routerxbench.txt` (arXiv:2602.11877) §5.1 / Tab. 1 read these signals with a fixed
direction, which the routers must keep (an anti-correlated signal scores below 0.5, not flipped).
"""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.data import ModelInfo, RoutingData
from routerlab.errors import SchemaError
from routerlab.metrics import auroc_score
from routerlab.routers import make_router
from routerlab.routers.probe import LOGIT_SIGNALS


def signal_problem(*, n: int = 600, seed: int = 0, anti: bool = False) -> tuple[RoutingData, np.ndarray]:
    """(small, large) pair and the small model's signals matrix, columns ``LOGIT_SIGNALS``."""
    g = np.random.default_rng(seed)
    logits = g.normal(size=(n, 4)) * g.uniform(0.2, 3.0, (n, 1))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    top2 = np.sort(p, axis=1)[:, ::-1]
    signals = np.c_[top2[:, 0], -(p * np.log(p)).sum(axis=1), top2[:, 0] - top2[:, 1]]
    right = top2[:, 0] if not anti else 1.0 - top2[:, 0]
    y_small = (g.random(n) < right).astype(float)
    y_large = (g.random(n) < 0.85).astype(float)
    data = RoutingData(
        name="signals",
        query_ids=np.array([f"q{i:04d}" for i in range(n)], dtype=object),
        texts=np.array([f"question {i}" for i in range(n)], dtype=object),
        sources=np.array(["mmlu"] * n, dtype=object),
        splits=np.where(np.arange(n) < n // 2, "train", "test").astype(object),
        models=(
            ModelInfo(name="small", input_price=0.0, output_price=0.0),
            ModelInfo(name="large", input_price=1.0, output_price=1.0),
        ),
        Y=np.c_[y_small, y_large],
        cost=np.tile([0.001, 1.0], (n, 1)),
        cost_unit="usd",
    )
    return data, signals


def _fit(name: str, data: RoutingData, X: np.ndarray, **params: object):  # type: ignore[no-untyped-def]
    tr = data.splits == "train"
    return make_router(name, **params).fit(data.subset(tr), X[tr])


ORIENTED = {"logit_max_prob": (0, 1.0), "logit_entropy": (1, -1.0), "logit_margin": (2, 1.0)}


@pytest.mark.parametrize("name", list(ORIENTED))
def test_the_score_ranks_queries_exactly_as_the_raw_signal(name: str) -> None:
    data, X = signal_problem()
    router = _fit(name, data, X)
    te = data.splits == "test"
    column, sign = ORIENTED[name]
    assert LOGIT_SIGNALS[column] == router.signal
    p = router.predict_small_proba(X[te])
    label = data.Y[te, 0]
    raw = auroc_score(score=sign * X[te, column], label=label)
    assert auroc_score(score=p, label=label) == raw > 0.6  # Platt scaling is strictly increasing: same ranking
    # and calibrated on the training queries: the mean estimate is the training accuracy (the intercept's optimum)
    p_train = router.predict_small_proba(X[~te])
    assert abs(p_train.mean() - data.Y[~te, 0].mean()) < 1e-3
    # the scores route: p̂ for the small model, the large model's training accuracy beside it
    scores = router.predict_scores(data.subset(te), X[te])
    np.testing.assert_array_equal(scores[:, 0], p)
    assert np.all(scores[:, 1] == data.Y[~te, 1].mean())


def test_an_anti_correlated_signal_is_not_flipped() -> None:
    """The direction comes from the signal's meaning (Tab. 1 reports AUROCs below 50 for the same reason)."""
    data, X = signal_problem(anti=True, seed=1)
    router = _fit("logit_max_prob", data, X)
    te = data.splits == "test"
    assert auroc_score(score=router.predict_small_proba(X[te]), label=data.Y[te, 0]) < 0.4
    assert router.slope_ == pytest.approx(1e-6)  # the calibration hit its positive floor instead of flipping


def test_column_picks_the_signal_in_another_matrix_and_a_missing_column_is_a_clear_error() -> None:
    data, X = signal_problem()
    wide = np.c_[np.zeros(len(X)), X[:, ::-1]]  # margin, entropy, max_prob at columns 1, 2, 3
    te = data.splits == "test"
    a = _fit("logit_entropy", data, X).predict_small_proba(X[te])
    b = _fit("logit_entropy", data, wide, column=2).predict_small_proba(wide[te])
    np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(SchemaError, match=r"LogitMarginRouter: column=2 \('margin'\) is beyond the 2 feature columns"):
        _fit("logit_margin", data, X[:, :2])
