"""Latency percentiles per model (Table 11 layout) against hand-computed values."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from routerlab.collect import latency_report
from routerlab.collect.latency import latency_rows
from routerlab.collect.store import CollectStore, Record
from routerlab.errors import SchemaError

BASE = Record(
    key="",
    query_id="q",
    model="",
    endpoint="http://x/v1",
    provider_model="x",
    max_tokens=8,
    params="{}",
    response_text="A",
    finish_reason="stop",
    truncated=False,
    prompt_tokens=1,
    completion_tokens=1,
    latency_s=None,
    cost_usd=0.0,
    error=None,
    attempts=1,
    run_id="r",
    created_at=dt.datetime(2026, 1, 1),
)


def test_percentiles_by_hand() -> None:
    # 1..10 s: linear interpolation at rank p/100 * (n - 1): p50 → 5.5, p90 → 9.1, p99 → 9.91
    (row,) = latency_rows({"big": [float(s) for s in range(10, 0, -1)]})
    assert (row.n, row.p50_ms, row.p90_ms, row.p99_ms, row.mean_ms) == pytest.approx((10, 5500, 9100, 9910, 5500))
    (one,) = latency_rows({"one": [0.25]})
    assert (one.p50_ms, one.p90_ms, one.p99_ms) == (250.0, 250.0, 250.0)
    assert latency_rows({"none": []}) == ()


def test_report_from_store_ignores_failures(tmp_path: Path) -> None:
    records = [
        dataclasses.replace(BASE, key=f"a{i}", model="small", latency_s=s) for i, s in enumerate([1.0, 2.0, 3.0, 4.0])
    ]
    records += [dataclasses.replace(BASE, key="b0", model="large", latency_s=10.569)]
    records += [dataclasses.replace(BASE, key="e0", model="small", latency_s=None, error="timeout", response_text=None)]
    with CollectStore(tmp_path / "s.duckdb") as store:
        store.write_records(records)
    report = latency_report(tmp_path / "s.duckdb")
    assert report.to_dict()["small"] == {
        "n": 4,
        "p50_ms": 2500.0,
        "p90_ms": pytest.approx(3700.0),
        "p99_ms": pytest.approx(3970.0),
        "mean_ms": 2500.0,
    }
    assert report.to_markdown() == (
        "| Model | n | p50 (ms) | p90 (ms) | p99 (ms) | mean (ms) |\n"
        "|---|---|---|---|---|---|\n"
        "| small | 4 | 2,500 | 3,700 | 3,970 | 2,500 |\n"
        "| large | 1 | 10,569 | 10,569 | 10,569 | 10,569 |\n"
    )
    assert [r.model for r in latency_report(tmp_path / "s.duckdb", models=["large"]).rows] == ["large"]
    with pytest.raises(SchemaError, match=r"No latency records for \['medium'\]"):
        latency_report(tmp_path / "s.duckdb", models=["medium"])
