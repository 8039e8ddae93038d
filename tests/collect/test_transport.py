"""Both transports against hand-written server bytes: framing, keep-alive, reconnection, errors, body limits."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Callable

import pytest

from routerlab.collect.transport import (
    MAX_INFORMATIONAL,
    BodyReader,
    BodyTooLarge,
    HttpxTransport,
    RawResponse,
    ResponseRejected,
    StreamTransport,
    TransportError,
    make_transport,
)
from tests.collect.conftest import ServeFn

LIMIT = 10_000  # max_body_bytes of the transports under test
KINDS = ["asyncio", "httpx"]

Reply = Callable[[bytes], bytes | None]  # request bytes → raw response bytes (None: close without answering)


class Closing(bytes):
    """Response bytes after which the test server closes the connection."""


def _transport(kind: str) -> StreamTransport | HttpxTransport:
    if kind == "asyncio":
        return StreamTransport(max_body_bytes=LIMIT)
    return HttpxTransport(timeout_s=5.0, max_body_bytes=LIMIT)


def _exchange(
    replies: list[Reply], n_requests: int, kind: str = "asyncio"
) -> tuple[list[RawResponse | Exception], int, list[bytes]]:
    """Run a raw server answering with ``replies`` in turn; return the responses, connections opened, requests."""
    connections = 0
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
                )
                request = head + await reader.readexactly(length)
                requests.append(request)
                answer = replies[len(requests) - 1](request)
                if answer is None:
                    break
                writer.write(answer)
                try:
                    await writer.drain()
                except ConnectionError:  # the client hung up on a body over its limit
                    break
                if isinstance(answer, Closing) or b"connection: close" in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def go() -> list[RawResponse | Exception]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        out: list[RawResponse | Exception] = []
        async with _transport(kind) as http:
            for _ in range(n_requests):
                try:
                    async with asyncio.timeout(5.0):
                        out.append(await http.post(f"http://127.0.0.1:{port}/v1/x?a=1", b'{"q": 1}', {"X-Test": "yes"}))
                except (TransportError, ResponseRejected) as exc:
                    out.append(exc)
        server.close()
        await server.wait_closed()
        return out

    return asyncio.run(go()), connections, requests


def _ok(body: bytes, extra: str = "") -> Reply:
    return lambda _: f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


@pytest.mark.parametrize("kind", KINDS)
def test_request_bytes_and_keep_alive(kind: str) -> None:
    out, connections, requests = _exchange([_ok(b"one"), _ok(b"two"), _ok(b"three")], 3, kind)
    assert [r.content for r in out if isinstance(r, RawResponse)] == [b"one", b"two", b"three"]
    assert connections == 1  # one keep-alive connection for all three
    if kind == "httpx":
        return  # httpx writes its own request head
    first = requests[0].decode()
    assert first.startswith("POST /v1/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert "X-Test: yes\r\n" in first and "Content-Length: 8\r\n" in first and first.endswith('{"q": 1}')


@pytest.mark.parametrize("kind", KINDS)
def test_chunked_gzip_and_informational(kind: str) -> None:
    payload = json.dumps({"x": "y" * 50}).encode()
    packed = gzip.compress(payload)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(packed[i : i + 7]), packed[i : i + 7]) for i in range(0, len(packed), 7))
    reply = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + chunked
        + b"0\r\nX-T: 1\r\n\r\n"
    )
    out, _, _ = _exchange([lambda _: reply, _ok(b"after")], 2, kind)
    assert isinstance(out[0], RawResponse) and out[0].content == payload and out[0].status == 200
    assert isinstance(out[1], RawResponse) and out[1].content == b"after"


@pytest.mark.parametrize("kind", KINDS)
def test_connection_close_and_read_to_end(kind: str) -> None:
    close = _ok(b"bye", "Connection: close\r\n")
    to_end: Reply = lambda _: b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end"  # noqa: E731
    out, connections, _ = _exchange([close, to_end, _ok(b"x")], 3, kind)
    assert [r.content for r in out if isinstance(r, RawResponse)] == [b"bye", b"until the end", b"x"]
    assert connections == 3  # reconnected after each close


@pytest.mark.parametrize("kind", KINDS)
def test_headers_are_lower_cased_and_status_kept(kind: str) -> None:
    reply: Reply = lambda _: b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n"  # noqa: E731
    (out,), _, _ = _exchange([reply], 1, kind)
    assert isinstance(out, RawResponse) and out.status == 429 and out.headers["retry-after"] == "2"


@pytest.mark.parametrize(
    "reply",
    [
        lambda _: None,  # closed without a byte
        lambda _: Closing(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"),  # closed mid-body
        lambda _: b"SPDY/9 200 OK\r\nContent-Length: 0\r\n\r\n",  # not HTTP/1.x
        lambda _: b"HTTP/1.1 200 OK\r\nbroken header\r\nContent-Length: 0\r\n\r\n",
        lambda _: Closing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),  # bad chunk size
        lambda _: Closing(b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 200_000 + b"\r\n\r\n"),  # headers over the cap
        lambda _: Closing(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
        lambda _: Closing(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"),
        lambda _: Closing(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope"),  # corrupt
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_broken_responses_are_transport_errors_and_the_connection_is_renewed(reply: Reply, kind: str) -> None:
    out, connections, _ = _exchange([reply, _ok(b"fine")], 2, kind)
    assert isinstance(out[0], TransportError)
    assert isinstance(out[1], RawResponse) and out[1].content == b"fine" and connections == 2


def test_bad_urls_and_refused_connections() -> None:
    async def go(url: str) -> None:
        async with StreamTransport(max_body_bytes=LIMIT) as http:
            await http.post(url, b"", {})

    with pytest.raises(TransportError, match="only http"):
        asyncio.run(go("ftp://x/y"))
    with pytest.raises(TransportError, match="cannot connect"):
        asyncio.run(go("http://127.0.0.1:9/v1"))


def test_make_transport_uses_httpx_behind_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ):
        monkeypatch.delenv(var, raising=False)

    def make(kind: str, url: str) -> object:
        return make_transport(kind, url, timeout_s=1, max_body_bytes=LIMIT)  # type: ignore[arg-type]

    assert isinstance(make("auto", "http://127.0.0.1:8/v1"), StreamTransport)
    assert isinstance(make("httpx", "http://127.0.0.1:8/v1"), HttpxTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert isinstance(make("auto", "https://api.example.com/v1"), HttpxTransport)
    assert isinstance(make("asyncio", "https://api.example.com/v1"), StreamTransport)


def test_idle_connection_closed_by_the_server_is_reopened(serve: ServeFn) -> None:
    server = serve(["mock"])
    body = json.dumps({"model": "mock", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}).encode()

    async def go() -> list[int]:
        statuses = []
        async with StreamTransport(max_body_bytes=LIMIT) as http:
            statuses.append((await http.post(f"{server.url}/chat/completions", body, {})).status)
            assert http._writer is not None
            http._writer.transport.abort()  # as if the server had dropped the idle connection
            await asyncio.sleep(0.05)
            statuses.append((await http.post(f"{server.url}/chat/completions", body, {})).status)
        return statuses

    assert asyncio.run(go()) == [200, 200]


def _chunked(data: bytes, size: int = 4096) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size))


BOMB = gzip.compress(bytes(50 * LIMIT))  # ~1 KB on the wire, 50 times the limit inflated


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (_ok(b"x" * (LIMIT + 1)), "over the 10,000-byte limit"),  # refused from Content-Length, before reading
        (lambda _: Closing(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (3 * LIMIT)), "is over the 10,000-byte limit"),
        (
            lambda _: Closing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(b"x" * 3 * LIMIT)),
            "over the 10,000-byte limit",
        ),
        (_ok(BOMB, "Content-Encoding: gzip\r\n"), "inflates to over the 10,000-byte limit"),
        (
            lambda _: Closing(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: deflate\r\n\r\n"
                + _chunked(zlib.compress(bytes(50 * LIMIT)), 100)
                + b"0\r\n\r\n"
            ),
            "inflates to over",
        ),
        (_ok(b"x", "Content-Encoding: br\r\n"), "unsupported Content-Encoding 'br'"),
        (
            _ok(gzip.compress(gzip.compress(b"{}")), "Content-Encoding: gzip\r\nContent-Encoding: gzip\r\n"),
            "gzip, gzip",
        ),
    ],
)
def test_bodies_over_the_limit_are_rejected(reply: Reply, match: str, kind: str) -> None:
    out, connections, _ = _exchange([reply, _ok(b"fine")], 2, kind)
    assert isinstance(out[0], ResponseRejected) and match in str(out[0]), out[0]
    assert isinstance(out[1], RawResponse) and out[1].content == b"fine" and connections == 2  # never reused


@pytest.mark.parametrize("kind", KINDS)
def test_a_body_at_the_limit_and_a_small_gzip_body_are_read(kind: str) -> None:
    packed = gzip.compress(b"y" * LIMIT)
    out, connections, _ = _exchange([_ok(b"x" * LIMIT), _ok(packed, "Content-Encoding: gzip\r\n")], 2, kind)
    assert [r.content for r in out if isinstance(r, RawResponse)] == [b"x" * LIMIT, b"y" * LIMIT]
    assert connections == 1


def test_informational_responses_are_capped() -> None:
    flood = b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INFORMATIONAL + 1)
    out, _, _ = _exchange([lambda _: Closing(flood + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")], 1)
    assert isinstance(out[0], TransportError) and "informational" in str(out[0])


def test_body_reader_inflates_in_slices_and_never_past_the_cap() -> None:
    async def go(encoding: str, data: bytes, cap: int) -> bytes:
        reader = BodyReader(encoding, cap)
        for i in range(0, len(data), 1000):
            await reader.feed(data[i : i + 1000])
        return reader.finish()

    assert asyncio.run(go("GZIP", gzip.compress(b"a" * 5000), 5000)) == b"a" * 5000
    assert asyncio.run(go("deflate", zlib.compress(b"b" * 3_000_000), 3_000_000)) == b"b" * 3_000_000  # > 1 slice
    with pytest.raises(BodyTooLarge, match="inflates to over the 4,999-byte limit"):
        asyncio.run(go("gzip", gzip.compress(b"a" * 5000), 4999))
    with pytest.raises(TransportError, match="ends before its end marker"):
        asyncio.run(go("gzip", gzip.compress(b"a" * 5000)[:-10], 5000))


@pytest.mark.parametrize("kind", KINDS)
def test_no_content_has_no_body_and_keeps_the_connection(kind: str) -> None:
    no_content: Reply = lambda _: b"HTTP/1.1 204 No Content\r\n\r\n"  # noqa: E731
    out, connections, _ = _exchange([no_content, _ok(b"next")], 2, kind)
    assert isinstance(out[0], RawResponse) and out[0].status == 204 and out[0].content == b""
    assert isinstance(out[1], RawResponse) and out[1].content == b"next" and connections == 1


def test_a_corrupt_gzip_body_is_a_plain_transport_error() -> None:
    reply = _ok(b"not gzip at all", "Content-Encoding: gzip\r\n")
    out, _, _ = _exchange([reply], 1)
    assert isinstance(out[0], TransportError) and str(out[0]).startswith("the compressed body is corrupt")
