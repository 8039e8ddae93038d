"""``collect_lm``: outcomes and hidden states of a local LM, resumable after SIGKILL; the RoutingData it gives.

A tiny random Llama (tests/data/tiny_lm.py) stands in for SmolLM2, so every test runs in seconds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="local LMs need torch (pip install 'routerlab[lm]')")
pytest.importorskip("transformers", reason="local LMs need transformers (pip install 'routerlab[lm]')")

from routerlab.collect.local_lm import DB_NAME, LARGE_PRICES, USD_PER_CPU_HOUR, collect_lm, read_outcomes, routing_data
from routerlab.data.features.cache import text_key
from routerlab.data.features.hidden import HiddenStateStore, model_shape
from routerlab.data.features.lm import model_identity
from routerlab.data.loaders.mcq import mcq_prompt
from routerlab.errors import SchemaError
from tests.collect.conftest import kill_when_committed
from tests.data.tiny_lm import build_tiny_lm, tiny_question_set, tiny_questions

N_KILL = 400
KILL_AFTER = 60


_questions = tiny_question_set


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    corpus = [mcq_prompt(q, c) for q, c, _ in tiny_questions(N_KILL, seed=1)]
    return str(build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"), corpus))


def _outcome_rows(out: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(out / DB_NAME) as con:
        return con.execute("SELECT query_id, model, run_id FROM outcomes ORDER BY query_id").fetchall()


def test_outcomes_are_right_and_a_rerun_computes_nothing(tiny: str, tmp_path: Path) -> None:
    qs = _questions(30)
    first = collect_lm(qs, tmp_path, model=tiny, batch_size=4)
    assert (first.planned, first.already_done, first.computed) == (30, 0, 30)
    rows = read_outcomes(tmp_path, model=tiny)
    assert [r["query_id"] for r in rows] == sorted(qs.query_ids)
    gold = dict(zip(qs.query_ids, qs.gold, strict=True))
    for r in rows:
        logits = [r["logit_a"], r["logit_b"], r["logit_c"], r["logit_d"]]
        assert r["answer"] == int(np.argmax(logits))
        assert r["correct"] == int(r["answer"] == gold[r["query_id"]])
        assert 0 < r["letter_max_prob"] <= 1 and r["cpu_s"] > 0 and r["n_tokens"] > 0
    again = collect_lm(qs, tmp_path, model=tiny, batch_size=4)
    assert (again.already_done, again.computed) == (30, 0)
    assert len(_outcome_rows(tmp_path)) == 30
    # growing the set computes only the new questions
    more = collect_lm(_questions(36), tmp_path, model=tiny, batch_size=4)
    assert (more.already_done, more.computed) == (30, 6)


def test_a_missing_hidden_row_is_computed_again(tiny: str, tmp_path: Path) -> None:
    qs = _questions(8)
    collect_lm(qs, tmp_path, model=tiny, batch_size=8)
    store = HiddenStateStore(model_identity(tiny))
    for shard in store.shards():
        shard.unlink()
    summary = collect_lm(qs, tmp_path, model=tiny, batch_size=8)
    assert summary.computed == 8
    assert store.contains([text_key(t) for t in qs.texts]) == {text_key(t) for t in qs.texts}
    assert len(_outcome_rows(tmp_path)) == 8  # outcomes are final: no duplicate rows


def test_routing_data_costs_and_outcomes_by_hand(tiny: str, tmp_path: Path) -> None:
    qs = _questions(12)
    collect_lm(qs, tmp_path, model=tiny, batch_size=5)
    data = routing_data(tmp_path, model=tiny)
    assert [m.name for m in data.models] == [Path(tiny).name, "mixtral-8x7b", "gpt-4-1106"]
    assert data.cost_unit == "usd"
    rows = {r["query_id"]: r for r in read_outcomes(tmp_path, model=tiny)}
    for i, qid in enumerate(data.query_ids):
        r = rows[qid]
        k = qs.query_ids.index(qid)
        n_in = r["n_tokens"]
        assert data.Y[i, 0] == r["correct"]
        assert data.Y[i, 1] == qs.large[k, 0] and data.Y[i, 2] == qs.large[k, 1]  # Mixtral = WEAK, GPT-4 = STRONG
        assert data.cost[i, 2] == pytest.approx((n_in * 10.0 + 1 * 30.0) / 1e6)
        assert data.cost[i, 1] == pytest.approx((n_in + 1) * 0.24 / 1e6)
        assert data.cost[i, 0] == pytest.approx(r["cpu_s"] * USD_PER_CPU_HOUR / 3600) and data.cost[i, 0] > 0
        assert data.gold is not None and data.gold[i] == "ABCD"[int(qs.gold[k])]
    assert set(data.splits) <= {"train", "val", "test"}
    assert data.tokens_in is not None and data.tokens_out is not None
    assert np.isnan(data.tokens_in[:, 1:]).all() and np.isnan(data.tokens_out[:, 1:]).all()  # never measured
    assert (data.tokens_in[:, 0] > 0).all() and np.isnan(data.tokens_out).all()
    assert LARGE_PRICES["gpt-4-1106"] == (10.0, 30.0)
    with pytest.raises(SchemaError, match="usd_per_cpu_hour"):
        routing_data(tmp_path, model=tiny, usd_per_cpu_hour=0.0)


def test_a_set_without_large_outcomes_is_ood_with_nan(tiny: str, tmp_path: Path) -> None:
    collect_lm(_questions(6, large=False), tmp_path, model=tiny)
    data = routing_data(tmp_path, model=tiny)
    assert np.isnan(data.Y[:, 1:]).all() and not np.isnan(data.Y[:, 0]).any()
    with sqlite3.connect(tmp_path / DB_NAME) as con:
        assert {json.loads(r[0]) == {} for r in con.execute("SELECT large FROM questions")} == {True}


CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
from tests.collect.test_local_lm import _questions
from routerlab.collect.local_lm import collect_lm
s = collect_lm(_questions(int(sys.argv[3])), sys.argv[1], model=sys.argv[2], answer=sys.argv[4], batch_size=1)
print("finished", s.computed, flush=True)
"""


def _run_until_killed(out: Path, model: str, answer: str = "letter") -> int:
    """Run a collection in a subprocess; SIGKILL it once its log says >= KILL_AFTER are committed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out), model, str(N_KILL), answer],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return kill_when_committed(proc, _committed, KILL_AFTER, timeout_s=120.0)


def _committed(line: str) -> int | None:
    return int(line.split("committed;")[1].split()[0]) if "committed;" in line else None


@pytest.mark.parametrize("answer", ["letter", "cloze"])
def test_sigkill_mid_run_then_resume(tiny: str, tmp_path: Path, answer: str) -> None:
    out = tmp_path / "run"
    committed = _run_until_killed(out, tiny, answer)
    before = {q: run for q, _, run in _outcome_rows(out)}
    assert len(before) >= committed  # every batch the log called committed is on disk
    assert len(before) < N_KILL
    qs = _questions(N_KILL)
    summary = collect_lm(qs, out, model=tiny, answer=answer, batch_size=16)
    # a question is done once its outcome row is committed (its hidden row is written before it):
    # only the batch in flight at the kill is lost, and nothing committed is computed again
    assert summary.already_done == len(before)
    assert summary.already_done + summary.computed == N_KILL
    after = _outcome_rows(out)
    assert [q for q, _, _ in after] == sorted(qs.query_ids)  # each question once, none missing
    assert all(before[q] == run for q, _, run in after if q in before)  # committed rows are never rewritten
    assert {m for _, m, _ in after} == {model_identity(tiny, answer)}
    store = HiddenStateStore(model_identity(tiny, answer), model_shape(tiny))
    keys = [text_key(t) for t in qs.texts]
    rows = store.lookup(keys)  # every shard on disk reads back whole: none was half-written
    assert set(rows) == set(keys)
    assert all(r.shape == model_shape(tiny) and r.dtype == np.float16 for r in rows.values())
    data = routing_data(out, model=tiny, answer=answer)
    assert data.n_queries == N_KILL and not np.isnan(data.Y[:, 0]).any()


# ------------------------------------------------------------------------------ CLI
def test_cli_collects_real_mmlu_then_evaluate_reads_hidden_features(
    tiny: str, tmp_path: Path, shared_data: Path
) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app
    from routerlab.data.io import read_parquet

    runner = CliRunner()
    out = tmp_path / "coll"
    args = ["collect-lm", "--model", tiny, "--data", "mmlu", "--subjects", "anatomy,astronomy", "--limit", "40"]
    result = runner.invoke(app, [*args, "--out", str(out), "--data-dir", str(shared_data), "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert "287 of 287 RouteLLM prompts joined" in " ".join(result.output.split())  # anatomy 135 + astronomy 152
    data = read_parquet(out / "routing.parquet")
    assert data.n_queries == 40 and set(data.categories) <= {"anatomy", "astronomy"}
    assert [m.name for m in data.models][1:] == ["mixtral-8x7b", "gpt-4-1106"]
    again = runner.invoke(app, [*args, "--out", str(out), "--data-dir", str(shared_data)])
    assert again.exit_code == 0 and "0 computed (40 found done)" in " ".join(again.output.split())
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--data",
            str(out / "routing.parquet"),
            "--router",
            "knn",
            "--encoder",
            f"hidden:{tiny}?layers=final",
            "--out",
            str(tmp_path / "results"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "knn" in result.output and (tmp_path / "results" / "predictions.parquet").is_file()


def test_cli_shards_run_at_once_into_one_folder_equal_one_unsharded_run(
    tiny: str, tmp_path: Path, shared_data: Path
) -> None:
    from routerlab.data.io import read_parquet

    args = ["collect-lm", "--model", tiny, "--data", "mmlu", "--subjects", "anatomy", "--limit", "30"]
    args += ["--data-dir", str(shared_data), "--batch-size", "2"]
    cli = [sys.executable, "-c", "from routerlab.cli.main import app; app()"]
    env = {**os.environ, "ROUTERLAB_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200"}
    shards = [
        subprocess.Popen(
            [*cli, *args, "--out", str(tmp_path / "sharded"), "--shard", f"{k}/2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for k in (0, 1)
    ]  # two processes writing one outcome store and one hidden-state cache at the same time
    outputs = [p.communicate(timeout=300)[0] for p in shards]
    assert [p.returncode for p in shards] == [0, 0], outputs
    assert all("15 computed (0 found done)" in o for o in outputs), outputs
    whole = subprocess.run([*cli, *args, "--out", str(tmp_path / "whole")], capture_output=True, text=True, env=env)
    assert whole.returncode == 0, whole.stdout
    again = subprocess.run(
        [*cli, *args, "--out", str(tmp_path / "sharded"), "--shard", "0/2"], capture_output=True, text=True, env=env
    )
    assert "0 computed (15 found done)" in again.stdout and "of the sample's" not in again.stdout
    a, b = read_parquet(tmp_path / "sharded" / "routing.parquet"), read_parquet(tmp_path / "whole" / "routing.parquet")
    order = np.argsort(a.query_ids)
    assert sorted(a.query_ids) == sorted(b.query_ids) and len(a.query_ids) == 30
    np.testing.assert_array_equal(a.Y[order], b.Y[np.argsort(b.query_ids)])


def test_cli_refuses_a_bad_shard(tmp_path: Path, shared_data: Path) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app

    for bad in ("2/2", "1", "a/b", "0/0"):
        result = CliRunner().invoke(
            app, ["collect-lm", "--shard", bad, "--out", str(tmp_path), "--data-dir", str(shared_data)]
        )
        assert result.exit_code == 2 and "--shard must be K/N with 0 <= K < N" in result.output, result.output


def test_cli_refuses_subjects_for_medqa(tmp_path: Path, shared_data: Path) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app

    result = CliRunner().invoke(
        app,
        [
            "collect-lm",
            "--data",
            "medqa",
            "--subjects",
            "anatomy",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(shared_data),
        ],
    )
    assert result.exit_code == 2 and "--subjects applies to --data mmlu only" in result.output


def test_collection_fills_the_logits_store_with_the_table_values(tiny: str, tmp_path: Path) -> None:
    from routerlab.data.features.hidden import SIGNAL_COLUMNS, signal_store

    qs = _questions(5)
    collect_lm(qs, tmp_path, model=tiny)
    stored = signal_store(model_identity(tiny)).lookup([text_key(t) for t in qs.texts])
    for r in read_outcomes(tmp_path, model=tiny):
        row = stored[text_key(qs.texts[qs.query_ids.index(r["query_id"])])]
        np.testing.assert_allclose(row, [r[c] for c in SIGNAL_COLUMNS], rtol=1e-6, atol=1e-6)
