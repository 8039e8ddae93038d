r"""Collect a small local LM's generated answers and verbal signals on a question set, resumably.

For routerxbench's (arXiv 2602.11877) verbal baselines (§5.1 "Baselines" (1): SelfAsk, semantic
entropy) and for `unsolvability-ceiling-artifacts.txt` §5's artifact decomposition on a real model:
for each multiple-choice question, :func:`routerlab.data.features.generate.generate_query` gives one
greedy answer and ``K`` sampled answers under the token budget ``max_new_tokens`` (text, token ids,
finish reason) and SelfAsk's P(True); an injected :class:`AnswerClassifier` (the CLI passes the
``letter`` scorer: ``collect`` does not import ``score``) gives each answer's option letter, from
which :func:`~routerlab.data.features.verbal.discrete_semantic_entropy` is computed.

**Storage** (``OUT`` = the ``--out`` folder):

``OUT/generations.sqlite`` (SQLite, WAL; ``schema_version`` 1)
    ``questions`` as ``collect-lm``'s (:mod:`routerlab.collect.local_lm`): ``query_id``, ``dataset``,
    ``subject``, ``text``, ``gold`` (0-3), ``large`` (JSON). ``generations``: one row per
    (``query_id``, ``identity``, ``classes``) — ``identity`` the generation identity (weights,
    prompts, settings), ``classes`` the classifier's spec — with the whole record (JSON), the greedy
    answer's letter, the samples' letters (JSON, ``null`` = unparsed), ``selfask_p_true``,
    ``semantic_entropy``, ``cpu_s``/``wall_s`` of the query, ``run_id``, ``created_at``. Rows are
    only inserted (``INSERT OR IGNORE``). ``runs``: one row per run.
the content-addressed cache
    :class:`~routerlab.data.features.verbal.GenerationCache` (under ``cache_dir()``), keyed by the
    generation identity and the query text's SHA-256: a query generated once — in any folder — is
    never generated again; the ``verbal:<model>`` encoder reads its signals there.

**Resuming**: per batch, new generations go to the cache first (one transaction), then the batch's
rows to ``OUT`` (one transaction). A ``kill -9`` loses at most the batch in flight; a rerun skips
every question with a row in ``OUT`` and takes the rest from the cache when it has them (a batch
killed between its two writes is not generated again).

**Answer files** (:func:`write_answer_files`), the format ``routerlab score`` reads
(:mod:`routerlab.score.answer_table`): ``OUT/answers.jsonl``, one row per question for the greedy
answer (``model`` = the small model's short name), and ``OUT/samples.jsonl``, one row per question
and sample (``model`` = ``<name>#s1`` … ``#sK``). Columns: ``query_id``, ``model``, ``response``,
``gold`` (letter), ``text``, ``source``, ``category`` (subject), ``choices``, ``prompt_tokens``,
``completion_tokens``, ``finish_reason``, ``truncated``, ``latency_s`` and ``cost_usd``, plus
``max_new_tokens``, ``selfask_p_true``, ``semantic_entropy``, ``cpu_s`` (ignored by ``score``).
``latency_s`` and ``cost_usd`` are the *whole query's* measured wall and CPU time — prefill, the
greedy and the ``K`` sampled answers decoded together, the SelfAsk pass — the CPU seconds priced at
:data:`routerlab.collect.local_lm.USD_PER_CPU_HOUR` (an assumed cloud vCPU price, as ``collect-lm``
prices its forward pass): the batched decode cannot split one answer's share out. A sample row
carries its query's figures divided by ``K + 1``, an even share, stated here rather than measured.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from routerlab._version import __version__
from routerlab.collect._question_store import commit_batch, connect_store, finish_run, utc_now, write_questions
from routerlab.collect.local_lm import LARGE_SOURCES, USD_PER_CPU_HOUR
from routerlab.data.features.cache import text_key
from routerlab.data.features.generate import GenSettings, QueryGeneration, generate_query, generation_identity
from routerlab.data.features.lm import LETTERS, load_lm, short_name, split_mcq
from routerlab.data.features.verbal import GenerationCache, discrete_semantic_entropy
from routerlab.data.loaders.mcq import QuestionSet
from routerlab.errors import SchemaError

log = logging.getLogger(__name__)

__all__ = [
    "ANSWERS_FILE",
    "DB_NAME",
    "SAMPLES_FILE",
    "AnswerClassifier",
    "GenCollectSummary",
    "collect_lm_gen",
    "read_generations",
    "write_answer_files",
]

SCHEMA_VERSION = 1
DB_NAME = "generations.sqlite"
ANSWERS_FILE = "answers.jsonl"
SAMPLES_FILE = "samples.jsonl"
#: questions per committed batch
DEFAULT_BATCH = 8

_DDL = """
CREATE TABLE IF NOT EXISTS generations (
    query_id TEXT NOT NULL, identity TEXT NOT NULL, classes TEXT NOT NULL, text_sha256 TEXT NOT NULL,
    record TEXT NOT NULL, greedy_letter TEXT, sample_letters TEXT NOT NULL,
    selfask_p_true REAL NOT NULL, semantic_entropy REAL NOT NULL, cpu_s REAL NOT NULL, wall_s REAL NOT NULL,
    run_id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (query_id, identity, classes)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, identity TEXT NOT NULL, classes TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, status TEXT NOT NULL, n_planned INTEGER, n_done INTEGER, routerlab_version TEXT
);
"""
_ROW_COLUMNS = (
    "query_id", "identity", "classes", "text_sha256", "record", "greedy_letter", "sample_letters",
    "selfask_p_true", "semantic_entropy", "cpu_s", "wall_s", "run_id", "created_at",
)  # fmt: skip


class AnswerClassifier(Protocol):
    """The meaning class of a generated answer: the option letter it commits to, or ``None``.

    ``spec`` names the rule and its version (it keys the stored semantic entropies).
    """

    @property
    def spec(self) -> str:
        """Name and version of the rule, e.g. ``"letter@3#<hash>"``."""
        ...

    def __call__(self, response: str, choices: Sequence[str]) -> str | None:
        """The letter ``response`` commits to among ``choices``, or ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class GenCollectSummary:
    """What a :func:`collect_lm_gen` call did: planned, found in ``OUT``, taken from the cache, generated."""

    out: Path
    identity: str
    planned: int
    already_done: int
    from_cache: int
    generated: int
    seconds: float
    cpu_s: float

    @property
    def queries_per_s(self) -> float:
        """Questions generated per wall-clock second (cache hits and storage time excluded from the count)."""
        return self.generated / self.seconds if self.seconds > 0 and self.generated else float("nan")


def _letters(
    gen: QueryGeneration, choices: Sequence[str], classify: AnswerClassifier
) -> tuple[str | None, list[str | None]]:
    return classify(gen.greedy.text, choices), [classify(s.text, choices) for s in gen.samples]


def collect_lm_gen(
    questions: QuestionSet,
    out: str | Path,
    *,
    classify: AnswerClassifier,
    model: str = "smollm2-135m",
    settings: GenSettings | None = None,
    batch_size: int = DEFAULT_BATCH,
    cache: GenerationCache | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GenCollectSummary:
    """Generate ``model``'s answers and verbal signals for every question not yet in ``out``; see the module doc.

    ``classify`` gives each answer's option letter (semantic entropy's classes). ``progress(done,
    total)`` is called after each committed batch. Rerunning with the same arguments computes nothing.
    """
    if batch_size < 1:
        raise SchemaError(f"batch_size must be >= 1. Got {batch_size}.")
    settings = settings if settings is not None else GenSettings()
    cache = cache if cache is not None else GenerationCache()
    out = Path(out)
    identity = generation_identity(model, settings)
    classes = classify.spec
    choices = [split_mcq(t)[1] for t in questions.texts]  # a clear error for a non-MCQ text, before any work
    start = time.perf_counter()
    generated = from_cache = 0
    cpu_total = 0.0
    with connect_store(out / DB_NAME, _DDL, schema_version=SCHEMA_VERSION, kind="generation-store") as con:
        write_questions(con, questions, LARGE_SOURCES)
        done = {
            r[0]
            for r in con.execute(
                "SELECT query_id FROM generations WHERE identity = ? AND classes = ?", (identity, classes)
            )
        }
        todo = [i for i, q in enumerate(questions.query_ids) if q not in done]
        already = len(questions) - len(todo)
        log.info(
            "collect-lm-gen %s on %s: %d questions, %d done, %d to do", model, out, len(questions), already, len(todo)
        )
        if progress is not None:
            progress(0, len(todo))
        run_id = uuid.uuid4().hex[:12]
        with con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, NULL, 'running', ?, 0, ?)",
                (run_id, identity, classes, utc_now(), len(todo), __version__),
            )
        lm = None
        n_done = 0
        for b in range(0, len(todo), batch_size):
            batch = todo[b : b + batch_size]
            keys = [text_key(questions.texts[i]).hex() for i in batch]
            stored = cache.records(identity, keys)
            gens: dict[str, QueryGeneration] = {k: QueryGeneration.from_json(v) for k, v in stored.items()}
            new: list[tuple[str, str, float]] = []
            for i, k in zip(batch, keys, strict=True):
                if k in gens:
                    continue
                if lm is None:
                    lm = load_lm(model)
                gen = generate_query(lm, questions.texts[i], settings)
                gens[k] = gen
                new.append((k, gen.to_json(), gen.p_true))
                cpu_total += gen.cpu_s
            generated += len(new)
            from_cache += len(batch) - len(new)
            entropies: dict[str, tuple[str | None, list[str | None], float]] = {}
            for i, k in zip(batch, keys, strict=True):
                greedy, labels = _letters(gens[k], choices[i], classify)
                entropies[k] = (greedy, labels, discrete_semantic_entropy(labels))
            cache.put(identity, classes, new, [(k, json.dumps(v[1]), v[2]) for k, v in entropies.items()])
            created = utc_now()
            rows = [
                (
                    questions.query_ids[i], identity, classes, k, gens[k].to_json(), entropies[k][0],
                    json.dumps(entropies[k][1]), gens[k].p_true, entropies[k][2], gens[k].cpu_s, gens[k].wall_s,
                    run_id, created,
                )
                for i, k in zip(batch, keys, strict=True)
            ]  # fmt: skip
            commit_batch(con, "generations", _ROW_COLUMNS, rows, run_id=run_id, n_done=n_done + len(batch))
            n_done += len(batch)
            log.info("collect-lm-gen: committed; %d of %d done this run", n_done, len(todo))
            if progress is not None:
                progress(n_done, len(todo))
        finish_run(con, run_id, n_done)
    seconds = time.perf_counter() - start
    return GenCollectSummary(out, identity, len(questions), already, from_cache, generated, seconds, cpu_total)


def read_generations(
    out: str | Path, *, classes: str, model: str = "smollm2-135m", settings: GenSettings | None = None
) -> list[dict[str, Any]]:
    """The rows of ``out`` for ``model`` under ``settings`` and classifier ``classes``, with their questions.

    Each row holds the table's columns, the question's, and ``generation`` (the parsed
    :class:`~routerlab.data.features.generate.QueryGeneration`), ordered by query id.
    """
    path = Path(out) / DB_NAME
    if not path.exists():
        raise SchemaError(f"No generations at {str(path)!r}; run `routerlab collect-lm-gen --out {out}` first.")
    identity = generation_identity(model, settings if settings is not None else GenSettings())
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)) as con:
        con.row_factory = sqlite3.Row
        rows = con.execute(
            "SELECT g.*, q.dataset, q.subject, q.text, q.gold, q.large FROM generations g JOIN questions q "
            "USING (query_id) WHERE g.identity = ? AND g.classes = ? ORDER BY g.query_id",
            (identity, classes),
        ).fetchall()
    out_rows = []
    for r in rows:
        row = dict(r)
        row["generation"] = QueryGeneration.from_json(row["record"])
        out_rows.append(row)
    return out_rows


def _answer_row(row: dict[str, Any], model: str, answer: Any, share: float, budget: int) -> dict[str, Any]:
    return {
        "query_id": row["query_id"],
        "model": model,
        "response": answer.text,
        "gold": LETTERS[int(row["gold"])],
        "text": row["text"],
        "source": row["dataset"],
        "category": row["subject"],
        "choices": split_mcq(row["text"])[1],
        "prompt_tokens": row["generation"].prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "finish_reason": answer.finish_reason,
        "truncated": answer.truncated,
        "latency_s": row["wall_s"] * share,
        "cost_usd": row["cpu_s"] * share * USD_PER_CPU_HOUR / 3600.0,
        "max_new_tokens": budget,
        "selfask_p_true": row["selfask_p_true"],
        "semantic_entropy": row["semantic_entropy"],
        "cpu_s": row["cpu_s"] * share,
    }


def write_answer_files(
    out: str | Path, *, classes: str, model: str = "smollm2-135m", settings: GenSettings | None = None
) -> tuple[Path, Path]:
    """Write ``OUT/answers.jsonl`` (greedy answers) and ``OUT/samples.jsonl`` (the samples); see the module doc."""
    from routerlab._files import atomic_write_bytes

    settings = settings if settings is not None else GenSettings()
    rows = read_generations(out, classes=classes, model=model, settings=settings)
    if not rows:
        raise SchemaError(f"{str(Path(out) / DB_NAME)!r} holds no generation of {model!r} under {settings.tag()}.")
    name = short_name(model)
    greedy = [_answer_row(r, name, r["generation"].greedy, 1.0, settings.max_new_tokens) for r in rows]
    share = 1.0 / (settings.k + 1)
    samples = [
        _answer_row(r, f"{name}#s{j + 1}", s, share, settings.max_new_tokens)
        for r in rows
        for j, s in enumerate(r["generation"].samples)
    ]
    paths = (Path(out) / ANSWERS_FILE, Path(out) / SAMPLES_FILE)
    for path, table in zip(paths, (greedy, samples), strict=True):
        payload = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in table)
        atomic_write_bytes(path, payload.encode("utf-8"))
    return paths
