"""``routerlab serve``: registered, refuses a pool that is not the router's, and names the extra when it is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.routers import make_router

runner = CliRunner()


def _saved(tmp_path: Path) -> Path:
    y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    data = RoutingData(
        name="t",
        query_ids=np.array(["a", "b", "c"], dtype=object),
        sources=np.array(["s"] * 3, dtype=object),
        splits=np.array(["train"] * 3, dtype=object),
        models=(ModelInfo("small"), ModelInfo("big")),
        Y=y,
        cost=np.tile([1.0, 5.0], (3, 1)),
        cost_unit="usd",
    )
    folder = tmp_path / "router"
    make_router("best_single").fit(data).save(folder)
    return folder


def test_serve_is_a_command() -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--pool" in result.output
    assert "--log" in result.output and "--log-queries" in result.output
    assert "--max-body-bytes" in result.output
    for option in ("--breaker-failures", "--breaker-cooldown", "--explore", "--seed", "--client-keys-env", "--workers"):
        assert option in result.output, option
    assert runner.invoke(app, ["serve-log", "--help"]).exit_code == 0


def test_a_pool_other_than_the_routers_is_one_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    pool = tmp_path / "pool.yaml"
    pool.write_text(
        "endpoints:\n"
        "  - {name: small, base_url: 'http://127.0.0.1:1/v1', input_price_per_1m: 1, output_price_per_1m: 1}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["serve", str(_saved(tmp_path)), "--pool", str(pool)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "big" in result.output


def test_a_missing_serve_extra_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now raises ImportError
    result = runner.invoke(app, ["serve", str(tmp_path), "--pool", str(tmp_path / "pool.yaml")])
    assert result.exit_code == 2, result.output
    assert "routerlab[serve]" in " ".join(result.output.split())


def test_the_cli_hands_its_limits_and_server_settings_to_the_app_and_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uvicorn = pytest.importorskip("uvicorn", reason="the serve extra is not installed")
    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    pool = tmp_path / "pool.yaml"
    pool.write_text(
        "endpoints:\n"
        "  - {name: small, base_url: 'http://127.0.0.1:1/v1', input_price_per_1m: 1, output_price_per_1m: 1}\n"
        "  - {name: big, base_url: 'http://127.0.0.1:1/v1', input_price_per_1m: 5, output_price_per_1m: 5}\n",
        encoding="utf-8",
    )
    args = ["serve", str(_saved(tmp_path)), "--pool", str(pool), "--no-log", "--deadline", "7"]
    result = runner.invoke(app, [*args, "--max-response-bytes", "1234", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert seen["access_log"] is False and seen["port"] == 8123  # the decision log records every request
    assert seen["timeout_keep_alive"] == 75 and seen["timeout_graceful_shutdown"] >= 7  # type: ignore[operator]
    assert seen["app"].state.gateway.upstreams.max_response_bytes == 1234  # type: ignore[attr-defined]
    assert runner.invoke(app, [*args, "--access-log"]).exit_code == 0 and seen["access_log"] is True
    refused = runner.invoke(app, [*args, "--max-response-bytes", "0"])
    assert refused.exit_code == 2 and "max-response-bytes" in refused.output
