"""`routerlab report` of a cascade's folder: the cascade section holds cascade.json's numbers, and a hostile file is
refused with its field named.

A folder holding only cascade.json (`routerlab cascade --out DIR`) gets a page of that section; an evaluation of the
same dataset with a cascade.json beside it gets the section after its own; one of another dataset gets a note.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.errors import SchemaError
from routerlab.experiments import cascade as cascade_mod
from routerlab.experiments.cascade import CASCADE, CASCADE_JSON, CascadeEvaluation, evaluate_cascade, read_cascade
from routerlab.experiments.evaluate import evaluate
from routerlab.metrics.curves import non_decreasing_hull
from routerlab.report import report
from routerlab.report.cascade import FIGURE_ID, cascade_figure
from routerlab.routers.cascade import Cascade
from tests.report.test_html import assert_self_contained
from tests.report.test_xbench_report import by_router, md_table_after, parse
from tests.routers.test_cascade import cascade_problem


@pytest.fixture(scope="module")
def result() -> CascadeEvaluation:
    data, resp = cascade_problem(300)
    cascade = Cascade(n_features=2**10, n_folds=3)
    return evaluate_cascade(data, resp, routers=("best_single", "oracle"), cascade=cascade, n_resamples=100)


@pytest.fixture(scope="module")
def only_dir(result: CascadeEvaluation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cascade-only")
    result.save(folder)
    assert report(folder) == folder / "report" / "report.html"
    return folder / "report"


def test_cascade_json_reads_back_to_the_same_evaluation(result: CascadeEvaluation, tmp_path: Path) -> None:
    result.save(tmp_path)
    back = read_cascade(tmp_path)
    assert back.to_dict() == result.to_dict()
    assert back.to_markdown() == result.to_markdown()
    md = result.to_markdown()  # names left, numbers right: the AUC table, then budget / chain / train cost
    assert "\n|---|---:|---:|---:|\n" in md and "\n|---|---|---|---:|" in md


def test_the_figure_auc_is_the_files_auc(result: CascadeEvaluation) -> None:
    """The legend's AUC (hull of the mean points) equals the bootstrap's point estimate, computed independently."""
    display = cascade_figure(result).display
    for name, iv in result.auc.items():
        assert display.auc[name] == pytest.approx(iv.estimate, abs=1e-9), name
    # and by hand for the cascade: trapezoids under the hull, quality 0 below its cheapest point
    lo, hi = result.x_range
    hull = non_decreasing_hull(result.points[CASCADE])
    xs = np.clip(np.concatenate([[hull.x[0]], hull.x, [hi]]), lo, hi)
    ys = np.concatenate([[hull.y[0]], hull.y, [hull.y[-1]]])
    by_hand = float(np.sum(np.diff(xs) * (ys[:-1] + ys[1:]) / 2)) / (hi - lo)
    assert display.auc[CASCADE] == pytest.approx(by_hand, abs=1e-9)


def test_cascade_only_page_holds_the_files_numbers(result: CascadeEvaluation, only_dir: Path) -> None:
    html_text = (only_dir / "report.html").read_text(encoding="utf-8")
    page, tables = parse(html_text)
    assert_self_contained(page)
    assert page.sections == ["cascade"] and page.figures == [FIGURE_ID]
    assert page.svg_in_figure[FIGURE_ID] == 1
    rows = by_router(tables.tables["cascade-auc"])
    assert set(rows) == set(result.auc)
    for name, iv in result.auc.items():
        assert rows[name][2] == f"{iv.estimate:.4f} [{iv.low:.4f}, {iv.high:.4f}]"
        assert rows[name][1] == str(len(result.points[name]))
    d = result.auc_delta["best_single"]
    assert rows["best_single"][3].startswith(f"{d.estimate:+.4f} [{d.low:+.4f}, {d.high:+.4f}]")
    assert rows[CASCADE][3] == "–"
    matched = tables.tables["cascade-matched"]
    assert len(matched) == 1 + len(result.matched)
    for row, m in zip(matched[1:], result.matched, strict=True):
        assert row[0] == f"{m.fraction:g} × {m.budget:.6g}" and row[4] == f"{m.test_quality:.4f}"
    assert (only_dir / "figures" / f"{FIGURE_ID}.png").is_file()
    md = (only_dir / "report.md").read_text(encoding="utf-8")
    md_rows = by_router(md_table_after(md, "## Cascade vs one-shot routers"))
    assert md_rows == {k: v for k, v in rows.items()}


def test_results_folder_gets_the_section_only_for_its_own_dataset(result: CascadeEvaluation, tmp_path: Path) -> None:
    data, _ = cascade_problem(300)
    board = evaluate(data, ["best_single", "cheapest", "oracle"], lams=(0.0,), encoder="hashing")
    plain, mine, foreign = tmp_path / "plain", tmp_path / "mine", tmp_path / "foreign"
    for folder in (plain, mine, foreign):
        board.save_results(folder)
    result.save(mine)
    other = json.loads(json.dumps(result.to_dict()))
    other["dataset"] = "routerbench-0shot-subset"
    (foreign / CASCADE_JSON).write_text(json.dumps(other), encoding="utf-8")
    page_a, _ = parse(report(plain, n_resamples=50).read_text(encoding="utf-8"))
    page_b, tables = parse(report(mine, n_resamples=50).read_text(encoding="utf-8"))
    assert_self_contained(page_b)
    assert len(page_b.ids) == len(set(page_b.ids))
    assert page_b.sections == [*page_a.sections, "cascade"]
    assert page_b.figures == [*page_a.figures, FIGURE_ID]
    assert set(by_router(tables.tables["cascade-auc"])) == set(result.auc)
    assert "## Cascade vs one-shot routers" in (mine / "report" / "report.md").read_text(encoding="utf-8")
    text = report(foreign, n_resamples=50).read_text(encoding="utf-8")
    page_c, _ = parse(text)
    assert page_c.sections == [*page_a.sections, "cascade"] and FIGURE_ID not in page_c.figures
    assert "is of dataset &#x27;routerbench-0shot-subset&#x27;" in text
    other["dataset"], other["n_test"] = result.dataset, board.n_queries + 1  # another subset of the same dataset
    (foreign / CASCADE_JSON).write_text(json.dumps(other), encoding="utf-8")
    text = report(foreign, n_resamples=50).read_text(encoding="utf-8")
    assert FIGURE_ID not in parse(text)[0].figures and f"more than this evaluation&#x27;s {board.n_queries}" in text


def _doc(result: CascadeEvaluation) -> dict:  # type: ignore[type-arg]
    doc: dict = json.loads(json.dumps(result.to_dict()))  # type: ignore[type-arg]
    return doc


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["auc"]["cascade"].update(low="0.1"), "auc.cascade.low"),
        (lambda d: d.pop("x_range"), "x_range"),
        (lambda d: d["points"]["oracle"].update(cost=[0.1]), "points.oracle"),
        (lambda d: d["matched_cost"][0]["policy"].update(chain=["mid", "mid"]), "matched_cost[0].policy"),
        (lambda d: d["matched_cost"][1]["hull_quality"].update(oracle=True), "matched_cost[1].hull_quality.oracle"),
        (lambda d: d.update(n_test=-3), "n_test"),
        (lambda d: d.update(winner="cascade"), "winner"),
        (lambda d: d["auc"].pop("oracle"), "auc"),
        (lambda d: d.update(x_range=[2.0, 1.0]), "x_range"),
    ],
)
def test_a_bad_field_is_named(result: CascadeEvaluation, tmp_path: Path, edit, field: str) -> None:  # type: ignore[no-untyped-def]
    doc = _doc(result)
    edit(doc)
    (tmp_path / CASCADE_JSON).write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SchemaError, match=re.escape(f"{CASCADE_JSON}: {field} ")):
        read_cascade(tmp_path)


def test_hostile_files_are_refused_before_harm(
    result: CascadeEvaluation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / CASCADE_JSON
    text = json.dumps(result.to_dict())
    path.write_text(text.replace(f'"estimate": {result.auc[CASCADE].estimate}', '"estimate": NaN', 1))
    with pytest.raises(SchemaError, match="NaN"):
        read_cascade(path)
    path.write_text('{"dataset": "a", "dataset": "b"}')
    with pytest.raises(SchemaError, match="'dataset' appears twice"):
        read_cascade(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SchemaError, match="not valid UTF-8 JSON"):
        read_cascade(path)
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(SchemaError, match="not valid UTF-8 JSON"):
        read_cascade(path)
    monkeypatch.setattr(cascade_mod, "MAX_CASCADE_BYTES", 1000)
    path.write_text(text)
    with pytest.raises(SchemaError, match="more than 1,000 bytes"):
        read_cascade(path)


def test_cli_reports_a_cascade_folder_and_refuses_a_bad_one_clearly(result: CascadeEvaluation, tmp_path: Path) -> None:
    runner = CliRunner()
    result.save(tmp_path / "ok")
    res = runner.invoke(app, ["report", str(tmp_path / "ok")])
    assert res.exit_code == 0, res.output
    assert Path(res.output.strip().splitlines()[-1]) == tmp_path / "ok" / "report" / "report.html"
    bad = tmp_path / "bad"
    bad.mkdir()
    doc = _doc(result)
    doc["model_quality"]["dear"] = "0.9"
    (bad / CASCADE_JSON).write_text(json.dumps(doc), encoding="utf-8")
    res = runner.invoke(app, ["report", str(bad)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "model_quality.dear must be a finite number. Got '0.9'." in " ".join(res.output.split())
    assert not (bad / "report" / "report.html").exists()
