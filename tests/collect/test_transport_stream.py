"""``open()``: a response's body read piece by piece, with the caps of ``post`` counted over the whole body."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from routerlab.collect.transport import (
    BodyTooLarge,
    ConnectFailed,
    HttpxTransport,
    StreamTransport,
    TransportError,
)

KINDS = ["asyncio", "httpx"]
LIMIT = 10_000


def _transport(kind: str) -> StreamTransport | HttpxTransport:
    if kind == "asyncio":
        return StreamTransport(max_body_bytes=LIMIT)
    return HttpxTransport(timeout_s=5.0, max_body_bytes=LIMIT)


def _chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


async def _serve(replies: list[bytes]) -> tuple[asyncio.Server, str, list[int]]:
    """A raw server answering its n-th request with ``replies[n]``; also counts connections."""
    count = [0, 0]  # connections, requests

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count[0] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-l"))
                await reader.readexactly(length)
                count[1] += 1
                writer.write(replies[count[1] - 1])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", count


STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"


@pytest.mark.parametrize("kind", KINDS)
def test_pieces_come_as_read_and_the_connection_is_kept_after_the_end(kind: str) -> None:
    events = [b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"]
    replies = [STREAM_HEAD + b"\r\n" + _chunked(events), b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]

    async def go() -> tuple[int, list[bytes], bytes, list[int]]:
        server, url, count = await _serve(replies)
        async with _transport(kind) as http:
            response = await http.open(url, b"{}", {})
            pieces = [p async for p in response]
            after = (await http.post(url, b"{}", {})).content
        server.close()
        return response.status, pieces, after, count

    status, pieces, after, count = asyncio.run(go())
    assert status == 200 and b"".join(pieces) == b"".join(events) and after == b"ok"
    assert count[0] == 1  # read to its end: the connection served the next request
    if kind == "asyncio":
        assert pieces == events  # one piece per chunk as it came


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_over_the_cap_gives_its_pieces_then_body_too_large(kind: str) -> None:
    parts = [b"x" * 3000] * 5  # 15,000 bytes in all: the fourth piece passes the 10,000-byte cap
    packed = gzip.compress(b"y" * 50 * LIMIT)
    replies = [
        STREAM_HEAD + b"\r\n" + _chunked(parts),
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(packed), packed),
    ]

    async def go() -> tuple[list[int], Exception, int, Exception]:
        server, url, _ = await _serve(replies)
        got: list[int] = []
        async with _transport(kind) as http:
            response = await http.open(url, b"{}", {})
            with pytest.raises(BodyTooLarge) as plain:
                async for piece in response:
                    got.append(len(piece))
            response = await http.open(url, b"{}", {})
            inflated = 0
            with pytest.raises(BodyTooLarge) as bomb:
                async for piece in response:
                    inflated += len(piece)
        server.close()
        return got, plain.value, inflated, bomb.value

    got, plain, inflated, bomb = asyncio.run(go())
    assert sum(got) <= LIMIT and "10,000-byte limit" in str(plain)
    assert inflated <= LIMIT and "inflates to over" in str(bomb)


def test_closing_a_stream_early_closes_its_connection() -> None:
    replies = [STREAM_HEAD + b"\r\n" + _chunked([b"data: 1\n\n", b"data: 2\n\n"]), b"HTTP/1.1 204 No Content\r\n\r\n"]

    async def go() -> tuple[bytes, int, list[int]]:
        server, url, count = await _serve(replies)
        async with StreamTransport(max_body_bytes=LIMIT) as http:
            response = await http.open(url, b"{}", {})
            first = await anext(aiter(response))
            await response.aclose()  # half read: never reused
            status = (await http.post(url, b"{}", {})).status
        server.close()
        return first, status, count

    first, status, count = asyncio.run(go())
    assert first == b"data: 1\n\n" and status == 204 and count[0] == 2


def test_a_refused_connection_is_connect_failed() -> None:
    async def go() -> None:
        async with StreamTransport(max_body_bytes=LIMIT) as http:
            await http.open("http://127.0.0.1:9/v1", b"", {})

    with pytest.raises(ConnectFailed, match="cannot connect"):
        asyncio.run(go())
    assert issubclass(ConnectFailed, TransportError)  # the collector retries it like any TransportError
