"""The verbal baselines (routerlab.routers.probe.verbal): SelfAsk's P(True) and semantic entropy.

A synthetic small model is right with probability p; its P(True) is a noisy reading of p and its K=5
samples pick the right option with probability p (so their semantic entropy is low when p is high).
Both signals then predict correctness, each in its own direction, which the routers must keep fixed.
"""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.data import ModelInfo, RoutingData
from routerlab.data.features.verbal import VERBAL_COLUMNS, discrete_semantic_entropy
from routerlab.errors import SchemaError
from routerlab.metrics import auroc_score
from routerlab.routers import make_router, router_tags
from routerlab.routers.probe import VERBAL_SIGNALS


def verbal_problem(*, n: int = 500, seed: int = 0) -> tuple[RoutingData, np.ndarray]:
    g = np.random.default_rng(seed)
    p = g.uniform(0.05, 0.95, n)
    y_small = (g.random(n) < p).astype(float)
    p_true = np.clip(p + g.normal(0, 0.15, n), 0, 1)
    letters = []
    for q in p:
        letters.append(["A" if g.random() < q else "BCD"[g.integers(3)] for _ in range(5)])
    entropy = np.array([discrete_semantic_entropy(x) for x in letters])
    data = RoutingData(
        name="verbal",
        query_ids=np.array([f"q{i:04d}" for i in range(n)], dtype=object),
        texts=np.array([f"question {i}" for i in range(n)], dtype=object),
        sources=np.array(["mmlu"] * n, dtype=object),
        splits=np.where(np.arange(n) < n // 2, "train", "test").astype(object),
        models=(ModelInfo(name="small"), ModelInfo(name="large")),
        Y=np.c_[y_small, (g.random(n) < 0.85).astype(float)],
        cost=np.tile([0.001, 1.0], (n, 1)),
        cost_unit="usd",
    )
    return data, np.c_[p_true, entropy]


@pytest.mark.parametrize(("name", "column", "sign"), [("selfask", 0, 1.0), ("semantic_entropy", 1, -1.0)])
def test_each_router_ranks_queries_as_its_signal_in_its_direction(name: str, column: int, sign: float) -> None:
    data, X = verbal_problem()
    tr, te = data.splits == "train", data.splits == "test"
    router = make_router(name).fit(data.subset(tr), X[tr])
    assert VERBAL_SIGNALS == VERBAL_COLUMNS and VERBAL_SIGNALS[column] == router.signal
    p = router.predict_small_proba(X[te])
    label = data.Y[te, 0]
    raw = auroc_score(score=sign * X[te, column], label=label)
    assert auroc_score(score=p, label=label) == pytest.approx(raw, abs=1e-12) and raw > 0.65
    assert abs(router.predict_small_proba(X[tr]).mean() - data.Y[tr, 0].mean()) < 1e-3  # Platt-calibrated
    assert router_tags(name).features == "verbal_signals"


def test_a_logit_signals_matrix_is_refused_with_the_columns_expected() -> None:
    data, X = verbal_problem(n=60)
    with pytest.raises(SchemaError, match=r"column=1 \('semantic_entropy'\) is beyond the 1 feature columns; pass "
                       r"the verbal-signals matrix \(columns \['selfask_p_true', 'semantic_entropy'\]\)"):  # fmt: skip
        make_router("semantic_entropy").fit(data, X[:, :1])
