"""Score records in worker processes, checkpoint every score as it arrives, and resume a killed run.

:func:`score_with_checkpoint` is what ``routerlab score`` runs; :func:`routerlab.score.build.score_records`
stays the in-process library function. Both give the :class:`~routerlab.score.build.ScoredRecord` list that
:func:`~routerlab.score.build.build_routing` lays out.

Checkpoint
----------
The ``*.scores.jsonl`` details file beside the output is the checkpoint: one JSON line per (query, model)
record, :meth:`ScoredRecord.to_dict` (ids, collection facts, ``response_sha256`` and the full score with its
scorer spec), appended and flushed as each score arrives, so a kill loses only the records being scored.
A rerun reads it back: a stored score is reused when its scorer spec hash (name, version, parameters) equals
the hash of the scorer now chosen for the record's source and its ``response_sha256`` equals the answer's;
otherwise the record is scored again (a changed spec is logged and reported in
:attr:`ScoringRun.spec_changes`). A last line cut short by a kill is dropped; a later line for a record
replaces an earlier one. When every record is scored, the file is rewritten in record order with one line
per record, so a one-shot run and a killed-and-resumed run leave the same file and the same matrices.

Workers
-------
Scorers run in ``workers`` worker processes (:mod:`routerlab.score.runner.workers`), each rebuilding its
scorers from a :class:`ScorerRecipe`: a registered scorer name and JSON parameters, since a judge's HTTP
client cannot cross a process boundary. Each worker gets one record at a time. A worker that dies (a
signal, ``os._exit``, a segfault, the out-of-memory killer) or gives no score within ``timeout_s`` (it is
then killed) costs only the record it was scoring: that record gets a NaN score — no outcome, as when a
judge call fails — with reason ``scorer_crashed`` or ``scorer_timeout`` and the cause in
``detail["error"]``, and a fresh worker takes its place. A scorer that raises gives ``scorer_error`` the same
way. A rerun keeps these failures unless ``retry_failed`` is set.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routerlab.errors import RouterlabError
from routerlab.score.base import Score, ScoreItem, Scorer, ScorerSpec
from routerlab.score.runner.checkpoint import Checkpoint, jsonl_line
from routerlab.score.runner.workers import ScorerRecipe, Task, score_in_workers

if TYPE_CHECKING:
    from routerlab.score.build import ScoredRecord

__all__ = ["WORKER_FAILURES", "ScorerRecipe", "ScoringRun", "SpecChange", "score_with_checkpoint"]

log = logging.getLogger(__name__)

#: Reasons of the NaN scores given to records whose scorer crashed, timed out or raised in a worker.
WORKER_FAILURES = ("scorer_crashed", "scorer_timeout", "scorer_error")


@dataclass(frozen=True, slots=True)
class SpecChange:
    """Stored scores of a source made by another scorer spec than the current one, and so scored again."""

    source: str
    old: str
    new: str
    n_records: int


@dataclass(frozen=True, slots=True)
class ScoringRun:
    """What :func:`score_with_checkpoint` did.

    Attributes:
        scored: one scored record per input record, in input order.
        checkpoint: the details file (rewritten in record order).
        n_reused: scores read back from the checkpoint instead of being computed again.
        n_scored: scores computed in this run (failures included).
        n_answer_changed: stored scores dropped because the record's answer text changed.
        spec_changes: stored scores dropped because the source's scorer spec changed.

    """

    scored: tuple[ScoredRecord, ...]
    checkpoint: Path
    n_reused: int
    n_scored: int
    n_answer_changed: int
    spec_changes: tuple[SpecChange, ...]

    @property
    def failures(self) -> list[ScoredRecord]:
        """Records whose scorer crashed, timed out or raised (NaN scores with a reason in WORKER_FAILURES)."""
        return [s for s in self.scored if s.score is not None and s.score.reason in WORKER_FAILURES]


# ---------------------------------------------------------------------------------------------- the run
def _describe_spec(spec: Mapping[str, Any] | ScorerSpec) -> str:
    s = spec if isinstance(spec, ScorerSpec) else ScorerSpec.from_dict(spec)
    return f"{s.name} v{s.version} (spec {s.hash})"


def score_with_checkpoint(
    records: Sequence[Mapping[str, Any]],
    queries: Mapping[str, ScoreItem],
    recipes: Mapping[str, ScorerRecipe],
    checkpoint: str | Path,
    *,
    workers: int = 4,
    timeout_s: float = 300.0,
    retry_failed: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
) -> ScoringRun:
    """Score every record that has an answer in worker processes, resuming from ``checkpoint``.

    Args:
        records: collected records (mappings with the keys in :data:`~routerlab.score.build.RECORD_KEYS`).
        queries: query id → :class:`ScoreItem`.
        recipes: source → :class:`ScorerRecipe` (``"*"`` as default).
        checkpoint: the ``*.scores.jsonl`` details file, read back, appended and finally rewritten.
        workers: number of worker processes (at least 1).
        timeout_s: seconds a worker may take for one record before it is killed (``scorer_timeout``).
        retry_failed: score again the stored records whose scorer crashed, timed out, raised or could not judge.
        progress: called as ``progress(done, total, failed)`` as records are read back or scored.

    """
    from routerlab.score.build import ScoredRecord, _check_records, _resolve

    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers must be an integer >= 1 (processes that run the scorers). Got {workers!r}.")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 seconds per record. Got {timeout_s!r}.")
    rows = [dict(r) for r in records]
    _check_records(rows, queries)
    built: dict[str, Scorer] = {}
    for key, recipe in recipes.items():
        try:
            built[key] = recipe.build()
        except (RouterlabError, ValueError):  # already say what and how to fix (an unknown name, a bad parameter)
            raise
        except Exception as exc:  # a plug-in that fails to import or to start: say which scorer it was
            raise RouterlabError(
                f"Scorer {recipe.name!r} (for source {key!r}) could not be built: {type(exc).__name__}: {exc}"
            ) from exc
    expected = {key: s.spec.hash for key, s in built.items()}
    path = Path(checkpoint)
    results: list[ScoredRecord | None] = [None] * len(rows)
    tasks: list[Task] = []
    changes: Counter[tuple[str, str, str]] = Counter()
    n_reused = n_answer_changed = n_failed = 0
    with Checkpoint(path) as ckpt:
        specs: dict[str, ScorerSpec] = {}
        for i, r in enumerate(rows):
            qid, model = str(r["query_id"]), str(r["model"])
            item = queries[qid]
            bare = ScoredRecord(qid, model, item.source, None, r)
            if bare.error is not None:
                results[i] = bare
                continue
            if item.source not in specs:
                specs[item.source] = _resolve(built, item.source).spec
            spec = specs[item.source]
            line = ckpt.stored.get((qid, model))
            stored = line.get("score") if line is not None else None
            if isinstance(stored, Mapping):
                try:
                    old = Score.from_dict(stored)
                except ValueError as exc:
                    log.warning(
                        "%s: the stored score of (%r, %r) is unreadable (%s); scoring it again", path, qid, model, exc
                    )
                else:
                    if old.spec.hash != spec.hash:
                        changes[(item.source, _describe_spec(old.spec), _describe_spec(spec))] += 1
                    elif line is not None and line.get("response_sha256") != bare.response_sha256:
                        n_answer_changed += 1
                    elif not (retry_failed and old.missing):
                        results[i] = ScoredRecord(qid, model, item.source, old, r)
                        n_reused += 1
                        n_failed += old.reason in WORKER_FAILURES
                        continue
            key = item.source if item.source in recipes else "*"
            tasks.append(Task(i, key, str(r["response_text"]), item))
        spec_changes = tuple(SpecChange(src, old_s, new_s, n) for (src, old_s, new_s), n in sorted(changes.items()))
        for c in spec_changes:
            log.warning(
                "source %r: %d stored scores were made by %s; they are scored again with %s",
                c.source,
                c.n_records,
                c.old,
                c.new,
            )
        if n_reused:
            log.info("%s: %d scores read back, %d records to score", path, n_reused, len(tasks))
        total, done = len(rows), len(rows) - len(tasks)
        if progress is not None:
            progress(done, total, n_failed)
        by_index = {t.index: t for t in tasks}
        for index, kind, payload in score_in_workers(tasks, recipes, expected, workers=workers, timeout_s=timeout_s):
            r, item = rows[index], by_index[index].item
            score: Score | None = None
            if kind == "ok":
                try:  # through JSON as the file holds it: this run and a resumed one build the same matrices
                    score = Score.from_dict(json.loads(jsonl_line(payload)))
                except (ValueError, TypeError) as exc:
                    kind, payload = "scorer_error", f"the scorer returned an unreadable score: {exc}"
            if score is None:
                n_failed += 1
                log.warning("query %r, model %r: %s (%s)", r["query_id"], r["model"], kind, payload)
                failed = Score(math.nan, None, False, None, kind, specs[item.source], {"error": payload})
                score = Score.from_dict(json.loads(jsonl_line(failed.to_dict())))
            scored = ScoredRecord(str(r["query_id"]), str(r["model"]), item.source, score, r)
            ckpt.append(scored)
            results[index] = scored
            done += 1
            if progress is not None:
                progress(done, total, n_failed)
        final = tuple(s for s in results if s is not None)
        if len(final) != len(rows):  # pragma: no cover - every task yields exactly once
            raise RouterlabError(f"{len(rows) - len(final)} records got no score; run again to score them.")
        ckpt.rewrite(final)
    return ScoringRun(final, path, n_reused, len(tasks), n_answer_changed, spec_changes)
