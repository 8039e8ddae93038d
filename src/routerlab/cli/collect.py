"""``routerlab collect CONFIG.yaml`` and ``routerlab latency STORE``: thin commands over :mod:`routerlab.collect`.

Register them on the main app with ``app.command("collect")(collect_cmd)`` and
``app.command("latency")(latency_cmd)``. Errors raised on purpose are one red line and exit 2,
as in :mod:`routerlab.cli.main`; ``collect`` exits 1 when the run ended with requests left
(failures after retries, or the budget), so scripts can loop until it exits 0.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console, err_console, progress_bar

__all__ = ["collect_cmd", "latency_cmd"]


@contextlib.contextmanager
def _collect_progress(description: str) -> Iterator[Callable[[Any], None]]:
    """A rich bar showing done/total, left, errors and cost; yields the ``progress`` callback of ``collect``."""
    before_time = (
        "left {task.fields[left]}",
        "errors [red]{task.fields[errors]}[/]",
        "cost ${task.fields[cost]:.4f}",
    )
    with progress_bar(description, before_time=before_time, left="?", errors=0, cost=0.0) as bar_update:

        def update(state: Any) -> None:
            bar_update(
                completed=state.done, total=state.total, left=state.left, errors=state.errors, cost=state.cost_usd
            )

        yield update


@_friendly_errors
def collect_cmd(
    config: Annotated[Path, typer.Argument(help="YAML config: endpoints, queries, generation, retries, store, ...")],
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", help="Budget in USD over the whole store; no new request starts past it."),
    ] = None,
    store: Annotated[Path | None, typer.Option("--store", help="DuckDB store file (overrides the config).")] = None,
    redo_changed: Annotated[
        bool,
        typer.Option("--redo-changed", help="Delete stored answers made with another prompt/parameters and ask again."),
    ] = False,
) -> None:
    """Send every query to every endpoint and record the answers; rerun the same command to resume.

    Each record keeps the response, finish reason and truncation flag, token counts, latency and
    cost (tokens × the config's prices). A run killed at any moment loses only its unwritten
    results; failed requests are retried on the next run. Exit status: 0 when every (query, model)
    has an answer, 1 when some are left, 2 on a config or input error.
    """
    from routerlab.collect import collect, load_config

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    cfg = load_config(config, max_cost=max_cost, store=store)
    try:
        with _collect_progress(f"collect → {cfg.store.name}") as progress:
            summary = collect(cfg, progress=progress, redo_changed=redo_changed)
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]interrupted[/]: the answers received so far are in {cfg.store}; run the same command to resume"
        )
        raise typer.Exit(code=130) from None
    table = Table(title=f"{cfg.store}: {summary.total} requests ({summary.done_before} found done at start)")
    for col in ("model", "answers", "errors", "truncated", "cost (USD)"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in summary.per_model.items():
        table.add_row(name, f"{m.done:,}", f"{m.errors:,}", f"{m.truncated_rate:.1%}", f"{m.cost_usd:.4f}")
    console.print(table)
    console.print(
        f"this run: {summary.done:,} answers, {summary.errors:,} failed after retries, "
        f"${summary.cost_usd:.4f} in {summary.elapsed_s:.1f} s; store total ${summary.total_cost_usd:.4f}",
        highlight=False,
    )
    if summary.complete:
        console.print("[green]complete[/]: every (query, model) has an answer")
        return
    why = " (the --max-cost budget was reached)" if summary.stopped_by_budget else ""
    err_console.print(
        f"[yellow]{summary.left:,} of {summary.total:,} requests left{why}[/]; run the same command again to resume",
        highlight=False,
    )
    raise typer.Exit(code=1)


@_friendly_errors
def latency_cmd(
    store: Annotated[Path, typer.Argument(help="DuckDB store written by `routerlab collect`.")],
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table instead.")] = False,
    model: Annotated[str, typer.Option("--model", "-m", help="Comma-separated models (default: all).")] = "",
) -> None:
    """Latency p50 / p90 / p99 per model from a collection store (Table 11 layout, milliseconds)."""
    from routerlab.collect import latency_report

    models = [m.strip() for m in model.split(",") if m.strip()] or None
    report = latency_report(store, models=models)
    if markdown:
        console.print(report.to_markdown(), end="", highlight=False, markup=False, soft_wrap=True)
        return
    table = Table(title=f"latency of successful requests in {store} (ms)")
    for col in ("model", "n", "p50", "p90", "p99", "mean"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in report.rows:
        table.add_row(r.model, f"{r.n:,}", *(f"{v:,.0f}" for v in (r.p50_ms, r.p90_ms, r.p99_ms, r.mean_ms)))
    console.print(table)
