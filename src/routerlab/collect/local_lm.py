r"""Collect a small local LM's answers, logit signals and hidden states on a question set, resumably.

The data of routerxbench (arXiv 2602.11877) §3.1 and §5: for each multiple-choice question, one
forward pass of the small model over the prompt (:meth:`routerlab.data.features.lm.LocalLM.forward`)
gives its answer (the argmax over the option letters' next-token logits), whether it is right
against the gold letter, the logit signals (max probability, entropy, margin over the letters and
over the vocabulary) and the per-layer mean-pooled hidden states.

``answer="cloze"`` (:data:`~routerlab.data.features.lm.ANSWER_METHODS`) answers instead by the
options' per-character log-likelihoods as continuations of ``"Question: <q>\nAnswer:"``
(:meth:`~routerlab.data.features.lm.LocalLM.forward_cloze`): one pass over that prompt for the
hidden states, one batched pass over the four continuations. The method is part of the model's
identity (the ``model`` column, the hidden-state and signal stores), so the two methods' rows
never mix; for ``cloze`` the ``logit_a``..``logit_d`` columns hold the four per-character scores
and the ``letter_*`` signals are those of their softmax.

**Storage** (``OUT`` = the ``--out`` folder):

``OUT/outcomes.sqlite`` (SQLite, WAL; ``schema_version`` 1)
    ``questions``: ``query_id`` PK, ``dataset``, ``subject``, ``text``, ``gold`` (0-3), ``large``
    (JSON {model: 0/1} of the large models' correctness, ``{}`` when the source has none).
    ``outcomes``: one row per (``query_id``, ``model``) — ``model`` is the LM's identity (weights,
    version, prompt format) — with ``answer``, ``correct``, ``logit_a``..``logit_d``, the six
    signals, ``n_tokens``, ``cpu_s`` (process CPU seconds of the batch, shared out by prompt tokens),
    ``wall_s`` (likewise), ``run_id``, ``created_at``. Rows are only ever inserted
    (``INSERT OR IGNORE``): a stored outcome is final. ``runs``: one row per run.
hidden states and signals
    float16 ``(n_states, dim)`` rows in the content-addressed :class:`HiddenStateStore` of the model
    (under ``cache_dir()/"hidden-states"``), where the ``hidden:<model>`` encoder reads them; the
    signals again, float32, in the store the ``logits:<model>`` encoder reads (``"lm-signals"``).

**Resuming**: a batch's hidden states are written first (one atomic shard), then its outcome rows
in one transaction. A ``kill -9`` loses at most the batch in flight; a rerun skips every question
whose outcome row *and* hidden-state row exist and computes the rest (a batch killed between its
two writes is computed again; its shard rows are written again under the same keys, which the
store's merge de-duplicates).

:func:`routing_data` turns a collection into a :class:`~routerlab.data.schema.RoutingData`
(small model, Mixtral-8x7B, GPT-4-1106) with costs in USD; see its docstring for the cost rules.
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
from typing import Any

import numpy as np

from routerlab._version import __version__
from routerlab.collect._question_store import commit_batch, connect_store, finish_run, utc_now, write_questions
from routerlab.data.features.cache import text_key
from routerlab.data.features.hidden import HiddenStateStore, model_shape, signal_store, store_forward
from routerlab.data.features.lm import (
    CLOZE_TEMPLATE,
    DEFAULT_ANSWER,
    LETTERS,
    LOCAL_LMS,
    PROMPT_FORMAT,
    load_lm,
    model_identity,
    short_name,
)
from routerlab.data.loaders.mcq import QuestionSet
from routerlab.data.loaders.routellm import STRONG, WEAK
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.data.splits import hash_split
from routerlab.errors import SchemaError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "outcomes.sqlite"
#: questions per forward pass and per committed batch
DEFAULT_BATCH = 8

SIGNALS = ("letter_max_prob", "letter_entropy", "letter_margin", "vocab_max_prob", "vocab_entropy", "vocab_margin")
_LOGITS = tuple(f"logit_{c.lower()}" for c in LETTERS)

_DDL = f"""
CREATE TABLE IF NOT EXISTS outcomes (
    query_id TEXT NOT NULL, model TEXT NOT NULL, text_sha256 TEXT NOT NULL,
    answer INTEGER NOT NULL, correct INTEGER NOT NULL,
    {", ".join(f"{c} REAL NOT NULL" for c in (*_LOGITS, *SIGNALS))},
    n_tokens INTEGER NOT NULL, cpu_s REAL NOT NULL, wall_s REAL NOT NULL,
    run_id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (query_id, model)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, model TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    status TEXT NOT NULL, n_planned INTEGER, n_done INTEGER, routerlab_version TEXT
);
"""
_OUTCOME_COLUMNS = (
    "query_id", "model", "text_sha256", "answer", "correct", *_LOGITS, *SIGNALS,
    "n_tokens", "cpu_s", "wall_s", "run_id", "created_at",
)  # fmt: skip

#: USD per vCPU-hour charged for the small model's CPU time: AWS EC2 c7i.large on-demand list price
#: (us-east-1, $0.08925 an hour for 2 vCPUs), an assumed proxy for "running it locally" — the paper
#: gives the small model no price. Override with ``routing_data(..., usd_per_cpu_hour=...)``.
USD_PER_CPU_HOUR = 0.08925 / 2
#: USD per 1M tokens (input, output), as routerlab.data.loaders.routellm uses them
LARGE_PRICES: dict[str, tuple[float, float]] = {"mixtral-8x7b": (0.24, 0.24), "gpt-4-1106": (10.0, 30.0)}
#: the large models' RouteLLM column names
LARGE_SOURCES = {"mixtral-8x7b": WEAK, "gpt-4-1106": STRONG}
#: tokens a large model is charged for its answer: one option letter
ANSWER_TOKENS = 1


@dataclass(frozen=True, slots=True)
class LMCollectSummary:
    """What a :func:`collect_lm` call did: questions planned, already done before it, computed by it."""

    out: Path
    model: str
    answer: str
    planned: int
    already_done: int
    computed: int
    seconds: float
    cpu_s: float

    @property
    def queries_per_s(self) -> float:
        """Questions computed per wall-clock second (forward passes, storage included)."""
        return self.computed / self.seconds if self.seconds > 0 else float("nan")


def _pending(con: sqlite3.Connection, store: HiddenStateStore, identity: str, questions: QuestionSet) -> list[int]:
    """Indices of the questions that lack an outcome row or a hidden-state row."""
    done = {r[0] for r in con.execute("SELECT query_id FROM outcomes WHERE model = ?", (identity,))}
    keys = [text_key(t) for t in questions.texts]
    have = store.contains(keys)
    return [
        i for i, (qid, k) in enumerate(zip(questions.query_ids, keys, strict=True)) if qid not in done or k not in have
    ]


def _outcome_rows(
    identity: str, questions: QuestionSet, batch: Sequence[int], run_id: str, wall: float, result: Any
) -> list[tuple[Any, ...]]:
    created = utc_now()
    rows = []
    share = result.n_tokens / result.n_tokens.sum()
    for j, i in enumerate(batch):
        answer = int(result.answer[j])
        rows.append(
            (
                questions.query_ids[i],
                identity,
                text_key(questions.texts[i]).hex(),
                answer,
                int(answer == int(questions.gold[i])),
                *(float(v) for v in result.letter_logits[j]),
                *(float(getattr(result, s)[j]) for s in SIGNALS),
                int(result.n_tokens[j]),
                float(result.cpu_s[j]),
                float(wall * share[j]),
                run_id,
                created,
            )
        )
    return rows


def collect_lm(
    questions: QuestionSet,
    out: str | Path,
    *,
    model: str = "smollm2-135m",
    answer: str = DEFAULT_ANSWER,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> LMCollectSummary:
    """Run ``model`` once over every question not yet collected in ``out``; see the module doc.

    ``answer`` is the answer method (``"letter"`` or ``"cloze"``); each method is collected apart.

    ``progress(done, total)`` is called after each committed batch (``total`` = questions this call
    computes). Rerunning with the same arguments computes nothing new.
    """
    if batch_size < 1:
        raise SchemaError(f"batch_size must be >= 1. Got {batch_size}.")
    if len(LETTERS) != 4:  # pragma: no cover - the table has one logit column per letter
        raise SchemaError("the outcome table stores four letter logits")
    out = Path(out)
    identity = model_identity(model, answer)
    start = time.perf_counter()
    cpu_total = 0.0
    with connect_store(out / DB_NAME, _DDL, schema_version=SCHEMA_VERSION, kind="outcome-store") as con:
        write_questions(con, questions, LARGE_SOURCES)
        lm = None
        store = HiddenStateStore(identity, model_shape(model))
        todo = _pending(con, store, identity, questions)
        already = len(questions) - len(todo)
        log.info(
            "collect-lm %s on %s: %d questions, %d done, %d to compute", model, out, len(questions), already, len(todo)
        )
        if progress is not None:
            progress(0, len(todo))
        run_id = uuid.uuid4().hex[:12]
        with con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, NULL, 'running', ?, 0, ?)",
                (run_id, identity, utc_now(), len(todo), __version__),
            )
        # longest first: similar lengths share a batch (less padding), and the slowest batches come early
        order = sorted(todo, key=lambda i: -len(questions.texts[i]))
        done = 0
        for b in range(0, len(order), batch_size):
            batch = order[b : b + batch_size]
            if lm is None:
                lm = load_lm(model)
            t0 = time.perf_counter()
            result = lm.answer_pass([questions.texts[i] for i in batch], answer)
            wall = time.perf_counter() - t0
            cpu_total += float(result.cpu_s.sum())
            store_forward(identity, [text_key(questions.texts[i]) for i in batch], result)
            rows = _outcome_rows(identity, questions, batch, run_id, wall, result)
            commit_batch(con, "outcomes", _OUTCOME_COLUMNS, rows, run_id=run_id, n_done=done + len(batch))
            done += len(batch)
            log.info("collect-lm: committed; %d of %d done this run", done, len(todo))
            if progress is not None:
                progress(done, len(todo))
        if todo:
            store.compact()
            signal_store(identity).compact()
        finish_run(con, run_id, done)
    seconds = time.perf_counter() - start
    return LMCollectSummary(out, model, answer, len(questions), already, done, seconds, cpu_total)


# ------------------------------------------------------------------------------------ reading
def read_outcomes(
    out: str | Path, *, model: str = "smollm2-135m", answer: str = DEFAULT_ANSWER
) -> list[dict[str, Any]]:
    """The collected rows of ``model`` with answer method ``answer``, joined with their questions, by query id."""
    path = Path(out) / DB_NAME
    if not path.exists():
        raise SchemaError(f"No collection at {str(path)!r}; run `routerlab collect-lm --out {out}` first.")
    identity = model_identity(model, answer)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)) as con:
        con.row_factory = sqlite3.Row
        rows = con.execute(
            "SELECT o.*, q.dataset, q.subject, q.text, q.gold, q.large FROM outcomes o JOIN questions q "
            "USING (query_id) WHERE o.model = ? ORDER BY o.query_id",
            (identity,),
        ).fetchall()
    return [dict(r) for r in rows]


def _answer_meta(answer: str) -> dict[str, str]:
    """The ``prompt`` and ``answer`` notes of a RoutingData's meta for an answer method."""
    special = "the tokenizer's default special tokens (BOS where it adds one), excluded from the pooling"
    if answer == "cloze":
        return {
            "prompt": f"cloze: {CLOZE_TEMPLATE!r} (question without its options), no chat template; {special}",
            "answer": "cloze: argmax over the options of the log-likelihood of ' ' + option after the prompt, divided "
            "by the option's length in characters (lm-evaluation-harness acc_norm)",
        }
    return {
        "prompt": f"{PROMPT_FORMAT}: the query text as is (ends in 'Answer:'), no chat template; {special}",
        "answer": "argmax of the next-token logits over the tokens ' A', ' B', ' C', ' D'",
    }


def routing_data(
    out: str | Path,
    *,
    model: str = "smollm2-135m",
    answer: str = DEFAULT_ANSWER,
    name: str | None = None,
    usd_per_cpu_hour: float = USD_PER_CPU_HOUR,
    seed: int = 0,
) -> RoutingData:
    """The collection in ``out`` as a RoutingData: the small model, Mixtral-8x7B and GPT-4-1106.

    * ``Y``: the small model's correctness (its letter answer vs the gold letter); the large models'
      correctness from RouteLLM (NaN for a dataset without them, e.g. MedQA).
    * ``cost`` (``cost_unit="usd"``): a large model costs its posted prices (:data:`LARGE_PRICES`,
      USD per 1M tokens) × (prompt tokens in, :data:`ANSWER_TOKENS` out). Prompt tokens are counted
      with the small model's tokenizer — a proxy: neither GPT-4's nor Mixtral's tokenizer is here,
      and RouteLLM's files hold no token counts. The small model costs its measured process CPU
      seconds × ``usd_per_cpu_hour`` / 3600 (default :data:`USD_PER_CPU_HOUR`, a cloud vCPU list
      price, an assumption recorded in ``meta``), never 0.
    * ``tokens_in``/``latency_s``: measured for the small model only (prompt tokens, its wall
      seconds); NaN for the large models, whose counts were never measured. ``tokens_out`` is NaN
      throughout: the small model generates nothing (its answer is read from the logits), and the
      large models' output counts were not recorded.
    * ``splits``: MMLU questions get a seeded hash split (train/val/test); MedQA is ``"ood"``.
    """
    if not (np.isfinite(usd_per_cpu_hour) and usd_per_cpu_hour > 0):
        raise SchemaError(f"usd_per_cpu_hour must be a price > 0 (USD per CPU-hour). Got {usd_per_cpu_hour!r}.")
    rows = read_outcomes(out, model=model, answer=answer)
    if not rows:
        raise SchemaError(
            f"{str(Path(out) / DB_NAME)!r} holds no outcome of {model!r} with --answer {answer}; collect first."
        )
    small = short_name(model)
    spec = LOCAL_LMS.get(model)
    names = (small, *LARGE_PRICES)
    n = len(rows)
    Y = np.full((n, len(names)), np.nan)
    cost = np.full((n, len(names)), np.nan)
    tokens_in = np.full((n, len(names)), np.nan)
    tokens_out = np.full((n, len(names)), np.nan)
    latency = np.full((n, len(names)), np.nan)
    for i, r in enumerate(rows):
        Y[i, 0] = float(r["correct"])
        cost[i, 0] = r["cpu_s"] * usd_per_cpu_hour / 3600.0
        tokens_in[i, 0] = r["n_tokens"]
        latency[i, 0] = r["wall_s"]
        large = json.loads(r["large"])
        for j, short in enumerate(LARGE_PRICES, start=1):
            if short in large:
                p_in, p_out = LARGE_PRICES[short]
                Y[i, j] = large[short]
                # no measured token counts for the large models (RouteLLM kept none): the proxy enters
                # the cost only, and tokens_in/tokens_out stay NaN rather than pose as measurements
                cost[i, j] = (r["n_tokens"] * p_in + ANSWER_TOKENS * p_out) / 1e6
    # a model with no outcome at all (MedQA only) stays in the pool with NaN: the schema needs a column
    ids = [r["query_id"] for r in rows]
    datasets = [r["dataset"] for r in rows]
    in_domain = np.array([d != "medqa" for d in datasets])
    splits = np.full(n, "ood", dtype=object)
    if in_domain.any():
        splits[in_domain] = hash_split([ids[i] for i in np.flatnonzero(in_domain)], seed=seed)
    models = (
        ModelInfo(
            small,
            family=spec.family if spec else None,
            params_b=spec.params_b if spec else None,
            provider_id=model_identity(model, answer),
        ),
        ModelInfo("mixtral-8x7b", family="mistralai", params_b=46.7, input_price=0.24, output_price=0.24,
                  provider_id=WEAK),
        ModelInfo("gpt-4-1106", family="openai", input_price=10.0, output_price=30.0, provider_id=STRONG),
    )  # fmt: skip
    return RoutingData(
        name=name or f"{'+'.join(sorted(set(datasets)))}-{small}",
        query_ids=np.array(ids, dtype=object),
        sources=np.array(datasets, dtype=object),
        splits=splits,
        models=models,
        Y=Y,
        cost=cost,
        cost_unit="usd",
        texts=np.array([r["text"] for r in rows], dtype=object),
        categories=np.array([r["subject"] for r in rows], dtype=object),
        gold=np.array([LETTERS[int(r["gold"])] for r in rows], dtype=object),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_s=latency,
        meta={
            "collection": str(Path(out).resolve()),
            "small_model": model_identity(model, answer),
            **_answer_meta(answer),
            "cost": (
                f"usd. Large models: posted USD per 1M tokens {LARGE_PRICES} x (prompt tokens counted with the small "
                f"model's tokenizer, a proxy; {ANSWER_TOKENS} answer token). Small model: measured process CPU "
                f"seconds x {usd_per_cpu_hour} USD per CPU-hour (assumed cloud vCPU list price)."
            ),
            "splits": f"MMLU: hash split of query ids (seed {seed}); MedQA: ood",
            "features": f"encoder hidden:{model}{'' if answer == 'letter' else '?answer=' + answer} "
            "(float16 mean-pooled states per layer)",
        },
    )
