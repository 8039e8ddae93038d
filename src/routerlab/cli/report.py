"""`routerlab report`: the HTML report of a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from routerlab.cli._common import _friendly_errors, console


@_friendly_errors
def report_cmd(
    results_dir: Annotated[
        Path,
        typer.Argument(help="Results directory written by `routerlab evaluate --out`, or a folder with xbench.json."),
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default RESULTS_DIR/report).")] = None,
) -> None:
    """Write a self-contained HTML report (plus Markdown tables and PNG figures) of a results directory.

    Leaderboard with 95% paired-bootstrap CIs and significance tiers, deferral, call-rate and U(λ)
    curves, reliability diagrams, the significance matrix, collapse/plateau diagnostics, the
    audit when RESULTS_DIR holds an audit.json (`routerlab audit DATA --out RESULTS_DIR`), and the
    RouterXBench tables when it holds an xbench.json (benchmarks/probes_xbench.py --out RESULTS_DIR;
    a folder holding only that file gets a report of those tables).
    """
    from routerlab.report import report

    with console.status(f"writing the report of {results_dir}"):
        html = report(results_dir, out)
    typer.echo(str(html))
