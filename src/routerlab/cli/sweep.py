"""`routerlab sweep CONFIG.yaml`: the seed protocol over datasets, routers and encoders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markdown import Markdown
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console, err_console, progress_steps
from routerlab.cli._load import _split_list

if TYPE_CHECKING:
    from routerlab.experiments.sweep import SweepResult


@_friendly_errors
def sweep_cmd(
    config: Annotated[Path, typer.Argument(help="YAML sweep config: datasets, routers, encoders, seeds, out_dir, ...")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (overrides out_dir).")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Processes, -1 = all cores (overrides file).")] = None,
    router: Annotated[
        list[str] | None,
        typer.Option("--router", "-r", help="Comma-separated router names, or the option repeated (overrides file)."),
    ] = None,
    selection: Annotated[
        str | None,
        typer.Option(
            "--selection",
            help="val: select on the validation split (the paper's protocol, default); cv: k-fold cross-validation "
            "on train ∪ val, the selected configuration refitted on train ∪ val (overrides file).",
        ),
    ] = None,
    cv_folds: Annotated[
        int | None, typer.Option("--cv-folds", help="Folds of --selection cv (default 5; overrides file).")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="local: --n-jobs processes on this machine (default); ray: one Ray task per run on the cluster at "
            "--address, or on a Ray started here with --n-jobs CPUs (needs routerlab[distributed]; overrides file).",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster of --backend ray: its head's HOST:PORT, or auto (overrides file)."),
    ] = None,
) -> None:
    """Run or resume the seed protocol: stage-1 grid at seed 42, top-k re-trained with more seeds, mean ± std.

    With --selection cv, stage 1 scores every configuration on k held-out folds of train ∪ val and the
    best mean is refitted on train ∪ val with every seed. Records go to OUT/runs.jsonl as runs finish;
    a rerun skips every completed run.
    """
    from routerlab.experiments.evaluate import format_mean_std
    from routerlab.experiments.sweep import SweepConfig, run_sweep
    from routerlab.experiments.sweep.summary import cv_score
    from routerlab.routers import ROUTERS

    cfg = SweepConfig.from_yaml(
        config,
        out_dir=out,
        n_jobs=n_jobs,
        routers=_split_list(",".join(router), "router") if router else None,
        selection=selection.strip().lower() if selection is not None else None,
        cv_folds=cv_folds,
        backend=backend.strip().lower() if backend is not None else None,
        address=address,
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
    cv = result.cv_folds is not None
    caption = "test figures: mean ± std (ddof 0) over the seeds of the selected configuration"
    if cv:
        caption += (
            f"; cv score: held-out accuracy, mean ± std over {result.cv_folds} folds of train ∪ val (what selected "
            "it), test figures of its refit on train ∪ val"
        )
    table = Table(title=title, caption=caption)
    cols = ([] if one else ["dataset"]) + ["router", "encoder", "params", "seeds", *(["cv score"] if cv else [])]
    for col in [*cols, "test acc", *[f"U({k})" for k in lam_keys]]:
        right = col.startswith(("U(", "test", "seeds", "cv"))
        table.add_column(col, justify="right" if right else "left", no_wrap=col in ("router", "encoder"))
    for s in result.summary:
        params = ", ".join(f"{k}={v}" for k, v in s.params.items()) or "-"
        head = ([] if one else [s.dataset]) + [s.router, s.encoder, params]
        score = [cv_score(s)] if cv else []
        if s.status != "ok" or s.test_acc_mean is None:
            table.add_row(*head, "0", *score, *(["[red]failed[/]"] * (1 + len(lam_keys))))
            continue
        n = len(s.seeds)
        cells = [*score, format_mean_std(s.test_acc_mean, s.test_acc_std, n)]
        cells += [format_mean_std(s.test_utility_mean[k], s.test_utility_std[k], n) for k in lam_keys]
        table.add_row(*head, str(n), *cells)
    console.print(table)
    if result.errors:
        err_console.print(f"[yellow]{len(result.errors)} runs failed[/]; they are retried on the next start")
    console.print(
        f"wrote {result.out_dir / 'runs.jsonl'}, {result.out_dir / 'summary.json'} and summary.parquet", soft_wrap=True
    )
    _print_truncation(result)
    _print_studies(result)


def _print_truncation(result: SweepResult) -> None:
    """One line per (dataset, encoder) whose window cut query texts: a silent cut would change the figures."""
    for dataset, by_encoder in (result.truncation or {}).items():
        for encoder, t in by_encoder.items():
            if t.get("n_truncated") and t.get("long") in (None, "head"):
                share = 100 * t["n_truncated"] / max(t["n_texts"], 1)
                err_console.print(
                    f"[yellow]{encoder} cut {t['n_truncated']:,} of {t['n_texts']:,} query texts of {dataset} "
                    f"({share:.1f} %) at its {t['max_tokens']}-token window[/] (see summary.json 'truncation'; "
                    "?long=tail reads their end, ?long=chunk all of them)",
                    soft_wrap=True,
                )


def _print_studies(result: SweepResult) -> None:
    """Print and save the scaling / encoder / de-duplication tables the sweep's variants answer (if any)."""
    from routerlab.experiments.sweep.studies import studies_markdown

    text = studies_markdown(result.to_dict())
    if not text:
        return
    path = result.out_dir / "studies.md"
    path.write_text(text, encoding="utf-8")
    console.print(Markdown(text))
    console.print(f"wrote {path}", soft_wrap=True)
