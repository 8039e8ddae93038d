"""``routerlab serve ROUTER_DIR --pool pool.yaml``: run the routing gateway (:mod:`routerlab.serve`) with uvicorn.

Register it on the main app with ``app.command("serve")(serve_cmd)``. Errors raised on purpose
(a pool that is not the router's, a missing API key variable, the ``serve`` extra not installed)
are one red line and exit 2, as in :mod:`routerlab.cli.main`.
"""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from routerlab.cli._common import _friendly_errors, err_console

__all__ = ["serve_cmd", "serve_log_cmd"]

_EXTRA = "routerlab serve needs fastapi, uvicorn, httpx and prometheus-client: pip install 'routerlab[serve]' ({exc})"


@_friendly_errors
def serve_cmd(
    router_dir: Annotated[Path, typer.Argument(help="A saved router folder (router.save(dir)).")],
    pool: Annotated[Path, typer.Option("--pool", help="YAML file: 'endpoints', the router's models' endpoints.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    lam: Annotated[
        float, typer.Option("--lambda", min=0.0, max=1.0, help="Default cost weight for model 'router' (0 = quality).")
    ] = 0.0,
    deadline: Annotated[
        float, typer.Option("--deadline", min=0.001, help="Seconds one request may take, fallbacks included.")
    ] = 120.0,
    log: Annotated[
        Path,
        typer.Option("--log", help="SQLite decision log: one record per chat request (see routerlab serve-log)."),
    ] = Path("routerlab-serve.sqlite"),
    no_log: Annotated[bool, typer.Option("--no-log", help="Write no decision log.")] = False,
    log_queries: Annotated[
        bool, typer.Option("--log-queries", help="Also record each request's query text in the log.")
    ] = False,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Largest request body accepted; larger ones get a 413.")
    ] = 1_000_000,
    max_response_bytes: Annotated[
        int,
        typer.Option(
            "--max-response-bytes",
            min=1,
            help="Largest upstream answer read (wire and decompressed); a larger one is that upstream's failure.",
        ),
    ] = 16_000_000,
    breaker_failures: Annotated[
        int, typer.Option("--breaker-failures", min=1, help="Consecutive failures that open an upstream's circuit.")
    ] = 5,
    breaker_cooldown: Annotated[
        float,
        typer.Option("--breaker-cooldown", min=0.0, help="Seconds an open circuit waits before one probe request."),
    ] = 30.0,
    explore: Annotated[
        float,
        typer.Option(
            "--explore", min=0.0, max=1.0, help="ε: share of routed requests whose first model is drawn uniformly."
        ),
    ] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Seed of the exploration draws.")] = None,
    client_keys_env: Annotated[
        str | None,
        typer.Option(
            "--client-keys-env", help="Environment variable holding the accepted client keys, comma-separated."
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="uvicorn worker processes.")] = 1,
    access_log: Annotated[
        bool,
        typer.Option("--access-log", help="uvicorn's access-log line per request (the decision log has them all)."),
    ] = False,
) -> None:
    """Serve an OpenAI-compatible /v1/chat/completions that routes each request to a pool model.

    Send model "router" (default policy), "router:lambda=0.3", "router:budget=0.002" (or a "routing"
    object in the body), or a pool model's name to skip routing. Answers carry the x-routerlab-model and
    x-routerlab-policy headers. "stream": true is passed through as server-sent events. POST /v1/feedback
    scores a logged request. GET /healthz is liveness, GET /readyz readiness, GET /metrics Prometheus.
    SIGTERM drains: in-flight requests finish (up to --deadline seconds), then the process exits 0.
    """
    from routerlab._optional import optional_dependency

    with optional_dependency(_EXTRA):
        import fastapi  # noqa: F401
        import httpx  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn
    from routerlab.serve import create_app, load_pool
    from routerlab.serve.auth import keys_from_env

    keys = keys_from_env(client_keys_env) if client_keys_env else None
    options: dict[str, Any] = {
        "default_lambda": lam,
        "deadline_s": deadline,
        "log": None if no_log else str(log),
        "log_queries": log_queries,
        "max_body_bytes": max_body_bytes,
        "max_response_bytes": max_response_bytes,
        "breaker_failures": breaker_failures,
        "breaker_cooldown_s": breaker_cooldown,
        "explore": explore,
        "seed": seed,
    }
    where = "no decision log" if no_log else f"decision log {log}"
    drain = math.ceil(deadline)  # SIGTERM: in-flight requests get their whole deadline to finish
    if workers == 1:
        app = create_app(router_dir, load_pool(pool), client_keys=keys, **options)
        err_console.print(f"routerlab gateway on http://{host}:{port}/v1 (router {router_dir}; {where})")
        # uvicorn re-raises the SIGTERM it drained on; with this handler the process then exits 0, not -15
        signal.signal(signal.SIGTERM, _drained)
        uvicorn.run(app, host=host, port=port, **_uvicorn_options(drain, access_log))
        return
    _serve_workers(
        router_dir, pool, workers, host, port, client_keys_env, options, where, _uvicorn_options(drain, access_log)
    )


#: seconds an idle client connection is kept open (uvicorn's default, 5 s, closes connections that clients
#: such as httpx, with 5 s of idle expiry, may reuse at that very moment: a ReadError on their side)
KEEP_ALIVE_S = 75


def _uvicorn_options(drain: int, access_log: bool) -> dict[str, Any]:
    """uvicorn.run's settings: httptools and uvloop when installed (uvicorn's "auto"), the access log off by default."""
    return {
        "log_level": "info",
        "access_log": access_log,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "timeout_graceful_shutdown": drain,
    }


def _drained(signum: int, frame: object) -> None:
    err_console.print("routerlab gateway: drained and stopped")


def _serve_workers(
    router_dir: Path,
    pool_file: Path,
    workers: int,
    host: str,
    port: int,
    client_keys_env: str | None,
    options: dict[str, Any],
    where: str,
    server_options: dict[str, Any],
) -> None:
    """Run ``workers`` uvicorn processes (routerlab.serve.workers); what is checkable is checked here first."""
    import tempfile

    import uvicorn

    from routerlab.routers.persist import read_manifest
    from routerlab.serve import load_pool
    from routerlab.serve.metrics import MULTIPROC_ENV
    from routerlab.serve.workers import CONFIG_ENV, config_json

    pool = load_pool(pool_file)
    pool.check_matches(read_manifest(router_dir)["models"], router=str(router_dir))
    pool.api_keys()  # a missing key variable is one clear error here, not a traceback in every worker
    # a fresh folder: prometheus_client's multiprocess files of an earlier run must not be summed in
    os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="routerlab-metrics-")
    os.environ[CONFIG_ENV] = config_json(str(router_dir), pool, client_keys_env=client_keys_env, **options)
    err_console.print(
        f"routerlab gateway on http://{host}:{port}/v1 with {workers} workers (router {router_dir}; {where})"
    )
    config = uvicorn.Config(
        "routerlab.serve.workers:app_from_env", factory=True, workers=workers, host=host, port=port, **server_options
    )
    _run_workers(config)


def _run_workers(config: Any) -> None:
    """What ``uvicorn.run(..., workers=N)`` does, with TCP_NODELAY on the shared listening socket.

    uvicorn binds that socket as ``socket.socket(AF_INET)``, whose ``proto`` is 0, so asyncio's
    transports skip TCP_NODELAY on the accepted connections (``base_events._set_nodelay`` wants
    ``proto == IPPROTO_TCP``; a single worker's socket comes from getaddrinfo and has it). Without
    it Nagle holds the answer's body until the client's delayed ACK of its head: ~40 ms per request
    with ``--workers 2`` at concurrency 1 (52 ms p50 against 5.9 ms with one worker). Linux copies
    TCP_NODELAY from the listening socket to the sockets it accepts.
    """
    import inspect
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if "target" in inspect.signature(Multiprocess).parameters:  # older uvicorn: the worker's entry point too
        Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()  # type: ignore[call-arg]
    else:
        Multiprocess(config, sockets=[sock]).run()


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _failed_attempts(record: dict[str, Any]) -> str:
    """The attempts before the answer, ``model:status`` or ``model:error`` (``-`` when the first one answered)."""
    failed = [a for a in record["attempts"] or [] if a["model"] != record["answered_by"] or a["status"] is None]
    return ", ".join(f"{a['model']}:{a['status'] or a['error']}" for a in failed) or "-"


@_friendly_errors
def serve_log_cmd(
    path: Annotated[Path, typer.Argument(help="The gateway's decision log (routerlab serve --log PATH).")],
    last: Annotated[int, typer.Option("--last", min=1, help="Show the last N requests.")] = 20,
) -> None:
    """Print the last requests of a gateway decision log: policy, choice, fallbacks, status, cost, feedback."""
    from rich.table import Table

    from routerlab.cli._common import console
    from routerlab.serve.log import read_log

    records = read_log(path, last=last)
    days = sorted({r["ts"][:10] for r in records})
    span = f" ({days[0]}{' to ' + days[-1] if len(days) > 1 else ''}, UTC)" if days else ""
    table = Table(title=f"last {len(records)} requests of {path.name}{span}")
    for column in ("time", "request", "policy", "model (chosen → answered)", "failed before"):
        table.add_column(column, no_wrap=column in ("time", "request"), overflow="fold")
    for column in ("status", "ms", "tokens", "cost $", "feedback"):
        table.add_column(column, justify="right", overflow="fold")
    explored = False
    for r in records:
        tokens = "-" if r["prompt_tokens"] is None else f"{r['prompt_tokens']}+{r['completion_tokens']}"
        status = str(r["status"]) + (f" {r['error_code']}" if r["error_code"] else "")
        model = _cell(r["chosen"])
        if r["greedy"] is not None and r["chosen"] != r["greedy"]:
            model += " *"
            explored = True
        if r["answered_by"] != r["chosen"]:
            model += f" → {_cell(r['answered_by'])}"
        table.add_row(
            r["ts"][11:19] if len(days) == 1 else r["ts"][:19],
            r["request_id"][:8],
            _cell(r["policy"] or r["requested_model"]),
            model,
            _failed_attempts(r),
            status,
            f"{r['latency_ms']:.0f}",
            tokens,
            _cell(r["cost_usd"]),
            _cell(r["feedback"]),
        )
    console.print(table)
    if explored:
        console.print("* explored: the ε-draw chose another model than the router's first (routerlab serve --explore)")
