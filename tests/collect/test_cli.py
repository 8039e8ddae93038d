"""The `collect` and `latency` commands: progress, summary, exit codes, friendly errors."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from routerlab.cli.collect import collect_cmd, latency_cmd
from routerlab.collect.mock_server import FaultSchedule
from tests.collect.conftest import ServeFn, make_config

app = typer.Typer()
app.command("collect")(collect_cmd)
app.command("latency")(latency_cmd)
runner = CliRunner()


def _config_file(tmp_path: Path, cfg_values: dict[str, object]) -> Path:
    path = tmp_path / "collect.yaml"
    path.write_text(yaml.safe_dump(cfg_values))
    return path


def test_collect_then_latency(tmp_path: Path, serve: ServeFn) -> None:
    cfg = make_config(tmp_path, [serve(["mock"]), serve(["mock"])], n_queries=6)
    path = _config_file(tmp_path, cfg.model_dump(mode="json"))
    result = runner.invoke(app, ["collect", str(path)])
    assert result.exit_code == 0, result.output
    assert "complete" in result.output and "m0" in result.output and "m1" in result.output
    result = runner.invoke(app, ["latency", str(cfg.store), "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("| Model | n | p50 (ms) | p90 (ms) | p99 (ms) | mean (ms) |")
    assert "| m0 | 6 |" in result.output
    result = runner.invoke(app, ["latency", str(cfg.store)])
    assert result.exit_code == 0 and "p99" in result.output


def test_budget_and_failures_exit_1(tmp_path: Path, serve: ServeFn) -> None:
    cfg = make_config(
        tmp_path, [serve(["mock"], faults=FaultSchedule(every_500=1))], n_queries=3, retries={"max_attempts": 1}
    )
    result = runner.invoke(app, ["collect", str(_config_file(tmp_path, cfg.model_dump(mode="json")))])
    assert result.exit_code == 1
    assert "3 of 3 requests left" in result.output and "run the same command again" in result.output


def test_max_cost_flag(tmp_path: Path, serve: ServeFn) -> None:
    cfg = make_config(tmp_path, [serve(["mock"])], n_queries=20)
    result = runner.invoke(
        app, ["collect", str(_config_file(tmp_path, cfg.model_dump(mode="json"))), "--max-cost", "0"]
    )
    assert result.exit_code == 1 and "--max-cost budget was reached" in result.output


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "collect.yaml"
    path.write_text("endpoints: []\nqueries: {jsonl: q.jsonl}\nstore: s.duckdb\nmax_cots: 1\n")
    result = runner.invoke(app, ["collect", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "unknown key 'max_cots'" in result.output and "Did you mean 'max_cost'?" in result.output
    result = runner.invoke(app, ["latency", str(tmp_path / "absent.duckdb")])
    assert result.exit_code == 2 and "No collection store" in result.output
