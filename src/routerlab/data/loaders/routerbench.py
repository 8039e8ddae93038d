"""Loader for the RouterBench 0-shot rows that RouterDC ships (dataset ``routerbench-0shot-subset``).

Origin: https://github.com/shuhao02/RouterDC at commit ``0e63989c5bf4363330b8a4616386e3f7f116d9f8``,
folder ``datasets/routerbench_zs/``; the rows themselves are RouterBench's 0-shot data
(https://huggingface.co/datasets/withmartian/routerbench, MIT per its dataset card) for
ARC-Challenge, MBPP and Winogrande (file prefix ``winograde``), split into train/test by the
RouterDC authors.

Each CSV is RouterBench's wide format: an unnamed first column (RouterBench's row index),
``sample_id``, ``prompt`` (a Python-literal list of turns), ``eval_name``, one quality column per
model, ``<model>|model_response``, ``<model>|total_cost`` (USD for that call) and
``oracle_model_to_route_to``. An empty quality cell is a missing outcome (NaN), never 0.

Measured on that commit (3,178 rows, 11 models): every cost cell is filled; 154 quality cells are
empty (92 in arc_challenge_train.csv, 62 in arc_challenge_test.csv). They all sit in 14
ARC-Challenge ``sample_id`` s that occur on two rows each: one row (a two-turn prompt) holds only
gpt-3.5-turbo-1106's outcome, the other the ten other models' -- the same question, split by
RouterBench into two rows with complementary outcomes. Six of these pairs straddle the train and
test files. The rows are kept as they are; their ids become ``{sample_id}#{row index}``, and
``meta["split_rows"]`` lists them.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.data.loaders._common import model_family, params_from_text, require_dir, require_file
from routerlab.data.longformat import csv_read_error
from routerlab.data.responses import CleanCounts, ResponseLimits, Responses, clean_response
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.data.splits import carve_validation
from routerlab.errors import SchemaError

log = logging.getLogger(__name__)

NAME = "routerbench-0shot-subset"
HOMEPAGE = "https://github.com/shuhao02/RouterDC"
COMMIT = "0e63989c5bf4363330b8a4616386e3f7f116d9f8"
FOLDER = "datasets/routerbench_zs"
UPSTREAM = "https://huggingface.co/datasets/withmartian/routerbench"
LICENSE = "MIT (RouterBench dataset card); the RouterDC repository carries no licence file"
# (file, task from the file name, split), in load order.
FILES: tuple[tuple[str, str, str], ...] = (
    ("arc_challenge_train.csv", "arc-challenge", "train"),
    ("arc_challenge_test.csv", "arc-challenge", "test"),
    ("mbpp_train.csv", "mbpp", "train"),
    ("mbpp_test.csv", "mbpp", "test"),
    ("winograde_train.csv", "winogrande", "train"),
    ("winograde_test.csv", "winogrande", "test"),
)
REQUIRED = ("sample_id", "prompt", "eval_name")
NON_MODEL = {*REQUIRED, "oracle_model_to_route_to"}
RESPONSE, COST = "|model_response", "|total_cost"


@dataclass(frozen=True, slots=True)
class _Table:
    """One CSV file, parsed."""

    fname: str
    split: str
    sample_ids: list[str]
    row_index: list[str]
    texts: list[str]
    sources: list[str]
    models: list[str]
    y: np.ndarray
    cost: np.ndarray
    prompts_not_list: int


def _read_csv(path: Path) -> pd.DataFrame:
    """Read every cell as text (empty cells as ""), so nothing is guessed; a SchemaError if unparseable."""
    try:
        return pd.read_csv(require_file(path), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise csv_read_error(path, exc, fix="Restore the original RouterBench file.") from None


def _model_columns(df: pd.DataFrame, path: Path) -> list[str]:
    """List the quality columns in file order; a SchemaError when a model's quality or cost column is absent."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SchemaError(f"{str(path)!r} has no column {missing[0]!r}; RouterBench files need {list(REQUIRED)}.")
    index_col = df.columns[0] if str(df.columns[0]).startswith("Unnamed") else None
    models = [c for c in df.columns if "|" not in c and c not in NON_MODEL and c != index_col]
    with_cost = [c[: -len(COST)] for c in df.columns if c.endswith(COST)]
    for model in with_cost:
        if model not in models:
            raise SchemaError(
                f"{str(path)!r} has {model + COST!r} but no quality column {model!r}; every model needs "
                f"'<model>' (quality in [0, 1], empty = no outcome) and '<model>{COST}'. Restore the column."
            )
    for model in models:
        if model not in with_cost:
            raise SchemaError(
                f"{str(path)!r} has the quality column {model!r} but no {model + COST!r}; every model needs "
                "its per-call cost in USD. Restore the column (or drop the model from the file)."
            )
    if not models:
        raise SchemaError(f"{str(path)!r} has no model columns; expected RouterBench's wide format.")
    return models


def _numbers(df: pd.DataFrame, column: str, path: Path, kind: str) -> np.ndarray:
    """Parse a column of numbers: "" is NaN; anything else unparseable is a SchemaError naming row and column."""
    text = np.char.strip(df[column].to_numpy(dtype=str))
    filled = text != ""
    values = np.full(len(text), np.nan)
    try:
        values[filled] = text[filled].astype(np.float64)
    except ValueError:
        for i in np.flatnonzero(filled):
            try:
                float(text[i])
            except ValueError:
                raise SchemaError(
                    f"{str(path)!r} row {int(i)} column {column!r} must be a {kind} or empty (no outcome); "
                    f"got {str(text[i])!r}."
                ) from None
    return values


def _prompt_text(cell: str) -> tuple[str, bool]:
    """Join the prompt's turns with newlines; return the raw cell (and False) when it is not a list literal."""
    try:
        turns = ast.literal_eval(cell)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return cell, False
    if isinstance(turns, list) and all(isinstance(t, str) for t in turns):
        return "\n".join(turns), True
    return cell, False


def _read_table(root: Path, fname: str, task: str, split: str) -> _Table:
    path = root / fname
    df = _read_csv(path)
    models = _model_columns(df, path)
    y = np.column_stack([_numbers(df, m, path, "quality in [0, 1]") for m in models])
    cost = np.column_stack([_numbers(df, m + COST, path, "cost in USD") for m in models])
    _check_cells(y, cost, df, models, path)
    prompts = [_prompt_text(p) for p in df["prompt"]]
    index_col = df.columns[0] if str(df.columns[0]).startswith("Unnamed") else None
    return _Table(
        fname=fname,
        split=split,
        sample_ids=df["sample_id"].tolist(),
        row_index=df[index_col].tolist() if index_col else [f"{fname}:{i}" for i in range(len(df))],
        texts=[t for t, _ in prompts],
        sources=[e.strip() or task for e in df["eval_name"]],
        models=models,
        y=y,
        cost=cost,
        prompts_not_list=sum(not ok for _, ok in prompts),
    )


def _check_cells(y: np.ndarray, cost: np.ndarray, df: pd.DataFrame, models: list[str], path: Path) -> None:
    """Check quality in [0, 1], a cost wherever there is an outcome, and costs >= 0."""
    checks = (
        ((y < 0) | (y > 1), "", "quality must be in [0, 1] (empty for no outcome)"),
        (~np.isnan(y) & np.isnan(cost), COST, "is empty but the model has an outcome; every outcome needs its cost"),
        (cost < 0, COST, "cost must be >= 0 USD"),
    )
    for mask, suffix, what in checks:
        if mask.any():
            i, j = np.argwhere(mask)[0]
            raise SchemaError(
                f"{str(path)!r} row {int(i)} (sample_id {df['sample_id'].iloc[i]!r}) column {models[j] + suffix!r}: "
                f"{what}. Got {df[models[j] + suffix].iloc[i]!r}. Restore the original file."
            )


def _align(table: _Table, pool: list[str], root: Path) -> _Table:
    """Reorder ``table``'s model columns as ``pool``; a SchemaError when the files disagree on the models."""
    if table.models == pool:
        return table
    missing = [m for m in pool if m not in table.models]
    extra = [m for m in table.models if m not in pool]
    if missing or extra:
        what = f"lacks the model column {missing[0]!r}" if missing else f"has an extra model column {extra[0]!r}"
        raise SchemaError(
            f"{str(root / table.fname)!r} {what} that {FILES[0][0]} does not; all six files must score the "
            f"same {len(pool)} models. Restore the original files."
        )
    order = [table.models.index(m) for m in pool]
    return dataclasses.replace(table, models=pool, y=table.y[:, order], cost=table.cost[:, order])


def _query_ids(tables: list[_Table]) -> tuple[list[str], list[dict[str, Any]]]:
    """Use ``sample_id``, or ``sample_id#row-index`` for a sample_id on several rows; also list those rows."""
    counts = Counter(s for t in tables for s in t.sample_ids)
    ids: list[str] = []
    split_rows: list[dict[str, Any]] = []
    for t in tables:
        for sid, idx, yrow in zip(t.sample_ids, t.row_index, t.y, strict=True):
            if counts[sid] == 1:
                ids.append(sid)
                continue
            ids.append(f"{sid}#{idx}")
            observed = [m for m, v in zip(t.models, yrow, strict=True) if not np.isnan(v)]
            split_rows.append({"id": ids[-1], "file": t.fname, "observed_models": observed})
    return ids, split_rows


def load_routerbench_subset(root: Path | None, *, val_fraction: float = 0.1, seed: int = 0) -> RoutingData:
    """Load the RouterBench 0-shot rows for ARC-Challenge, MBPP and Winogrande (11 models, real USD costs).

    Origin: https://github.com/shuhao02/RouterDC, commit 0e63989c5bf4363330b8a4616386e3f7f116d9f8,
    ``datasets/routerbench_zs`` (RouterBench data, MIT per its dataset card).

    * ``Y``: the quality columns; an empty cell is NaN (no outcome) -- 154 such cells, all in the
      14 ARC-Challenge sample_ids that RouterBench split over two rows (see the module doc).
    * ``cost``: ``<model>|total_cost`` in USD (``cost_unit="usd"``); a missing cost where there is
      an outcome is a SchemaError (it never happens in these files).
    * ``texts``: the prompt's turns joined with newlines; ``sources`` = ``categories`` = ``eval_name``.
    * ``splits``: train/test from the file name; ``val_fraction`` of train moves to ``"val"`` by a
      hash of the query id (``seed``); test is untouched.
    * ``query_ids``: ``sample_id``, or ``sample_id#<RouterBench row index>`` where a sample_id is on
      several rows. ``oracle_model_to_route_to`` is not loaded; the model responses are read by
      :func:`load_routerbench_responses` (``routerlab.data.load_responses(NAME)``), keyed by the same ids.
    """
    root = require_dir(root, NAME, HOMEPAGE)
    tables = [_read_table(root, f, task, split) for f, task, split in FILES]
    pool = tables[0].models
    tables = [_align(t, pool, root) for t in tables]
    ids, split_rows = _query_ids(tables)
    splits = np.array([t.split for t in tables for _ in t.sample_ids], dtype=object)
    y = np.vstack([t.y for t in tables])
    missing = {t.fname: int(np.isnan(t.y).sum()) for t in tables}
    if sum(missing.values()):
        log.info("%d quality cells are empty (no outcome): %s", sum(missing.values()), missing)
    straddle = _straddling(tables)
    return RoutingData(
        name=NAME,
        query_ids=np.array(ids, dtype=object),
        texts=np.array([x for t in tables for x in t.texts], dtype=object),
        sources=np.array([s for t in tables for s in t.sources], dtype=object),
        splits=carve_validation(ids, splits, val_fraction, seed),
        models=tuple(ModelInfo(name=m, family=model_family(m), params_b=params_from_text(m)) for m in pool),
        Y=y,
        cost=np.vstack([t.cost for t in tables]),
        cost_unit="usd",
        meta={
            "homepage": HOMEPAGE,
            "commit": COMMIT,
            "folder": FOLDER,
            "upstream": UPSTREAM,
            "license": LICENSE,
            "files": {f: f"{FOLDER}/{f}" for f, _, _ in FILES},
            "split_method": "RouterDC's train/test files; val carved from train by a hash of the query id "
            "(routerlab.data.splits.carve_validation); test untouched",
            "val_fraction": val_fraction,
            "seed": seed,
            "cost": "real per-call cost in USD from '<model>|total_cost'; provider prices unknown (None)",
            "missing_cells": missing,
            "cost_missing_with_outcome": 0,
            "split_rows": split_rows,
            "split_rows_note": "RouterBench puts gpt-3.5-turbo-1106's outcome for some ARC-Challenge questions on a "
            "second row (two-turn prompt) with the same sample_id; both rows are kept, each with its own outcomes",
            "sample_ids_in_train_and_test": straddle,
            "prompts_not_list": sum(t.prompts_not_list for t in tables),
            "not_loaded": "oracle_model_to_route_to; model responses: routerlab.data.load_responses(NAME)",
        },
    )


def _straddling(tables: list[_Table]) -> list[str]:
    """List the sample_ids that occur in both a train and a test file."""
    by_split: dict[str, set[str]] = {}
    for t in tables:
        by_split.setdefault(t.split, set()).update(t.sample_ids)
    return sorted(by_split.get("train", set()) & by_split.get("test", set()))


def _response_text(cell: str, limits: ResponseLimits, counts: CleanCounts) -> str | None:
    """A response cell as text: None when empty; RouterBench's ``['...']`` list literal joined; bounded."""
    if cell == "":
        return None
    text = cell
    if len(cell) <= limits.parse_chars:  # literal_eval on unbounded hostile text is not attempted
        joined, ok = _prompt_text(cell)
        text = joined if ok else cell
    return clean_response(text, limits, counts)


def load_routerbench_responses(root: Path | None, *, limits: ResponseLimits | None = None) -> Responses:
    """The ``<model>|model_response`` cells of every row, keyed by :func:`load_routerbench_subset`'s query ids.

    A cell is RouterBench's Python-literal list of the model's output turns (``['B']``), parsed as the
    prompts are and joined with newlines, or kept raw when it is no such literal (or longer than
    ``limits.parse_chars``). An empty cell, or a model without a response column, is None (no response).
    Each file is refused above ``limits.max_file_bytes``; each cell is cut to ``limits.max_chars`` and
    cleaned of control characters (:mod:`routerlab.data.responses`); the counts are in ``meta``.
    RouterBench keeps a response on the rows where a model has no outcome (the 14 split ARC-Challenge
    sample_ids, module doc): it is loaded as written; whether there is an *outcome* is ``RoutingData.Y``'s say.
    """
    limits = limits or ResponseLimits()
    root = require_dir(root, NAME, HOMEPAGE)
    for fname, _, _ in FILES:
        limits.check_file(root / fname)
    tables = [_read_table(root, f, task, split) for f, task, split in FILES]  # the ids, exactly as the loader's
    pool = tables[0].models
    tables = [_align(t, pool, root) for t in tables]
    ids, _ = _query_ids(tables)
    counts = CleanCounts()
    rows: list[list[str | None]] = []
    no_column: set[str] = set()
    for fname, _, _ in FILES:
        df = _read_csv(root / fname)
        columns = []
        for model in pool:
            if model + RESPONSE in df.columns:
                columns.append([_response_text(c, limits, counts) for c in df[model + RESPONSE].tolist()])
            else:
                no_column.add(model)
                columns.append([None] * len(df))
        rows += [list(r) for r in zip(*columns, strict=True)]
    text = np.empty((len(rows), len(pool)), dtype=object)
    for i, r in enumerate(rows):
        text[i, :] = r
    return Responses(
        query_ids=np.array(ids, dtype=object),
        model_names=tuple(pool),
        text=text,
        meta={
            "dataset": NAME,
            "columns": f"'<model>{RESPONSE}'",
            "models_without_column": sorted(no_column),
            "limits": dataclasses.asdict(limits),
            **counts.as_dict(),
        },
    )
