"""Batched routing decisions: RequestRouter.rank_many and the gateway's DecisionBatcher."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.serve.batching import DecisionBatcher
from routerlab.serve.routing import PolicySpec, Ranked, RequestRouter
from tests.serve.helpers import CHAT, MATH, MODELS, _ask, _pool

#: λ and budget policies mixed in one batch, a policy repeated, a budget nothing fits
SPECS = (
    PolicySpec(lam=0.0),
    PolicySpec(lam=0.9),
    PolicySpec(budget=2.0),
    PolicySpec(budget=0.5),
    PolicySpec(lam=0.0),
    PolicySpec(lam=0.3),
)


@pytest.fixture(scope="module")
def request_router(fitted: tuple[Any, Path]) -> RequestRouter:
    return RequestRouter(fitted[0], cost_unit="usd")


def _mixed() -> tuple[list[str], list[PolicySpec]]:
    texts = [MATH[0], CHAT[1], MATH[2], MATH[3], CHAT[4], "an unseen question about integrals", CHAT[5], MATH[6]]
    return texts, [SPECS[i % len(SPECS)] for i in range(len(texts))]


def test_rank_many_equals_one_at_a_time_and_the_routers_own_choice(
    request_router: RequestRouter, fitted: tuple[Any, Path]
) -> None:
    texts, specs = _mixed()
    batched = request_router.rank_many(texts, specs)
    assert batched == [request_router.rank(t, s) for t, s in zip(texts, specs, strict=True)]
    router = fitted[0]
    for text, spec, (ranking, scores) in zip(texts, specs, batched, strict=True):
        # the fitted router on a one-row table, choosing by Decisions.choose: the path every metric takes
        one = RoutingData(
            name="one",
            query_ids=["q"],
            sources=["s"],
            splits=["test"],
            models=tuple(ModelInfo(m) for m in MODELS),
            Y=np.full((1, 3), np.nan),
            cost=np.full((1, 3), np.nan),
            cost_unit="usd",
            texts=[text],
        )
        decided = router.decide(one)
        assert ranking[0] == MODELS[int(decided.choose(spec.policy)[0])]
        assert scores == dict(zip(MODELS, decided.scores[0].tolist(), strict=True))


def test_rank_many_hand_computed_rankings(request_router: RequestRouter) -> None:
    # math: only big solves (scores 0, 0, 1); chat: every model solves (1, 1, 1); mean costs 1, 2, 5
    texts = [MATH[0], CHAT[0], MATH[1], MATH[2], MATH[3]]
    specs = [PolicySpec(lam=0.0), PolicySpec(lam=0.0), PolicySpec(budget=2.0), PolicySpec(budget=0.5)]
    specs.append(PolicySpec(lam=0.9))
    ranked = [r for r, _ in request_router.rank_many(texts, specs)]
    assert ranked[0] == ["big", "small", "mid"]  # quality first; the 0-score tie goes to the cheaper
    assert ranked[1] == ["small", "mid", "big"]  # all tied at 1: cheapest first
    assert ranked[2] == ["small", "mid"]  # within budget 2: small and mid (both 0), big is out
    assert ranked[3] == ["small"]  # nothing fits 0.5: the cheapest model, no fallback within budget
    # λ = 0.9, c̃ = (c − 1) / 4 = 0, .25, 1: U = 0.1·q − 0.9·c̃ = 0, −0.225, −0.8
    assert ranked[4] == ["small", "mid", "big"]


def test_rank_many_refuses_mismatched_lengths_and_accepts_none(request_router: RequestRouter) -> None:
    with pytest.raises(ValueError, match="one policy per text; got 2 texts and 1 policies"):
        request_router.rank_many(["a", "b"], [PolicySpec()])
    assert request_router.rank_many([], []) == []


class Counting:
    """Wraps a router: counts rank_many calls and their sizes; raises on the text ``boom``; can be held."""

    def __init__(self, inner: RequestRouter) -> None:
        self.inner = inner
        self.sizes: list[int] = []
        self.release = threading.Event()
        self.release.set()

    def rank_many(self, texts: Sequence[str], specs: Sequence[PolicySpec]) -> list[Ranked]:
        self.sizes.append(len(texts))
        self.release.wait(10)
        if "boom" in texts:
            raise ValueError("cannot encode 'boom'")
        return self.inner.rank_many(texts, specs)


def _requests(n: int, seed: int = 0) -> list[tuple[str, PolicySpec]]:
    rnd = random.Random(seed)
    return [(rnd.choice(MATH + CHAT) + f" #{i}", rnd.choice(SPECS)) for i in range(n)]


def test_concurrent_requests_share_router_calls_and_get_their_own_decision(request_router: RequestRouter) -> None:
    wrapped = Counting(request_router)
    batcher = DecisionBatcher(wrapped)
    asks = _requests(32)

    async def main() -> list[Ranked]:
        return await asyncio.gather(*(batcher.rank(t, s) for t, s in asks))

    results = asyncio.run(main())
    assert sum(wrapped.sizes) == 32
    assert len(wrapped.sizes) <= 4, wrapped.sizes  # 32 concurrent decisions, a handful of router calls
    assert results == [request_router.rank(t, s) for t, s in asks]


def test_batched_results_do_not_depend_on_arrival_order(request_router: RequestRouter) -> None:
    asks = _requests(24, seed=1)
    shuffled = random.Random(2).sample(asks, len(asks))

    async def decide(order: list[tuple[str, PolicySpec]]) -> dict[tuple[str, PolicySpec], Ranked]:
        batcher = DecisionBatcher(request_router, max_batch=5)  # batches of other compositions
        results = await asyncio.gather(*(batcher.rank(t, s) for t, s in order))
        return dict(zip(order, results, strict=True))

    assert asyncio.run(decide(asks)) == asyncio.run(decide(shuffled))


def test_max_batch_bounds_each_router_call(request_router: RequestRouter) -> None:
    wrapped = Counting(request_router)
    batcher = DecisionBatcher(wrapped, max_batch=8)

    async def main() -> None:
        await asyncio.gather(*(batcher.rank(t, s) for t, s in _requests(30)))

    asyncio.run(main())
    assert sum(wrapped.sizes) == 30
    assert max(wrapped.sizes) == 8 and len(wrapped.sizes) >= 4


def test_a_failing_query_fails_alone(request_router: RequestRouter) -> None:
    wrapped = Counting(request_router)
    batcher = DecisionBatcher(wrapped)
    asks = _requests(10)
    asks.insert(4, ("boom", PolicySpec()))

    async def main() -> list[Ranked | BaseException]:
        return await asyncio.gather(*(batcher.rank(t, s) for t, s in asks), return_exceptions=True)

    results = asyncio.run(main())
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [4]
    assert isinstance(results[4], ValueError) and "boom" in str(results[4])
    for (text, spec), result in zip(asks, results, strict=True):
        if text != "boom":
            assert result == request_router.rank(text, spec)
    assert wrapped.sizes == [11] + [1] * 11  # the batch failed, then each request alone


def test_a_cancelled_request_leaves_the_others_decided(request_router: RequestRouter) -> None:
    wrapped = Counting(request_router)
    batcher = DecisionBatcher(wrapped)

    async def main() -> tuple[list[Ranked], bool]:
        wrapped.release.clear()  # the first batch holds in its worker thread
        first = asyncio.ensure_future(batcher.rank(MATH[0], PolicySpec()))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(batcher.rank(CHAT[0], PolicySpec()))
        kept = asyncio.ensure_future(batcher.rank(CHAT[1], PolicySpec()))
        await asyncio.sleep(0.01)
        gone.cancel()  # the client went away while its request waited
        wrapped.release.set()
        return [await first, await kept], gone.cancelled()

    (first, kept), cancelled = asyncio.run(main())
    assert cancelled
    assert first[0][0] == "big" and kept[0][0] == "small"
    assert wrapped.sizes == [1, 1]  # the cancelled request was dropped from the second batch


def test_shutdown_does_not_hang_on_a_stuck_decision(request_router: RequestRouter) -> None:
    wrapped = Counting(request_router)
    batcher = DecisionBatcher(wrapped)

    async def main() -> tuple[float, list[Ranked | BaseException]]:
        wrapped.release.clear()
        waiting = [asyncio.ensure_future(batcher.rank(MATH[i], PolicySpec())) for i in range(3)]
        await asyncio.sleep(0.05)
        waiting.append(asyncio.ensure_future(batcher.rank(MATH[3], PolicySpec())))  # queued behind the stuck one
        await asyncio.sleep(0)
        started = time.monotonic()
        await batcher.aclose(timeout_s=0.2)
        took = time.monotonic() - started
        with pytest.raises(RuntimeError, match="closed"):
            await batcher.rank(MATH[0], PolicySpec())
        results = await asyncio.gather(*waiting, return_exceptions=True)
        wrapped.release.set()  # the worker thread ends (asyncio.run joins it), its results are dropped
        return took, results

    try:
        took, results = asyncio.run(main())
    finally:
        wrapped.release.set()
    assert took < 2.0
    assert all(isinstance(r, RuntimeError) and "shut down" in str(r) for r in results), results


def test_close_waits_for_queued_decisions(request_router: RequestRouter) -> None:
    batcher = DecisionBatcher(request_router)

    async def main() -> list[Ranked]:
        waiting = [asyncio.ensure_future(batcher.rank(t, s)) for t, s in _requests(6)]
        await asyncio.sleep(0)
        await batcher.aclose()
        return [await w for w in waiting]

    assert asyncio.run(main()) == [request_router.rank(t, s) for t, s in _requests(6)]


def test_bad_max_batch_is_refused(request_router: RequestRouter) -> None:
    with pytest.raises(ValueError, match="max_batch must be a positive integer; got 0"):
        DecisionBatcher(request_router, max_batch=0)


def test_gateway_routes_concurrent_requests_as_alone(gateway: Any, upstreams: dict[str, str]) -> None:
    client = gateway(_pool(upstreams))
    asks = [(MATH[i % 8], "router") for i in range(12)] + [(CHAT[i % 8], "router") for i in range(12)]
    asks += [(MATH[i % 8], "router:budget=2") for i in range(8)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda ask: _ask(client, ask[1], ask[0]), asks))
    assert all(a.status_code == 200 for a in answers)
    chosen = [a.headers["x-routerlab-model"] for a in answers]
    assert chosen == ["big"] * 12 + ["small"] * 12 + ["small"] * 8
