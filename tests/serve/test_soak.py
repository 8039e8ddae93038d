"""CI-sized soak of the gateway: 300 requests at concurrency 16 while the upstreams fail (benchmarks/soak_serve.py).

The same harness as the 10,000-request benchmark, with the upstreams and the gateway in threads of
this process. Each request carries a fault plan the mock upstreams obey (429, 500, hang, dropped
connection, at each upstream's own rates), and ``small`` is down (500 to everything) for requests
100-199. **Precondition, by construction:** ``mid`` and ``big`` never fail the same request, so
every request has a healthy upstream; the claim is then zero client-visible errors, one log record
per request, and every logged attempt exactly what the plan made it (a timeout the plan did not ask
for, an answer slower than the endpoint's 0.5 s on a loaded machine, is counted, not failed).
About 4-6 s here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks.soak_serve import (
    DOWN_MODEL,
    MODELS,
    PRICES,
    attempt_kind,
    check,
    draw_plan,
    fetch_metrics,
    request_body,
    run_client,
)

from tests.serve.helpers import gateways

N, CONCURRENCY, DOWN = 300, 16, (100, 200)
TIMEOUT_S, HANG_S, DEADLINE_S = 0.5, 1.5, 5.0  # a hang outlasts the endpoint timeout, the deadline outlasts both
IDS = {m: f"{m}-id" for m in MODELS}  # the conftest router's pool: the upstream model id of each model


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    """One mock upstream per model that obeys each request's fault plan; their URLs and apps."""
    from routerlab.collect.mock_server import FaultSchedule, create_app, serve_in_thread

    urls, apps, stops = {}, {}, []
    for m in MODELS:
        apps[m] = create_app([IDS[m]], fault_plan=True, faults=FaultSchedule(hang_s=HANG_S))
        urls[m], stop = serve_in_thread(apps[m])
        stops.append(stop)
    yield urls, apps
    for stop in stops:
        stop()


def _pool(urls: dict[str, str]) -> Any:
    from routerlab.collect.config import EndpointConfig
    from routerlab.serve import Pool

    return Pool.of(
        [
            EndpointConfig(
                name=m,
                base_url=urls[m],
                model=IDS[m],
                input_price_per_1m=p,
                output_price_per_1m=p,
                timeout_s=TIMEOUT_S,
                max_concurrency=CONCURRENCY,
            )
            for m, p in zip(MODELS, PRICES, strict=True)
        ]
    )


def test_plan_leaves_a_healthy_upstream_on_every_request() -> None:
    plan = draw_plan(5_000, seed=3)
    assert all(not ("mid" in f and "big" in f) for f in plan.faults)
    assert plan.cleared > 0  # the rule was needed: both were drawn faulty on some requests
    kinds = {(m, k) for f in plan.faults for m, k in f.items()}
    assert {k for _, k in kinds} == {"429", "500", "timeout", "drop"} and {m for m, _ in kinds} == set(MODELS)
    assert draw_plan(5_000, seed=3) == plan and draw_plan(5_000, seed=4) != plan


def test_attempt_kind_reads_the_log() -> None:
    def kind(status: int | None, error: str | None) -> str:
        return attempt_kind({"model": "m", "status": status, "error": error})

    assert [kind(200, None), kind(429, None), kind(500, None)] == ["ok", "429", "500"]
    assert [kind(None, "ReadTimeout"), kind(None, "RemoteProtocolError"), kind(None, "ConnectError")] == [
        "timeout",
        "drop",
        "refused",
    ]
    assert kind(None, "circuit_open") == "circuit_open"


def test_soak_no_error_while_a_model_is_healthy(
    fitted: tuple[Any, Path], faulty: tuple[dict[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    from routerlab.serve.log import read_log

    urls, apps = faulty
    log = tmp_path / "soak.sqlite"
    plan = draw_plan(N, seed=0)
    bodies = [request_body(i, plan, IDS) for i in range(N)]
    with gateways(fitted[1]) as start:
        client = start(_pool(urls), deadline_s=DEADLINE_S, log=log)
        gateway = str(client.base_url).rstrip("/")
        down = (urls[DOWN_MODEL].removesuffix("/v1"), *DOWN)
        run = asyncio.run(run_client(gateway, bodies, concurrency=CONCURRENCY, down=down, timeout_s=30.0))
        metrics = fetch_metrics(gateway)
    rep = check(run, read_log(log), plan, ids=IDS, metrics=metrics)
    print("\n".join(rep.lines))
    assert rep.failures == []
    f = rep.figures
    assert f["statuses"] == {200: N}
    # the soak did soak: every fault kind was served, requests fell back, the down window was hit
    served = {r.outcome for app in apps.values() for r in app.state.log}
    assert served == {"ok", "429", "500", "timeout", "drop"}
    assert f["fallbacks"] > 0.1 * N and max(f["attempts_hist"]) >= 3
    assert f["down_hits"] + f["skips"].get(f"{DOWN_MODEL}:circuit_open", 0) > 0
    assert apps[DOWN_MODEL].state.down is None  # the window was closed again
    assert run.wall_s < 15.0
