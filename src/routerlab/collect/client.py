"""One OpenAI-compatible chat-completions request, with retries, backoff and a timeout.

:func:`complete` sends ``POST {base_url}/chat/completions`` with ``model``, ``messages``,
``max_tokens``, ``temperature``, ``seed`` (and the endpoint's ``extra_body``) and reads
``choices[0].message.content``, ``choices[0].finish_reason`` and ``usage``. ``truncated`` is
``finish_reason == "length"``: the answer hit its token budget
(``unsolvability-ceiling-artifacts.txt`` ("Unsolvability Ceiling in Multi-LLM Routing") §3.2, §5.2).

A server's answer is data, never trusted: every failure below ends as the request's
:class:`Outcome` with ``error`` set to the reason (stored as the record's error, asked again on the
next run), never as an exception, and never as a count or a cost that could break the store or the
budget. Token counts must be integers in 0..:data:`MAX_TOKENS_PER_CALL`; the answer a string of
at most ``max_answer_chars`` characters (``null`` content is an error, a longer answer too, never
cut); the body at most ``max_body_bytes`` on the wire and decompressed, read as a stream
(:mod:`routerlab.collect.transport`); JSON nested too deeply or not JSON at all is an error. The
deadline ``timeout_s`` covers the whole exchange, so a server that trickles its answer times out.

Retries (:class:`~routerlab.collect.config.RetryConfig`): an attempt is retried when it times out,
when the connection fails or is closed mid-response or the HTTP is malformed, when the body is not
JSON or not shaped like a chat completion, and on the listed HTTP statuses (429 and 5xx by
default). It is *not* retried when the same request would fail the same way and be billed again: a
body over the size cap or in an unknown encoding, a completion with impossible values (token
counts, ``null`` or too long content, a garbage ``finish_reason``), other statuses (400, 401,
404, ...). The wait before attempt ``k + 1`` is the server's ``Retry-After`` when it sends a usable
one (seconds or an HTTP date; a negative, NaN or infinite value is ignored), else
``backoff_base_s * 2**(k-1)`` times a jitter factor in [0.5, 1.5), seeded by (``jitter_seed``,
request key, ``k``) so a rerun waits the same; both are capped at ``backoff_max_s``, so a
``Retry-After`` of 10**9 waits ``backoff_max_s``.

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
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from routerlab.collect.config import DEFAULT_MAX_ANSWER_CHARS, RetryConfig
from routerlab.collect.transport import BodyTooLarge, RawResponse, ResponseRejected, Transport, TransportError

log = logging.getLogger(__name__)

__all__ = [
    "MAX_TOKENS_PER_CALL",
    "Attempt",
    "BadResponse",
    "Outcome",
    "backoff_delay",
    "complete",
    "parse_completion",
]

#: The most tokens one call may report for its prompt, and for its completion. The longest context
#: windows on offer hold ~10M tokens, so a larger count is a broken or hostile server, not a count.
#: The bound keeps every count inside the store's INTEGER columns and every cost finite (at most
#: 10M tokens x the price per token), so one answer can neither crash a batch insert nor record $2e14.
MAX_TOKENS_PER_CALL = 10_000_000
#: the longest ``finish_reason`` accepted (OpenAI's longest is "content_filter", 14 characters)
MAX_FINISH_REASON_CHARS = 64
#: a longer ``Retry-After`` is ignored (an HTTP date is 29 characters)
MAX_RETRY_AFTER_CHARS = 64
#: the longest error message kept for a record (it may quote the server)
MAX_ERROR_CHARS = 500
#: bodies over this many bytes are parsed in a worker thread, so the event loop keeps serving the others
PARSE_IN_THREAD_BYTES = 256 * 1024

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
    """A 2xx body that is not a usable chat completion; ``retryable`` is False when asking again cannot help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def _show(value: Any) -> str:
    """A server's value in a message: its repr, cut short (it may be megabytes or a huge integer)."""
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than int-to-str allows
        return f"an integer of {value.bit_length():,} bits"
    return text if len(text) <= 60 else f"{text[:57]}..."


def _tokens(usage: Mapping[str, Any], field: str) -> int:
    if field not in usage:
        raise BadResponse(f"usage.{field} is missing, so the cost cannot be computed")
    value = usage[field]
    # bool is an int subclass; a float (Infinity, NaN, 1e3, 12.5) or a string is not a count
    if type(value) is not int:
        raise BadResponse(
            f"usage.{field} = {_show(value)} ({type(value).__name__}) is not an integer number of tokens",
            retryable=False,
        )
    if not 0 <= value <= MAX_TOKENS_PER_CALL:
        raise BadResponse(
            f"usage.{field} = {_show(value)} is outside 0..{MAX_TOKENS_PER_CALL:,} tokens (MAX_TOKENS_PER_CALL); "
            "no call has that many, so the server's count cannot be costed",
            retryable=False,
        )
    return value


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate (a JSON "\ud800" escape) cannot be stored as UTF-8
        raise BadResponse(f"{where} holds invalid Unicode (a lone UTF-16 surrogate)", retryable=False) from None


def parse_completion(
    payload: Any, *, max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS
) -> tuple[str, str | None, int, int]:
    """(text, finish_reason, prompt_tokens, completion_tokens) of a chat-completion body, checked.

    A missing ``usage`` is an error: without token counts the cost cannot be computed
    (``routing-plateau.txt`` (arXiv:2606.07587) App. D), and a record is never costed at $0 by default. Each token
    count must be an ``int`` in 0..:data:`MAX_TOKENS_PER_CALL`; ``choices[0].message.content``
    a string (``null`` is no answer, an error) of at most ``max_answer_chars`` characters (a
    longer one is an error, never cut); ``finish_reason`` absent or a short printable string.
    Other fields (``id``, ``model``, ``created``, ...) are not read, so their types do not matter.
    :class:`BadResponse` says which field is wrong, with the value; its ``retryable`` is False for
    a well-formed completion with impossible values, which the same request would get again (and
    pay for again).
    """
    if not isinstance(payload, dict):
        raise BadResponse(f"the body is a JSON {type(payload).__name__}, not a JSON object")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadResponse(f"the body has no choices[0] object (choices = {_show(choices)})")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BadResponse(f"choices[0].message is not an object ({_show(message)})")
    finish = choice.get("finish_reason")
    if finish is not None and not (
        isinstance(finish, str) and len(finish) <= MAX_FINISH_REASON_CHARS and finish.isascii() and finish.isprintable()
    ):
        raise BadResponse(
            f"choices[0].finish_reason = {_show(finish)} is not a short printable string "
            f"(at most {MAX_FINISH_REASON_CHARS} characters)",
            retryable=False,
        )
    content = message.get("content")
    if content is None:
        raise BadResponse(
            f"choices[0].message.content is null: the server sent no answer text (finish_reason {finish!r})",
            retryable=False,
        )
    if not isinstance(content, str):
        raise BadResponse(f"choices[0].message.content is a {type(content).__name__}, not a string")
    if len(content) > max_answer_chars:
        raise BadResponse(
            f"the answer is {len(content):,} characters, over max_answer_chars = {max_answer_chars:,}; "
            "raise max_answer_chars in the config if answers this long are expected",
            retryable=False,
        )
    _check_text(content, "choices[0].message.content")
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        raise BadResponse("the body has no usage object (token counts), so its cost cannot be computed")
    return content, finish, _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens")


def clean_error(message: str) -> str:
    r"""An error message safe to store, log and print: at most :data:`MAX_ERROR_CHARS` characters, printable.

    It may quote the server, so control characters (a terminal escape, a CR that forges a log line)
    and lone surrogates (not storable as UTF-8) are written as escapes, e.g. ``\x1b``.
    """
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 3] + "..."
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait: a number or an HTTP date; None when absent or not a usable delay."""
    raw = headers.get("retry-after")
    if raw is None or len(raw) > MAX_RETRY_AFTER_CHARS:
        return None
    value = raw.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        return max(0.0, seconds)  # a date in the past means now
    # a negative, NaN or infinite delay is no delay at all: the collector's own backoff applies
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def backoff_delay(retries: RetryConfig, key: str, attempt: int, retry_after_s: float | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) of request ``key`` (see the module doc)."""
    if retry_after_s is not None:
        return min(retries.backoff_max_s, retry_after_s)
    jitter = random.Random(f"{retries.jitter_seed}:{key}:{attempt}").uniform(0.5, 1.5)
    return min(retries.backoff_max_s, retries.backoff_base_s * 2.0 ** (attempt - 1) * jitter)


async def _parse_json(content: bytes) -> Any:
    if len(content) > PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(json.loads, content)  # megabytes of JSON would stall the other requests
    return json.loads(content)


async def _attempt(
    http: Transport,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    retries: RetryConfig,
    max_answer_chars: int,
) -> tuple[Outcome | None, Attempt | None]:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            response: RawResponse = await http.post(url, body, headers)
    except TimeoutError:
        return None, Attempt(f"timeout after {timeout_s:g} s", True)
    except TransportError as exc:
        return None, Attempt(f"connection error ({exc})", True)
    except BodyTooLarge as exc:
        hint = "12 bytes per character of max_answer_chars + 1 MiB; raise max_answer_chars if such answers are expected"
        return None, Attempt(f"response rejected: {exc} ({hint})", False)
    except ResponseRejected as exc:
        return None, Attempt(f"response rejected: {exc}", False)
    latency = time.perf_counter() - start
    status = response.status
    if not 200 <= status < 300:
        detail = response.text[:300].replace("\n", " ")
        retry_after = _retry_after(response.headers)
        return None, Attempt(f"HTTP {status}: {detail}", status in retries.retry_statuses, retry_after)
    try:
        payload = await _parse_json(response.content)
    except RecursionError:
        return None, Attempt("bad response (the JSON is nested too deeply to read)", True)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of too many digits
        return None, Attempt(f"bad response (not JSON: {exc})", True)
    try:
        text, finish, prompt_tokens, completion_tokens = parse_completion(payload, max_answer_chars=max_answer_chars)
    except BadResponse as exc:
        return None, Attempt(f"bad response ({exc})", exc.retryable)
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
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
    sleep: Sleep = asyncio.sleep,
) -> Outcome:
    """Send one chat request with retries; never raises for what a server sends (see the module doc)."""
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    failure: Attempt | None = None
    for attempt in range(1, retries.max_attempts + 1):
        outcome, failure = await _attempt(http, url, data, headers, timeout_s, retries, max_answer_chars)
        if outcome is not None:
            return outcome if attempt == 1 else dataclasses.replace(outcome, attempts=attempt)
        assert failure is not None
        message = clean_error(failure.message)
        if not failure.retryable or attempt == retries.max_attempts:
            log.debug("request %s failed for good after %d attempts: %s", key[:12], attempt, message)
            return Outcome(None, None, None, None, None, message, attempt)
        delay = backoff_delay(retries, key, attempt, failure.retry_after_s)
        log.debug("request %s attempt %d failed (%s); retrying in %.3f s", key[:12], attempt, message, delay)
        await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
