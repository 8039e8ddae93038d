"""The gateway's request handling: ``/v1/chat/completions`` (route, fall back, log) and ``/v1/feedback``.

:func:`routerlab.serve.app.create_app` builds one :class:`Gateway` and wires its handlers to the
routes; the behaviour is described in :mod:`routerlab.serve.app`. Imported only once the ``serve``
extra is known to be installed (it imports starlette).
"""

# no "from __future__ import annotations": kept alike with app.py, whose handlers FastAPI inspects
import asyncio
import datetime
import json
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from routerlab.collect.transport import ResponseRejected, TransportError
from routerlab.serve.auth import ClientKeys
from routerlab.serve.batching import DecisionBatcher
from routerlab.serve.explore import Explorer
from routerlab.serve.log import DecisionLog, UnknownRequestError
from routerlab.serve.metrics import GatewayMetrics
from routerlab.serve.policy import GatewayError, request_policy
from routerlab.serve.pool import Pool
from routerlab.serve.routing import RequestRouter, query_text
from routerlab.serve.upstreams import Attempt, Upstreams
from routerlab.serve.usage import SSEUsage, usage_counts, usage_of

__all__ = ["Gateway", "GatewaySettings", "error_response"]

logger = logging.getLogger(__name__)


def error_response(exc: GatewayError) -> Response:
    """The OpenAI-format error answer of ``exc``."""
    return JSONResponse(exc.body(), status_code=exc.status)


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """The per-request settings of a gateway (create_app's arguments)."""

    default_lambda: float
    deadline_s: float
    log_queries: bool
    max_body_bytes: int


def _parse_chat(raw: bytes) -> dict[str, Any]:
    body = _json_object(raw)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise GatewayError(400, "'messages' must be a non-empty list.", param="messages", code="invalid_messages")
    return body


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise GatewayError(400, "The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


class _FinishingStream(StreamingResponse):
    """A StreamingResponse that runs ``finish`` (idempotent) once it is over, even when its body never started.

    The body's own ``finally`` finishes a stream that ran; a generator never started (the client left
    before its first chunk was asked for) does not run its ``finally``, so this one does.
    """

    def __init__(self, content: AsyncIterator[bytes], finish: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._finish()


class Gateway:
    """One gateway's state and handlers (see :mod:`routerlab.serve.app`)."""

    def __init__(
        self,
        *,
        router: RequestRouter,
        pool: Pool,
        upstreams: Upstreams,
        metrics: GatewayMetrics,
        store: DecisionLog | None,
        explorer: Explorer,
        client_keys: ClientKeys,
        settings: GatewaySettings,
    ) -> None:
        self.router = router
        self.pool = pool
        self.upstreams = upstreams
        self.metrics = metrics
        self.store = store
        self.explorer = explorer
        self.client_keys = client_keys
        self.settings = settings
        #: concurrent requests' decisions are made together, in one encoder and router call
        self.batcher = DecisionBatcher(router)

    # ------------------------------------------------------------------ shared
    async def read_body(self, request: Request) -> bytes:
        """The body, or a 413 GatewayError as soon as it is known to exceed ``max_body_bytes``."""
        limit = self.settings.max_body_bytes
        too_large = GatewayError(
            413, f"The request body is larger than this gateway's limit of {limit} bytes.", code="body_too_large"
        )
        length = request.headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            raise too_large
        parts: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            parts.append(chunk)
        return b"".join(parts)

    def authorize(self, request: Request) -> None:
        """A 401 GatewayError unless the request carries an accepted client key (when keys are set)."""
        self.client_keys.check(request.headers.get("authorization"))

    async def _write(self, record: dict[str, Any]) -> None:
        if self.store is not None:
            try:
                await asyncio.to_thread(self.store.write, record)
            except Exception as exc:  # the log never takes the gateway down (module doc of routerlab.serve.log)
                logger.error("could not write request %s to the decision log: %s", record["request_id"], exc)

    async def _finish(self, record: dict[str, Any], started: float) -> None:
        """A chat request is over: its latency, metrics and log record (once)."""
        if record.get("_finished"):
            return
        record["_finished"] = True
        record["latency_ms"] = (time.monotonic() - started) * 1000.0
        self.metrics.request(status=record["status"], policy=record.get("policy"), latency_s=record["latency_ms"] / 1e3)
        self.metrics.in_flight.dec()
        attempts = record.get("attempts") or []
        self.metrics.attempts(attempts, answered_by=record.get("answered_by"))
        if record.get("answered_by") is not None:
            self.metrics.cost_usd(record["answered_by"], record.get("cost_usd"))
        await self._write(record)

    async def _commit(self, record: dict[str, Any], response: Response, started: float) -> Response:
        record["status"] = response.status_code
        response.headers["x-request-id"] = record["request_id"]
        await self._finish(record, started)
        return response

    # ------------------------------------------------------------------ chat
    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``."""
        started = time.monotonic()
        self.metrics.in_flight.inc()
        record: dict[str, Any] = {
            "request_id": uuid.uuid4().hex,
            "ts": _now(),
            "router": self.router.label,
            "encoder": self.router.encoder,
            "worker": str(os.getpid()),
        }
        try:
            return await self._chat(request, record, started)
        except BaseException as exc:
            if "status" not in record:  # not answered: still counted and logged once
                if isinstance(exc, asyncio.CancelledError):
                    record.update(status=499, error_code="client_disconnected")
                else:
                    record.update(status=500, error_code="internal_error")
            with anyio.CancelScope(shield=True):
                await self._finish(record, started)
            raise

    async def _decide(self, body: dict[str, Any], record: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        """The models to try, in order, and the response headers of the decision; a GatewayError for a bad request."""
        requested = body.get("model")
        record["requested_model"] = requested if isinstance(requested, str) else None
        target = request_policy(body, self.pool, self.settings.default_lambda)
        body.pop("routing", None)  # a gateway field: never forwarded
        text = query_text(body["messages"])
        if self.settings.log_queries:
            record["query"] = text
        if isinstance(target, str):
            record.update(policy="model", chosen=target)
            return [target], {"x-routerlab-policy": "model"}
        if text is None:
            raise GatewayError(
                400, "Routing needs a user message with text content.", param="messages", code="no_user_message"
            )
        ranking, scores = await self.batcher.rank(text, target)
        choice = self.explorer.choose(ranking)
        record.update(
            policy=target.label,
            lam=None if target.budget is not None else target.lam,
            budget=target.budget,
            scores=scores,
            chosen=choice.chosen,
            greedy=choice.greedy,
            epsilon=choice.epsilon,
            propensity=choice.propensity,
        )
        self.metrics.decisions.labels(model=choice.chosen).inc()
        headers = {"x-routerlab-policy": target.label, "x-routerlab-explored": "true" if choice.explored else "false"}
        return choice.order(ranking), headers

    async def _chat(self, request: Request, record: dict[str, Any], started: float) -> Response:
        try:
            self.authorize(request)
            body = _parse_chat(await self.read_body(request))
            candidates, headers = await self._decide(body, record)
        except GatewayError as exc:
            record["error_code"] = exc.code
            return await self._commit(record, error_response(exc), started)
        attempts: list[dict[str, Any]] = []
        record["attempts"] = attempts
        streaming = bool(body.get("stream"))
        deadline = self.settings.deadline_s
        for name in candidates:
            left = deadline - (time.monotonic() - started)
            if left <= 0:
                break
            attempt = await self.upstreams.attempt(name, body, left_s=left, stream=streaming)
            attempts.append(attempt.entry)
            if attempt.answered:
                logger.info(
                    "%s -> %s (%s, %d) in %.3fs",
                    record["policy"],
                    name,
                    attempt.entry["status"],
                    len(attempts),
                    time.monotonic() - started,
                )
                record["answered_by"] = name
                headers["x-routerlab-model"] = name
                if attempt.chunks is not None:
                    return self._stream(name, attempt, record, headers, started)
                return await self._commit(record, self._answer(name, attempt, record, headers), started)
        return await self._commit(record, self._unavailable(candidates, attempts, record, headers), started)

    def _answer(self, name: str, attempt: Attempt, record: dict[str, Any], headers: dict[str, str]) -> Response:
        status = attempt.status
        assert status is not None
        prompt, completion = usage_of(attempt.content)
        record.update(prompt_tokens=prompt, completion_tokens=completion)
        if prompt is not None and completion is not None and status < 400:
            record["cost_usd"] = self.pool.endpoint(name).cost_usd(prompt, completion)
        if status >= 400:
            record["error_code"] = "upstream_error"
        # the decoded body: the upstream's Content-Encoding is not passed on
        media = attempt.headers.get("content-type", "application/json")
        return Response(content=attempt.content, status_code=status, media_type=media, headers=headers)

    def _unavailable(
        self, candidates: list[str], attempts: list[dict[str, Any]], record: dict[str, Any], headers: dict[str, str]
    ) -> Response:
        tried = [a["model"] for a in attempts]
        if len(attempts) == len(candidates) and all(a["error"] == "circuit_open" for a in attempts):
            code = "no_healthy_upstream"
            message = (
                f"No healthy upstream: the circuit of every candidate model {tried} is open after repeated "
                f"failures; none was called. Each is probed again {self.upstreams.cooldown_s:g} s after it "
                "opened. Retry later."
            )
        else:
            code = "upstreams_unavailable"
            message = (
                f"No upstream answered (tried {tried} within {self.settings.deadline_s:g} s): each failed, timed "
                "out, was rate-limited, had its circuit open or no free concurrency slot. Retry later."
            )
        record["error_code"] = code
        response = error_response(GatewayError(503, message, kind="server_error", code=code))
        response.headers.update({k: v for k, v in headers.items() if k != "x-routerlab-model"})
        return response

    def _stream(
        self, name: str, attempt: Attempt, record: dict[str, Any], headers: dict[str, str], started: float
    ) -> Response:
        status, chunks, first = attempt.status, attempt.chunks, attempt.first
        assert status is not None and chunks is not None
        record["status"] = status
        record["error_code"] = "client_disconnected"  # until the stream is seen through
        usage = SSEUsage()
        finished = False

        async def finish() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            await attempt.aclose()
            usage.close()
            prompt, completion = usage_counts(usage.usage)
            record.update(prompt_tokens=prompt, completion_tokens=completion)
            if prompt is not None and completion is not None:
                record["cost_usd"] = self.pool.endpoint(name).cost_usd(prompt, completion)
            await self._finish(record, started)

        async def relay() -> AsyncIterator[bytes]:
            try:
                if first is not None:
                    usage.feed(first)
                    yield first
                    async for chunk in chunks:
                        usage.feed(chunk)
                        yield chunk
                record["error_code"] = None
            except (TransportError, ResponseRejected, TimeoutError) as exc:
                # an over-long stream (ResponseRejected) ends here too: the cap counts the whole stream
                reason = "timeout" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
                logger.warning("upstream %s failed mid-stream (%s); ending the stream", name, reason)
                record["error_code"] = "stream_interrupted"
            finally:  # before the stream's last message: the record is committed before the answer ends
                with anyio.CancelScope(shield=True):
                    await finish()

        headers = {**headers, "x-request-id": record["request_id"], "cache-control": "no-cache"}
        media = attempt.headers.get("content-type", "text/event-stream")
        return _FinishingStream(relay(), finish, status_code=status, media_type=media, headers=headers)

    # ------------------------------------------------------------------ feedback
    async def feedback(self, request: Request) -> Response:
        """``POST /v1/feedback``: ``{"request_id", "score"}`` stored in the decision log."""
        try:
            self.authorize(request)
            if self.store is None:
                raise GatewayError(
                    409,
                    "This gateway keeps no decision log, so feedback has nowhere to go: start it with --log PATH "
                    "(and without --no-log).",
                    code="no_decision_log",
                )
            body = _json_object(await self.read_body(request))
            request_id, score = _feedback_fields(body)
            try:
                updates = await asyncio.to_thread(self.store.feedback, request_id, score, ts=_now())
            except UnknownRequestError:
                raise GatewayError(
                    404,
                    f"No request {request_id!r} in the decision log: send the x-request-id of an answer of this "
                    "gateway.",
                    param="request_id",
                    code="request_not_found",
                ) from None
        except GatewayError as exc:
            return error_response(exc)
        return JSONResponse({"request_id": request_id, "score": score, "updates": updates})


def _feedback_fields(body: dict[str, Any]) -> tuple[str, float]:
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise GatewayError(
            400,
            f"'request_id' must be a non-empty string (the x-request-id of an answer); got {request_id!r}.",
            param="request_id",
            code="invalid_request_id",
        )
    score = body.get("score")
    if (
        isinstance(score, bool)
        or not isinstance(score, int | float)
        or not math.isfinite(score)
        or not 0.0 <= score <= 1.0
    ):
        raise GatewayError(
            400, f"'score' must be a number in [0, 1]; got {score!r}.", param="score", code="invalid_score"
        )
    return request_id, float(score)
