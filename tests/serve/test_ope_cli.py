"""``routerlab ope`` and ``routerlab data from-log`` on a real SQLite decision log and a real saved router."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.serve.log import read_log
from routerlab.serve.offline import evaluate_on_log
from tests.serve.helpers import MATH
from tests.serve.test_offline import record, simulated_log, write_log

runner = CliRunner()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """An ε = 0.5 log of 600 requests over the tiny problem, and the knn target's true value on it."""
    path = tmp_path_factory.mktemp("ope") / "log.sqlite"
    truth = simulated_log(path, n=600, eps=0.5, seed=7)
    return path, truth


def _ope(*args: str) -> Any:
    return runner.invoke(app, ["ope", *args])


def test_printed_figures_are_the_librarys(sim: tuple[Path, float], fitted: tuple[Any, Path]) -> None:
    path, _ = sim
    lib = evaluate_on_log(read_log(path), fitted[1], n_resamples=300, seed=2).value
    result = _ope(str(path), "--router", str(fitted[1]), "--resamples", "300", "--seed", "2", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    for key in ("ips", "snips", "dr", "dm"):
        iv = lib.estimates[key]
        assert shown["estimates"][key] == {"estimate": iv.estimate, "low": iv.low, "high": iv.high}
    diag = shown["diagnostics"]
    assert (diag["n_used"], diag["n_matched"], diag["n_unsupported"]) == (600, lib.diagnostics.n_matched, 0)
    assert diag["ess"] == lib.diagnostics.ess and diag["excluded"] == {}
    table = _ope(str(path), "--router", str(fitted[1]), "--resamples", "300", "--seed", "2")
    assert table.exit_code == 0, table.output
    for key, label in (("ips", "IPS"), ("snips", "SNIPS"), ("dr", "DR (doubly robust)")):
        iv = lib.estimates[key]
        row = next(line for line in table.output.splitlines() if label in line)
        assert f"{iv.estimate:.4f}" in row and f"[{iv.low:.4f}, {iv.high:.4f}]" in row
    assert "logged policy (mean feedback)" in table.output and "match rate" in table.output


def test_the_truth_lies_in_the_printed_intervals(sim: tuple[Path, float], fitted: tuple[Any, Path]) -> None:
    path, truth = sim
    result = _ope(str(path), "--router", str(fitted[1]), "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    for key in ("ips", "snips", "dr"):
        iv = shown["estimates"][key]
        assert iv["low"] <= truth <= iv["high"], (key, iv, truth)
    # the logging policy (mostly 'mid', true value ≈ 0.56) is measurably worse than the target (0.85)
    assert shown["logged"]["high"] < truth


def test_error_paths_are_one_red_line_naming_the_fix(tmp_path: Path, fitted: tuple[Any, Path]) -> None:
    router = str(fitted[1])
    cases = {
        "--log-queries": write_log(tmp_path / "a.sqlite", [(record(query=None), 1.0)]),
        "POST /v1/feedback": write_log(tmp_path / "b.sqlite", [(record(query=MATH[0]), None)]),
        "['small', 'gpt-4o']": write_log(
            tmp_path / "c.sqlite", [(record(scores={"small": 0.1, "gpt-4o": 0.9}, chosen="small"), 1.0)]
        ),
        "start the gateway with --log": tmp_path / "missing.sqlite",
    }
    for fix, log in cases.items():
        result = _ope(str(log), "--router", router)
        assert result.exit_code == 2, result.output
        assert fix in result.output and "Traceback" not in result.output
        assert result.output.strip().startswith("error:")
    bad = _ope(str(cases["--log-queries"]), "--router", router, "--reward-model", "oracle")
    assert bad.exit_code == 2 and "--reward-model must be one of logged, target" in bad.output


def test_data_from_log_writes_a_file_data_show_reads(tmp_path: Path) -> None:
    rows = [(record(query=f"question {i}", answered_by="big" if i % 3 else "small"), float(i % 2)) for i in range(30)]
    rows.append((record(query=None), 1.0))
    rows.append((record(cost_usd=None), 1.0))
    log = write_log(tmp_path / "log.sqlite", rows)
    out = tmp_path / "retrain.parquet"
    result = runner.invoke(app, ["data", "from-log", str(log), "--out", str(out), "--val", "0.2", "--test", "0.2"])
    assert result.exit_code == 0, result.output
    assert "30 queries from 32 records" in result.output
    assert "small=10" in result.output and "big=20" in result.output and "mid=0" in result.output
    assert "1 no query text" in result.output and "1 no cost" in result.output
    shown = runner.invoke(app, ["data", "show", str(out), "--split", "all"])
    assert shown.exit_code == 0, shown.output
    assert "30 queries, 3 models" in shown.output and "split_method: hash of the query text" in shown.output
    empty = write_log(tmp_path / "empty.sqlite", [(record(query=None), 1.0)])
    failed = runner.invoke(app, ["data", "from-log", str(empty), "--out", str(tmp_path / "x.parquet")])
    assert failed.exit_code == 2 and "--log-queries" in failed.output
