"""Soak test of ``routerlab serve``: thousands of chat requests through the gateway while its upstreams fail.

    python benchmarks/soak_serve.py [--requests 10000] [--concurrency 64] [--down-from 3000] [--down-to 6000]

What runs, all on loopback:

* three upstreams (``routerlab.collect.mock_server``, each in its own process so their CPU is not
  the client's), serving the models ``small``, ``mid`` and ``big``;
* a router fitted here on a tiny routing problem over those three models (hashing encoder, kNN) and
  saved; the gateway ``routerlab serve ROUTER --pool POOL --log LOG --deadline D`` in a subprocess;
* a client (httpx, asyncio) sending ``--requests`` chat requests at ``--concurrency``, cycling
  over the policies ``router``, ``router:lambda=0.5`` and ``router:lambda=1`` so that each model is
  some requests' first choice.

**Faults.** Each request carries a fault plan (the mock server's ``mock_faults`` body field, which
the gateway forwards as it forwards any body field): for each upstream, drawn independently with
that upstream's rates (:data:`RATES`), a 429, a 500, a hang (the upstream sleeps ``--hang`` seconds,
longer than the endpoints' ``timeout_s`` and shorter than the gateway's deadline, so the gateway
times out and falls back) or a dropped connection (half a body, then the connection is cut). And
``small`` is **down** for a window: from the request ``--down-from`` to ``--down-to`` it answers 500
to every request (switched at run time with ``PUT /admin/down``).

**The precondition, by construction.** ``mid`` and ``big`` never both fail the same request: when
both draws are faults, ``big``'s is cleared (counted as ``cleared``). So whatever ``small`` does
(faults or the down window), every request has at least one healthy upstream, and the claim under
test is: *no client-visible error while any model is healthy*. One caveat, where the gateway has a
circuit breaker: a breaker opened by ``failures`` consecutive failed calls skips its model even for
a request on which that model would have answered. The down window opens ``small``'s (that is its
purpose); ``mid``'s or ``big``'s opens only after 5 consecutive failures of that model (default
threshold), about ``p^5`` per call at the planned rates (``mid`` p = 0.075: ~2e-6; ``big`` ~6e-7),
so rarely over a soak; the skips are printed by model, and a 503 it caused would fail check 1.
The pool sets each endpoint's ``max_concurrency`` to the client's concurrency, so the gateway's
per-endpoint slots queue nothing the upstreams could not take.

**Checks** (the script exits 1 when one fails):

1. every response is a 200;
2. the decision log holds exactly one record per request: as many records as requests, distinct
   ``request_id``\\ s, the same set as the ``x-request-id`` headers the client received, and each
   record's ``answered_by`` is the response's ``x-routerlab-model``;
3. every upstream attempt in the log is what the plan made it: a planned 429 or 500 is that status,
   a planned hang a timeout, a planned drop a connection error, no fault a 200, except on the down
   model, where a 500 may be the window's, and except a timeout where the plan asked for none (an
   answer slower than ``timeout_s`` on a loaded machine: the gateway rightly fell back; counted and
   printed); a model skipped without a call (``circuit_open``, ``concurrency_limit``) is counted
   apart; no request sent after ``small`` went down and answered before it came back was answered
   by ``small``; the model that answered had no fault planned;
4. if the gateway serves ``/metrics`` (Prometheus text): ``routerlab_fallbacks_total`` (moves from a
   model to the next of the ranking) equals the log's sum over records of ``len(attempts) - 1``,
   and ``routerlab_answers_total`` by model equals the log's ``answered_by`` counts. (The number of
   *requests* that fell back, ``answered_by != chosen``, is printed beside it: a request that fell
   back twice is one such request and two moves.)

Printed: wall time and throughput, the load average, client statuses and latency p50/p90/p99, the
log's counts, first choices and answering models, fallbacks and the attempts-per-request
histogram, upstream errors by model and kind, the planned faults, and each check.

``tests/serve/test_soak.py`` runs the same harness (:func:`run_client`, :func:`check`) at CI size,
with the upstreams and the gateway in threads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("small", "mid", "big")
PRICES = (1.0, 2.0, 5.0)  # USD per 1M tokens, input and output
#: the down model (its window) and the pair of which at least one is healthy on every request
DOWN_MODEL = "small"
HEALTHY_PAIR = ("mid", "big")
#: per-upstream probability of each fault, drawn independently per request
RATES: dict[str, dict[str, float]] = {
    "small": {"429": 0.06, "500": 0.03, "drop": 0.02},
    "mid": {"500": 0.04, "timeout": 0.015, "drop": 0.02},
    "big": {"429": 0.03, "timeout": 0.015, "500": 0.015},
}
POLICIES = ("router", "router:lambda=0.5", "router:lambda=1")
MATH = [f"compute the integral of x^{i} times sin x over zero to pi" for i in range(8)]
CHAT = [f"say hello to my friend number {i} in a cheerful tone" for i in range(8)]


# ------------------------------------------------------------------------------------------- the plan
@dataclass(frozen=True, slots=True)
class Plan:
    """Each request's faults by model (``faults[i][model]``; a model absent: no fault) and how many were cleared."""

    faults: list[dict[str, str]]
    cleared: int


def draw_plan(n: int, *, seed: int = 0, rates: dict[str, dict[str, float]] | None = None) -> Plan:
    """Draw each request's faults from ``rates``; ``big``'s fault is cleared where ``mid`` also has one."""
    rates = RATES if rates is None else rates
    rng = random.Random(seed)
    faults: list[dict[str, str]] = []
    cleared = 0
    for _ in range(n):
        plan: dict[str, str] = {}
        for model, kinds in rates.items():
            u = rng.random()
            for kind, p in kinds.items():
                if u < p:
                    plan[model] = kind
                    break
                u -= p
        if all(m in plan for m in HEALTHY_PAIR):
            del plan[HEALTHY_PAIR[1]]
            cleared += 1
        faults.append(plan)
    return Plan(faults, cleared)


def request_body(i: int, plan: Plan, ids: dict[str, str]) -> dict[str, Any]:
    """The ``i``-th chat request: a policy and a query cycling, the plan keyed by the upstream model ids."""
    text = (MATH + CHAT)[i % (len(MATH) + len(CHAT))]
    return {
        "model": POLICIES[i % len(POLICIES)],
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 32,
        "mock_faults": {ids[m]: f for m, f in plan.faults[i].items()},
    }


# ------------------------------------------------------------------------------------------ the client
@dataclass(slots=True)
class Answer:
    """What the client saw of one request (times from ``time.monotonic``)."""

    i: int
    status: int
    request_id: str | None
    model: str | None
    latency_s: float
    sent: float
    done: float
    error: str | None = None


@dataclass(slots=True)
class ClientRun:
    """The answers in request order, the wall time, and when the down window began and ended."""

    answers: list[Answer]
    wall_s: float
    down_at: float | None = None
    up_at: float | None = None


async def _set_down(admin_url: str, fault: str | None) -> None:
    import httpx

    async with httpx.AsyncClient() as c:
        r = await c.put(f"{admin_url}/admin/down", json={"fault": fault})
        r.raise_for_status()


async def run_client(
    gateway_url: str,
    bodies: Sequence[dict[str, Any]],
    *,
    concurrency: int,
    down: tuple[str, int, int] | None = None,
    timeout_s: float = 60.0,
) -> ClientRun:
    """Send ``bodies`` to ``gateway_url`` (``.../v1``) from ``concurrency`` workers, in order of index.

    ``down = (admin_url, start, end)`` takes that upstream down (500) before request ``start`` is
    sent and back up before request ``end`` is sent: no request of index >= start (>= end) leaves
    before the switch is acknowledged.
    """
    import httpx

    n = len(bodies)
    answers: list[Answer | None] = [None] * n
    run = ClientRun([], 0.0)
    lock = asyncio.Lock()
    next_i = 0

    async def take() -> int | None:
        nonlocal next_i
        async with lock:  # held across a down switch, so no later index overtakes it
            i = next_i
            if i >= n:
                return None
            next_i += 1
            if down is not None and i == down[1]:
                await _set_down(down[0], "500")
                run.down_at = time.monotonic()
            if down is not None and i == down[2]:
                run.up_at = time.monotonic()
                await _set_down(down[0], None)
            return i

    # idle connections expire after 2 s, before the server's keep-alive timeout (uvicorn: 5 s), else a request sent
    # on a connection the server is closing at that moment fails with a ReadError (both default to 5 s)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=timeout_s, limits=limits) as client:

        async def worker() -> None:
            while (i := await take()) is not None:
                sent = time.monotonic()
                try:
                    r = await client.post("/chat/completions", json=bodies[i])
                    got = Answer(
                        i, r.status_code, r.headers.get("x-request-id"), r.headers.get("x-routerlab-model"), 0, sent, 0
                    )
                    if r.status_code != 200:
                        got.error = r.text[:300]
                except httpx.HTTPError as exc:
                    got = Answer(i, 0, None, None, 0, sent, 0, f"{type(exc).__name__}: {exc!r}")
                got.done = time.monotonic()
                got.latency_s = got.done - sent
                answers[i] = got

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        run.wall_s = time.monotonic() - start
    if down is not None and run.up_at is None and run.down_at is not None:
        await _set_down(down[0], None)
        run.up_at = time.monotonic()
    run.answers = [a for a in answers if a is not None]
    return run


# ------------------------------------------------------------------------------------------- the checks
#: attempt errors of a model the gateway skipped without calling it (its circuit breaker, its concurrency limit)
SKIPS = ("circuit_open", "concurrency_limit")


def attempt_kind(attempt: dict[str, Any]) -> str:
    """A logged upstream attempt as a fault name or, for a model skipped without a call, its error code.

    Fault names: ``ok``, ``429``, ``500``, ``timeout``, ``drop``, ``refused``; skips: :data:`SKIPS`.
    """
    status, error = attempt.get("status"), attempt.get("error")
    if status is not None:
        return "ok" if status == 200 else str(status)
    name = str(error or "")
    if name in SKIPS:
        return name
    if "Timeout" in name:
        return "timeout"
    if "Connect" in name:
        return "refused"
    return "drop"


@dataclass(slots=True)
class Report:
    """The figures and the checks of a soak run (``failures`` empty: it passed)."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def ok(self, name: str, passed: bool, detail: str) -> None:
        """Record one check."""
        self.lines.append(f"  [{'PASS' if passed else 'FAIL'}] {name}: {detail}")
        if not passed:
            self.failures.append(f"{name}: {detail}")


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def prometheus_samples(text: str, name: str) -> dict[str, float]:
    """The samples of metric ``name`` in Prometheus text format, by their label text (``'model="big"'``)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, labels = head.partition("{")
        if metric == name:
            samples[labels.rstrip("}")] = float(value)
    return samples


def check(
    run: ClientRun,
    records: Sequence[dict[str, Any]],
    plan: Plan,
    *,
    ids: dict[str, str],
    metrics: str | None = None,
) -> Report:
    """Check a soak run against its decision log and plan (the module doc's checks 1-4); figures for printing."""
    rep = Report()
    answers = run.answers
    n = len(plan.faults)
    by_name = {v: k for k, v in ids.items()}  # upstream model id -> pool name (the log holds pool names)
    statuses = Counter(a.status for a in answers)
    lat = [a.latency_s * 1000 for a in answers]
    rep.figures.update(
        requests=n,
        wall_s=run.wall_s,
        throughput=n / run.wall_s if run.wall_s else float("nan"),
        statuses=dict(statuses),
        p50_ms=_percentile(lat, 50),
        p90_ms=_percentile(lat, 90),
        p99_ms=_percentile(lat, 99),
        max_ms=max(lat, default=float("nan")),
    )
    bad = [a for a in answers if a.status != 200]
    shown = [(a.i, a.status, round(a.latency_s * 1000), a.error) for a in bad[:4]]
    rep.ok(
        "every response is 200",
        len(answers) == n and not bad,
        f"{statuses.get(200, 0)} of {n} are 200" + (f"; first others (i, status, ms, error): {shown}" if bad else ""),
    )

    # 2. one record per request
    log_ids = [r["request_id"] for r in records]
    client_ids = {a.request_id for a in answers if a.request_id}
    rep.ok("one log record per request", len(records) == n, f"{len(records)} records for {n} requests")
    rep.ok("request ids distinct", len(set(log_ids)) == len(log_ids), f"{len(set(log_ids))} distinct ids")
    rep.ok(
        "log ids == x-request-id headers",
        set(log_ids) == client_ids and len(client_ids) == n,
        f"{len(client_ids)} headers, {len(set(log_ids) & client_ids)} in both",
    )
    by_id = {r["request_id"]: r for r in records}
    header_mismatch = [a.i for a in answers if a.request_id in by_id and by_id[a.request_id]["answered_by"] != a.model]
    rep.ok("answered_by == x-routerlab-model", not header_mismatch, f"{len(header_mismatch)} differ")

    # 3. every attempt is what the plan made it
    wrong: list[str] = []
    slow = 0  # timeouts the plan did not ask for: the upstream's answer took longer than timeout_s (a loaded machine)
    down_hits = 0
    in_window_by_down_model = 0
    attempts_hist: Counter[int] = Counter()
    errors: Counter[tuple[str, str]] = Counter()
    chosen: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    fallbacks = 0  # requests answered by another model than the first choice
    moves = 0  # moves to the next model of the ranking (skips included): sum of (attempts - 1)
    skips: Counter[str] = Counter()
    skipped_after_up = 0  # the down model skipped (circuit open) on requests sent after it came back: recovery cost
    for a in answers:
        r = by_id.get(a.request_id or "")
        if r is None:
            continue
        faults = {by_name.get(m, m): f for m, f in plan.faults[a.i].items()}
        tried = r["attempts"] or []
        attempts_hist[len(tried)] += 1
        chosen[r["chosen"]] += 1
        answered[r["answered_by"]] += 1
        fallbacks += r["answered_by"] != r["chosen"]
        moves += max(len(tried) - 1, 0)
        for t in tried:
            kind = attempt_kind(t)
            if kind in SKIPS:  # not called: nothing to compare with the plan
                skips[f"{t['model']}:{kind}"] += 1
                after_up = run.up_at is not None and a.sent > run.up_at
                skipped_after_up += after_up and t["model"] == DOWN_MODEL and kind == "circuit_open"
                continue
            if kind != "ok":
                errors[(t["model"], kind)] += 1
            want = faults.get(t["model"], "ok")
            if kind == want:
                continue
            if kind == "timeout":
                slow += 1
                continue
            if t["model"] == DOWN_MODEL and kind == "500":
                down_hits += 1
                continue
            wrong.append(f"request {a.i} {t['model']}: planned {want}, logged {kind}")
        if r["answered_by"] in faults:
            wrong.append(f"request {a.i} answered by {r['answered_by']}, planned {faults[r['answered_by']]}")
        inside = run.down_at is not None and a.sent >= run.down_at and (run.up_at is None or a.done <= run.up_at)
        if inside and r["answered_by"] == DOWN_MODEL:
            in_window_by_down_model += 1
    rep.ok("attempts match the plan", not wrong, f"{len(wrong)} differ" + (f", e.g. {wrong[:3]}" if wrong else ""))
    if run.down_at is not None:
        rep.ok(
            f"{DOWN_MODEL} answered nothing while down",
            in_window_by_down_model == 0,
            f"{in_window_by_down_model} answered inside the window; {down_hits} down-window 500s on {DOWN_MODEL}",
        )
    rep.figures.update(
        fallbacks=fallbacks,
        moves=moves,
        skips=dict(sorted(skips.items())),
        skipped_after_up=skipped_after_up,
        attempts_hist=dict(sorted(attempts_hist.items())),
        upstream_errors={f"{m}:{k}": c for (m, k), c in sorted(errors.items())},
        chosen=dict(chosen),
        answered=dict(answered),
        down_hits=down_hits,
        slow=slow,
        planned={m: dict(Counter(p[m] for p in plan.faults if m in p)) for m in MODELS},
        cleared=plan.cleared,
    )

    # 4. the Prometheus fallback counter, where the gateway has one
    if metrics is None:
        rep.lines.append("  [skip] /metrics: the gateway has none (404)")
    else:
        counted = sum(prometheus_samples(metrics, "routerlab_fallbacks_total").values())
        rep.ok(
            "/metrics routerlab_fallbacks_total == the log's fallback moves",
            counted == moves,
            f"{counted:g} vs sum over records of (attempts - 1) = {moves}",
        )
        by_model = {k.split('"')[1]: v for k, v in prometheus_samples(metrics, "routerlab_answers_total").items()}
        rep.ok(
            "/metrics routerlab_answers_total == the log's answered_by",
            by_model == {m: float(c) for m, c in answered.items()},
            f"{ {m: int(v) for m, v in sorted(by_model.items())} }",
        )
    return rep


def format_report(rep: Report, *, header: Sequence[str] = ()) -> str:
    """The figures and checks as printable text."""
    f = rep.figures
    out = [*header]
    out.append(f"requests {f['requests']:,} in {f['wall_s']:.1f} s = {f['throughput']:.0f} req/s")
    out.append(f"client statuses: {f['statuses']}")
    out.append(
        f"latency ms: p50 {f['p50_ms']:.1f}  p90 {f['p90_ms']:.1f}  p99 {f['p99_ms']:.1f}  max {f['max_ms']:.1f}"
    )
    out.append(f"planned faults: {f['planned']} (big's cleared where mid also failed: {f['cleared']})")
    out.append(f"first choice (chosen): {f['chosen']}")
    out.append(f"answered by: {f['answered']}")
    n = f["requests"]
    out.append(
        f"fallbacks: {f['fallbacks']:,} requests answered by another model than the first choice "
        f"({100 * f['fallbacks'] / n:.1f} %); {f['moves']:,} moves to a next model"
    )
    out.append(f"attempts per request (skips included): {f['attempts_hist']}")
    out.append(
        f"skipped without a call (model:reason): {f['skips']}; {DOWN_MODEL} skipped on requests sent after it "
        f"came back up: {f['skipped_after_up']}"
    )
    out.append(f"upstream errors by model:kind: {f['upstream_errors']}")
    out.append(
        f"  of which down-window 500s: {f['down_hits']}; timeouts not planned (an answer slower than timeout_s): "
        f"{f['slow']}"
    )
    out.append("checks:")
    out.extend(rep.lines)
    out.append("PASSED" if not rep.failures else f"FAILED ({len(rep.failures)} checks)")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ the setup
def fit_router(folder: Path) -> None:
    """Fit and save the soak's router: math queries only ``big`` solves, chat ones every model (kNN, hashing)."""
    from routerlab.data.schema import ModelInfo, RoutingData
    from routerlab.routers import make_router
    from routerlab.routers.pipeline import FeatureRouter

    texts = MATH + CHAT
    n = len(texts)
    data = RoutingData(
        name="soak",
        query_ids=np.array([f"q{i}" for i in range(n)], dtype=object),
        sources=np.array(["s"] * n, dtype=object),
        splits=np.array(["train"] * n, dtype=object),
        models=tuple(ModelInfo(m) for m in MODELS),
        Y=np.array([[0.0, 0.0, 1.0]] * len(MATH) + [[1.0, 1.0, 1.0]] * len(CHAT)),
        cost=np.tile(np.array(PRICES), (n, 1)),
        cost_unit="usd",
        texts=np.array(texts, dtype=object),
    )
    FeatureRouter(encoder="hashing", router=make_router("knn", k=3), cache=False).fit(data).save(folder)


def write_pool(path: Path, urls: dict[str, str], *, timeout_s: float, max_concurrency: int) -> dict[str, str]:
    """Write the pool file over ``urls``; return the upstream model id of each pool model."""
    ids = {m: m for m in MODELS}
    endpoints = [
        {
            "name": m,
            "base_url": urls[m],
            "model": ids[m],
            "input_price_per_1m": p,
            "output_price_per_1m": p,
            "timeout_s": timeout_s,
            "max_concurrency": max_concurrency,
        }
        for m, p in zip(MODELS, PRICES, strict=True)
    ]
    path.write_text(json.dumps({"endpoints": endpoints}, indent=2))  # JSON is YAML
    return ids


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    cmd: list[str], ready_url: str, *, what: str, log: Path, timeout_s: float = 120.0, env: dict[str, str] | None = None
) -> Callable[[], None]:
    """Run ``cmd`` (stdout and stderr to ``log``) until ``ready_url`` answers 200; a stop function (idempotent)."""
    import httpx

    err = log.open("w")
    proc = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT, env=env)

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        err.close()

    until = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            stop()
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(ready_url, timeout=2.0).status_code == 200:
                return stop
        except httpx.HTTPError:
            pass
        if time.monotonic() > until:
            stop()
            raise RuntimeError(f"{what} did not answer {ready_url} within {timeout_s:g} s: {log.read_text()[-3000:]}")
        time.sleep(0.2)


def start_gateway(
    router: Path, pool: Path, log: Path, *, deadline_s: float, stderr: Path
) -> tuple[str, Callable[[], None]]:
    """``routerlab serve`` in a subprocess; its URL (``.../v1``) once ``/healthz`` answers, and a stop function."""
    port = free_port()
    cmd = [sys.executable, "-m", "routerlab.cli.main", "serve", str(router), "--pool", str(pool)]
    cmd += ["--port", str(port), "--log", str(log), "--deadline", str(deadline_s)]
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    stop = start_server(cmd, f"{base}/healthz", what="the gateway", log=stderr, env=env)
    return f"{base}/v1", stop


def fetch_metrics(gateway_url: str) -> str | None:
    """The gateway's ``/metrics`` text, or None when it has none (404)."""
    import httpx

    r = httpx.get(gateway_url.removesuffix("/v1") + "/metrics", timeout=10.0)
    return r.text if r.status_code == 200 else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak (see the module doc); 0 when every check passed."""
    from routerlab.collect.mock_server import serve_in_subprocess
    from routerlab.serve.log import read_log

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--down-from", type=int, default=3_000, help="first request sent with 'small' down")
    parser.add_argument("--down-to", type=int, default=6_000, help="first request sent with 'small' up again")
    parser.add_argument("--timeout", type=float, default=1.0, help="each endpoint's timeout_s")
    parser.add_argument("--hang", type=float, default=3.0, help="seconds a planned hang sleeps (> --timeout)")
    parser.add_argument("--deadline", type=float, default=15.0, help="the gateway's deadline (> 3 x --timeout)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="keep the router, pool and log in this folder")
    ns = parser.parse_args(argv)
    if not ns.timeout < ns.hang < ns.deadline:
        parser.error("need --timeout < --hang < --deadline: a hang must time out, and the deadline outlast it")

    folder = ns.keep or Path(tempfile.mkdtemp(prefix="soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    stops: list[Callable[[], None]] = []
    try:
        urls = {}
        for m in MODELS:
            urls[m], stop = serve_in_subprocess(
                ["--models", m, "--fault-plan", "--hang", str(ns.hang), "--log-level", "critical"]
            )
            stops.append(stop)
        fit_router(folder / "router")
        ids = write_pool(folder / "pool.yaml", urls, timeout_s=ns.timeout, max_concurrency=ns.concurrency)
        log = folder / "decisions.sqlite"
        log.unlink(missing_ok=True)
        gateway, stop = start_gateway(
            folder / "router", folder / "pool.yaml", log, deadline_s=ns.deadline, stderr=folder / "gateway.err"
        )
        stops.append(stop)
        plan = draw_plan(ns.requests, seed=ns.seed)
        bodies = [request_body(i, plan, ids) for i in range(ns.requests)]
        load_before = os.getloadavg()
        down = (urls[DOWN_MODEL].removesuffix("/v1"), ns.down_from, ns.down_to)
        run = asyncio.run(run_client(gateway, bodies, concurrency=ns.concurrency, down=down))
        load_after = os.getloadavg()
        metrics = fetch_metrics(gateway)
        records = read_log(log)
        rep = check(run, records, plan, ids=ids, metrics=metrics)
    finally:
        for stop in reversed(stops):
            stop()
    header = [
        f"soak: {ns.requests:,} requests at concurrency {ns.concurrency}; upstreams small/mid/big in subprocesses, "
        f"timeout_s {ns.timeout} s, hang {ns.hang} s, gateway deadline {ns.deadline} s (subprocess)",
        f"fault rates: {RATES}; {DOWN_MODEL} down (500) for requests [{ns.down_from}, {ns.down_to})",
        f"load average: before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f} "
        f"{load_after[1]:.2f} ({os.cpu_count()} CPUs)",
        f"files: {folder}",
    ]
    print(format_report(rep, header=header))
    return 0 if not rep.failures else 1


if __name__ == "__main__":
    sys.exit(main())
