"""Hostile upstreams: answers over the size cap, gzip bombs, endless headers, non-finite token counts.

A raw asyncio server on loopback (:class:`Hostile`) plays the ``big`` model and sends the attack;
``small`` and ``mid`` are healthy mock servers. Math queries rank ``big`` first (only it solves
them), so every request meets the attack first and must fall back to a healthy model: a 200 to the
client, the attempt's error in the decision log, the breaker counting it, and the gateway's memory
bounded by ``max_response_bytes`` (traced with :mod:`tracemalloc`; the gateway runs in this process).
"""

from __future__ import annotations

import asyncio
import json
import resource
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
pytest.importorskip("prometheus_client", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")

from tests.serve.helpers import MATH, _pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
MiB = 1 << 20


def _answer(usage: str = '{"prompt_tokens": 3, "completion_tokens": 2}') -> bytes:
    """A chat completion with ``usage`` written verbatim (it may hold NaN, Infinity...)."""
    return (
        b'{"id": "x", "object": "chat.completion", "model": "big-id", "choices": [{"index": 0, '
        b'"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}], "usage": '
        + usage.encode()
        + b"}"
    )


class Hostile:
    """A raw HTTP server on loopback in its own thread: each request is answered by ``respond``."""

    def __init__(self, respond: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> None:
        self.respond = respond
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            self.requests += 1
            await self.respond(writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the gateway hung up on the attack, or the server stops
        finally:
            writer.close()

    def stop(self) -> None:
        async def shut() -> None:
            self._server.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:  # attacks still holding their connection
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def _send(data: bytes, *, hold_s: float = 0.0) -> Callable[[asyncio.StreamWriter], Awaitable[None]]:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(hold_s)  # keep the connection open: the gateway must not wait for more

    return respond


def _gzip_bomb(inflated_mib: int) -> bytes:
    """A valid gzip member of ``inflated_mib`` MiB of zeros, ~1 KB on the wire per MiB.

    One full-flushed deflate segment of 1 MiB of zeros is independent of what precedes it, so it is
    repeated instead of compressing a GiB (seconds of CPU).
    """
    zeros = bytes(MiB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(inflated_mib):
        crc = zlib.crc32(zeros, crc)
    size = (inflated_mib * MiB) & 0xFFFFFFFF
    return (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        + segment * inflated_mib
        + deflate.flush()
        + struct.pack("<II", crc, size)
    )


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = _gzip_bomb(1024)
    assert len(data) < 1.1 * MiB  # 1 MB on the wire ...
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert len(inflate.decompress(data[:100_000], 64 * MiB)) == 64 * MiB  # ... its first 100 KB to over 64 MiB
    return data


@pytest.fixture
def hostile() -> Iterator[Callable[[Callable[[asyncio.StreamWriter], Awaitable[None]]], Hostile]]:
    servers: list[Hostile] = []

    def start(respond: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> Hostile:
        servers.append(Hostile(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def _ask(client: Any, i: int = 0, **body: Any) -> Any:
    payload = {"model": "router", "messages": [{"role": "user", "content": MATH[i]}], **body}
    return client.post("/chat/completions", json=payload)


def _start(gateway: Any, upstreams: dict[str, str], attacker: Hostile, tmp_path: Path, **options: Any) -> Any:
    urls = {**upstreams, "broken": attacker.url}
    return gateway(_pool(urls, broken=("big",)), log=tmp_path / "log.sqlite", **options)


def _last(tmp_path: Path) -> dict[str, Any]:
    from routerlab.serve.log import read_log

    return read_log(tmp_path / "log.sqlite")[-1]


def _fell_back(r: Any, record: dict[str, Any], error: str) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["x-routerlab-model"] in ("small", "mid")
    assert record["attempts"][0] == {"model": "big", "status": None, "error": error}
    assert record["answered_by"] == r.headers["x-routerlab-model"] and record["status"] == 200
    assert r.json()["choices"][0]["message"]["content"]  # the healthy model's whole answer


def test_a_gzip_bomb_is_a_failure_of_that_upstream_and_memory_stays_bounded(
    gateway: Any, upstreams: dict[str, str], hostile: Any, bomb: bytes, tmp_path: Path
) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {len(bomb)}"
    attacker = hostile(_send(head.encode() + b"\r\n\r\n" + bomb))
    client = _start(gateway, upstreams, attacker, tmp_path, breaker_failures=1)  # default cap: 16 MB
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the process' peak so far
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        r = _ask(client)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(f"gzip bomb: traced peak +{(peak - base) / MiB:.1f} MiB, peak RSS +{rss_growth_mib:.1f} MiB")
    _fell_back(r, _last(tmp_path), "response_too_large")
    # 1 GiB inflated without the cap; with it, the 16 MB decoded so far plus a 1 MiB slice and bookkeeping
    assert (peak - base) / MiB < 48, f"traced peak grew by {(peak - base) / MiB:.0f} MiB"
    assert rss_growth_mib < 200, f"peak RSS grew by {rss_growth_mib:.0f} MiB"
    # the breaker counted it (1 failure opens it): the next request does not call the bomb again
    r = _ask(client, 1)
    assert r.status_code == 200 and _last(tmp_path)["attempts"][0]["error"] == "circuit_open"
    assert attacker.requests == 1
    metrics = client.get(str(client.base_url).rstrip("/").removesuffix("/v1") + "/metrics").text
    assert 'routerlab_upstream_errors_total{error="response_too_large",model="big"} 1.0' in metrics


def _chunked(data: bytes, size: int = 64 * 1024) -> bytes:
    parts = (data[i : i + size] for i in range(0, len(data), size))
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


CAP = 100_000


@pytest.mark.parametrize(
    "reply",
    [
        # announced: refused from Content-Length before a byte of the body is read
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1_000_000,
        # chunked: counted as it comes
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(b"x" * 1_000_000),
        # no length: read until the server closes, never past the cap
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 1_000_000,
        # a huge Content-Length and a short body on a connection kept open: refused at once, no timeout
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n" + _answer(),
    ],
    ids=["content-length", "chunked", "until-close", "huge-content-length"],
)
def test_an_answer_over_the_cap_falls_back(
    reply: bytes, gateway: Any, upstreams: dict[str, str], hostile: Any, tmp_path: Path
) -> None:
    attacker = hostile(_send(reply, hold_s=30.0))
    client = _start(gateway, upstreams, attacker, tmp_path, max_response_bytes=CAP)
    started = time.monotonic()
    r = _ask(client)
    _fell_back(r, _last(tmp_path), "response_too_large")
    assert time.monotonic() - started < 10.0  # never waited for the 30 s the attacker holds the connection


def test_an_answer_at_the_cap_is_read_and_the_decoded_json_passed_on(
    gateway: Any, upstreams: dict[str, str], hostile: Any, tmp_path: Path
) -> None:
    answer = _answer()
    packed = zlib.compress(answer)
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: {len(packed)}"
    attacker = hostile(_send(head.encode() + b"\r\n\r\n" + packed))
    client = _start(gateway, upstreams, attacker, tmp_path, max_response_bytes=len(answer))  # exactly at the cap
    r = _ask(client)
    assert r.status_code == 200 and r.headers["x-routerlab-model"] == "big"
    assert r.content == answer and "content-encoding" not in r.headers  # decoded, not re-labelled as deflate
    record = _last(tmp_path)
    assert (record["prompt_tokens"], record["completion_tokens"]) == (3, 2)
    assert record["cost_usd"] == pytest.approx((3 * 5.0 + 2 * 5.0) / 1e6)


@pytest.mark.parametrize(
    "usage",
    [
        '{"prompt_tokens": Infinity, "completion_tokens": NaN}',
        '{"prompt_tokens": -Infinity, "completion_tokens": 1e400}',
        '{"prompt_tokens": 100000000000000000000000000000, "completion_tokens": 5}',
        '{"prompt_tokens": 3.5, "completion_tokens": true}',
    ],
)
def test_non_finite_or_absurd_token_counts_are_logged_as_none(
    usage: str, gateway: Any, upstreams: dict[str, str], hostile: Any, tmp_path: Path
) -> None:
    body = _answer(usage)
    attacker = hostile(_send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)))
    client = _start(gateway, upstreams, attacker, tmp_path)
    r = _ask(client)
    assert r.status_code == 200 and r.headers["x-routerlab-model"] == "big"  # an answer: passed on unchanged
    assert r.content == body
    record = _last(tmp_path)
    assert record["prompt_tokens"] is None and record["cost_usd"] is None and record["error_code"] is None
    metrics = client.get(str(client.base_url).rstrip("/").removesuffix("/v1") + "/metrics").text
    assert "nan" not in metrics.lower().replace("nanosecond", "")


async def _endless_header(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(100_000):  # 100 MB of header lines if nobody stops reading
        writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
        await writer.drain()


async def _trickled_header(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(600):  # a byte every 50 ms: 30 s
        writer.write(b"X")
        await writer.drain()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("respond", "error"),
    [(_endless_header, "RemoteProtocolError"), (_trickled_header, "ReadTimeout")],
    ids=["endless-header", "trickled-header"],
)
def test_a_never_ending_header_falls_back(
    respond: Handler, error: str, gateway: Any, upstreams: dict[str, str], hostile: Any, tmp_path: Path
) -> None:
    from routerlab.collect.config import EndpointConfig
    from routerlab.serve import Pool

    attacker = hostile(respond)
    pool = _pool({**upstreams, "broken": attacker.url}, broken=("big",))
    # the trickle is ended by the endpoint's timeout (1 s here), the flood by the 100 KiB header cap
    endpoints = [e.model_copy(update={"timeout_s": 1.0}) if e.name == "big" else e for e in pool.endpoints]
    client = gateway(
        Pool.of([EndpointConfig.model_validate(e.model_dump()) for e in endpoints]), log=tmp_path / "log.sqlite"
    )
    started = time.monotonic()
    r = _ask(client)
    _fell_back(r, _last(tmp_path), error)
    assert time.monotonic() - started < 10.0


def _sse(n_events: int, size: int) -> bytes:
    event = b"data: " + json.dumps({"choices": [{"delta": {"content": "y" * size}}]}).encode() + b"\n\n"
    return event * n_events


def test_a_stream_over_the_cap_ends_as_stream_interrupted(
    gateway: Any, upstreams: dict[str, str], hostile: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stream = _sse(200, 1000)  # ~200 KB of events, twice the cap
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    attacker = hostile(_send(head + _chunked(stream, 4096)))
    client = _start(gateway, upstreams, attacker, tmp_path, max_response_bytes=CAP)
    with caplog.at_level("WARNING", logger="routerlab.serve.gateway"):
        r = _ask(client, stream=True)
    assert r.status_code == 200 and r.headers["x-routerlab-model"] == "big"  # the stream had begun: no fallback
    assert 0 < len(r.content) <= CAP and stream.startswith(r.content)  # passed on up to the cap, then cut
    record = _last(tmp_path)
    assert record["error_code"] == "stream_interrupted" and record["answered_by"] == "big"
    assert any("failed mid-stream" in m and "100,000-byte limit" in m for m in caplog.messages), caplog.messages


def test_a_gzip_bomb_stream_is_cut_at_the_cap(
    gateway: Any, upstreams: dict[str, str], hostile: Any, bomb: bytes, tmp_path: Path
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(bomb)
    attacker = hostile(_send(head + bomb))
    client = _start(gateway, upstreams, attacker, tmp_path, max_response_bytes=4 * MiB)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        r = _ask(client, stream=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"gzip bomb stream: traced peak +{(peak - base) / MiB:.1f} MiB")
    assert r.status_code == 200 and len(r.content) <= 4 * MiB and set(r.content) == {0}
    assert _last(tmp_path)["error_code"] == "stream_interrupted"
    # the client read the 4 MiB too (httpx, in this process); without the cap it would be 1 GiB
    assert (peak - base) / MiB < 48, f"traced peak grew by {(peak - base) / MiB:.0f} MiB"


def test_the_cap_is_checked(fitted: tuple[Any, Path], upstreams: dict[str, str]) -> None:
    from routerlab.serve import create_app

    with pytest.raises(ValueError, match="max_response_bytes must be a positive integer"):
        create_app(fitted[1], _pool(upstreams), max_response_bytes=0)
