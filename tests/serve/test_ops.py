"""Gateway operations: the ``routing`` object, concurrency slots, /metrics, client keys, workers and drain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
pytest.importorskip("prometheus_client", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
httpx = pytest.importorskip("httpx", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from routerlab.serve import Pool, read_log  # noqa: E402
from tests.serve.helpers import CHAT, MATH, MODELS, _ask, _pool, free_port  # noqa: E402


def _root(client: Any) -> str:
    return str(client.base_url).removesuffix("/v1/").removesuffix("/v1")


@pytest.fixture
def capture() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An upstream that records every body it receives and answers a fixed completion."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from routerlab.collect.mock_server import serve_in_thread

    bodies: list[dict[str, Any]] = []

    async def chat(request: Request) -> JSONResponse:  # starlette, not FastAPI: this module's annotations are strings
        body = await request.json()
        bodies.append(body)
        message = {"role": "assistant", "content": "ok"}
        choices = [{"message": message}]
        return JSONResponse({"id": "x", "object": "chat.completion", "model": body["model"], "choices": choices})

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    url, stop = serve_in_thread(app)
    yield url, bodies
    stop()


# ---------------------------------------------------------------------------------------------- routing object
def test_a_routing_object_sets_the_policy_and_is_not_forwarded(
    upstreams: Any, gateway: Any, capture: Any, tmp_path: Path
) -> None:
    log = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams), log=log)
    body = {"model": "router", "routing": {"lambda": 1}, "messages": [{"role": "user", "content": MATH[1]}]}
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 200 and r.headers["x-routerlab-policy"] == "lambda=1"
    assert r.headers["x-routerlab-model"] == "small"  # as router:lambda=1: cost only
    body["routing"] = {"budget": 2.5}
    r = client.post("/chat/completions", json=body)
    assert r.headers["x-routerlab-policy"] == "budget=2.5" and r.headers["x-routerlab-model"] in {"small", "mid"}
    assert [(x["lam"], x["budget"]) for x in read_log(log)] == [(1.0, None), (None, 2.5)]
    url, bodies = capture
    endpoints = [e.model_copy(update={"base_url": url}) for e in _pool(upstreams).endpoints]
    client = gateway(Pool.of(endpoints))
    r = client.post("/chat/completions", json={**body, "routing": {"lambda": 0.3}})
    assert r.status_code == 200, r.text
    assert "routing" not in bodies[-1] and bodies[-1]["messages"] == body["messages"]


@pytest.mark.parametrize(
    ("model", "routing", "param"),
    [
        ("router", {"lambda": 0.3, "budget": 1.0}, "routing"),
        ("router", {}, "routing"),
        ("router", {"temperature": 1}, "routing.temperature"),
        ("router", {"lambda": "0.3"}, "routing.lambda"),
        ("router", {"lambda": True}, "routing.lambda"),
        ("router", {"lambda": 1.5}, "routing.lambda"),
        ("router", {"budget": -1}, "routing.budget"),
        ("router", [0.3], "routing"),
        ("mid", {"lambda": 0.3}, "routing"),
        ("router:lambda=0.3", {"lambda": 0.3}, "routing"),
    ],
)
def test_a_bad_routing_object_is_a_400_naming_the_key(
    upstreams: Any, gateway: Any, model: str, routing: Any, param: str
) -> None:
    client = gateway(_pool(upstreams))
    r = client.post(
        "/chat/completions", json={"model": model, "routing": routing, "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_policy" and err["param"] == param
    assert param.split(".")[-1] in err["message"]


# ---------------------------------------------------------------------------------------------- concurrency
def test_max_concurrency_queues_within_the_deadline_then_falls_back(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    from routerlab.collect.mock_server import create_app as mock_app
    from routerlab.collect.mock_server import serve_in_thread

    slow = mock_app(["big-id"], latency_s=1.0)
    url, stop = serve_in_thread(slow)
    try:
        endpoints = [
            e.model_copy(update={"base_url": url, "max_concurrency": 1, "timeout_s": 1.5}) if e.name == "big" else e
            for e in _pool(upstreams).endpoints
        ]
        log = tmp_path / "log.sqlite"
        client = gateway(Pool.of(endpoints), deadline_s=10.0, log=log)
        # A holds big's one slot 0-1 s; B (0.1 s) waits for it and is answered by big at ~2 s;
        # C (0.3 s) would get it at ~2 s, past its 1.5 s wait (big's timeout): no slot, it falls back to small
        out: dict[str, Any] = {}

        def send(key: str, delay: float) -> None:
            time.sleep(delay)
            out[key] = _ask(client, "router", MATH[0])

        threads = [threading.Thread(target=send, args=(k, d)) for k, d in (("a", 0.0), ("b", 0.1), ("c", 0.3))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop()
    assert [out[k].headers["x-routerlab-model"] for k in "abc"] == ["big", "big", "small"]
    assert slow.state.count == 2  # never two at once, and C never called it
    attempts = {r["request_id"]: r["attempts"] for r in read_log(log)}
    assert attempts[out["c"].headers["x-request-id"]] == [
        {"model": "big", "status": None, "error": "concurrency_limit"},
        {"model": "small", "status": 200, "error": None},
    ]
    assert attempts[out["b"].headers["x-request-id"]] == [{"model": "big", "status": 200, "error": None}]


# ---------------------------------------------------------------------------------------------- metrics
def _scrape(root: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(f"{root}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_what_was_sent(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams, broken=("big",)), log=log)
    for i in range(5):  # big answers 500 (its circuit opens at the 5th), small answers
        assert _ask(client, "router", MATH[i]).headers["x-routerlab-model"] == "small"
    for i in range(3):
        assert _ask(client, "mid", CHAT[i]).status_code == 200
    for _ in range(2):
        assert client.post("/chat/completions", content=b"{no").status_code == 400
    m = _scrape(_root(client))
    assert m[("routerlab_requests_total", (("policy", "lambda"), ("status", "200")))] == 5
    assert m[("routerlab_requests_total", (("policy", "model"), ("status", "200")))] == 3
    assert m[("routerlab_requests_total", (("policy", "none"), ("status", "400")))] == 2
    assert m[("routerlab_decisions_total", (("model", "big"),))] == 5
    assert m[("routerlab_answers_total", (("model", "small"),))] == 5
    assert m[("routerlab_answers_total", (("model", "mid"),))] == 3
    assert m[("routerlab_fallbacks_total", (("from_model", "big"),))] == 5
    assert m[("routerlab_upstream_errors_total", (("error", "500"), ("model", "big")))] == 5
    costs = {m_: sum(r["cost_usd"] for r in read_log(log) if r["answered_by"] == m_) for m_ in ("small", "mid")}
    for name, total in costs.items():
        assert m[("routerlab_cost_usd_total", (("model", name),))] == pytest.approx(total)
    assert m[("routerlab_request_latency_seconds_count", ())] == 10
    assert m[("routerlab_upstream_latency_seconds_count", (("model", "big"),))] == 5
    assert m[("routerlab_upstream_latency_seconds_count", (("model", "small"),))] == 5
    states = {name: m[("routerlab_breaker_state", (("model", name),))] for name in MODELS}
    assert states == {"small": 0, "mid": 0, "big": 2}
    assert m[("routerlab_in_flight_requests", ())] == 0


# ---------------------------------------------------------------------------------------------- client keys
def test_client_keys_guard_v1_and_are_never_logged_nor_echoed(
    upstreams: Any, gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTERLAB_TEST_UPSTREAM_KEY", "sk-upstream-secret-42")
    endpoints = [
        e.model_copy(update={"api_key_env": "ROUTERLAB_TEST_UPSTREAM_KEY"}) for e in _pool(upstreams).endpoints
    ]
    log = tmp_path / "log.sqlite"
    client = gateway(Pool.of(endpoints), log=log, log_queries=True, client_keys=["ck-alpha-1", "ck-beta-2"])
    seen: list[Any] = []
    body = {"model": "router", "messages": [{"role": "user", "content": CHAT[0]}]}
    for headers in ({}, {"authorization": "Bearer ck-wrong"}, {"authorization": "ck-alpha-1"}):
        for r in (
            client.post("/chat/completions", json=body, headers=headers),
            client.get("/models", headers=headers),
            client.post("/feedback", json={"request_id": "x", "score": 1}, headers=headers),
        ):
            seen.append(r)
            assert r.status_code == 401, r.text
            assert r.json()["error"]["code"] == "invalid_api_key"
    ok = client.post("/chat/completions", json=body, headers={"authorization": "Bearer ck-beta-2"})
    assert ok.status_code == 200
    fb = {"request_id": ok.headers["x-request-id"], "score": 1}
    assert client.post("/feedback", json=fb, headers={"authorization": "Bearer ck-alpha-1"}).status_code == 200
    assert client.get("/models", headers={"authorization": "Bearer ck-alpha-1"}).status_code == 200
    root = _root(client)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(f"{root}{path}").status_code == 200
    seen.append(ok)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("log.sqlite*"))
    for secret in ("ck-alpha-1", "ck-beta-2", "ck-wrong", "sk-upstream-secret-42"):
        assert secret.encode() not in raw
        for r in seen:
            assert secret not in r.text and secret not in str(r.headers)


def test_client_keys_env_unset_is_an_error_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app as cli

    monkeypatch.delenv("ROUTERLAB_TEST_NO_KEYS", raising=False)
    result = CliRunner().invoke(
        cli, ["serve", str(tmp_path), "--pool", str(tmp_path / "p.yaml"), "--client-keys-env", "ROUTERLAB_TEST_NO_KEYS"]
    )
    assert result.exit_code == 2 and "ROUTERLAB_TEST_NO_KEYS" in result.output and "not set" in result.output
    monkeypatch.setenv("ROUTERLAB_TEST_NO_KEYS", " , ")
    result = CliRunner().invoke(
        cli, ["serve", str(tmp_path), "--pool", str(tmp_path / "p.yaml"), "--client-keys-env", "ROUTERLAB_TEST_NO_KEYS"]
    )
    assert result.exit_code == 2 and "holds no key" in result.output


# ---------------------------------------------------------------------------------------------- processes
def _pool_file(tmp_path: Path, urls: dict[str, str]) -> Path:
    prices = {"small": 1.0, "mid": 2.0, "big": 5.0}
    lines = ["endpoints:"] + [
        f"  - {{name: {m}, base_url: '{urls[m]}', model: {m}-id, input_price_per_1m: {p}, output_price_per_1m: {p}}}"
        for m, p in prices.items()
    ]
    path = tmp_path / "pool.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _start(router_dir: Path, pool: Path, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    src = str(Path(__file__).parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, *sys.path])}
    cmd = [sys.executable, "-m", "routerlab.cli.main", "serve", str(router_dir), "--pool", str(pool)]
    cmd += ["--log", str(log), "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the gateway did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def _wait_for_workers(base: str, n: int, timeout: float = 60.0) -> None:
    """Until ``n`` distinct processes have answered ``/healthz`` (a new connection each time)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < n:
        assert time.monotonic() < deadline, f"only workers {sorted(seen)} answered within {timeout:g} s"
        seen.add(httpx.get(f"{base}/healthz", timeout=5.0).json()["worker"])
        time.sleep(0.05)


def test_two_workers_log_each_request_once_and_sum_their_metrics(fitted: Any, upstreams: Any, tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite"
    proc, base = _start(fitted[1], _pool_file(tmp_path, upstreams), log, "--workers", "2")
    try:
        _wait_for_workers(base, 2)  # on a loaded machine the second worker can still be loading the router
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each: both workers accept some
        with httpx.Client(base_url=f"{base}/v1", timeout=30.0, limits=limits) as client:
            with ThreadPoolExecutor(16) as ex:
                answers = list(ex.map(lambda i: _ask(client, "router", (MATH + CHAT)[i % 16]), range(200)))
        assert all(r.status_code == 200 for r in answers)
        metrics = _scrape(base)
    finally:
        code = _stop(proc)
    assert code == 0
    ids = [r.headers["x-request-id"] for r in answers]
    records = read_log(log)
    assert len(records) == 200 and sorted(r["request_id"] for r in records) == sorted(ids)
    assert len({r["worker"] for r in records}) == 2
    # one scrape, answered by one worker, sums both workers' counters
    assert metrics[("routerlab_requests_total", (("policy", "lambda"), ("status", "200")))] == 200
    assert sum(v for (name, _), v in metrics.items() if name == "routerlab_answers_total") == 200


def test_sigterm_drains_an_in_flight_request_and_exits_0(fitted: Any, tmp_path: Path) -> None:
    from routerlab.collect.mock_server import serve_in_subprocess

    url, stop = serve_in_subprocess(["--models", ",".join(f"{m}-id" for m in MODELS), "--latency", "1.5"])
    log = tmp_path / "log.sqlite"
    try:
        proc, base = _start(fitted[1], _pool_file(tmp_path, dict.fromkeys(MODELS, url)), log)
        try:
            with ThreadPoolExecutor(1) as ex:
                pending = ex.submit(
                    lambda: httpx.post(
                        f"{base}/v1/chat/completions",
                        json={"model": "mid", "messages": [{"role": "user", "content": CHAT[0]}]},
                        timeout=30.0,
                    )
                )
                time.sleep(0.5)  # the request waits on the slow upstream
                proc.send_signal(signal.SIGTERM)
                r = pending.result()
        finally:
            code = _stop(proc)
    finally:
        stop()
    assert r.status_code == 200 and json.loads(r.text)["model"] == "mid-id"
    assert code == 0
    (rec,) = read_log(log)
    assert rec["request_id"] == r.headers["x-request-id"] and rec["status"] == 200
