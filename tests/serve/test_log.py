"""The gateway's decision log: one committed SQLite record per chat request, never a key, survives kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
pytest.importorskip("uvicorn", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
httpx = pytest.importorskip("httpx", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")

from typer.testing import CliRunner  # noqa: E402

from routerlab.cli.main import app as cli_app  # noqa: E402
from routerlab.serve import Pool, read_log  # noqa: E402
from routerlab.serve.log import LOG_SCHEMA_VERSION  # noqa: E402
from tests.serve.helpers import CHAT, MATH, MODELS, _ask, _pool, free_port  # noqa: E402


def _one(path: Path) -> dict[str, Any]:
    records = read_log(path)
    assert len(records) == 1, records
    return records[0]


def test_a_routed_request_is_one_full_record(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams), log=path)
    r = _ask(client, "router:lambda=0.3", MATH[0])
    assert r.status_code == 200
    rec = _one(path)
    assert rec["request_id"] == r.headers["x-request-id"]
    assert rec["router"] == "knn (hashing)" and rec["encoder"]
    assert rec["policy"] == "lambda=0.3" and rec["lam"] == 0.3 and rec["budget"] is None
    assert set(rec["scores"]) == set(MODELS)
    assert rec["chosen"] == rec["answered_by"] == r.headers["x-routerlab-model"]
    assert rec["attempts"] == [{"model": rec["chosen"], "status": 200, "error": None}]
    assert rec["status"] == 200 and rec["error_code"] is None and rec["latency_ms"] > 0
    usage = r.json()["usage"]
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (usage["prompt_tokens"], usage["completion_tokens"])
    price = {"small": 1.0, "mid": 2.0, "big": 5.0}[rec["chosen"]]
    assert rec["cost_usd"] == pytest.approx((usage["prompt_tokens"] + usage["completion_tokens"]) * price / 1e6)
    assert rec["query"] is None  # not recorded by default
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(LOG_SCHEMA_VERSION,)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_pass_through_and_a_budget(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams), log=path)
    assert _ask(client, "mid", CHAT[0]).status_code == 200
    assert _ask(client, "router:budget=2.5", CHAT[1]).status_code == 200
    through, budget = read_log(path)
    assert through["policy"] == "model" and through["chosen"] == "mid" and through["scores"] is None
    assert through["requested_model"] == "mid" and through["status"] == 200
    assert budget["policy"] == "budget=2.5" and budget["budget"] == 2.5 and budget["lam"] is None


def test_a_fallback_lists_the_failed_upstreams(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams, broken=("big",), dead=("small",)), log=path)
    r = _ask(client, "router", MATH[2])
    assert r.status_code == 200
    rec = _one(path)
    assert rec["chosen"] == "big" and rec["answered_by"] == "mid"
    assert rec["attempts"] == [
        {"model": "big", "status": 500, "error": None},
        {"model": "small", "status": None, "error": "ConnectError"},
        {"model": "mid", "status": 200, "error": None},
    ]


def test_a_503_is_logged(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams, broken=("big", "small"), dead=("mid",)), log=path)
    r = _ask(client, "router", MATH[0])
    assert r.status_code == 503
    rec = _one(path)
    assert rec["request_id"] == r.headers["x-request-id"]
    assert rec["status"] == 503 and rec["error_code"] == "upstreams_unavailable" and rec["answered_by"] is None
    assert [a["model"] for a in rec["attempts"]] == ["big", "small", "mid"]


def test_malformed_requests_are_logged_with_their_status_and_code(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams), log=path)
    bad = client.post("/chat/completions", content=b"{oops", headers={"content-type": "application/json"})
    unknown = _ask(client, "gpt-9", "x")
    assert (bad.status_code, unknown.status_code) == (400, 404)
    first, second = read_log(path)
    assert (first["status"], first["error_code"], first["request_id"]) == (
        400,
        "invalid_json",
        bad.headers["x-request-id"],
    )
    assert (second["status"], second["error_code"], second["requested_model"]) == (404, "model_not_found", "gpt-9")


def test_query_text_only_with_log_queries(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    off, on = tmp_path / "off.sqlite", tmp_path / "on.sqlite"
    _ask(gateway(_pool(upstreams), log=off), "router", "a secret-ish question about zebras")
    _ask(gateway(_pool(upstreams), log=on, log_queries=True), "router", "a secret-ish question about zebras")
    assert _one(off)["query"] is None
    assert b"zebras" not in b"".join(p.read_bytes() for p in tmp_path.glob("off.sqlite*"))
    assert _one(on)["query"] == "a secret-ish question about zebras"


def test_api_keys_are_never_in_the_file(
    upstreams: Any, gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTERLAB_TEST_KEY", "sk-secret-value-123")
    endpoints = [e.model_copy(update={"api_key_env": "ROUTERLAB_TEST_KEY"}) for e in _pool(upstreams).endpoints]
    path = tmp_path / "log.sqlite"
    client = gateway(Pool.of(endpoints), log=path, log_queries=True)
    for model in ("router", "mid", "nope"):
        _ask(client, model, CHAT[2])
    assert len(read_log(path)) == 3
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("log.sqlite*"))
    assert b"sk-secret-value-123" not in raw and b"ROUTERLAB_TEST_KEY" not in raw


def test_concurrent_requests_are_each_logged_once(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams), log=path)
    texts = [(MATH + CHAT)[i % 16] for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda t: _ask(client, "router", t), texts))
    ids = [r.headers["x-request-id"] for r in answers]
    assert len(set(ids)) == 40
    logged = [rec["request_id"] for rec in read_log(path)]
    assert sorted(logged) == sorted(ids)


def test_two_gateways_share_one_file(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    """Two apps (two connections, as two uvicorn workers have) write one file concurrently: each request once."""
    path = tmp_path / "log.sqlite"
    clients = [gateway(_pool(upstreams), log=path), gateway(_pool(upstreams), log=path)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: _ask(clients[i % 2], "router", CHAT[i % 8]), range(30)))
    assert sorted(r["request_id"] for r in read_log(path)) == sorted(r.headers["x-request-id"] for r in answers)


def test_the_cli_prints_the_last_requests(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams), log=path)
    for text in CHAT[:3]:
        _ask(client, "router", text)
    _ask(client, "gpt-9", "x")
    result = CliRunner().invoke(cli_app, ["serve-log", str(path), "--last", "2"])
    assert result.exit_code == 0, result.output
    assert "last 2 requests" in result.output and "404" in result.output
    assert len(read_log(path, last=2)) == 2 and read_log(path, last=2)[-1]["status"] == 404
    missing = CliRunner().invoke(cli_app, ["serve-log", str(tmp_path / "none.sqlite")])
    assert missing.exit_code != 0 and "Traceback" not in missing.output


_SERVER = """
import sys, uvicorn
from routerlab.collect.config import EndpointConfig
from routerlab.serve import Pool, create_app
urls = dict(a.split("=", 1) for a in sys.argv[4:])
prices = {"small": 1.0, "mid": 2.0, "big": 5.0}
pool = Pool.of([EndpointConfig(name=m, base_url=urls[m], model=m + "-id", input_price_per_1m=p,
                               output_price_per_1m=p) for m, p in prices.items()])
app = create_app(sys.argv[1], pool, log=sys.argv[2])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="critical", access_log=False)
"""


def test_kill_9_keeps_every_answered_request(fitted: Any, upstreams: Any, tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(_SERVER), encoding="utf-8")
    path, port = tmp_path / "log.sqlite", free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), *sys.path])}
    args = [f"{m}={upstreams[m]}" for m in MODELS]
    proc = subprocess.Popen([sys.executable, str(script), str(fitted[1]), str(path), str(port), *args], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        with httpx.Client(base_url=f"{base}/v1", timeout=30.0) as client:
            ids = [_ask(client, "router", (MATH + CHAT)[i % 16]).headers["x-request-id"] for i in range(25)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        logged = [row[0] for row in conn.execute("SELECT request_id FROM requests")]
    finally:
        conn.close()
    assert sorted(logged) == sorted(ids) and len(set(logged)) == 25
