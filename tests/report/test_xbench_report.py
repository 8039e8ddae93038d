"""`routerlab report` of a folder with xbench.json: the RouterXBench section's tables hold the file's numbers.

A folder holding only xbench.json gets a page of that section; a results folder with one gets the
section after its own, and every other byte of its report stays as it was.
"""

from __future__ import annotations

import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.experiments.xbench import XBENCH_JSON, Table1Row, XBenchResults, XBenchTable, write_xbench
from routerlab.metrics.bootstrap import Interval
from routerlab.report import report
from tests.report.test_html import Page, assert_self_contained

REF = "ProbeDirichlet"
HOSTILE = "<script>alert(1)</script> & co"  # a router name the page must show as text


def iv(estimate: float, low: float, high: float) -> Interval:
    return Interval(estimate, low, high, 0.95)


IN_DOMAIN = [
    Table1Row(REF, iv(0.6125, 0.5375, 0.6875), None, "", 0.4125, None, 0.2375, {"C": 1.0}),
    Table1Row("ProbeMean", iv(0.5875, 0.5125, 0.6625), iv(-0.025, -0.0875, 0.0375), "", 0.40, 0.7125, None,
              {"C": 0.1, "val_auroc": 0.61}),
    Table1Row(HOSTILE, iv(0.4375, 0.3625, 0.5125), iv(-0.175, -0.2625, -0.0875), "**", 0.3375, None, None),
]  # fmt: skip
MEDQA = [
    Table1Row(REF, iv(0.5625, math.nan, math.nan), None, "", None, None, None),  # no resample held both classes
    Table1Row("ProbeMean", iv(0.4625, 0.3875, 0.5375), iv(-0.1, -0.1875, -0.0125), "*", None, None, None),
]
T1 = {"In-domain (MMLU 204/36/60)": IN_DOMAIN, "OOD: MMLU → MedQA (100)": MEDQA}
RESULTS = XBenchResults(
    title="SmolLM2-135M vs GPT-4 <MMLU>",
    model="smollm2-135m",
    large_model="gpt-4-1106-preview",
    table1=XBenchTable.from_rows(T1, reference=REF, n_test={"In-domain (MMLU 204/36/60)": 60}),
    table3=XBenchTable.from_rows({k: v[:2] for k, v in T1.items()}, reference=REF),
    table4=XBenchTable.from_rows(
        {
            "In-domain (MMLU 204/36/60)": [
                Table1Row("LLM hidden, final layer", iv(0.5625, 0.4875, 0.6375), None, "", None, None, None),
                Table1Row(
                    "External encoder (MiniLM)",
                    iv(0.5125, 0.4375, 0.5875),
                    iv(-0.05, -0.1125, 0.0125),
                    "",
                    None,
                    None,
                    None,
                ),
            ]
        },
        reference="LLM hidden, final layer",
    ),
    scaling=XBenchTable.from_rows(
        {"1K": IN_DOMAIN[:2], "all (4000)": [IN_DOMAIN[0]]}, reference=REF, n_train={"1K": 1000, "all (4000)": 4000}
    ),
    notes=(("Paper vs ours", "Llama-3.1-8B in the paper; a 135M model here.\n\nThe ordering <is> what transfers."),),
    commands=("python benchmarks/probes_xbench.py --run runs/mmlu --out runs/xbench && echo '<done>'",),
    n_resamples=1000,
)
ROW_PROBE_MEAN = [
    "ProbeMean",
    "0.588 [0.512, 0.662]",
    "-0.025 [-0.087, +0.037]",  # Python rounds half to even on the binary value: hand-checked below
    "",
    "0.400",
    "0.713",
    "–",
    "C=0.1, val_auroc=0.61",
]


def test_hand_rounding_of_the_expected_cells() -> None:
    # the expected strings above are the 3-decimal format of the row's numbers, no more, no less
    assert [f"{v:.3f}" for v in (0.5875, 0.5125, 0.6625, 0.7125)] == ["0.588", "0.512", "0.662", "0.713"]
    assert [f"{v:+.3f}" for v in (-0.025, -0.0875, 0.0375)] == ["-0.025", "-0.087", "+0.037"]


class Tables(HTMLParser):
    """The text of every cell of every table with an id, and the section ids, of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.h3: list[str] = []
        self.pre: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._h3: list[str] | None = None
        self._pre: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "h3":
            self._h3 = []
        elif tag == "pre":
            self._pre = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._table is not None and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "h3" and self._h3 is not None:
            self.h3.append("".join(self._h3))
            self._h3 = None
        elif tag == "pre" and self._pre is not None:
            self.pre.append("".join(self._pre))
            self._pre = None

    def handle_data(self, data: str) -> None:
        for buf in (self._cell, self._h3, self._pre):
            if buf is not None:
                buf.append(data)


def parse(html_text: str) -> tuple[Page, Tables]:
    page, tables = Page(), Tables()
    page.feed(html_text)
    tables.feed(html_text)
    return page, tables


def by_router(rows: list[list[str]]) -> dict[str, list[str]]:
    return {r[0]: r for r in rows[1:]}


def md_table_after(md: str, heading: str) -> list[list[str]]:
    """The cells of the first Markdown table after the line ``heading`` (header row first, separator dropped)."""
    lines = md.splitlines()
    start = lines.index(heading)
    block = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            break
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in block]
    return [rows[0], *rows[2:]]


@pytest.fixture(scope="module")
def only_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("xbench-only")
    write_xbench(RESULTS, folder)
    path = report(folder)
    assert path == folder / "report" / "report.html"
    return folder / "report"


def test_xbench_only_page_is_self_contained_with_its_figures(only_dir: Path) -> None:
    text = (only_dir / "report.html").read_text(encoding="utf-8")
    page, _ = parse(text)
    assert_self_contained(page)
    assert len(page.ids) == len(set(page.ids))
    assert page.sections == ["xbench"]
    assert page.figures == ["xbench-auroc", "xbench-scaling"]
    assert page.svg_in_figure == {"xbench-auroc": 1, "xbench-scaling": 1}
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert "SmolLM2-135M vs GPT-4 &lt;MMLU&gt;" in text
    for fid in ("xbench-auroc", "xbench-scaling"):
        png = only_dir / "figures" / f"{fid}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_table1_cells_hold_the_rows_numbers(only_dir: Path) -> None:
    _, t = parse((only_dir / "report.html").read_text(encoding="utf-8"))
    assert t.h3[:2] == ["Table 1 — In-domain (MMLU 204/36/60) (60 test queries)", "Table 1 — OOD: MMLU → MedQA (100)"]
    head, *_ = t.tables["xbench-table1-0"]
    assert head == ["router", "AUROC [95% CI]", "Δ AUROC vs ProbeDirichlet [95% CI]", "tier", "LPM", "MPM", "HCR",
                    "selected"]  # fmt: skip
    rows = by_router(t.tables["xbench-table1-0"])
    assert list(rows) == [REF, "ProbeMean", HOSTILE]  # the file's order
    assert rows[REF] == [REF, "0.613 [0.537, 0.688]", "(reference)", "", "0.412", "–", "0.237", "C=1.0"]
    assert rows["ProbeMean"] == ROW_PROBE_MEAN
    assert rows[HOSTILE][2:5] == ["-0.175 [-0.263, -0.087]", "**", "0.338"]
    medqa = by_router(t.tables["xbench-table1-1"])
    # no resample with both classes: the bounds are undefined; no large-model outcomes: LPM/MPM/HCR undefined
    assert medqa[REF][1] == "0.562 [–, –]" and medqa[REF][4:7] == ["–", "–", "–"]
    assert medqa["ProbeMean"][2:4] == ["-0.100 [-0.188, -0.013]", "*"]


def test_tables_3_4_and_scaling_place_each_value_in_its_row_and_column(only_dir: Path) -> None:
    _, t = parse((only_dir / "report.html").read_text(encoding="utf-8"))
    t3 = t.tables["xbench-table3"]
    assert t3[0] == ["router", "In-domain (MMLU 204/36/60)", "OOD: MMLU → MedQA (100)"]
    t3r = by_router(t3)
    assert list(t3r) == [REF, "ProbeMean"]
    assert t3r[REF][1:] == ["0.613 [0.537, 0.688] (ref.)", "0.562 [–, –] (ref.)"]
    assert t3r["ProbeMean"][1:] == ["0.588 [0.512, 0.662] Δ -0.025", "0.463 [0.388, 0.537] Δ -0.100*"]
    t4 = by_router(t.tables["xbench-table4"])
    assert t4["External encoder (MiniLM)"][1] == "0.512 [0.438, 0.588] Δ -0.050"
    scaling = t.tables["xbench-scaling"]
    assert scaling[0] == ["router", "1K (n = 1,000)", "all (4000) (n = 4,000)"]
    assert by_router(scaling)["ProbeMean"][1:] == ["0.588 [0.512, 0.662] Δ -0.025", "–"]  # not scored at 4000
    assert "Paper vs ours" in t.h3 and "Commands" in t.h3
    assert t.pre == [RESULTS.commands[0]]  # escaped in the page, the same text once parsed


def test_markdown_tables_hold_the_same_numbers(only_dir: Path) -> None:
    md = (only_dir / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# RouterXBench report: SmolLM2-135M vs GPT-4 <MMLU>\n\n## RouterXBench\n")
    t1 = md_table_after(md, "### Table 1 — In-domain (MMLU 204/36/60) (60 test queries)")
    assert t1[0][:4] == ["router", "AUROC [95% CI]", "Δ AUROC vs ProbeDirichlet [95% CI]", "tier"]
    assert by_router(t1)["ProbeMean"] == ROW_PROBE_MEAN
    assert by_router(t1)[HOSTILE][3] == "\\*\\*"  # escaped: shown as **, not read as emphasis
    medqa = by_router(md_table_after(md, "### Table 1 — OOD: MMLU → MedQA (100)"))
    assert medqa["ProbeMean"][2:4] == ["-0.100 [-0.188, -0.013]", "\\*"]
    t3 = by_router(md_table_after(md, "### Table 3 — layer aggregation"))
    assert t3["ProbeMean"][2] == "0.463 [0.388, 0.537] Δ -0.100\\*"
    scaling = md_table_after(md, "### §6 data scaling — test AUROC by training queries")
    assert scaling[0] == ["router", "1K (n = 1,000)", "all (4000) (n = 4,000)"]
    assert "![RouterXBench Table 1: AUROC](figures/xbench-auroc.png)" in md
    assert "![RouterXBench §6: data scaling](figures/xbench-scaling.png)" in md
    assert "```sh\n" + RESULTS.commands[0] + "\n```" in md
    assert "\n\nThe ordering <is> what transfers.\n" in md  # the notes' paragraphs


def _copy_results(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file() and f.name != "audit.json":  # test_html adds one to the shared folder
            shutil.copy(f, dst / f.name)
    return dst


def test_results_folder_gets_the_section_and_is_otherwise_unchanged(results_dir: Path, tmp_path: Path) -> None:
    plain = _copy_results(results_dir, tmp_path / "plain")
    with_x = _copy_results(results_dir, tmp_path / "with")
    write_xbench(RESULTS, with_x)
    a = report(plain, n_resamples=50).read_text(encoding="utf-8")
    b = report(with_x, n_resamples=50).read_text(encoding="utf-8")
    page_a, _ = parse(a)
    page_b, t = parse(b)
    assert_self_contained(page_b)
    assert len(page_b.ids) == len(set(page_b.ids))
    assert page_b.sections == [*page_a.sections, "xbench"]
    assert page_b.figures == [*page_a.figures, "xbench-auroc", "xbench-scaling"]
    assert by_router(t.tables["xbench-table1-0"])["ProbeMean"] == ROW_PROBE_MEAN
    # without the section and its link the page is byte for byte the report of the folder without xbench.json
    start = b.index('\n<section id="xbench">')
    end = b.index("</section>", start) + len("</section>")
    assert b[:start].replace('<a href="#xbench">RouterXBench</a>', "") + b[end:] == a
    md_a = (plain / "report" / "report.md").read_text(encoding="utf-8")
    md_b = (with_x / "report" / "report.md").read_text(encoding="utf-8")
    start = md_b.index("\n\n## RouterXBench\n")
    end = md_b.find("\n\n> Note (", start)
    assert md_b[:start] + (md_b[end:] if end >= 0 else "\n") == md_a
    assert (with_x / "report" / "figures" / "xbench-auroc.png").is_file()


def test_unreadable_xbench_json_is_a_note_beside_a_leaderboard(results_dir: Path, tmp_path: Path) -> None:
    folder = _copy_results(results_dir, tmp_path / "res")
    path = write_xbench(RESULTS, folder)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["table1"]["groups"][0]["rows"][1]["lpm"] = "high"
    path.write_text(json.dumps(doc), encoding="utf-8")
    page, _ = parse(report(folder, n_resamples=50).read_text(encoding="utf-8"))
    assert page.sections[-1] == "xbench" and "xbench-auroc" not in page.figures
    text = (folder / "report" / "report.html").read_text(encoding="utf-8")
    assert "The RouterXBench section is left out" in text and "table1.groups[0].rows[1].lpm" in text
    assert "table1.groups[0].rows[1].lpm" in (folder / "report" / "report.md").read_text(encoding="utf-8")


def test_cli_reports_an_xbench_only_folder_and_refuses_a_bad_one_clearly(tmp_path: Path) -> None:
    runner = CliRunner()
    write_xbench(RESULTS, tmp_path / "ok")
    result = runner.invoke(app, ["report", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert Path(result.output.strip().splitlines()[-1]) == tmp_path / "ok" / "report" / "report.html"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / XBENCH_JSON).write_text(json.dumps({"schema_version": 7}), encoding="utf-8")
    result = runner.invoke(app, ["report", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "schema_version is not a version this routerlab reads (1). Got 7." in " ".join(result.output.split())
    assert not (bad / "report" / "report.html").exists()
