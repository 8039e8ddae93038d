"""The generic long-format loader: one row per (query, model) → :class:`RoutingData`.

Any table of outcomes can be routed on once it has three columns: the query id, the model and a score in
[0, 1]. :func:`load_long` reads CSV, TSV, Parquet and JSON Lines (by suffix, see
:data:`SUPPORTED_SUFFIXES`; ``.gz`` compressed text too) with pandas/pyarrow and pivots the rows into the
queries × models matrices. :func:`load_file` is what ``routerlab.data.load("path/to/file")`` calls: it
reads a file written by :func:`~routerlab.data.io.write_parquet` as such, and anything else as a long table.

Columns (names of the first seven can be changed with the ``*_col=`` options):

=============== ======================================================================================
query_id        required; the query's id (text)
model           required; the model's name
score           required; quality in [0, 1] (or any range mapped with ``score_scale=(lo, hi)``, which
                keeps the original in ``raw_score``); empty = no outcome (NaN)
cost            per-call cost (``cost_unit``, default ``"usd"``), >= 0. Without a cost column every call
                costs 1 and ``cost_unit="calls"``
text, source    per query: the prompt and the benchmark it comes from (default: the dataset name)
split           per query: train / val / test / ood (dev, valid, validation → val). Without it, a seeded
                hash split of the query ids (:func:`routerlab.data.splits.hash_split`)
category, gold  per query: a finer label than source, and the reference answer
raw_score       the score before mapping to [0, 1]
tokens_in, tokens_out (or a single ``tokens`` → tokens_out), latency / latency_s (seconds)
truncated, parsed   booleans (true/false, 1/0, yes/no; empty = false)
response        ignored except for counting non-empty responses (``meta["n_responses"]``)
=============== ======================================================================================

From the command line (``routerlab data show / evaluate / audit FILE``) the same options are ``--query-col``,
``--model-col``, ``--score-col``, ``--cost-col`` (``none`` for no cost column) and ``--score-scale HI`` or
``LO,HI``; ``--prices FILE`` (``prices=``, :mod:`routerlab.data.prices`) prices ``tokens_in``/``tokens_out`` in USD
per 1M tokens when there is no cost column. A missing column's error suggests the column whose values fit the role.

Rules: (query, model) pairs with no row are missing (NaN). Rows are numbered from 1 in error messages,
not counting a CSV header. Per-query columns must agree on every row of a query (empty cells are
ignored). Duplicate (query, model) rows that are identical in every column read are dropped with a
logged warning (counted in ``meta["duplicate_rows_dropped"]``); duplicates that differ are an error.
Query and model order is the order of first appearance in the file. Every problem is reported as a
:class:`~routerlab.errors.SchemaError` (or :class:`~routerlab.errors.DataNotFoundError`) naming the
column, row and value, with the fix.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab._jsonl import find_bad_utf8, iter_jsonl
from routerlab.data.schema import SPLITS, ModelInfo, RoutingData
from routerlab.data.splits import DEFAULT_FRACTIONS, hash_split
from routerlab.errors import DataNotFoundError, RouterlabError, SchemaError

log = logging.getLogger(__name__)

#: Suffix → format, longest first so that ``.csv.gz`` wins over ``.gz``.
_FORMATS: tuple[tuple[str, str], ...] = (
    (".csv.gz", "csv"),
    (".tsv.gz", "tsv"),
    (".jsonl.gz", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".csv", "csv"),
    (".tsv", "tsv"),
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
)
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(s for s, _ in _FORMATS)
SPLIT_ALIASES: Mapping[str, str] = {"dev": "val", "valid": "val", "validation": "val"}
PER_QUERY = ("text", "source", "category", "split", "gold")
_MISSING_TEXT = {"", "nan", "na", "n/a", "null", "none"}
_TRUE = {"true", "1", "1.0", "yes", "y", "t"}
_FALSE = {"false", "0", "0.0", "no", "n", "f", ""}


# ----------------------------------------------------------------------------- reading
def file_format(path: Path) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``parquet`` from the file name; SchemaError for anything else."""
    lower = path.name.lower()
    for suffix, fmt in _FORMATS:
        if lower.endswith(suffix):
            return fmt
    found = "".join(path.suffixes) or "(none)"
    raise SchemaError(
        f"{str(path)!r} has the unsupported suffix {found!r}; long tables must end in one of "
        f"{', '.join(SUPPORTED_SUFFIXES)}."
    )


def _stem(path: Path) -> str:
    lower = path.name.lower()
    for suffix, _ in _FORMATS:
        if lower.endswith(suffix):
            return path.name[: -len(suffix)] or path.name
    return path.stem


def read_table(path: Path) -> pd.DataFrame:
    """Read the rows of ``path`` into a DataFrame (CSV/TSV cells as text), with clear errors."""
    if not path.exists():
        raise DataNotFoundError(f"No file at {str(path)!r}; check the path.")
    if path.is_dir():
        raise DataNotFoundError(f"{str(path)!r} is a folder; pass the path of one long-format file.")
    fmt = file_format(path)
    if path.stat().st_size == 0:
        raise SchemaError(f"{str(path)!r} is empty (0 bytes); write one row per (query, model) with a header.")
    try:
        df = _read(path, fmt)
    except RouterlabError:
        raise
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{str(path)!r} is empty; write one row per (query, model) with a header.") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise csv_read_error(path, exc, fmt=fmt) from None
    except Exception as exc:  # pandas/pyarrow raise many types for a malformed file
        raise SchemaError(f"{str(path)!r} could not be read as {fmt}: {type(exc).__name__}: {exc}") from None
    if len(df) == 0 and fmt == "jsonl":
        raise SchemaError(f"{str(path)!r} has no rows (only blank lines); write one JSON object per (query, model).")
    if len(df) == 0:
        raise SchemaError(
            f"{str(path)!r} has a header but no rows (columns {list(df.columns)}); add one row per (query, model)."
        )
    df.columns = [str(c).strip() for c in df.columns]
    return df.reset_index(drop=True)


def _read(path: Path, fmt: str) -> pd.DataFrame:
    if fmt in ("csv", "tsv"):
        return pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False)
    if fmt == "jsonl":
        rows = iter_jsonl(path, fix='write one JSON object per line, e.g. {"query_id": "q1", "model": ...}')
        return pd.DataFrame([row for _, row in rows])
    return pd.read_parquet(path)


def csv_read_error(path: Path, exc: Exception, *, fmt: str = "csv", fix: str = "") -> SchemaError:
    """The SchemaError for an error of :func:`pandas.read_csv` on ``path``, naming the line where pandas does not.

    Bad UTF-8 gets the line and column of the first bad byte; an unclosed quote and a row with too many
    fields get their line (pandas counts rows from 0 at the header). ``fix`` is appended.
    """
    tail = f" {fix}" if fix else ""
    if isinstance(exc, UnicodeDecodeError):
        bad = find_bad_utf8(path)
        where = f"{path}, line {bad[0]}" if bad else str(path)
        what = f" (byte 0x{bad[2]:02x} at column {bad[1]})" if bad else ""
        return SchemaError(f"{where}: not valid UTF-8{what}; save the file as UTF-8.{tail}")
    text = str(exc)
    match = re.search(r"EOF inside string starting at row (\d+)", text)
    if match:
        return SchemaError(
            f"{path}, line {int(match.group(1)) + 1}: a quoted field opened on this line is never closed, so it "
            f'runs to the end of the file; close the quote (a quote inside a quoted field is written "").{tail}'
        )
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if match:
        want, lineno, got = match.groups()
        sep = "tabs" if fmt == "tsv" else "commas"
        return SchemaError(
            f"{path}, line {lineno}: {got} fields where the header has {want}; quote cells that contain {sep} "
            f'(e.g. "a, b"), or fix the line.{tail}'
        )
    return SchemaError(f"{str(path)!r} could not be read as {fmt}: {text}.{tail}")


# ----------------------------------------------------------------------------- column roles
@dataclass(frozen=True)
class _Columns:
    """Which column of the file plays which role (None: absent)."""

    query: str
    model: str
    score: str
    cost: str | None
    text: str | None
    source: str | None
    split: str | None
    category: str | None
    gold: str | None
    raw_score: str | None
    tokens_in: str | None
    tokens_out: str | None
    latency: str | None
    truncated: str | None
    parsed: str | None
    response: str | None

    def used(self) -> dict[str, str]:
        """Map role → column for every column in use (the response column excluded)."""
        roles = {k: v for k, v in vars(self).items() if v is not None}
        roles.pop("response", None)
        return roles


#: Column names often used for a role, tried (after close spellings) to suggest a ``*_col=`` option.
_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "query_col": ("qid", "id", "question_id", "prompt_id", "sample_id", "query"),
    "model_col": ("llm", "model_name", "model_id", "engine", "agent"),
    "score_col": ("correct", "accuracy", "acc", "is_correct", "reward", "label", "performance"),
    "cost_col": ("price", "usd", "cost_usd", "dollars"),
    "text_col": ("prompt", "question", "query", "input", "instruction"),
    "source_col": ("dataset", "task", "benchmark", "eval_name"),
    "split_col": ("fold", "subset", "partition"),
}


def _content_fit(values: pd.Series, option: str) -> float:
    """How well a column's values fit a role, in [0, 1].

    Numbers in [0, 1] or [0, 100] for a score, short repeated strings for a model, unique-ish ids for a query.
    """
    blank = _is_blank(values)
    filled = values[~blank]
    if len(filled) == 0:
        return 0.0
    numbers = pd.to_numeric(filled.astype(object).map(str), errors="coerce")
    numeric = float(numbers.notna().mean())
    unique = float(filled.astype(str).nunique() / len(filled))
    if option == "score_col":
        if numeric < 1.0:
            return 0.0
        lo, hi = float(numbers.min()), float(numbers.max())
        return 1.0 if 0 <= lo and hi <= 1 else 0.8 if 0 <= lo and hi <= 100 else 0.3
    if option == "model_col":
        short = float(filled.astype(str).str.len().le(80).mean())
        repeated = 1.0 - (filled.astype(str).nunique() - 1) / len(filled)
        return float((1.0 - numeric) * short * repeated)
    if option == "query_col":
        return float(unique) * (0.5 + 0.5 * float(filled.astype(str).str.len().le(200).mean()))
    return 0.0


def _suggest(
    column: str, option: str, found: list[str], df: pd.DataFrame | None = None, taken: Collection[str] = ()
) -> str:
    """The column most likely meant for ``option``: ranked by content fit, then synonym, then spelling."""
    lower = {c.lower(): c for c in found}
    synonyms = {lower[s] for s in _SYNONYMS.get(option, ()) if s in lower}
    close = set(difflib.get_close_matches(column, found, n=3, cutoff=0.6))
    best, best_score = "...", 0.0
    for c in found:
        if c in taken:
            continue
        fit = _content_fit(df[c], option) if df is not None and option in _CONTENT_ROLES else None
        if fit is not None and fit == 0.0:
            continue
        score = (fit if fit is not None else 0.5) + 0.6 * (c in synonyms) + 0.3 * (c in close)
        if fit is None and not (c in synonyms or c in close):
            continue
        if score > best_score:
            best, best_score = c, score
    return best


#: Roles whose candidates are ranked by content (the others by name only).
_CONTENT_ROLES = ("score_col", "model_col", "query_col")


def cli_flag(option: str) -> str:
    """The command-line flag of a ``*_col`` / ``score_scale`` option: ``score_col`` → ``--score-col``."""
    return "--" + option.replace("_", "-")


def _missing_column(
    path: Path,
    role: str,
    column: str,
    option: str,
    found: list[str],
    df: pd.DataFrame | None = None,
    taken: Collection[str] = (),
) -> SchemaError:
    hint = _suggest(column, option, found, df, taken)
    return SchemaError(
        f"column {column!r} not found in {str(path)!r}; columns are {found}; pass {cli_flag(option)} {hint} "
        f"(Python: {option}={hint!r}) to name the column that holds the {role}."
    )


def _resolve(df: pd.DataFrame, path: Path, options: Mapping[str, str | None]) -> _Columns:
    found = list(df.columns)
    roles: dict[str, str | None] = {}
    required = {
        "query": ("query_col", "query id"),
        "model": ("model_col", "model name"),
        "score": ("score_col", "score"),
    }
    taken = {str(options[o]) for o, _ in required.values() if options[o] in found}
    taken |= {c for c in ("cost", "text", "source", "split", "tokens_in", "tokens_out", "tokens") if c in found}
    for role, (option, what) in required.items():
        column = options[option]
        if not column or column not in found:
            raise _missing_column(path, what, str(column), option, found, df, taken)
        roles[role] = column
    defaults = {"cost_col": "cost", "text_col": "text", "source_col": "source", "split_col": "split"}
    for option, default in defaults.items():
        column = options[option]
        role = option.removesuffix("_col")
        if column is not None and column not in found and column != default:
            raise _missing_column(path, role, column, option, found)
        roles[role] = column if column in found else None
    for role in ("category", "gold", "raw_score", "tokens_in", "tokens_out", "truncated", "parsed", "response"):
        roles[role] = role if role in found else None
    if roles["tokens_out"] is None and "tokens" in found:
        roles["tokens_out"] = "tokens"
    roles["latency"] = next((c for c in ("latency_s", "latency") if c in found), None)
    return _Columns(**roles)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- cell parsing
def _is_blank(values: pd.Series) -> np.ndarray:
    """Flag empty cells: NaN/None, or text such as "", "NA", "null"."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return np.asarray(values.isna(), dtype=bool)
    text = values.astype(object).map(lambda v: "" if v is None else str(v)).str.strip().str.lower()
    return np.asarray(values.isna() | text.isin(_MISSING_TEXT), dtype=bool)


def _ids(values: pd.Series, column: str, path: Path) -> np.ndarray:
    """Query ids / model names as text; an empty cell is an error."""
    blank = _is_blank(values)
    if blank.any():
        row = int(np.flatnonzero(blank)[0]) + 1
        raise SchemaError(f"{str(path)!r}: column {column!r} is empty at row {row}; every row needs a {column}.")

    def as_text(v: Any) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return np.array([as_text(v) for v in values], dtype=object)


def _numbers(values: pd.Series, column: str, path: Path, keys: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Parse a numeric column as float64 (empty cells → NaN); text that is not a number is an error."""
    blank = _is_blank(values)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    parsed = pd.to_numeric(values.where(~blank, None), errors="coerce")
    as_num = np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    bad = ~blank & np.isnan(as_num)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"{str(path)!r}: column {column!r} must hold numbers (query {keys[0][i]!r}, model {keys[1][i]!r}). "
            f"Got {values.iloc[i]!r} at row {i + 1}; fix the value, or leave the cell empty for 'no value'."
        )
    return as_num


def _flags(values: pd.Series, column: str, path: Path) -> np.ndarray:
    text = values.astype(object).map(lambda v: "" if v is None or v is pd.NA else str(v)).str.strip().str.lower()
    text = text.where(~values.isna().to_numpy(), "")
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(
            f"{str(path)!r}: column {column!r} must be true/false (or 1/0, yes/no). "
            f"Got {values.iloc[i]!r} at row {i + 1}."
        )
    return np.asarray(text.isin(_TRUE), dtype=bool)


def _texts(values: pd.Series) -> np.ndarray:
    """Per-query text cells as str, blanks as None."""
    blank = _is_blank(values)
    return np.array([None if b else str(v) for v, b in zip(values, blank, strict=True)], dtype=object)


def _where(keys: tuple[np.ndarray, np.ndarray], i: int) -> str:
    return f"query {keys[0][i]!r}, model {keys[1][i]!r}, row {i + 1}"


# ----------------------------------------------------------------------------- checks
def _scores(
    raw: np.ndarray, column: str, scale: tuple[float, float] | None, keys: tuple[np.ndarray, np.ndarray], path: Path
) -> np.ndarray:
    """Scores mapped to [0, 1]; a value outside the range is an error that suggests ``score_scale``."""
    if scale is None:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = (float(x) for x in scale)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise SchemaError(f"score_scale must be (lo, hi) with finite lo < hi. Got {scale!r}.")
    outside = ~np.isnan(raw) & ((raw < lo) | (raw > hi) | ~np.isfinite(raw))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        fix = (
            "pass --score-scale LO,HI (Python: score_scale=(lo, hi)) to map raw scores linearly to [0, 1], e.g. "
            "--score-scale 100 for percentages or --score-scale 1,10 for 1-10 ratings"
            if scale is None
            else f"widen score_scale (now {scale!r}) or fix the value"
        )
        raise SchemaError(
            f"{str(path)!r}: {column} {float(raw[i])!r} ({_where(keys, i)}) is outside [{lo:g}, {hi:g}]; {fix}."
        )
    return raw if scale is None else (raw - lo) / (hi - lo)


def _non_negative(values: np.ndarray, column: str, keys: tuple[np.ndarray, np.ndarray], path: Path) -> None:
    bad = ~np.isnan(values) & ((values < 0) | ~np.isfinite(values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"{str(path)!r}: {column} must be a finite number >= 0. Got {float(values[i])!r} ({_where(keys, i)})."
        )


def _drop_duplicates(table: pd.DataFrame, path: Path, labels: Mapping[str, str]) -> tuple[pd.DataFrame, int]:
    """Drop rows identical to an earlier row of the same pair; error if a pair's rows differ."""
    pair = ["_query", "_model"]
    dup = table.duplicated(pair, keep=False)
    if not dup.any():
        return table, 0
    values = [c for c in table.columns if c != "_row"]
    distinct = table[dup].drop_duplicates(values)
    conflict = distinct.duplicated(pair, keep=False)
    if conflict.any():
        q, m = distinct.loc[conflict.idxmax(), pair]
        rows = table[(table["_query"] == q) & (table["_model"] == m)]
        differing = [c for c in values if rows[c].nunique(dropna=False) > 1]
        detail = "; ".join(f"{labels.get(c, c)}: {rows[c].tolist()}" for c in differing)
        raise SchemaError(
            f"{str(path)!r}: query {q!r} and model {m!r} appear on rows {rows['_row'].tolist()} with different "
            f"values ({detail}); keep one row per (query, model) pair."
        )
    kept = table.drop_duplicates(values)
    n = len(table) - len(kept)
    log.warning("%s: dropped %d duplicate row(s) identical to an earlier row of the same (query, model)", path, n)
    return kept, n


def _per_query(table: pd.DataFrame, column: str, label: str, path: Path) -> dict[str, str | None]:
    """Map each query to its one value of a per-query column (blank cells ignored); disagreement is an error."""
    values = table[["_query", column, "_row"]]
    filled = values[values[column].notna()]
    distinct = filled.drop_duplicates(["_query", column])
    clash = distinct.duplicated("_query", keep=False)
    if clash.any():
        q = distinct.loc[clash.idxmax(), "_query"]
        rows = filled[filled["_query"] == q].drop_duplicates(column)
        shown = ", ".join(f"row {r} has {v!r}" for r, v in zip(rows["_row"], rows[column], strict=True))
        raise SchemaError(
            f"{str(path)!r}: column {label!r} disagrees between rows of query {q!r} ({shown}); per-query columns "
            f"({', '.join(PER_QUERY)}) must be the same on every row of a query."
        )
    out: dict[str, str | None] = dict.fromkeys(values["_query"].unique(), None)
    out.update(dict(zip(distinct["_query"], distinct[column], strict=True)))
    return out


def _required_text(by_query: dict[str, str | None], label: str, path: Path) -> list[str]:
    empty = [q for q, v in by_query.items() if v is None]
    if empty:
        raise SchemaError(
            f"{str(path)!r}: column {label!r} is empty on every row of query {empty[0]!r} "
            f"({len(empty)} queries in all); fill it, or drop the column."
        )
    return [str(v) for v in by_query.values()]


def _split_values(values: list[str], path: Path) -> tuple[list[str], int]:
    out, aliased = [], 0
    for v in values:
        s = v.strip().lower()
        if s in SPLIT_ALIASES:
            s, aliased = SPLIT_ALIASES[s], aliased + 1
        if s not in SPLITS:
            raise SchemaError(f"{str(path)!r}: split {v!r} is not a known split; use one of {', '.join(SPLITS)}.")
        out.append(s)
    return out, aliased


# ----------------------------------------------------------------------------- assembly
def _parse(df: pd.DataFrame, cols: _Columns, path: Path, scale: tuple[float, float] | None) -> pd.DataFrame:
    """Parse every cell: one output row per input row with _row, _query, _model, numbers, flags, texts."""
    keys = (_ids(df[cols.query], cols.query, path), _ids(df[cols.model], cols.model, path))
    out = pd.DataFrame({"_row": np.arange(1, len(df) + 1), "_query": keys[0], "_model": keys[1]})
    raw = _numbers(df[cols.score], cols.score, path, keys)
    out["_y"] = _scores(raw, cols.score, scale, keys, path)
    if cols.raw_score is not None:
        out["_raw_score"] = _numbers(df[cols.raw_score], cols.raw_score, path, keys)
    elif scale is not None:
        out["_raw_score"] = raw
    for role in ("cost", "tokens_in", "tokens_out", "latency"):
        column = getattr(cols, role)
        if column is not None:
            out[f"_{role}"] = _numbers(df[column], column, path, keys)
            _non_negative(out[f"_{role}"].to_numpy(), column, keys, path)
    for role in ("truncated", "parsed"):
        column = getattr(cols, role)
        if column is not None:
            out[f"_{role}"] = _flags(df[column], column, path)
    for role in PER_QUERY:
        column = getattr(cols, role)
        if column is not None:
            out[f"_{role}"] = _texts(df[column])
    if cols.cost is not None:
        _check_costs_present(out, cols.cost, keys, path)
    return out


def _check_costs_present(table: pd.DataFrame, column: str, keys: tuple[np.ndarray, np.ndarray], path: Path) -> None:
    lacking = table["_cost"].isna().to_numpy() & table["_y"].notna().to_numpy()
    if lacking.any():
        i = int(np.flatnonzero(lacking)[0])
        raise SchemaError(
            f"{str(path)!r}: {column} is empty ({_where(keys, i)}) but the row has a score; give every scored row "
            "a cost, or "
            "pass --cost-col none (Python: cost_col=None) to count calls instead (cost_unit='calls')."
        )


def _matrix(table: pd.DataFrame, column: str, shape: tuple[int, int], fill: Any, dtype: Any) -> np.ndarray:
    out = np.full(shape, fill, dtype=dtype)
    out[table["_qi"].to_numpy(), table["_mi"].to_numpy()] = table[column].to_numpy(dtype=dtype)
    return out


def load_long(
    path: str | Path,
    *,
    name: str | None = None,
    query_col: str = "query_id",
    model_col: str = "model",
    score_col: str = "score",
    cost_col: str | None = "cost",
    text_col: str | None = "text",
    source_col: str | None = "source",
    split_col: str | None = "split",
    score_scale: tuple[float, float] | None = None,
    cost_unit: str = "usd",
    seed: int = 0,
    prices: Mapping[str, tuple[float, float]] | str | Path | None = None,
) -> RoutingData:
    """Read a long table (one row per query × model) into a :class:`RoutingData`; see the module doc.

    ``*_col`` name the columns that hold each role (None turns an optional one off); ``score_scale=(lo, hi)``
    maps raw scores linearly to [0, 1] and keeps them in ``raw_score``; ``cost_unit`` names the unit of the
    cost column; ``seed`` drives the hash split used when there is no split column. ``prices``
    (``{model: (usd_in, usd_out)}`` per 1M tokens, see :mod:`routerlab.data.prices`) prices the token counts of a
    table without a cost column; a priced model that no row uses is listed in ``meta["warnings"]``. ``prices``
    may also be the path of a price file (JSON or YAML, :func:`routerlab.data.prices.read_prices`), as a sweep
    config's ``options: {prices: prices.yaml}`` gives it.
    """
    path = Path(path)
    if isinstance(prices, (str, Path)):  # a file name: never iterated as a mapping of its characters
        from routerlab.data.prices import read_prices

        prices = read_prices(Path(prices))
    elif prices is not None and not isinstance(prices, Mapping):
        raise SchemaError(
            f"prices must be a mapping {{model: [usd_in, usd_out]}} per 1M tokens, or the path of a price file. "
            f"Got a {type(prices).__name__}."
        )
    df = read_table(path)
    options = {
        "query_col": query_col, "model_col": model_col, "score_col": score_col, "cost_col": cost_col,
        "text_col": text_col, "source_col": source_col, "split_col": split_col,
    }  # fmt: skip
    cols = _resolve(df, path, options)
    labels = {f"_{role}": column for role, column in cols.used().items()} | {"_y": cols.score}
    table, n_dropped = _drop_duplicates(_parse(df, cols, path, score_scale), path, labels)
    table["_qi"], queries = pd.factorize(table["_query"])
    table["_mi"], models = pd.factorize(table["_model"])
    shape = (len(queries), len(models))
    name = name or _stem(path)
    per_query = {
        role: _per_query(table, f"_{role}", column, path) for role in PER_QUERY if (column := getattr(cols, role))
    }
    ids = [str(q) for q in queries]
    splits, split_note = _splits(ids, per_query, cols, path, seed)
    matrices = _optional_matrices(table, shape)
    y = _matrix(table, "_y", shape, np.nan, np.float64)
    cost = _matrix(table, "_cost", shape, np.nan, np.float64) if cols.cost else _calls(table, shape)
    unit = cost_unit if cols.cost else "calls"
    meta = _meta(path, df, cols, n_dropped, y, score_scale, split_note, unit)
    if prices is not None:
        cost, unit = _priced(path, cols, [str(m) for m in models], matrices, ~np.isnan(y), prices, meta), "usd"
    columns = _query_columns(per_query, cols, path)
    data = RoutingData(
        name=name,
        query_ids=_objects(ids),
        sources=columns.get("source", _objects([name] * len(ids))),
        categories=columns.get("category"),
        texts=columns.get("text"),
        gold=columns.get("gold"),
        splits=_objects(splits),
        models=tuple(ModelInfo(name=str(m)) for m in models),
        Y=y,
        cost=cost,
        cost_unit=unit,
        meta=meta,
        **matrices,
    )
    log.info("loaded %r from %s", data, path)
    return data


def _priced(
    path: Path,
    cols: _Columns,
    models: list[str],
    matrices: Mapping[str, np.ndarray],
    observed: np.ndarray,
    prices: Mapping[str, tuple[float, float]],
    meta: dict[str, Any],
) -> np.ndarray:
    """Cost from token counts × ``prices``; record the source of the cost and unused prices in ``meta``."""
    from routerlab.data.prices import token_costs

    if cols.cost is not None:
        raise SchemaError(
            f"{str(path)!r} has a cost column {cols.cost!r}, so --prices would be ignored; drop --prices, or pass "
            "--cost-col none (Python: cost_col=None) to price the token counts instead."
        )
    cost, unused = token_costs(
        models, matrices.get("tokens_in"), matrices.get("tokens_out"), observed, prices, where=repr(str(path))
    )
    meta["cost"] = "tokens_in x IN + tokens_out x OUT per 1M tokens, from --prices (usd)"
    if unused:
        meta.setdefault("warnings", []).append(
            f"--prices names {', '.join(map(repr, unused))}, which no row of {path.name} uses (a misspelt model?); "
            f"the models are {', '.join(map(repr, models))}."
        )
    return cost


def _objects(values: list[Any]) -> np.ndarray:
    return np.array(values, dtype=object)


def _query_columns(per_query: Mapping[str, dict[str, str | None]], cols: _Columns, path: Path) -> dict[str, np.ndarray]:
    """Build arrays for the per-query columns present; only ``gold`` may have empty entries."""
    out = {}
    for role, by_query in per_query.items():
        if role == "split":
            continue
        label = str(getattr(cols, role))
        values = list(by_query.values()) if role == "gold" else _required_text(by_query, label, path)
        out[role] = _objects(values)
    return out


#: RoutingData field → role of the column it is built from.
_OPTIONAL_FIELDS = (
    ("raw_score", "raw_score"),
    ("tokens_in", "tokens_in"),
    ("tokens_out", "tokens_out"),
    ("latency_s", "latency"),
    ("truncated", "truncated"),
    ("parsed", "parsed"),
)


def _optional_matrices(table: pd.DataFrame, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Build the optional (n_queries, n_models) matrices present in ``table`` (flags default to False)."""
    out: dict[str, np.ndarray] = {}
    for field, role in _OPTIONAL_FIELDS:
        if f"_{role}" in table.columns:
            flag = field in ("truncated", "parsed")
            out[field] = _matrix(table, f"_{role}", shape, False if flag else np.nan, bool if flag else np.float64)
    return out


def _calls(table: pd.DataFrame, shape: tuple[int, int]) -> np.ndarray:
    """Charge 1 for every (query, model) pair that has a row; NaN elsewhere."""
    out = np.full(shape, np.nan)
    out[table["_qi"].to_numpy(), table["_mi"].to_numpy()] = 1.0
    return out


def _splits(
    ids: list[str], per_query: dict[str, dict[str, str | None]], cols: _Columns, path: Path, seed: int
) -> tuple[list[str], str]:
    if "split" in per_query:
        values, aliased = _split_values(_required_text(per_query["split"], str(cols.split), path), path)
        note = f"from column {cols.split!r}" + (f" ({aliased} dev/valid/validation mapped to val)" if aliased else "")
        return values, note
    splits = hash_split(ids, DEFAULT_FRACTIONS, seed)
    return list(splits), f"seeded hash split, seed={seed}, fractions={dict(DEFAULT_FRACTIONS)} (no split column)"


def _meta(
    path: Path,
    df: pd.DataFrame,
    cols: _Columns,
    n_dropped: int,
    y: np.ndarray,
    scale: tuple[float, float] | None,
    split_note: str,
    cost_unit: str,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "source": {"file": path.name, "format": file_format(path)},
        "n_rows": len(df),
        "columns": cols.used(),
        "duplicate_rows_dropped": n_dropped,
        "missing_cells": int(np.isnan(y).sum()),
        "split": split_note,
        "cost": f"from column {cols.cost!r} ({cost_unit})"
        if cols.cost
        else "no cost column: every call costs 1 (cost_unit='calls')",
    }
    if cols.response is not None:
        meta["n_responses"] = int((~_is_blank(df[cols.response])).sum())
    if scale is not None:
        meta["score_scale"] = [float(scale[0]), float(scale[1])]
        meta["raw_score"] = f"column {cols.score!r} before mapping [{scale[0]:g}, {scale[1]:g}] linearly to [0, 1]"
    elif cols.raw_score is not None:
        meta["raw_score"] = "from column 'raw_score'"
    return meta


def load_file(path: str | Path, **options: Any) -> RoutingData:
    """Load a routerlab Parquet file (written by :func:`~routerlab.data.io.write_parquet`) or else a long table."""
    path = Path(path)
    if _is_routerlab_parquet(path):
        if options:
            raise SchemaError(
                f"{str(path)!r} is a routerlab dataset file; the options {sorted(options)} apply only to long tables."
            )
        from routerlab.data.io import read_parquet

        return read_parquet(path)
    return load_long(path, **options)


def _is_routerlab_parquet(path: Path) -> bool:
    if not path.is_file() or file_format_or_none(path) != "parquet":
        return False
    try:
        import pyarrow.parquet as pq

        metadata = pq.read_schema(path).metadata or {}
    except Exception:  # not readable as Parquet: let load_long report it
        return False
    return b"routerlab" in metadata


def file_format_or_none(path: Path) -> str | None:
    """Return :func:`file_format`, or None for an unsupported suffix."""
    try:
        return file_format(path)
    except SchemaError:
        return None
