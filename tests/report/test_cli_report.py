"""`routerlab evaluate --out DIR` then `routerlab report DIR` on the shipped routerlab-mini (fast encoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.experiments.evaluate import load_results
from tests.report.test_html import Page, assert_self_contained

pytest.importorskip("matplotlib")
runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_evaluate_then_report_with_a_learned_router(tmp_path: Path) -> None:
    results = tmp_path / "results"
    routers = "oracle,best_single,random,cheapest,majority_label,knn"
    _ok(["evaluate", "--router", routers, "--encoder", "hashing", "--n-jobs", "1", "--lambda", "0,0.5",
         "--out", str(results)])  # fmt: skip
    for name in ("leaderboard.json", "predictions.parquet", "test.parquet", "sweep/summary.json"):
        assert (results / name).is_file(), name
    # leaderboard.json keeps listing the baselines; the learned router's decisions are in the predictions
    rows = json.loads((results / "leaderboard.json").read_text())["rows"]
    assert {r["router"] for r in rows} == {"oracle", "best_single", "random", "cheapest", "majority_label"}
    assert [p.router for p in load_results(results).predictions][-1] == "knn"
    _ok(["audit", "routerlab-mini", "--out", str(results)])

    out = _ok(["report", str(results)])
    html = Path(out.strip().splitlines()[-1])
    assert html == results / "report" / "report.html" and html.is_file()
    page = Page()
    page.feed(html.read_text(encoding="utf-8"))
    assert_self_contained(page)
    assert page.sections[-2:] == ["seed-protocol", "audit"]
    assert {"deferral", "call-rate", "utility", "reliability", "routing-share"} <= set(page.figures)
    assert {"significance-lam-0", "significance-lam-0.5"} <= set(page.figures)
    text = html.read_text(encoding="utf-8")
    assert ">knn<" in text and "hashing" in text  # the learned router, and its seed-protocol row
    assert "knn: one fit of the validation-selected configuration (seed 42)" in text
    assert "## Seed protocol (learned routers)" in (results / "report" / "report.md").read_text(encoding="utf-8")
    assert len(list((results / "report" / "figures").glob("*.png"))) == len(page.figures)


def test_report_out_option_and_friendly_errors(tmp_path: Path) -> None:
    results = tmp_path / "r"
    _ok(["evaluate", "--router", "oracle,cheapest", "--out", str(results)])
    out = _ok(["report", str(results), "--out", str(tmp_path / "elsewhere")])
    assert Path(out.strip().splitlines()[-1]) == tmp_path / "elsewhere" / "report.html"
    missing = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    assert "routerlab evaluate --out" in missing.output
