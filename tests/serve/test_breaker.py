"""The per-upstream circuit breaker: its state machine on a stepped clock, and through the gateway."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from routerlab.serve.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock, failures: int = 3, cooldown: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker("m", failures=failures, cooldown_s=cooldown, clock=clock)


def test_opens_after_n_consecutive_failures_and_a_success_resets_the_count() -> None:
    clock = Clock()
    b = _breaker(clock)
    for _ in range(2):
        assert b.allow()
        b.failure()
    b.success()  # resets: two more failures do not open it
    for _ in range(2):
        b.failure()
    assert b.state is BreakerState.CLOSED and b.allow()
    b.failure()  # the third in a row
    assert b.state is BreakerState.OPEN and not b.allow()


def test_open_for_the_cooldown_then_exactly_one_probe() -> None:
    clock = Clock()
    b = _breaker(clock, failures=1, cooldown=30.0)
    b.failure()
    clock.now += 29.999
    assert not b.allow() and b.state is BreakerState.OPEN
    clock.now += 0.001
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()  # the probe
    assert [b.allow() for _ in range(5)] == [False] * 5  # concurrent requests skip it while the probe is out
    assert b.state is BreakerState.HALF_OPEN
    b.success()
    assert b.state is BreakerState.CLOSED and all(b.allow() for _ in range(3))


def test_a_failed_probe_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    b = _breaker(clock, failures=2, cooldown=10.0)
    b.failure()
    b.failure()
    clock.now += 10.0
    assert b.allow()
    b.failure()  # one failed probe reopens it, not a fresh count of 2
    assert b.state is BreakerState.OPEN and not b.allow()
    clock.now += 9.0
    assert not b.allow()
    clock.now += 1.0
    assert b.allow() and not b.allow()


def test_an_abandoned_probe_goes_to_the_next_request() -> None:
    clock = Clock()
    b = _breaker(clock, failures=1, cooldown=1.0)
    b.failure()
    clock.now += 1.0
    assert b.allow() and not b.allow()
    b.abandon()  # the probe's request was cancelled: no verdict
    assert b.allow() and not b.allow()


@pytest.mark.parametrize(("failures", "cooldown"), [(0, 1.0), (True, 1.0), (2.5, 1.0), (1, -1.0), (1, float("nan"))])
def test_bad_settings_are_refused(failures: Any, cooldown: float) -> None:
    with pytest.raises(ValueError, match="breaker"):
        CircuitBreaker("m", failures=failures, cooldown_s=cooldown)


# ---------------------------------------------------------------------------------------------- gateway
pytest.importorskip("fastapi", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
pytest.importorskip("prometheus_client", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")

from tests.serve.helpers import COSTS, MATH, MODELS, _ask  # noqa: E402


@pytest.fixture
def servers() -> Iterator[dict[str, Any]]:
    """A mock app per model whose fault schedule the test changes while it runs."""
    from routerlab.collect.mock_server import create_app as mock_app
    from routerlab.collect.mock_server import serve_in_thread

    apps, stops = {}, []
    for name in MODELS:
        app = mock_app([f"{name}-id"])
        url, stop = serve_in_thread(app)
        app.state.url = url
        apps[name] = app
        stops.append(stop)
    yield apps
    for stop in stops:
        stop()


def _pool_of(servers: dict[str, Any]) -> Any:
    from routerlab.collect.config import EndpointConfig
    from routerlab.serve import Pool

    return Pool.of(
        [
            EndpointConfig(
                name=m, base_url=servers[m].state.url, model=f"{m}-id", input_price_per_1m=c, output_price_per_1m=c
            )
            for m, c in zip(MODELS, COSTS, strict=True)
        ]
    )


def _failing(app: Any) -> None:
    from routerlab.collect.mock_server import FaultSchedule

    app.state.faults = FaultSchedule(every_500=1)


def test_the_gateway_skips_an_open_upstream_then_probes_it(servers: Any, gateway: Any, tmp_path: Any) -> None:
    from routerlab.collect.mock_server import FaultSchedule
    from routerlab.serve import read_log

    _failing(servers["big"])
    log = tmp_path / "log.sqlite"
    client = gateway(_pool_of(servers), log=log, breaker_failures=2, breaker_cooldown_s=0.6)
    for _ in range(2):  # big (ranked first for math) fails twice: its circuit opens
        r = _ask(client, "router", MATH[0])
        assert r.status_code == 200 and r.headers["x-routerlab-model"] == "small"
    calls = servers["big"].state.count
    assert calls == 2
    r = _ask(client, "router", MATH[0])
    assert r.status_code == 200 and r.headers["x-routerlab-model"] == "small"
    assert servers["big"].state.count == calls  # not called
    assert read_log(log)[-1]["attempts"] == [
        {"model": "big", "status": None, "error": "circuit_open"},
        {"model": "small", "status": 200, "error": None},
    ]
    time.sleep(0.65)
    r = _ask(client, "router", MATH[0])  # the probe: big fails again, reopened for another cooldown
    assert servers["big"].state.count == calls + 1 and r.headers["x-routerlab-model"] == "small"
    _ask(client, "router", MATH[0])
    assert servers["big"].state.count == calls + 1
    servers["big"].state.faults = FaultSchedule()  # big recovers
    time.sleep(0.65)
    r = _ask(client, "router", MATH[0])  # the probe succeeds: closed
    assert r.headers["x-routerlab-model"] == "big"
    r = _ask(client, "router", MATH[0])
    assert r.headers["x-routerlab-model"] == "big" and servers["big"].state.count == calls + 3
    assert read_log(log)[-1]["attempts"] == [{"model": "big", "status": 200, "error": None}]


def test_every_circuit_open_is_one_503_without_calling_anything(servers: Any, gateway: Any, tmp_path: Any) -> None:
    from routerlab.serve import read_log

    for app in servers.values():
        _failing(app)
    log = tmp_path / "log.sqlite"
    client = gateway(_pool_of(servers), log=log, breaker_failures=1, breaker_cooldown_s=60.0)
    first = _ask(client, "router", MATH[1])
    assert first.status_code == 503 and first.json()["error"]["code"] == "upstreams_unavailable"
    counts = {m: a.state.count for m, a in servers.items()}
    assert counts == {"small": 1, "mid": 1, "big": 1}
    r = _ask(client, "router", MATH[1])
    assert r.status_code == 503
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == "no_healthy_upstream"
    assert "open" in err["message"]
    assert {m: a.state.count for m, a in servers.items()} == counts  # nothing was called
    rec = read_log(log)[-1]
    assert rec["error_code"] == "no_healthy_upstream" and rec["status"] == 503
    assert sorted(a["model"] for a in rec["attempts"]) == sorted(MODELS)
    assert all(a == {"model": a["model"], "status": None, "error": "circuit_open"} for a in rec["attempts"])
    assert _ask(client, "mid", MATH[1]).json()["error"]["code"] == "no_healthy_upstream"  # a pass-through too
