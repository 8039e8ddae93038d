"""`routerlab score` as a real subprocess against answers that kill, hang or crash their scorer, and a kill of itself.

A tiny scorer plug-in (a module and a ``*.dist-info`` with an entry point in ``routerlab.scorers``) is put
on PYTHONPATH. It misbehaves on marked answers — SIGKILLs its own process, exits, segfaults, sleeps past the
per-answer limit, raises — and appends every call to a file, so the tests can tell what was scored when.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routerlab.data import read_parquet

duckdb = pytest.importorskip("duckdb", reason="the collect extra (duckdb) is not installed")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

PLUGIN = '''
import ctypes, os, signal, time

from routerlab.score.base import Score, ScorerSpec


def _record_call(response, item):
    with open(os.environ["HOSTILE_CALLS"], "a") as fh:
        fh.write(item.query_id + "|" + response + "\\n")


class HostileScorer:
    """Exact match that misbehaves on marked answers."""

    spec = ScorerSpec("hostile", "1")

    def score(self, response, item):
        _record_call(response, item)
        if "KILL-ME" in response:
            os.kill(os.getpid(), signal.SIGKILL)
        if "EXIT" in response:
            os._exit(3)
        if "SEGV" in response:
            ctypes.string_at(0)
        if "HANG" in response:
            time.sleep(600)
        if "RAISE" in response:
            raise RuntimeError("the scorer gave up")
        ok = response == item.gold
        return Score(1.0 if ok else 0.0, None, True, response, "correct" if ok else "wrong", self.spec)


class SlowScorer(HostileScorer):
    """Exact match that takes a while per answer, so a run can be killed half-way."""

    spec = ScorerSpec("slow", "1", {"sleep_s": 0.1})

    def score(self, response, item):
        time.sleep(0.1)
        return super().score(response, item)
'''


@pytest.fixture
def plugin(tmp_path: Path) -> dict[str, str]:
    """The plug-in on PYTHONPATH; returns the environment to run `routerlab score` in."""
    root = tmp_path / "plugin"
    dist = root / "hostile_scorer-0.1.dist-info"
    dist.mkdir(parents=True)
    (root / "hostile_scorer.py").write_text(textwrap.dedent(PLUGIN))
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hostile-scorer\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[routerlab.scorers]\nhostile = hostile_scorer:HostileScorer\nslow = hostile_scorer:SlowScorer\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    env["HOSTILE_CALLS"] = str(tmp_path / "calls.txt")
    env["COLUMNS"] = "200"  # keep the CLI's messages on one line each
    return env


def make_store(path: Path, answers: dict[tuple[str, str], str]) -> Path:
    """A collection store with one 'toy' query per id (gold 'ok') and the given (query, model) answers."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE queries (query_id VARCHAR, text VARCHAR, source VARCHAR, gold VARCHAR, split VARCHAR)")
    con.execute(
        "CREATE TABLE records (query_id VARCHAR, model VARCHAR, response_text VARCHAR, finish_reason VARCHAR, "
        "truncated BOOLEAN, prompt_tokens INTEGER, completion_tokens INTEGER, latency_s DOUBLE, cost_usd DOUBLE, "
        "error VARCHAR)"
    )
    qids = sorted({q for q, _ in answers})
    con.executemany("INSERT INTO queries VALUES (?, 'Say ok.', 'toy', 'ok', 'test')", [(q,) for q in qids])
    con.executemany(
        "INSERT INTO records VALUES (?, ?, ?, 'stop', FALSE, 10, 2, 0.1, 0.0001, NULL)",
        [(q, m, text) for (q, m), text in answers.items()],
    )
    con.close()
    return path


def score_cli(store: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "routerlab.cli.main", "score", str(store), "--out", str(out), *extra,
    ]  # fmt: skip


def details(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    lines = [json.loads(x) for x in out.with_suffix(".scores.jsonl").read_bytes().split(b"\n") if x]
    return {(d["query_id"], d["model"]): d for d in lines}


def calls(env: dict[str, str]) -> list[str]:
    path = Path(env["HOSTILE_CALLS"])
    return path.read_text().splitlines() if path.exists() else []


def _wait_until_group_is_gone(pgid: int, within_s: float = 5.0) -> bool:
    """Whether every live (non-zombie) process of group ``pgid`` is gone within ``within_s`` (Linux; else True)."""
    if not Path("/proc/self/stat").exists():
        return True
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(stat.parent.name)
        if not alive:
            return True
        time.sleep(0.05)
    return False


HOSTILE = {
    ("q02", "a"): ("KILL-ME", "scorer_crashed", "worker killed by signal 9 (SIGKILL)"),
    ("q03", "b"): ("EXIT now", "scorer_crashed", "worker exited with code 3"),
    ("q04", "a"): ("SEGV", "scorer_crashed", "worker killed by signal 11 (SIGSEGV)"),
    ("q05", "b"): ("HANG", "scorer_timeout", "no score within 2 s; the worker was killed"),
    ("q06", "a"): ("RAISE", "scorer_error", "RuntimeError: the scorer gave up"),
}


def test_answers_that_kill_or_hang_their_scorer_lose_only_their_own_score(
    tmp_path: Path, plugin: dict[str, str]
) -> None:
    answers = {(f"q{i:02d}", m): ("ok" if (i + len(m)) % 3 else "not ok") for i in range(10) for m in ("a", "b")}
    answers.update({key: text for key, (text, _, _) in HOSTILE.items()})
    store = make_store(tmp_path / "run.duckdb", answers)
    out = tmp_path / "scored.parquet"
    cmd = score_cli(store, out, "--scorer", "hostile", "--workers", "2", "--score-timeout", "2")
    done = subprocess.run(cmd, env=plugin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 records could not be scored" in done.stderr
    assert "3 scorer_crashed, 1 scorer_timeout, 1 scorer_error" in done.stderr

    stored = details(out)
    assert len(stored) == len(answers)
    for key, (_, reason, message) in HOSTILE.items():
        score = stored[key]["score"]
        assert (score["value"], score["reason"], score["detail"]["error"]) == (None, reason, message), key
    data = read_parquet(out)
    assert data.meta["n_scorer_errors"] == len(HOSTILE)
    row, col = {q: i for i, q in enumerate(data.query_ids)}, {m: j for j, m in enumerate(data.model_names)}
    for (q, m), text in answers.items():
        y = data.Y[row[q], col[m]]
        if (q, m) in HOSTILE:
            assert np.isnan(y), (q, m)
        else:  # every other answer is scored, and scored right
            assert y == (1.0 if text == "ok" else 0.0), (q, m)
            assert stored[(q, m)]["score"]["reason"] == ("correct" if text == "ok" else "wrong")


def test_killed_run_resumes_without_rescoring_and_equals_a_one_shot_run(tmp_path: Path, plugin: dict[str, str]) -> None:
    answers = {(f"q{i:02d}", m): ("ok" if (i * 7 + len(m)) % 4 else "nope") for i in range(8) for m in ("a", "bb")}
    store = make_store(tmp_path / "run.duckdb", answers)
    reference = tmp_path / "one_shot.parquet"
    one_shot = subprocess.run(
        score_cli(store, reference, "--scorer", "slow", "--workers", "2"),
        env=plugin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert one_shot.returncode == 0, one_shot.stderr
    Path(plugin["HOSTILE_CALLS"]).unlink()

    out = tmp_path / "killed.parquet"
    checkpoint = out.with_suffix(".scores.jsonl")
    cmd = score_cli(store, out, "--scorer", "slow", "--workers", "1")
    proc = subprocess.Popen(
        cmd, env=plugin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not checkpoint.exists() or checkpoint.read_bytes().count(b"\n") < 5):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # the CLI itself, mid-run
        proc.wait(timeout=10)
        assert _wait_until_group_is_gone(proc.pid), "a scorer worker outlived the killed `routerlab score`"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # should one have outlived it, for the next tests' sake
        except ProcessLookupError:
            pass
    assert not out.exists()
    kept = checkpoint.read_bytes()
    assert 5 <= kept.count(b"\n") < len(answers)
    # as if it had also died writing its next line: a fragment after the last whole line
    lines = kept.split(b"\n")[:-1]
    checkpoint.write_bytes(b"\n".join(lines[:-1]) + b"\n" + lines[-1][:50])
    checkpointed = {(d["query_id"], d["model"]) for d in map(json.loads, lines[:-1])}
    first_calls = len(calls(plugin))

    resumed = subprocess.run(cmd, env=plugin, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed: {len(checkpointed)} scores read back" in resumed.stdout
    # every record not checkpointed must be scored now, so as many calls as those records: none stored is redone
    assert len(calls(plugin)) - first_calls == len(answers) - len(checkpointed)

    assert out.read_bytes() == reference.read_bytes()
    assert details(out) == details(reference)


def test_a_killed_run_leaves_no_scorer_running(tmp_path: Path, plugin: dict[str, str]) -> None:
    store = make_store(tmp_path / "run.duckdb", {("q00", "a"): "HANG", ("q01", "a"): "ok"})
    cmd = score_cli(store, tmp_path / "out.parquet", "--scorer", "hostile", "--score-timeout", "600")
    proc = subprocess.Popen(
        cmd, env=plugin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "q00|HANG" not in calls(plugin):
            time.sleep(0.02)
        assert "q00|HANG" in calls(plugin)
        proc.send_signal(signal.SIGKILL)  # while a worker sleeps in the scorer, deaf to its pipes
        proc.wait(timeout=10)
        assert _wait_until_group_is_gone(proc.pid), "a scorer worker outlived the killed `routerlab score`"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
