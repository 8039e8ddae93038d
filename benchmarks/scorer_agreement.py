"""Scorer agreement suite: do the letter, exact and math scorers reproduce real datasets' own grades?

    python benchmarks/scorer_agreement.py [--data ../shared/data] [--limit N] [--examples 3] [--seed 0]

For every (scorer, source) pair it prints the agreement with the dataset's own 0/1 labels, the parse rate
(`unsolvability-ceiling-artifacts.txt` §3.3 reports it beside every exact-match figure), the agreement on
parsed answers only (§3.3 excludes unparsed responses), how many scores were NaN ("no outcome", the gold was
unusable) and how many calls raised, then a few disagreements of each pair. Sources (see each folder's
SOURCE.md):

* ``routerbench/arc_challenge``, ``routerbench/winogrande``: RouterBench's 0-shot responses of 11 models with
  RouterBench's 0/1 labels (both splits). The files carry no gold letter: the gold of a prompt is the letter
  most often extracted from its label-1 responses; prompts without a label-1 response are left out.
* ``routellm/gsm8k``: RouteLLM's GSM8K responses (Mixtral-8x7B, GPT-4) with RouteLLM's True/False
  correctness; the gold answer is joined from ``gsm8k/test.jsonl`` by question text.
* ``raw/mmlu``, ``raw/medqa``: raw benchmark keys (no model responses): each question gets one response
  naming the key (label 1) and one naming the next option (label 0), in alternating styles. This checks the
  gold handling: MMLU's key is a 0-based option index, on numeric options too (``gold_format="index"``).

The module's loaders are reused by ``tests/score/test_agreement.py``, which pins a minimum agreement per pair.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routerlab.score import LETTERS, Score, ScoreItem, Scorer, extract_letter, scorer_for

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True, slots=True)
class Case:
    """One response with the dataset's own 0/1 label for it."""

    response: str
    item: ScoreItem
    label: float
    ref: str  # where it comes from (file row and model), for the disagreement listing


@dataclass(slots=True)
class Agreement:
    """Counts of one (scorer, source) pair over its cases."""

    scorer: str
    source: str
    version: str = "?"
    n: int = 0
    agree: int = 0
    parsed: int = 0
    parsed_agree: int = 0
    nan: int = 0
    raised: int = 0
    seconds: float = 0.0
    disagreements: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        """Share of cases whose score (1 when ≥ 0.5) equals the label; NaN scores and raises disagree."""
        return self.agree / self.n if self.n else math.nan

    @property
    def parse_rate(self) -> float:
        """Share of cases with ``parsed=True``."""
        return self.parsed / self.n if self.n else math.nan

    @property
    def parsed_agreement(self) -> float:
        """Agreement among parsed cases only (§3.3's exclusion of unparsed responses)."""
        return self.parsed_agree / self.parsed if self.parsed else math.nan


def _unwrap(cell: str) -> str:
    """RouterBench stores each response as the repr of a one-element list."""
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return cell
    return str(value[0]) if isinstance(value, list) and value else str(value)


def _sample(cases: list[Case], limit: int | None, seed: int) -> list[Case]:
    if limit is None or len(cases) <= limit:
        return cases
    return random.Random(seed).sample(cases, limit)


# ----------------------------------------------------------------------------- loaders
def routerbench_cases(data: Path, task: str, *, gold_as: str = "letter") -> list[Case]:
    """RouterBench 0-shot responses of ``task`` (``arc_challenge`` or ``winograde``), both splits.

    ``gold_as="letter"`` gives the voted gold letter as ``item.gold`` (for the letter and exact scorers).
    """
    cases: list[Case] = []
    for split in ("train", "test"):
        path = data / "routerbench-0shot-subset" / f"{task}_{split}.csv"
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        models = [c.split("|")[0] for c in rows[0] if c.endswith("|model_response")] if rows else []
        letters = "AB" if task == "winograde" else "ABCDE"
        for row in rows:
            cells: list[tuple[str, str, float]] = []
            votes: Counter[str] = Counter()
            for m in models:
                text, label = row.get(f"{m}|model_response") or "", row.get(m) or ""
                if not text or not label:
                    continue
                response = _unwrap(text)
                cells.append((m, response, float(label)))
                if float(label) >= 0.5 and (letter := extract_letter(response, letters=letters).letter):
                    votes[letter] += 1
            if not votes:
                continue
            gold = votes.most_common(1)[0][0]
            item = ScoreItem(gold=gold, source=f"routerbench/{task}", query_id=f"{split}-{row['sample_id']}")
            cases += [Case(r, item, lab, f"{split}:{row['sample_id']}|{m}") for m, r, lab in cells]
    return cases


def routellm_gsm8k_cases(data: Path) -> list[Case]:
    """RouteLLM's GSM8K responses with their correctness; gold joined from ``test.jsonl``."""
    folder = data / "routellm-evals" / "gsm8k"
    with (folder / "test.jsonl").open(encoding="utf-8") as fh:
        gold = {(r := json.loads(line))["question"].strip(): r["answer"] for line in fh if line.strip()}
    with (folder / "gsm8k_responses.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    models = [c.removesuffix("_response") for c in rows[0] if c.endswith("_response")] if rows else []
    cases: list[Case] = []
    for i, row in enumerate(rows):
        answer = gold.get(row["prompt"].strip())
        if answer is None:
            continue
        item = ScoreItem(text=row["prompt"], gold=answer, source="routellm/gsm8k", query_id=str(i))
        for m in models:
            response, label = row.get(f"{m}_response"), row.get(m)
            if response is None or label not in ("True", "False"):
                continue
            cases.append(Case(response, item, 1.0 if label == "True" else 0.0, f"row {i}|{m}"))
    return cases


def _pair(key: int, wrong: int, choices: Sequence[str], gold: str, source: str, qid: str, style: int) -> list[Case]:
    """A response naming the key (label 1) and one naming option ``wrong`` (label 0), in one of four styles."""
    item = ScoreItem(gold=gold, choices=tuple(choices), source=source, query_id=qid)
    out = []
    for idx, label in ((key, 1.0), (wrong, 0.0)):
        letter, text = LETTERS[idx], choices[idx]
        response = (
            f"The answer is ({letter}).",
            f"Let me think.\n\nAnswer: {letter}. {text}",
            f"\\boxed{{{letter}}}",
            f"**{letter}**",
        )[style % 4]
        out.append(Case(response, item, label, f"{qid} option {letter}"))
    return out


def raw_mmlu_cases(data: Path) -> list[Case]:
    """MMLU test keys (0-based option index, as the csv writes it) with one right and one wrong response each."""
    cases: list[Case] = []
    for path in sorted((data / "raw-evals" / "mmlu" / "test").glob("*_test.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                choices = [row[f"choice{j}"] for j in range(4)]
                key = int(float(row["answer"]))
                qid = f"{path.stem}-{i}"
                cases += _pair(key, (key + 1) % 4, choices, row["answer"], "raw/mmlu", qid, i)
    return cases


def raw_medqa_cases(data: Path, *, gold_as: str = "letter") -> list[Case]:
    """MedQA (4 options) keys with one right and one wrong response each.

    ``gold_as="letter"``: gold is ``answer_idx`` and responses name a letter (letter scorer);
    ``gold_as="text"``: gold is the answer's text and responses state an option's text (exact scorer).
    """
    cases: list[Case] = []
    with (data / "raw-evals" / "medqa" / "medqa_4options_test.jsonl").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            row = json.loads(line)
            letters = sorted(row["options"])
            choices = [str(row["options"][k]) for k in letters]
            key = letters.index(row["answer_idx"])
            wrong = (key + 1) % len(choices)
            if gold_as == "letter":
                cases += _pair(key, wrong, choices, row["answer_idx"], "raw/medqa", f"medqa-{i}", i)
                continue
            item = ScoreItem(gold=str(row["answer"]), source="raw/medqa", query_id=f"medqa-{i}")
            for idx, label in ((key, 1.0), (wrong, 0.0)):
                text = choices[idx]
                response = (f"The answer is {text}.", f"**Answer:** {text}", f"\\boxed{{\\text{{{text}}}}}")[i % 3]
                cases.append(Case(response, item, label, f"medqa-{i} option {letters[idx]}"))
    return cases


#: (scorer, source) -> (scorer parameters, case loader)
SUITES: dict[tuple[str, str], tuple[dict[str, Any], Callable[[Path], list[Case]]]] = {
    ("letter", "routerbench/arc_challenge"): ({}, lambda d: routerbench_cases(d, "arc_challenge")),
    ("letter", "routerbench/winogrande"): ({}, lambda d: routerbench_cases(d, "winograde")),
    ("letter", "raw/mmlu"): ({"gold_format": "index"}, raw_mmlu_cases),
    ("letter", "raw/medqa"): ({}, raw_medqa_cases),
    ("exact", "routerbench/arc_challenge"): ({}, lambda d: routerbench_cases(d, "arc_challenge")),
    ("exact", "routerbench/winogrande"): ({}, lambda d: routerbench_cases(d, "winograde")),
    ("exact", "raw/medqa"): ({}, lambda d: raw_medqa_cases(d, gold_as="text")),
    ("math", "routellm/gsm8k"): ({}, routellm_gsm8k_cases),
}


def build_scorer(name: str, params: dict[str, Any]) -> Scorer:
    """The scorer ``name`` with ``params``; without them when this version of the scorer lacks the option."""
    try:
        return scorer_for(name, **params)
    except TypeError:  # an older scorer (the BEFORE run) without the option
        return scorer_for(name)


def measure(scorer: Scorer, cases: Sequence[Case], source: str, *, examples: int = 3) -> Agreement:
    """Score every case and count agreement with its label, parses, NaN scores and raises."""
    result = Agreement(scorer.spec.name, source, scorer.spec.version)
    start = time.perf_counter()
    for case in cases:
        result.n += 1
        score: Score | None
        try:
            score = scorer.score(case.response, case.item)
        except Exception as exc:  # counted, not fatal: the BEFORE code raised on some golds
            score = None
            result.raised += 1
            why = f"raised {type(exc).__name__}: {exc}"
        if score is not None:
            if score.missing:
                result.nan += 1
                why = f"no outcome ({score.reason})"
            else:
                ok = (score.value >= 0.5) == (case.label >= 0.5)
                result.agree += ok
                result.parsed += score.parsed
                result.parsed_agree += ok and score.parsed
                if ok:
                    continue
                why = f"scored {score.value:g} ({score.reason}, extracted {score.extracted!r})"
        if len(result.disagreements) < examples:
            shown = case.response if len(case.response) <= 160 else "..." + case.response[-157:]
            result.disagreements.append(
                f"{case.ref}: label {case.label:g}, gold {case.item.gold!r:.40}, {why[:160]}; response {shown!r}"
            )
    result.seconds = time.perf_counter() - start
    return result


def run(data: Path, *, limit: int | None = None, seed: int = 0, examples: int = 3) -> list[Agreement]:
    """Measure every suite in :data:`SUITES` (each subsampled to ``limit`` cases when given)."""
    out = []
    for (name, source), (params, loader) in SUITES.items():
        cases = loader(data)
        out.append(measure(build_scorer(name, params), _sample(cases, limit, seed), source, examples=examples))
    return out


def _pct(x: float) -> str:
    return "   -  " if math.isnan(x) else f"{100 * x:5.1f}%"


def main() -> None:
    """Print the agreement table and a few disagreements per pair."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--limit", type=int, default=None, help="subsample each pair to this many cases")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsample")
    parser.add_argument("--examples", type=int, default=3, help="disagreements listed per pair")
    args = parser.parse_args()
    results = run(args.data, limit=args.limit, seed=args.seed, examples=args.examples)
    head = f"{'scorer':<7} {'ver':>3} {'source':<26} {'n':>6} {'agree':>7} {'parsed':>7} {'agr|prs':>7} {'NaN':>5}"
    print(head + f" {'raised':>6} {'s':>5}")
    for r in results:
        print(
            f"{r.scorer:<7} {r.version:>3} {r.source:<26} {r.n:>6} {_pct(r.agreement):>7} {_pct(r.parse_rate):>7} "
            f"{_pct(r.parsed_agreement):>7} {r.nan:>5} {r.raised:>6} {r.seconds:5.1f}"
        )
    for r in results:
        if r.disagreements:
            print(f"\n{r.scorer} on {r.source}: {r.n - r.agree} disagreements, e.g.")
            for line in r.disagreements:
                print("  " + line)


if __name__ == "__main__":
    main()
