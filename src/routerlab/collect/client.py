"""One OpenAI-compatible chat-completions request, with retries, backoff and a timeout.

:func:`complete` sends ``POST {base_url}/chat/completions`` with ``model``, ``messages``,
``max_tokens``, ``temperature``, ``seed`` (and the endpoint's ``extra_body``) and reads
``choices[0].message.content``, ``choices[0].finish_reason`` and ``usage``. ``truncated`` is
``finish_reason == "length"``: the answer hit its token budget (``unsolvability-ceiling-
artifacts.txt`` §3.2, §5.2).

Retries (:class:`~routerlab.collect.config.RetryConfig`): an attempt is retried when it times out,
when the connection fails or is closed mid-response, when the body is not a chat completion, and
on the listed HTTP statuses (429 and 5xx by default). Other statuses (e.g. 400, 401, 404) fail at
once. The wait before attempt ``k + 1`` is the server's ``Retry-After`` when it sends one, else
``backoff_base_s * 2**(k-1)`` times a jitter factor in [0.5, 1.5), seeded by (``jitter_seed``,
request key, ``k``) so a rerun waits the same; both are capped at ``backoff_max_s``.

``latency_s`` is the wall time of the successful attempt, from sending the request to having the
whole body (queueing in the server included; collect with ``max_concurrency: 1`` for sequential
latencies as in the paper's Table 11, §6.2).

Each worker of the collector owns one :class:`~routerlab.collect.transport.Transport` holding a single
keep-alive connection (see :mod:`routerlab.collect.transport` for the two implementations).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from routerlab.collect.config import RetryConfig
from routerlab.collect.transport import RawResponse, Transport, TransportError

log = logging.getLogger(__name__)

__all__ = ["Attempt", "BadResponse", "Outcome", "backoff_delay", "complete", "parse_completion"]

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of one request after its retries: an answer, or the last error."""

    response_text: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float | None
    error: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        """True when an answer came back."""
        return self.error is None

    @property
    def truncated(self) -> bool | None:
        """True when the answer was cut at its ``max_tokens`` budget (None for an error)."""
        return None if self.finish_reason is None else self.finish_reason == "length"


@dataclass(frozen=True, slots=True)
class Attempt:
    """Why one attempt failed: a short ``message``, whether to retry, and the server's Retry-After."""

    message: str
    retryable: bool
    retry_after_s: float | None = None


class BadResponse(ValueError):
    """A 2xx body that is not a chat completion."""


def parse_completion(payload: Any) -> tuple[str, str | None, int, int]:
    """(text, finish_reason, prompt_tokens, completion_tokens) of a chat-completion body.

    A missing ``usage`` is an error: without token counts the cost cannot be computed
    (``routing-plateau.txt`` App. D), and a record is never costed at $0 by default.
    """
    if not isinstance(payload, dict):
        raise BadResponse(f"the body is a {type(payload).__name__}, not a JSON object")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadResponse("the body has no choices[0]")
    choice = choices[0]
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if content is not None and not isinstance(content, str):
        raise BadResponse("choices[0].message.content is not a string")
    finish = choice.get("finish_reason")
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        raise BadResponse("the body has no usage (token counts), so its cost cannot be computed")
    try:
        prompt_tokens = int(usage["prompt_tokens"])
        completion_tokens = int(usage.get("completion_tokens") or 0)
    except (KeyError, TypeError, ValueError):
        raise BadResponse("usage.prompt_tokens / completion_tokens are missing or not integers") from None
    return content or "", None if finish is None else str(finish), prompt_tokens, completion_tokens


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after")
    if raw is None:
        return None
    value = str(raw)
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())


def backoff_delay(retries: RetryConfig, key: str, attempt: int, retry_after_s: float | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) of request ``key`` (see the module doc)."""
    if retry_after_s is not None:
        return min(retries.backoff_max_s, retry_after_s)
    jitter = random.Random(f"{retries.jitter_seed}:{key}:{attempt}").uniform(0.5, 1.5)
    return min(retries.backoff_max_s, retries.backoff_base_s * 2.0 ** (attempt - 1) * jitter)


async def _attempt(
    http: Transport, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float, retries: RetryConfig
) -> tuple[Outcome | None, Attempt | None]:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            response: RawResponse = await http.post(url, body, headers)
    except TimeoutError:
        return None, Attempt(f"timeout after {timeout_s:g} s", True)
    except TransportError as exc:
        return None, Attempt(f"connection error ({exc})", True)
    latency = time.perf_counter() - start
    status = response.status
    if not 200 <= status < 300:
        detail = response.text[:300].replace("\n", " ")
        retry_after = _retry_after(response.headers)
        return None, Attempt(f"HTTP {status}: {detail}", status in retries.retry_statuses, retry_after)
    try:
        text, finish, prompt_tokens, completion_tokens = parse_completion(json.loads(response.content))
    except (ValueError, UnicodeDecodeError) as exc:  # BadResponse and JSONDecodeError are ValueErrors
        return None, Attempt(f"bad response ({exc})", True)
    return Outcome(text, finish, prompt_tokens, completion_tokens, latency, None, 1), None


async def complete(
    http: Transport,
    url: str,
    body: Mapping[str, Any] | bytes,
    *,
    key: str,
    timeout_s: float,
    retries: RetryConfig,
    api_key: str | None = None,
    sleep: Sleep = asyncio.sleep,
) -> Outcome:
    """Send one chat request with retries; never raises for an HTTP or network failure (see :class:`Outcome`)."""
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    failure: Attempt | None = None
    for attempt in range(1, retries.max_attempts + 1):
        outcome, failure = await _attempt(http, url, data, headers, timeout_s, retries)
        if outcome is not None:
            return outcome if attempt == 1 else dataclasses.replace(outcome, attempts=attempt)
        assert failure is not None
        if not failure.retryable or attempt == retries.max_attempts:
            log.debug("request %s failed for good after %d attempts: %s", key[:12], attempt, failure.message)
            return Outcome(None, None, None, None, None, failure.message, attempt)
        delay = backoff_delay(retries, key, attempt, failure.retry_after_s)
        log.debug("request %s attempt %d failed (%s); retrying in %.3f s", key[:12], attempt, failure.message, delay)
        await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
