"""``routerlab serve``: an OpenAI-compatible gateway that routes each request with a saved router.

:func:`load_pool` reads the upstream endpoints, :func:`create_app` builds the FastAPI app
(:mod:`routerlab.serve.app`, whose doc lists every endpoint and behaviour); the CLI command runs it
with uvicorn (``--workers N``: :mod:`routerlab.serve.workers`). Needs the ``serve`` extra
(``pip install 'routerlab[serve]'``).
"""

from routerlab.serve.app import GatewayError, create_app, parse_model
from routerlab.serve.breaker import BreakerState, CircuitBreaker
from routerlab.serve.explore import Explorer, propensity
from routerlab.serve.log import DecisionLog, read_log
from routerlab.serve.pool import Pool, PoolConfig, load_pool
from routerlab.serve.routing import PolicySpec, RequestRouter, query_text

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "DecisionLog",
    "Explorer",
    "GatewayError",
    "PolicySpec",
    "Pool",
    "PoolConfig",
    "RequestRouter",
    "create_app",
    "load_pool",
    "parse_model",
    "propensity",
    "query_text",
    "read_log",
]
