"""The routing gateway: an OpenAI-compatible HTTP server that picks a pool model per request.

``create_app(router_dir, pool)`` returns a FastAPI app with

* ``POST /v1/chat/completions``: ``model`` is ``"router"`` (the default policy, a
  cost weight ``default_lambda``), ``"router:lambda=0.3"`` (cost-utility at λ = 0.3),
  ``"router:budget=0.002"`` (best estimated quality within a per-query cost budget, in the router's
  cost unit), or a pool model's own name (no routing, no fallback). The chosen model's request is
  the client's body with ``model`` set to the upstream's model id (and the endpoint's
  ``extra_body`` merged in); its JSON answer comes back unchanged, with the headers
  ``x-routerlab-model`` (the pool model that answered) and ``x-routerlab-policy``
  (``lambda=0.3``, ``budget=0.002`` or ``model``).
* **Fallback.** An upstream answering 429 or 5xx, timing out or refusing the connection is skipped
  for the next model of the router's ranking (:mod:`routerlab.serve.routing`), all within one
  deadline (``deadline_s``); when none answers, one 503 in the OpenAI error format. An upstream's
  other 4xx (the client's request is at fault) is passed back as is.
* **Decision log** (:mod:`routerlab.serve.log`): with ``log=PATH`` every chat request, malformed
  ones included (their status and error code), appends one SQLite record, committed before the
  response is returned; every chat response carries ``x-request-id``, the record's key. The query
  text is recorded only with ``log_queries=True``. ``log=None`` (the default here; the CLI's default
  is ``routerlab-serve.sqlite``) logs nothing.
* **Streaming.** A request with ``"stream": true`` is forwarded with ``stream: true`` and the
  upstream's ``text/event-stream`` bytes are passed through unchanged (same headers as above).
  Fallback applies only before the first byte reaches the client: a 429/5xx, a timeout or a
  connection error while opening the upstream stream (its status line and first chunk) moves to the
  next model. Once bytes have been sent, an upstream failure ends the stream (the client sees a
  truncated stream, without ``data: [DONE]``); the gateway cannot switch model mid-answer. The
  deadline covers opening the stream; after that each read waits at most the endpoint's timeout.
  The decision log record is written when the stream ends (status, model, latency, and tokens and
  cost when an event carries ``usage``, e.g. with ``stream_options: {"include_usage": true}``);
  ``error_code`` is ``stream_interrupted`` when the upstream failed mid-stream and
  ``client_disconnected`` when the client went away.
* **Body limit.** A request body over ``max_body_bytes`` (default 1 MB) gets a 413 in the OpenAI
  error format (code ``body_too_large``), judged by ``Content-Length`` or, for a chunked body, while
  reading it: the body is never read whole.
* ``GET /v1/models`` lists ``router`` and the pool; ``GET /healthz`` is a liveness check (the
  process answers; it says the router and pool); ``GET /readyz`` is 200 when the router is loaded
  and at least one upstream is configured, else 503.

Every malformed request (not JSON, not an object, no ``messages``, no user message, an unknown
model, λ outside [0, 1], a negative budget, an unknown policy key, a body over the limit) is a 4xx
with an OpenAI error body ``{"error": {"message", "type", "param", "code"}}``, never a 500. API keys are
read once at start from each endpoint's ``api_key_env`` and sent only as the upstream's
``Authorization`` header; they are never logged nor put in a response.
"""

# no "from __future__ import annotations": FastAPI reads the handlers' annotations (Request) at run time
import asyncio
import contextlib
import datetime
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from routerlab._optional import optional_dependency
from routerlab.routers.persist import load_router, read_manifest
from routerlab.serve.batching import DecisionBatcher
from routerlab.serve.log import DecisionLog
from routerlab.serve.pool import DEFAULT_TIMEOUT_S, Pool
from routerlab.serve.routing import PolicySpec, RequestRouter, query_text

logger = logging.getLogger(__name__)

__all__ = ["ROUTER_MODEL", "GatewayError", "create_app", "parse_model"]

#: the ``model`` a client sends to be routed
ROUTER_MODEL = "router"
#: the keys a ``router:KEY=VALUE`` model name may set
POLICY_KEYS = ("lambda", "budget")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class GatewayError(Exception):
    """A request the gateway refuses: an HTTP status and an OpenAI-format error body."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None, code: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        """``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def _number(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise GatewayError(
            400, f"router:{key}= needs a finite number; got {raw!r}.", param="model", code="invalid_policy"
        )
    return value


def parse_model(model: Any, pool: Pool, default_lambda: float) -> PolicySpec | str:
    """The request's policy (routed) or the pool model it names (passed through); a GatewayError otherwise."""
    if not isinstance(model, str) or not model:
        raise GatewayError(400, "'model' must be a non-empty string.", param="model", code="invalid_model")
    if model in pool.names:
        return model
    if model == ROUTER_MODEL:
        return PolicySpec(lam=default_lambda)
    if not model.startswith(ROUTER_MODEL + ":"):
        raise GatewayError(
            404,
            f"The model {model!r} does not exist here. Use {ROUTER_MODEL!r}, 'router:lambda=0.3', "
            f"'router:budget=0.002' or a pool model: {list(pool.names)}.",
            param="model",
            code="model_not_found",
        )
    key, sep, raw = model[len(ROUTER_MODEL) + 1 :].partition("=")
    if not sep or key not in POLICY_KEYS:
        raise GatewayError(
            400,
            f"Unknown routing policy {model[len(ROUTER_MODEL) + 1 :]!r}: write router:KEY=VALUE with KEY one of "
            f"{list(POLICY_KEYS)} (e.g. router:lambda=0.3).",
            param="model",
            code="invalid_policy",
        )
    value = _number(key, raw)
    if key == "lambda":
        if not 0.0 <= value <= 1.0:
            raise GatewayError(
                400,
                f"lambda must be in [0, 1] (0 = quality only, 1 = cost only); got {value:g}.",
                param="model",
                code="invalid_policy",
            )
        return PolicySpec(lam=value)
    if value < 0:
        raise GatewayError(
            400, f"budget must be >= 0 (a cost per query); got {value:g}.", param="model", code="invalid_policy"
        )
    return PolicySpec(budget=value)


def _parse_body(raw: bytes) -> dict[str, Any]:
    import json

    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise GatewayError(400, "The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise GatewayError(400, "'messages' must be a non-empty list.", param="messages", code="invalid_messages")
    return body


def _usage_counts(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    counts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
    p, c = (v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None for v in counts)
    return p, c


#: the longest SSE line the usage scanner keeps (longer lines are passed through, not parsed)
_MAX_SSE_LINE = 1_000_000


class _SSEUsage:
    """Scans a passing ``text/event-stream`` for the last ``data:`` event that carries ``usage``."""

    def __init__(self) -> None:
        self._partial = b""
        self.usage: Any = None

    def feed(self, chunk: bytes) -> None:
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > _MAX_SSE_LINE:
            self._partial = b""
        for line in lines:
            self._line(line)

    def close(self) -> None:
        self._line(self._partial)
        self._partial = b""

    def _line(self, line: bytes) -> None:
        import json

        line = line.rstrip(b"\r")
        if not line.startswith(b"data:") or b'"usage"' not in line:
            return
        try:
            event = json.loads(line[5:])
        except (ValueError, RecursionError):
            return
        if isinstance(event, dict) and isinstance(event.get("usage"), dict):
            self.usage = event["usage"]


def _usage(content: bytes) -> tuple[int | None, int | None]:
    """The upstream answer's ``usage`` token counts (None where absent or not an integer)."""
    import json

    try:
        usage = json.loads(content).get("usage")
    except (ValueError, RecursionError, AttributeError):
        return None, None
    return _usage_counts(usage)


def create_app(
    router_dir: str | os.PathLike[str],
    pool: Pool,
    *,
    default_lambda: float = 0.0,
    deadline_s: float = 120.0,
    log: str | os.PathLike[str] | None = None,
    log_queries: bool = False,
    max_body_bytes: int = 1_000_000,
) -> Any:
    """The gateway app over the saved router in ``router_dir`` and ``pool`` (see the module doc).

    The pool must hold exactly the router's models; every ``api_key_env`` must be set.
    """
    with optional_dependency("routerlab serve needs fastapi and httpx: pip install 'routerlab[serve]' ({exc})"):
        import anyio
        import httpx
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, Response, StreamingResponse
        from starlette.exceptions import HTTPException

    PolicySpec(lam=_check_lambda(default_lambda))
    if not (math.isfinite(deadline_s) and deadline_s > 0):
        raise ValueError(f"deadline_s must be a positive number of seconds; got {deadline_s}.")
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be a positive integer; got {max_body_bytes!r}.")
    folder = Path(router_dir)
    manifest = read_manifest(folder)
    pool.check_matches(manifest["models"], router=str(folder))
    router = RequestRouter(load_router(folder), cost_unit=manifest.get("cost_unit"))
    router.decide("warm-up")  # loads the encoder now, and a router that cannot decide from text fails at start
    batcher = DecisionBatcher(router)  # concurrent requests share one router call (routerlab.serve.batching)
    keys = pool.api_keys()
    store = DecisionLog(log) if log is not None else None
    logger.info("routing over %s with %s (default lambda=%g)", list(pool.names), router.label, default_lambda)

    clients: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        if "c" in clients:
            await clients.pop("c").aclose()
        if store is not None:
            store.close()

    app = FastAPI(title="routerlab gateway", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    def client() -> httpx.AsyncClient:
        if "c" not in clients:
            clients["c"] = httpx.AsyncClient(follow_redirects=False)
        return clients["c"]

    def error(exc: GatewayError) -> Response:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else "error"
        return error(GatewayError(exc.status_code, str(exc.detail), code=code))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "router": router.label, "models": list(pool.names)}

    @app.get("/readyz")
    async def readyz() -> Response:
        ready = router is not None and len(pool.names) > 0
        body = {"status": "ready" if ready else "not ready", "router": router.label, "upstreams": len(pool.names)}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        ids = [ROUTER_MODEL, *pool.names]
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "routerlab"} for m in ids],
        }

    def upstream_request(name: str, body: dict[str, Any], timeout: float) -> httpx.Request:
        endpoint = pool.endpoint(name)
        headers = {"content-type": "application/json"}
        key = keys[name]
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        payload = {**body, **endpoint.extra_body, "model": endpoint.model_id}
        return client().build_request(
            "POST", f"{endpoint.base_url}/chat/completions", json=payload, headers=headers, timeout=timeout
        )

    async def forward(name: str, body: dict[str, Any], timeout: float) -> httpx.Response:
        return await client().send(upstream_request(name, body, timeout))

    async def read_body(request: Request) -> bytes:
        """The body, or a 413 GatewayError as soon as it is known to exceed ``max_body_bytes``."""
        too_large = GatewayError(
            413,
            f"The request body is larger than this gateway's limit of {max_body_bytes} bytes.",
            code="body_too_large",
        )
        length = request.headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > max_body_bytes:
            raise too_large
        parts: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise too_large
            parts.append(chunk)
        return b"".join(parts)

    async def write(record: dict[str, Any]) -> None:
        if store is not None:
            try:
                await asyncio.to_thread(store.write, record)
            except Exception as exc:  # the log never takes the gateway down (module doc of routerlab.serve.log)
                logger.error("could not write request %s to the decision log: %s", record["request_id"], exc)

    async def commit(record: dict[str, Any], response: Response, started: float) -> Response:
        record["status"] = response.status_code
        record["latency_ms"] = (time.monotonic() - started) * 1000.0
        response.headers["x-request-id"] = record["request_id"]
        await write(record)
        return response

    async def open_stream(
        name: str, body: dict[str, Any], timeout: float
    ) -> tuple[httpx.Response, AsyncIterator[bytes] | None, bytes | None]:
        """The upstream's streamed response and, for a success, its chunks and first chunk (None: empty body).

        An error answer is read whole and closed (no chunks): it is retried or passed back like a non-streamed one.
        """
        upstream = await client().send(upstream_request(name, body, timeout), stream=True)
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

    def stream_response(
        name: str,
        upstream: httpx.Response,
        chunks: AsyncIterator[bytes],
        first: bytes | None,
        record: dict[str, Any],
        started: float,
    ) -> Response:
        record["status"] = upstream.status_code
        usage = _SSEUsage()

        async def relay() -> AsyncIterator[bytes]:
            outcome: str | None = "client_disconnected"
            try:
                if first is not None:
                    usage.feed(first)
                    yield first
                    async for chunk in chunks:
                        usage.feed(chunk)
                        yield chunk
                outcome = None
            except httpx.HTTPError as exc:
                logger.warning("upstream %s failed mid-stream (%s); ending the stream", name, type(exc).__name__)
                outcome = "stream_interrupted"
            finally:
                with anyio.CancelScope(shield=True):
                    await upstream.aclose()
                    usage.close()
                    prompt, completion = _usage_counts(usage.usage)
                    record.update(prompt_tokens=prompt, completion_tokens=completion, error_code=outcome)
                    if prompt is not None and completion is not None:
                        record["cost_usd"] = pool.endpoint(name).cost_usd(prompt, completion)
                    record["latency_ms"] = (time.monotonic() - started) * 1000.0
                    await write(record)

        headers = {
            "x-routerlab-model": name,
            "x-routerlab-policy": record["policy"],
            "x-request-id": record["request_id"],
            "cache-control": "no-cache",
        }
        media = upstream.headers.get("content-type", "text/event-stream")
        return StreamingResponse(relay(), status_code=upstream.status_code, media_type=media, headers=headers)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        started = time.monotonic()
        record: dict[str, Any] = {
            "request_id": uuid.uuid4().hex,
            "ts": datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds"),
            "router": router.label,
            "encoder": router.encoder,
        }
        try:
            body = _parse_body(await read_body(request))
            requested = body.get("model")
            record["requested_model"] = requested if isinstance(requested, str) else None
            target = parse_model(requested, pool, default_lambda)
            text = query_text(body["messages"])
            if log_queries:
                record["query"] = text
            if isinstance(target, str):
                candidates, policy = [target], "model"
            else:
                if text is None:
                    raise GatewayError(
                        400, "Routing needs a user message with text content.", param="messages", code="no_user_message"
                    )
                candidates, scores = await batcher.rank(text, target)
                policy = target.label
                record.update(lam=None if target.budget is not None else target.lam, budget=target.budget)
                record["scores"] = scores
        except GatewayError as exc:
            record["error_code"] = exc.code
            return await commit(record, error(exc), started)
        record["policy"] = policy
        record["chosen"] = candidates[0]
        attempts: list[dict[str, Any]] = []
        record["attempts"] = attempts
        tried: list[str] = []
        streaming = bool(body.get("stream"))
        for name in candidates:
            left = deadline_s - (time.monotonic() - started)
            if left <= 0:
                break
            timeout = min(pool.endpoint(name).timeout_s or DEFAULT_TIMEOUT_S, left)
            tried.append(name)
            first: bytes | None = None
            chunks: AsyncIterator[bytes] | None = None
            try:
                if streaming:
                    upstream, chunks, first = await open_stream(name, body, timeout)
                else:
                    upstream = await forward(name, body, timeout)
            except httpx.HTTPError as exc:
                logger.warning("upstream %s failed (%s); trying the next model", name, type(exc).__name__)
                attempts.append({"model": name, "status": None, "error": type(exc).__name__})
                continue
            attempts.append({"model": name, "status": upstream.status_code, "error": None})
            if upstream.status_code in _RETRY_STATUSES:
                logger.warning("upstream %s answered %d; trying the next model", name, upstream.status_code)
                continue
            logger.info(
                "%s -> %s (%s, %d) in %.3fs", policy, name, upstream.status_code, len(tried), time.monotonic() - started
            )
            record["answered_by"] = name
            if chunks is not None:
                return stream_response(name, upstream, chunks, first, record, started)
            prompt, completion = _usage(upstream.content)
            record.update(prompt_tokens=prompt, completion_tokens=completion)
            if prompt is not None and completion is not None and upstream.status_code < 400:
                record["cost_usd"] = pool.endpoint(name).cost_usd(prompt, completion)
            if upstream.status_code >= 400:
                record["error_code"] = "upstream_error"
            headers = {"x-routerlab-model": name, "x-routerlab-policy": policy}
            media = upstream.headers.get("content-type", "application/json")
            response = Response(
                content=upstream.content, status_code=upstream.status_code, media_type=media, headers=headers
            )
            return await commit(record, response, started)
        record["error_code"] = "upstreams_unavailable"
        failed = GatewayError(
            503,
            f"No upstream answered (tried {tried} within {deadline_s:g} s): each failed, timed out or was "
            "rate-limited. Retry later.",
            kind="server_error",
            code="upstreams_unavailable",
        )
        return await commit(record, error(failed), started)

    return app


def _check_lambda(lam: float) -> float:
    if not (math.isfinite(lam) and 0.0 <= lam <= 1.0):
        raise ValueError(f"default_lambda must be in [0, 1] (0 = quality only, 1 = cost only); got {lam}.")
    return lam
