"""`routerlab data ls`, `routerlab data show` and `routerlab data from-log`: list, inspect and make routing datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console
from routerlab.cli._load import (
    _PATH_HELP,
    _SPLITS_ALLOWED,
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
)
from routerlab.cli.ope import from_log_cmd
from routerlab.errors import RouterlabError

data_app = typer.Typer(
    help="List and inspect routing datasets; make one from a gateway log (from-log).", no_args_is_help=True
)
data_app.command("from-log")(from_log_cmd)
_SHOWN_META = ("license", "homepage", "commit", "split_method", "cost_proxy")


@data_app.command("ls")
@_friendly_errors
def data_ls() -> None:
    """List the registered datasets and whether their files are found here."""
    from routerlab.data import DATASETS
    from routerlab.data.registry import resolve_dataset_dir

    table = Table(title="routerlab datasets")
    table.add_column("name", no_wrap=True)
    for col in ("local files", "licence", "description"):
        table.add_column(col, overflow="fold")
    for name in DATASETS.names():
        spec = DATASETS.get(name)
        if spec.shipped:
            where = "shipped in package"
        else:
            try:
                where = str(resolve_dataset_dir(spec, None, download=False))
            except RouterlabError:
                where = "[yellow]not found[/] (set ROUTERLAB_DATA_DIR or --download)"
        table.add_row(name, where, spec.license, spec.description)
    console.print(table)


@data_app.command("show")
@_friendly_errors
def data_show(
    name: Annotated[str, typer.Argument(help="Dataset name (see `routerlab data ls`) or a file path.")],
    path: Annotated[Path | None, typer.Option(help=_PATH_HELP)] = None,
    download: Annotated[bool, typer.Option(help="Fetch the files from the public home if absent.")] = False,
    split: Annotated[
        str, typer.Option(help="Split for the per-model table and the bounds: train, val, test, ood or all.")
    ] = "test",
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
    """Queries, models, coverage, per-model quality and cost, and the oracle / best-single bounds."""
    from routerlab.routers.baselines import BestSingle

    if split not in (*_SPLITS_ALLOWED, "all"):
        raise ValueError(f"--split must be one of {', '.join(_SPLITS_ALLOWED)} or all. Got {split!r}.")
    opts = _LoadOptions(
        query_col, model_col, score_col, cost_col, score_scale, text_col, prices, val_fraction, sources, exclude_sources
    )
    data = _load_dataset(name, path, download, opts)
    console.print(
        f"[bold]{data.name}[/]: {data.n_queries} queries, {data.n_models} models, cost unit {data.cost_unit!r}"
    )
    console.print("splits: " + ", ".join(f"{k}={v}" for k, v in data.split_sizes().items()))
    names, counts = np.unique(data.sources.astype(str), return_counts=True)
    console.print(f"sources ({len(names)}): " + ", ".join(f"{s}={c}" for s, c in zip(names, counts, strict=True)))
    part = data if split == "all" else data.split(split)
    if part.n_queries == 0:
        raise ValueError(f"{data.name!r} has no {split!r} split; its splits are {data.split_sizes()}.")
    where = "all splits" if split == "all" else f"the {split} split"
    table = Table(title=f"models on {where} ({part.n_queries} queries)")
    for col, justify in (("model", "left"), ("coverage", "right"), ("mean quality", "right"), ("mean cost", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    n_obs = part.observed.sum(axis=0)
    for m, n, q, c in zip(data.model_names, n_obs, part.mean_quality(), part.mean_cost(), strict=True):
        cov = f"{n / part.n_queries:.1%}" + ("" if n == part.n_queries else f" ({n}/{part.n_queries})")
        table.add_row(
            m,
            cov if n == part.n_queries else f"[yellow]{cov}[/]",
            f"{q:.4f}" if n else "[yellow]no outcome[/]",
            f"{c:.6g}" if n else "-",
        )
    console.print(table)
    if (n_obs < part.n_queries).any():
        console.print(
            f"[yellow]coverage below 100%[/]: mean quality and cost are over each model's observed {split} "
            "outcomes only; a model with no outcome is never the best single model.",
            highlight=False,
        )
    from routerlab.metrics import best_single_model, oracle_accuracy_score

    answered_rows = np.asarray(part.observed.any(axis=1))
    if not answered_rows.any():
        raise ValueError(f"No model has an outcome on the {split!r} split of {data.name!r}; nothing to bound.")
    answered = part.subset(answered_rows)
    oracle = oracle_accuracy_score(Y=answered.Y)
    dropped = part.n_queries - answered.n_queries
    note = f" (over {answered.n_queries} queries with an outcome; {dropped} have none)" if dropped else ""
    console.print(f"oracle quality ({split}): [bold]{oracle:.4f}[/]{note}")
    best_here = best_single_model(Y=part.Y)
    cover = "" if best_here.n_observed == part.n_queries else f", coverage {best_here.coverage:.1%}"
    console.print(
        f"best single model on {split} (observed outcomes only): [bold]{data.model_names[best_here.index]}[/], "
        f"quality {best_here.quality:.4f}{cover}"
    )
    train = data.split("train")
    if split not in ("train", "all") and train.n_queries and train.observed.any():
        best = BestSingle().fit(train)
        j = best.best_index_
        has = int(n_obs[j])
        if has == 0:
            console.print(
                f"best single model chosen on train: [bold]{best.best_model_}[/] [yellow]has no outcome on the "
                f"{split} split[/]; it has no {split} quality."
            )
        else:
            q = float(np.nanmean(part.Y[:, j]))
            cover = "" if has == part.n_queries else f" on its {has}/{part.n_queries} observed queries"
            console.print(
                f"best single model chosen on train: [bold]{best.best_model_}[/], {split} quality {q:.4f}{cover}"
            )
    for key in _SHOWN_META:
        value = data.meta.get(key)
        if isinstance(value, (str, int, float)):
            console.print(f"{key}: {value}", highlight=False)
    if data.meta:
        console.print(
            f"other metadata keys: {', '.join(k for k in data.meta if k not in _SHOWN_META)}", highlight=False
        )
