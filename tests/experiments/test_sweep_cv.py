"""Cross-validated selection (selection: cv): folds of train ∪ val, selection blind to test, refit, resume."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError
from routerlab.experiments.sweep import SweepConfig, read_records, run_key, run_sweep
from routerlab.experiments.sweep.data import make_folds, split_rows
from routerlab.experiments.sweep.keys import canonical_json
from routerlab.routers import ROUTERS
from tests.experiments.test_sweep import DATA, INJECT, SEEDS, TinyDet, TinyRidge, _config, _lines


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    for cls in (TinyRidge, TinyDet):
        ROUTERS.register(cls.name, cls)
    yield
    for cls in (TinyRidge, TinyDet):
        ROUTERS.unregister(cls.name)


def _cv(out: Path, **kw: Any) -> SweepConfig:
    return _config(out, **{"selection": "cv", "cv_folds": 3, **kw})


def _with(data: RoutingData, **changes: Any) -> RoutingData:
    return RoutingData(**{**{f: getattr(data, f) for f in data.__dataclass_fields__}, **changes})


def test_folds_partition_train_and_val_once_stable_under_order_and_keep_duplicates_together() -> None:
    texts = np.array(DATA.texts, dtype=object)
    texts[1::10] = [f"  A shared QUESTION {i % 4} " for i in range(len(texts[1::10]))]  # 4 texts, ~4 copies each
    texts[2::10] = [f"a shared question {i % 4}" for i in range(len(texts[2::10]))]  # same after normalising
    data = _with(DATA, texts=texts)
    folds = make_folds(data, split_rows(data), 4)
    train_val = np.flatnonzero(np.isin(data.splits, ["train", "val"]))
    assert np.array_equal(np.sort(folds.pool), train_val)  # test never enters a fold
    held = np.concatenate([folds.held_out(k) for k in range(4)])
    assert np.array_equal(np.sort(held), train_val)  # every query of train ∪ val held out exactly once
    for k in range(4):
        assert not set(folds.held_out(k)) & set(folds.training(k))
    fold_of = dict(zip(data.query_ids[folds.pool], folds.fold, strict=True))
    for i in range(4):  # duplicates (after case and whitespace folding) share a fold
        rows = [r for r in train_val if " ".join(str(texts[r]).split()).casefold() == f"a shared question {i}"]
        assert len(rows) > 2 and len({fold_of[data.query_ids[r]] for r in rows}) == 1
    perm = np.random.default_rng(1).permutation(data.n_queries)
    shuffled = data.subset(perm)
    again = make_folds(shuffled, split_rows(shuffled), 4)
    assert dict(zip(shuffled.query_ids[again.pool], again.fold, strict=True)) == fold_of


def test_cv_selection_never_reads_test(tmp_path: Path) -> None:
    """Poisoning every test outcome changes the test figures, never the selection or its scores."""
    clean = run_sweep(_cv(tmp_path / "clean", routers=["tiny", "tiny_det"]), **INJECT)
    y = DATA.Y.copy()
    test = DATA.splits == "test"
    y[test] = 1.0 - y[test]  # what was right on test is now wrong
    poisoned = _with(DATA, Y=y)
    dirty = run_sweep(_cv(tmp_path / "dirty", routers=["tiny", "tiny_det"]), data={"synth": poisoned}, **_feats())
    for name in ("tiny", "tiny_det"):
        a, b = clean.row(name), dirty.row(name)
        assert a.cv is not None and a.cv == b.cv and a.config_id == b.config_id and a.val_acc_mean == b.val_acc_mean
        assert a.test_acc_mean != b.test_acc_mean
    folds = [r for r in _lines(tmp_path / "clean" / "runs.jsonl") if r.get("fold") is not None]
    assert folds and not any(k.startswith("test") or k == "n_test" for r in folds for k in r)


def _feats() -> dict[str, Any]:
    return {"features": INJECT["features"]}


def test_cv_selects_the_best_mean_over_folds_and_refits_on_train_and_val(tmp_path: Path) -> None:
    res = run_sweep(_cv(tmp_path, routers=["tiny", "tiny_det"]), **INJECT)
    recs = _lines(tmp_path / "runs.jsonl")
    n_train, n_val = int((DATA.splits == "train").sum()), int((DATA.splits == "val").sum())
    for name, seeds in (("tiny", SEEDS), ("tiny_det", [42])):
        mine = [r for r in recs if r["router"] == name]
        folds = [r for r in mine if r.get("fold") is not None]
        refit = [r for r in mine if r.get("fit_on") == "train+val"]
        assert len(folds) == 3 * len({r["config_id"] for r in folds}) and {r["seed"] for r in folds} == {42}
        assert all(r["n_train"] + r["n_val"] == n_train + n_val for r in folds)  # every query answered here
        means: dict[str, float] = {}
        for r in folds:
            means[r["config_id"]] = means.get(r["config_id"], 0.0) + r["val_acc"] / 3
        order = {r["config_id"]: r["config_index"] for r in folds}
        best = min(means, key=lambda c: (-round(means[c], 12), order[c]))
        row = res.row(name)
        assert row.config_id == best and row.val_acc_mean == pytest.approx(means[best])
        assert row.cv is not None and row.cv["n_folds"] == 3 and len(row.cv["fold_scores"]) == 3
        scores = [r["val_acc"] for r in folds if r["config_id"] == best]
        assert row.cv["fold_scores"] == scores and row.cv["score_std"] == pytest.approx(np.std(scores))
        assert row.cv["configs"][0]["config_id"] == best and len(row.cv["configs"]) == len(means)
        # the refit: the selected configuration, on train ∪ val, every seed of a stochastic router
        assert {r["config_id"] for r in refit} == {best} and sorted(r["seed"] for r in refit) == sorted(seeds)
        assert all(r["n_train"] == n_train + n_val and r["stage"] == 2 for r in refit)
        assert row.n_train == n_train + n_val and row.seeds == tuple(seeds)
        assert row.test_acc_mean == pytest.approx(np.mean([r["test_acc"] for r in refit]))
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert doc["protocol"]["selection"] == "cv" and doc["protocol"]["cv_folds"] == 3
    assert "cv score" in res.to_markdown() and "±" in res.to_markdown()
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "summary.parquet").to_pylist()
    assert table[0]["cv_score_mean"] == res.row("tiny").cv["score_mean"]  # type: ignore[index]
    assert len(table[0]["cv_fold_scores"]) == 3


def test_cv_resumes_without_recomputing_finished_folds(tmp_path: Path) -> None:
    cfg = _cv(tmp_path, routers=["tiny"])
    TinyRidge.fits = 0
    full = run_sweep(cfg, **INJECT)
    assert TinyRidge.fits == 4 * 3 + 5  # 4 configurations x 3 folds, then the refit with 5 seeds
    summary = (tmp_path / "summary.json").read_text()
    runs = tmp_path / "runs.jsonl"
    lines = runs.read_text().splitlines(keepends=True)
    runs.write_text("".join(lines[:7]) + lines[7][:40])  # killed in stage 1, mid-write of the 8th record
    TinyRidge.fits = 0
    again = run_sweep(cfg, **INJECT)
    assert TinyRidge.fits == again.n_executed == 17 - 7 and again.n_skipped == 7
    assert (tmp_path / "summary.json").read_text() == summary and again.summary == full.summary
    assert len(read_records(runs)) == 17
    assert run_sweep(cfg, **INJECT).n_executed == 0
    # neither fold runs nor refits (fitted on train ∪ val) pass for runs of the paper's protocol (train only)
    assert run_sweep(_config(tmp_path, routers=["tiny"]), **INJECT).n_executed == 4 + 2 * 4
    # another number of folds redoes the folds; the refit of the same selected configuration is reused
    assert run_sweep(_cv(tmp_path, routers=["tiny"], cv_folds=4), **INJECT).n_executed == 4 * 4  # refits reused


def test_fold_runs_of_another_partition_are_redone(tmp_path: Path) -> None:
    """Texts decide the folds (duplicates) but not the data fingerprint: fold run keys hold the partition."""
    cfg = _cv(tmp_path, routers=["tiny_det"])
    assert run_sweep(cfg, **INJECT).n_executed == 2 * 3 + 1
    texts = np.array(DATA.texts, dtype=object)
    texts[:60] = "one text for many queries"  # now one duplicate group, so one fold holds them all
    again = run_sweep(cfg, data={"synth": _with(DATA, texts=texts)}, **_feats())
    assert again.n_executed >= 2 * 3 and again.n_skipped <= 1


def test_val_selection_keys_and_summary_are_unchanged(tmp_path: Path) -> None:
    params = {"alpha": 0.1, "noise": 0.0}
    old = hashlib.sha256(canonical_json(["synth", "tiny", "fake", params, 42]).encode()).hexdigest()[:20]
    assert run_key("synth", "tiny", "fake", params, 42) == old  # records written before cv are found on resume
    assert len({old, run_key("synth", "tiny", "fake", params, 42, fold=0, n_folds=3)}) == 2
    assert run_key("synth", "tiny", "fake", params, 42, refit=True) not in (old,)
    res = run_sweep(_config(tmp_path, routers=["tiny_det"]), **INJECT)
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert "selection" not in doc["protocol"] and all("cv" not in r for r in doc["rows"])
    assert res.cv_folds is None and "cv score" not in res.to_markdown()
    assert all("fold" not in r and "selection" not in r for r in _lines(tmp_path / "runs.jsonl"))


@pytest.mark.parametrize("bad", [1, 0, -2, "five", 2.5])
def test_bad_cv_folds_is_a_clear_error(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(SchemaError, match=r"cv_folds: cv_folds must be an integer >= 2 .*got"):
        _cv(tmp_path, cv_folds=bad)
    path = tmp_path / "sweep.yaml"
    path.write_text(f"datasets: [synth]\nrouters: [tiny]\nselection: cv\ncv_folds: {bad}\nout_dir: o\n")
    with pytest.raises(SchemaError, match=r"line 4: cv_folds"):
        SweepConfig.from_yaml(path)


def test_more_folds_than_the_data_can_fill_and_no_val_split(tmp_path: Path) -> None:
    tiny = DATA.subset(np.r_[0:3, 150:160])  # 3 train queries, 10 test
    with pytest.raises(SchemaError, match=r"cv_folds=5 leaves fold\(s\) .* use fewer folds"):
        run_sweep(_cv(tmp_path, routers=["tiny_det"], cv_folds=5), data={"synth": tiny}, **_feats())
    no_val = DATA.with_splits(np.where(DATA.splits == "val", "train", DATA.splits))
    res = run_sweep(_cv(tmp_path / "nv", routers=["tiny_det"]), data={"synth": no_val}, **_feats())
    assert res.row("tiny_det").status == "ok" and res.row("tiny_det").n_train == 128


def test_cli_sweep_selection_cv_on_shipped_data(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app

    path = tmp_path / "sweep.yaml"
    path.write_text("datasets: [routerlab-mini]\nrouters: [best_single]\nseeds: [42, 7]\nlams: [0]\n")
    args = ["sweep", str(path), "--out", str(tmp_path / "out"), "--n-jobs", "1", "--selection", "cv", "--cv-folds", "3"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "cv score" in result.output and "3 folds" in result.output
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["rows"]
    assert rows[0]["n_train"] == 992 + 108 and len(rows[0]["cv"]["fold_scores"]) == 3
    bad = CliRunner().invoke(app, [*args[:-1], "1"])
    assert bad.exit_code != 0 and "cv_folds" in bad.output


def test_evaluate_protocol_with_cv_fits_everything_on_train_and_val(tmp_path: Path) -> None:
    from routerlab.experiments.protocol import evaluate_protocol

    no_val = DATA.with_splits(np.where(DATA.splits == "val", "train", DATA.splits))
    ev = evaluate_protocol(no_val, ["best_single", "knn"], sweep_dir=tmp_path, n_jobs=1, selection="cv", cv_folds=3)
    assert ev.train_splits == ("train", "val") and ev.sweep is not None and ev.sweep.cv_folds == 3
    assert ev.board is not None and ev.board.meta["seed_protocol"]["selection"] == "cv"
    with pytest.raises(SchemaError, match="selection must be 'val' or 'cv'"):
        evaluate_protocol(DATA, ["best_single"], sweep_dir=tmp_path, selection="kfold")


def test_records_keep_the_fold(tmp_path: Path) -> None:
    run_sweep(_cv(tmp_path, routers=["tiny_det"]), **INJECT)
    recs = [r for r in _lines(tmp_path / "runs.jsonl") if r.get("fold") is not None]
    by_config: dict[str, list[int]] = {}
    for r in recs:
        by_config.setdefault(r["config_id"], []).append(r["fold"])
    assert len(by_config) == 2 and all(sorted(f) == [0, 1, 2] for f in by_config.values())
    one = next(r for r in recs if r["fold"] == 1)
    key = run_key("synth", "tiny_det", "fake", one["params"], 42, fold=1, n_folds=3, folds_id=one["folds_id"])
    assert one["run_key"] == key and len({r["folds_id"] for r in recs}) == 1
    assert one["selection"] == "cv" and one["n_folds"] == 3
