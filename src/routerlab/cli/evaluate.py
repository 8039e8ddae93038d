"""`routerlab evaluate`: baselines and learned routers on one dataset, printed and saved as a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console, err_console, progress_steps
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
    _parse_lams,
    _split_list,
    _warn,
)

if TYPE_CHECKING:
    from routerlab.data.features.value import Features
    from routerlab.data.schema import RoutingData
    from routerlab.experiments.evaluate import Leaderboard
    from routerlab.experiments.protocol import Evaluation
    from routerlab.experiments.sweep import SweepResult


DEFAULT_DATA = "routerlab-dcrouter"
#: what `routerlab evaluate` runs with no --router: the baselines and one learned router (issue 11)
DEFAULT_LEARNED = ("knn",)
DEFAULT_ENCODER = "hashing"


@_friendly_errors
def evaluate_cmd(
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset name or path.")] = DEFAULT_DATA,
    path: Annotated[Path | None, typer.Option(help=_PATH_HELP)] = None,
    router: Annotated[
        list[str] | None,
        typer.Option(
            "--router",
            "-r",
            help="Comma-separated router names, or the option repeated (default: the baselines oracle, random, "
            f"best_single, cheapest, majority_label and the learned {', '.join(DEFAULT_LEARNED)}).",
        ),
    ] = None,
    lam: Annotated[str, typer.Option("--lambda", "-l", help="Comma-separated cost weights λ in [0, 1].")] = "0",
    out: Annotated[Path | None, typer.Option(help="Output folder (default routerlab-results/<dataset>).")] = None,
    download: Annotated[bool, typer.Option(help="Fetch the dataset from its public home if absent.")] = False,
    encoder: Annotated[
        list[str],
        typer.Option(
            "--encoder",
            "-e",
            help="Query encoder of learned routers: hashing (default: hashed word and character n-grams, no model, "
            "instant), minilm (all-MiniLM-L6-v2 sentence embeddings; about 1-3 min per 5,000 queries on 2 CPU "
            "cores the first time, cached after), static64, st:<model>. minilm and st:<model> read 254 word pieces: "
            "add ?long=tail (the last window), ?long=chunk (every window, pooled) or ?long=head+tail for longer "
            "prompts (default head: the first window; the run says how many texts were cut).",
        ),
    ] = [DEFAULT_ENCODER],  # noqa: B006 - typer reads the default; a list so a repeated --encoder is refused
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
    save_routers: Annotated[
        Path | None,
        typer.Option(
            "--save-routers",
            help="Also save each learned router's selected configuration, fitted on train as evaluated, under this "
            "folder (one folder per router, for routerlab serve), with pool.example.yaml listing its models.",
        ),
    ] = None,
    selection: Annotated[
        str,
        typer.Option(
            "--selection",
            help="How learned routers' hyper-parameters are selected: val (the validation split, the paper's "
            "protocol) or cv (k-fold cross-validation on train ∪ val; every router is then fitted on train ∪ val).",
        ),
    ] = "val",
    cv_folds: Annotated[int, typer.Option("--cv-folds", help="Folds of --selection cv.")] = 5,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="Precomputed query vectors for learned routers instead of --encoder: a .npy (n_queries, d) matrix "
            "whose row i is the vector of the dataset's row i (memory-mapped, not copied).",
        ),
    ] = None,
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

    names = _split_list(",".join(router), "router") if router else [*BASELINES, *DEFAULT_LEARNED]
    if len(encoder) != 1:  # click keeps only the last of a repeated plain option: say so instead
        raise ValueError(
            f"--encoder was given {len(encoder)} times ({', '.join(encoder)}); evaluate uses one encoder per run. "
            "Compare encoders with `routerlab sweep` (an encoders: list) or one run per encoder."
        )
    encoder_name = encoder[0]
    for n in names:
        ROUTERS.get(n)  # unknown names fail before any loading, with a suggestion
    lams = _parse_lams(lam)
    opts = _LoadOptions(
        query_col, model_col, score_col, cost_col, score_scale, text_col, prices, val_fraction, sources, exclude_sources
    )
    dataset = _load_dataset(data, path, download, opts)
    given = _read_features(features, dataset, encoder_name, save_routers)
    target = out if out is not None else Path("routerlab-results") / dataset.name
    with progress_steps() as step:
        what = (
            f"reading {features}" if given is not None else f"encoding {dataset.n_queries} queries with {encoder_name}"
        )
        encoding = step(what)

        def encoded(done: int, total: int) -> None:  # total 0: every text came from the cache
            encoding(done, total, "") if total else encoding(1, 1, "from the cache")

        result = evaluate_protocol(
            dataset,
            names,
            lams=lams,
            encoder=encoder_name,
            sweep_dir=target / "sweep",
            dataset_ref={"name": data, "path": path},
            n_jobs=n_jobs,
            missing=missing.strip().lower(),
            optional_learned=() if router else DEFAULT_LEARNED,
            encode_progress=encoded,
            sweep_progress=step(f"seed protocol on {dataset.name}"),
            selection=selection.strip().lower(),
            cv_folds=cv_folds,
            features=given,
        )
    _warn(result.warnings)
    _print_truncation(result)
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
        how = (
            f"configuration selected by {sweep.cv_folds}-fold cross-validation on train ∪ val and refitted on it"
            if sweep.cv_folds is not None
            else "validation-selected configuration"
        )
        console.print(
            f"learned routers: mean ± std (ddof 0) over the seeds of the {how}; records and summary in {sweep.out_dir}"
        )
        if sweep.errors:
            err_console.print(f"[yellow]{len(sweep.errors)} runs failed[/]; see {sweep.out_dir / 'runs.jsonl'}")
    if save_routers is not None:
        _save_routers(result, dataset, save_routers)


def _read_features(path: Path | None, dataset: RoutingData, encoder: str, save_routers: Path | None) -> Features | None:
    """--features: the vectors of the dataset's rows from a .npy file (None without the option)."""
    if path is None:
        return None
    if encoder != DEFAULT_ENCODER:
        raise ValueError(
            f"--features and --encoder {encoder} both say where the query vectors come from; give one of them."
        )
    if save_routers is not None:
        raise ValueError(
            "--save-routers saves routers that encode raw text with a registered encoder; routers fitted on "
            "--features vectors could not encode a new query. Drop one of the two options."
        )
    from routerlab.data.io import read_features

    return read_features(path, dataset)


def _print_truncation(result: Evaluation) -> None:
    """Say how many query texts the encoder cut: a warning when some part of a text was never embedded."""
    report = result.truncation
    if report is None:
        return
    if report.n_truncated:
        _warn([report.sentence()])
    else:
        console.print(report.sentence(), style="dim", soft_wrap=True)


def _save_routers(result: Evaluation, dataset: RoutingData, folder: Path) -> None:
    """Save the selected learned routers and a pool template naming their models (see --save-routers)."""
    from routerlab.experiments.protocol import save_selected

    saved = save_selected(result, dataset, folder)
    pool = folder / "pool.example.yaml"
    pool.write_text(pool_template(dataset), encoding="utf-8")
    for label, path in saved.items():
        console.print(f"saved {label} to {path}", soft_wrap=True)
    first = next(iter(saved.values()))
    console.print(
        f"wrote {pool}: point each endpoint's base_url at your server, then `routerlab serve {first} --pool {pool}`",
        soft_wrap=True,
    )


def pool_template(dataset: RoutingData, base_url: str = "http://127.0.0.1:8001/v1") -> str:
    """A pool file for ``routerlab serve`` listing ``dataset``'s models, with its posted prices where known."""
    lines = [
        f"# routerlab serve pool for the models of {dataset.name!r}: set each base_url (ending before",
        "# /chat/completions), 'model' (the id your server expects) and api_key_env where a key is needed.",
        "# Prices are USD per 1M tokens, from the data where it posts them; fill in every null (the pool refuses",
        "# an endpoint without prices rather than count it as free; 0 for a model that really costs nothing).",
        "endpoints:",
    ]
    for m in dataset.models:
        lines += [
            f"  - name: {_yaml_str(m.name)}",
            f"    base_url: {_yaml_str(base_url)}",
            f"    model: {_yaml_str(m.name)}",
            f"    input_price_per_1m: {_yaml_num(m.input_price)}",
            f"    output_price_per_1m: {_yaml_num(m.output_price)}",
            "    timeout_s: 60",
        ]
    return "\n".join(lines) + "\n"


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a YAML string, quotes and escapes included


def _yaml_num(value: float | None) -> str:
    return "null" if value is None else repr(float(value))


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
