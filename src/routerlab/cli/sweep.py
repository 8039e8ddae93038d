"""`routerlab sweep CONFIG.yaml`: the seed protocol over datasets, routers and encoders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console, err_console, progress_steps
from routerlab.cli._load import _split_list


@_friendly_errors
def sweep_cmd(
    config: Annotated[Path, typer.Argument(help="YAML sweep config: datasets, routers, encoders, seeds, out_dir, ...")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (overrides out_dir).")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Processes, -1 = all cores (overrides file).")] = None,
    router: Annotated[
        list[str] | None,
        typer.Option("--router", "-r", help="Comma-separated router names, or the option repeated (overrides file)."),
    ] = None,
) -> None:
    """Run or resume the seed protocol: stage-1 grid at seed 42, top-k re-trained with more seeds, mean ± std.

    Records go to OUT/runs.jsonl as runs finish; a rerun skips every completed run.
    """
    from routerlab.experiments.evaluate import format_mean_std
    from routerlab.experiments.sweep import SweepConfig, run_sweep
    from routerlab.routers import ROUTERS

    cfg = SweepConfig.from_yaml(
        config, out_dir=out, n_jobs=n_jobs, routers=_split_list(",".join(router), "router") if router else None
    )
    for name in cfg.routers:
        ROUTERS.get(name)  # unknown names fail before any work, with a suggestion
    with progress_steps() as step:
        progress = step("sweep")
        result = run_sweep(cfg, progress=progress)
    from routerlab.decisions import lam_key

    lam_keys = [lam_key(v) for v in result.lams]
    counts = f"{result.n_executed} runs executed, {result.n_skipped} found done"
    datasets = sorted({s.dataset for s in result.summary})
    one = len(datasets) == 1
    title = f"sweep summary{' on ' + datasets[0] if one else ''} ({counts})"
    table = Table(title=title, caption="test figures: mean ± std (ddof 0) over the seeds of the selected configuration")
    cols = ([] if one else ["dataset"]) + ["router", "encoder", "params", "seeds", "test acc"]
    for col in [*cols, *[f"U({k})" for k in lam_keys]]:
        right = col.startswith(("U(", "test", "seeds"))
        table.add_column(col, justify="right" if right else "left", no_wrap=col in ("router", "encoder"))
    for s in result.summary:
        params = ", ".join(f"{k}={v}" for k, v in s.params.items()) or "-"
        head = ([] if one else [s.dataset]) + [s.router, s.encoder, params]
        if s.status != "ok" or s.test_acc_mean is None:
            table.add_row(*head, "0", *(["[red]failed[/]"] * (1 + len(lam_keys))))
            continue
        n = len(s.seeds)
        cells = [format_mean_std(s.test_acc_mean, s.test_acc_std, n)]
        cells += [format_mean_std(s.test_utility_mean[k], s.test_utility_std[k], n) for k in lam_keys]
        table.add_row(*head, str(n), *cells)
    console.print(table)
    if result.errors:
        err_console.print(f"[yellow]{len(result.errors)} runs failed[/]; they are retried on the next start")
    console.print(
        f"wrote {result.out_dir / 'runs.jsonl'}, {result.out_dir / 'summary.json'} and summary.parquet", soft_wrap=True
    )
