"""run_sweep(): the two-stage seed protocol, records, resume, summaries, YAML config and the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from routerlab._random import rng
from routerlab.data.schema import RoutingData
from routerlab.errors import InvalidParameterError, PrerequisiteError, SchemaError
from routerlab.experiments.sweep import (
    NO_ENCODER,
    SweepConfig,
    enumerate_configs,
    read_records,
    run_key,
    run_sweep,
)
from routerlab.routers import ROUTERS
from routerlab.routers.base import Router
from tests.conftest import make_routing_problem

SEEDS = [42, 1337, 2026, 7, 99]


class TinyRidge(Router):
    """Per-model ridge regression of the outcome on the features, with seeded weight noise."""

    name = "tiny"
    stochastic = True
    requires_features = True
    param_grid: ClassVar[dict[str, list[Any]]] = {"alpha": [0.1, 1.0, 10.0], "noise": [0.0, 0.2, 0.5]}
    fits: ClassVar[int] = 0  # in-process counter (n_jobs=1 only)

    def __init__(self, *, alpha: float = 1.0, noise: float = 0.1, random_state: int = 0) -> None:
        self.alpha = alpha
        self.noise = noise
        self.random_state = random_state

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        type(self).fits += 1
        assert X is not None
        Z = np.c_[X, np.ones(len(X))]
        W = np.zeros((Z.shape[1], train.n_models))
        for m in range(train.n_models):
            rows = train.observed[:, m]
            A = Z[rows].T @ Z[rows] + self.alpha * np.eye(Z.shape[1])
            W[:, m] = np.linalg.solve(A, Z[rows].T @ train.Y[rows, m])
        self.W_ = W + self.noise * rng(self.random_state).standard_normal(W.shape)

    def _predict_scores(self, data: RoutingData, X: np.ndarray | None) -> np.ndarray:
        assert X is not None
        return np.c_[X, np.ones(len(X))] @ self.W_


class TinyDet(TinyRidge):
    """The same family, declared deterministic: no stage 2."""

    name = "tiny_det"
    stochastic = False
    param_grid: ClassVar[dict[str, list[Any]]] = {"alpha": [0.1, 1.0], "noise": [0.0]}


class Flaky(TinyRidge):
    """Fails for one configuration: the failure is recorded, the sweep goes on."""

    name = "flaky"
    param_grid: ClassVar[dict[str, list[Any]]] = {"alpha": [1.0, -1.0]}

    def _fit(self, train: RoutingData, X: np.ndarray | None) -> None:
        if self.alpha < 0:
            raise ValueError("alpha must be >= 0")
        super()._fit(train, X)


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    for cls in (TinyRidge, TinyDet, Flaky):
        ROUTERS.register(cls.name, cls)
    yield
    for cls in (TinyRidge, TinyDet, Flaky):
        ROUTERS.unregister(cls.name)


def _problem() -> tuple[RoutingData, np.ndarray]:
    data = make_routing_problem(160, 4, seed=3)
    gen = np.random.default_rng(0)
    onehot = (data.sources[:, None] == np.array(["s0", "s1", "s2"])[None, :]).astype(float)
    return data, np.c_[onehot, gen.normal(0, 0.5, (data.n_queries, 3))]


DATA, X = _problem()
INJECT = {"data": {"synth": DATA}, "features": {("synth", "fake"): X}}


def _config(out: Path, **kw: Any) -> SweepConfig:
    base: dict[str, Any] = {
        "datasets": ["synth"],
        "routers": ["tiny", "tiny_det", "best_single"],
        "encoders": ["fake"],
        "max_configs": 4,
        "top_k": 2,
        "lams": [0.0, 0.5],
        "out_dir": out,
        "n_jobs": 1,
    }
    return SweepConfig.build(**{**base, **kw})


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_stage_counts_and_selection(tmp_path: Path) -> None:
    res = run_sweep(_config(tmp_path), **INJECT)
    recs = _lines(tmp_path / "runs.jsonl")
    by = {name: [r for r in recs if r["router"] == name] for name in ("tiny", "tiny_det", "best_single")}
    # stage 1: min(grid size, max_configs) runs at seed 42; stage 2: top_k x 4 more seeds
    assert [r["stage"] for r in by["tiny"]].count(1) == 4 == min(9, 4)
    assert [r["stage"] for r in by["tiny"]].count(2) == 2 * 4
    assert len(by["tiny_det"]) == 2 and {r["seed"] for r in by["tiny_det"]} == {42}
    assert len(by["best_single"]) == 1 and by["best_single"][0]["encoder"] == NO_ENCODER
    assert res.n_executed == len(recs) == 4 + 8 + 2 + 1
    assert all(r["status"] == "ok" and r["seed"] == 42 for r in recs if r["stage"] == 1)
    # the sampled stage-1 configs are a fixed, seeded subset of the product, in product order
    sampled = [c for _, c in enumerate_configs(TinyRidge.param_grid, 4)]
    assert [r["params"] for r in by["tiny"] if r["stage"] == 1] == sampled
    # top-2 of stage 1 went to stage 2
    stage1 = sorted(by["tiny"][:4], key=lambda r: (-r["val_acc"], r["config_index"]))
    assert {r["config_id"] for r in by["tiny"] if r["stage"] == 2} == {r["config_id"] for r in stage1[:2]}
    # selected = best mean stage-2 validation accuracy, recomputed from the file
    mean2 = {}
    for cid in {r["config_id"] for r in by["tiny"] if r["stage"] == 2}:
        mean2[cid] = np.mean([r["val_acc"] for r in by["tiny"] if r["config_id"] == cid and r["stage"] == 2])
    best = max(
        sorted(mean2, key=lambda c: next(r["config_index"] for r in by["tiny"] if r["config_id"] == c)), key=mean2.get
    )
    row = res.row("tiny")
    assert row.config_id == best and row.seeds == tuple(SEEDS) and row.stochastic
    chosen = [r for r in by["tiny"] if r["config_id"] == best]
    assert sorted(r["seed"] for r in chosen) == sorted(SEEDS)
    accs = [r["test_acc"] for r in chosen]
    assert row.test_acc_mean == pytest.approx(np.mean(accs)) and row.test_acc_std == pytest.approx(np.std(accs, ddof=0))
    assert row.test_utility_mean["0"] == pytest.approx(row.test_acc_mean)
    assert row.test_utility_mean["0.5"] == pytest.approx(np.mean([r["test_utility"]["0.5"] for r in chosen]))
    assert row.n_runs == 12
    # deterministic: the single test accuracy of the best stage-1 variant
    det = res.row("tiny_det")
    best_det = sorted(by["tiny_det"], key=lambda r: (-r["val_acc"], r["config_index"]))[0]
    assert det.seeds == (42,) and det.test_acc_std == 0.0 and det.test_acc_mean == best_det["test_acc"]
    # record schema
    r0 = by["tiny"][0]
    keys = "run_key dataset router encoder config_id params seed stage val_acc test_acc test_utility call_rate fit_s"
    for key in [*keys.split(), "predict_s", "timestamp"]:
        assert key in r0
    assert r0["run_key"] == run_key("synth", "tiny", "fake", r0["params"], 42)
    assert sum(r0["call_rate"]["0"].values()) == pytest.approx(1.0)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [(r["router"], r["encoder"]) for r in summary["rows"]] == [
        ("tiny", "fake"),
        ("tiny_det", "fake"),
        ("best_single", "none"),
    ]
    assert (tmp_path / "summary.parquet").stat().st_size > 0
    md = res.to_markdown()
    assert "| synth | tiny | fake |" in md and "±" in md


def test_resume_runs_only_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = _config(tmp_path, routers=["tiny"])
    TinyRidge.fits = 0
    full = run_sweep(cfg, **INJECT)
    assert TinyRidge.fits == 12
    summary = (tmp_path / "summary.json").read_text()
    runs = tmp_path / "runs.jsonl"
    lines = runs.read_text().splitlines(keepends=True)
    for name in ("summary.json", "summary.parquet"):
        (tmp_path / name).unlink()
    runs.write_text("".join(lines[:-3]) + lines[-3][: len(lines[-3]) // 2])  # a kill mid-write
    TinyRidge.fits = 0
    with caplog.at_level("WARNING"):
        again = run_sweep(cfg, **INJECT)
    assert "truncated last line" in caplog.text
    assert TinyRidge.fits == 3 and again.n_executed == 3 and again.n_skipped == 9
    assert len(read_records(runs)) == 12 == len(runs.read_text().splitlines())
    assert (tmp_path / "summary.json").read_text() == summary
    assert again.summary == full.summary
    # nothing left to do
    TinyRidge.fits = 0
    assert run_sweep(cfg, **INJECT).n_executed == 0 and TinyRidge.fits == 0


def test_resume_interrupted_in_stage1(tmp_path: Path) -> None:
    cfg = _config(tmp_path, routers=["tiny"])
    ref = run_sweep(_config(tmp_path / "ref", routers=["tiny"]), **INJECT)
    runs = tmp_path / "runs.jsonl"
    run_sweep(cfg, **INJECT)
    lines = runs.read_text().splitlines(keepends=True)
    runs.write_text("".join(lines[:2]))  # killed after two stage-1 runs
    again = run_sweep(cfg, **INJECT)
    assert again.n_executed == 10 and again.summary == ref.summary


def test_changed_data_or_lams_are_redone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = _config(tmp_path, routers=["tiny_det"])
    assert run_sweep(cfg, **INJECT).n_executed == 2
    y = DATA.Y.copy()
    y[0] = 1.0 - y[0]
    changed = RoutingData(**{**{f: getattr(DATA, f) for f in DATA.__dataclass_fields__}, "Y": y})
    with caplog.at_level("WARNING"):
        assert run_sweep(cfg, data={"synth": changed}, features=INJECT["features"]).n_executed == 2
    assert "computed on other data" in caplog.text
    assert run_sweep(_config(tmp_path, routers=["tiny_det"], lams=[0.0, 0.9]), **INJECT).n_executed == 2


def test_fixed_config_reproduces_in_parallel(tmp_path: Path) -> None:
    a = run_sweep(_config(tmp_path / "a", routers=["tiny", "random"]), **INJECT)
    b = run_sweep(_config(tmp_path / "b", routers=["tiny", "random"], n_jobs=2), **INJECT)
    assert (tmp_path / "a" / "summary.json").read_text() == (tmp_path / "b" / "summary.json").read_text()
    assert a.summary == b.summary
    rand = a.row("random")
    assert rand.seeds == tuple(SEEDS) and rand.n_runs == 5 and rand.test_acc_std > 0


def test_failed_runs_are_recorded_and_retried(tmp_path: Path) -> None:
    cfg = _config(tmp_path, routers=["flaky"], seeds=[42, 7])
    res = run_sweep(cfg, **INJECT)
    assert len(res.errors) == 1 and "alpha must be >= 0" in res.errors[0]["error"]
    assert res.row("flaky").params == {"alpha": 1.0}
    again = run_sweep(cfg, **INJECT)
    assert again.n_executed == 1  # the failed run is retried, the rest skipped
    with pytest.raises(Exception, match="alpha must be >= 0"):
        run_sweep(_config(tmp_path / "ff", routers=["flaky"], fail_fast=True), **INJECT)


def test_bad_grid_and_missing_val(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no parameter 'alpah'"):
        run_sweep(_config(tmp_path, routers=["tiny"], grids={"tiny": {"alpah": [1]}}), **INJECT)
    no_val = DATA.with_splits(np.where(DATA.splits == "val", "train", DATA.splits))
    with pytest.raises(SchemaError, match="carve_validation"):
        run_sweep(_config(tmp_path, routers=["tiny"]), data={"synth": no_val}, features=INJECT["features"])


def test_bad_grid_value_and_missing_requirement_fail_before_any_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidParameterError, match=r"grids\.knn: KNNRouter: k must be an int >= 1\. Got 0\."):
        run_sweep(_config(tmp_path, routers=["knn"], grids={"knn": {"k": [5, 0]}}), **INJECT)
    monkeypatch.setitem(sys.modules, "torch", None)  # torch not installed
    with pytest.raises(PrerequisiteError, match=r"needs torch.*pip install 'routerlab\[embed\]'"):
        run_sweep(_config(tmp_path, routers=["tiny", "mlp"]), **INJECT)
    assert not (tmp_path / "runs.jsonl").exists()


def test_grid_override_and_sampling() -> None:
    grid = {"a": [1, 2, 3], "b": ["x", "y"]}
    assert [c for _, c in enumerate_configs(grid, 15)] == [{"a": a, "b": b} for a in (1, 2, 3) for b in ("x", "y")]
    sample = enumerate_configs(grid, 4)
    assert len(sample) == 4 and sample == enumerate_configs(grid, 4)
    assert [i for i, _ in sample] == sorted(i for i, _ in sample)
    assert enumerate_configs({}, 15) == [(0, {})]


def test_yaml_unknown_key_and_precedence(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("datasets: [synth]\nrooters: [tiny]\nout_dir: out\n")
    with pytest.raises(SchemaError) as err:
        SweepConfig.from_yaml(path)
    msg = str(err.value)
    assert "'rooters'" in msg and "line 2" in msg and "Did you mean 'routers'" in msg
    path.write_text("datasets:\n  - name: synth\n    pth: x\nrouters: [tiny]\nout_dir: out\n")
    with pytest.raises(SchemaError, match=r"line 3: unknown key 'pth'"):
        SweepConfig.from_yaml(path)
    path.write_text("datasets: [synth]\nrouters: [tiny]\nlams: [0, 2]\nout_dir: out\n")
    with pytest.raises(SchemaError, match=r"line 3: lams"):
        SweepConfig.from_yaml(path)
    path.write_text("datasets: [synth]\nrouters: [tiny]\nn_jobs: 2\n")
    with pytest.raises(SchemaError, match="out_dir"):
        SweepConfig.from_yaml(path)
    path.write_text("datasets: [synth]\nrouters: [tiny]\nn_jobs: 2\ngrids:\n  tiny: {alpha: [1.0]}\n")
    cfg = SweepConfig.from_yaml(path, out_dir=tmp_path / "o", n_jobs=None, routers=["tiny_det"])
    assert cfg.n_jobs == 2 and cfg.routers == ["tiny_det"] and cfg.seeds == SEEDS  # flags > file > defaults
    assert cfg.encoders == ["minilm"] and cfg.max_configs == 15 and cfg.top_k == 5 and cfg.grids == {}


def test_cli_sweep_on_shipped_data(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app
    from routerlab.data import load

    try:
        load("routerlab-mini")
    except Exception as exc:  # the shipped subset is built by another part of the project
        pytest.skip(f"routerlab-mini is not loadable yet: {exc}")
    path = tmp_path / "sweep.yaml"
    path.write_text("datasets: [routerlab-mini]\nrouters: [best_single, random]\nseeds: [42, 7]\nlams: [0, 0.5]\n")
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out"), "--n-jobs", "1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "best_single" in result.output and "random" in result.output
    assert len(_lines(tmp_path / "out" / "runs.jsonl")) == 1 + 2
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["rows"]
    assert {r["router"] for r in rows} == {"best_single", "random"}


def test_cli_evaluate_runs_learned_routers_through_the_protocol(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app
    from routerlab.data import load

    try:
        load("routerlab-mini")
        from routerlab.data.features import get_encoder

        get_encoder("handcrafted")
    except Exception as exc:
        pytest.skip(f"routerlab-mini or the handcrafted encoder is not available yet: {exc}")
    args = ["evaluate", "-r", "tiny_det,best_single", "-e", "handcrafted", "--n-jobs", "1", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "tiny_det (handcrafted)" in result.output and "best_single" in result.output
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert {r["router"] for r in board["rows"]} == {"best_single"}
    rows = json.loads((tmp_path / "sweep" / "summary.json").read_text())["rows"]
    assert [(r["router"], r["encoder"], r["seeds"]) for r in rows] == [("tiny_det", "handcrafted", [42])]
    assert len(_lines(tmp_path / "sweep" / "runs.jsonl")) == 2


def test_resume_after_a_kill_that_cut_a_multibyte_character(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = _config(tmp_path, routers=["tiny_det"])
    ref = run_sweep(cfg, **INJECT)
    runs = tmp_path / "runs.jsonl"
    lines = runs.read_bytes().splitlines(keepends=True)
    torn = lines[-1][:20] + "é".encode()[:1]  # the kill landed inside a two-byte UTF-8 character
    runs.write_bytes(b"".join(lines[:-1]) + torn)
    with caplog.at_level("WARNING"):
        again = run_sweep(cfg, **INJECT)
    assert "truncated last line" in caplog.text
    assert again.n_executed == 1 and again.summary == ref.summary
    assert len(read_records(runs)) == 2 == len(runs.read_bytes().splitlines())


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda line: line[: len(line) // 2] + b"\n", "not valid JSON"),
        (lambda line: line.replace(b'"status"', b'"st\xffatus"'), r"not valid UTF-8 \(byte 0xff"),
        (lambda line: b"[1, 2]\n", "must be a JSON object"),
    ],
)
def test_corrupt_middle_line_of_runs_file_is_an_error_naming_it(
    tmp_path: Path, damage: Callable[[bytes], bytes], problem: str
) -> None:
    cfg = _config(tmp_path, routers=["tiny"])
    run_sweep(cfg, **INJECT)
    runs = tmp_path / "runs.jsonl"
    lines = runs.read_bytes().splitlines(keepends=True)
    lines[4] = damage(lines[4])
    runs.write_bytes(b"".join(lines))
    with pytest.raises(SchemaError, match=rf"runs\.jsonl, line 5: {problem}.*delete that line"):
        run_sweep(cfg, **INJECT)
    del lines[4]  # the fix the message gives: drop the line, and its run is redone
    runs.write_bytes(b"".join(lines))
    assert run_sweep(cfg, **INJECT).n_executed == 1


def test_shipped_dataset_with_a_path_in_the_sweep_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(f"datasets:\n  - name: routerlab-mini\n    path: {tmp_path}\nrouters: [best_single]\n")
    cfg = SweepConfig.from_yaml(path, out_dir=tmp_path / "out")
    with pytest.raises(SchemaError, match=r"'routerlab-mini' ships inside the routerlab package.*'path:' in a config"):
        run_sweep(cfg)
    assert not (tmp_path / "out" / "runs.jsonl").exists()


def test_val_fraction_in_a_dataset_entry_carves_validation_from_a_file(tmp_path: Path) -> None:
    """A long table with train/test only: the error names val_fraction; with it the sweep runs, test untouched."""
    lines = ["query_id,model,score,cost,split,text"]
    for i in range(60):
        split = "test" if i % 4 == 0 else "train"
        for j, m in enumerate(("a", "b")):
            lines.append(f"q{i},{m},{int((i + j) % 3 == 0)},{1 + j},{split},question {i}")
    table = tmp_path / "bench.csv"
    table.write_text("\n".join(lines) + "\n")
    entry: dict[str, Any] = {"name": str(table)}
    with pytest.raises(SchemaError, match=r"val_fraction: 0\.1"):
        run_sweep(_config(tmp_path / "no-val", datasets=[entry], routers=["best_single"]))
    res = run_sweep(_config(tmp_path / "val", datasets=[{**entry, "val_fraction": 0.25}], routers=["best_single"]))
    assert [s.status for s in res.summary] == ["ok"]
    assert res.summary[0].n_test == 15
    with pytest.raises(ValueError, match="val_fraction"):
        _config(tmp_path, datasets=[{**entry, "val_fraction": 1.5}])


def test_records_of_another_encoder_version_are_redone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Run keys name the encoder; records carry its identity (model and version), checked on resume."""
    cfg = _config(tmp_path, routers=["tiny_det"])
    assert run_sweep(cfg, **INJECT).n_executed == 2
    runs = tmp_path / "runs.jsonl"
    records = _lines(runs)
    assert {r["encoder_identity"] for r in records} == {"fake"}
    assert run_sweep(cfg, **INJECT).n_executed == 0  # same encoder: reused
    runs.write_text("".join(json.dumps({**r, "encoder_identity": "fake:v0"}) + "\n" for r in records))
    with caplog.at_level("WARNING"):
        assert run_sweep(cfg, **INJECT).n_executed == 2  # another version of the encoder: redone
    assert "other data or features" in caplog.text
