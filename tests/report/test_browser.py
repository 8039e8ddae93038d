"""The acceptance test: `routerlab evaluate` + `routerlab report` on a real benchmark, opened in headless Chromium.

The page must load without any network request, show the leaderboard table and every expected
figure, and a full-page screenshot is saved under the test's tmp dir (``report.png``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from tests.conftest import SHARED_DATA

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DATASET = "routerbench-0shot-subset"
EXPECTED_FIGURES = [
    "deferral",
    "call-rate",
    "utility",
    "reliability",
    "significance-lam-0",
    "routing-share",
    "hard-easy",
]
LOCAL = ("file:", "data:", "about:")


def test_report_opens_offline_in_headless_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip(f"{CHROMIUM} is not installed (Debian package `chromium`)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    pytest.importorskip("matplotlib")
    data_dir = SHARED_DATA / DATASET
    if not data_dir.is_dir():
        pytest.skip(f"{data_dir} is absent; set ROUTERLAB_SHARED_DATA to run real-data tests")

    runner = CliRunner()
    results = tmp_path / "results"
    done = runner.invoke(app, ["evaluate", "--data", DATASET, "--path", str(data_dir), "--out", str(results)])
    assert done.exit_code == 0, done.output + repr(done.exception)
    done = runner.invoke(app, ["report", str(results)])
    assert done.exit_code == 0, done.output + repr(done.exception)
    html = Path(done.output.strip().splitlines()[-1])
    assert html.is_file()

    external: list[str] = []
    requested: list[str] = []

    def guard(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(LOCAL):
            route.continue_()  # type: ignore[attr-defined]
        else:
            external.append(url)
            route.abort()  # type: ignore[attr-defined]

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            page.route("**/*", guard)
            page.goto(html.as_uri(), wait_until="load")
            page.wait_for_load_state("networkidle")

            assert page.title() == f"routerlab report: {DATASET}"
            leaderboard = page.locator("table#leaderboard-lam-0")
            assert leaderboard.is_visible()
            assert leaderboard.locator("tbody tr").count() == 6  # the five baselines and the default knn
            assert "best_single" in leaderboard.inner_text() and "knn" in leaderboard.inner_text()
            figures = page.locator("figure.figure")
            assert figures.count() == len(EXPECTED_FIGURES)
            assert page.locator("figure.figure svg").count() == len(EXPECTED_FIGURES)
            assert [figures.nth(i).get_attribute("data-figure") for i in range(figures.count())] == EXPECTED_FIGURES
            for fid in EXPECTED_FIGURES:
                svg = page.locator(f"figure#fig-{fid} svg")
                assert svg.is_visible(), fid
                box = svg.bounding_box()
                assert box is not None and box["width"] > 250 and box["height"] > 150, (fid, box)
                assert box["width"] <= 1280, (fid, box)  # no figure overflows the viewport
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 1280  # nothing makes the page scroll sideways
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert external == []
    assert [u for u in requested if not u.startswith(LOCAL)] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 100_000  # a full page of tables and figures, not a blank image
