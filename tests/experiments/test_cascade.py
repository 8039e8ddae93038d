"""The cascade beside one-shot routers: the same test queries, AUC with paired CIs, matched cost; and the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.experiments.cascade import CASCADE, evaluate_cascade
from routerlab.routers.cascade import Cascade
from tests.data.routerbench_tiny import write_routerbench
from tests.routers.test_cascade import cascade_problem

SMALL = Cascade(n_features=2**10, n_folds=3)


def test_evaluate_cascade_beside_routers() -> None:
    data, resp = cascade_problem(300)
    result = evaluate_cascade(data, resp, routers=("best_single", "oracle"), cascade=SMALL, n_resamples=100)
    assert set(result.auc) == {CASCADE, "best_single", "oracle"}
    assert result.n_test == int((data.splits == "test").sum())
    assert result.auc["oracle"].estimate >= result.auc[CASCADE].estimate  # the oracle bounds every policy
    # the answers carry the outcome: the cascade's curve is above the best single model's
    assert result.auc_delta["best_single"].estimate > 0
    m = result.matched[0]
    assert m.fraction == 1.0 and m.test_cost <= 1.5 * m.budget
    assert m.delta.estimate == pytest.approx(m.test_quality - m.reference_quality)
    md = result.to_markdown()
    assert "Δ AUC cascade − method" in md and "Matched cost" in md
    json.dumps(result.to_dict(), allow_nan=False)


def test_test_outcomes_do_not_steer_the_cascade() -> None:
    data, resp = cascade_problem(300)
    flipped = dataclasses.replace(data, Y=np.where((data.splits == "test")[:, None], 1.0 - data.Y, data.Y))
    a = evaluate_cascade(data, resp, routers=("best_single",), cascade=SMALL, n_resamples=20)
    b = evaluate_cascade(flipped, resp, routers=("best_single",), cascade=SMALL, n_resamples=20)
    assert [p.to_dict() for p in a.frontier] == [p.to_dict() for p in b.frontier]
    assert np.array_equal(a.points[CASCADE].x, b.points[CASCADE].x)  # same calls, same costs
    assert [m.policy for m in a.matched] == [m.policy for m in b.matched]


def test_cli_cascade(tmp_path: Path) -> None:
    root = write_routerbench(tmp_path / "rb", n_rows=30)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "cascade",
            "--data",
            "routerbench-0shot-subset",
            "--path",
            str(root),
            "--router",
            "best_single,oracle",
            "--max-stages",
            "2",
            "--n-resamples",
            "50",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Δ AUC cascade − method" in (out / "cascade.md").read_text()
    saved = json.loads((out / "cascade.json").read_text())
    assert saved["n_test"] == 90 and CASCADE in saved["auc"]
    bad = CliRunner().invoke(app, ["cascade", "--data", "routerbench-0shot-subset", "--path", str(root), "-r", "knnn"])
    assert bad.exit_code == 2 and "Did you mean" in bad.output


def test_hull_mix_matches_the_curve() -> None:
    from routerlab.experiments.cascade import hull_mix
    from routerlab.metrics.curves import non_decreasing_hull

    cost = np.array([[1.0, 1.0], [3.0, 3.0], [2.0, 2.0]])
    quality = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.5]])  # the middle point lies under the chord: not a vertex
    assert hull_mix(cost, quality, 0.5) is None
    assert hull_mix(cost, quality, 2.0).tolist() == [0.5, 0.5]
    assert hull_mix(cost, quality, 9.0).tolist() == [1.0, 1.0]
    rng = np.random.default_rng(0)
    c, q = rng.random((8, 30)), (rng.random((8, 30)) < 0.6).astype(float)
    hull = non_decreasing_hull(np.column_stack([c.mean(axis=1), q.mean(axis=1)]))
    for x in np.linspace(hull.x[0], hull.x[-1] + 0.1, 7):
        assert hull_mix(c, q, float(x)).mean() == pytest.approx(float(hull.at(x)))
