"""The query set of a collection: a routerlab dataset (any :class:`RoutingData` with texts) or a JSONL file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from routerlab.collect.config import QuerySetConfig
from routerlab.collect.store import QueryRow
from routerlab.data.schema import SPLITS, RoutingData
from routerlab.errors import DataNotFoundError, SchemaError

__all__ = ["load_queries", "queries_from_jsonl", "queries_from_routing_data"]

_JSONL_FIELDS = ("id", "text", "source", "gold", "split")


def queries_from_routing_data(data: RoutingData) -> list[QueryRow]:
    """The queries of ``data`` (ids, texts, sources, gold, splits); it must carry query texts."""
    if data.texts is None:
        raise SchemaError(
            f"Dataset {data.name!r} has no query texts, so there is nothing to send. Use a dataset with texts "
            "or give the queries as a JSONL file (queries: {jsonl: path}) with fields id and text."
        )
    gold = data.gold if data.gold is not None else [None] * data.n_queries
    cats = data.categories if data.categories is not None else data.sources
    return [
        QueryRow(str(q), str(t), str(s), None if g is None else str(g), str(sp), {"category": str(c)})
        for q, t, s, g, sp, c in zip(data.query_ids, data.texts, data.sources, gold, data.splits, cats, strict=True)
    ]


def queries_from_jsonl(path: str | Path) -> list[QueryRow]:
    """Read a JSONL query file: ``id`` and ``text`` required; ``source``, ``gold``, ``split`` optional; rest → meta."""
    from routerlab._jsonl import iter_jsonl

    path = Path(path)
    if not path.is_file():
        problem = "it is a folder" if path.is_dir() else "no such file"
        raise DataNotFoundError(f"Cannot read the query file {str(path)!r}: {problem}; give the path of a JSONL file.")
    rows: list[QueryRow] = []
    seen: dict[str, int] = {}
    obj: Any
    for n, obj in iter_jsonl(path, fix="each line must be a JSON object with 'id' and 'text'"):
        for req in ("id", "text"):
            if obj.get(req) is None or obj.get(req) == "":
                raise SchemaError(
                    f"{path}, line {n}: the field {req!r} is missing or empty; every query needs an id and a text."
                )
        qid = str(obj["id"])
        if qid in seen:
            raise SchemaError(
                f"{path}, line {n}: the id {qid!r} was already used on line {seen[qid]}; ids must be unique."
            )
        seen[qid] = n
        split = str(obj.get("split") or "test")
        if split not in SPLITS:
            raise SchemaError(f"{path}, line {n}: split {split!r} is not one of {', '.join(SPLITS)}.")
        if not isinstance(obj["text"], str):
            raise SchemaError(f"{path}, line {n}: 'text' must be a string; got {type(obj['text']).__name__}.")
        gold = obj.get("gold")
        meta = {k: v for k, v in obj.items() if k not in _JSONL_FIELDS}
        source = str(obj.get("source") or "default")
        rows.append(QueryRow(qid, obj["text"], source, None if gold is None else str(gold), split, meta))
    if not rows:
        raise SchemaError(f"{path} holds no queries.")
    return rows


def load_queries(config: QuerySetConfig) -> list[QueryRow]:
    """The queries a config names, filtered by its ``splits`` / ``sources`` and cut to ``limit``."""
    if config.jsonl is not None:
        rows = queries_from_jsonl(config.jsonl)
    else:
        from routerlab.data import load

        assert config.dataset is not None  # the config checks that exactly one is given
        rows = queries_from_routing_data(load(config.dataset, config.path))
    if config.splits is not None:
        rows = [r for r in rows if r.split in config.splits]
    if config.sources is not None:
        rows = [r for r in rows if r.source in config.sources]
    if config.limit is not None:
        rows = rows[: config.limit]
    if not rows:
        raise SchemaError("The query set is empty after the splits/sources filters; loosen them.")
    return rows
