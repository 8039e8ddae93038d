"""What the gateway tests share: a tiny routing problem, the pool over loopback upstreams, a gateway factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.data.schema import ModelInfo, RoutingData

MODELS = ("small", "mid", "big")
COSTS = (1.0, 2.0, 5.0)
MATH = [f"compute the integral of x^{i} times sin x over zero to pi" for i in range(8)]
CHAT = [f"say hello to my friend number {i} in a cheerful tone" for i in range(8)]


def _data() -> RoutingData:
    """Math queries only ``big`` solves; chat queries every model solves."""
    texts = MATH + CHAT
    y = np.array([[0.0, 0.0, 1.0]] * len(MATH) + [[1.0, 1.0, 1.0]] * len(CHAT))
    n = len(texts)
    return RoutingData(
        name="tiny",
        query_ids=np.array([f"q{i}" for i in range(n)], dtype=object),
        sources=np.array(["s"] * n, dtype=object),
        splits=np.array(["train"] * n, dtype=object),
        models=tuple(ModelInfo(m) for m in MODELS),
        Y=y,
        cost=np.tile(np.array(COSTS), (n, 1)),
        cost_unit="usd",
        texts=np.array(texts, dtype=object),
    )


def _pool(urls: dict[str, str], broken: tuple[str, ...] = (), dead: tuple[str, ...] = ()) -> Any:
    from routerlab.collect.config import EndpointConfig
    from routerlab.serve import Pool

    endpoints = []
    for name, price in zip(MODELS, COSTS, strict=True):
        base = urls["broken"] if name in broken else urls[name]
        if name in dead:
            base = "http://127.0.0.1:9/v1"  # the discard port: connection refused
        endpoints.append(
            EndpointConfig(
                name=name, base_url=base, model=f"{name}-id", input_price_per_1m=price, output_price_per_1m=price
            )
        )
    return Pool.of(endpoints)


@contextmanager
def gateways(router_dir: Path) -> Iterator[Callable[..., Any]]:
    """``start(pool, **options)`` serves the gateway over ``router_dir`` on loopback and returns an httpx client."""
    import httpx

    from routerlab.collect.mock_server import serve_in_thread
    from routerlab.serve import create_app

    stops = []
    clients = []

    def start(pool: Any, **kwargs: Any) -> Any:
        url, stop = serve_in_thread(create_app(router_dir, pool, **kwargs))
        stops.append(stop)
        c = httpx.Client(base_url=url, timeout=30.0)
        clients.append(c)
        return c

    try:
        yield start
    finally:
        for c in clients:
            c.close()
        for stop in stops:
            stop()


def _ask(client: Any, model: str, text: str) -> Any:
    return client.post("/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]})


def free_port() -> int:
    """A free loopback TCP port (for a gateway started as a subprocess)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
