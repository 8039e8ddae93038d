"""``report(results_dir)``: the HTML page, ``report.md`` and one PNG per figure, from a results directory."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from routerlab.experiments.evaluate import Leaderboard
from routerlab.report._mpl import new_figure, require_matplotlib, style, to_png, to_svg
from routerlab.report.cascade import (
    CascadeContent,
    build_cascade_content,
    is_cascade_only,
    render_cascade_html,
    render_cascade_markdown,
)
from routerlab.report.content import ReportContent, XBenchContent, build_content, build_xbench_content, is_xbench_only
from routerlab.report.html import render_html, render_xbench_html
from routerlab.report.markdown import render_markdown, render_xbench_markdown
from routerlab.report.sweep import (
    SweepContent,
    build_sweep_content,
    is_sweep_only,
    render_sweep_html,
    render_sweep_markdown,
)

log = logging.getLogger(__name__)

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
FIGURES_DIR = "figures"


def render_figures(
    content: ReportContent | XBenchContent | SweepContent | CascadeContent,
    out_dir: Path | None = None,
    *,
    dpi: int = 200,
) -> dict[str, str]:
    """Draw every figure once: the inline SVG of each figure id, and (with ``out_dir``) a PNG there."""
    require_matplotlib()
    svgs: dict[str, str] = {}
    for i, spec in enumerate(content.figures()):
        with style():
            fig = new_figure(spec.size)
            spec.display.plot(ax=fig.add_subplot(), **spec.kwargs)
            svgs[spec.id] = to_svg(fig, prefix=f"rl{i}")
            if out_dir is not None:
                to_png(fig, out_dir / f"{spec.id}.png", dpi=dpi)
    return svgs


def report(
    results_dir: str | Path,
    out: str | Path | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    pair: tuple[str, str] | None = None,
) -> Path:
    """Write the report of a results directory; return the path of the HTML page.

    ``results_dir`` is a folder written by ``routerlab evaluate --out`` (or
    :meth:`~routerlab.experiments.evaluate.Leaderboard.save_results`), optionally with an
    ``audit.json`` from ``routerlab audit DATA --out`` and an ``xbench.json``
    (:func:`routerlab.experiments.xbench.write_xbench`; a RouterXBench section), a folder
    holding only an ``xbench.json`` (a report of that section alone), or the output folder of
    ``routerlab sweep`` (its summary and studies: :mod:`routerlab.report.sweep`), or the output folder of
    ``routerlab cascade`` (its ``cascade.json``: :mod:`routerlab.report.cascade`; beside an evaluation of the
    same dataset it adds a section to the full report). Into ``out`` (default
    ``results_dir/report``) go ``report.html`` (self-contained: inline CSS and SVG, nothing to
    fetch), ``report.md`` (Markdown tables) and ``figures/<id>.png``. ``n_resamples``/``seed``
    drive the paired bootstrap; ``pair`` names the (small, large) models of the call-rate curves.
    """
    require_matplotlib()
    start = time.perf_counter()
    folder = Path(results_dir)
    target = Path(out) if out is not None else folder / "report"
    content: ReportContent | XBenchContent | SweepContent | CascadeContent
    if is_xbench_only(folder):
        content = build_xbench_content(folder)
    elif is_sweep_only(folder):
        content = build_sweep_content(folder)
    elif is_cascade_only(folder):
        content = build_cascade_content(folder)
    else:
        content = build_content(folder, n_resamples=n_resamples, seed=seed, pair=pair)
    return write_report(content, target, started=start)


def write_report(
    content: ReportContent | XBenchContent | SweepContent | CascadeContent | Leaderboard,
    out: str | Path,
    *,
    started: float | None = None,
) -> Path:
    """Write ``report.html``, ``report.md`` and the PNGs of ``content`` (or of an evaluated leaderboard) to ``out``."""
    start = time.perf_counter() if started is None else started
    if isinstance(content, Leaderboard):
        content = build_content(content)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    figures = target / FIGURES_DIR
    svgs = render_figures(content, figures)
    html_path = target / REPORT_HTML
    pngs = {fid: f"{FIGURES_DIR}/{fid}.png" for fid in svgs}
    if isinstance(content, XBenchContent):
        html_path.write_text(render_xbench_html(content, svgs), encoding="utf-8")
        (target / REPORT_MD).write_text(render_xbench_markdown(content, pngs), encoding="utf-8")
        name = content.xbench.title
    elif isinstance(content, CascadeContent):
        html_path.write_text(render_cascade_html(content, svgs), encoding="utf-8")
        (target / REPORT_MD).write_text(render_cascade_markdown(content, pngs), encoding="utf-8")
        name = str(content.folder)
    elif isinstance(content, SweepContent):
        html_path.write_text(render_sweep_html(content, svgs), encoding="utf-8")
        (target / REPORT_MD).write_text(render_sweep_markdown(content, pngs), encoding="utf-8")
        name = str(content.folder)
    else:
        html_path.write_text(render_html(content, svgs), encoding="utf-8")
        (target / REPORT_MD).write_text(render_markdown(content, pngs), encoding="utf-8")
        name = content.board.dataset
    log.info(
        "report of %s (%d figures) written to %s in %.1fs",
        name,
        len(svgs),
        html_path,
        time.perf_counter() - start,
    )
    return html_path


__all__ = ["FIGURES_DIR", "REPORT_HTML", "REPORT_MD", "render_figures", "report", "write_report"]
