"""How a collector worker sends its POSTs and reads the answers, within limits: lean asyncio HTTP/1.1, or httpx.

A server's answer is data, never trusted. Both transports read a response as a stream through one
:class:`BodyReader`, which stops at ``max_body_bytes`` counted on the wire *and* after
decompression: a 50 MB body, a body with a huge ``Content-Length`` or chunk size, or a gzip bomb
(1 MB that inflates to GBs) holds at most that much memory and ends in :class:`ResponseRejected`,
which the client stores as the record's error without retrying (the same request would break the
same limit again). Decompression (``gzip``, ``deflate``; any other ``Content-Encoding``, or a
stacked one such as ``gzip, gzip``, is rejected) inflates in slices of at most
:data:`DECODE_SLICE_BYTES` with a yield to the event loop between them, so one response never
stalls the other requests. Headers are capped at :data:`MAX_HEADER_BYTES` (100 KiB, as httpx/h11
caps them), and so are 1xx responses before the real one. A server that trickles its answer
(slow-loris) is ended by the caller's deadline, which covers the whole exchange
(``asyncio.timeout`` in :func:`routerlab.collect.client.complete`).

Each worker owns one :class:`Transport` holding one keep-alive connection. Two implementations:

:class:`StreamTransport`
    HTTP/1.1 straight on :func:`asyncio.open_connection` (TLS for ``https://``): one request in
    one write, ``Content-Length`` / chunked / read-to-close bodies, keep-alive with reconnection
    when the server closed the idle connection. It costs ~0.2 ms of CPU per request where httpx
    costs ~1.5-3 ms (httpcore + anyio + h11), which is what lets one process drive an endpoint at
    hundreds of requests per second (``benchmarks/bench_collect.py``: httpx does not reach the
    500 requests/s target at concurrency 64, with a connection pool per endpoint even less than
    with one client per worker). No proxy support.
:class:`HttpxTransport`
    ``httpx.AsyncClient`` with one connection, read with ``client.stream`` and ``aiter_raw`` (the
    decoding is :class:`BodyReader`'s, not httpx's, so the same caps hold): proxies from the
    environment (``HTTPS_PROXY``, ...), everything httpx handles.

``make_transport("auto")`` picks httpx when a proxy variable applies to the URL, else the stream
transport. Both raise :class:`TimeoutError` only through the caller's deadline,
:class:`TransportError` for a refused, reset, half-answered or malformed exchange (retried;
:class:`ConnectFailed` when no connection could be opened), and :class:`ResponseRejected` for a
response over a limit (not retried).

Besides ``post`` (the whole response), both transports ``open`` a response and read its body piece
by piece (:class:`StreamedResponse`, for server-sent events): the same framing, decoding and caps,
the cap counting every byte of the body so far, nothing kept. The transport's connection is busy
until that body is read to its end or the response closed (closing it early closes the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
import urllib.request
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit

__all__ = [
    "DECODE_SLICE_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_INFORMATIONAL",
    "BodyReader",
    "BodyTooLarge",
    "ConnectFailed",
    "HttpxTransport",
    "RawResponse",
    "ResponseRejected",
    "StreamTransport",
    "StreamedResponse",
    "Transport",
    "TransportError",
    "TransportKind",
    "make_transport",
]

TransportKind = Literal["auto", "asyncio", "httpx"]

#: the longest status line + headers (and the longest chunk-size line, and all trailers) accepted, in bytes;
#: httpx's limit too (httpcore's h11 ``max_incomplete_event_size``)
MAX_HEADER_BYTES = 100 * 1024
#: 1xx responses (100 Continue, 103 Early Hints) accepted before the real one
MAX_INFORMATIONAL = 8
#: bytes inflated between two yields to the event loop (~2 ms of zlib work)
DECODE_SLICE_BYTES = 1 << 20
#: bytes read from the socket at a time
READ_BYTES = 64 * 1024
#: an idle connection older than this is not reused (uvicorn closes after 5 s, many hosts later)
IDLE_REUSE_S = 4.0

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-9][0-9][0-9])(?: .*)?")
_DIGITS = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class TransportError(ConnectionError):
    """The connection failed: refused, reset, closed mid-response, or a malformed HTTP response (retried)."""


class ConnectFailed(TransportError):
    """No connection could be opened (refused, unreachable, TLS handshake failed)."""


class ResponseRejected(Exception):
    """The response broke a limit (its size on the wire or after decompression, its encoding); not retried."""


class BodyTooLarge(ResponseRejected):
    """The response body is over ``max_body_bytes``, on the wire or after decompression."""


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A whole HTTP response (body decoded, at most ``max_body_bytes``); header names in lower case."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (bad bytes replaced)."""
        return self.content.decode("utf-8", "replace")


class Transport(Protocol):
    """Sends POST requests over one connection."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        """POST ``body`` to ``url``; the whole response, :class:`TransportError` or :class:`ResponseRejected`."""
        ...

    async def aclose(self) -> None:
        """Close the connection."""
        ...


class BodyReader:
    """Collects a response body chunk by chunk, decompressing it, never past ``max_bytes`` (see the module doc).

    ``content_encoding`` is the response's ``Content-Encoding`` (None or ``identity``: as is).
    """

    def __init__(self, content_encoding: str | None, max_bytes: int) -> None:
        encoding = (content_encoding or "identity").strip().lower()
        self._inflate: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._inflate = zlib.decompressobj(32 + zlib.MAX_WBITS)  # 32: a gzip or a zlib header, detected
        elif encoding not in ("", "identity"):
            raise ResponseRejected(
                f"unsupported Content-Encoding {(content_encoding or '')[:80]!r}; the collector reads gzip, deflate "
                "or an uncompressed body"
            )
        self.max_bytes = max_bytes
        self.wire_bytes = 0
        self.decoded_bytes = 0
        self._body = bytearray()

    def expect(self, n_bytes: int) -> None:
        """Reject a body announced (``Content-Length``, a chunk size) to pass the cap before reading it."""
        if self.wire_bytes + n_bytes > self.max_bytes:
            raise BodyTooLarge(
                f"the response body is over the {self.max_bytes:,}-byte limit "
                f"(announced: {self.wire_bytes + n_bytes:,} bytes)"
            )

    def _count(self, n_bytes: int) -> None:
        self.decoded_bytes += n_bytes
        if self.decoded_bytes > self.max_bytes:
            how = "inflates to" if self._inflate is not None else "is"
            raise BodyTooLarge(f"the response body {how} over the {self.max_bytes:,}-byte limit")

    async def decode(self, chunk: bytes) -> AsyncIterator[bytes]:
        """The next bytes of the body as received (chunked framing removed), decoded: pieces, none kept.

        Every byte counts against the cap, on the wire and decoded; an inflated piece is at most
        :data:`DECODE_SLICE_BYTES`, with a yield to the event loop between two.
        """
        self.wire_bytes += len(chunk)
        if self.wire_bytes > self.max_bytes:
            raise BodyTooLarge(
                f"the response body is over the {self.max_bytes:,}-byte limit ({self.wire_bytes:,} bytes received)"
            )
        if self._inflate is None:
            self._count(len(chunk))
            yield chunk
            return
        data = chunk
        while not self._inflate.eof:
            # max_length bounds what one call inflates, so a bomb costs at most the cap, in slices
            room = min(self.max_bytes - self.decoded_bytes + 1, DECODE_SLICE_BYTES)
            try:
                out = self._inflate.decompress(data, room)
            except zlib.error as exc:
                raise TransportError(f"the compressed body is corrupt ({exc})") from None
            self._count(len(out))
            if out:
                yield out
            data = self._inflate.unconsumed_tail
            if not data and len(out) < room:
                break
            await asyncio.sleep(0)

    async def feed(self, chunk: bytes) -> None:
        """Add the next bytes of the body as received (chunked framing already removed), kept for :meth:`finish`."""
        async for out in self.decode(chunk):
            self._body += out

    def end(self) -> None:
        """Check that the body is complete (a compressed body must reach its end marker)."""
        if self._inflate is not None and not self._inflate.eof:
            raise TransportError("the compressed body ends before its end marker")

    def finish(self) -> bytes:
        """The whole decoded body; a compressed body must be complete."""
        self.end()
        return bytes(self._body)


class StreamedResponse:
    """A response whose body is read piece by piece, decoded and capped (see the module doc).

    Iterate it for the body's pieces (each piece is read when asked for), or :meth:`aread` it whole;
    :meth:`aclose` before the end closes the connection.
    """

    def __init__(self, status: int, headers: Mapping[str, str], pieces: AsyncIterator[bytes]) -> None:
        self.status = status
        self.headers = headers
        self._pieces = pieces

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces

    async def aread(self) -> bytes:
        """The rest of the body, whole (at most the transport's ``max_body_bytes``)."""
        body = bytearray()
        async for piece in self._pieces:
            body += piece
        return bytes(body)

    async def aclose(self) -> None:
        """Stop reading: a body not read to its end closes the connection."""
        aclose = getattr(self._pieces, "aclose", None)
        if aclose is not None:
            await aclose()


async def _no_body() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an empty async generator


def _content_length(value: str) -> int:
    if not _DIGITS.fullmatch(value.strip()):
        raise ValueError(f"Content-Length {value[:40]!r} is not a byte count")
    return int(value)


class StreamTransport:
    """HTTP/1.1 over one asyncio stream connection, kept alive between requests (see the module doc)."""

    def __init__(
        self, *, max_body_bytes: int, ssl_context: ssl.SSLContext | None = None, user_agent: str = "routerlab"
    ) -> None:
        self._max_body = max_body_bytes
        self._ssl = ssl_context
        self._agent = user_agent
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._origin: tuple[str, str, int] | None = None
        self._last_used = 0.0
        self._targets: dict[str, tuple[tuple[str, str, int], bytes]] = {}

    def _target(self, url: str) -> tuple[tuple[str, str, int], bytes]:
        cached = self._targets.get(url)
        if cached is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise TransportError(f"cannot POST to {url!r}: only http:// and https:// URLs with a host")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            default = (parts.scheme, port) in (("http", 80), ("https", 443))
            host = parts.hostname if default else f"{parts.hostname}:{port}"
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {self._agent}\r\n".encode("latin-1")
            cached = ((parts.scheme, parts.hostname, port), head)
            self._targets[url] = cached
        return cached

    async def _connect(self, origin: tuple[str, str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reusable = (
            self._writer is not None
            and self._reader is not None
            and self._origin == origin
            and not self._reader.at_eof()
            and not self._writer.is_closing()
            and time.monotonic() - self._last_used < IDLE_REUSE_S
        )
        if reusable:
            assert self._reader is not None and self._writer is not None
            return self._reader, self._writer
        await self.aclose()
        scheme, host, port = origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            context = self._ssl if self._ssl is not None else ssl.create_default_context()
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=host if context else None, limit=MAX_HEADER_BYTES
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(f"cannot connect to {host}:{port} ({type(exc).__name__}: {exc})") from None
        self._reader, self._writer, self._origin = reader, writer, origin
        return reader, writer

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        """POST ``body`` to ``url`` and read the whole response within the limits (see the module doc)."""
        response = await self.open(url, body, headers)
        return RawResponse(response.status, response.headers, await response.aread())

    async def open(self, url: str, body: bytes, headers: Mapping[str, str]) -> StreamedResponse:
        """POST ``body`` to ``url`` and read the response's head; its body is read as it is iterated."""
        origin, head = self._target(url)
        reader, writer = await self._connect(origin)
        lines = [head]
        lines.extend(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items())
        lines.append(f"Content-Length: {len(body)}\r\n\r\n".encode("latin-1"))
        lines.append(body)
        with self._guard():
            writer.write(b"".join(lines))
            await writer.drain()
            status, version, response_headers = await self._read_head(reader)
            if status in (204, 304):
                self._done(version, response_headers, keep=True)
                return StreamedResponse(status, response_headers, _no_body())
            decoder = BodyReader(response_headers.get("content-encoding"), self._max_body)
        return StreamedResponse(status, response_headers, self._body(reader, version, response_headers, decoder))

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Map a failed exchange to TransportError; a half-read connection (error, limit, timeout, cancel) is closed."""
        try:
            yield
        except BaseException as exc:
            self._drop()
            if isinstance(exc, asyncio.LimitOverrunError):
                raise TransportError(f"a header or chunk-size line is over {MAX_HEADER_BYTES:,} bytes") from None
            if isinstance(exc, (OSError, EOFError, ValueError)) and not isinstance(exc, TransportError):
                raise TransportError(f"connection failed mid-request ({type(exc).__name__}: {exc})") from None
            raise

    def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()

    def _done(self, version: bytes, headers: Mapping[str, str], *, keep: bool) -> None:
        if not keep or version == b"HTTP/1.0" or headers.get("connection", "").lower() == "close":
            self._drop()
        self._last_used = time.monotonic()

    async def _body(
        self, reader: asyncio.StreamReader, version: bytes, headers: Mapping[str, str], decoder: BodyReader
    ) -> AsyncIterator[bytes]:
        """The body's decoded pieces; the connection is kept for the next request only once it is read whole."""
        keep = [True]
        with self._guard():
            async with contextlib.aclosing(self._framed(reader, headers, decoder, keep)) as pieces:
                async for piece in pieces:
                    async for out in decoder.decode(piece):
                        yield out
            decoder.end()
        self._done(version, headers, keep=keep[0])

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[int, bytes, dict[str, str]]:
        for _ in range(MAX_INFORMATIONAL + 1):
            raw = await reader.readuntil(b"\r\n\r\n")  # at most MAX_HEADER_BYTES: the reader's limit
            status_line, *header_lines = raw[:-4].split(b"\r\n")
            match = _STATUS_LINE.fullmatch(status_line)
            if match is None:
                raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
            status = int(match.group(1))
            headers: dict[str, str] = {}
            for line in header_lines:
                name, sep, value = line.partition(b":")
                if not sep or not name or name != name.strip():
                    raise ValueError(f"malformed header line {line[:80]!r}")
                key, text = name.lower().decode("latin-1"), value.strip().decode("latin-1")
                # repeated headers are one comma-separated list (RFC 9110 §5.3), so "gzip" twice reads "gzip, gzip"
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            if status >= 200 or status == 101:
                return status, status_line[:8], headers
            # 1xx informational responses (100 Continue, 103 Early Hints) precede the real one
        raise ValueError(f"more than {MAX_INFORMATIONAL} informational (1xx) responses before the answer")

    @staticmethod
    async def _framed(
        reader: asyncio.StreamReader, headers: Mapping[str, str], decoder: BodyReader, keep: list[bool]
    ) -> AsyncGenerator[bytes]:
        """The body's bytes as framed on the wire (chunked, Content-Length or until close), sizes checked first."""
        if "transfer-encoding" in headers:
            if headers["transfer-encoding"].strip().lower() != "chunked":
                raise ResponseRejected(f"unsupported Transfer-Encoding {headers['transfer-encoding'][:80]!r}")
            while True:
                line = (await reader.readuntil(b"\r\n"))[:-2].split(b";")[0].strip()
                if not _HEX.fullmatch(line):
                    raise ValueError(f"bad chunk size {line[:40]!r}")
                size = int(line, 16)
                if size == 0:
                    break
                decoder.expect(size)
                while size > 0:
                    chunk = await reader.readexactly(min(size, READ_BYTES))
                    size -= len(chunk)
                    yield chunk
                if await reader.readexactly(2) != b"\r\n":
                    raise ValueError("a chunk does not end with CRLF")
            trailers = 0
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                trailers += len(line)
                if trailers > MAX_HEADER_BYTES:
                    raise ValueError(f"trailers over {MAX_HEADER_BYTES:,} bytes")
        elif "content-length" in headers:
            length = _content_length(headers["content-length"])
            decoder.expect(length)
            while length > 0:
                chunk = await reader.readexactly(min(length, READ_BYTES))
                length -= len(chunk)
                yield chunk
        else:
            keep[0] = False  # the body ends when the server closes
            while chunk := await reader.read(READ_BYTES):
                yield chunk

    async def aclose(self) -> None:
        """Close the connection (the next request opens a new one)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (OSError, TimeoutError, ssl.SSLError):
                pass

    async def __aenter__(self) -> StreamTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class HttpxTransport:
    """``httpx.AsyncClient`` with one keep-alive connection, read as a capped stream; honours proxy variables.

    ``client`` replaces the client built here (tests pass one over ``httpx.MockTransport``); it is
    closed with the transport.
    """

    def __init__(
        self,
        *,
        timeout_s: float,
        max_body_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
        client: object = None,
    ) -> None:
        import httpx

        if client is None:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=30.0)
            verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
            client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout_s), verify=verify, trust_env=True)
        assert isinstance(client, httpx.AsyncClient)
        self._client = client
        self._max_body = max_body_bytes

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        """POST ``body`` to ``url`` with httpx, reading the body through :class:`BodyReader`."""
        response = await self.open(url, body, headers)
        return RawResponse(response.status, response.headers, await response.aread())

    async def open(self, url: str, body: bytes, headers: Mapping[str, str]) -> StreamedResponse:
        """POST ``body`` to ``url`` with httpx and read the response's head; its body is read as it is iterated."""
        with _httpx_errors():
            request = self._client.build_request("POST", url, content=body, headers=dict(headers))
            response = await self._client.send(request, stream=True)
        try:
            response_headers = {k.lower(): v for k, v in response.headers.items()}  # repeats joined by ", "
            decoder = BodyReader(response_headers.get("content-encoding"), self._max_body)
            if "content-length" in response_headers and "transfer-encoding" not in response_headers:
                with _httpx_errors():
                    decoder.expect(_content_length(response_headers["content-length"]))
        except BaseException:
            await response.aclose()
            raise
        return StreamedResponse(response.status_code, response_headers, self._body(response, decoder))

    @staticmethod
    async def _body(response: object, decoder: BodyReader) -> AsyncIterator[bytes]:
        import httpx

        assert isinstance(response, httpx.Response)
        try:
            with _httpx_errors():
                async for chunk in response.aiter_raw():  # raw: httpx decompresses nothing, the reader does
                    async for out in decoder.decode(chunk):
                        yield out
                decoder.end()
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the client."""
        await self._client.aclose()

    async def __aenter__(self) -> HttpxTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Map httpx's errors to this module's: a timeout, a failed connection, a broken exchange."""
    import httpx

    try:
        yield
    except httpx.TimeoutException:
        raise TimeoutError("httpx timeout") from None
    except httpx.ConnectError as exc:
        raise ConnectFailed(f"cannot connect ({type(exc).__name__}: {exc})") from None
    except (httpx.HTTPError, ValueError) as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from None


def _proxied(url: str) -> bool:
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def make_transport(
    kind: TransportKind,
    url: str,
    *,
    timeout_s: float,
    max_body_bytes: int,
    ssl_context: ssl.SSLContext | None = None,
) -> StreamTransport | HttpxTransport:
    """A transport for ``url``: ``"asyncio"``, ``"httpx"``, or ``"auto"`` (httpx only behind a proxy)."""
    if kind == "httpx" or (kind == "auto" and _proxied(url)):
        return HttpxTransport(timeout_s=timeout_s, max_body_bytes=max_body_bytes, ssl_context=ssl_context)
    return StreamTransport(max_body_bytes=max_body_bytes, ssl_context=ssl_context)
