"""Running the gateway in several uvicorn worker processes: the app factory and its settings.

uvicorn's ``--workers N`` starts N processes that each import the app from an import string, so
the app's arguments cannot be passed as Python objects. ``routerlab serve --workers N`` writes
them, as JSON, to the environment variable :data:`CONFIG_ENV` (inherited by the workers) and runs
uvicorn's multi-process supervisor on ``"routerlab.serve.workers:app_from_env"`` (``factory=True``)
over one listening socket with ``TCP_NODELAY`` set (``routerlab.cli.serve``: without it Nagle's
algorithm delays each small answer by a delayed-ACK interval, ~40 ms); each worker calls
:func:`app_from_env`, which reads the JSON back and calls :func:`routerlab.serve.create_app`.

The JSON holds no secret: the pool's endpoints (each key is named by ``api_key_env``, read by the
worker from its environment) and, for client keys, only the *name* of the variable that holds them
(``client_keys_env``). Keys: ``router_dir``, ``endpoints`` (the pool, as
:class:`~routerlab.collect.config.EndpointConfig` dicts), and create_app's keyword arguments
``default_lambda``, ``deadline_s``, ``log``, ``log_queries``, ``max_body_bytes``,
``max_response_bytes``, ``breaker_failures``, ``breaker_cooldown_s``, ``explore``, ``seed``, plus ``client_keys_env``.

Per-process state (documented where it lives): circuit breakers (:mod:`.breaker`), concurrency
slots (:mod:`.upstreams`), the exploration stream (:mod:`.explore`: a given ``seed`` is mixed with
the worker's process id, so workers do not draw the same numbers). Shared: the decision log (one
SQLite file, :mod:`.log`) and the metrics (prometheus_client multiprocess mode, :mod:`.metrics`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from routerlab.collect.config import EndpointConfig
from routerlab.serve.pool import Pool

__all__ = ["CONFIG_ENV", "app_from_env", "config_json"]

#: the environment variable holding the gateway's settings for :func:`app_from_env`
CONFIG_ENV = "ROUTERLAB_SERVE_CONFIG"


def config_json(router_dir: str, pool: Pool, *, client_keys_env: str | None, **options: Any) -> str:
    """The JSON :func:`app_from_env` reads: ``router_dir``, the pool, ``client_keys_env`` and create_app's options."""
    endpoints = [e.model_dump(mode="json") for e in pool.endpoints]
    return json.dumps({"router_dir": router_dir, "endpoints": endpoints, "client_keys_env": client_keys_env, **options})


def app_from_env() -> Any:
    """The gateway app of a worker process, from the JSON in :data:`CONFIG_ENV` (see the module doc)."""
    from routerlab.serve.app import create_app
    from routerlab.serve.auth import keys_from_env

    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise RuntimeError(f"{CONFIG_ENV} is not set: start the workers with routerlab serve --workers N.")
    settings: dict[str, Any] = json.loads(raw)
    router_dir = settings.pop("router_dir")
    pool = Pool.of([EndpointConfig.model_validate(e) for e in settings.pop("endpoints")])
    keys_env = settings.pop("client_keys_env", None)
    seed = settings.pop("seed", None)
    return create_app(
        router_dir,
        pool,
        client_keys=keys_from_env(keys_env) if keys_env else None,
        seed=None if seed is None else np.random.default_rng([int(seed), os.getpid()]),
        **settings,
    )
