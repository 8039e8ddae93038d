"""Whole collections against loopback servers: records, costs, budgets, per-source budgets, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routerlab.collect import CollectProgress, CollectStore, build_plan, collect
from routerlab.collect.config import QuerySetConfig
from routerlab.collect.mock_server import FaultSchedule, hash_backend
from routerlab.collect.queries import load_queries, queries_from_jsonl
from routerlab.errors import SchemaError
from tests.collect.conftest import ServeFn, make_config


def test_collect_records_everything(tmp_path: Path, serve: ServeFn) -> None:
    servers = [serve(["mock"]), serve(["mock"])]
    cfg = make_config(tmp_path, servers, n_queries=12)
    seen: list[CollectProgress] = []
    summary = collect(cfg, progress=seen.append)
    assert summary.complete and summary.total == 24 and summary.done == 24 and summary.errors == 0
    assert seen[0].done == 0 and seen[-1].done == 24 and seen[-1].left == 0
    queries = {q.query_id: q for q in queries_from_jsonl(tmp_path / "queries.jsonl")}
    with CollectStore(cfg.store, read_only=True) as store:
        records = store.records()
        assert store.fetch("SELECT count(*) FROM queries") == [(12,)]
        (run,) = store.fetch("SELECT status, n_done, config FROM runs")
    assert len(records) == 24 and len({(r.query_id, r.model) for r in records}) == 24
    total = 0.0
    for r in records:
        q = queries[r.query_id]
        ep = cfg.endpoints[int(r.model[1:])]
        budget = 8 if q.source == "mmlu" else 64  # per-source max_tokens (§3.2)
        messages = [{"role": "user", "content": q.text}]
        expected = hash_backend(model="mock", messages=messages, max_tokens=budget, temperature=0.0, seed=0)
        assert r.max_tokens == budget and json.loads(r.params)["max_tokens"] == budget
        assert r.response_text == expected.text and r.finish_reason == expected.finish_reason
        assert r.truncated == (r.finish_reason == "length")
        assert r.prompt_tokens == len(q.text.split()) and r.completion_tokens == expected.completion_tokens
        assert r.cost_usd == pytest.approx(
            (r.prompt_tokens * ep.input_price_per_1m + r.completion_tokens * ep.output_price_per_1m) / 1e6
        )  # type: ignore[operator]
        assert r.error is None and r.attempts == 1 and r.latency_s is not None and r.latency_s > 0
        total += r.cost_usd  # type: ignore[operator]
    assert any(r.truncated for r in records)  # the 8-token mmlu budget binds
    assert summary.total_cost_usd == pytest.approx(total)
    assert run[0] == "complete" and run[1] == 24 and json.loads(run[2])["endpoints"][0]["name"] == "m0"


def test_rerun_sends_nothing(tmp_path: Path, serve: ServeFn) -> None:
    server = serve(["mock"])
    cfg = make_config(tmp_path, [server], n_queries=10)
    collect(cfg)
    n = len(server.log)
    summary = collect(cfg)
    assert len(server.log) == n and summary.done_before == 10 and summary.done == 0 and summary.complete


def test_failures_are_stored_then_retried_next_run(tmp_path: Path, serve: ServeFn) -> None:
    server = serve(["mock"], faults=FaultSchedule(every_500=1))
    cfg = make_config(tmp_path, [server], n_queries=6, retries={"max_attempts": 2, "backoff_base_s": 0.0})
    first = collect(cfg)
    assert first.errors == 6 and first.left == 6 and not first.complete
    with CollectStore(cfg.store, read_only=True) as store:
        assert store.count_records() == (0, 6)
    server.app.state.faults = FaultSchedule()  # the server recovers
    second = collect(cfg)
    assert second.done_before == 0 and second.done == 6 and second.complete
    with CollectStore(cfg.store, read_only=True) as store:
        rows = store.records()
    assert len(rows) == 6 and all(r.error is None and r.attempts == 3 for r in rows)


def test_max_cost_stops_cleanly_and_resumes(tmp_path: Path, serve: ServeFn) -> None:
    server = serve(["mock"])
    endpoint = {
        "name": "m0",
        "base_url": server.url,
        "model": "mock",
        "max_concurrency": 2,
        "input_price_per_1m": 10_000.0,
        "output_price_per_1m": 10_000.0,
    }
    cfg = make_config(tmp_path, [server], n_queries=30, endpoints=[endpoint], max_cost=2.0)
    first = collect(cfg)
    assert first.stopped_by_budget and 0 < first.done < 30 and first.left == 30 - first.done
    # stops once spent >= 2 USD; each answer costs < 1 USD, at most 2 more were in flight
    assert 2.0 <= first.total_cost_usd < 2.0 + 3 * 1.0
    with CollectStore(cfg.store, read_only=True) as store:
        assert store.count_records() == (first.done, 0)
        assert store.fetch("SELECT status FROM runs") == [("budget",)]
    n = len(server.log)
    again = collect(cfg)  # the budget covers the whole store: nothing more is spent
    assert again.stopped_by_budget and again.done == 0 and len(server.log) == n
    done = collect(cfg.model_copy(update={"max_cost": None}))
    assert done.complete and done.done_before == first.done


def test_changed_parameters_are_refused_or_redone(tmp_path: Path, serve: ServeFn) -> None:
    server = serve(["mock"])
    cfg = make_config(tmp_path, [server], n_queries=4)
    collect(cfg)
    changed = cfg.model_copy(update={"generation": cfg.generation.model_copy(update={"max_tokens": 32})})
    with pytest.raises(
        SchemaError, match=r"2 answers .* different prompt, endpoint or generation parameters.*--redo-changed"
    ):
        collect(changed)
    summary = collect(changed, redo_changed=True)  # the two mmlu queries keep their 8-token budget and answers
    assert summary.done_before == 2 and summary.done == 2 and summary.complete
    with CollectStore(cfg.store, read_only=True) as store:
        assert store.fetch("SELECT count(*), count(DISTINCT query_id) FROM records") == [(4, 4)]
        assert {r.max_tokens for r in store.records()} == {8, 32}  # mmlu keeps its own budget


def test_plan_order_and_system_prompt(tmp_path: Path, serve: ServeFn) -> None:
    servers = [serve(["mock"]), serve(["mock"])]
    cfg = make_config(tmp_path, servers, n_queries=3, generation={"system_prompt": "Answer with a letter."})
    plan = build_plan(cfg, load_queries(cfg.queries))
    assert [(p.model, p.query_id) for p in plan][:4] == [
        ("m0", "q0000"),
        ("m0", "q0001"),
        ("m0", "q0002"),
        ("m1", "q0000"),
    ]
    body = json.loads(plan[0].body)
    assert body["messages"][0] == {"role": "system", "content": "Answer with a letter."}
    assert body["temperature"] == 0.0 and body["seed"] == 0 and body["model"] == "mock"
    assert len({p.key for p in plan}) == 6


def test_dataset_query_set() -> None:
    rows = load_queries(QuerySetConfig(dataset="routerlab-mini", splits=["test"], sources=["mmlu"], limit=5))
    assert len(rows) == 5 and all(r.split == "test" and r.source == "mmlu" and r.text for r in rows)


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (['{"id": 1, "text": "a"}', '{"id": "1", "text": "b"}'], "line 2: the id '1' was already used on line 1"),
        (['{"id": "a"}'], "line 1: the field 'text' is missing"),
        (["{nope"], "line 1: not valid JSON"),
        (['{"id": "a", "text": "t", "split": "dev"}'], "split 'dev' is not one of"),
        ([""], "holds no queries"),
    ],
)
def test_jsonl_errors(tmp_path: Path, lines: list[str], match: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match=match):
        queries_from_jsonl(path)


def test_jsonl_extra_fields_go_to_meta(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": 7, "text": "t", "subject": "law"}\n')
    (row,) = queries_from_jsonl(path)
    assert row.query_id == "7" and row.source == "default" and row.split == "test" and row.meta == {"subject": "law"}


def test_collect_inside_a_running_event_loop(tmp_path: Path, serve: ServeFn) -> None:
    import asyncio

    cfg = make_config(tmp_path, [serve(["mock"])], n_queries=3)

    async def notebook_cell() -> bool:
        return collect(cfg).complete

    assert asyncio.run(notebook_cell())
