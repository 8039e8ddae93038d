"""Run a collection: every query to every endpoint, resumable, within a budget.

:func:`collect` builds the *plan* (queries × endpoints, one request each, keyed by
:func:`~routerlab.collect.store.request_key`), skips keys the store already holds successfully,
and sends the rest with asyncio: per endpoint, ``max_concurrency`` workers, each with its own
keep-alive connection, take requests in query order. Results are written in batches of at most
``batch_size`` records or ``flush_interval_s`` seconds, one transaction each (see
:mod:`routerlab.collect.store` for why a killed run loses and repeats nothing).

Generation follows ``unsolvability-ceiling-artifacts.txt`` ("Unsolvability Ceiling in Multi-LLM Routing") §3.2 (greedy
decoding by default, per-source ``max_tokens`` budgets; every record keeps its finish reason and ``truncated``, whose
rates §9.1 asks to report, see :attr:`CollectSummary.per_model`); cost is prompt and completion
tokens at the posted prices (``routing-plateau.txt`` (arXiv:2606.07587) App. D).

Stopping:

* ``max_cost`` (USD, over every successful record of the store): once reached, no new request
  starts; requests in flight finish and are stored; the summary says ``stopped_by_budget``.
* A request that fails after its retries is stored with ``error`` set and asked again next run.
  What a server sends can only fail its own record (:mod:`routerlab.collect.client`): token
  counts are bounded integers, so every cost is finite and >= 0 and ``max_cost`` cannot be
  bypassed; a record the store still refuses is stored as an error saying why, and the rest of
  its batch is kept.
* Ctrl-C (or a cancelled task): the results already received are written before it propagates.

The plan's keys depend on the prompt and every generation parameter. A stored successful answer
for a (query, model) of the plan under a *different* key (the prompt, endpoint or parameters
changed) is an error at start unless ``redo_changed=True``, which deletes those answers and asks
again — so a store never holds two answers for one (query, model) of its plan.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import math
import os
import ssl
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routerlab._jsonl import canonical_json
from routerlab.collect.client import Outcome, clean_error, complete
from routerlab.collect.config import CollectConfig, EndpointConfig
from routerlab.collect.queries import load_queries
from routerlab.collect.store import CollectStore, QueryRow, Record, StoredKey, request_key, utc_now
from routerlab.collect.transport import make_transport
from routerlab.errors import SchemaError

log = logging.getLogger(__name__)

__all__ = ["CollectProgress", "CollectSummary", "PlannedRequest", "build_plan", "collect", "resolve_api_keys"]


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One (query, endpoint) request of the plan, ready to send."""

    key: str
    query_id: str
    source: str
    endpoint: int
    model: str
    max_tokens: int
    params: str
    body: bytes


@dataclass(frozen=True, slots=True)
class CollectProgress:
    """Where a run stands; handed to the ``progress`` callback after every result."""

    total: int
    done: int
    errors: int
    cost_usd: float
    in_flight: int
    message: str = ""

    @property
    def left(self) -> int:
        """Requests of the plan without a successful record."""
        return self.total - self.done


@dataclass(frozen=True, slots=True)
class ModelCounts:
    """Per model of the plan, over the store at the end of a run."""

    done: int
    errors: int
    truncated_rate: float
    cost_usd: float


@dataclass(frozen=True, slots=True)
class CollectSummary:
    """How a run ended. ``left`` counts the plan's requests still without a successful record."""

    run_id: str
    store: Path
    total: int
    done_before: int
    done: int
    errors: int
    left: int
    cost_usd: float
    total_cost_usd: float
    stopped_by_budget: bool
    elapsed_s: float
    requests_per_s: float
    per_model: dict[str, ModelCounts] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every request of the plan has a successful record."""
        return self.left == 0


ProgressFn = Callable[[CollectProgress], None]


def _messages(config: CollectConfig, text: str) -> list[dict[str, str]]:
    system = config.generation.system_prompt
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": text}]


def build_plan(config: CollectConfig, queries: Sequence[QueryRow]) -> list[PlannedRequest]:
    """Every (query, endpoint) request, endpoint by endpoint, queries in order."""
    gen = config.generation
    plan: list[PlannedRequest] = []
    for e, ep in enumerate(config.endpoints):
        for q in queries:
            messages = _messages(config, q.text)
            params: dict[str, object] = {"max_tokens": gen.max_tokens_for(q.source), "temperature": gen.temperature}
            if gen.seed is not None:
                params["seed"] = gen.seed
            params.update(ep.extra_body)
            key = request_key(
                endpoint=ep.name, base_url=ep.base_url, model=ep.model_id, messages=messages, params=params
            )
            body = json.dumps({"model": ep.model_id, "messages": messages, **params}, ensure_ascii=False)
            plan.append(
                PlannedRequest(
                    key,
                    q.query_id,
                    q.source,
                    e,
                    ep.name,
                    gen.max_tokens_for(q.source),
                    canonical_json(params),
                    body.encode("utf-8"),
                )
            )
    return plan


def resolve_api_keys(config: CollectConfig) -> list[str | None]:
    """Each endpoint's API key, read from the environment variable it names (an error if unset)."""
    keys: list[str | None] = []
    for ep in config.endpoints:
        if ep.api_key_env is None:
            keys.append(None)
            continue
        value = os.environ.get(ep.api_key_env, "")
        if not value:
            raise SchemaError(
                f"endpoint {ep.name!r}: the environment variable {ep.api_key_env!r} (api_key_env) is not set. "
                f"Export it before running; the key is read at run time and never stored."
            )
        keys.append(value)
    return keys


class _Run:
    """Mutable state of one run, touched only from the event loop."""

    def __init__(
        self,
        config: CollectConfig,
        store: CollectStore,
        run_id: str,
        total: int,
        done: int,
        progress: ProgressFn | None,
    ) -> None:
        self.config, self.store, self.run_id = config, store, run_id
        self.total, self.done_before = total, done
        self.done = 0
        self.errors = 0
        self.cost = 0.0
        self.cost_before = store.total_cost()
        self.in_flight = 0
        self.stop = False
        self.stopped_by_budget = False
        self.progress = progress
        self.buffer: list[Record] = []
        self.wake = asyncio.Event()
        self.closed = False
        self.committed_ok = 0
        self.committed = 0

    # --------------------------------------------------------------- budget and progress
    def over_budget(self) -> bool:
        limit = self.config.max_cost
        if limit is not None and self.cost_before + self.cost >= limit and not self.stopped_by_budget:
            self.stopped_by_budget = self.stop = True
            log.warning(
                "budget reached: $%.4f of max_cost $%.4f spent; no new requests start",
                self.cost_before + self.cost,
                limit,
            )
        return self.stopped_by_budget

    def report(self, message: str = "") -> None:
        if self.progress is not None:
            self.progress(
                CollectProgress(
                    self.total,
                    self.done_before + self.done,
                    self.errors,
                    self.cost_before + self.cost,
                    self.in_flight,
                    message,
                )
            )

    def add(self, req: PlannedRequest, ep: EndpointConfig, outcome: Outcome) -> None:
        cost = None
        if outcome.ok:
            assert outcome.prompt_tokens is not None and outcome.completion_tokens is not None
            cost = ep.cost_usd(outcome.prompt_tokens, outcome.completion_tokens)
            if not (math.isfinite(cost) and cost >= 0):  # the client bounds the counts; the budget must never see this
                outcome = _failed(outcome, f"the cost {cost!r} USD is not a finite non-negative number")
                cost = None
        if outcome.ok:
            assert cost is not None
            self.done += 1
            self.cost += cost
        else:
            self.errors += 1
            log.info(
                "%s on query %r failed after %d attempts: %s", ep.name, req.query_id, outcome.attempts, outcome.error
            )
        self.buffer.append(
            Record(
                key=req.key,
                query_id=req.query_id,
                model=req.model,
                endpoint=ep.base_url,
                provider_model=ep.model_id,
                max_tokens=req.max_tokens,
                params=req.params,
                response_text=outcome.response_text,
                finish_reason=outcome.finish_reason,
                truncated=outcome.truncated,
                prompt_tokens=outcome.prompt_tokens,
                completion_tokens=outcome.completion_tokens,
                latency_s=outcome.latency_s,
                cost_usd=cost,
                error=outcome.error,
                attempts=outcome.attempts,
                run_id=self.run_id,
                created_at=utc_now(),
            )
        )
        if len(self.buffer) >= self.config.batch_size:
            self.wake.set()
        self.report(f"{req.model}: {req.query_id}")

    # --------------------------------------------------------------- writing
    def _commit(self, batch: list[Record]) -> list[Record]:
        """Write ``batch``; returns the successful records the store refused, stored as errors instead."""
        refused: list[Record] = []
        try:
            self.store.write_records(batch)
        except Exception as exc:
            # one value the store refuses must not lose the batch: write record by record
            log.warning("a batch of %d records failed (%s); writing them one by one", len(batch), exc)
            batch = [self._write_one(r, refused) for r in batch]
        self.committed += len(batch)
        self.committed_ok += sum(r.ok for r in batch)
        log.info(
            "committed %d records; %d of %d done",
            len(batch),
            self.done_before + self.committed_ok,
            self.total,
        )
        return refused

    def _write_one(self, record: Record, refused: list[Record]) -> Record:
        try:
            self.store.write_records([record])
            return record
        except Exception as exc:
            failed = dataclasses.replace(
                record,
                response_text=None,
                finish_reason=None,
                truncated=None,
                prompt_tokens=None,
                completion_tokens=None,
                cost_usd=None,
                error=clean_error(f"the store refused the record ({type(exc).__name__}: {exc})"),
            )
            self.store.write_records([failed])  # if even this fails, the store itself is broken: raise
            if record.ok:
                refused.append(record)
            return failed

    def uncount(self, refused: list[Record]) -> None:
        """Move records the store refused from the done count and the cost to the errors."""
        for record in refused:
            self.done -= 1
            self.errors += 1
            self.cost -= record.cost_usd or 0.0

    async def writer(self) -> None:
        interval = self.config.flush_interval_s
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), interval)
            except TimeoutError:
                pass
            self.wake.clear()
            if self.buffer:
                batch, self.buffer = self.buffer, []
                try:
                    self.uncount(await asyncio.to_thread(self._commit, batch))
                except Exception:
                    self.stop = True  # the store cannot be written (disk full, ...): start nothing more
                    raise
            if self.closed and not self.buffer:
                return

    def flush_now(self) -> None:
        """Write what is buffered, synchronously (used when the run is interrupted)."""
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self.uncount(self._commit(batch))


def _failed(outcome: Outcome, error: str) -> Outcome:
    return dataclasses.replace(
        outcome, response_text=None, finish_reason=None, prompt_tokens=None, completion_tokens=None, error=error
    )


def _ssl_context(config: CollectConfig) -> ssl.SSLContext | None:
    if not any(ep.base_url.startswith("https://") for ep in config.endpoints):
        return None
    return ssl.create_default_context()  # built once: loading the CA file costs ~30 ms per client


async def _execute(
    run: _Run, config: CollectConfig, queues: list[deque[PlannedRequest]], api_keys: list[str | None]
) -> None:
    ctx = _ssl_context(config)

    async def worker(e: int) -> None:
        ep = config.endpoints[e]
        queue = queues[e]
        url = f"{ep.base_url}/chat/completions"
        timeout = config.timeout_for(ep)
        async with make_transport(
            config.http_client, url, timeout_s=timeout, max_body_bytes=config.max_response_bytes, ssl_context=ctx
        ) as http:
            while queue and not run.stop and not run.over_budget():
                req = queue.popleft()
                run.in_flight += 1
                try:
                    outcome = await complete(
                        http,
                        url,
                        req.body,
                        key=req.key,
                        timeout_s=timeout,
                        retries=config.retries,
                        api_key=api_keys[e],
                        max_answer_chars=config.max_answer_chars,
                    )
                finally:
                    run.in_flight -= 1
                run.add(req, ep, outcome)

    writer = asyncio.create_task(run.writer())
    workers = [
        asyncio.create_task(worker(e))
        for e, ep in enumerate(config.endpoints)
        for _ in range(min(ep.max_concurrency, len(queues[e])))
    ]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        writer.cancel()
        await asyncio.gather(*workers, writer, return_exceptions=True)
        run.flush_now()
        raise
    run.closed = True
    run.wake.set()
    await writer


def _run_coroutine(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """``asyncio.run``, or, inside a running event loop (a notebook), ``asyncio.run`` in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(make())
        return
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="routerlab-collect") as pool:
        pool.submit(lambda: asyncio.run(make())).result()


def collect(config: CollectConfig, *, progress: ProgressFn | None = None, redo_changed: bool = False) -> CollectSummary:
    """Collect every (query, model) answer the config asks for that the store does not hold yet.

    Returns a :class:`CollectSummary`; call again with the same config to resume (a run killed at
    any moment loses only its unwritten results). ``progress`` is called with a
    :class:`CollectProgress` at start and after every result. See the module doc for budgets,
    errors and changed parameters.
    """
    api_keys = resolve_api_keys(config)  # an unset key variable fails before anything is written
    queries = load_queries(config.queries)
    plan = build_plan(config, queries)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    with CollectStore(config.store) as store:
        stored = store.stored_keys()
        _handle_changed(store, plan, stored, redo_changed)
        stored = store.stored_keys()
        pending = [r for r in plan if not (r.key in stored and stored[r.key].ok)]
        done_before = len(plan) - len(pending)
        log.info(
            "plan: %d queries × %d models = %d requests; %d already stored, %d left",
            len(queries),
            len(config.endpoints),
            len(plan),
            done_before,
            len(pending),
        )
        store.upsert_queries(queries)
        store.start_run(run_id, config.public_dict(), len(plan))
        queues: list[deque[PlannedRequest]] = [deque() for _ in config.endpoints]
        for req in pending:
            queues[req.endpoint].append(req)
        run = _Run(config, store, run_id, len(plan), done_before, progress)
        run.report("starting")
        status = "interrupted"
        try:
            if pending:
                _run_coroutine(lambda: _execute(run, config, queues, api_keys))
            left = len(plan) - done_before - run.done
            status = "complete" if left == 0 else ("budget" if run.stopped_by_budget else "incomplete")
        finally:
            store.finish_run(run_id, status=status, n_done=run.done, n_errors=run.errors, cost_usd=run.cost)
        run.report("finished")
        stats = store.model_stats()
        per_model = {
            ep.name: ModelCounts(
                int(stats.get(ep.name, {}).get("done", 0)),
                int(stats.get(ep.name, {}).get("errors", 0)),
                float(stats.get(ep.name, {}).get("truncated", 0.0)),
                float(stats.get(ep.name, {}).get("cost_usd", 0.0)),
            )
            for ep in config.endpoints
        }
        total_cost = store.total_cost()
    elapsed = time.perf_counter() - start
    sent = run.done + run.errors
    summary = CollectSummary(
        run_id=run_id,
        store=Path(config.store),
        total=len(plan),
        done_before=done_before,
        done=run.done,
        errors=run.errors,
        left=left,
        cost_usd=run.cost,
        total_cost_usd=total_cost,
        stopped_by_budget=run.stopped_by_budget,
        elapsed_s=elapsed,
        requests_per_s=sent / elapsed if elapsed > 0 else 0.0,
        per_model=per_model,
    )
    log.info(
        "run %s %s: %d done now, %d errors, %d left; $%.4f this run, $%.4f in the store",
        run_id,
        status,
        run.done,
        run.errors,
        left,
        run.cost,
        total_cost,
    )
    return summary


def _handle_changed(
    store: CollectStore, plan: Sequence[PlannedRequest], stored: dict[str, StoredKey], redo_changed: bool
) -> None:
    """Stored records of the plan's (query, model) pairs under another key: drop failures, refuse or redo answers."""
    planned = {r.key for r in plan}
    pairs = {(r.query_id, r.model) for r in plan}
    stale_ok: list[tuple[str, str, str]] = []
    stale_failed: list[str] = []
    for key, info in stored.items():
        if key in planned:
            continue
        q, m, ok = info.query_id, info.model, info.ok
        if (q, m) in pairs:
            if ok:
                stale_ok.append((key, q, m))
            else:
                stale_failed.append(key)
    if stale_failed:
        store.delete_records(stale_failed)
        log.info("dropped %d failed records made with other parameters", len(stale_failed))
    if not stale_ok:
        return
    if not redo_changed:
        _, q, m = stale_ok[0]
        raise SchemaError(
            f"{store.path} already holds {len(stale_ok)} answers for (query, model) pairs of this config that were "
            f"made with a different prompt, endpoint or generation parameters (e.g. query {q!r}, model {m!r}). "
            "Collect into a new store file, or pass --redo-changed (redo_changed=True) to delete them and ask again."
        )
    store.delete_records(k for k, _, _ in stale_ok)
    log.warning("deleted %d answers made with other parameters; they are asked again", len(stale_ok))
