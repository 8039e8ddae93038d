"""The routing gateway against real loopback upstreams (the collect mock server) and a saved router."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
pytest.importorskip("uvicorn", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
httpx = pytest.importorskip("httpx", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")

from routerlab.data.features.value import featurize  # noqa: E402
from routerlab.data.schema import ModelInfo, RoutingData  # noqa: E402
from routerlab.errors import SchemaError  # noqa: E402
from routerlab.routers.pipeline import FeatureRouter  # noqa: E402
from routerlab.serve import Pool, create_app, load_pool  # noqa: E402
from tests.serve.helpers import CHAT, MATH, MODELS, _ask, _pool  # noqa: E402


def _expected(router: FeatureRouter, text: str, *, lam: float) -> str:
    data = RoutingData(
        name="one",
        query_ids=np.array(["x"], dtype=object),
        sources=np.array(["s"], dtype=object),
        splits=np.array(["test"], dtype=object),
        models=tuple(ModelInfo(m) for m in MODELS),
        Y=np.full((1, 3), np.nan),
        cost=np.full((1, 3), np.nan),
        cost_unit="usd",
        texts=np.array([text], dtype=object),
    )
    choice = router.decide(data, featurize(data, "hashing", cache=False)).choose(lam=lam)
    return MODELS[int(choice[0])]


@pytest.mark.parametrize("text", [MATH[0] + " please", CHAT[0] + " today"])
def test_router_picks_what_the_routers_decisions_choose(fitted: Any, upstreams: Any, gateway: Any, text: str) -> None:
    client = gateway(_pool(upstreams))
    r = _ask(client, "router", text)
    assert r.status_code == 200, r.text
    want = _expected(fitted[0], text, lam=0.0)
    assert r.headers["x-routerlab-model"] == want
    assert r.headers["x-routerlab-policy"] == "lambda=0"
    assert r.json()["model"] == f"{want}-id"  # the upstream's JSON, unchanged: it saw the upstream's model id
    r3 = _ask(client, "router:lambda=0.3", text)
    assert r3.headers["x-routerlab-model"] == _expected(fitted[0], text, lam=0.3)
    assert r3.headers["x-routerlab-policy"] == "lambda=0.3"


def test_math_goes_to_big_and_lambda_one_to_the_cheapest(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams))
    assert _ask(client, "router", MATH[1]).headers["x-routerlab-model"] == "big"
    r = _ask(client, "router:lambda=1", MATH[1])
    assert r.status_code == 200 and r.headers["x-routerlab-model"] == "small"
    r = _ask(client, "router:budget=2.5", MATH[1])  # estimated costs are the mean training costs 1, 2, 5
    assert r.status_code == 200 and r.headers["x-routerlab-policy"] == "budget=2.5"
    assert r.headers["x-routerlab-model"] in {"small", "mid"}


def test_a_pool_name_passes_straight_through(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams))
    r = _ask(client, "mid", MATH[0])
    assert r.status_code == 200
    assert r.headers["x-routerlab-model"] == "mid" and r.headers["x-routerlab-policy"] == "model"
    assert r.json()["model"] == "mid-id"


def test_an_upstream_500_falls_back_to_the_next_ranked_model(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams, broken=("big",)))
    r = _ask(client, "router", MATH[2])  # ranking at λ=0: big (answers 500), then small and mid (tied; cheaper first)
    assert r.status_code == 200, r.text
    assert r.headers["x-routerlab-model"] == "small"
    client = gateway(_pool(upstreams, broken=("big",), dead=("small",)))
    r = _ask(client, "router", MATH[2])  # big answers 500, small refuses the connection, mid answers
    assert r.status_code == 200, r.text
    assert r.headers["x-routerlab-model"] == "mid"
    assert r.json()["model"] == "mid-id"


def test_every_upstream_failing_is_one_503_in_openai_format(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams, broken=("big", "small"), dead=("mid",)))
    r = _ask(client, "router", MATH[0])
    assert r.status_code == 503
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == "upstreams_unavailable"


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (json.dumps({"model": "router"}).encode(), 400, "invalid_messages"),
        (json.dumps({"model": "router", "messages": []}).encode(), 400, "invalid_messages"),
        (
            json.dumps({"model": "router:lambda=-1", "messages": [{"role": "user", "content": "x"}]}).encode(),
            400,
            "invalid_policy",
        ),
        (
            json.dumps({"model": "router:lambda=1.5", "messages": [{"role": "user", "content": "x"}]}).encode(),
            400,
            "invalid_policy",
        ),
        (
            json.dumps({"model": "router:lambda=nan", "messages": [{"role": "user", "content": "x"}]}).encode(),
            400,
            "invalid_policy",
        ),
        (
            json.dumps({"model": "router:budget=-1", "messages": [{"role": "user", "content": "x"}]}).encode(),
            400,
            "invalid_policy",
        ),
        (
            json.dumps({"model": "router:temperature=1", "messages": [{"role": "user", "content": "x"}]}).encode(),
            400,
            "invalid_policy",
        ),
        (
            json.dumps({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}).encode(),
            404,
            "model_not_found",
        ),
        (json.dumps({"model": 3, "messages": [{"role": "user", "content": "x"}]}).encode(), 400, "invalid_model"),
        (
            json.dumps({"model": "router", "messages": [{"role": "system", "content": "x"}]}).encode(),
            400,
            "no_user_message",
        ),
    ],
)
def test_malformed_requests_get_openai_format_4xx(
    upstreams: Any, gateway: Any, content: bytes, status: int, code: str
) -> None:
    client = gateway(_pool(upstreams))
    r = client.post("/chat/completions", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == code


def test_models_health_and_unknown_routes(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams))
    assert [m["id"] for m in client.get("/models").json()["data"]] == ["router", *MODELS]
    root = str(client.base_url).removesuffix("/v1/")
    assert httpx.get(f"{root}/healthz").json()["status"] == "ok"
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_the_pool_must_be_the_routers_pool(fitted: Any, upstreams: Any) -> None:
    pool = Pool.of(list(_pool(upstreams).endpoints)[:2])
    with pytest.raises(SchemaError, match=r"not the router's pool.*missing from the pool: \['big'\]"):
        create_app(fitted[1], pool)


def test_api_keys_come_from_the_environment_and_are_never_echoed(
    fitted: Any, upstreams: Any, gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = [e.model_copy(update={"api_key_env": "ROUTERLAB_TEST_KEY"}) for e in _pool(upstreams).endpoints]
    with pytest.raises(SchemaError, match="ROUTERLAB_TEST_KEY"):
        create_app(fitted[1], Pool.of(endpoints))
    monkeypatch.setenv("ROUTERLAB_TEST_KEY", "sk-secret-value")
    client = gateway(Pool.of(endpoints), deadline_s=30.0)
    r = _ask(client, "router", CHAT[0])
    assert r.status_code == 200 and "sk-secret-value" not in r.text + str(r.headers)


def test_load_pool_reads_yaml_and_refuses_unknown_keys(tmp_path: Path) -> None:
    good = tmp_path / "pool.yaml"
    good.write_text(
        "endpoints:\n"
        "  - {name: small, base_url: 'http://127.0.0.1:1/v1', input_price_per_1m: 1, output_price_per_1m: 1}\n"
        "  - {name: big, base_url: 'http://127.0.0.1:2/v1', input_price_per_1m: 5, output_price_per_1m: 5}\n",
        encoding="utf-8",
    )
    assert load_pool(good).names == ("small", "big")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "endpoints:\n  - {name: small, base_url: 'http://x/v1', input_price_per_1m: 1, output_price_per_1m: 1, "
        "api_kee: K}\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaError, match="api_kee"):
        load_pool(bad)


def test_the_openai_client_works_unchanged(upstreams: Any, gateway: Any) -> None:
    if importlib.util.find_spec("openai") is None:
        pytest.skip("the openai package is not installed (pip install openai) to check the client end to end")
    import openai

    client = gateway(_pool(upstreams))
    oa = openai.OpenAI(base_url=str(client.base_url), api_key="unused")
    raw = oa.chat.completions.with_raw_response.create(model="router", messages=[{"role": "user", "content": MATH[3]}])
    assert raw.headers["x-routerlab-model"] == "big"
    assert raw.parse().choices[0].message.content
