"""`routerlab audit`: the checks of a routing dataset, printed and saved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console
from routerlab.cli._load import (
    _PATH_HELP,
    CostColOpt,
    ExcludeSourcesOpt,
    ModelColOpt,
    PricesOpt,
    QueryColOpt,
    ScoreColOpt,
    ScoreScaleOpt,
    SourcesOpt,
    TextColOpt,
    ValFractionOpt,
    _load_dataset,
    _LoadOptions,
    _split_list,
)

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


@_friendly_errors
def audit_cmd(
    data: Annotated[str, typer.Argument(help="Dataset name (see `routerlab data ls`) or a file path.")],
    path: Annotated[Path | None, typer.Option(help=_PATH_HELP)] = None,
    checks: Annotated[str, typer.Option("--checks", "-c", help="Comma-separated checks (default: all).")] = "",
    encoder: Annotated[
        str, typer.Option("--encoder", "-e", help="Encoder for near-duplicate search (e.g. minilm); none = exact only.")
    ] = "",
    out: Annotated[Path | None, typer.Option(help="Write audit.json and audit.md into this folder.")] = None,
    download: Annotated[bool, typer.Option(help="Fetch the dataset from its public home if absent.")] = False,
    router: Annotated[
        list[str] | None,
        typer.Option("--router", "-r", help="Routers of the probes pseudo_specialists / ood_holdout (repeatable)."),
    ] = None,
    holdout: Annotated[
        str, typer.Option(help="ood_holdout: categories to hold out (names or regexes; default: math).")
    ] = "",
    targets: Annotated[str, typer.Option(help="pseudo_specialists: target categories (default: chosen).")] = "",
    query_col: QueryColOpt = None,
    model_col: ModelColOpt = None,
    score_col: ScoreColOpt = None,
    cost_col: CostColOpt = None,
    score_scale: ScoreScaleOpt = None,
    text_col: TextColOpt = None,
    prices: PricesOpt = None,
    val_fraction: ValFractionOpt = None,
    sources: SourcesOpt = "",
    exclude_sources: ExcludeSourcesOpt = "",
) -> None:
    """Audit a routing dataset before trusting it: ceilings, dominance, redundancy, duplicates, labels, artifacts.

    The probes that fit routers run only when named: `--checks pseudo_specialists,ood_holdout`.
    """
    from routerlab.audit import PROBE_CHECKS, audit

    opts = _LoadOptions(
        query_col, model_col, score_col, cost_col, score_scale, text_col, prices, val_fraction, sources, exclude_sources
    )
    dataset = _load_dataset(data, path, download, opts)
    options: dict[str, Any] = {"encoder": encoder} if encoder else {}
    selected = set(_split_list(checks, "check")) if checks else set()
    if router:
        if not selected & set(PROBE_CHECKS):
            raise ValueError(f"--router applies to the probes {', '.join(PROBE_CHECKS)}; name them with --checks.")
        options["routers"] = _split_list(",".join(router), "router")
    if holdout:
        if "ood_holdout" not in selected:
            raise ValueError("--holdout applies to the ood_holdout probe; add it with --checks ood_holdout.")
        options["holdout"] = holdout
    if targets:
        if "pseudo_specialists" not in selected:
            raise ValueError("--targets applies to the pseudo_specialists probe; add --checks pseudo_specialists.")
        options["targets"] = _split_list(targets, "target")
    with console.status(f"auditing {dataset.name}"):
        report = audit(dataset, checks or None, **options)
    table = Table(title=f"audit of {dataset.name}: {dataset.n_queries} queries, {dataset.n_models} models")
    for col in ("check", "severity", "finding", "what to do"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        style = _SEVERITY_STYLE.get(f.severity, "")
        table.add_row(f.check, f"[{style}]{f.severity}[/]", f.title, f.advice)
    console.print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "audit.json").write_text(report.to_json() + "\n")
        (out / "audit.md").write_text(report.to_markdown())
        console.print(f"wrote {out / 'audit.json'} and {out / 'audit.md'}", soft_wrap=True)
