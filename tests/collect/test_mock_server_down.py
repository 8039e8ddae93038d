"""The mock server's outage tools: a down window set at run time, and a per-request fault plan."""

from __future__ import annotations

import httpx
import pytest

from routerlab.collect.mock_server import FaultSchedule, planned_fault, serve_in_subprocess
from tests.collect.conftest import ServeFn

MESSAGES = [{"role": "user", "content": "Pick one: A, B, C or D."}]


def _ask(client: httpx.Client, model: str = "small", **extra: object) -> httpx.Response:
    return client.post("/chat/completions", json={"model": model, "messages": MESSAGES, **extra})


def test_down_window_in_process_and_over_http(serve: ServeFn) -> None:
    # every 3rd request is a 429 by schedule: the down window overrides it, and the count goes on through it
    server = serve(["small"], faults=FaultSchedule(every_429=3))
    with httpx.Client(base_url=server.url.removesuffix("/v1")) as client:
        v1 = httpx.Client(base_url=server.url)
        assert client.get("/admin/down").json() == {"fault": None}
        assert [_ask(v1).status_code for _ in range(3)] == [200, 200, 429]
        assert client.put("/admin/down", json={"fault": "500"}).json() == {"fault": "500"}
        assert server.app.state.down == "500"
        down = [_ask(v1) for _ in range(4)]
        assert [r.status_code for r in down] == [500] * 4 and down[0].json()["error"]["type"] == "server_error"
        server.app.state.down = "drop"  # in-process, the same switch
        with pytest.raises(httpx.HTTPError):
            _ask(v1)
        assert client.put("/admin/down", json={"fault": None}).json() == {"fault": None}
        # requests 9-12 after the window: the schedule again, by the count that went on (9 and 12: 429)
        assert [_ask(v1).status_code for _ in range(4)] == [429, 200, 200, 429]
        outcomes = [r.outcome for r in server.app.state.log]
        assert outcomes == ["ok", "ok", "429"] + ["500"] * 4 + ["drop"] + ["429", "ok", "ok", "429"]
        v1.close()


def test_down_switch_refuses_a_bad_value(serve: ServeFn) -> None:
    server = serve(["small"], down="429")
    with httpx.Client(base_url=server.url.removesuffix("/v1")) as client:
        assert client.get("/admin/down").json() == {"fault": "429"}
        for bad in ({"fault": "503"}, {"fault": "ok"}, {"down": True}, ["500"]):
            r = client.put("/admin/down", json=bad)
            assert r.status_code == 400 and "'fault'" in r.json()["error"]["message"], bad
        assert server.app.state.down == "429"  # unchanged by the refused calls
    with pytest.raises(ValueError, match="down fault must be one of"):
        serve(["small"], down="404")


def test_fault_plan_picks_the_fault_per_model(serve: ServeFn) -> None:
    server = serve(["small", "large"], fault_plan=True)
    plan = {"mock_faults": {"small": "500", "large": "ok"}}
    with httpx.Client(base_url=server.url) as v1:
        assert _ask(v1, "small", **plan).status_code == 500
        assert _ask(v1, "large", **plan).status_code == 200
        assert _ask(v1, "large", mock_faults={"small": "429"}).status_code == 200  # a model not named: no fault
        assert _ask(v1, "small", mock_faults={"small": "429"}).status_code == 429
        bad = _ask(v1, "small", mock_faults={"small": "503"})
        assert bad.status_code == 400 and "'mock_faults'" in bad.json()["error"]["message"]
    assert [r.outcome for r in server.app.state.log] == ["500", "ok", "ok", "429"]
    # without fault_plan=True the field is ignored (the server's behaviour before plans existed)
    plain = serve(["small"])
    with httpx.Client(base_url=plain.url) as v1:
        assert _ask(v1, "small", mock_faults={"small": "500"}).status_code == 200


def test_planned_fault_reads_the_plan() -> None:
    assert planned_fault({}, "a") is None
    assert planned_fault({"mock_faults": {"a": "timeout", "b": "ok"}}, "a") == "timeout"
    assert planned_fault({"mock_faults": {"a": "timeout", "b": "ok"}}, "b") is None
    with pytest.raises(ValueError, match="must map model names"):
        planned_fault({"mock_faults": ["a"]}, "a")


def test_command_line_down_and_plan() -> None:
    url, stop = serve_in_subprocess(["--models", "a", "--down", "500", "--fault-plan"])
    try:
        with httpx.Client(base_url=url) as v1, httpx.Client(base_url=url.removesuffix("/v1")) as admin:
            assert _ask(v1, "a").status_code == 500
            assert admin.put("/admin/down", json={"fault": None}).status_code == 200
            assert _ask(v1, "a").status_code == 200
            assert _ask(v1, "a", mock_faults={"a": "429"}).status_code == 429
    finally:
        stop()


def test_a_pool_file_names_the_models_the_mock_serves(tmp_path: object) -> None:
    from pathlib import Path

    pool = Path(str(tmp_path)) / "pool.yaml"
    pool.write_text(
        "endpoints:\n"
        "  - {name: a, base_url: 'http://127.0.0.1:1/v1', model: a-id, input_price_per_1m: 1, output_price_per_1m: 1}\n"
        "  - {name: b, base_url: 'http://127.0.0.1:1/v1', input_price_per_1m: 0, output_price_per_1m: 0}\n"
    )
    url, stop = serve_in_subprocess(["--pool", str(pool)])
    try:
        with httpx.Client(base_url=url) as client:
            assert [m["id"] for m in client.get("/models").json()["data"]] == ["a-id", "b"]  # the ids sent upstream
            assert _ask(client, "a-id").status_code == 200 and _ask(client, "a").status_code == 404
    finally:
        stop()
