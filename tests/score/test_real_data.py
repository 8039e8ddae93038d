"""Scorers on real public data from ../shared/data (skipped with a reason when the folder is absent)."""

from __future__ import annotations

import collections
import gzip
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from routerlab.score import CodeScorer, ScoreItem, extract_letter
from tests.score.helpers import unwrap_cell


def test_letter_extraction_agrees_with_routerbench_labels(shared_data: Path) -> None:
    """ARC-Challenge 0-shot responses of 11 models: our exact match reproduces RouterBench's 0/1 labels."""
    df = pd.read_csv(shared_data / "routerbench-0shot-subset" / "arc_challenge_test.csv")
    models = [c.split("|")[0] for c in df.columns if c.endswith("|model_response")]
    n = parsed = compared = agree = 0
    for _, row in df.iterrows():
        cells = {}
        votes: collections.Counter[str] = collections.Counter()
        for m in models:
            text, label = row[f"{m}|model_response"], row[m]
            if not isinstance(text, str) or pd.isna(label):
                continue
            ex = extract_letter(unwrap_cell(text), letters="ABCDE")
            cells[m] = (ex.letter, float(label))
            if label == 1 and ex.letter:
                votes[ex.letter] += 1
        gold = votes.most_common(1)[0][0] if votes else None  # the letter RouterBench marked correct
        for letter, label in cells.values():
            n += 1
            parsed += letter is not None
            if gold and letter:
                compared += 1
                agree += (letter == gold) == (label == 1.0)
    assert n > 4000
    assert parsed / n > 0.95  # the unparsed are cut-off refusals ("I do", "Unfortunately I")
    assert agree == compared


def _canonical_outcome(p: dict[str, str]) -> tuple[str, str, object, object]:
    item = ScoreItem(text=p["prompt"], tests=p["test"], entry_point=p["entry_point"], query_id=p["task_id"])
    good = CodeScorer(timeout_s=10).score(p["canonical_solution"], item)
    return p["task_id"], good.reason, good.detail.get("error"), good.detail.get("untrusted_error")


def test_all_164_humaneval_canonical_solutions_pass_and_stubs_fail(shared_data: Path) -> None:
    """The two-process sandbox keeps every canonical solution passing (issue 10); a stub fails (every 12th)."""
    path = shared_data / "raw-evals" / "humaneval" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh]
    assert len(problems) == 164
    # two spawned workers: the sandbox sets limits between fork and exec, so one thread per process
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = list(pool.map(_canonical_outcome, problems))
    assert [o[0] for o in outcomes] == [p["task_id"] for p in problems]
    assert [o for o in outcomes if o[1] != "passed"] == []
    scorer = CodeScorer(timeout_s=10)
    for p in problems[::12]:  # 14 problems: the fenced full-function form passes, a stub fails
        item = ScoreItem(text=p["prompt"], tests=p["test"], entry_point=p["entry_point"], query_id=p["task_id"])
        fenced = scorer.score(f"Sure:\n```python\n{p['prompt']}{p['canonical_solution']}\n```\nDone.", item)
        assert fenced.reason == "passed", (p["task_id"], fenced.detail)
        assert scorer.score("    return None\n", item).value == 0.0
