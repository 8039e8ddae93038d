"""Loopback OpenAI-compatible servers (real uvicorn on 127.0.0.1) and small configs for collection tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "fastapi", reason="the collection tests serve a mock API with fastapi (pip install 'routerlab[serve]')"
)
pytest.importorskip(
    "uvicorn", reason="the collection tests serve a mock API with uvicorn (pip install 'routerlab[serve]')"
)
pytest.importorskip("duckdb", reason="the collection store needs duckdb (pip install 'routerlab[collect]')")

from routerlab.collect import CollectConfig
from routerlab.collect.mock_server import FaultSchedule, create_app, serve_in_thread


class Served:
    """One running mock server: its URL and app (``app.state.log``, ``app.state.faults``)."""

    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app

    @property
    def log(self) -> list[Any]:
        return list(self.app.state.log)


ServeFn = Callable[..., Served]


@pytest.fixture
def serve() -> Iterator[ServeFn]:
    """Start mock servers on loopback (``serve(models, faults=..., latency_s=...)``); all stop at teardown."""
    stops: list[Callable[[], None]] = []

    def start(models: Sequence[str] = ("mock",), **options: Any) -> Served:
        app = create_app(models, **options)
        url, stop = serve_in_thread(app)
        stops.append(stop)
        return Served(url, app)

    yield start
    for stop in stops:
        stop()


def write_queries(path: Path, n: int, sources: Sequence[str] = ("mmlu", "medqa", "alpaca")) -> Path:
    """A JSONL query file with ``n`` multiple-choice-like queries cycling over ``sources``."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = f"Question {i}: which option is right? A, B, C or D. " + "context " * (i % 5)
            row = {"id": f"q{i:04d}", "text": text, "source": sources[i % len(sources)], "gold": "ABCD"[i % 4]}
            fh.write(json.dumps(row) + "\n")
    return path


def make_config(tmp_path: Path, servers: Sequence[Served], n_queries: int = 12, **overrides: Any) -> CollectConfig:
    """A fast config over ``servers`` (one endpoint each, named m0, m1, ...) and a fresh JSONL query set."""
    queries = write_queries(tmp_path / "queries.jsonl", n_queries)
    values: dict[str, Any] = {
        "endpoints": [
            {
                "name": f"m{i}",
                "base_url": s.url,
                "model": "mock",
                "input_price_per_1m": 1.0 + i,
                "output_price_per_1m": 4.0 + i,
                "max_concurrency": 4,
            }
            for i, s in enumerate(servers)
        ],
        "queries": {"jsonl": str(queries)},
        "generation": {"max_tokens": 64, "budgets": {"mmlu": 8}},
        "retries": {"max_attempts": 6, "backoff_base_s": 0.005, "backoff_max_s": 0.05},
        "store": str(tmp_path / "store.duckdb"),
        "request_timeout_s": 2.0,
        "batch_size": 8,
        "flush_interval_s": 0.05,
    }
    values.update(overrides)
    return CollectConfig.build(**values)


__all__ = ["FaultSchedule", "ServeFn", "Served", "make_config", "write_queries"]


def kill_when_committed(
    proc: subprocess.Popen[str], committed: Callable[[str], int | None], at_least: int, *, timeout_s: float
) -> int:
    """Read ``proc``'s stderr until ``committed(line)`` reports ``>= at_least`` rows, then SIGKILL it.

    Returns the count its log reported; fails the test when the child ended before it was killed
    (a watchdog kills it after ``timeout_s`` in any case).
    """
    watchdog = threading.Timer(timeout_s, proc.kill)
    watchdog.start()
    lines: list[str] = []
    count = 0
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip())
            reported = committed(line)
            if reported is not None:
                count = reported
                if count >= at_least:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL, "the child ended before it was killed:\n" + "\n".join(lines[-20:])
    return count
