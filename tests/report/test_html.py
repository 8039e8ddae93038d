"""The HTML report: self-contained (nothing to fetch), every section and figure present; Markdown and PNGs."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from routerlab.audit import AuditReport, make_finding
from routerlab.experiments.evaluate import Leaderboard
from routerlab.report import build_content, report
from routerlab.report.html import SECTIONS

EXPECTED_FIGURES = [
    "deferral",
    "call-rate",
    "utility",
    "reliability",
    "significance-lam-0",
    "significance-lam-0.5",
    "routing-share",
    "hard-easy",
]
URL_ATTRS = {"src", "href", "xlink:href", "srcset", "action", "poster", "data", "formaction", "background"}


class Page(HTMLParser):
    """Collects what a self-containment check needs: tags, URL-bearing attributes, ids, sections, figures."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.ids: list[str] = []
        self.sections: list[str] = []
        self.figures: list[str] = []
        self.svg_in_figure: dict[str, int] = {}
        self.styles: list[str] = []
        self._figure: str | None = None
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        for k, v in attrs:
            if k in URL_ATTRS and v is not None:
                self.urls.append(v)
            if k == "style" and v:
                self.styles.append(v)
        element_id = a.get("id")
        if element_id:
            self.ids.append(element_id)
        if tag == "section":
            self.sections.append(a.get("id") or "")
        if tag == "figure":
            self._figure = a.get("data-figure")
            self.figures.append(self._figure or "")
        if tag == "svg" and self._figure is not None:
            self.svg_in_figure[self._figure] = self.svg_in_figure.get(self._figure, 0) + 1
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def assert_self_contained(page: Page) -> None:
    """Nothing in the page makes a browser fetch anything."""
    assert not {"script", "link", "iframe", "object", "embed", "img", "audio", "video", "base"} & set(page.tags)
    external = [u for u in page.urls if not u.startswith(("#", "data:"))]
    assert external == []
    for css in page.styles:
        assert "@import" not in css and "@font-face" not in css
        assert "url(" not in css.replace("url(#", "")


@pytest.fixture(scope="module")
def report_dir(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    audit = AuditReport(
        dataset="synthetic",
        n_queries=300,
        n_models=4,
        checks=("oracle_ceiling",),
        findings=(
            make_finding("oracle_ceiling", "warning", "Ceiling 90%: <10%> unsolved", advice="Report CNA & PGR."),
        ),
    )
    (results_dir / "audit.json").write_text(audit.to_json())
    out = tmp_path_factory.mktemp("report")
    path = report(results_dir, out, n_resamples=200)
    assert path == out / "report.html"
    return out


@pytest.fixture(scope="module")
def page(report_dir: Path) -> Page:
    p = Page()
    p.feed((report_dir / "report.html").read_text(encoding="utf-8"))
    return p


def test_html_is_self_contained(page: Page, report_dir: Path) -> None:
    assert_self_contained(page)
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
    assert "<!DOCTYPE svg" not in text and "<?xml" not in text  # stripped from the inline SVGs
    assert len(page.ids) == len(set(page.ids))  # figure ids are prefixed: no clash between SVGs


def test_every_section_and_figure_is_there(page: Page) -> None:
    assert page.sections == [sid for sid, _ in SECTIONS] + ["audit"]
    assert page.figures == EXPECTED_FIGURES
    assert page.svg_in_figure == dict.fromkeys(EXPECTED_FIGURES, 1)
    tables = ["leaderboard-lam-0", "leaderboard-lam-0.5", "deferral-auc", "call-rate-metrics", "reliability-table"]
    tables += ["routing-share-table", "hard-easy-table", "exchanged-wins", "audit-findings"]
    assert set(tables) <= set(page.ids)


def test_audit_findings_are_escaped(report_dir: Path) -> None:
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "Ceiling 90%: &lt;10%&gt; unsolved" in text and "Report CNA &amp; PGR." in text


def test_markdown_and_pngs(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Routing report: synthetic")
    headings = ["## Leaderboard", "### λ = 0", "### λ = 0.5", "## Deferral curves", "## Call-rate curves"]
    headings += ["## Cost-utility U(λ)", "## Reliability", "## Significance", "## Diagnostics", "## Audit"]
    for heading in headings:
        assert heading in md
    for fid in EXPECTED_FIGURES:
        png = report_dir / "figures" / f"{fid}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"(figures/{fid}.png)" in md
    assert "| oracle | 1.0000 | 1.0000 |" not in md  # bounds are not in the hard/easy router table


def test_tiers_group_routers_within_noise(synthetic_board: Leaderboard) -> None:
    content = build_content(synthetic_board, n_resamples=200)
    for lam, entries in content.entries.items():
        tier = {e.row.router: e.tier for e in entries}
        assert tier["oracle"] is None and entries[0].bound  # the bound is listed first, untiered
        assert tier["cheapest"] == tier["cheapest_copy"]  # identical decisions: always tied
        leaders = [e for e in entries if e.tier == 1]
        assert leaders
        for e in entries:  # the point estimates are the leaderboard's own figures
            assert e.utility.estimate == pytest.approx(e.row.utility, abs=1e-12)
            assert e.quality.estimate == pytest.approx(e.row.quality, abs=1e-12)
            assert e.utility.low <= e.row.utility <= e.utility.high
        names = [e.row.router for e in entries if not e.bound]
        by_tier = sorted(names, key=lambda n: (tier[n], n))
        assert names == by_tier  # alphabetical within a tier: tied, not ranked
        assert content.significance[lam].tiers
    # U(λ) lines agree with the leaderboard where λ was evaluated
    util = content.utility
    for lam in (0.0, 0.5):
        j = list(util.lams).index(lam)
        for name, values in util.utility.items():
            assert values[j] == pytest.approx(synthetic_board.row(name, lam).utility, abs=1e-12)


def test_unreadable_audit_is_a_note_not_a_crash(results_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "res"
    broken.mkdir()
    for f in results_dir.iterdir():
        if f.is_file():
            (broken / f.name).write_bytes(f.read_bytes())
    (broken / "audit.json").write_text(json.dumps({"schema_version": 99}))
    content = build_content(broken, n_resamples=50)
    assert content.audit is None and "could not be read" in content.notes["audit"][0]
