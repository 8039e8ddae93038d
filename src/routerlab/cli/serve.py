"""``routerlab serve ROUTER_DIR --pool pool.yaml``: run the routing gateway (:mod:`routerlab.serve`) with uvicorn.

Register it on the main app with ``app.command("serve")(serve_cmd)``. Errors raised on purpose
(a pool that is not the router's, a missing API key variable, the ``serve`` extra not installed)
are one red line and exit 2, as in :mod:`routerlab.cli.main`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from routerlab.cli._common import _friendly_errors, err_console

__all__ = ["serve_cmd"]

_EXTRA = "routerlab serve needs fastapi, uvicorn and httpx: pip install 'routerlab[serve]' ({exc})"


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
) -> None:
    """Serve an OpenAI-compatible /v1/chat/completions that routes each request to a pool model.

    Send model "router" (default policy), "router:lambda=0.3", "router:budget=0.002", or a pool
    model's name to skip routing. Answers carry the x-routerlab-model and x-routerlab-policy headers.
    """
    from routerlab._optional import optional_dependency

    with optional_dependency(_EXTRA):
        import fastapi  # noqa: F401
        import httpx  # noqa: F401
        import uvicorn
    from routerlab.serve import create_app, load_pool

    app = create_app(router_dir, load_pool(pool), default_lambda=lam, deadline_s=deadline)
    err_console.print(f"routerlab gateway on http://{host}:{port}/v1 (router {router_dir})")
    uvicorn.run(app, host=host, port=port, log_level="info")
