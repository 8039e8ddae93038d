"""How a collector worker sends its POSTs: a lean asyncio HTTP/1.1 connection, or httpx.

Each worker owns one :class:`Transport` holding one keep-alive connection. Two implementations:

:class:`StreamTransport`
    HTTP/1.1 straight on :func:`asyncio.open_connection` (TLS for ``https://``): one request in
    one write, ``Content-Length`` / chunked / read-to-close bodies, gzip/deflate if a server
    compresses anyway, keep-alive with reconnection when the server closed the idle connection.
    It costs ~0.2 ms of CPU per request where httpx costs ~1.5-3 ms (httpcore + anyio + h11), which
    is what lets one process drive an endpoint at hundreds of requests per second
    (``benchmarks/bench_collect.py``). No proxy support.
:class:`HttpxTransport`
    ``httpx.AsyncClient`` with one connection: proxies from the environment (``HTTPS_PROXY``, ...),
    everything httpx handles.

``make_transport("auto")`` picks httpx when a proxy variable applies to the URL, else the stream
transport. Both raise :class:`TimeoutError` only through the caller's deadline, and
:class:`TransportError` for a refused, reset or half-answered connection.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit

__all__ = [
    "HttpxTransport",
    "RawResponse",
    "StreamTransport",
    "Transport",
    "TransportError",
    "TransportKind",
    "make_transport",
]

TransportKind = Literal["auto", "asyncio", "httpx"]

#: the longest status line + headers accepted (bytes)
MAX_HEADER_BYTES = 1 << 20
#: an idle connection older than this is not reused (uvicorn closes after 5 s, many hosts later)
IDLE_REUSE_S = 4.0


class TransportError(ConnectionError):
    """The connection failed: refused, reset, closed mid-response, or a malformed HTTP response."""


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A whole HTTP response; header names in lower case."""

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
        """POST ``body`` to ``url``; the whole response, or :class:`TransportError`."""
        ...

    async def aclose(self) -> None:
        """Close the connection."""
        ...


class StreamTransport:
    """HTTP/1.1 over one asyncio stream connection, kept alive between requests (see the module doc)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, user_agent: str = "routerlab") -> None:
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
            raise TransportError(f"cannot connect to {host}:{port} ({type(exc).__name__}: {exc})") from None
        self._reader, self._writer, self._origin = reader, writer, origin
        return reader, writer

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        """POST ``body`` to ``url`` and read the whole response (see the module doc)."""
        origin, head = self._target(url)
        reader, writer = await self._connect(origin)
        lines = [head]
        lines.extend(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items())
        lines.append(f"Content-Length: {len(body)}\r\n\r\n".encode("latin-1"))
        lines.append(body)
        try:
            writer.write(b"".join(lines))
            await writer.drain()
            status, version, response_headers = await self._read_head(reader)
            content, keep = await self._read_body(reader, response_headers)
        except BaseException as exc:
            await self.aclose()  # a half-read connection (error, timeout, cancel) is never reused
            if isinstance(exc, (OSError, EOFError, asyncio.LimitOverrunError, ValueError, zlib.error)):
                raise TransportError(f"connection failed mid-request ({type(exc).__name__}: {exc})") from None
            raise
        if not keep or version == b"HTTP/1.0" or response_headers.get("connection", "").lower() == "close":
            await self.aclose()
        self._last_used = time.monotonic()
        return RawResponse(status, response_headers, content)

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[int, bytes, dict[str, str]]:
        while True:
            raw = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = raw[:-4].split(b"\r\n")
            version, _, rest = status_line.partition(b" ")
            if not version.startswith(b"HTTP/1."):
                raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
            status = int(rest[:3])
            headers: dict[str, str] = {}
            for line in header_lines:
                name, sep, value = line.partition(b":")
                if not sep:
                    raise ValueError(f"malformed header line {line[:80]!r}")
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
            if status >= 200 or status == 101:
                return status, version, headers
            # 1xx informational responses (100 Continue, 103 Early Hints) precede the real one

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> tuple[bytes, bool]:
        keep = True
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                        pass
                    break
                parts.append(await reader.readexactly(size))
                if await reader.readexactly(2) != b"\r\n":
                    raise ValueError("a chunk does not end with CRLF")
            content = b"".join(parts)
        elif "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        else:
            content, keep = await reader.read(), False  # the body ends when the server closes
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "x-gzip"):
            content = zlib.decompress(content, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            content = zlib.decompress(content)
        return content, keep

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
    """``httpx.AsyncClient`` with one keep-alive connection; honours proxy variables of the environment."""

    def __init__(self, *, timeout_s: float, ssl_context: ssl.SSLContext | None = None, client: object = None) -> None:
        import httpx

        if client is None:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=30.0)
            verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
            client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout_s), verify=verify, trust_env=True)
        assert isinstance(client, httpx.AsyncClient)
        self._client = client

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        """POST ``body`` to ``url`` with httpx."""
        import httpx

        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.TimeoutException:
            raise TimeoutError("httpx timeout") from None
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        return RawResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    async def aclose(self) -> None:
        """Close the client."""
        await self._client.aclose()

    async def __aenter__(self) -> HttpxTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _proxied(url: str) -> bool:
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def make_transport(
    kind: TransportKind, url: str, *, timeout_s: float, ssl_context: ssl.SSLContext | None = None
) -> StreamTransport | HttpxTransport:
    """A transport for ``url``: ``"asyncio"``, ``"httpx"``, or ``"auto"`` (httpx only behind a proxy)."""
    if kind == "httpx" or (kind == "auto" and _proxied(url)):
        return HttpxTransport(timeout_s=timeout_s, ssl_context=ssl_context)
    return StreamTransport(ssl_context=ssl_context)
