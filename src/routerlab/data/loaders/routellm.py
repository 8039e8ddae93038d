"""RouteLLM's evaluation data for the GPT-4 / Mixtral-8x7B pair: MMLU, GSM8K and MT-Bench.

Origin: https://github.com/lm-sys/RouteLLM at commit 0b64fdafe049e596a3f5657c219329f24af24198, folder
``routellm/evals/`` (Apache-2.0). Files read, relative to the dataset folder:

* ``mmlu/responses/mmlu_<subject>.csv``: ``prompt`` and one True/False correctness column per model
  (57 subjects, 14,042 prompts); ``mmlu/contaminated_prompts.jsonl``.
* ``gsm8k/gsm8k_responses.csv``: ``prompt``, a True/False column and a ``<model>_response`` column per
  model (1,319 prompts); ``gsm8k/test.jsonl`` (gold answers, joined by question text);
  ``gsm8k/contaminated_prompts.jsonl``.
* ``mt_bench/question.jsonl`` (80 two-turn questions, ``turns``, ``category``, ``reference``),
  ``mt_bench/judgements.jsonl`` (GPT-4 single-answer scores 1-10 per question, model and turn),
  ``mt_bench/contaminated_prompts.jsonl``.

Choices made here (all recorded in ``meta``):

* **Models**: ``mistralai/Mixtral-8x7B-Instruct-v0.1`` (weak) and ``gpt-4-1106-preview`` (strong), the
  column names RouteLLM uses.
* **MT-Bench query = the question**, as in RouteLLM's ``MTBench`` benchmark: the router sees the first turn
  only and the chosen model answers both turns. ``raw_score`` is the mean GPT-4 score over the turns that
  were judged (1-10), ``Y = (raw_score - 1) / 9``, ``texts`` the first turn. A judgement of -1 (MT-Bench's
  "judge failed") or a missing one is dropped from that mean; a question with no valid turn is NaN.
* **Contamination**: like RouteLLM, prompts listed as ``eval_prompt`` in a benchmark's
  ``contaminated_prompts.jsonl`` (an MT-Bench question if either turn is listed) are dropped unless
  ``include_contaminated=True``.
* **Costs**: RouteLLM states costs per million tokens, and the files hold no token counts, so
  ``cost_unit="usd_per_1m_tokens"`` with cost = (input + output price) / 2 per call, from
  :data:`PRICES`: gpt-4-1106-preview $10 in / $30 out (OpenAI list price), Mixtral-8x7B $0.24 / $0.24
  (the figure RouteLLM assumed; the papers beside this project state no prices, so this is an assumption).
* **Split**: no public split; a seeded hash split. Queries with the same prompt text within a benchmark
  (MMLU repeats some questions) get the same split, so no text is both trained and tested on.
* **Gold**: GSM8K's final answer (after ``####`` in ``test.jsonl``), MT-Bench's reference answer to the
  first turn where MT-Bench has one, none for MMLU (the files hold no answer key).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.data.loaders._common import read_jsonl, require_file
from routerlab.data.longformat import csv_read_error
from routerlab.data.responses import CleanCounts, ResponseLimits, Responses, clean_response
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.data.splits import DEFAULT_FRACTIONS, hash_split
from routerlab.errors import DataNotFoundError, SchemaError

log = logging.getLogger(__name__)

NAME = "routellm-evals"
HOMEPAGE = "https://github.com/lm-sys/RouteLLM"
COMMIT = "0b64fdafe049e596a3f5657c219329f24af24198"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
MODELS = (WEAK, STRONG)
BENCHMARKS = ("mmlu", "gsm8k", "mt_bench")
FAILED_JUDGEMENT = -1

#: USD per 1M tokens (input, output); see the module doc for where they come from.
PRICES: Mapping[str, tuple[float, float]] = {WEAK: (0.24, 0.24), STRONG: (10.0, 30.0)}
_MODEL_INFO = {
    WEAK: ModelInfo(WEAK, family="mistralai", params_b=46.7, input_price=0.24, output_price=0.24, provider_id=WEAK),
    STRONG: ModelInfo(STRONG, family="openai", input_price=10.0, output_price=30.0, provider_id=STRONG),
}


@dataclass
class _Part:
    """One benchmark's queries, before they are stacked."""

    ids: list[str]
    texts: list[str]
    categories: list[str]
    gold: list[str | None]
    y: np.ndarray
    raw: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- file helpers
def _need(path: Path) -> Path:
    return require_file(path, f"copy routellm/evals/ from {HOMEPAGE} (commit {COMMIT})")


def _read_jsonl(path: Path) -> pd.DataFrame:
    """The rows of a JSONL file as a DataFrame (strict UTF-8; errors name the line, see ``_common.read_jsonl``)."""
    return pd.DataFrame(read_jsonl(_need(path)))


def _read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(_need(path), keep_default_na=False, dtype={"prompt": str})
    except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError is a ValueError
        raise csv_read_error(path, exc, fix=f"Restore the original file ({HOMEPAGE}, commit {COMMIT}).") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise SchemaError(f"{str(path)!r} lacks the column(s) {missing}; columns are {list(df.columns)}.")
    return df


def _correctness(df: pd.DataFrame, path: Path) -> np.ndarray:
    """Return the two models' True/False columns as a float (n, 2) matrix."""
    out = np.empty((len(df), len(MODELS)))
    for j, model in enumerate(MODELS):
        col = df[model].map(lambda v: {"true": 1.0, "false": 0.0}.get(str(v).strip().lower(), np.nan))
        bad = col.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SchemaError(
                f"{str(path)!r}: column {model!r} must be True/False. Got {df[model].iloc[i]!r} at row {i + 1}."
            )
        out[:, j] = col.to_numpy(dtype=np.float64)
    return out


def contaminated_prompts(folder: Path) -> set[str]:
    """Return the ``eval_prompt`` texts listed in ``folder/contaminated_prompts.jsonl`` (empty if no file)."""
    path = folder / "contaminated_prompts.jsonl"
    if not path.is_file():
        log.warning("%s has no contaminated_prompts.jsonl; nothing is dropped", folder)
        return set()
    df = _read_jsonl(path)
    for key in ("eval_prompt", "prompt", "question"):  # RouteLLM writes eval_prompt; accept close variants
        if key in df.columns:
            return set(df[key].astype(str))
    raise SchemaError(f"{str(path)!r} has no 'eval_prompt' field; fields are {list(df.columns)}.")


def _keep(texts: Iterable[str], bad: set[str], include: bool) -> np.ndarray:
    flags = np.array([t in bad for t in texts], dtype=bool)
    return np.ones_like(flags) if include else ~flags


def _duplicates(texts: Sequence[str]) -> int:
    """Count the queries whose text repeats an earlier query's text."""
    return len(texts) - len(set(texts))


# ----------------------------------------------------------------------------- benchmarks
def _load_mmlu(root: Path, include_contaminated: bool) -> _Part:
    folder = root / "mmlu"
    files = sorted((folder / "responses").glob("mmlu_*.csv"))
    if not files:
        raise DataNotFoundError(f"no mmlu/responses/mmlu_*.csv under {str(root)!r}; copy them from {HOMEPAGE}.")
    bad = contaminated_prompts(folder)
    ids, texts, cats, ys = [], [], [], []
    n_total = n_dropped = dup_within = 0
    for path in files:
        subject = path.stem.removeprefix("mmlu_")
        df = _read_csv(path, ("prompt", *MODELS))
        keep = _keep(df["prompt"], bad, include_contaminated)
        n_total += len(df)
        n_dropped += int((~keep).sum())
        ids += [f"mmlu-{subject}-{i}" for i in np.flatnonzero(keep)]
        texts += df["prompt"][keep].tolist()
        cats += [subject] * int(keep.sum())
        ys.append(_correctness(df, path)[keep])
        dup_within += _duplicates(df["prompt"][keep].tolist())
    y = np.vstack(ys)
    info = {
        "n_subjects": len(files),
        "n_rows": n_total,
        "contaminated_listed": len(bad),
        "contaminated_dropped": n_dropped,
        "duplicate_prompts": _duplicates(texts),
        "duplicate_prompts_within_subject": dup_within,
    }
    return _Part(ids, texts, cats, [None] * len(ids), y, y.copy(), info)


def _gsm8k_gold(folder: Path, prompts: Sequence[str]) -> tuple[list[str | None], int]:
    """Join final answers from ``test.jsonl`` by question text; return them and how many joined."""
    path = folder / "test.jsonl"
    if not path.is_file():
        log.warning("%s is missing; GSM8K gold answers are left empty", path)
        return [None] * len(prompts), 0
    test = _read_jsonl(path)
    answers = {
        str(q).strip(): str(a).rsplit("####", 1)[-1].strip()
        for q, a in zip(test["question"], test["answer"], strict=True)
    }
    gold = [answers.get(p.strip()) for p in prompts]
    return gold, sum(g is not None for g in gold)


def _load_gsm8k(root: Path, include_contaminated: bool) -> _Part:
    folder = root / "gsm8k"
    path = folder / "gsm8k_responses.csv"
    df = _read_csv(path, ("prompt", *MODELS))
    bad = contaminated_prompts(folder)
    keep = _keep(df["prompt"], bad, include_contaminated)
    texts = df["prompt"][keep].tolist()
    gold, joined = _gsm8k_gold(folder, texts)
    y = _correctness(df, path)[keep]
    responses = [f"{m}_response" for m in MODELS if f"{m}_response" in df.columns]
    info = {
        "n_rows": len(df),
        "contaminated_listed": len(bad),
        "contaminated_dropped": int((~keep).sum()),
        "duplicate_prompts": _duplicates(texts),
        "gold_joined": joined,
        "response_columns": responses,
    }
    ids = [f"gsm8k-{i}" for i in np.flatnonzero(keep)]
    return _Part(ids, texts, ["gsm8k"] * len(ids), gold, y, y.copy(), info)


def _judgement_scores(judgements: pd.DataFrame, qids: Sequence[int]) -> tuple[np.ndarray, dict[str, int]]:
    """Average the valid scores (1-10) per (question, model) over the turns; also count judgements."""
    needed = ("question_id", "model", "turn", "score")
    missing = [c for c in needed if c not in judgements.columns]
    if missing:
        raise SchemaError(f"mt_bench/judgements.jsonl lacks {missing}; fields are {list(judgements.columns)}.")
    j = judgements[judgements["model"].isin(MODELS)]
    scores = pd.to_numeric(j["score"], errors="coerce")
    failed = scores == FAILED_JUDGEMENT
    out_of_range = scores.notna() & ~failed & ((scores < 1) | (scores > 10))
    if out_of_range.any():
        row = j[out_of_range].iloc[0]
        raise SchemaError(
            f"MT-Bench score {row['score']!r} for question {row['question_id']} / {row['model']} / turn "
            f"{row['turn']} is outside 1-10 (and not -1, a failed judgement)."
        )
    valid = j.assign(score=scores)[scores.notna() & ~failed]
    means = valid.groupby(["question_id", "model"])["score"].mean()
    raw = np.full((len(qids), len(MODELS)), np.nan)
    for i, q in enumerate(qids):
        for k, m in enumerate(MODELS):
            raw[i, k] = means.get((q, m), np.nan)
    sub = j[j["question_id"].isin(set(qids))]
    sub_scores = pd.to_numeric(sub["score"], errors="coerce")
    expected = len(qids) * len(MODELS) * 2
    counts = {
        "judgements_expected": expected,
        "judgements_failed_minus_1": int((sub_scores == FAILED_JUDGEMENT).sum()),
        "judgements_missing": expected - int(sub_scores.notna().sum()),
        "judgements_non_integer": int((sub_scores.notna() & (sub_scores % 1 != 0)).sum()),
        "judgements_other_models": int((~judgements["model"].isin(MODELS)).sum()),
    }
    return raw, counts


def _load_mt_bench(root: Path, include_contaminated: bool) -> _Part:
    folder = root / "mt_bench"
    questions = _read_jsonl(folder / "question.jsonl")
    judgements = _read_jsonl(folder / "judgements.jsonl")
    bad = contaminated_prompts(folder)
    turns = questions["turns"].tolist()
    listed = np.array([any(str(t) in bad for t in ts) for ts in turns], dtype=bool)
    keep = np.ones_like(listed) if include_contaminated else ~listed
    q = questions[keep]
    qids = [int(x) for x in q["question_id"]]
    raw, counts = _judgement_scores(judgements, qids)
    refs = q["reference"] if "reference" in q.columns else pd.Series([None] * len(q))
    gold = [str(r[0]) if isinstance(r, list) and r else None for r in refs]
    texts = [str(ts[0]) for ts in q["turns"]]
    info = {
        "n_questions": len(questions),
        "contaminated_listed": len(bad),
        "contaminated_dropped": int((~keep).sum()),
        "duplicate_prompts": _duplicates(texts),
        "gold_references": sum(g is not None for g in gold),
        **counts,
    }
    ids = [f"mt_bench-{x}" for x in qids]
    return _Part(ids, texts, q["category"].astype(str).tolist(), gold, (raw - 1.0) / 9.0, raw, info)


_LOADERS = {"mmlu": _load_mmlu, "gsm8k": _load_gsm8k, "mt_bench": _load_mt_bench}


# ----------------------------------------------------------------------------- assembly
def _split_keys(ids: Sequence[str], sources: Sequence[str], texts: Sequence[str]) -> list[str]:
    """Key each query by the smallest id among queries of its benchmark with the same text."""
    first: dict[tuple[str, str], str] = {}
    for i, s, t in zip(ids, sources, texts, strict=True):
        key = (s, t)
        first[key] = min(first.get(key, i), i)
    return [first[(s, t)] for s, t in zip(sources, texts, strict=True)]


def _check_benchmarks(benchmarks: Sequence[str]) -> list[str]:
    if isinstance(benchmarks, str):
        benchmarks = (benchmarks,)
    unknown = [b for b in benchmarks if b not in BENCHMARKS]
    if unknown or not benchmarks:
        raise SchemaError(f"benchmarks must be a non-empty subset of {list(BENCHMARKS)}. Got {list(benchmarks)}.")
    return [b for b in BENCHMARKS if b in benchmarks]


def load_routellm(
    root: str | Path | None,
    *,
    benchmarks: Sequence[str] = BENCHMARKS,
    include_contaminated: bool = False,
    seed: int = 0,
) -> RoutingData:
    """Load ``routellm-evals`` from the folder ``root`` (a copy of RouteLLM's ``routellm/evals``).

    ``benchmarks`` picks among mmlu, gsm8k and mt_bench; ``include_contaminated`` keeps the prompts that
    RouteLLM drops as contaminated; ``seed`` drives the hash split (70/10/20).
    """
    chosen = _check_benchmarks(benchmarks)
    if root is None:
        raise DataNotFoundError(f"{NAME} needs the folder holding RouteLLM's evals files ({HOMEPAGE}); pass path=.")
    root = Path(root)
    parts = {b: _LOADERS[b](root, include_contaminated) for b in chosen}
    ids = [i for p in parts.values() for i in p.ids]
    texts = [t for p in parts.values() for t in p.texts]
    sources = [b for b, p in parts.items() for _ in p.ids]
    y = np.vstack([p.y for p in parts.values()])
    raw = np.vstack([p.raw for p in parts.values()])
    per_call = np.array([(PRICES[m][0] + PRICES[m][1]) / 2 for m in MODELS])
    cost = np.where(np.isnan(y), np.nan, per_call[None, :])
    splits = hash_split(_split_keys(ids, sources, texts), DEFAULT_FRACTIONS, seed)
    meta = _meta(parts, y, seed, include_contaminated)
    data = RoutingData(
        name=NAME,
        query_ids=np.array(ids, dtype=object),
        texts=np.array(texts, dtype=object),
        sources=np.array(sources, dtype=object),
        categories=np.array([c for p in parts.values() for c in p.categories], dtype=object),
        gold=np.array([g for p in parts.values() for g in p.gold], dtype=object),
        splits=splits,
        models=tuple(_MODEL_INFO[m] for m in MODELS),
        Y=y,
        cost=cost,
        cost_unit="usd_per_1m_tokens",
        raw_score=raw,
        meta=meta,
    )
    log.info("loaded %r", data)
    return data


def _meta(parts: Mapping[str, _Part], y: np.ndarray, seed: int, include_contaminated: bool) -> dict[str, Any]:
    return {
        "source": {"homepage": HOMEPAGE, "commit": COMMIT, "folder": "routellm/evals"},
        "license": "Apache-2.0",
        "benchmarks": {b: {"n_queries": len(p.ids), **p.info} for b, p in parts.items()},
        "weak_model": WEAK,
        "strong_model": STRONG,
        "include_contaminated": include_contaminated,
        "missing_cells": int(np.isnan(y).sum()),
        "raw_score": "mmlu, gsm8k: correctness 0/1 (same as Y); mt_bench: GPT-4 single-answer judge score 1-10, "
        "mean over the question's two turns (failed -1 judgements left out); Y = (raw_score - 1) / 9",
        "mt_bench_query": "one query per question: RouteLLM routes on the first turn and the chosen model answers "
        "both turns; texts hold the first turn",
        "cost": "cost_unit usd_per_1m_tokens: (input + output price) / 2 per call, no token counts in the source; "
        f"prices USD per 1M tokens (in, out): {dict(PRICES)}; the Mixtral price is RouteLLM's assumption",
        "split": f"seeded hash split, seed={seed}, fractions={dict(DEFAULT_FRACTIONS)} (no public split); "
        "queries of a benchmark with the same text share a split",
        "gold": "gsm8k: final answer after '####' in gsm8k/test.jsonl joined by question text; mt_bench: "
        "reference answer to turn 1 where MT-Bench has one; mmlu: none",
    }


# ----------------------------------------------------------------------------- responses
RESPONSE_SUFFIX = "_response"


def _response_cells(
    df: pd.DataFrame, limits: ResponseLimits, counts: CleanCounts
) -> tuple[list[list[str | None]], list[str]]:
    """Per model the ``<model>_response`` cells (None where empty or where the file has no such column)."""
    columns: list[list[str | None]] = []
    absent: list[str] = []
    for model in MODELS:
        name = model + RESPONSE_SUFFIX
        if name not in df.columns:
            absent.append(model)
            columns.append([None] * len(df))
            continue
        cells = df[name].tolist()
        columns.append([None if (c is None or c == "") else clean_response(str(c), limits, counts) for c in cells])
    return columns, absent


def _read_responses_csv(path: Path, limits: ResponseLimits) -> pd.DataFrame:
    limits.check_file(_need(path))
    try:  # every cell as text, empty cells as "" (a missing response), so nothing is guessed
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise csv_read_error(path, exc, fix=f"Restore the original file ({HOMEPAGE}, commit {COMMIT}).") from None


def load_routellm_responses(root: str | Path | None, *, limits: ResponseLimits | None = None) -> Responses:
    """The models' answer texts for MMLU and GSM8K, keyed by :func:`load_routellm`'s query ids (every row).

    Read from the ``<model>_response`` columns of ``gsm8k/gsm8k_responses.csv`` and of each
    ``mmlu/responses/mmlu_<subject>.csv``. At commit 0b64fdaf the MMLU files hold only the correctness
    columns, so MMLU responses are None (no response) -- recorded per benchmark in
    ``meta["models_without_column"]``; MT-Bench answers are not in the files either. Contaminated prompts
    keep their row here (ids are row numbers); :meth:`Responses.aligned` keeps the loaded queries. Bounds
    and cleaning as in :mod:`routerlab.data.responses` (counts in ``meta``).
    """
    limits = limits or ResponseLimits()
    if root is None:
        raise DataNotFoundError(f"{NAME} needs the folder holding RouteLLM's evals files ({HOMEPAGE}); pass path=.")
    root = Path(root)
    counts = CleanCounts()
    ids: list[str] = []
    columns: list[list[str | None]] = [[] for _ in MODELS]
    absent: dict[str, list[str]] = {}
    files = [
        (f"mmlu-{p.stem.removeprefix('mmlu_')}", p) for p in sorted((root / "mmlu" / "responses").glob("mmlu_*.csv"))
    ]
    files.append(("gsm8k", root / "gsm8k" / "gsm8k_responses.csv"))
    for prefix, path in files:
        df = _read_responses_csv(path, limits)
        cells, missing = _response_cells(df, limits, counts)
        ids += [f"{prefix}-{i}" for i in range(len(df))]
        for j in range(len(MODELS)):
            columns[j] += cells[j]
        bench = prefix.split("-", 1)[0]
        if missing:
            absent.setdefault(bench, sorted(set(absent.get(bench, [])) | set(missing)))
    text = np.empty((len(ids), len(MODELS)), dtype=object)
    for j in range(len(MODELS)):
        text[:, j] = columns[j]
    return Responses(
        query_ids=np.array(ids, dtype=object),
        model_names=MODELS,
        text=text,
        meta={
            "dataset": NAME,
            "columns": f"'<model>{RESPONSE_SUFFIX}'",
            "models_without_column": absent,
            "limits": {"max_chars": limits.max_chars, "max_file_bytes": limits.max_file_bytes},
            **counts.as_dict(),
        },
    )
