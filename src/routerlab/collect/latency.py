"""Latency percentiles per model from a collection store, in the layout of Table 11.

``unsolvability-ceiling-artifacts.txt`` ("Unsolvability Ceiling in Multi-LLM Routing") §6.2, Table 11 reports p50 / p90
/ p99 inference latency (ms) per tier over sequential samples. :func:`latency_report` computes the same per model from
the ``latency_s`` of the successful records of a store (failed requests have no latency), with ``n``
and the mean beside them. Percentiles use numpy's default linear interpolation between order
statistics (``np.percentile(..., method="linear")``). Latencies measured with
``max_concurrency > 1`` include queueing in the server; collect with ``max_concurrency: 1`` to
compare with the paper's sequential figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from routerlab.errors import SchemaError

__all__ = ["PERCENTILES", "LatencyReport", "LatencyRow", "latency_report", "latency_rows"]

#: the percentiles of Table 11
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True, slots=True)
class LatencyRow:
    """One model's latency figures, in milliseconds."""

    model: str
    n: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float


@dataclass(frozen=True, slots=True)
class LatencyReport:
    """Per-model p50 / p90 / p99 latency (Table 11 layout); ``rows`` in the order of first appearance."""

    rows: tuple[LatencyRow, ...]
    source: str = ""

    def to_markdown(self) -> str:
        """A Markdown table: ``| Model | n | p50 | p90 | p99 | mean |`` in ms with thousands separators."""
        lines = ["| Model | n | p50 (ms) | p90 (ms) | p99 (ms) | mean (ms) |", "|---|---|---|---|---|---|"]
        for r in self.rows:
            cells = [f"{v:,.0f}" for v in (r.p50_ms, r.p90_ms, r.p99_ms, r.mean_ms)]
            lines.append(f"| {r.model} | {r.n:,} | {' | '.join(cells)} |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{model: {n, p50_ms, p90_ms, p99_ms, mean_ms}}``."""
        return {
            r.model: {"n": r.n, "p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "p99_ms": r.p99_ms, "mean_ms": r.mean_ms}
            for r in self.rows
        }


def latency_rows(latencies_s: Mapping[str, Sequence[float]]) -> tuple[LatencyRow, ...]:
    """Table-11 rows from latencies in seconds per model (models with no latency are left out)."""
    rows = []
    for model, values in latencies_s.items():
        ms = np.asarray(values, dtype=np.float64) * 1e3
        ms = ms[np.isfinite(ms)]
        if ms.size == 0:
            continue
        p50, p90, p99 = (float(v) for v in np.percentile(ms, PERCENTILES, method="linear"))
        rows.append(LatencyRow(model, int(ms.size), p50, p90, p99, float(ms.mean())))
    return tuple(rows)


def latency_report(store: str | Path, *, models: Sequence[str] | None = None) -> LatencyReport:
    """p50 / p90 / p99 latency per model from the successful records of a collection store."""
    from routerlab.collect.store import CollectStore

    with CollectStore(store, read_only=True) as db:
        rows = db.fetch(
            "SELECT model, latency_s FROM records WHERE error IS NULL AND latency_s IS NOT NULL "
            "ORDER BY created_at, key"
        )
    by_model: dict[str, list[float]] = {}
    for model, latency in rows:
        by_model.setdefault(str(model), []).append(float(latency))
    if models is not None:
        unknown = [m for m in models if m not in by_model]
        if unknown:
            raise SchemaError(
                f"No latency records for {unknown} in {str(store)!r}; models with records: {sorted(by_model)}."
            )
        by_model = {m: by_model[m] for m in models}
    return LatencyReport(latency_rows(by_model), str(store))
