"""The routing gateway: an OpenAI-compatible HTTP server that picks a pool model per request.

``create_app(router_dir, pool, ...)`` returns a FastAPI app; the parts live in their own modules
(:mod:`.gateway` the request handling, :mod:`.policy` the policy, :mod:`.upstreams` the calls,
:mod:`.breaker`, :mod:`.explore`, :mod:`.metrics`, :mod:`.auth`, :mod:`.log`, :mod:`.workers`).

**Endpoints**

* ``POST /v1/chat/completions``: ``model`` is ``"router"`` (the default policy, a cost weight
  ``default_lambda``), ``"router:lambda=0.3"`` (cost-utility at λ = 0.3), ``"router:budget=0.002"``
  (best estimated quality within a per-query cost budget, in the router's cost unit), or a pool
  model's own name (no routing, no fallback). A ``routing`` object in the body sets the policy of a
  ``"router"`` request instead (``{"routing": {"lambda": 0.3}}`` or ``{"routing": {"budget":
  0.002}}``; :mod:`.policy`); it is removed from the body sent upstream. The chosen model's request
  is the client's body with ``model`` set to the upstream's model id (and the endpoint's
  ``extra_body`` merged in); its JSON answer comes back unchanged, with the headers
  ``x-routerlab-model`` (the pool model that answered), ``x-routerlab-policy`` (``lambda=0.3``,
  ``budget=0.002`` or ``model``), ``x-routerlab-explored`` (``true``/``false``, routed requests) and
  ``x-request-id``.
* ``POST /v1/feedback``: ``{"request_id": str, "score": number in [0, 1]}`` stores a score for a
  logged request (:meth:`.log.DecisionLog.feedback`, in a worker thread) and answers
  ``{"request_id", "score", "updates"}`` (``updates``: earlier scores it replaced). An unknown id is a
  404 ``request_not_found``; a bad field a 400 naming it; a gateway without a log a 409
  ``no_decision_log``.
* ``GET /v1/models`` lists ``router`` and the pool.
* ``GET /healthz`` is liveness (the process answers; it says the router, pool and its worker id); ``GET /readyz``
  is 200 when the router is loaded and at least one upstream is configured, else 503.
* ``GET /metrics``: Prometheus text format (:mod:`.metrics`: requests, decisions, answers,
  fallbacks, upstream errors, cost, latency histograms, breaker states, in-flight requests).

**Behaviour**

* **Fallback.** An upstream answering 429 or 5xx, timing out or refusing the connection is skipped
  for the next model of the router's ranking (:mod:`.routing`), all within one deadline
  (``deadline_s``); when none answers, one 503 in the OpenAI error format (``upstreams_unavailable``).
  An upstream's other 4xx (the client's request is at fault) is passed back as is.
* **Circuit breaker** per upstream (:mod:`.breaker`, per process): open after
  ``breaker_failures`` consecutive failures (default 5), for ``breaker_cooldown_s`` (default 30 s),
  then one probe request. An open upstream is skipped without being called (attempt error
  ``circuit_open``); when every candidate is open the request gets one 503 ``no_healthy_upstream``
  and nothing is called.
* **Concurrency.** Each endpoint's ``max_concurrency`` is a per-process limit (:mod:`.upstreams`):
  a request waits for a slot at most the endpoint's timeout and the rest of its deadline, then moves
  to the next model (attempt error ``concurrency_limit``).
* **Exploration** (:mod:`.explore`): with ``explore=ε`` the first model tried is drawn uniformly from
  the ranking with probability ε (``seed`` fixes the draws); the fallbacks follow the ranking. The
  log records ``greedy``, ``chosen``, ``epsilon`` and the exact ``propensity``.
* **Decision log** (:mod:`.log`): with ``log=PATH`` every chat request, malformed ones included
  (their status and error code), appends one SQLite record, committed before the response is
  returned, with the writing process's id (``worker``). The query text is recorded only with
  ``log_queries=True``. ``log=None`` (the default here; the CLI's default is
  ``routerlab-serve.sqlite``) logs nothing.
* **Streaming.** A request with ``"stream": true`` is forwarded with ``stream: true`` and the
  upstream's ``text/event-stream`` bytes are passed through unchanged (same headers as above).
  Fallback applies only before the first byte reaches the client: a 429/5xx, a timeout or a
  connection error while opening the upstream stream (its status line and first chunk) moves to the
  next model. Once bytes have been sent, an upstream failure ends the stream (the client sees a
  truncated stream, without ``data: [DONE]``); the gateway cannot switch model mid-answer. The
  deadline covers opening the stream; after that each read waits at most the endpoint's timeout.
  The record is written when the stream ends, before its last message (status, model, latency, and
  tokens and cost when an event carries ``usage``, e.g. with ``stream_options: {"include_usage":
  true}``); ``error_code`` is ``stream_interrupted`` when the upstream failed mid-stream and
  ``client_disconnected`` when the client went away. The endpoint's concurrency slot is held until
  the stream ends.
* **Body limit.** A request body over ``max_body_bytes`` (default 1 MB) gets a 413 in the OpenAI
  error format (code ``body_too_large``), judged by ``Content-Length`` or, for a chunked body, while
  reading it: the body is never read whole.
* **Upstream answers are data** (:mod:`.upstreams`): an answer is read over keep-alive
  connections within ``max_response_bytes`` (default 16 MB), counted on the wire and after
  decompression (a gzip bomb holds at most that much memory), with headers capped at 100 KiB; an
  answer over a limit is a failure of that upstream (attempt error ``response_too_large``, counted
  by its breaker) and the request falls back. A stream over the cap, counted over the whole
  stream, ends as ``stream_interrupted``. Token counts that are not integers in 0..10,000,000
  (``NaN``, ``Infinity``, floats, huge numbers) are logged as None, with no cost.
* **Client keys** (:mod:`.auth`): with ``client_keys``, ``/v1/*`` needs ``Authorization: Bearer
  <key>`` (constant-time comparison), else a 401 ``invalid_api_key``; ``/healthz``, ``/readyz`` and
  ``/metrics`` stay open.
* **Workers and shutdown.** ``routerlab serve --workers N`` runs N processes from the factory in
  :mod:`.workers`; the log file and the metrics are shared, breakers, slots and exploration draws
  are per process. On SIGTERM uvicorn stops accepting connections and waits up to the deadline for
  in-flight requests (each is answered and logged), then the process exits 0. ``/readyz`` cannot
  report the drain: uvicorn closes the listening socket and idle connections at once.

Every malformed request (not JSON, not an object, no ``messages``, no user message, an unknown
model, λ outside [0, 1], a negative budget, an unknown policy key, a bad ``routing`` object, a body
over the limit, a missing client key) is a 4xx with an OpenAI error body ``{"error": {"message",
"type", "param", "code"}}``, never a 500. Upstream API keys are read once at start from each
endpoint's ``api_key_env`` and sent only as the upstream's ``Authorization`` header; neither they nor
client keys are ever logged nor put in a response.
"""

# no "from __future__ import annotations": FastAPI reads the handlers' annotations (Request) at run time
import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from routerlab._optional import optional_dependency
from routerlab._random import Seed
from routerlab.routers.persist import load_router, read_manifest
from routerlab.serve.auth import ClientKeys
from routerlab.serve.breaker import DEFAULT_COOLDOWN_S, DEFAULT_FAILURES, check_settings
from routerlab.serve.explore import Explorer
from routerlab.serve.log import DecisionLog
from routerlab.serve.metrics import GatewayMetrics
from routerlab.serve.policy import POLICY_KEYS, ROUTER_MODEL, GatewayError, parse_model
from routerlab.serve.pool import Pool
from routerlab.serve.routing import PolicySpec, RequestRouter
from routerlab.serve.upstreams import DEFAULT_MAX_RESPONSE_BYTES, Upstreams

logger = logging.getLogger(__name__)

__all__ = ["POLICY_KEYS", "ROUTER_MODEL", "GatewayError", "create_app", "parse_model"]


def create_app(
    router_dir: str | os.PathLike[str],
    pool: Pool,
    *,
    default_lambda: float = 0.0,
    deadline_s: float = 120.0,
    log: str | os.PathLike[str] | None = None,
    log_queries: bool = False,
    max_body_bytes: int = 1_000_000,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    breaker_failures: int = DEFAULT_FAILURES,
    breaker_cooldown_s: float = DEFAULT_COOLDOWN_S,
    explore: float = 0.0,
    seed: Seed = None,
    client_keys: Sequence[str] | None = None,
) -> Any:
    """The gateway app over the saved router in ``router_dir`` and ``pool`` (see the module doc).

    The pool must hold exactly the router's models; every ``api_key_env`` must be set.
    """
    with optional_dependency(
        "routerlab serve needs fastapi, httpx and prometheus-client: pip install 'routerlab[serve]' ({exc})"
    ):
        import prometheus_client  # noqa: F401
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, Response
        from starlette.exceptions import HTTPException

        from routerlab.serve.gateway import Gateway, GatewaySettings, error_response

    _check_settings(default_lambda, deadline_s, max_body_bytes)
    _check_bytes("max_response_bytes", max_response_bytes)
    check_settings(breaker_failures, breaker_cooldown_s)
    explorer = Explorer(explore, seed=seed)
    keys = ClientKeys(client_keys)
    folder = Path(router_dir)
    manifest = read_manifest(folder)
    pool.check_matches(manifest["models"], router=str(folder))
    router = RequestRouter(load_router(folder), cost_unit=manifest.get("cost_unit"))
    router.decide("warm-up")  # loads the encoder now, and a router that cannot decide from text fails at start
    metrics = GatewayMetrics()
    upstreams = Upstreams(
        pool,
        pool.api_keys(),
        metrics,
        breaker_failures=breaker_failures,
        breaker_cooldown_s=breaker_cooldown_s,
        max_response_bytes=max_response_bytes,
    )
    store = DecisionLog(log) if log is not None else None
    gateway = Gateway(
        router=router,
        pool=pool,
        upstreams=upstreams,
        metrics=metrics,
        store=store,
        explorer=explorer,
        client_keys=keys,
        settings=GatewaySettings(default_lambda, deadline_s, log_queries, max_body_bytes),
    )
    logger.info(
        "routing over %s with %s (default lambda=%g, explore=%g)",
        list(pool.names),
        router.label,
        default_lambda,
        explore,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        await gateway.batcher.aclose()
        await upstreams.aclose()
        if store is not None:
            store.close()
        metrics.stop()

    app = FastAPI(title="routerlab gateway", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.gateway = gateway

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else "error"
        return error_response(GatewayError(exc.status_code, str(exc.detail), code=code))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        # ``worker``: the answering process, as in the decision log (several ``--workers`` share one port)
        return {"status": "ok", "router": router.label, "models": list(pool.names), "worker": str(os.getpid())}

    @app.get("/readyz")
    async def readyz() -> Response:
        ready = len(pool.names) > 0
        body = {"status": "ready" if ready else "not ready", "router": router.label, "upstreams": len(pool.names)}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def scrape() -> Response:
        upstreams.refresh_gauges()
        content, media = metrics.render()
        return Response(content=content, media_type=media)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        try:
            gateway.authorize(request)
        except GatewayError as exc:
            return error_response(exc)
        ids = [ROUTER_MODEL, *pool.names]
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "routerlab"} for m in ids]
        return JSONResponse({"object": "list", "data": data})

    @app.post("/v1/feedback")
    async def feedback(request: Request) -> Response:
        return await gateway.feedback(request)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await gateway.chat(request)

    return app


def _check_settings(default_lambda: float, deadline_s: float, max_body_bytes: int) -> None:
    if not (math.isfinite(default_lambda) and 0.0 <= default_lambda <= 1.0):
        raise ValueError(f"default_lambda must be in [0, 1] (0 = quality only, 1 = cost only); got {default_lambda}.")
    PolicySpec(lam=default_lambda)
    if not (math.isfinite(deadline_s) and deadline_s > 0):
        raise ValueError(f"deadline_s must be a positive number of seconds; got {deadline_s}.")
    _check_bytes("max_body_bytes", max_body_bytes)


def _check_bytes(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer (bytes); got {value!r}.")
