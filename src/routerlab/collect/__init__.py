"""Collect query × model outcomes from OpenAI-compatible endpoints into a resumable DuckDB store.

``collect(load_config("collect.yaml"))`` sends every query of a query set to every endpoint of a
model pool (greedy decoding and per-source token budgets,
``unsolvability-ceiling-artifacts.txt`` ("Unsolvability Ceiling in Multi-LLM Routing") §3.2), records answers, finish
reasons, truncation, token counts, latency and cost (tokens × posted prices, ``routing-plateau.txt`` (arXiv:2606.07587)
App. D), and can be killed and restarted at any moment. ``latency_report(store)`` gives the p50 / p90 / p99 table of
§6.2 (Table 11).
:mod:`routerlab.collect.mock_server` is a loopback OpenAI-compatible server for dry runs.
"""

from __future__ import annotations

from routerlab.collect.config import (
    CollectConfig,
    EndpointConfig,
    GenerationConfig,
    QuerySetConfig,
    RetryConfig,
    load_config,
)
from routerlab.collect.latency import LatencyReport, LatencyRow, latency_report
from routerlab.collect.run import CollectProgress, CollectSummary, build_plan, collect
from routerlab.collect.store import CollectStore, QueryRow, Record, request_key

__all__ = [
    "CollectConfig",
    "CollectProgress",
    "CollectStore",
    "CollectSummary",
    "EndpointConfig",
    "GenerationConfig",
    "LatencyReport",
    "LatencyRow",
    "QueryRow",
    "QuerySetConfig",
    "Record",
    "RetryConfig",
    "build_plan",
    "collect",
    "latency_report",
    "load_config",
    "request_key",
]
