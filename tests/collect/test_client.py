"""One request against a real loopback server: parsing, truncation, retries on 429/500/timeout/drop, backoff."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from routerlab.collect.client import (
    MAX_TOKENS_PER_CALL,
    BadResponse,
    Outcome,
    _retry_after,
    backoff_delay,
    clean_error,
    complete,
    parse_completion,
)
from routerlab.collect.config import RetryConfig
from routerlab.collect.mock_server import FaultSchedule, hash_backend
from routerlab.collect.transport import HttpxTransport, StreamTransport
from tests.collect.conftest import ServeFn

RETRIES = RetryConfig(max_attempts=6, backoff_base_s=0.001, backoff_max_s=0.01)
MAX_BODY = 1 << 20
MESSAGES = [{"role": "user", "content": "Which is it? A, B, C or D."}]


def _ask(
    url: str,
    *,
    max_tokens: int = 64,
    timeout_s: float = 2.0,
    retries: RetryConfig = RETRIES,
    model: str = "mock",
    sleeps: list[float] | None = None,
    kind: str = "asyncio",
) -> Outcome:
    body = {"model": model, "messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0.0, "seed": 0}

    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        await asyncio.sleep(0)

    async def go() -> Outcome:
        transport = (
            StreamTransport(max_body_bytes=MAX_BODY)
            if kind == "asyncio"
            else HttpxTransport(timeout_s=timeout_s, max_body_bytes=MAX_BODY)
        )
        async with transport as http:
            return await complete(
                http, f"{url}/chat/completions", body, key="k", timeout_s=timeout_s, retries=retries, sleep=sleep
            )

    return asyncio.run(go())


@pytest.mark.parametrize("kind", ["asyncio", "httpx"])
def test_answer_and_usage(serve: ServeFn, kind: str) -> None:
    server = serve(["mock"])
    out = _ask(server.url, kind=kind)
    expected = hash_backend(model="mock", messages=MESSAGES, max_tokens=64, temperature=0.0, seed=0)
    assert out.ok and out.attempts == 1
    assert out.response_text == expected.text and out.response_text.endswith(("A.", "B.", "C.", "D."))
    assert out.finish_reason == "stop" and out.truncated is False
    assert out.prompt_tokens == 8 and out.completion_tokens == len(expected.text.split())
    assert out.latency_s is not None and 0 < out.latency_s < 2


def test_truncation_at_max_tokens(serve: ServeFn) -> None:
    server = serve(["mock"])
    out = _ask(server.url, max_tokens=3)
    assert out.finish_reason == "length" and out.truncated is True
    assert out.completion_tokens == 3 and out.response_text == "Let me think."


@pytest.mark.parametrize("kind", ["asyncio", "httpx"])
@pytest.mark.parametrize("fault", ["429", "500", "timeout", "drop"])
def test_retry_on_each_fault(serve: ServeFn, fault: str, kind: str) -> None:
    server = serve(["mock"], faults=FaultSchedule(script=(fault, fault), hang_s=4.0, retry_after_s=None))
    # the timeout must sit well between a normal answer on a loaded CI core and the hang
    out = _ask(server.url, timeout_s=1.0 if fault == "timeout" else 5.0, kind=kind)
    assert out.ok and out.attempts == 3
    assert [r.outcome for r in server.log] == [fault, fault, "ok"]


def test_all_faults_in_a_row_then_success(serve: ServeFn) -> None:
    server = serve(["mock"], faults=FaultSchedule(script=("429", "500", "timeout", "drop"), hang_s=4.0))
    out = _ask(server.url, timeout_s=1.0)
    assert out.ok and out.attempts == 5


def test_gives_up_after_max_attempts_with_the_last_error(serve: ServeFn) -> None:
    server = serve(["mock"], faults=FaultSchedule(every_500=1))
    out = _ask(server.url, retries=RetryConfig(max_attempts=3, backoff_base_s=0.0))
    assert not out.ok and out.attempts == 3 and len(server.log) == 3
    assert out.error is not None and out.error.startswith("HTTP 500") and out.truncated is None


def test_timeout_message(serve: ServeFn) -> None:
    server = serve(["mock"], faults=FaultSchedule(every_timeout=1, hang_s=1.0))
    out = _ask(server.url, timeout_s=0.2, retries=RetryConfig(max_attempts=2, backoff_base_s=0.0))
    assert out.error == "timeout after 0.2 s" and out.attempts == 2


def test_client_errors_are_not_retried(serve: ServeFn) -> None:
    server = serve(["mock"])
    out = _ask(server.url, model="no-such-model")
    assert out.attempts == 1 and out.error is not None and out.error.startswith("HTTP 404")


@pytest.mark.parametrize("kind", ["asyncio", "httpx"])
def test_connection_refused_is_retried(kind: str) -> None:
    out = _ask("http://127.0.0.1:9/v1", retries=RetryConfig(max_attempts=2, backoff_base_s=0.0), kind=kind)
    assert out.attempts == 2 and out.error is not None and out.error.startswith("connection error")


def test_retry_after_is_honoured_and_capped(serve: ServeFn) -> None:
    server = serve(["mock"], faults=FaultSchedule(script=("429", "429"), retry_after_s=0.004))
    sleeps: list[float] = []
    assert _ask(server.url, sleeps=sleeps).ok
    assert sleeps == [0.004, 0.004]
    server.app.state.faults = FaultSchedule(script=("ok", "ok", "ok", "429"), retry_after_s=120.0)
    sleeps.clear()
    assert _ask(server.url, sleeps=sleeps).ok
    assert sleeps == [RETRIES.backoff_max_s]


def test_backoff_is_exponential_seeded_and_capped() -> None:
    retries = RetryConfig(backoff_base_s=1.0, backoff_max_s=10.0, jitter_seed=3)
    delays = [backoff_delay(retries, "key", k) for k in range(1, 7)]
    assert delays == [backoff_delay(retries, "key", k) for k in range(1, 7)]  # same seed → same waits
    for k, d in enumerate(delays[:3], start=1):
        assert 0.5 * 2 ** (k - 1) <= d < 1.5 * 2 ** (k - 1)
    assert delays[-1] == 10.0
    assert backoff_delay(retries, "other", 1) != delays[0]
    assert backoff_delay(retries, "key", 1, retry_after_s=2.5) == 2.5


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "B"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1},
    }
    body.update(changes)
    return body


def _choice(content: Any = "B", finish: Any = "stop") -> list[dict[str, Any]]:
    return [{"message": {"content": content}, "finish_reason": finish}]


def test_parse_completion() -> None:
    assert parse_completion(_body()) == ("B", "stop", 5, 1)
    assert parse_completion(_body(choices=_choice(finish=None), model=["not", "read"])) == ("B", None, 5, 1)
    assert parse_completion(_body(usage={"prompt_tokens": MAX_TOKENS_PER_CALL, "completion_tokens": 0}))[2:] == (
        MAX_TOKENS_PER_CALL,
        0,
    )
    assert parse_completion(_body(choices=_choice("x" * 10)), max_answer_chars=10)[0] == "x" * 10


@pytest.mark.parametrize(
    ("bad", "match", "retryable"),
    [
        ([], "not a JSON object", True),
        (_body(choices=[]), "no choices", True),
        (_body(choices={"0": {}}), "no choices", True),
        (_body(choices=[{"message": "B"}]), "message is not an object", True),
        (_body(usage=None), "no usage", True),
        (_body(usage={"completion_tokens": 3}), "usage.prompt_tokens is missing", True),
        (_body(usage={"prompt_tokens": 3}), "usage.completion_tokens is missing", True),
        (_body(choices=_choice(3)), "content is a int, not a string", True),
        (_body(choices=_choice(None, "content_filter")), "content is null.*'content_filter'", False),
        (_body(choices=_choice("x" * 11)), "11 characters, over max_answer_chars = 10", False),
        (_body(choices=_choice("\ud800")), "lone UTF-16 surrogate", False),
        (_body(choices=_choice(finish={"a": 1})), "finish_reason = {'a': 1} is not a short", False),
        (_body(choices=_choice(finish="x" * 65)), "finish_reason = 'xxx", False),
        (_body(choices=_choice(finish="stop\n")), "finish_reason", False),
    ],
)
def test_parse_completion_errors(bad: Any, match: str, retryable: bool) -> None:
    with pytest.raises(BadResponse, match=match) as err:
        parse_completion(bad, max_answer_chars=10)
    assert err.value.retryable is retryable


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (math.inf, "= inf (float) is not an integer"),
        (math.nan, "= nan (float) is not an integer"),
        (12.0, "= 12.0 (float) is not an integer"),
        (True, "= True (bool) is not an integer"),
        ("12", "= '12' (str) is not an integer"),
        (None, "= None (NoneType)"),
        (-1, "= -1 is outside 0..10,000,000 tokens"),
        (10**20, "= 100000000000000000000 is outside"),
        (MAX_TOKENS_PER_CALL + 1, "= 10000001 is outside"),
    ],
)
def test_token_counts_must_be_bounded_integers(value: Any, match: str) -> None:
    for field in ("prompt_tokens", "completion_tokens"):
        usage = {"prompt_tokens": 5, "completion_tokens": 1, field: value}
        with pytest.raises(BadResponse, match=re.escape(f"usage.{field} {match}")) as err:
            parse_completion(_body(usage=usage))
        assert err.value.retryable is False  # the same request would get (and pay for) the same count


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("0.25", 0.25),
        ("1000000000", 1e9),  # honoured, then capped at backoff_max_s by backoff_delay
        ("-5", None),
        ("nan", None),
        ("inf", None),
        ("1e999", None),
        ("soon", None),
        ("9" * 100, None),  # longer than any delay or date
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: now
        ("Fri, 31 Dec 9999 23:59:59 GMT", "future"),
        ("Fri, 32 Foo 9999 99:99:99 GMT", None),
    ],
)
def test_retry_after_values(header: str, expected: float | str | None) -> None:
    got = _retry_after({"retry-after": header})
    if expected == "future":
        assert got is not None and got > 1e9
        assert backoff_delay(RETRIES, "k", 1, got) == RETRIES.backoff_max_s
    else:
        assert got == expected
    assert _retry_after({}) is None


def test_error_messages_are_short_and_storable() -> None:
    assert clean_error("x" * 10_000) == "x" * 497 + "..."
    assert clean_error("bad \ud800 text") == "bad \\ud800 text"
    assert clean_error("HTTP 500: \x1b[31mred\r\nINFO forged") == "HTTP 500: \\x1b[31mred\\r\\nINFO forged"
    assert clean_error("réponse: 答え") == "réponse: 答え"  # printable text is kept as is


class _Body(httpx.AsyncByteStream):
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def _streamed(payload: Any) -> httpx.Response:
    """A mock response that is streamed, as from a server (``json=`` would hand httpx the body already read)."""
    return httpx.Response(200, stream=_Body(json.dumps(payload).encode()))


def test_a_non_completion_body_is_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return _streamed({"unexpected": True})
        return _streamed(_body())

    async def go() -> Outcome:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with HttpxTransport(timeout_s=1, max_body_bytes=MAX_BODY, client=client) as http:
            return await complete(http, "http://x/v1/chat/completions", b"{}", key="k", timeout_s=1, retries=RETRIES)

    out = asyncio.run(go())
    assert out.ok and out.attempts == 2 and out.response_text == "B"


def test_answers_the_same_request_would_repeat_are_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return _streamed(_body(usage={"prompt_tokens": -3, "completion_tokens": 1}))

    async def go() -> Outcome:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with HttpxTransport(timeout_s=1, max_body_bytes=MAX_BODY, client=client) as http:
            return await complete(http, "http://x/v1/chat/completions", b"{}", key="k", timeout_s=1, retries=RETRIES)

    out = asyncio.run(go())
    assert not out.ok and out.attempts == 1 and len(calls) == 1
    assert out.error == (
        "bad response (usage.prompt_tokens = -3 is outside 0..10,000,000 tokens (MAX_TOKENS_PER_CALL); "
        "no call has that many, so the server's count cannot be costed)"
    )
