"""Gateway overhead: the latency ``routerlab serve`` adds to a request, and its throughput, over an instant upstream.

    HF_HUB_OFFLINE=1 python benchmarks/bench_serve.py [--quick] [--requests 2000] [--concurrency 1,16,64]
        [--encoders static64,minilm] [--log both|on|off] [--max-seconds 60] [--gateway-arg=--workers=2]
        [--without httptools,uvloop] [--gateway-arg=--access-log]

Set up: a kNN router (``knn``, default k) is fitted on the train split of the shipped
``routerlab-dcrouter`` data with each encoder and saved; ONE loopback upstream
(:func:`routerlab.collect.mock_server.serve_in_subprocess`, latency 0) answers for every pool model;
the gateway runs as ``python -m routerlab.cli.main serve DIR --pool POOL`` in its own process, with
``--no-log`` and with the SQLite decision log on (the write is part of the real cost).

Load: a raw asyncio HTTP/1.1 keep-alive client (one connection per concurrent worker, no parsing
beyond the status line and Content-Length), chosen over httpx because httpx costs ~2-6 ms of CPU per
request on this machine (benchmarks/bench_collect.py): on 2 shared cores the load generator's own
CPU would be charged to the gateway. The bodies are real query texts of the test split (model
``router``, i.e. the default policy, for the gateway; the upstream's model for the direct path).
Each cell is warmed up, then sends ``--requests`` requests (or stops after ``--max-seconds``),
measuring each request's wall-clock latency.

Printed per encoder × log × concurrency: p50 / p99 of the direct path (client -> upstream) and of the
gateway path (client -> gateway -> upstream); the added latency, computed on the quantiles
(p50(gateway) − p50(direct), p99(gateway) − p99(direct): a difference of the two distributions'
quantiles, not a quantile of per-request differences, since a request goes one way or the other);
throughput (requests / wall second); and the gateway process' CPU per request (user + system from
``/proc/PID/stat``, all its threads), with what one core could serve at that cost (1000 / CPU ms).
The machine's cores and load average are printed first and beside each run: the load generator, the
gateway and the upstream share the machine's cores, so on a 2-core machine every figure is a
lower bound on what a dedicated gateway host would do.

Levers: ``--without httptools,uvloop`` hides those modules from the gateway process (uvicorn then
falls back to h11 and asyncio's loop), to measure what ``uvicorn[standard]`` brings;
``--gateway-arg=--access-log`` turns uvicorn's access-log line back on (off by default).

Targets (issue 13): added p50 ≤ 5 ms with static64, ≤ 15 ms with MiniLM; ≥ 300 req/s at concurrency
64 with static64.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from routerlab.collect.mock_server import serve_in_subprocess
from routerlab.data.registry import load
from routerlab.routers import make_router
from routerlab.routers.pipeline import FeatureRouter

TICKS = os.sysconf("SC_CLK_TCK")
UPSTREAM_MODEL = "mock"
TARGETS = {"static64": 5.0, "minilm": 15.0}


@dataclass
class Cell:
    """One measurement: per-request latencies (ms), wall seconds, and the gateway's CPU seconds (None: direct)."""

    latencies: np.ndarray
    wall_s: float
    failures: int
    gateway_cpu_s: float | None = None

    def q(self, p: float) -> float:
        return float(np.percentile(self.latencies, p))

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall_s


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_s(pid: int) -> float:
    """utime + stime of process ``pid`` and its live children (``--workers N``), all threads, in seconds."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
        except OSError:  # the process ended meanwhile
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _request(host: str, port: int, model: str, text: str) -> bytes:
    payload = json.dumps({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 16}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _load(url: str, requests: list[bytes], concurrency: int, n: int, max_s: float) -> Cell:
    """Send ``n`` requests (cycling through ``requests``) from ``concurrency`` keep-alive connections."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    latencies: list[float] = []
    failures = 0
    next_index = 0
    deadline = time.perf_counter() + max_s

    async def worker() -> None:
        nonlocal next_index, failures
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while next_index < n and time.perf_counter() < deadline:
                body = requests[next_index % len(requests)]
                next_index += 1
                start = time.perf_counter()
                writer.write(body)
                await writer.drain()
                header = await reader.readuntil(b"\r\n\r\n")
                lines = header.split(b"\r\n")
                length = next(int(h.split(b":")[1]) for h in lines if h.lower().startswith(b"content-length"))
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - start) * 1e3)
                if lines[0].split()[1] != b"200":
                    failures += 1
        finally:
            writer.close()

    wall = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Cell(np.asarray(latencies), time.perf_counter() - wall, failures)


def _measure(url: str, requests: list[bytes], concurrency: int, n: int, max_s: float, pid: int | None) -> Cell:
    cpu = _cpu_s(pid) if pid is not None else 0.0
    cell = asyncio.run(_load(url, requests, concurrency, n, max_s))
    if pid is not None:
        cell.gateway_cpu_s = _cpu_s(pid) - cpu
    return cell


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gateway(
    router_dir: Path, pool: Path, log: Path | None, extra: list[str], without: Sequence[str] = ()
) -> Iterator[tuple[str, int]]:
    """``routerlab serve`` in a child process; yields its base URL and pid once /readyz answers 200.

    ``without``: modules the gateway process cannot import (stubs raising ImportError first on its path).
    """
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "routerlab.cli.main", "serve", str(router_dir), "--pool", str(pool)]
    cmd += ["--port", str(port), *(["--no-log"] if log is None else ["--log", str(log)]), *extra]
    env = dict(os.environ)
    if without:
        stubs = Path(tempfile.mkdtemp(prefix="bench-serve-without-"))
        for module in without:
            (stubs / f"{module}.py").write_text(f"raise ImportError('{module} hidden by bench_serve --without')\n")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(stubs), env.get("PYTHONPATH", "")) if p)
    # with --access-log, uvicorn's access-log line per request is part of the cost, not of the output
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(1200):
            if proc.poll() is not None:
                raise RuntimeError(f"the gateway exited with {proc.returncode}: {' '.join(cmd)}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the gateway did not get ready in 120 s")
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fit_routers(encoders: list[str], folder: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    """Fit and save a knn router per encoder; return their folders, the pool's models and the test texts."""
    data = load("routerlab-dcrouter")
    train, test = data.split("train"), data.split("test")
    dirs = {}
    for enc in encoders:
        started = time.perf_counter()
        router = FeatureRouter(encoder=enc, router=make_router("knn")).fit(train)
        dirs[enc] = router.save(folder / f"knn-{enc}")
        print(f"fitted knn ({enc}) on {train.n_queries} train queries in {time.perf_counter() - started:.1f} s")
    assert test.texts is not None
    return dirs, list(data.model_names), [str(t) for t in test.texts]


def write_pool(models: list[str], url: str, path: Path) -> Path:
    lines = ["endpoints:"]
    for name in models:
        lines += [
            f"  - name: {json.dumps(name)}",
            f"    base_url: {url}",
            f"    model: {UPSTREAM_MODEL}",
            "    input_price_per_1m: 0.1",
            "    output_price_per_1m: 0.1",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 requests per cell, 20 s at most, log on only")
    parser.add_argument("--requests", type=int, default=2000, help="requests per cell")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="a cell stops after this many seconds")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--encoders", default="static64,minilm")
    parser.add_argument("--log", choices=("both", "on", "off"), default="both", help="decision log on, off or both")
    parser.add_argument("--gateway-arg", action="append", default=[], help="extra 'routerlab serve' argument")
    parser.add_argument("--without", default="", help="modules hidden from the gateway, e.g. httptools,uvloop")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.max_seconds = min(args.requests, 300), min(args.max_seconds, 20.0)
        if args.log == "both":
            args.log = "on"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    levels = [int(c) for c in args.concurrency.split(",")]
    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    logs = {"both": [False, True], "on": [True], "off": [False]}[args.log]
    without = [m.strip() for m in args.without.split(",") if m.strip()]
    have = {m: importlib.util.find_spec(m) is not None and m not in without for m in ("httptools", "uvloop")}
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {_load_avg()} (1/5/15 min) at start; gateway can use: {have}; "
        f"gateway args: {args.gateway_arg}"
    )
    print("load generator: raw asyncio HTTP/1.1 keep-alive client, one connection per concurrent request")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dirs, models, texts = fit_routers(encoders, folder)
        upstream, stop = serve_in_subprocess(["--models", UPSTREAM_MODEL, "--log-level", "warning"])
        try:
            pool = write_pool(models, upstream, folder / "pool.yaml")
            host, port = upstream.split("//")[1].split("/")[0].split(":")
            direct = [_request(host, int(port), UPSTREAM_MODEL, t) for t in texts]
            _measure(upstream, direct, 16, 400, 30.0, None)  # warm-up
            for enc in encoders:
                for logged in logs:
                    log = folder / f"log-{enc}.sqlite" if logged else None
                    with gateway(dirs[enc], pool, log, args.gateway_arg, without) as (url, pid):
                        gport = int(url.split(":")[2].split("/")[0])
                        routed = [_request("127.0.0.1", gport, "router", t) for t in texts]
                        _measure(url, routed, 16, 200, 30.0, pid)  # warm-up: connections, caches, encoder
                        for c in levels:
                            n = args.requests
                            d = _measure(upstream, direct, c, n, args.max_seconds, None)
                            g = _measure(url, routed, c, n, args.max_seconds, pid)
                            rows.append((enc, logged, c, d, g, _load_avg()))
                            print(_line(*rows[-1]), flush=True)
        finally:
            stop()
    print_table(rows)


def _line(enc: str, logged: bool, c: int, d: Cell, g: Cell, load_avg: str) -> str:
    cpu = (g.gateway_cpu_s or 0.0) / len(g.latencies) * 1e3
    return (
        f"  {enc:8s} log {'on ' if logged else 'off'} c={c:<3d} n={len(g.latencies):5d}: direct p50 {d.q(50):7.2f} "
        f"p99 {d.q(99):7.2f} | gateway p50 {g.q(50):7.2f} p99 {g.q(99):7.2f} ms | added p50 {g.q(50) - d.q(50):7.2f} "
        f"p99 {g.q(99) - d.q(99):7.2f} ms | {g.rps:6.0f} req/s (direct {d.rps:5.0f}) | gateway CPU {cpu:5.2f} ms/req "
        f"| failures {g.failures} | load {load_avg}"
    )


def print_table(rows: list[tuple[str, bool, int, Cell, Cell, str]]) -> None:
    print(
        "\nms; added = p(gateway) − p(direct), a difference of quantiles; CPU = gateway process user+sys per request; "
        "1-core = 1000 / CPU ms"
    )
    print(
        "| encoder | log | conc. | n | direct p50 | direct p99 | gateway p50 | gateway p99 | added p50 | added p99 "
        "| gateway req/s | direct req/s | gateway CPU ms/req | 1-core req/s | failed | load avg |"
    )
    print("|" + "---|" * 16)
    for enc, logged, c, d, g, load_avg in rows:
        cpu = (g.gateway_cpu_s or 0.0) / len(g.latencies) * 1e3
        print(
            f"| {enc} | {'on' if logged else 'off'} | {c} | {len(g.latencies)} | {d.q(50):.2f} | {d.q(99):.2f} "
            f"| {g.q(50):.2f} | {g.q(99):.2f} | {g.q(50) - d.q(50):.2f} | {g.q(99) - d.q(99):.2f} | {g.rps:.0f} "
            f"| {d.rps:.0f} | {cpu:.2f} | {1000 / cpu if cpu > 0 else float('inf'):.0f} | {g.failures} | {load_avg} |"
        )
    print()
    for enc, logged, c, _d, g, _ in rows:
        target = TARGETS.get(enc)
        if c == 1 and target is not None:
            added = g.q(50) - _d.q(50)
            verdict = "meets" if added <= target else "MISSES"
            print(
                f"{enc} log {'on' if logged else 'off'}: added p50 at c=1 {added:.2f} ms "
                f"{verdict} the {target:g} ms target"
            )
        if c == 64 and enc == "static64":
            verdict = "meets" if g.rps >= 300 else "MISSES"
            print(f"{enc} log {'on' if logged else 'off'}: {g.rps:.0f} req/s at c=64 {verdict} the 300 req/s target")


if __name__ == "__main__":
    main()
