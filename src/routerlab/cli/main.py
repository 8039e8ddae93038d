"""The ``routerlab`` command line: thin typer commands over the library's public verbs.

Errors raised on purpose by routerlab (bad input, unknown names, missing data) are printed as one
red line and exit with status 2 — never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from routerlab._version import __version__
from routerlab.cli._common import _friendly_errors, console, err_console, progress_bar, progress_steps
from routerlab.errors import RouterlabError

if TYPE_CHECKING:
    from routerlab.data.schema import RoutingData
    from routerlab.experiments.evaluate import Leaderboard
    from routerlab.experiments.sweep import SweepResult

app = typer.Typer(
    name="routerlab", help="Honest, practical LLM routing: data, audits, routers, metrics.", no_args_is_help=True
)
data_app = typer.Typer(help="List and inspect routing datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

DEFAULT_DATA = "routerlab-dcrouter"
#: what `routerlab evaluate` runs with no --router: the baselines and one learned router (issue 11)
DEFAULT_LEARNED = ("knn",)
DEFAULT_ENCODER = "hashing"
_SHOWN_META = ("license", "homepage", "commit", "split_method", "cost_proxy")
_PATH_HELP = "Folder with a registered benchmark's original files (an error with a shipped dataset or a file path)."


def _version(value: bool) -> None:
    if value:
        console.print(f"routerlab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
) -> None:
    """Routerlab's command line."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def _split_list(value: str, what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise ValueError(f"--{what} is empty; give a comma-separated list.")
    return items


# ---------------------------------------------------------------------- loading a dataset (shared options)
_LONG = "Long table (CSV/TSV/JSONL/Parquet, one row per query x model)"
_SPLITS_ALLOWED = ("train", "val", "test", "ood")
QueryColOpt = Annotated[
    str | None, typer.Option("--query-col", help="Column of the query ids (default query_id).", rich_help_panel=_LONG)
]
ModelColOpt = Annotated[
    str | None, typer.Option("--model-col", help="Column of the model names (default model).", rich_help_panel=_LONG)
]
ScoreColOpt = Annotated[
    str | None, typer.Option("--score-col", help="Column of the scores (default score).", rich_help_panel=_LONG)
]
TextColOpt = Annotated[
    str | None,
    typer.Option(
        "--text-col",
        help="Column of the query texts that learned routers encode (default text); 'none' ignores it.",
        rich_help_panel=_LONG,
    ),
]
CostColOpt = Annotated[
    str | None,
    typer.Option(
        "--cost-col",
        help="Column of the per-call cost (default cost); 'none' ignores it (every call costs 1, or --prices).",
        rich_help_panel=_LONG,
    ),
]
ScoreScaleOpt = Annotated[
    str | None,
    typer.Option(
        "--score-scale",
        help="Map raw scores linearly to [0, 1]: HI (from 0, e.g. 100 for percentages) or LO,HI (e.g. 1,10); "
        "the raw scores are kept in raw_score.",
        rich_help_panel=_LONG,
    ),
]
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        "--prices",
        help="JSON/YAML {model: [IN, OUT]} in USD per 1M input/output tokens, joined by model name: "
        "cost = tokens_in*IN/1e6 + tokens_out*OUT/1e6 for a table with token counts and no cost column "
        "(same format as `routerlab score --prices`). A model with tokens and no price is an error.",
        rich_help_panel=_LONG,
    ),
]
ValFractionOpt = Annotated[
    float | None,
    typer.Option(
        "--val-fraction",
        help="Carve a validation split from train when the data has none (train/test only): a train query moves "
        "to val when the seeded hash of its id (seed 0, salt 'val') is below F, so about F of train; test is "
        "untouched and the result does not depend on row order. Any dataset. (A long table without a split "
        "column is already hash-split train 0.7 / val 0.1 / test 0.2 by query id, seed 0.)",
    ),
]
SourcesOpt = Annotated[
    str, typer.Option("--sources", help="Keep only these sources (comma-separated, see `routerlab data show`).")
]
ExcludeSourcesOpt = Annotated[
    str, typer.Option("--exclude-sources", help="Drop these sources (comma-separated), e.g. ifeval.")
]


@dataclass(frozen=True, slots=True)
class _LoadOptions:
    """The dataset-loading options shared by `data show`, `evaluate` and `audit`."""

    query_col: str | None = None
    model_col: str | None = None
    score_col: str | None = None
    cost_col: str | None = None
    score_scale: str | None = None
    text_col: str | None = None
    prices: Path | None = None
    val_fraction: float | None = None
    sources: str = ""
    exclude_sources: str = ""

    def long_options(self) -> dict[str, Any]:
        """The keyword options of :func:`routerlab.data.longformat.load_long` that were given."""
        from routerlab.data.prices import read_prices

        out: dict[str, Any] = {}
        for key in ("query_col", "model_col", "score_col"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in ("cost_col", "text_col"):
            value = getattr(self, key)
            if value is not None:
                out[key] = None if value.strip().lower() == "none" else value
        if self.score_scale is not None:
            out["score_scale"] = _parse_scale(self.score_scale)
        if self.prices is not None:
            out["prices"] = read_prices(self.prices)
        return out


def _parse_scale(value: str) -> tuple[float, float]:
    parts = [p.strip() for p in value.split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        numbers = [0.0, numbers[0]]
    if len(numbers) != 2 or not numbers[0] < numbers[1]:
        raise ValueError(
            f"--score-scale must be HI (e.g. 100 for percentages) or LO,HI with LO < HI (e.g. 1,10). Got {value!r}."
        )
    return numbers[0], numbers[1]


def _is_file_name(name: str) -> bool:
    from routerlab.data import DATASETS

    as_path = Path(name)
    return name not in DATASETS and bool(as_path.suffix or as_path.exists())


def _load_dataset(name: str, path: Path | None, download: bool, opts: _LoadOptions) -> RoutingData:
    """Load ``name`` with the shared options: long-table columns and prices, sources, a carved val split."""
    from routerlab.data import load

    long_options = opts.long_options()
    if long_options and not _is_file_name(name):
        given = ", ".join("--" + k.replace("_", "-") for k in long_options)
        raise ValueError(
            f"{given} apply to a long table file (CSV/TSV/JSONL/Parquet); {name!r} is a registered benchmark "
            "whose loader knows its columns and costs. Drop them, or give the path of a long table."
        )
    data = load(name, path, download=download, **long_options)
    _warn(data.meta.get("warnings", []))
    data = _select_sources(data, opts.sources, opts.exclude_sources)
    if opts.val_fraction is not None:
        data = _carve_val(data, opts.val_fraction)
    return data


def _select_sources(data: RoutingData, sources: str, exclude: str) -> RoutingData:
    if not sources and not exclude:
        return data
    import difflib

    have = sorted({str(s) for s in data.sources})
    for flag, value in (("--sources", sources), ("--exclude-sources", exclude)):
        for item in _split_list(value, flag.removeprefix("--")) if value else []:
            if item not in have:
                close = difflib.get_close_matches(item, have, n=1, cutoff=0.5)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"{flag}: unknown source {item!r} in {data.name!r}.{hint} Its sources are {', '.join(have)}."
                )
    keep = np.ones(data.n_queries, dtype=bool)
    names = data.sources.astype(str)
    if sources:
        keep &= np.isin(names, _split_list(sources, "sources"))
    if exclude:
        keep &= ~np.isin(names, _split_list(exclude, "exclude-sources"))
    if not keep.any():
        raise ValueError(f"--sources/--exclude-sources leave no query of {data.name!r}; its sources are {have}.")
    return data.subset(keep)


def _carve_val(data: RoutingData, fraction: float) -> RoutingData:
    import dataclasses

    from routerlab.data.splits import DEFAULT_SEED, carve_validation

    if not 0 < fraction < 1:
        raise ValueError(f"--val-fraction must be in (0, 1), e.g. 0.1. Got {fraction}.")
    n_val, n_train = int((data.splits == "val").sum()), int((data.splits == "train").sum())
    if n_val:
        raise ValueError(
            f"{data.name!r} already has {n_val} val queries; --val-fraction only carves one when there is none. "
            "Drop --val-fraction."
        )
    if not n_train:
        raise ValueError(f"{data.name!r} has no train queries to carve val from; its splits are {data.split_sizes()}.")
    splits = carve_validation(data.query_ids, data.splits, fraction, DEFAULT_SEED)
    note = f"val carved from train by --val-fraction {fraction:g} (hash of the query id, seed {DEFAULT_SEED})"
    old = data.meta.get("split")
    meta = {**data.meta, "split": f"{old}; {note}" if old else note}
    return dataclasses.replace(data.with_splits(splits), meta=meta)


def _parse_lams(value: str) -> list[float]:
    lams = []
    for item in _split_list(value, "lambda"):
        try:
            lams.append(float(item))
        except ValueError:
            raise ValueError(f"--lambda values must be numbers in [0, 1]; got {item!r}.") from None
    return lams


# ---------------------------------------------------------------------- data
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


# ---------------------------------------------------------------------- evaluate
@app.command("evaluate")
@_friendly_errors
def evaluate_cmd(
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset name or path.")] = DEFAULT_DATA,
    path: Annotated[Path | None, typer.Option(help=_PATH_HELP)] = None,
    router: Annotated[
        str,
        typer.Option(
            "--router",
            "-r",
            help="Comma-separated router names (default: the baselines oracle, random, best_single, cheapest, "
            f"majority_label and the learned {', '.join(DEFAULT_LEARNED)}).",
        ),
    ] = "",
    lam: Annotated[str, typer.Option("--lambda", "-l", help="Comma-separated cost weights λ in [0, 1].")] = "0",
    out: Annotated[Path | None, typer.Option(help="Output folder (default routerlab-results/<dataset>).")] = None,
    download: Annotated[bool, typer.Option(help="Fetch the dataset from its public home if absent.")] = False,
    encoder: Annotated[
        str,
        typer.Option(
            "--encoder",
            "-e",
            help="Query encoder of learned routers: hashing (default: hashed word and character n-grams, no model, "
            "instant), minilm (all-MiniLM-L6-v2 sentence embeddings; about 1-3 min per 5,000 queries on 2 CPU "
            "cores the first time, cached after), static64, st:<model>.",
        ),
    ] = DEFAULT_ENCODER,
    n_jobs: Annotated[int, typer.Option("--n-jobs", help="Processes for learned routers (-1 = all cores).")] = -1,
    missing: Annotated[
        str,
        typer.Option(
            "--missing",
            help="What a decision on a (query, model) with no outcome counts: reroute (default: the model is not "
            "offered for that query), zero (a failed call at its cost), skip (the query leaves that router's "
            "figures) or error. Learned routers' seed protocol uses reroute.",
        ),
    ] = "reroute",
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
    """Fit routers on the training split, score them on the test split, print and save the leaderboard.

    Baselines are fitted once. Learned routers (e.g. --router knn,kmeans) run the seed protocol on
    this dataset: stage-1 grid at seed 42 selected on validation, the top configurations re-trained
    with four more seeds, reported as mean ± std test figures (see `routerlab sweep`).

    OUT becomes a results directory for `routerlab report OUT`: the leaderboard, the test queries
    and every router's decisions (learned routers: the selected configuration fitted once at seed 42).
    """
    from routerlab.experiments.protocol import evaluate_protocol
    from routerlab.routers import BASELINES, ROUTERS

    names = _split_list(router, "router") if router else [*BASELINES, *DEFAULT_LEARNED]
    for n in names:
        ROUTERS.get(n)  # unknown names fail before any loading, with a suggestion
    lams = _parse_lams(lam)
    opts = _LoadOptions(
        query_col, model_col, score_col, cost_col, score_scale, text_col, prices, val_fraction, sources, exclude_sources
    )
    dataset = _load_dataset(data, path, download, opts)
    target = out if out is not None else Path("routerlab-results") / dataset.name
    with progress_steps() as step:
        encoding = step(f"encoding {dataset.n_queries} queries with {encoder}")

        def encoded(done: int, total: int) -> None:  # total 0: every text came from the cache
            encoding(done, total, "") if total else encoding(1, 1, "from the cache")

        result = evaluate_protocol(
            dataset,
            names,
            lams=lams,
            encoder=encoder,
            sweep_dir=target / "sweep",
            dataset_ref={"name": data, "path": path},
            n_jobs=n_jobs,
            missing=missing.strip().lower(),
            optional_learned=() if router else DEFAULT_LEARNED,
            encode_progress=encoded,
            sweep_progress=step(f"seed protocol on {dataset.name}"),
        )
    _warn(result.warnings)
    board, sweep, baselines, learned = result.board, result.sweep, list(result.baselines), list(result.learned)
    for lam_value in sorted(set(lams)):
        _print_board(board, sweep, dataset, baselines, lam_value)
    if board is not None:
        paths = board.save_results(target, leaderboard=baselines if learned else None)
        if "json" in paths:
            console.print(f"wrote {paths['json']} and {paths['markdown']}", soft_wrap=True)
        console.print(  # soft_wrap: a path is never broken across lines
            f"wrote the predictions of every router to {paths['predictions']}; see `routerlab report`", soft_wrap=True
        )
    if sweep is not None:
        console.print(
            "learned routers: mean ± std (ddof 0) over the seeds of the validation-selected configuration; "
            f"records and summary in {sweep.out_dir}"
        )
        if sweep.errors:
            err_console.print(f"[yellow]{len(sweep.errors)} runs failed[/]; see {sweep.out_dir / 'runs.jsonl'}")


def _print_board(
    board: Leaderboard | None, sweep: SweepResult | None, dataset: RoutingData, baselines: list[str], lam: float
) -> None:
    """Print one λ's table: baselines by their test figures, learned routers by their seed-protocol figures."""
    from routerlab.experiments.evaluate import DELTA_REFERENCE, delta_note, format_mean_std, quality_deltas

    entries: list[tuple[float, float, str, list[str]]] = []
    title, unit = f"{dataset.name}: test split, λ = {lam:g}", dataset.cost_unit
    deltas = quality_deltas(board, lam) if board is not None else {}
    width = 6 if deltas else 5

    def delta(router: str) -> list[str]:
        d = deltas.get(router)
        return ([d.short() if d is not None else "–"]) if deltas else []

    if board is not None:
        title = f"{board.dataset}: {board.split} split, {board.n_queries} queries, λ = {lam:g}"
        unit = board.cost_unit
        for r in board.at(lam):
            if r.router not in baselines:
                continue  # learned routers are shown with their seed-protocol figures below
            cells = [f"{r.quality:.4f}", f"{r.mean_cost:.6g}", f"{r.utility:.4f}", f"{r.oracle_gap:.4f}"]
            entries.append((r.utility, r.mean_cost, r.router, [*cells, f"{r.cna:.4f}", *delta(r.router)]))
        for row in board.seed_protocol:
            if row.lam != lam:
                continue
            if row.status != "ok" or row.quality is None or row.utility is None:
                entries.append((-np.inf, np.inf, row.router, ["failed"] * width))
                continue
            cells = [
                format_mean_std(row.quality, row.quality_std, row.n_seeds),
                f"{row.mean_cost:.6g}",
                format_mean_std(row.utility, row.utility_std, row.n_seeds),
                f"{row.oracle_gap:.4f}",
                f"{row.cna:.4f}" if row.cna is not None else "n/a",
            ]
            entries.append((row.utility, row.mean_cost or 0.0, row.label, [*cells, *delta(row.router)]))
    elif sweep is not None:  # no board: no baseline asked and every learned router failed
        entries += [(-np.inf, np.inf, failed.router, ["failed"] * width) for failed in sweep.summary]
    table = Table(title=f"{title}; cost in {unit}")
    table.add_column("router", no_wrap=True)
    columns = ["quality", "mean cost", "U(λ)", "gap to oracle", "CNA"]
    for i, col in enumerate(columns):  # a number is never cut to "0.80…": each column is as wide as its widest cell
        table.add_column(col, justify="right", min_width=max((len(e[3][i]) for e in entries), default=1))
    if deltas:  # wraps at its spaces ("+2.4 ±" / "1.3*") when the terminal is narrow
        table.add_column(f"Δ vs {DELTA_REFERENCE}", justify="right", min_width=7)
    for _, _, name, cells in sorted(entries, key=lambda e: (-e[0], e[1], e[2])):
        table.add_row(name, *cells)
    console.print(table)
    if deltas and board is not None:
        console.print(
            f"Δ vs {DELTA_REFERENCE}: quality minus {DELTA_REFERENCE}'s in percentage points ± the half-width of its "
            f"95 % CI. {delta_note(board.n_queries)}",
            style="dim",
        )


# ---------------------------------------------------------------------- report
@app.command("report")
@_friendly_errors
def report_cmd(
    results_dir: Annotated[Path, typer.Argument(help="Results directory written by `routerlab evaluate --out`.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default RESULTS_DIR/report).")] = None,
) -> None:
    """Write a self-contained HTML report (plus Markdown tables and PNG figures) of a results directory.

    Leaderboard with 95% paired-bootstrap CIs and significance tiers, deferral, call-rate and U(λ)
    curves, reliability diagrams, the significance matrix, collapse/plateau diagnostics, and the
    audit when RESULTS_DIR holds an audit.json (`routerlab audit DATA --out RESULTS_DIR`).
    """
    from routerlab.report import report

    with console.status(f"writing the report of {results_dir}"):
        html = report(results_dir, out)
    typer.echo(str(html))


# ---------------------------------------------------------------------- sweep
# ---------------------------------------------------------------------- audit
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


@app.command("audit")
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
        str, typer.Option("--router", "-r", help="Routers of the probes pseudo_specialists / ood_holdout.")
    ] = "",
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
        options["routers"] = _split_list(router, "router")
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


@app.command("sweep")
@_friendly_errors
def sweep_cmd(
    config: Annotated[Path, typer.Argument(help="YAML sweep config: datasets, routers, encoders, seeds, out_dir, ...")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (overrides out_dir).")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Processes, -1 = all cores (overrides file).")] = None,
    router: Annotated[str, typer.Option("--router", "-r", help="Comma-separated router names (overrides file).")] = "",
) -> None:
    """Run or resume the seed protocol: stage-1 grid at seed 42, top-k re-trained with more seeds, mean ± std.

    Records go to OUT/runs.jsonl as runs finish; a rerun skips every completed run.
    """
    from routerlab.experiments.evaluate import format_mean_std
    from routerlab.experiments.sweep import SweepConfig, run_sweep
    from routerlab.routers import ROUTERS

    cfg = SweepConfig.from_yaml(
        config, out_dir=out, n_jobs=n_jobs, routers=_split_list(router, "router") if router else None
    )
    for name in cfg.routers:
        ROUTERS.get(name)  # unknown names fail before any work, with a suggestion
    with _progress_callback("sweep") as progress:
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


def _warn(lines: Sequence[object]) -> None:
    """Print each line as a warning on stderr, literally (rich markup escaped)."""
    for line in lines:
        err_console.print(
            f"[yellow]warning:[/] {escape(str(line))}", highlight=False, soft_wrap=True
        )  # a command in it stays copyable


@contextlib.contextmanager
def _progress_callback(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """Show a rich progress bar; yield it as the ``progress(done, total, message)`` callback of run_sweep."""
    with progress_bar(description, after_time=("{task.fields[last]}",), last="") as bar_update:

        def update(done: int, total: int, message: str) -> None:
            bar_update(completed=done, total=total, last=message)

        yield update


# ---------------------------------------------------------------------- commands defined in their own modules
def _register_plugins() -> None:
    from routerlab.cli.collect import collect_cmd, latency_cmd
    from routerlab.cli.score import score_cmd

    app.command("collect")(collect_cmd)
    app.command("latency")(latency_cmd)
    app.command("score")(score_cmd)


_register_plugins()

if __name__ == "__main__":  # pragma: no cover
    app()
