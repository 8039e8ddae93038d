"""The store: stable request keys, one row per key, successful records final, the reader's column names."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from routerlab.collect.store import SCHEMA_VERSION, CollectStore, QueryRow, Record, request_key
from routerlab.errors import SchemaError

MESSAGES = [{"role": "user", "content": "What is 2 + 2? A) 3 B) 4"}]
PARAMS = {"max_tokens": 256, "temperature": 0.0, "seed": 0}


def _key(**changes: object) -> str:
    args: dict[str, object] = {
        "endpoint": "small",
        "base_url": "http://127.0.0.1:8000/v1",
        "model": "tiny-1b",
        "messages": MESSAGES,
        "params": PARAMS,
    }
    args.update(changes)
    return request_key(**args)  # type: ignore[arg-type]


def test_key_is_pinned() -> None:
    # a changed recipe would make every existing store re-collect everything: change KEY_VERSION with it
    assert _key() == "85a48ad94ba5ac5e11a56e1f6b81123d61f7b5c97e75f304c75323a383f3efcf"
    recipe = (
        '{"base_url":"http://127.0.0.1:8000/v1","endpoint":"small","messages":[{"content":"What is 2 + 2? A) 3 B) 4",'
        '"role":"user"}],"model":"tiny-1b","params":{"max_tokens":256,"seed":0,"temperature":0.0},"v":1}'
    )
    assert _key() == hashlib.sha256(recipe.encode()).hexdigest()


def test_key_ignores_order_and_trailing_slash() -> None:
    assert _key(params={"seed": 0, "temperature": 0.0, "max_tokens": 256}) == _key()
    assert _key(base_url="http://127.0.0.1:8000/v1/") == _key()
    assert _key(messages=[{"content": MESSAGES[0]["content"], "role": "user"}]) == _key()


@pytest.mark.parametrize(
    "change",
    [
        {"endpoint": "other"},
        {"base_url": "http://127.0.0.1:8001/v1"},
        {"model": "tiny-2b"},
        {"messages": [{"role": "user", "content": "What is 2 + 3?"}]},
        {"params": {**PARAMS, "max_tokens": 512}},
        {"params": {**PARAMS, "temperature": 0.7}},
        {"params": {**PARAMS, "seed": 1}},
        {"params": {**PARAMS, "enable_thinking": False}},
    ],
)
def test_key_changes_with_anything_that_decides_the_answer(change: dict[str, object]) -> None:
    assert _key(**change) != _key()


def _record(key: str, *, error: str | None = None, text: str = "B", attempts: int = 1) -> Record:
    ok = error is None
    return Record(
        key=key,
        query_id="q1",
        model="small",
        endpoint="http://127.0.0.1:8000/v1",
        provider_model="tiny-1b",
        max_tokens=256,
        params='{"max_tokens":256}',
        response_text=text if ok else None,
        finish_reason="stop" if ok else None,
        truncated=False if ok else None,
        prompt_tokens=10 if ok else None,
        completion_tokens=2 if ok else None,
        latency_s=0.1 if ok else None,
        cost_usd=1e-6 if ok else None,
        error=error,
        attempts=attempts,
        run_id="r",
        created_at=dt.datetime(2026, 1, 1),
    )


def test_success_is_final_and_failures_are_replaced(tmp_path: Path) -> None:
    with CollectStore(tmp_path / "s.duckdb") as store:
        store.write_records([_record("a", error="HTTP 500", attempts=3), _record("b")])
        store.write_records([_record("a", attempts=2), _record("b", text="changed")])  # a replay / a retry
        store.write_records([_record("b", error="HTTP 429")])  # a late failure never erases an answer
        rows = {r.key: r for r in store.records()}
        assert len(rows) == 2
        assert rows["a"].error is None and rows["a"].attempts == 5  # attempts add up over runs
        assert rows["b"].response_text == "B" and rows["b"].attempts == 1
        assert store.count_records() == (2, 0)


def test_reader_columns(tmp_path: Path) -> None:
    with CollectStore(tmp_path / "s.duckdb") as store:
        store.upsert_queries([QueryRow("q1", "text", "mmlu", "B", "test", {"subject": "math"})])
        store.upsert_queries([QueryRow("q1", "new text", "mmlu", "C", "train", {})])
        cols = {
            t: [
                r[0]
                for r in store.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [t])
            ]
            for t in ("records", "queries")
        }
        assert store.fetch("SELECT text, gold, split FROM queries") == [("new text", "C", "train")]
    for c in (
        "query_id",
        "model",
        "response_text",
        "finish_reason",
        "truncated",
        "prompt_tokens",
        "completion_tokens",
        "latency_s",
        "cost_usd",
        "error",
    ):
        assert c in cols["records"]
    assert cols["queries"] == ["query_id", "text", "source", "gold", "split", "meta"]


def test_read_only_and_versions(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="No collection store"):
        CollectStore(tmp_path / "absent.duckdb", read_only=True)
    path = tmp_path / "s.duckdb"
    with CollectStore(path) as store:
        store.write_records([_record("a")])
    with CollectStore(path, read_only=True) as store:
        assert store.count_records() == (1, 0)
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(SchemaError, match=f"schema version 99.*version {SCHEMA_VERSION}"):
        CollectStore(path)
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(SchemaError, match="not a routerlab collection store"):
        CollectStore(other, read_only=True)
