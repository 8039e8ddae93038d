"""Streaming (SSE pass-through with fallback before the first byte), the body limit and /readyz."""

from __future__ import annotations

import importlib.util
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
pytest.importorskip("uvicorn", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
httpx = pytest.importorskip("httpx", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")

from fastapi import Request  # noqa: E402  (module level: FastAPI resolves the handler's annotation here)

from routerlab.collect.config import EndpointConfig  # noqa: E402
from routerlab.collect.mock_server import serve_in_thread  # noqa: E402
from routerlab.serve import Pool, create_app, read_log  # noqa: E402
from tests.serve.helpers import CHAT, COSTS, MATH, MODELS, gateways  # noqa: E402


def sse_events(model_id: str, *, usage: bool = True) -> bytes:
    """The exact bytes the SSE test upstream sends for a streamed answer of ``model_id``."""
    base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": model_id}
    chunks: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    ]
    for word in ("hello", " from", f" {model_id}"):
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        counts = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        chunks.append({**base, "choices": [], "usage": counts})
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


def sse_app(model_id: str, *, fail: bool = False, cut_after: int | None = None) -> Any:
    """A minimal OpenAI-protocol upstream: SSE when asked ``stream: true`` (in several writes), else JSON; or a 500."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, Response, StreamingResponse

    app = FastAPI()
    app.state.bodies = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        app.state.bodies.append(body)
        if fail:
            return JSONResponse({"error": {"message": "boom", "type": "server_error", "code": 500}}, status_code=500)
        if not body.get("stream"):
            message = {"role": "assistant", "content": f"hello from {model_id}"}
            return JSONResponse({"model": model_id, "choices": [{"index": 0, "message": message}]})
        raw = sse_events(model_id, usage=bool((body.get("stream_options") or {}).get("include_usage", True)))

        async def events() -> AsyncIterator[bytes]:
            for i, part in enumerate(raw.split(b"\n\n")[:-1]):
                if cut_after is not None and i == cut_after:
                    raise ConnectionAbortedError("test upstream: dropped mid-stream on purpose")
                yield part + b"\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def saved(fitted: tuple[Any, Path]) -> Path:
    """The saved FeatureRouter of the shared ``fitted`` fixture (conftest)."""
    return fitted[1]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, tuple[str, Any]]]:
    out = {}
    stops = []
    for name in MODELS:
        app = sse_app(f"{name}-id")
        url, stop = serve_in_thread(app)
        out[name] = (url, app)
        stops.append(stop)
    app = sse_app("broken", fail=True)
    url, stop = serve_in_thread(app)
    out["broken"] = (url, app)
    stops.append(stop)
    yield out
    for stop in stops:
        stop()


def _pool(urls: dict[str, tuple[str, Any]], broken: tuple[str, ...] = ()) -> Pool:
    return Pool.of(
        [
            EndpointConfig(
                name=name,
                base_url=urls["broken" if name in broken else name][0],
                model=f"{name}-id",
                input_price_per_1m=price,
                output_price_per_1m=price,
            )
            for name, price in zip(MODELS, COSTS, strict=True)
        ]
    )


@pytest.fixture
def gateway(saved: Path) -> Iterator[Any]:
    with gateways(saved) as start:
        yield start


def _stream(client: Any, model: str, text: str, **extra: Any) -> tuple[Any, bytes]:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": text}], **extra}
    with client.stream("POST", "/chat/completions", json=body) as r:
        return r, r.read()


def test_a_streamed_answer_is_the_upstreams_sse_bytes_with_the_headers(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams))
    r, raw = _stream(client, "router", MATH[0])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-routerlab-model"] == "big" and r.headers["x-routerlab-policy"] == "lambda=0"
    assert len(r.headers["x-request-id"]) == 32
    assert raw == sse_events("big-id")
    assert upstreams["big"][1].state.bodies[-1]["stream"] is True
    assert upstreams["big"][1].state.bodies[-1]["model"] == "big-id"
    r, raw = _stream(client, "mid", CHAT[0])
    assert r.headers["x-routerlab-model"] == "mid" and r.headers["x-routerlab-policy"] == "model"
    assert raw == sse_events("mid-id")


def test_a_500_on_opening_the_stream_falls_back_to_the_next_model(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams, broken=("big",)))
    r, raw = _stream(client, "router", MATH[2])  # big answers 500, then small (cheapest of the tied rest)
    assert r.status_code == 200
    assert r.headers["x-routerlab-model"] == "small"
    assert raw == sse_events("small-id")
    client = gateway(_pool(upstreams, broken=MODELS))
    r, raw = _stream(client, "router", MATH[2])
    assert r.status_code == 503 and json.loads(raw)["error"]["code"] == "upstreams_unavailable"


def test_a_streamed_request_is_one_log_record_with_its_tokens(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams, broken=("big",)), log=log)
    r, _ = _stream(client, "router", MATH[3])
    r2, _ = _stream(client, "router", MATH[3], stream_options={"include_usage": False})
    records = read_log(log)
    assert [rec["request_id"] for rec in records] == [r.headers["x-request-id"], r2.headers["x-request-id"]]
    rec = records[0]
    assert rec["status"] == 200 and rec["answered_by"] == "small" and rec["error_code"] is None
    assert [a["status"] for a in rec["attempts"]] == [500, 200]
    assert rec["prompt_tokens"] == 7 and rec["completion_tokens"] == 3 and rec["cost_usd"] == pytest.approx(1e-5)
    assert rec["latency_ms"] > 0
    assert records[1]["prompt_tokens"] is None and records[1]["status"] == 200


def test_the_openai_client_streams_through_the_gateway(upstreams: Any, gateway: Any) -> None:
    if importlib.util.find_spec("openai") is None:
        pytest.skip("the openai package is not installed")
    import openai

    client = gateway(_pool(upstreams))
    oa = openai.OpenAI(base_url=str(client.base_url), api_key="unused")
    stream = oa.chat.completions.create(model="router", messages=[{"role": "user", "content": MATH[4]}], stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "hello from big-id"


def _too_large(r: Any) -> None:
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == "body_too_large"


def test_a_body_over_the_limit_is_a_413(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams), max_body_bytes=1000)
    small = {"model": "mid", "messages": [{"role": "user", "content": "x" * 100}]}
    assert client.post("/chat/completions", json=small).status_code == 200
    big = json.dumps({"model": "mid", "messages": [{"role": "user", "content": "x" * 5000}]}).encode()
    _too_large(client.post("/chat/completions", content=big, headers={"content-type": "application/json"}))

    def chunked() -> Iterator[bytes]:
        for i in range(0, len(big), 100):
            yield big[i : i + 100]

    _too_large(client.post("/chat/completions", content=chunked(), headers={"content-type": "application/json"}))


def test_a_huge_content_length_is_refused_before_the_body_is_sent(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams), max_body_bytes=1000)
    host, port = client.base_url.host, client.base_url.port
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 10000000000\r\n\r\n{"
        )
        answer = b""
        while b"body_too_large" not in answer:  # the status line and the body may come in separate reads
            part = s.recv(65536)
            if not part:
                break
            answer += part
    assert answer.startswith(b"HTTP/1.1 413") and b"body_too_large" in answer


def test_max_body_bytes_must_be_positive(saved: Path, upstreams: Any) -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        create_app(saved, _pool(upstreams), max_body_bytes=0)


def test_readyz_and_healthz(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams))
    root = str(client.base_url).removesuffix("/v1/")
    r = httpx.get(f"{root}/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready" and r.json()["upstreams"] == 3
    assert httpx.get(f"{root}/healthz").json()["status"] == "ok"


def test_an_upstream_failing_mid_stream_ends_the_stream_without_fallback(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    url, stop = serve_in_thread(sse_app("big-id", cut_after=2))
    try:
        pool = _pool(upstreams).endpoints
        endpoints = [e.model_copy(update={"base_url": url}) if e.name == "big" else e for e in pool]
        log = tmp_path / "log.sqlite"
        client = gateway(Pool.of(endpoints), log=log)
        r, raw = _stream(client, "router", MATH[5])
        assert r.status_code == 200 and r.headers["x-routerlab-model"] == "big"
        assert raw == b"".join(p + b"\n\n" for p in sse_events("big-id").split(b"\n\n")[:2])  # no fallback
        (rec,) = read_log(log)
        assert rec["answered_by"] == "big" and rec["error_code"] == "stream_interrupted"
    finally:
        stop()
