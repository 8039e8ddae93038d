"""What the commands share: loading a dataset with the column, price, split and source options; lists; warnings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.markup import escape

from routerlab.cli._common import err_console

if TYPE_CHECKING:
    from routerlab.data.schema import RoutingData

_PATH_HELP = "Folder with a registered benchmark's original files (an error with a shipped dataset or a file path)."


def _split_list(value: str, what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise ValueError(f"--{what} is empty; give a comma-separated list.")
    return items


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


def _warn(lines: Sequence[object]) -> None:
    """Print each line as a warning on stderr, literally (rich markup escaped)."""
    for line in lines:
        err_console.print(
            f"[yellow]warning:[/] {escape(str(line))}", highlight=False, soft_wrap=True
        )  # a command in it stays copyable
