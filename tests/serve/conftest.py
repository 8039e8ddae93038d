"""Fixtures of the gateway tests: a saved router, loopback upstreams, a gateway factory (see helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.helpers import MODELS, _data, gateways


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    from routerlab.routers import make_router
    from routerlab.routers.pipeline import FeatureRouter

    router = FeatureRouter(encoder="hashing", router=make_router("knn", k=3), cache=False).fit(_data())
    folder = tmp_path_factory.mktemp("router") / "saved"
    router.save(folder)
    return router, folder


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, str]]:
    """One healthy mock server per pool model, and one that answers every request with a 500."""
    from routerlab.collect.mock_server import FaultSchedule, serve_in_thread
    from routerlab.collect.mock_server import create_app as mock_app

    stops = []
    urls = {}
    for name in MODELS:
        url, stop = serve_in_thread(mock_app([f"{name}-id"]))
        urls[name], _ = url, stops.append(stop)
    url, stop = serve_in_thread(mock_app([f"{m}-id" for m in MODELS], faults=FaultSchedule(every_500=1)))
    urls["broken"], _ = url, stops.append(stop)
    yield urls
    for stop in stops:
        stop()


@pytest.fixture
def gateway(fitted: tuple[Any, Path], upstreams: dict[str, str]) -> Iterator[Any]:
    """``start(pool)`` serves the gateway over the saved router on loopback and returns an httpx client on it."""
    with gateways(fitted[1]) as start:
        yield start
