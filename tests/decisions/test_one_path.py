"""One decision path (issue 12 §1): the same router at the same λ gives the same numbers everywhere.

``evaluate``'s leaderboard rows, ``metrics.utility_sweep``, ``metrics.router_deferral_points``,
the report's U(λ) display and deferral points, a fresh ``Router.route`` and ``Decisions.choose``
all read one :class:`~routerlab.decisions.Decisions` (the router chooses with its cost estimate,
the figures count the true cost).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from routerlab.data.features.value import Features, featurize
from routerlab.decisions import Decisions
from routerlab.errors import SchemaError
from routerlab.experiments.evaluate import evaluate, load_results
from routerlab.metrics import router_deferral_points, utility_sweep
from routerlab.report.content import build_content
from routerlab.routers import make_router
from routerlab.routers.pipeline import FeatureRouter
from tests.conftest import make_routing_problem

LAMS = (0.0, 0.2, 0.5, 0.9)
SRC = Path(__file__).resolve().parents[2] / "src" / "routerlab"


@pytest.fixture(scope="module")
def problem() -> tuple[object, np.ndarray]:
    data = make_routing_problem(240, 4, seed=5, missing=0.05)
    # costs that vary per query, so that the estimate (mean training cost) and the true cost differ
    cost = np.array(data.cost) * np.random.default_rng(1).uniform(0.5, 1.5, data.cost.shape)
    data = dataclasses.replace(data, cost=cost)
    X = np.random.default_rng(0).normal(size=(data.n_queries, 6))
    return data, X


def test_every_consumer_gives_the_same_numbers(problem: tuple[object, np.ndarray], tmp_path: Path) -> None:
    data, X = problem
    board = evaluate(data, ["oracle", "best_single", make_router("knn", k=7)], lams=LAMS, features=X)
    board.save_results(tmp_path)
    again = load_results(tmp_path)
    test = board.test
    assert test is not None
    for router in ("knn", "best_single", "oracle"):
        decided = board.decisions(router)
        assert again.decisions(router).scores.tolist() == decided.scores.tolist()
        sweep = utility_sweep(decisions=decided, Y=test.Y, cost=test.cost, lams=LAMS)
        points = router_deferral_points(decisions=decided, Y=test.Y, cost=test.cost, lams=LAMS)
        by_lam = dict(zip(points.param.tolist(), zip(points.x, points.y, strict=True), strict=True))  # type: ignore[union-attr]
        for j, lam in enumerate(LAMS):
            row = board.row(router, lam)
            assert np.array_equal(decided.choose(lam=lam), board.prediction(router).choice(lam))
            assert np.array_equal(again.decisions(router).choose(lam=lam), board.prediction(router).choice(lam))
            assert sweep.utility[j] == pytest.approx(row.utility, abs=1e-12)
            assert sweep.quality[j] == pytest.approx(row.quality, abs=1e-12)
            assert sweep.cost[j] == pytest.approx(row.mean_cost, abs=1e-12)
            assert by_lam[lam] == pytest.approx((row.mean_cost, row.quality), abs=1e-12)
    content = build_content(again, n_resamples=50)
    lam_index = {float(v): i for i, v in enumerate(content.utility.lams)}
    for router in ("knn", "best_single"):
        for lam in LAMS:
            assert content.utility.utility[router][lam_index[lam]] == pytest.approx(board.row(router, lam).utility)
            assert content.utility.quality[router][lam_index[lam]] == pytest.approx(board.row(router, lam).quality)
    assert content.deferral is not None
    knn_points = content.deferral.points["knn"]
    for lam in LAMS:
        row = board.row("knn", lam)
        hit = np.flatnonzero(np.isclose(knn_points.param, lam))  # type: ignore[arg-type]
        assert hit.size == 1
        assert (knn_points.x[hit[0]], knn_points.y[hit[0]]) == pytest.approx((row.mean_cost, row.quality))


def test_a_fresh_fit_routes_as_the_saved_decisions(problem: tuple[object, np.ndarray]) -> None:
    data, X = problem
    board = evaluate(data, [make_router("knn", k=7)], lams=LAMS, features=X)
    train, test_mask = data.splits == "train", data.splits == "test"
    test_rows = np.flatnonzero(test_mask & data.observed.any(axis=1))
    knn = make_router("knn", k=7).fit(data.subset(train), X[train])
    for lam in LAMS:
        routed = knn.route(data.subset(test_rows), X[test_rows], lam=lam, available=data.observed[test_rows])
        assert np.array_equal(routed, board.prediction("knn").choice(lam))


def test_one_selection_and_one_utility_formula_in_the_source() -> None:
    """grep: the policy's select() is called from Decisions.choose only (and for oracle labels on true Y)."""
    calls: dict[str, int] = {}
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        n = len(re.findall(r"(?<![\w.`])(?<!def )select\(", text))
        if n:
            calls[str(path.relative_to(SRC))] = n
    decided = {k: v for k, v in calls.items() if not k.startswith("decisions/")}
    # the rest pick the best *true* outcome per query (training labels), not a router's decision
    assert set(decided) <= {"audit/_common.py", "routers/_tabular.py", "routers/baselines.py"}, decided
    formula = re.compile(r"\(1(\.0)? - (self\.)?lam\w*\) \*[^\n]* - (self\.)?lam\w* \*")  # (1 − λ)·q − λ·c
    writers = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if formula.search(p.read_text())]
    assert writers == ["decisions/policy.py"], writers


def test_feature_router_keeps_its_encoder_through_evaluate(problem: tuple[object, np.ndarray]) -> None:
    data, _ = problem
    texts = np.array([f"query about topic {i % 7} number {i}" for i in range(data.n_queries)], dtype=object)
    data = dataclasses.replace(data, texts=texts)
    board = evaluate(data, ["best_single", FeatureRouter(encoder="hashing", router="knn")], encoder="hashing")
    pred = board.prediction("knn (hashing)")
    assert pred.encoder is not None and pred.encoder.startswith("hashing:")
    assert board.decisions("knn (hashing)").encoder == pred.encoder
    feats = featurize(data, "hashing")
    assert isinstance(feats, Features) and feats.encoder == pred.encoder
    other = Features("minilm:all-MiniLM-L6-v2/x", feats.query_ids, feats.matrix)  # same width, other encoder
    with pytest.raises(SchemaError, match=r"expects features from encoder 'hashing:.*' but was given .*'minilm:"):
        evaluate(data, [FeatureRouter(encoder="hashing", router="knn")], features=other)
    with pytest.raises(SchemaError, match="cannot say which encoder made it"):
        FeatureRouter(encoder="hashing", router="knn").fit(data, feats.matrix)


def test_decisions_refuse_what_cannot_be_chosen_from() -> None:
    ok = {"router": "r", "model_names": ("a", "b"), "query_ids": np.array(["q0"], dtype=object)}
    with pytest.raises(
        SchemaError, match=r"Decisions.scores of router 'r' must have shape \(n_queries=1, n_models=2\)"
    ):
        Decisions(**ok, scores=np.zeros((1, 3)), cost_estimate=np.zeros((1, 2)), scale=None)  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="scored query 'q0', model 'b' as NaN"):
        Decisions(**ok, scores=np.array([[0.1, np.nan]]), cost_estimate=np.zeros((1, 2)), scale=None)  # type: ignore[arg-type]
