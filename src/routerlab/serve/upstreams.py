"""Calling the pool's upstreams: keep-alive connections, a circuit breaker and a concurrency limit per endpoint.

:meth:`Upstreams.attempt` makes one call for the gateway's fallback loop and says how it went:

1. The endpoint's breaker (:mod:`routerlab.serve.breaker`) is asked first; an open circuit skips the
   model without calling it (attempt error ``circuit_open``).
2. A slot of the endpoint's ``max_concurrency`` (an :class:`asyncio.Semaphore` per endpoint, per
   process, first come first served) is awaited for at most the endpoint's timeout and the time
   left of the request's deadline, whichever is shorter; when none frees in time the model is
   skipped (``concurrency_limit``) for the next one. The wait counts against the deadline, and the
   call's own timeout is what is left of the deadline after it.
3. The call: a 429/5xx answer, a timeout or a connection error is a failure (the breaker counts it,
   the caller falls back); any other answer is a success for the breaker (a 4xx is the client's
   fault, the upstream is alive). A streamed call opens the stream (status line and first chunk);
   its slot is held until the caller's stream ends (:meth:`Attempt.aclose`).

**An upstream's answer is data, never trusted.** The calls go over
:mod:`routerlab.collect.transport`: lean asyncio HTTP/1.1 (:class:`~routerlab.collect.transport.StreamTransport`,
~0.2 ms of CPU per call where httpx's pool costs several ms), or httpx when a proxy variable
applies to the endpoint's URL (``make_transport("auto")``). Each endpoint keeps up to
``max_concurrency`` idle keep-alive connections, reused last in, first out (the warmest); a
connection whose call failed is closed, never reused. Every answer is read through the transport's
:class:`~routerlab.collect.transport.BodyReader`: at most ``max_response_bytes`` on the wire *and*
after decompression (gzip/deflate inflated in slices; a 1 MB gzip bomb holds at most that much
memory), headers at most 100 KiB, a ``Content-Length`` over the cap refused before a byte of the body
is read. An answer over a limit is a failure of that upstream like a 5xx (attempt error
``response_too_large``, or ``response_rejected`` for an unsupported encoding); the gateway falls
back. The JSON passed on to the client is the decoded body (the upstream's ``Content-Encoding`` is
not forwarded). A stream's pieces are capped the same way, counted over the whole stream, and each
read waits at most the endpoint's timeout.

Attempt errors (the decision log's ``attempts[].error``): ``circuit_open``, ``concurrency_limit``,
``ConnectError`` (no connection), ``ReadTimeout`` (no complete answer within the timeout),
``RemoteProtocolError`` (closed, reset or malformed mid-answer), ``response_too_large``,
``response_rejected``; the names of the first three are httpx's, as the gateway logged them before.

With several workers each process has its own slots and connections: the limit an upstream sees is
``workers × max_concurrency``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from routerlab.collect.transport import (
    BodyTooLarge,
    ConnectFailed,
    HttpxTransport,
    ResponseRejected,
    StreamedResponse,
    StreamTransport,
    TransportError,
    TransportKind,
    make_transport,
)
from routerlab.serve.breaker import CircuitBreaker
from routerlab.serve.metrics import GatewayMetrics
from routerlab.serve.pool import DEFAULT_TIMEOUT_S, Pool

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "RETRY_STATUSES", "Attempt", "Upstreams"]

logger = logging.getLogger(__name__)

#: upstream statuses that move to the next model (and count as a failure for the breaker)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: the largest upstream answer read (on the wire and decompressed; a whole stream counts)
DEFAULT_MAX_RESPONSE_BYTES = 16_000_000


async def _nothing() -> None:
    return None


@dataclass(slots=True)
class Attempt:
    """One upstream attempt: its decision-log entry and, when the upstream answered, its answer.

    A whole answer has ``status``, ``headers`` (lower-case names) and its decoded ``content``; an
    open stream has ``chunks`` (decoded pieces after ``first``; ``first`` None: an empty body).
    """

    entry: dict[str, Any]
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    first: bytes | None = None
    #: ends a stream: closes it, hands its connection back and frees the endpoint's slot (idempotent)
    aclose: Callable[[], Awaitable[None]] = field(default=_nothing)

    @property
    def answered(self) -> bool:
        """Whether the upstream gave an answer to pass back (not a 429/5xx, not an error, not skipped)."""
        return self.status is not None and self.status not in RETRY_STATUSES


Transport = StreamTransport | HttpxTransport


class _Connections:
    """An endpoint's idle keep-alive transports (one connection each), reused last in, first out."""

    def __init__(self, url: str, *, max_idle: int, timeout_s: float, max_bytes: int) -> None:
        self.url = url
        self._max_idle = max_idle
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._idle: list[Transport] = []
        self._kind: TransportKind = "auto"  # then "asyncio" or "httpx", as the first make_transport("auto") chose

    def take(self) -> Transport:
        if self._idle:
            return self._idle.pop()
        made = make_transport(self._kind, self.url, timeout_s=self._timeout_s, max_body_bytes=self._max_bytes)
        self._kind = "httpx" if isinstance(made, HttpxTransport) else "asyncio"
        return made

    async def give(self, transport: Transport, *, healthy: bool) -> None:
        if healthy and len(self._idle) < self._max_idle:
            self._idle.append(transport)
        else:
            await transport.aclose()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for transport in idle:
            await transport.aclose()


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, BodyTooLarge):
        return "response_too_large"
    if isinstance(exc, ResponseRejected):
        return "response_rejected"
    if isinstance(exc, TimeoutError):
        return "ReadTimeout"
    if isinstance(exc, ConnectFailed):
        return "ConnectError"
    return "RemoteProtocolError"


_FAILURES = (TransportError, ResponseRejected, TimeoutError)


async def _timed(response: StreamedResponse, timeout_s: float) -> AsyncIterator[bytes]:
    """The stream's pieces, each read within ``timeout_s`` (TimeoutError otherwise)."""
    pieces = aiter(response)
    while True:
        async with asyncio.timeout(timeout_s):
            piece = await anext(pieces, None)
        if piece is None:
            return
        yield piece


class Upstreams:
    """The pool's endpoints as the gateway calls them (see the module doc)."""

    def __init__(
        self,
        pool: Pool,
        keys: dict[str, str | None],
        metrics: GatewayMetrics,
        *,
        breaker_failures: int,
        breaker_cooldown_s: float,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.cooldown_s = breaker_cooldown_s
        self.max_response_bytes = max_response_bytes
        self._metrics = metrics
        self.breakers = {
            n: CircuitBreaker(n, failures=breaker_failures, cooldown_s=breaker_cooldown_s, clock=clock)
            for n in pool.names
        }
        self._slots = {e.name: asyncio.Semaphore(e.max_concurrency) for e in pool.endpoints}
        self._connections = {
            e.name: _Connections(
                f"{e.base_url}/chat/completions",
                max_idle=e.max_concurrency,
                timeout_s=e.timeout_s or DEFAULT_TIMEOUT_S,
                max_bytes=max_response_bytes,
            )
            for e in pool.endpoints
        }
        self._headers: dict[str, dict[str, str]] = {}
        for e in pool.endpoints:
            headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
            key = keys[e.name]
            if key is not None:
                headers["Authorization"] = f"Bearer {key}"
            self._headers[e.name] = headers
        self.refresh_gauges()

    async def aclose(self) -> None:
        """Close the idle connections."""
        for connections in self._connections.values():
            await connections.aclose()

    def refresh_gauges(self) -> None:
        """Set ``routerlab_breaker_state`` from each breaker now (an open circuit turns half-open with time)."""
        for name, breaker in self.breakers.items():
            self._metrics.breaker_state.labels(model=name).set(int(breaker.state))

    def _payload(self, name: str, body: dict[str, Any]) -> bytes:
        endpoint = self.pool.endpoint(name)
        payload = {**body, **endpoint.extra_body, "model": endpoint.model_id}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    async def _acquire(self, name: str, wait_s: float) -> bool:
        slots = self._slots[name]
        if not slots.locked():
            await slots.acquire()
            return True
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for may time out an acquire that succeeded, losing the slot
            async with asyncio.timeout(wait_s):
                await slots.acquire()
        except TimeoutError:
            return False
        return True

    async def attempt(self, name: str, body: dict[str, Any], *, left_s: float, stream: bool) -> Attempt:
        """Try ``name`` with ``body`` within ``left_s`` seconds (see the module doc)."""
        breaker = self.breakers[name]
        if not breaker.allow():
            self.refresh_gauges()
            return Attempt({"model": name, "status": None, "error": "circuit_open"})
        waited = time.monotonic()
        endpoint_timeout = self.pool.endpoint(name).timeout_s or DEFAULT_TIMEOUT_S
        try:
            acquired = await self._acquire(name, min(left_s, endpoint_timeout))
        except BaseException:  # cancelled while waiting: a half-open probe goes to the next request
            breaker.abandon()
            raise
        if not acquired:
            breaker.abandon()
            logger.warning("no concurrency slot of %s in time; trying the next model", name)
            return Attempt({"model": name, "status": None, "error": "concurrency_limit"})
        slots = self._slots[name]
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.release()

        left_s -= time.monotonic() - waited
        timeout = min(endpoint_timeout, max(left_s, 0.001))
        connections = self._connections[name]
        transport = connections.take()
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                attempt = await self._call(name, transport, body, stream=stream)
        except _FAILURES as exc:
            breaker.failure()
            self.refresh_gauges()
            await connections.give(transport, healthy=False)
            release()
            error = _error_name(exc)
            logger.warning("upstream %s failed (%s: %s); trying the next model", name, error, exc)
            self._metrics.upstream_errors.labels(model=name, error=error).inc()
            return Attempt({"model": name, "status": None, "error": error})
        except BaseException:  # cancelled (the client went away): no verdict on the upstream
            breaker.abandon()
            self.refresh_gauges()
            await connections.give(transport, healthy=False)
            release()
            raise
        finally:
            self._metrics.upstream_latency.labels(model=name).observe(time.monotonic() - started)
        status = attempt.status
        assert status is not None
        if status in RETRY_STATUSES:
            breaker.failure()
            logger.warning("upstream %s answered %d; trying the next model", name, status)
            self._metrics.upstream_errors.labels(model=name, error=str(status)).inc()
        else:
            breaker.success()
        self.refresh_gauges()
        if attempt.chunks is None:
            await connections.give(transport, healthy=True)
            release()
            return attempt
        attempt.aclose = self._closer(attempt.aclose, connections, transport, release)
        return attempt

    @staticmethod
    def _closer(
        close_stream: Callable[[], Awaitable[None]],
        connections: _Connections,
        transport: Transport,
        release: Callable[[], None],
    ) -> Callable[[], Awaitable[None]]:
        done = False

        async def aclose() -> None:
            nonlocal done
            if done:
                return
            done = True
            try:
                await close_stream()  # a stream not read to its end closes its connection
                await connections.give(transport, healthy=True)
            finally:
                release()

        return aclose

    async def _call(self, name: str, transport: Transport, body: dict[str, Any], *, stream: bool) -> Attempt:
        """POST to ``name``: the whole answer, or an open stream (its status, headers and first piece).

        An error answer to a streamed call is read whole (no chunks): it is retried or passed back like
        a non-streamed one.
        """
        headers = self._headers[name]
        if stream:
            headers = {**headers, "Accept-Encoding": "identity"}  # an event stream is passed on as it comes
        response = await transport.open(self._connections[name].url, self._payload(name, body), headers)
        entry = {"model": name, "status": response.status, "error": None}
        if not stream or response.status >= 400:
            try:
                content = await response.aread()
            except BaseException:
                await response.aclose()
                raise
            return Attempt(entry, response.status, response.headers, content)
        try:
            chunks = _timed(response, self.pool.endpoint(name).timeout_s or DEFAULT_TIMEOUT_S)
            first = await anext(chunks, None)
        except BaseException:
            await response.aclose()
            raise
        return Attempt(entry, response.status, response.headers, chunks=chunks, first=first, aclose=response.aclose)
