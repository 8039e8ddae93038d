"""Acceptance: a collection killed with SIGKILL part-way and restarted loses nothing and repeats nothing.

Three loopback endpoints that answer 429 (with Retry-After), 500, hang past the client's timeout and
drop connections mid-response on a schedule; 210 queries × 3 models = 630 requests. The first run is
a subprocess, SIGKILLed once its log says at least 150 answers are committed; the restart finishes
the job. At the end there is exactly one successful record per (query, model), none missing, none
duplicated, and no answer committed before the kill was asked for again.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from routerlab.collect import CollectStore, collect, load_config
from routerlab.collect.mock_server import FaultSchedule, _prompt_sha, hash_backend
from routerlab.collect.queries import queries_from_jsonl
from tests.collect.conftest import ServeFn, kill_when_committed, make_config

N_QUERIES = 210
KILL_AFTER = 150

CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
from routerlab.collect import collect, load_config
summary = collect(load_config(sys.argv[1]))
print("finished", summary.done, flush=True)
"""


def _run_until_killed(config: Path, cwd: Path) -> int:
    """Start the child, SIGKILL it once >= KILL_AFTER answers are committed; return how many its log reported."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(config)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return kill_when_committed(proc, _committed, KILL_AFTER, timeout_s=90.0)


def _committed(line: str) -> int | None:
    return int(line.split(";")[1].split()[0]) if "committed" in line and " done" in line else None


def test_sigkill_part_way_then_restart(tmp_path: Path, serve: ServeFn) -> None:
    schedules = [
        FaultSchedule(every_429=5, every_500=13, every_timeout=37, every_drop=17, hang_s=1.0, retry_after_s=0.01),
        FaultSchedule(every_429=7, every_500=6, every_timeout=41, every_drop=23, hang_s=1.0, retry_after_s=None),
        FaultSchedule(every_429=11, every_500=9, every_timeout=29, every_drop=8, hang_s=1.0, retry_after_s=0.02),
    ]
    servers = [serve(["mock"], faults=f, latency_s=0.002) for f in schedules]
    cfg = make_config(
        tmp_path,
        servers,
        n_queries=N_QUERIES,
        request_timeout_s=0.3,
        retries={"max_attempts": 12, "backoff_base_s": 0.005, "backoff_max_s": 0.05},
        batch_size=16,
        flush_interval_s=0.05,
    )
    path = tmp_path / "collect.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    total = N_QUERIES * len(servers)

    committed = _run_until_killed(path, tmp_path)
    with CollectStore(cfg.store, read_only=True) as store:
        before = store.records()
    ok_before = [r for r in before if r.error is None]
    assert KILL_AFTER <= len(ok_before) < total, "the kill did not land part-way"
    assert len(ok_before) >= committed  # everything the log called committed is there
    assert len({r.key for r in before}) == len(before)
    log_marks = [len(s.log) for s in servers]

    summary = collect(load_config(path))  # the restart
    assert summary.done_before == len(ok_before)
    assert summary.done == total - len(ok_before) and summary.left == 0 and summary.complete

    queries = {q.query_id: q for q in queries_from_jsonl(tmp_path / "queries.jsonl")}
    with CollectStore(cfg.store, read_only=True) as store:
        records = store.records()
        (n_rows,) = store.fetch("SELECT count(*) FROM records")[0]
    assert n_rows == total == len(records)
    pairs = [(r.query_id, r.model) for r in records]
    assert len(set(pairs)) == total  # no duplicate
    assert set(pairs) == {(q, f"m{i}") for q in queries for i in range(len(servers))}  # none missing
    assert all(r.error is None for r in records)  # no error row left
    for r in records:  # and each answer is the one the server gives for that prompt and budget
        messages = [{"role": "user", "content": queries[r.query_id].text}]
        assert (
            r.response_text
            == hash_backend(model="mock", messages=messages, max_tokens=r.max_tokens, temperature=0.0, seed=0).text
        )
    by_key = {r.key: r for r in records}
    assert all(by_key[r.key].created_at == r.created_at for r in ok_before)  # committed answers untouched

    # nothing committed before the kill was asked again after the restart
    for i, server in enumerate(servers):
        done_before = {
            _prompt_sha([{"role": "user", "content": queries[r.query_id].text}])
            for r in ok_before
            if r.model == f"m{i}"
        }
        asked_again = [s for s in server.log[log_marks[i] :] if s.prompt_sha in done_before]
        assert not asked_again, f"m{i}: {len(asked_again)} committed answers were requested again"

    outcomes = {s.outcome for server in servers for s in server.log}
    assert {"ok", "429", "500", "timeout", "drop"} <= outcomes  # every injected fault happened
    assert any(r.attempts > 1 for r in records)
