"""Calling the pool's upstreams: one HTTP client, a circuit breaker and a concurrency limit per endpoint.

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
   its slot is held until the caller's stream ends (:attr:`Attempt.release`).

With several workers each process has its own slots: the limit an upstream sees is
``workers × max_concurrency``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from routerlab.serve.breaker import CircuitBreaker
from routerlab.serve.metrics import GatewayMetrics
from routerlab.serve.pool import DEFAULT_TIMEOUT_S, Pool

__all__ = ["RETRY_STATUSES", "Attempt", "Upstreams"]

logger = logging.getLogger(__name__)

#: upstream statuses that move to the next model (and count as a failure for the breaker)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _nothing() -> None:
    return None


@dataclass(slots=True)
class Attempt:
    """One upstream attempt: its decision-log entry and, when the upstream answered, its response."""

    entry: dict[str, Any]
    response: httpx.Response | None = None
    chunks: AsyncIterator[bytes] | None = None
    first: bytes | None = None
    #: frees the endpoint's concurrency slot (idempotent); a streamed answer calls it when the stream ends
    release: Callable[[], None] = field(default=_nothing)

    @property
    def answered(self) -> bool:
        """Whether the upstream gave an answer to pass back (not a 429/5xx, not an error, not skipped)."""
        return self.response is not None and self.response.status_code not in RETRY_STATUSES


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.cooldown_s = breaker_cooldown_s
        self._keys = keys
        self._metrics = metrics
        self.breakers = {
            n: CircuitBreaker(n, failures=breaker_failures, cooldown_s=breaker_cooldown_s, clock=clock)
            for n in pool.names
        }
        self._slots = {e.name: asyncio.Semaphore(e.max_concurrency) for e in pool.endpoints}
        self._client: httpx.AsyncClient | None = None
        self.refresh_gauges()

    def client(self) -> httpx.AsyncClient:
        """The shared httpx.AsyncClient (made on first use, inside the event loop)."""
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, limits=httpx.Limits(max_connections=None))
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def refresh_gauges(self) -> None:
        """Set ``routerlab_breaker_state`` from each breaker now (an open circuit turns half-open with time)."""
        for name, breaker in self.breakers.items():
            self._metrics.breaker_state.labels(model=name).set(int(breaker.state))

    def _request(self, name: str, body: dict[str, Any], timeout: float) -> httpx.Request:
        endpoint = self.pool.endpoint(name)
        headers = {"content-type": "application/json"}
        key = self._keys[name]
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        payload = {**body, **endpoint.extra_body, "model": endpoint.model_id}
        return self.client().build_request(
            "POST", f"{endpoint.base_url}/chat/completions", json=payload, headers=headers, timeout=timeout
        )

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
        started = time.monotonic()
        try:
            result = await (self._open_stream(name, body, timeout) if stream else self._send(name, body, timeout))
        except httpx.HTTPError as exc:
            breaker.failure()
            release()
            error = type(exc).__name__
            logger.warning("upstream %s failed (%s); trying the next model", name, error)
            self._metrics.upstream_errors.labels(model=name, error=error).inc()
            return Attempt({"model": name, "status": None, "error": error})
        except BaseException:  # cancelled (the client went away): no verdict on the upstream
            breaker.abandon()
            release()
            raise
        finally:
            self._metrics.upstream_latency.labels(model=name).observe(time.monotonic() - started)
            self.refresh_gauges()
        response, chunks, first = result
        status = response.status_code
        if status in RETRY_STATUSES:
            breaker.failure()
            release()
            self.refresh_gauges()
            logger.warning("upstream %s answered %d; trying the next model", name, status)
            self._metrics.upstream_errors.labels(model=name, error=str(status)).inc()
        else:
            breaker.success()
            self.refresh_gauges()
            if chunks is None:
                release()
        entry = {"model": name, "status": status, "error": None}
        return Attempt(entry, response, chunks, first, release)

    async def _send(self, name: str, body: dict[str, Any], timeout: float) -> tuple[httpx.Response, None, None]:
        response = await self.client().send(self._request(name, body, timeout))
        return response, None, None

    async def _open_stream(
        self, name: str, body: dict[str, Any], timeout: float
    ) -> tuple[httpx.Response, AsyncIterator[bytes] | None, bytes | None]:
        """The streamed response and, for a success, its chunks and first chunk (None: empty body).

        An error answer is read whole and closed (no chunks): it is retried or passed back like a non-streamed one.
        """
        upstream = await self.client().send(self._request(name, body, timeout), stream=True)
        if upstream.status_code >= 400:
            try:
                await upstream.aread()
            finally:
                await upstream.aclose()
            return upstream, None, None
        try:
            chunks = upstream.aiter_bytes()
            first = await anext(chunks, None)
        except BaseException:
            await upstream.aclose()
            raise
        return upstream, chunks, first
