"""Multiple-choice question sets with gold answers, for a local model's outcomes: MMLU and MedQA.

**MMLU with the large models' real outcomes** (:func:`load_mmlu_questions`): the prompts and the
GPT-4-1106 / Mixtral-8x7B correctness of RouteLLM's ``routellm-evals`` (see
:mod:`routerlab.data.loaders.routellm`; ``mmlu/responses/mmlu_<subject>.csv``), joined with the gold
answer of the original MMLU test set in ``raw-evals`` (``mmlu/test/<subject>_test.csv``: question,
choice0..3, answer 0-3). RouteLLM's file holds no answer key, so the join is by text: each raw row
is rendered in RouteLLM's prompt format (:func:`mcq_prompt`: the question, ``"A. …"`` to ``"D. …"``
on their own lines, then ``"Answer:"``) and both sides are normalised (:func:`normalise`: Unicode
NFKC, runs of white space to one space, stripped). A prompt is joined only when exactly one gold
answer goes with its normalised text; a prompt with no raw row, or with raw rows that disagree on
the answer, gets no gold and is left out of the question set (never a guessed gold), and
:class:`JoinReport` counts them per subject. One known artefact is undone: RouteLLM built its
prompts through pandas, which reads a choice such as ``None`` or ``NA`` as a missing value and
prints it as ``nan`` (10 of the 14,042 prompts); a raw row whose choice is one of pandas' default
missing-value strings (:data:`PANDAS_NA`) is therefore also indexed with that choice as ``nan``.
With it all 14,042 prompts join (without it 14,032).

**MedQA 4-option** (:func:`load_medqa_questions`, ``raw-evals/medqa/medqa_4options_test.jsonl``):
for out-of-domain tests. No large-model outcomes exist for it; the small model's correctness is all
that AUROC needs. Prompts use the same format as MMLU's.

The prompt text is what the local model reads (:mod:`routerlab.data.features.lm`, "raw" format)
and what the routers' encoders read, so it is also the query text of the resulting RoutingData.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from routerlab._random import stable_uniform
from routerlab.data.loaders.routellm import MODELS as ROUTELLM_MODELS
from routerlab.errors import DataNotFoundError, SchemaError

LETTERS = ("A", "B", "C", "D")
#: pandas' default ``na_values``: a choice spelled so became ``nan`` in RouteLLM's prompts
PANDAS_NA = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
     "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip
_SPACE = re.compile(r"\s+")

#: MMLU's four subject groups, as Hendrycks et al. define them (``categories.py`` of hendrycks/test:
#: subject → subcategory → category); routerxbench Table 1 holds out groups of this kind.
MMLU_GROUPS: dict[str, tuple[str, ...]] = {
    "stem": (
        "abstract_algebra", "astronomy", "college_biology", "college_chemistry", "college_computer_science",
        "college_mathematics", "college_physics", "computer_security", "conceptual_physics",
        "electrical_engineering", "elementary_mathematics", "high_school_biology", "high_school_chemistry",
        "high_school_computer_science", "high_school_mathematics", "high_school_physics",
        "high_school_statistics", "machine_learning",
    ),
    "humanities": (
        "formal_logic", "high_school_european_history", "high_school_us_history", "high_school_world_history",
        "international_law", "jurisprudence", "logical_fallacies", "moral_disputes", "moral_scenarios",
        "philosophy", "prehistory", "professional_law", "world_religions",
    ),
    "social_sciences": (
        "econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology", "human_sexuality",
        "professional_psychology", "public_relations", "security_studies", "sociology", "us_foreign_policy",
    ),
    "other": (
        "anatomy", "business_ethics", "clinical_knowledge", "college_medicine", "global_facts", "human_aging",
        "management", "marketing", "medical_genetics", "miscellaneous", "nutrition", "professional_accounting",
        "professional_medicine", "virology",
    ),
}  # fmt: skip


def mmlu_group(subject: str) -> str:
    """The MMLU group (:data:`MMLU_GROUPS`) of ``subject``; a clear error for an unknown subject."""
    for group, subjects in MMLU_GROUPS.items():
        if subject in subjects:
            return group
    raise SchemaError(f"{subject!r} is not an MMLU subject; the groups list 57 (e.g. 'anatomy', 'astronomy').")


def normalise(text: str) -> str:
    """The join key of a text: NFKC, white space collapsed to single spaces, stripped."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def mcq_prompt(question: str, choices: Sequence[str]) -> str:
    """RouteLLM's (and Hendrycks et al.'s) MMLU prompt: question, lettered options, ``"Answer:"``."""
    if len(choices) != len(LETTERS):
        raise SchemaError(f"A question needs {len(LETTERS)} choices; got {len(choices)}: {list(choices)!r}.")
    lines = [question, *(f"{letter}. {choice}" for letter, choice in zip(LETTERS, choices, strict=True))]
    return "\n".join(lines) + "\nAnswer:"


@dataclass(frozen=True, slots=True)
class JoinCount:
    """How one subject's prompts joined their gold answers."""

    prompts: int
    matched: int
    unmatched: int  # no raw row with this text
    ambiguous: int  # raw rows with this text disagree on the answer

    @property
    def rate(self) -> float:
        """Share of prompts that got a gold answer."""
        return self.matched / self.prompts if self.prompts else float("nan")


@dataclass(frozen=True, slots=True)
class JoinReport:
    """Per-subject join counts, and the totals."""

    subjects: dict[str, JoinCount] = field(default_factory=dict)

    @property
    def total(self) -> JoinCount:
        """The counts summed over subjects."""
        c = list(self.subjects.values())
        return JoinCount(
            sum(x.prompts for x in c),
            sum(x.matched for x in c),
            sum(x.unmatched for x in c),
            sum(x.ambiguous for x in c),
        )


@dataclass(frozen=True, slots=True)
class QuestionSet:
    """Multiple-choice questions with gold letters (index into :data:`LETTERS`), in a fixed order.

    ``large`` is (n, len(large_models)) correctness in {0, 1} of the large models (empty width when
    the source has none); ``subjects`` the MMLU subject or ``"medqa"``.
    """

    name: str
    query_ids: list[str]
    texts: list[str]
    subjects: list[str]
    gold: np.ndarray
    large_models: tuple[str, ...]
    large: np.ndarray
    join: JoinReport | None = None

    def __len__(self) -> int:
        return len(self.query_ids)

    def take(self, rows: Sequence[int] | np.ndarray) -> QuestionSet:
        """The questions at ``rows``, in that order."""
        idx = np.asarray(rows, dtype=np.int64)
        return QuestionSet(
            self.name,
            [self.query_ids[i] for i in idx],
            [self.texts[i] for i in idx],
            [self.subjects[i] for i in idx],
            self.gold[idx],
            self.large_models,
            self.large[idx],
            self.join,
        )

    def sample(self, limit: int | None, *, seed: int = 0) -> QuestionSet:
        """``limit`` questions drawn by a seeded hash of their ids (all when None), in the original order.

        A question's draw depends on its id and ``seed`` only, so a larger ``limit`` keeps every
        question of a smaller one (growing a collection only adds questions) and subjects are
        covered in proportion.
        """
        if limit is None:
            return self
        if limit < 1:
            raise SchemaError(f"limit must be >= 1 (or None for all questions). Got {limit}.")
        draw = stable_uniform(self.query_ids, seed, salt="question-sample")
        return self.take(np.sort(np.argsort(draw, kind="stable")[:limit]))


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataNotFoundError(f"{what} not found at {str(path)!r}; point the loader at the folder that holds it.")
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _gold_index(raw_dir: Path, subject: str) -> dict[str, set[int]]:
    """Normalised prompt text -> the set of gold answers the raw MMLU rows give it."""
    path = raw_dir / f"{subject}_test.csv"
    if not path.exists():
        return {}
    index: dict[str, set[int]] = {}
    for i, row in enumerate(_read_csv(path)):
        try:
            choices = [row[f"choice{k}"] for k in range(4)]
            answer = int(row["answer"])
            question = row["question"]
        except (KeyError, ValueError) as exc:
            raise SchemaError(f"{path} row {i + 2}: needs question, choice0..3 and answer 0-3 ({exc}).") from None
        if not 0 <= answer < len(LETTERS):
            raise SchemaError(f"{path} row {i + 2}: answer must be 0-3. Got {answer}.")
        keys = {normalise(mcq_prompt(question, choices))}
        if any(c in PANDAS_NA for c in choices):
            keys.add(normalise(mcq_prompt(question, ["nan" if c in PANDAS_NA else c for c in choices])))
        for key in keys:
            index.setdefault(key, set()).add(answer)
    return index


def load_mmlu_questions(
    routellm_dir: str | Path, raw_evals_dir: str | Path, *, subjects: Sequence[str] | None = None
) -> QuestionSet:
    """MMLU prompts with GPT-4 / Mixtral correctness (RouteLLM) and joined gold answers (raw-evals).

    ``routellm_dir`` is the ``routellm-evals`` folder, ``raw_evals_dir`` the ``raw-evals`` folder;
    ``subjects`` restricts to those MMLU subjects (all 57 by default), in sorted order. Questions keep
    the order of RouteLLM's files; ids are ``mmlu/<subject>/<row>`` (row in RouteLLM's file, from 0).
    Prompts without exactly one gold answer are dropped and counted in ``join``.
    """
    responses = _need(Path(routellm_dir) / "mmlu" / "responses", "RouteLLM's MMLU responses (mmlu/responses/)")
    raw_dir = _need(Path(raw_evals_dir) / "mmlu" / "test", "MMLU test files (raw-evals mmlu/test/)")
    available = sorted(p.name[len("mmlu_") : -len(".csv")] for p in responses.glob("mmlu_*.csv"))
    wanted = available if subjects is None else list(subjects)
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise SchemaError(f"Unknown MMLU subject(s) {missing}; RouteLLM's files have: {', '.join(available)}.")
    ids: list[str] = []
    texts: list[str] = []
    subj: list[str] = []
    gold: list[int] = []
    large: list[list[float]] = []
    counts: dict[str, JoinCount] = {}
    for subject in sorted(wanted):
        path = responses / f"mmlu_{subject}.csv"
        index = _gold_index(raw_dir, subject)
        n = matched = unmatched = ambiguous = 0
        for i, row in enumerate(_read_csv(path)):
            n += 1
            answers = index.get(normalise(row["prompt"]))
            if not answers:
                unmatched += 1
                continue
            if len(answers) > 1:
                ambiguous += 1
                continue
            outcome = []
            for model in ROUTELLM_MODELS:
                value = row.get(model)
                if value not in ("True", "False"):
                    raise SchemaError(f"{path} row {i + 2}: column {model!r} must be True or False. Got {value!r}.")
                outcome.append(1.0 if value == "True" else 0.0)
            matched += 1
            ids.append(f"mmlu/{subject}/{i}")
            texts.append(row["prompt"])
            subj.append(subject)
            gold.append(next(iter(answers)))
            large.append(outcome)
        counts[subject] = JoinCount(n, matched, unmatched, ambiguous)
    return QuestionSet(
        name="mmlu",
        query_ids=ids,
        texts=texts,
        subjects=subj,
        gold=np.array(gold, dtype=np.int64),
        large_models=tuple(ROUTELLM_MODELS),
        large=np.array(large, dtype=np.float64).reshape(len(ids), len(ROUTELLM_MODELS)),
        join=JoinReport(counts),
    )


def load_medqa_questions(raw_evals_dir: str | Path) -> QuestionSet:
    """MedQA (USMLE, 4 options) test questions in the MMLU prompt format; no large-model outcomes.

    Ids are ``medqa/<line>`` (line of the JSONL file, from 0); gold is ``answer_idx``.
    """
    path = _need(Path(raw_evals_dir) / "medqa" / "medqa_4options_test.jsonl", "MedQA 4-option test file")
    ids: list[str] = []
    texts: list[str] = []
    gold: list[int] = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                choices = [row["options"][letter] for letter in LETTERS]
                answer = LETTERS.index(row["answer_idx"])
                question = row["question"]
            except (ValueError, KeyError, TypeError) as exc:
                raise SchemaError(f"{path} line {i + 1}: needs question, options A-D and answer_idx ({exc}).") from None
            ids.append(f"medqa/{i}")
            texts.append(mcq_prompt(question, choices))
            gold.append(answer)
    return QuestionSet(
        name="medqa",
        query_ids=ids,
        texts=texts,
        subjects=["medqa"] * len(ids),
        gold=np.array(gold, dtype=np.int64),
        large_models=(),
        large=np.zeros((len(ids), 0)),
    )
