"""``collect_lm_gen``: generated answers and verbal signals, resumable after SIGKILL, cached by content; the answer
files through ``routerlab score`` and the audit's artifact decomposition; ``collect-lm-gen`` from the CLI.

A tiny random "instruct" Llama (tests/data/tiny_chat_lm.py) stands in for SmolLM2.
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

from typer.testing import CliRunner

from routerlab.cli.collect_lm_gen import LetterClasses
from routerlab.cli.main import app
from routerlab.collect.local_gen import DB_NAME, collect_lm_gen, read_generations, write_answer_files
from routerlab.data.features.generate import GenSettings, generation_identity
from routerlab.data.features.lm import split_mcq
from routerlab.data.features.verbal import GenerationCache, VerbalSignalEncoder, discrete_semantic_entropy
from routerlab.data.io import read_parquet
from routerlab.data.loaders.mcq import mcq_prompt
from tests.collect.conftest import kill_when_committed
from tests.data.tiny_chat_lm import build_tiny_chat_lm
from tests.data.tiny_lm import tiny_question_set, tiny_questions

SETTINGS = GenSettings(k=3, max_new_tokens=4)
N_KILL = 120
KILL_AFTER = 20


_questions = tiny_question_set


def _flat(text: str) -> str:
    """CLI output with rich's line wrapping undone (runs of white space as one space)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    corpus = [mcq_prompt(q, c) for q, c, _ in tiny_questions(N_KILL, seed=1)]
    # answers the letter scorer can read now and then: the letters and option words are in the vocabulary
    return str(build_tiny_chat_lm(tmp_path_factory.mktemp("tiny-chat"), [*corpus, "The answer is A B C D"]))


def _rows(out: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(out / DB_NAME) as con:
        return con.execute("SELECT query_id, run_id FROM generations ORDER BY query_id").fetchall()


def test_a_rerun_computes_nothing_and_another_folder_reads_the_cache(tiny: str, tmp_path: Path) -> None:
    qs, classify = _questions(10), LetterClasses()
    first = collect_lm_gen(qs, tmp_path / "a", classify=classify, model=tiny, settings=SETTINGS, batch_size=4)
    assert (first.planned, first.already_done, first.from_cache, first.generated) == (10, 0, 0, 10)
    again = collect_lm_gen(qs, tmp_path / "a", classify=classify, model=tiny, settings=SETTINGS, batch_size=4)
    assert (again.already_done, again.generated, again.from_cache) == (10, 0, 0)
    elsewhere = collect_lm_gen(qs, tmp_path / "b", classify=classify, model=tiny, settings=SETTINGS, batch_size=3)
    assert (elsewhere.already_done, elsewhere.from_cache, elsewhere.generated) == (0, 10, 0)
    a = read_generations(tmp_path / "a", classes=classify.spec, model=tiny, settings=SETTINGS)
    b = read_generations(tmp_path / "b", classes=classify.spec, model=tiny, settings=SETTINGS)
    assert [r["record"] for r in a] == [r["record"] for r in b]  # the same content, not recomputed
    more = collect_lm_gen(_questions(13), tmp_path / "a", classify=classify, model=tiny, settings=SETTINGS)
    assert (more.already_done, more.generated) == (10, 3)
    other = collect_lm_gen(
        qs, tmp_path / "a", classify=classify, model=tiny, settings=GenSettings(k=2, max_new_tokens=4)
    )
    assert other.generated == 10  # other settings are other rows


def test_rows_hold_the_letter_scorers_classes_and_their_entropy(tiny: str, tmp_path: Path) -> None:
    qs, classify = _questions(12), LetterClasses()
    collect_lm_gen(qs, tmp_path, classify=classify, model=tiny, settings=SETTINGS)
    rows = read_generations(tmp_path, classes=classify.spec, model=tiny, settings=SETTINGS)
    assert [r["query_id"] for r in rows] == qs.query_ids
    for r in rows:
        gen, choices = r["generation"], split_mcq(r["text"])[1]
        assert r["greedy_letter"] == classify(gen.greedy.text, choices)
        labels = json.loads(r["sample_letters"])
        assert labels == [classify(s.text, choices) for s in gen.samples] and len(labels) == SETTINGS.k
        assert r["semantic_entropy"] == pytest.approx(discrete_semantic_entropy(labels))
        assert r["selfask_p_true"] == pytest.approx(gen.p_true) and 0.0 <= r["selfask_p_true"] <= 1.0
        assert all(len(s.tokens) <= SETTINGS.max_new_tokens for s in (gen.greedy, *gen.samples))
    # the verbal: encoder reads the same values from the content-addressed cache
    encoder = VerbalSignalEncoder(tiny, settings=SETTINGS, classes=classify.spec)
    np.testing.assert_allclose(
        encoder.encode(qs.texts), [[r["selfask_p_true"], r["semantic_entropy"]] for r in rows], rtol=1e-6
    )


def test_answer_files_go_through_score_and_the_artifact_audit(tiny: str, tmp_path: Path) -> None:
    qs, classify = _questions(24), LetterClasses()
    collect_lm_gen(qs, tmp_path, classify=classify, model=tiny, settings=SETTINGS)
    answers, samples = write_answer_files(tmp_path, classes=classify.spec, model=tiny, settings=SETTINGS)
    rows = {r["query_id"]: r for r in read_generations(tmp_path, classes=classify.spec, model=tiny, settings=SETTINGS)}
    lines = [json.loads(x) for x in answers.read_text().splitlines()]
    assert len(lines) == 24 and len(samples.read_text().splitlines()) == 24 * SETTINGS.k
    runner = CliRunner()
    result = runner.invoke(app, ["score", str(answers), "--scorer", "letter", "--workers", "1"])
    assert result.exit_code == 0, result.output
    data = read_parquet(tmp_path / "answers.parquet")
    assert data.model_names == [Path(tiny).name] and data.parsed is not None and data.truncated is not None
    for i, qid in enumerate(data.query_ids):
        greedy = rows[qid]["generation"].greedy
        assert bool(data.truncated[i, 0]) == (greedy.finish_reason == "length")
        assert bool(data.parsed[i, 0]) == (rows[qid]["greedy_letter"] is not None)  # the classes are the scorer's
        gold = "ABCD"[int(rows[qid]["gold"])]
        assert data.Y[i, 0] == float(rows[qid]["greedy_letter"] == gold)
    result = runner.invoke(
        app, ["audit", str(tmp_path / "answers.parquet"), "--checks", "artifacts", "--out", str(tmp_path / "au")]
    )
    assert result.exit_code == 0, result.output
    finding = json.loads((tmp_path / "au" / "audit.json").read_text())["findings"][0]
    parts = finding["numbers"]["unsolved_decomposition"]
    unsolved = data.Y[:, 0] < 1
    assert parts["n_unsolved"] == int(unsolved.sum())
    assert parts["truncation"]["n"] == int((unsolved & data.truncated[:, 0]).sum())
    assert parts["parse_failure"]["n"] == int((unsolved & ~data.parsed[:, 0]).sum())
    rates = finding["numbers"]["rates_by_model"]
    assert rates["truncation_rate"][Path(tiny).name] == pytest.approx(data.truncated.mean(), abs=1e-3)


CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
from tests.collect.test_local_gen import _questions, SETTINGS
from routerlab.cli.collect_lm_gen import LetterClasses
from routerlab.collect.local_gen import collect_lm_gen
s = collect_lm_gen(_questions(int(sys.argv[3])), sys.argv[1], classify=LetterClasses(), model=sys.argv[2],
                   settings=SETTINGS, batch_size=1)
print("finished", s.generated, flush=True)
"""


def _committed(line: str) -> int | None:
    return int(line.split("committed;")[1].split()[0]) if "committed;" in line else None


def test_sigkill_mid_run_then_resume(tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTERLAB_CACHE_DIR", str(tmp_path / "cache"))  # an empty cache, for the child too
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out), tiny, str(N_KILL)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    committed = kill_when_committed(proc, _committed, KILL_AFTER, timeout_s=120.0)
    before = dict(_rows(out))
    assert committed <= len(before) < N_KILL  # every batch the log called committed is on disk
    identity = generation_identity(tiny, SETTINGS)
    in_cache = dict(GenerationCache().identities(identity)).get(identity, 0)
    assert in_cache - len(before) in (0, 1)  # batches of one: at most one generated but not yet in OUT
    summary = collect_lm_gen(
        _questions(N_KILL), out, classify=LetterClasses(), model=tiny, settings=SETTINGS, batch_size=16
    )
    assert summary.already_done == len(before)
    assert summary.from_cache == in_cache - len(before)  # what the kill left in the cache is not generated again
    assert summary.already_done + summary.from_cache + summary.generated == N_KILL
    after = _rows(out)
    assert [q for q, _ in after] == sorted(_questions(N_KILL).query_ids)  # each question once, none missing
    assert all(before[q] == run for q, run in after if q in before)  # committed rows are never rewritten


def test_cli_samples_the_questions_collect_lm_samples_and_evaluate_reads_verbal_features(
    tiny: str, tmp_path: Path, shared_data: Path
) -> None:
    runner = CliRunner()
    common = ["--model", tiny, "--subjects", "anatomy,astronomy", "--limit", "40", "--data-dir", str(shared_data)]
    result = runner.invoke(app, ["collect-lm", *common, "--out", str(tmp_path / "lm")])
    assert result.exit_code == 0, result.output
    gen = ["collect-lm-gen", *common, "--out", str(tmp_path / "gen"), "--k", "3", "--max-new-tokens", "4"]
    result = runner.invoke(app, gen)
    assert result.exit_code == 0, result.output
    # rich wraps at the terminal's width (80 in CI): compare with the line breaks taken out
    assert "40 generated" in _flat(result.output) and "answers.jsonl" in result.output.replace("\n", "")
    again = runner.invoke(app, gen)
    assert again.exit_code == 0 and "0 generated, 0 from the cache, 40 found done" in _flat(again.output)
    with sqlite3.connect(tmp_path / "lm" / "outcomes.sqlite") as con:
        lm_ids = sorted(r[0] for r in con.execute("SELECT query_id FROM outcomes"))
    with sqlite3.connect(tmp_path / "gen" / DB_NAME) as con:
        gen_ids = sorted(r[0] for r in con.execute("SELECT query_id FROM generations"))
    assert gen_ids == lm_ids and len(gen_ids) == 40  # the same seeded sample: the two runs join by query id
    for router in ("selfask", "semantic_entropy"):
        result = runner.invoke(
            app,
            [
                "evaluate",
                "--data",
                str(tmp_path / "lm" / "routing.parquet"),
                "--router",
                router,
                "--encoder",
                f"verbal:{tiny}?k=3&max_new_tokens=4",
                "--out",
                str(tmp_path / f"eval-{router}"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert router in result.output
