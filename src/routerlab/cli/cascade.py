"""`routerlab cascade`: a FrugalGPT-style cascade beside the one-shot routers, on a dataset that holds the responses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console
from routerlab.cli._load import _PATH_HELP, SourcesOpt, _load_dataset, _LoadOptions, _split_list

if TYPE_CHECKING:
    from routerlab.experiments.cascade import CascadeEvaluation


@_friendly_errors
def cascade_cmd(
    data: Annotated[
        str, typer.Option("--data", "-d", help="A registered dataset with model responses.")
    ] = "routerbench-0shot-subset",
    path: Annotated[Path | None, typer.Option(help=_PATH_HELP)] = None,
    sources: SourcesOpt = "",
    router: Annotated[
        str, typer.Option("--router", "-r", help="One-shot routers to compare (comma-separated; best_single needed).")
    ] = "knn,mlp,best_single,oracle",
    encoder: Annotated[str, typer.Option("--encoder", "-e", help="Query encoder of the one-shot routers.")] = "hashing",
    chain: Annotated[
        str,
        typer.Option(
            help="The cascade's models in call order (comma-separated); default: search every cheapest-first chain "
            "of at most --max-stages models on out-of-fold training scores."
        ),
    ] = "",
    max_stages: Annotated[int, typer.Option("--max-stages", help="Longest chain searched.")] = 3,
    n_thresholds: Annotated[int, typer.Option("--n-thresholds", help="Threshold levels per stage.")] = 10,
    max_response_chars: Annotated[
        int, typer.Option("--max-response-chars", help="Characters of each response kept (untrusted text).")
    ] = 8000,
    n_resamples: Annotated[int, typer.Option("--n-resamples", help="Paired bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and of the cascade's folds.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default routerlab-results/<dataset>-cascade).")
    ] = None,
) -> None:
    """Compare a FrugalGPT-style cascade with one-shot routers on a dataset's test split.

    The cascade (per-model answer scorers; chain and thresholds chosen on out-of-fold training scores) and the
    one-shot routers are fitted on train; compare their deferral curves on test (AUC with paired-bootstrap CIs, cost =
    every call the cascade made) and their quality at matched cost. Writes cascade.json, cascade.md and, with
    matplotlib, cascade_deferral.png.
    """
    from routerlab.data.responses import ResponseLimits, load_responses
    from routerlab.experiments.cascade import evaluate_cascade
    from routerlab.routers import ROUTERS
    from routerlab.routers.cascade import Cascade

    names = _split_list(router, "router")
    for n in names:
        ROUTERS.get(n)  # unknown names fail before any loading, with a suggestion
    dataset = _load_dataset(data, path, False, _LoadOptions(sources=sources))
    responses = load_responses(data, path, limits=ResponseLimits(max_chars=max_response_chars))
    cascade = Cascade(
        chain=_split_list(chain, "chain") if chain else None,
        max_stages=max_stages,
        n_thresholds=n_thresholds,
        random_state=seed,
    )
    with console.status(f"fitting {', '.join(names)} and the cascade on {dataset.name}"):
        result = evaluate_cascade(
            dataset, responses, routers=names, cascade=cascade, encoder=encoder, n_resamples=n_resamples, seed=seed
        )
    _print(result)
    target = out if out is not None else Path("routerlab-results") / f"{dataset.name}-cascade"
    paths = result.save(target)
    figure = _plot(result, target)
    wrote = f"wrote {paths['json']} and {paths['markdown']}" + (f" and {figure}" if figure else "")
    console.print(wrote, soft_wrap=True)


def _print(result: CascadeEvaluation) -> None:
    table = Table(title=f"{result.dataset}: deferral AUC on {result.n_test} test queries (95 % paired bootstrap)")
    for col in ("method", "points", "AUC [95 % CI]", "Δ AUC cascade − method"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name in sorted(result.auc, key=lambda n: -result.auc[n].estimate):
        a, d = result.auc[name], result.auc_delta.get(name)
        cell = "–" if d is None else f"{d.estimate:+.4f} [{d.low:+.4f}, {d.high:+.4f}]{'*' if d.excludes_zero else ''}"
        table.add_row(name, str(len(result.points[name])), f"{a.estimate:.4f} [{a.low:.4f}, {a.high:.4f}]", cell)
    console.print(table)
    for m in result.matched:
        d = m.delta
        console.print(
            f"budget {m.fraction:g} × best single's training cost: cascade {' → '.join(m.policy['chain'])} "
            f"quality {m.test_quality:.4f} at cost {m.test_cost:.6g} vs best_single {m.reference_quality:.4f} at "
            f"{m.reference_cost:.6g}: Δ {d.estimate:+.4f} [{d.low:+.4f}, {d.high:+.4f}]"
            f"{'*' if d.excludes_zero else ''}",
            soft_wrap=True,
        )


def _plot(result: CascadeEvaluation, folder: Path) -> Path | None:
    """The deferral curves as a PNG (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from routerlab.report.cascade import cascade_figure

    display = cascade_figure(result).display
    fig, ax = plt.subplots(figsize=(8, 4.5))
    display.plot(ax=ax)
    ax.set_title(f"{result.dataset}: cascade (cost = every call) vs one-shot routers")
    path = folder / "cascade_deferral.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
