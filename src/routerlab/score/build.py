"""From collected records to a :class:`~routerlab.data.RoutingData`: score every answer, lay out the matrices.

The output is what `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §3.3 needs for
its artifact decomposition and what every router trains on: ``Y`` (the score in [0, 1]), ``raw_score`` (a judge's
0/1/2), ``parsed`` (could an answer be extracted — Artifact 3), ``truncated`` (did the answer hit the token budget —
Artifact 2, §5.2), ``latency_s`` (§6.2), ``tokens_in``/``tokens_out`` (§6.3) and the real per-call ``cost`` in USD.

Layout of ``Y`` and ``raw_score`` per source follows the scorer, and matches the audit's ``artifacts``
check (:func:`routerlab.audit.checks.artifacts`):

* dual judge: ``Y`` = exact match (1/0), ``raw_score`` = the judge's 0/1/2, ``parsed`` = exact-match parse;
* LLM judge alone: ``Y`` = grade / 2, ``raw_score`` = the grade (a rescaling: no second opinion);
* letter / exact / math / code: ``Y`` = 1/0, no raw score (NaN).

A record that failed (``error`` set, or no ``response_text``), whose scorer could not judge (a judge call
that raised; in :mod:`routerlab.score.runner`, a scorer that crashed, timed out or raised), or — for an LLM
judge alone — whose judge output had no parseable grade is **no outcome** (NaN), never a 0: the grade is
flagged, not guessed (counted in ``meta["n_scorer_errors"]`` and ``meta["n_judge_unparseable"]``).
Duplicate (query, model) records are an error that names
them. The per-answer scores with their full details (the judge's prompt and raw output, sandbox status)
are kept by :func:`score_records` for writing beside the matrices. :func:`score_records` scores in this
process; ``routerlab score`` uses :func:`routerlab.score.runner.score_with_checkpoint` instead (worker
processes, a checkpoint, resume), which gives the same :class:`ScoredRecord` list.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import RouterlabError, SchemaError
from routerlab.score.base import Score, ScoreItem, Scorer

__all__ = ["RECORD_KEYS", "ScoredRecord", "build_routing", "records_to_routing", "score_records"]

log = logging.getLogger(__name__)

#: The fields of a collected record that scoring reads; other fields are kept but ignored.
RECORD_KEYS = (
    "query_id", "model", "response_text", "finish_reason", "truncated", "prompt_tokens", "completion_tokens",
    "latency_s", "cost_usd", "error",
)  # fmt: skip

ScorerChoice = Scorer | Mapping[str, Scorer] | Callable[[str], Scorer]


@dataclass(frozen=True, slots=True)
class ScoredRecord:
    """One record and its score (``None`` when the record has no answer to score)."""

    query_id: str
    model: str
    source: str
    score: Score | None
    record: Mapping[str, Any]

    @property
    def error(self) -> str | None:
        """Why there is no answer: the collection error, or ``"no response"``."""
        err = self.record.get("error")
        if isinstance(err, str) and err.strip():
            return err
        return "no response" if self.record.get("response_text") is None else None

    @property
    def truncated(self) -> bool:
        """Whether the answer hit the generation budget (``truncated`` or ``finish_reason == "length"``)."""
        return bool(self.record.get("truncated")) or self.record.get("finish_reason") == "length"

    @property
    def response_sha256(self) -> str | None:
        """SHA-256 of the answer's text (``None`` without one): a resumed run re-scores an answer that changed."""
        text = self.record.get("response_text")
        return None if text is None else hashlib.sha256(str(text).encode("utf-8", "surrogatepass")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ids, collection facts, the answer's hash and the full score (with its details)."""
        return {
            "query_id": self.query_id,
            "model": self.model,
            "source": self.source,
            "error": self.error,
            "truncated": self.truncated,
            "finish_reason": self.record.get("finish_reason"),
            "response_sha256": self.response_sha256,
            "score": None if self.score is None else self.score.to_dict(),
        }


def _resolve(scorers: ScorerChoice, source: str) -> Scorer:
    if isinstance(scorers, Mapping):
        found = scorers.get(source, scorers.get("*"))
        if found is None:
            raise SchemaError(
                f"No scorer for source {source!r}; give one in the scorer mapping (it has "
                f"{', '.join(map(repr, scorers)) or 'none'}) or a '*' default."
            )
        return found
    if isinstance(scorers, Scorer):
        return scorers
    if callable(scorers):
        return scorers(source)
    raise TypeError(
        f"scorers must be a Scorer, a mapping source -> Scorer or a function. Got {type(scorers).__name__}."
    )


def _number(value: Any) -> float:
    """A finite float, or NaN for None/NaN/non-numbers."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def _objects(values: Sequence[str | None]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _check_records(records: Sequence[Mapping[str, Any]], queries: Mapping[str, ScoreItem]) -> None:
    for i, r in enumerate(records):
        for key in ("query_id", "model"):
            if r.get(key) is None or str(r.get(key)).strip() == "":
                raise SchemaError(f"record {i} has no {key!r}; every record needs 'query_id' and 'model'.")
    unknown = sorted({str(r["query_id"]) for r in records} - set(queries))
    if unknown:
        shown = ", ".join(map(repr, unknown[:5]))
        raise SchemaError(
            f"{len(unknown)} records' query_id are not among the queries "
            f"({shown}{', ...' if len(unknown) > 5 else ''}); "
            "pass the queries table of the same run."
        )
    counts = Counter((str(r["query_id"]), str(r["model"])) for r in records)
    dups = [(k, n) for k, n in counts.items() if n > 1]
    if dups:
        shown = ", ".join(f"({q!r}, {m!r}) x{n}" for (q, m), n in dups[:5])
        raise SchemaError(
            f"{len(dups)} (query, model) pairs have more than one record: {shown}{', ...' if len(dups) > 5 else ''}. "
            "Keep one record per pair (e.g. the last successful attempt) before scoring."
        )


def score_records(
    records: Iterable[Mapping[str, Any]],
    queries: Mapping[str, ScoreItem],
    scorers: ScorerChoice,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[ScoredRecord]:
    """Score every record that has an answer.

    Args:
        records: collected records (mappings with the keys in :data:`RECORD_KEYS`).
        queries: query id → :class:`ScoreItem`.
        scorers: one scorer for all, a mapping source → scorer (``"*"`` as default), or ``source -> Scorer``.
        progress: called as ``progress(done, total)`` after each record.

    """
    rows = [dict(r) for r in records]
    _check_records(rows, queries)
    cache: dict[str, Scorer] = {}
    out: list[ScoredRecord] = []
    for i, r in enumerate(rows):
        qid, model = str(r["query_id"]), str(r["model"])
        item = queries[qid]
        scored = ScoredRecord(qid, model, item.source, None, r)
        if scored.error is None:
            scorer = cache.get(item.source)
            if scorer is None:
                scorer = cache[item.source] = _resolve(scorers, item.source)
            try:
                score = scorer.score(str(r["response_text"]), item)
            except Exception as exc:
                raise RouterlabError(
                    f"Scoring query {qid!r} (source {item.source!r}) of model {model!r} with scorer "
                    f"{scorer.spec.name!r} failed: {exc}"
                ) from exc
            scored = ScoredRecord(qid, model, item.source, score, r)
        out.append(scored)
        if progress is not None:
            progress(i + 1, len(rows))
    return out


def _describe(spec: Mapping[str, Any]) -> tuple[str, str | None]:
    """(meaning of Y, meaning of raw_score) for a scorer spec dict."""
    name = spec["name"]
    if name == "dual":
        exact = spec["params"]["exact"]["name"]
        return f"exact match by the {exact!r} scorer (1/0)", "LLM judge grade 0/1/2 (rubric of §2.3)"
    if name == "judge":
        return "LLM judge grade / 2 (0, 0.5, 1)", "LLM judge grade 0/1/2 (rubric of §2.3)"
    if name == "code":
        return "unit tests passed in the sandbox (1/0)", None
    return f"{name} match (1/0)", None


def build_routing(
    scored: Iterable[ScoredRecord],
    queries: Mapping[str, ScoreItem],
    *,
    name: str,
    prices: Mapping[str, tuple[float, float]] | None = None,
) -> RoutingData:
    """Lay scored records out as a :class:`RoutingData` (rows: ``queries`` in order; columns: sorted models).

    Args:
        scored: the output of :func:`score_records`.
        queries: query id → item; every query becomes a row, answered or not.
        name: the dataset's name.
        prices: model → (input, output) USD per 1M tokens, used where a record has no ``cost_usd``.

    """
    cells = list(scored)
    prices = dict(prices or {})
    qids = list(queries)
    row = {q: i for i, q in enumerate(qids)}
    model_names = sorted({c.model for c in cells})
    if not model_names:
        raise SchemaError("No records to build a RoutingData from; collect some answers first.")
    col = {m: j for j, m in enumerate(model_names)}
    shape = (len(qids), len(model_names))
    y, cost, raw = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    latency, t_in, t_out = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    parsed, truncated = np.ones(shape, dtype=bool), np.zeros(shape, dtype=bool)
    specs: dict[str, dict[str, Any]] = {}
    errors: Counter[str] = Counter()
    scorer_errors, unparseable, any_raw = 0, 0, False
    injections: list[list[str]] = []
    for c in cells:
        i, j = row[c.query_id], col[c.model]
        r = c.record
        latency[i, j] = _number(r.get("latency_s"))
        t_in[i, j], t_out[i, j] = _number(r.get("prompt_tokens")), _number(r.get("completion_tokens"))
        truncated[i, j] = c.truncated
        cost[i, j] = _number(r.get("cost_usd"))
        if math.isnan(cost[i, j]) and c.model in prices:
            p_in, p_out = prices[c.model]
            cost[i, j] = (np.nan_to_num(t_in[i, j]) * p_in + np.nan_to_num(t_out[i, j]) * p_out) / 1e6
        if c.score is None:
            errors[c.model] += 1
            continue
        s = c.score
        specs.setdefault(c.source, s.spec.to_dict())
        judge = s.components.get("judge", s) if s.spec.name in ("dual", "judge") else None
        if judge is not None and judge.reason == "judge_unparseable":
            unparseable += 1
        if judge is not None and judge.detail.get("injection_suspected"):
            injections.append([c.query_id, c.model])
        if s.missing or (s.spec.name == "judge" and not s.parsed):  # no grade: no outcome, not a 0
            scorer_errors += int(s.missing)
            continue
        y[i, j] = s.value
        parsed[i, j] = s.parsed
        if s.raw is not None:
            raw[i, j] = s.raw
            any_raw = True
        if math.isnan(cost[i, j]):
            raise SchemaError(
                f"cost[{c.query_id!r}, {c.model!r}] is unknown: the record has no cost_usd and no price was given "
                f"for {c.model!r}; pass prices={{{c.model!r}: (input_usd_per_1m, output_usd_per_1m)}}."
            )
    items = [queries[q] for q in qids]
    obs = ~np.isnan(y)
    described = {src: _describe(spec) for src, spec in specs.items()}
    meta: dict[str, Any] = {
        "scored_by": "routerlab.score",
        "scorers": specs,
        "y": {src: d[0] for src, d in described.items()},
        "n_records": len(cells),
        "n_failed_records": dict(errors),
        "n_scorer_errors": scorer_errors,
        "n_judge_unparseable": unparseable,
        "n_injection_suspected": len(injections),
        "injection_suspected": injections[:200],
        "parse_rate": {m: round(float(parsed[obs[:, j], j].mean()), 6) for m, j in col.items() if obs[:, j].any()},
        "truncation_rate": {
            m: round(float(truncated[obs[:, j], j].mean()), 6) for m, j in col.items() if obs[:, j].any()
        },
    }
    if any_raw:
        meta["raw_score"] = {src: d[1] for src, d in described.items() if d[1] is not None}
    models = tuple(
        ModelInfo(m, input_price=prices[m][0], output_price=prices[m][1]) if m in prices else ModelInfo(m)
        for m in model_names
    )
    log.info("built %s: %d queries x %d models, %d outcomes", name, shape[0], shape[1], int(obs.sum()))
    return RoutingData(
        name=name,
        query_ids=_objects(qids),
        sources=_objects([it.source for it in items]),
        splits=_objects([it.split for it in items]),
        models=models,
        Y=y,
        cost=cost,
        cost_unit="usd",
        texts=_objects([it.text for it in items]),
        categories=_objects([it.category or it.source for it in items]),
        gold=_objects([it.gold for it in items]),
        raw_score=raw if any_raw else None,
        tokens_in=t_in,
        tokens_out=t_out,
        latency_s=latency,
        truncated=truncated,
        parsed=parsed,
        meta=meta,
    )


def records_to_routing(
    records: Iterable[Mapping[str, Any]],
    queries: Mapping[str, ScoreItem],
    scorer_for_source: ScorerChoice,
    *,
    name: str,
    prices: Mapping[str, tuple[float, float]] | None = None,
) -> RoutingData:
    """Score ``records`` and build the :class:`RoutingData` in one call (see the module docstring)."""
    return build_routing(score_records(records, queries, scorer_for_source), queries, name=name, prices=prices)
