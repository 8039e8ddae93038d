"""MMLU prompts joined with gold answers by text (never guessed), and MedQA, from real files and small made-up ones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from routerlab.data.loaders.mcq import load_medqa_questions, load_mmlu_questions, mcq_prompt, normalise
from routerlab.data.loaders.routellm import STRONG, WEAK
from routerlab.errors import SchemaError


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _fixture(root: Path) -> tuple[Path, Path]:
    routellm, raw = root / "routellm-evals", root / "raw-evals"
    prompts = [
        (mcq_prompt("What is 2+2?", ["3", "4", "5", "6"]), "True", "False"),  # matched, gold 1
        (mcq_prompt("Capital  of\tFrance?", ["Paris", "Rome", "Oslo", "Bern"]), "False", "True"),  # white space
        (mcq_prompt("Pick none", ["a", "b", "c", "nan"]), "True", "True"),  # pandas turned 'None' into 'nan'
        (mcq_prompt("Orphan question", ["w", "x", "y", "z"]), "True", "True"),  # no raw row
        (mcq_prompt("Twice", ["p", "q", "r", "s"]), "True", "False"),  # raw rows disagree on the answer
    ]
    _write(routellm / "mmlu/responses/mmlu_toy.csv", ["prompt", WEAK, STRONG], [list(p) for p in prompts])
    _write(
        raw / "mmlu/test/toy_test.csv",
        ["question", "choice0", "choice1", "choice2", "choice3", "answer"],
        [
            ["What is 2+2?", "3", "4", "5", "6", "1"],
            ["Capital of France?", "Paris", "Rome", "Oslo", "Bern", "0"],
            ["Pick none", "a", "b", "c", "None", "3"],
            ["Twice", "p", "q", "r", "s", "0"],
            ["Twice", "p", "q", "r", "s", "2"],
        ],
    )
    return routellm, raw


def test_join_by_text_counts_what_it_leaves_out(tmp_path: Path) -> None:
    routellm, raw = _fixture(tmp_path)
    qs = load_mmlu_questions(routellm, raw)
    assert qs.query_ids == ["mmlu/toy/0", "mmlu/toy/1", "mmlu/toy/2"]
    assert qs.gold.tolist() == [1, 0, 3]
    np.testing.assert_array_equal(qs.large, [[1, 0], [0, 1], [1, 1]])  # (Mixtral, GPT-4)
    c = qs.join.subjects["toy"] if qs.join else None
    assert c is not None and (c.prompts, c.matched, c.unmatched, c.ambiguous) == (5, 3, 1, 1)
    assert c.rate == pytest.approx(0.6)


def test_unknown_subject_names_the_available_ones(tmp_path: Path) -> None:
    routellm, raw = _fixture(tmp_path)
    with pytest.raises(SchemaError, match="toy"):
        load_mmlu_questions(routellm, raw, subjects=["toyy"])


def test_sample_is_nested_and_keeps_order(tmp_path: Path) -> None:
    routellm, raw = _fixture(tmp_path)
    qs = load_mmlu_questions(routellm, raw)
    two, three = qs.sample(2, seed=5), qs.sample(3, seed=5)
    assert set(two.query_ids) <= set(three.query_ids)
    assert two.query_ids == sorted(two.query_ids, key=qs.query_ids.index)
    with pytest.raises(SchemaError, match="limit"):
        qs.sample(0)


def test_normalise_collapses_space_and_unicode() -> None:
    assert normalise("  a\u00a0 b\n\tc ") == "a b c"
    assert normalise("\uff21") == "A"  # NFKC: fullwidth A


def test_medqa_prompt_and_gold(tmp_path: Path) -> None:
    path = tmp_path / "raw-evals/medqa/medqa_4options_test.jsonl"
    path.parent.mkdir(parents=True)
    row = {"question": "Q?", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer_idx": "C"}
    path.write_text(json.dumps(row) + "\n\n", encoding="utf-8")
    qs = load_medqa_questions(tmp_path / "raw-evals")
    assert qs.texts == ["Q?\nA. a\nB. b\nC. c\nD. d\nAnswer:"] and qs.gold.tolist() == [2]
    assert qs.large.shape == (1, 0) and qs.query_ids == ["medqa/0"]


def test_real_mmlu_joins_every_prompt(shared_data: Path) -> None:
    qs = load_mmlu_questions(
        shared_data / "routellm-evals", shared_data / "raw-evals", subjects=["college_mathematics", "anatomy"]
    )
    assert qs.join is not None
    total = qs.join.total
    assert (total.prompts, total.matched) == (235, 235)  # 100 + 135, incl. 3 'None' choices read as 'nan'
    first = qs.texts[qs.query_ids.index("mmlu/anatomy/0")]
    assert first.startswith("A lesion causing compression of the facial nerve") and first.endswith("\nAnswer:")
    assert qs.gold[qs.query_ids.index("mmlu/anatomy/0")] == 0


def test_real_medqa(shared_data: Path) -> None:
    qs = load_medqa_questions(shared_data / "raw-evals")
    assert len(qs) == 1273 and qs.gold[0] == 1  # the first question's answer_idx is B


def test_mmlu_groups_cover_the_57_subjects_once(shared_data: Path) -> None:
    from routerlab.data.loaders.mcq import MMLU_GROUPS, mmlu_group

    subjects = sorted(p.name[: -len("_test.csv")] for p in (shared_data / "raw-evals/mmlu/test").glob("*_test.csv"))
    grouped = [s for group in MMLU_GROUPS.values() for s in group]
    assert sorted(grouped) == subjects and len(subjects) == 57
    assert [len(g) for g in MMLU_GROUPS.values()] == [18, 13, 12, 14]
    assert mmlu_group("anatomy") == "other" and mmlu_group("formal_logic") == "humanities"
    with pytest.raises(SchemaError, match="not an MMLU subject"):
        mmlu_group("astrology")
