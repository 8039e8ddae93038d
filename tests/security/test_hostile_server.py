"""Hostile OpenAI-compatible servers: whatever a server sends fails only its own record, with the reason.

A raw asyncio HTTP/1.1 server on 127.0.0.1 (its own thread) answers each request as the case named in
its prompt (``case=<name>``) says: impossible token counts (Infinity, NaN, 10**20, negative, bool,
string), ``null`` or too long or invalid-Unicode content, wrong types for ``choices``,
``message``, ``finish_reason``, ``model``, non-JSON, a JSON nesting bomb, a 5000-digit integer,
50 MB bodies (with ``Content-Length`` and chunked), gzip and deflate bombs (~1 MB on the wire,
256 MiB inflated), unknown and stacked encodings, 1 MB of headers, slow-loris trickles of the
headers and of the body, a ``Retry-After`` of 10**9, negative, NaN or a date in year 9999, broken
status lines and truncated bodies. Good answers are mixed in the same batches.

Per transport (the lean asyncio one, the default, and httpx), one collection runs over every case;
then per case: the record is an error with a clear reason (or, for ignored fields and absurd
``Retry-After`` values, a good answer after a bounded wait), retried only when asking again can
help. Per run: every good answer is stored, every cost is finite and >= 0, the run ends within its
deadline, peak memory grows by < 200 MB despite the bombs, and a rerun resumes over the same data.
Through the command line, ``--max-cost`` still stops a run whose server sends negative and huge
token counts.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import math
import resource
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

duckdb = pytest.importorskip("duckdb", reason="the collection store needs duckdb (pip install 'routerlab[collect]')")

from routerlab.collect import CollectConfig, CollectStore, CollectSummary, Record, collect  # noqa: E402
from routerlab.collect.config import response_byte_limit  # noqa: E402

TRANSPORTS = ["asyncio", "httpx"]
TIMEOUT_S = 2.5  # reading a 13 MB body through httpx on a loaded core must fit: the over-cap cases expect 1 attempt
MAX_ATTEMPTS = 2
N_GOOD = 20
CAP = response_byte_limit(1_000_000)  # the default max_answer_chars: 13,048,576 bytes
#: a whole run: the slowest cases (slow-loris) take MAX_ATTEMPTS timeouts; the rest is slack for a loaded CI core
DEADLINE_S = 30.0
RSS_GROWTH_LIMIT_MB = 200.0

Respond = Callable[[asyncio.StreamWriter, int], Awaitable[bool]]  # (writer, nth hit of this prompt) -> keep alive


# --------------------------------------------------------------------------------------------- responses
def http(status: int, body: bytes, *headers: str, length: bool = True) -> bytes:
    """A raw HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def completion(
    content: Any = "The answer is A.", finish: Any = "stop", usage: Any = None, choices: Any = None, **top: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "mock",
        "choices": choices
        if choices is not None
        else [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": usage if usage is not None else {"prompt_tokens": 10, "completion_tokens": 5},
    }
    payload.update(top)
    return payload


def body(**changes: Any) -> bytes:
    return json.dumps(completion(**changes)).encode()  # Infinity / NaN / \ud800 are what json.dumps writes


def chunked(data: bytes, size: int) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size))


@functools.cache
def bomb(kind: str) -> bytes:
    """256 MiB of zeros compressed (~1.1 MB): gzip or zlib ("deflate")."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31 if kind == "gzip" else 15)
    zeros = bytes(1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(256)), packer.flush()])


def reply(make: Callable[[], bytes], *, keep: bool = True) -> Respond:
    async def respond(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(make())
        await writer.drain()
        return keep

    return respond


def answer(**changes: Any) -> Respond:
    """A 200 whose completion has ``changes`` (see :func:`completion`)."""
    return reply(lambda: http(200, body(**changes)))


def first_then_ok(first: bytes) -> Respond:
    """``first`` on the first hit of a prompt, a good answer after."""

    async def respond(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(first if n == 1 else http(200, body()))
        await writer.drain()
        return True

    return respond


def stream(head: bytes, piece: bytes, n_pieces: int, pause_s: float = 0.0) -> Respond:
    """``head``, then ``piece`` up to ``n_pieces`` times (pausing between), until the client hangs up."""

    async def respond(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(head)
        for _ in range(n_pieces):
            await writer.drain()
            if pause_s:
                await asyncio.sleep(pause_s)
            writer.write(piece)
        await writer.drain()
        return False

    return respond


MB50 = 50_000_000
BIG_INT = (
    '{"choices": [{"message": {"content": "A"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": '
    + "1" * 5000
    + ', "completion_tokens": 1}}'
).encode()


@dataclass(frozen=True)
class Case:
    """One hostile behaviour and what the record must say (``error`` None: a good answer)."""

    respond: Respond
    error: str | None
    attempts: int = 1


CASES: dict[str, Case] = {
    # token counts: never a crash, a lost batch, a negative or absurd cost; not retried (it would be billed again)
    "inf_tokens": Case(
        answer(usage={"prompt_tokens": math.inf, "completion_tokens": 5}),
        "usage.prompt_tokens = inf (float) is not an integer",
    ),
    "nan_tokens": Case(
        answer(usage={"prompt_tokens": 1, "completion_tokens": math.nan}),
        "usage.completion_tokens = nan (float) is not an integer",
    ),
    "huge_tokens": Case(
        answer(usage={"prompt_tokens": 10**20, "completion_tokens": 5}),
        "usage.prompt_tokens = 100000000000000000000 is outside 0..10,000,000",
    ),
    "negative_tokens": Case(
        answer(usage={"prompt_tokens": 10, "completion_tokens": -(10**6)}),
        "usage.completion_tokens = -1000000 is outside",
    ),
    "bool_tokens": Case(answer(usage={"prompt_tokens": True, "completion_tokens": 5}), "(bool) is not an integer"),
    "string_tokens": Case(answer(usage={"prompt_tokens": "10", "completion_tokens": 5}), "(str) is not an integer"),
    "missing_usage": Case(answer(usage={"total_tokens": 3}), "usage.prompt_tokens is missing", MAX_ATTEMPTS),
    "big_int_literal": Case(
        reply(lambda: http(200, BIG_INT)), "not JSON: Exceeds the limit (4300 digits)", MAX_ATTEMPTS
    ),
    # the answer itself
    "null_content": Case(answer(content=None), "content is null: the server sent no answer text"),
    "long_answer": Case(
        answer(content="x" * 1_000_001),
        "1,000,001 characters, over max_answer_chars = 1,000,000; raise max_answer_chars",
    ),
    "lone_surrogate": Case(answer(content="A \ud800"), "lone UTF-16 surrogate"),
    "content_list": Case(
        answer(content=[{"type": "text", "text": "A"}]), "content is a list, not a string", MAX_ATTEMPTS
    ),
    # wrong types for the structure
    "choices_dict": Case(answer(choices={"0": {}}), "no choices[0] object", MAX_ATTEMPTS),
    "choices_string": Case(answer(choices="A"), "no choices[0] object (choices = 'A')", MAX_ATTEMPTS),
    "message_list": Case(
        answer(choices=[{"message": [], "finish_reason": "stop"}]),
        "message is not an object",
        MAX_ATTEMPTS,
    ),
    "finish_dict": Case(
        answer(finish={"why": "stop"}), "finish_reason = {'why': 'stop'} is not a short printable string"
    ),
    "finish_long": Case(answer(finish="s" * 100_000), "finish_reason = 'sssss"),
    "model_garbage": Case(answer(model={"x": [1, None]}, id=7, created="yesterday"), None),  # not read
    "top_level_list": Case(
        reply(lambda: http(200, b"[1, 2]")), "the body is a JSON list, not a JSON object", MAX_ATTEMPTS
    ),
    # not JSON
    "not_json": Case(reply(lambda: http(200, b"<html>502 Bad Gateway</html>")), "not JSON", MAX_ATTEMPTS),
    "invalid_utf8": Case(reply(lambda: http(200, b"\xff\xfe\xfa{")), "not JSON", MAX_ATTEMPTS),
    "nesting_bomb": Case(reply(lambda: http(200, b"[" * 1_000_000)), "the JSON is nested too deeply", MAX_ATTEMPTS),
    # sizes and encodings: rejected while reading, never held whole, not retried
    "huge_body": Case(
        stream(http(200, b"", f"Content-Length: {MB50}", length=False), b"x" * (1 << 20), 48),
        f"over the {CAP:,}-byte limit (announced: {MB50:,} bytes)",
    ),
    "huge_body_chunked": Case(
        stream(http(200, b"", "Transfer-Encoding: chunked", length=False), chunked(b"x" * (1 << 20), 1 << 20), 48),
        f"over the {CAP:,}-byte limit",
    ),
    "huge_body_to_close": Case(
        stream(http(200, b"", "Connection: close", length=False), b"x" * (1 << 20), 48),
        f"is over the {CAP:,}-byte limit",
    ),
    "gzip_bomb": Case(
        reply(lambda: http(200, bomb("gzip"), "Content-Encoding: gzip")), f"inflates to over the {CAP:,}-byte limit"
    ),
    "gzip_bomb_chunked": Case(
        reply(
            lambda: http(
                200,
                chunked(bomb("gzip"), 1 << 16) + b"0\r\n\r\n",
                "Content-Encoding: gzip",
                "Transfer-Encoding: chunked",
                length=False,
            )
        ),
        "inflates to over",
    ),
    "deflate_bomb": Case(reply(lambda: http(200, bomb("deflate"), "Content-Encoding: deflate")), "inflates to over"),
    "brotli": Case(reply(lambda: http(200, b"xx", "Content-Encoding: br")), "unsupported Content-Encoding 'br'"),
    "gzip_twice": Case(
        reply(
            lambda: http(200, gzip.compress(gzip.compress(body())), "Content-Encoding: gzip", "Content-Encoding: gzip")
        ),
        "unsupported Content-Encoding 'gzip, gzip'",
    ),
    "gzip_ok": Case(reply(lambda: http(200, gzip.compress(body()), "Content-Encoding: gzip")), None),
    # HTTP framing: retried, a bounded number of times
    "huge_headers": Case(
        reply(lambda: http(200, body(), "X-Pad: " + "p" * 1_000_000), keep=False), "connection error", MAX_ATTEMPTS
    ),
    "bad_status_line": Case(
        reply(lambda: b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}", keep=False), "connection error", MAX_ATTEMPTS
    ),
    "truncated_body": Case(reply(lambda: http(200, body())[:-20], keep=False), "connection error", MAX_ATTEMPTS),
    "no_answer": Case(reply(lambda: b"", keep=False), "connection error", MAX_ATTEMPTS),
    # time: the deadline covers the whole exchange
    "slow_loris_body": Case(
        stream(http(200, b"", "Content-Length: 1000", length=False), b"{", 200, 0.05),
        f"timeout after {TIMEOUT_S:g} s",
        MAX_ATTEMPTS,
    ),
    "slow_loris_head": Case(
        stream(b"HTTP/1.1 200 OK\r\n", b"X-A: b\r\n", 200, 0.05), f"timeout after {TIMEOUT_S:g} s", MAX_ATTEMPTS
    ),
    # Retry-After: a usable value waits at most backoff_max_s, an absurd one falls back to the backoff
    "retry_after_huge": Case(first_then_ok(http(429, b"{}", f"Retry-After: {10**9}")), None, 2),
    "retry_after_negative": Case(first_then_ok(http(429, b"{}", "Retry-After: -5")), None, 2),
    "retry_after_nan": Case(first_then_ok(http(503, b"{}", "Retry-After: nan")), None, 2),
    "retry_after_year_9999": Case(
        first_then_ok(http(429, b"{}", "Retry-After: Fri, 31 Dec 9999 23:59:59 GMT")), None, 2
    ),
    "terminal_escapes": Case(
        reply(lambda: http(400, b"\x1b[2J\x1b[31mpwned\r\nINFO routerlab: all good")),
        "HTTP 400: \\x1b[2J\\x1b[31mpwned\\r INFO routerlab: all good",
    ),
    "retry_after_forever": Case(
        reply(lambda: http(429, b'{"error": "slow down"}', f"Retry-After: {10**12}")),
        'HTTP 429: {"error": "slow down"}',
        MAX_ATTEMPTS,
    ),
}


# ------------------------------------------------------------------------------------------------ server
class HostileServer:
    """A raw HTTP/1.1 server on 127.0.0.1 in a thread; each request is answered by the case in its prompt."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()  # by whole prompt, so each transport's run starts afresh
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-server", daemon=True)
        self._thread.start()
        assert self._ready.wait(10.0), "the hostile server did not start"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(1000):  # requests on one keep-alive connection
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
                )
                prompt = json.loads(await reader.readexactly(length))["messages"][-1]["content"]
                self.hits[prompt] += 1
                case = prompt.split("case=")[1].split()[0]
                respond = CASES[case].respond if case in CASES else reply(lambda: http(200, body()))
                if not await respond(writer, self.hits[prompt]):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client hung up (as it should on a body over its limit, or at its deadline)
        finally:
            writer.close()

    def close(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        self._loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    bomb("gzip"), bomb("deflate")  # built once, before any timing
    hostile = HostileServer()
    yield hostile
    hostile.close()


# ------------------------------------------------------------------------------------------------ helpers
def config(tmp: Path, url: str, prompts: list[str], transport: str, **overrides: Any) -> CollectConfig:
    tmp.mkdir(parents=True, exist_ok=True)
    queries = tmp / "queries.jsonl"
    queries.write_text("".join(json.dumps({"id": f"q{i:03d}", "text": p}) + "\n" for i, p in enumerate(prompts)))
    values: dict[str, Any] = {
        "endpoints": [
            {
                "name": "hostile",
                "base_url": url,
                "model": "mock",
                "input_price_per_1m": 1.0,
                "output_price_per_1m": 4.0,
                "max_concurrency": 8,
            }
        ],
        "queries": {"jsonl": str(queries)},
        "store": str(tmp / "store.duckdb"),
        "request_timeout_s": TIMEOUT_S,
        "retries": {"max_attempts": MAX_ATTEMPTS, "backoff_base_s": 0.01, "backoff_max_s": 0.05},
        "batch_size": 8,
        "flush_interval_s": 0.05,
        "http_client": transport,
    }
    values.update(overrides)
    return CollectConfig.build(**values)


def _peak_reset() -> float:
    """Reset the peak-RSS mark (Linux) and return the current RSS in MB; -1 where it cannot be reset."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_mb("VmRSS")
    except OSError:
        return -1.0


def _maxrss_mb() -> float:
    """The process' peak RSS in MB (``ru_maxrss`` is in KiB on Linux, in bytes on macOS)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << (20 if sys.platform == "darwin" else 10))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/self/status")  # pragma: no cover


@dataclass
class HostileRun:
    transport: str
    summary: CollectSummary
    records: dict[str, Record]
    rerun: CollectSummary
    rerun_records: dict[str, Record]
    good_hits_before_rerun: int
    good_hits_after_rerun: int


@pytest.fixture(scope="module", params=TRANSPORTS)
def hostile_run(
    request: pytest.FixtureRequest, server: HostileServer, tmp_path_factory: pytest.TempPathFactory
) -> HostileRun:
    transport: str = request.param
    tmp = tmp_path_factory.mktemp(f"hostile-{transport}")
    good = [f"case=good-{i} via {transport}" for i in range(N_GOOD)]
    slow_first = sorted(CASES, key=lambda name: not name.startswith("slow_loris"))  # they set the run's length
    bad = [f"case={name} via {transport}" for name in slow_first]
    prompts = [p for i in range(len(bad)) for p in good[i : i + 1] + bad[i : i + 1]]  # interleaved: mixed batches
    cfg = config(tmp, server.url, prompts, transport)

    summary = collect(cfg)
    with CollectStore(cfg.store, read_only=True) as store:
        first = store.records()
    good_hits = sum(n for p, n in server.hits.items() if p in good)
    rerun = collect(cfg)  # resumes over the same hostile data
    with CollectStore(cfg.store, read_only=True) as store:
        second = store.records()

    def by_case(records: list[Record]) -> dict[str, Record]:
        text = dict(zip([f"q{i:03d}" for i in range(len(prompts))], prompts, strict=True))
        return {text[r.query_id].split("case=")[1].split()[0]: r for r in records}

    return HostileRun(
        transport,
        summary,
        by_case(first),
        rerun,
        by_case(second),
        good_hits,
        sum(n for p, n in server.hits.items() if p in good),
    )


# -------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", list(CASES))
def test_each_case_fails_only_its_own_record(hostile_run: HostileRun, case: str) -> None:
    record = hostile_run.records[case]
    expected = CASES[case]
    if expected.error is None:
        assert record.ok, record.error
        assert record.response_text == "The answer is A." and record.cost_usd == pytest.approx(3e-5)
    else:
        assert record.error is not None and expected.error in record.error, record.error
        assert record.cost_usd is None and record.response_text is None and record.prompt_tokens is None
        assert len(record.error) <= 500 and record.error.isprintable()
    assert record.attempts == expected.attempts, record.error


def test_good_answers_of_the_same_batches_are_stored(hostile_run: HostileRun) -> None:
    good = [r for name, r in hostile_run.records.items() if name.startswith("good-")]
    assert len(good) == N_GOOD and all(r.ok and r.response_text == "The answer is A." for r in good)
    n_ok = N_GOOD + sum(c.error is None for c in CASES.values())
    n_bad = len(CASES) - sum(c.error is None for c in CASES.values())
    assert (hostile_run.summary.done, hostile_run.summary.errors) == (n_ok, n_bad)


def test_costs_stay_finite_and_non_negative(hostile_run: HostileRun) -> None:
    costs = [r.cost_usd for r in hostile_run.records.values() if r.cost_usd is not None]
    assert all(math.isfinite(c) and c >= 0 for c in costs)
    assert hostile_run.summary.total_cost_usd == pytest.approx(sum(costs))
    assert hostile_run.summary.total_cost_usd == pytest.approx(3e-5 * hostile_run.summary.done)


def test_the_run_ends_within_its_deadline(hostile_run: HostileRun) -> None:
    assert hostile_run.summary.elapsed_s < DEADLINE_S
    assert hostile_run.rerun.elapsed_s < DEADLINE_S


BIG = ["gzip_bomb", "gzip_bomb_chunked", "deflate_bomb", "huge_body", "huge_body_chunked", "huge_body_to_close"]


_MEASURE = """
import json, sys
from pathlib import Path
from tests.security.test_hostile_server import BIG, _maxrss_mb, _peak_reset, _status_mb, collect, config
tmp, url, transport = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
# warm up first (imports, DuckDB's first connection), so the peak measures the responses only
collect(config(tmp / "warm", url, [f"case=good-warm memory {transport}"], transport))
prompts = [p for name in BIG for p in (f"case={name} memory {transport}", f"case=good-{name} memory {transport}")]
cfg = config(tmp / "run", url, prompts, transport)
base_mb, base_maxrss = _peak_reset(), _maxrss_mb()
summary = collect(cfg)
growth = _status_mb("VmHWM") - base_mb if base_mb >= 0 else _maxrss_mb() - base_maxrss
print(json.dumps({"growth": growth, "done": summary.done, "errors": summary.errors, "elapsed": summary.elapsed_s}))
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bombs_and_huge_bodies_keep_memory_bounded(tmp_path: Path, server: HostileServer, transport: str) -> None:
    """Measured in a fresh interpreter: the test process's own history (earlier tests) must not move the peak."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path), server.url, transport],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    # three bombs inflate to 256 MiB each and three bodies are 50 MB: together 918 MB if held whole
    assert got["growth"] < RSS_GROWTH_LIMIT_MB, f"peak RSS grew by {got['growth']:.0f} MB"
    assert (got["done"], got["errors"]) == (len(BIG), len(BIG)) and got["elapsed"] < DEADLINE_S


def test_a_rerun_resumes_over_the_same_data(hostile_run: HostileRun) -> None:
    rerun, first, second = hostile_run.rerun, hostile_run.records, hostile_run.rerun_records
    assert rerun.done_before == hostile_run.summary.done and rerun.done == 0  # the same answers: same errors
    assert rerun.errors == hostile_run.summary.errors and not rerun.complete
    assert hostile_run.good_hits_after_rerun == hostile_run.good_hits_before_rerun  # good answers not asked again
    for case, record in first.items():
        again = second[case]
        if record.ok:
            assert again == record  # a successful record is final
        else:
            assert again.error is not None and again.attempts == 2 * record.attempts


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_max_cost_still_stops_a_run_fed_negative_and_huge_counts(
    tmp_path: Path, server: HostileServer, transport: str
) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.collect import collect_cmd

    # each good answer costs (10 + 5) * 10,000 / 1e6 = 0.15 USD; a negative count would have cost -10,000 USD
    hostile = ["negative_tokens", "huge_tokens", "inf_tokens"]
    prompts = [
        f"case=good-{i} budget {transport}" if i % 2 == 0 else f"case={hostile[i // 2 % 3]} #{i} budget {transport}"
        for i in range(40)
    ]
    cfg = config(tmp_path, server.url, prompts, transport)
    endpoint = {**cfg.endpoints[0].model_dump(), "input_price_per_1m": 10_000.0, "output_price_per_1m": 10_000.0}
    values = {**cfg.model_dump(mode="json"), "endpoints": [{**endpoint, "max_concurrency": 2}]}
    path = tmp_path / "collect.yaml"
    path.write_text(yaml.safe_dump(values))

    import typer

    app = typer.Typer()
    app.command()(collect_cmd)
    result = CliRunner().invoke(app, [str(path), "--max-cost", "0.5"])
    assert result.exit_code == 1 and "--max-cost budget was reached" in result.output, result.output
    with CollectStore(cfg.store, read_only=True) as store:
        records = store.records()
        total = store.total_cost()
    costs = [r.cost_usd for r in records if r.cost_usd is not None]
    assert all(math.isfinite(c) and c >= 0 for c in costs)
    assert 0.5 <= total <= 0.5 + 3 * 0.15 + 1e-9  # stops once 0.5 is spent; at most 2 more were in flight
    assert sum(r.ok for r in records) < 20  # the budget, not the end of the plan, stopped it
    assert all(r.error is not None and "usage." in r.error for r in records if not r.ok)


def test_a_record_the_store_refuses_fails_alone(tmp_path: Path, server: HostileServer) -> None:
    """Defence in depth: a record that slips past the checks and that DuckDB refuses fails alone."""
    from routerlab.collect.run import _Run
    from routerlab.collect.store import utc_now

    cfg = config(tmp_path, server.url, ["case=good-0 x"], "asyncio")

    def rec(key: str, text: str) -> Record:
        return Record(
            key,
            "q000",
            "hostile",
            server.url,
            "mock",
            8,
            "{}",
            text,
            "stop",
            False,
            1,
            1,
            0.01,
            1e-6,
            None,
            1,
            "r",
            utc_now(),
        )

    with CollectStore(cfg.store) as store:
        run = _Run(cfg, store, "r", 3, 0, None)
        run.done, run.cost = 3, 3e-6
        refused = run._commit([rec("a", "fine"), rec("b", "bad \ud800"), rec("c", "also fine")])
        run.uncount(refused)
        rows = {r.key: r for r in store.records()}
    assert [r.key for r in refused] == ["b"] and (run.done, run.errors) == (2, 1)
    assert rows["a"].ok and rows["c"].ok and rows["b"].response_text is None
    assert rows["b"].error is not None and rows["b"].error.startswith(
        "the store refused the record (UnicodeEncodeError"
    )
