"""The mock OpenAI-compatible server: wire format, determinism, fault schedule, command-line entry point."""

from __future__ import annotations

import json

import httpx
import pytest

from routerlab.collect.mock_server import FaultSchedule, hash_backend, serve_in_subprocess
from tests.collect.conftest import ServeFn

MESSAGES = [{"role": "user", "content": "Pick one: A, B, C or D."}]


def test_wire_format(serve: ServeFn) -> None:
    server = serve(["small", "large"])
    with httpx.Client(base_url=server.url) as client:
        models = client.get("/models").json()
        assert [m["id"] for m in models["data"]] == ["small", "large"] and models["object"] == "list"
        body = client.post("/chat/completions", json={"model": "small", "messages": MESSAGES, "max_tokens": 5}).json()
        assert body["object"] == "chat.completion" and body["model"] == "small" and body["id"].startswith("chatcmpl-")
        (choice,) = body["choices"]
        assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
        assert choice["finish_reason"] in ("stop", "length")
        usage = body["usage"]
        assert (
            usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] and usage["prompt_tokens"] == 7
        )
        bad = client.post("/chat/completions", json={"model": "nope", "messages": MESSAGES})
        assert bad.status_code == 404 and "does not exist" in bad.json()["error"]["message"]
        assert client.post("/chat/completions", json={"model": "small"}).status_code == 400
        assert (
            client.post("/chat/completions", content=b"{", headers={"content-type": "application/json"}).status_code
            == 400
        )


def test_hash_backend_is_deterministic_and_models_differ() -> None:
    def letter(model: str, i: int) -> str:
        msgs = [{"role": "user", "content": f"question {i}"}]
        return hash_backend(model=model, messages=msgs, max_tokens=100, temperature=0, seed=0).text[-2]

    a = [letter("small", i) for i in range(40)]
    assert a == [letter("small", i) for i in range(40)] and set(a) == set("ABCD")
    assert a != [letter("large", i) for i in range(40)]
    cut = hash_backend(model="m", messages=MESSAGES, max_tokens=2, temperature=0, seed=0)
    assert cut.text == "Let me" and cut.finish_reason == "length" and cut.completion_tokens == 2


def test_fault_schedule() -> None:
    f = FaultSchedule(every_429=2, every_500=3, every_timeout=5, every_drop=7, script=("drop", "ok"))
    assert [f.fault_for(n) for n in range(1, 11)] == [
        "drop",
        None,
        "500",
        "429",
        "timeout",
        "429",
        "drop",
        "429",
        "500",
        "429",
    ]
    with pytest.raises(ValueError, match="script may hold only"):
        FaultSchedule(script=("503",))


def test_command_line_server() -> None:
    url, stop = serve_in_subprocess(["--models", "a,b", "--every-429", "2"])
    try:
        with httpx.Client(base_url=url) as client:
            assert [m["id"] for m in client.get("/models").json()["data"]] == ["a", "b"]
            payload = json.dumps({"model": "b", "messages": MESSAGES}).encode()
            first = client.post("/chat/completions", content=payload)
            second = client.post("/chat/completions", content=payload)
        assert first.status_code == 200 and second.status_code == 429 and second.headers["retry-after"] == "0.05"
    finally:
        stop()
