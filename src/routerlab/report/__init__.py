"""Reports of an evaluation: one self-contained HTML page, Markdown tables and PNG figures.

>>> board = routerlab.evaluate(data, ["oracle", "best_single", "knn"], features=X)
>>> board.save_results("results/")               # or: routerlab evaluate --out results/
>>> from routerlab.report import report
>>> report("results/")                            # -> results/report/report.html

Figures are Display objects (:mod:`routerlab.report.displays`): computed once from arrays by a
``from_...`` classmethod, drawn with ``.plot(ax=...)``. What the page shows and how its intervals
and tiers are computed is documented in :mod:`routerlab.report.content`. A folder holding an
``xbench.json`` (:func:`routerlab.experiments.xbench.write_xbench`) gets a RouterXBench section.
"""

from __future__ import annotations

from routerlab.report.build import FIGURES_DIR, REPORT_HTML, REPORT_MD, render_figures, report, write_report
from routerlab.report.content import ReportContent, XBenchContent, build_content, build_xbench_content
from routerlab.report.displays import (
    CallRateDisplay,
    DeferralCurveDisplay,
    HardEasyDisplay,
    ReliabilityDisplay,
    RoutingShareDisplay,
    SignificanceDisplay,
    UtilityDisplay,
    XBenchAurocDisplay,
    XBenchScalingDisplay,
)

__all__ = [
    "FIGURES_DIR",
    "REPORT_HTML",
    "REPORT_MD",
    "CallRateDisplay",
    "DeferralCurveDisplay",
    "HardEasyDisplay",
    "ReliabilityDisplay",
    "ReportContent",
    "RoutingShareDisplay",
    "SignificanceDisplay",
    "UtilityDisplay",
    "XBenchAurocDisplay",
    "XBenchContent",
    "XBenchScalingDisplay",
    "build_content",
    "build_xbench_content",
    "render_figures",
    "report",
    "write_report",
]
