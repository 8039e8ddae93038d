"""The leaderboard's spread columns: seed sd and fold sd from a real (tiny) sweep beside the CI half-width."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from routerlab.experiments.protocol import evaluate_protocol
from routerlab.report.content import SPREAD_NOTE, build_content, sweep_spread
from routerlab.report.html import render_html
from routerlab.report.markdown import render_markdown
from tests.conftest import make_routing_problem

SEEDS = 5  # the protocol's default seeds


def _results(tmp_path: Path, selection: str) -> Path:
    data = make_routing_problem(240, 4, seed=5)
    gen = np.random.default_rng(0)  # noisy words beside the topic: bagged members (and so seeds) differ
    texts = [" ".join(f"w{w}" for w in gen.integers(0, 30, 6)) + f" topic {s}" for s in data.sources]
    data = dataclasses.replace(data, texts=np.array(texts, dtype=object))
    ev = evaluate_protocol(
        data, ["best_single", "knn", "bagged"], sweep_dir=tmp_path / "sweep", selection=selection, cv_folds=3
    )
    assert ev.board is not None
    ev.board.save_results(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def cv_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _results(tmp_path_factory.mktemp("cv"), "cv")


def test_spread_comes_from_the_sweeps_runs(cv_folder: Path) -> None:
    content = build_content(cv_folder, n_resamples=50)
    assert set(content.spread) == {"knn", "bagged"}  # baselines are fitted once: no spread
    summary = json.loads((cv_folder / "sweep" / "summary.json").read_text())
    runs = [json.loads(line) for line in (cv_folder / "sweep" / "runs.jsonl").read_text().splitlines()]
    row = next(r for r in summary["rows"] if r["router"] == "bagged")
    refits = [
        r
        for r in runs
        if r.get("router") == "bagged" and r.get("fit_on") == "train+val" and r.get("config_id") == row["config_id"]
    ]
    bag, knn = content.spread["bagged"], content.spread["knn"]
    assert len(refits) == SEEDS and bag.n_seeds == SEEDS and bag.stochastic and bag.n_folds == 3
    # the seed sd is the population std of the refits' test quality at λ = 0; here the seeds do disagree
    assert bag.quality_sd[0.0] == pytest.approx(np.std([r["test_quality"]["0"] for r in refits]))
    assert bag.quality_sd[0.0] > 0
    assert (
        bag.fold_sd is not None and bag.fold_sd == pytest.approx(np.std(row["cv"]["fold_scores"])) and bag.fold_sd > 0
    )
    assert knn.n_seeds == 1 and not knn.stochastic and knn.fold_sd is not None


def test_markdown_and_html_show_the_spread_beside_the_ci(cv_folder: Path) -> None:
    content = build_content(cv_folder, n_resamples=50)
    md = render_markdown(content, {})
    board = md.split("## Leaderboard")[1].split("\n## ")[0]
    head = next(line for line in board.splitlines() if line.startswith("| tier"))
    assert "| quality [95% CI] | quality ± (95% CI half-width) | seed sd | fold sd | mean cost" in head
    km = content.spread["bagged"]
    entry = next(e for e in content.entries[0.0] if e.row.router == "bagged")
    half = (entry.quality.high - entry.quality.low) / 2
    line = next(line for line in board.splitlines() if "| bagged |" in line)
    cells = [c.strip() for c in line.split("|")]
    assert f"±{half:.4f}" in cells
    assert f"{km.quality_sd[0.0]:.4f} ({SEEDS} seeds)" in cells and f"{km.fold_sd:.4f} (3 folds)" in cells
    knn = next(line for line in board.splitlines() if "| knn |" in line)
    assert "| 0 (deterministic) |" in knn
    best = next(line for line in board.splitlines() if "| best_single |" in line)
    assert "| – | – |" in best  # a baseline: a CI, no seeds, no folds
    assert SPREAD_NOTE in md
    html = render_html(content, {f.id: "<svg></svg>" for f in content.figures()})
    assert "seed sd" in html and "fold sd" in html and f"{km.fold_sd:.4f} (3 folds)" in html


def test_no_sweep_no_spread_columns_and_val_selection_has_no_fold_column(cv_folder: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in cv_folder.iterdir():
        if f.is_file():
            (bare / f.name).write_bytes(f.read_bytes())
    md = render_markdown(build_content(bare, n_resamples=50), {})
    assert "seed sd" not in md and SPREAD_NOTE not in md
    val = _results(tmp_path / "val", "val")
    md = render_markdown(build_content(val, n_resamples=50), {})
    assert "| seed sd | mean cost" in md and "| fold sd |" not in md


def test_a_router_swept_under_two_encoders_gets_no_spread() -> None:
    row = {"router": "knn", "status": "ok", "seeds": [42], "test_quality_std": {"0": 0.0}}
    doc = {"rows": [{**row, "encoder": "hashing"}, {**row, "encoder": "minilm"}]}
    assert sweep_spread(doc, {"knn"}, [0.0]) == {}
    assert sweep_spread({"rows": [row]}, {"knn"}, [0.0])["knn"].quality_sd == {0.0: 0.0}
