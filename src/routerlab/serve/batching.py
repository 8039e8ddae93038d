"""Opportunistic micro-batching of routing decisions: the requests waiting for a decision share one router call.

Every chat request that needs a routing decision awaits :meth:`DecisionBatcher.rank`. The request is
queued; when no batch is being decided, a drain task starts and takes everything pending (up to
``max_batch`` at a time), decides it with one :meth:`RequestRouter.rank_many
<routerlab.serve.routing.RequestRouter.rank_many>` call in a worker thread (the event loop keeps
serving meanwhile), resolves each request's future, and repeats while requests are pending. Nothing
waits for a batch to fill: an idle gateway decides a lone request at once, and a busy one decides
whatever arrived during the previous batch. This is the dynamic batching of inference servers
(Triton's dynamic batcher, with no queue delay): throughput grows with load because one call
amortises the per-call costs (building the table, the encoder call, a kNN search that reads the
training matrix once), while a request never waits longer than the batch ahead of it.

Failures stay with their request: when a batch raises, each of its requests is decided alone, so only
the query that fails gets the error. A request cancelled while it waits (the client went away) is
dropped from its batch. There is no long-lived task: the drain task ends when the queue is empty, so
nothing needs shutting down; :meth:`DecisionBatcher.aclose` refuses new requests and waits (bounded)
for the ones queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from routerlab.serve.routing import PolicySpec, Ranked

__all__ = ["DecisionBatcher", "RanksMany"]

logger = logging.getLogger(__name__)

_SHUT_DOWN = "The gateway shut down before this request was routed."


class RanksMany(Protocol):
    """What the batcher needs: :meth:`RequestRouter.rank_many <routerlab.serve.routing.RequestRouter.rank_many>`."""

    def rank_many(self, texts: Sequence[str], specs: Sequence[PolicySpec]) -> list[Ranked]:
        """``(ranking, scores)`` of each ``(texts[i], specs[i])``."""
        ...


@dataclass(slots=True)
class _Waiting:
    text: str
    spec: PolicySpec
    future: asyncio.Future[Ranked]


class DecisionBatcher:
    """Decide concurrent requests in batches of at most ``max_batch`` (see the module doc)."""

    def __init__(self, router: RanksMany, *, max_batch: int = 64) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer; got {max_batch!r}.")
        self.router = router
        self.max_batch = max_batch
        #: router calls made (batches, and single decisions after a batch failed) and requests decided
        self.calls = 0
        self.decided = 0
        self._queue: list[_Waiting] = []
        self._drainer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def rank(self, text: str, spec: PolicySpec) -> Ranked:
        """The request's ``(ranking, scores)``, decided in a batch with whatever else is waiting."""
        if self._closed:
            raise RuntimeError("This DecisionBatcher is closed; it decides no more requests.")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # a new event loop (a restarted server): the old loop's queue and task died with it
            self._loop, self._queue, self._drainer = loop, [], None
        waiting = _Waiting(text, spec, loop.create_future())
        self._queue.append(waiting)
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await waiting.future

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Refuse new requests and let the queued ones be decided, for at most ``timeout_s`` seconds.

        Requests still waiting after that get a :class:`RuntimeError` (a decision running in a worker
        thread cannot be interrupted; its results are dropped).
        """
        self._closed = True
        drainer = self._drainer
        if drainer is None or drainer.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(drainer), timeout_s)
        except TimeoutError:
            drainer.cancel()
            stopped = RuntimeError(f"{_SHUT_DOWN} (waited {timeout_s:g} s for the decisions in progress)")
            for waiting in self._queue:
                if not waiting.future.done():
                    waiting.future.set_exception(stopped)
            self._queue.clear()

    async def _drain(self) -> None:
        while self._queue:
            batch = [w for w in self._queue[: self.max_batch] if not w.future.done()]
            del self._queue[: self.max_batch]
            if not batch:
                continue
            try:
                outcomes = await asyncio.to_thread(self._decide, [w.text for w in batch], [w.spec for w in batch])
            except BaseException as exc:  # no waiting request may be left hanging, whatever happened
                failed = exc if isinstance(exc, Exception) else RuntimeError(_SHUT_DOWN)
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(failed)
                if not isinstance(exc, Exception):
                    raise
                continue
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if waiting.future.done():  # cancelled while its batch ran
                    continue
                if isinstance(outcome, BaseException):
                    waiting.future.set_exception(outcome)
                else:
                    waiting.future.set_result(outcome)

    def _decide(self, texts: list[str], specs: list[PolicySpec]) -> list[Ranked | Exception]:
        """In a worker thread: the batch in one call, or, when that raises, each request alone."""
        self.calls += 1
        try:
            ranked: list[Ranked | Exception] = list(self.router.rank_many(texts, specs))
            if len(ranked) != len(texts):
                raise RuntimeError(f"rank_many returned {len(ranked)} decisions for {len(texts)} requests.")
        except Exception as exc:
            if len(texts) == 1:
                return [exc]
            logger.warning("a batch of %d decisions failed (%r); deciding each alone", len(texts), exc)
            return [self._decide_one(text, spec) for text, spec in zip(texts, specs, strict=True)]
        self.decided += len(texts)
        return ranked

    def _decide_one(self, text: str, spec: PolicySpec) -> Ranked | Exception:
        self.calls += 1
        try:
            (ranked,) = self.router.rank_many([text], [spec])
        except Exception as exc:
            return exc
        self.decided += 1
        return ranked
