"""Read a table of answers for scoring: one row per (query, model), as CSV, TSV, JSON Lines or Parquet.

``routerlab score answers.csv --scorer letter`` scores such a table exactly as it scores a collection store:
:func:`read_answer_table` returns the same ``(records, queries)`` pair as
:func:`routerlab.score.store_reader.read_run`, and the rest of the pipeline (worker processes, the
``.scores.jsonl`` checkpoint, resume, the Parquet matrices) is shared.

Columns (a column may be renamed with ``columns={"response": "output"}``, on the command line
``--response-col output`` or ``--col FIELD=COLUMN``):

================================ ==========================================================================
query_id, model                  required; the query's id and the model's name (no empty cell)
response (or response_text)      required; the model's answer. An empty cell is *no answer* (no outcome);
                                 in JSONL/Parquet ``""`` is an empty answer (scored, normally wrong) and
                                 ``null`` is no answer
gold                             required column (its cells may be empty, e.g. for code items); the
                                 reference answer
text, source, split, category    per query: the question, its benchmark (picks the scorer of
                                 ``--scorer src=name``), train/val/test/ood (default test)
choices                          per query: the options of a multiple-choice item, in letter order: a JSON
                                 list (``["Paris", "Rome"]``), or a text cell with the options separated by
                                 ``|`` (``Paris|Rome``); a cell that starts with ``[`` is read as JSON
tests, entry_point, test_setup   per query, code items: HumanEval's ``check`` source or a JSON list of
                                 MBPP ``assert`` lines; the function the tests call; setup code
prompt_tokens (or tokens_in), completion_tokens (or tokens_out), cost_usd (or cost), latency_s
                                 per row, numbers >= 0 (empty: unknown)
finish_reason, truncated, error  per row: ``length`` / true (true/false, 1/0, yes/no) mark a truncated
                                 answer; a non-empty error makes the row *no answer*
================================ ==========================================================================

Other columns are ignored. Rules: every per-query column must be the same on every row of a query (an
empty cell counts as a value); two rows for one (query, model) are an error; queries keep the order of
their first row. A missing required column is an error that suggests the column that fits best, judged by
its name *and its content* (free text looks like answers, short distinct tokens like ids, a handful of
repeated names like models), with the exact flag to pass. Every problem is a
:class:`~routerlab.errors.SchemaError` (or :class:`~routerlab.errors.DataNotFoundError`) naming the file,
the row (1-based, not counting a header) or query, the column and the value.

Several **per-model answer files** (``routerlab score answers/``, one file per model) are read by
:func:`read_answer_tables`: each file with the same column options; the ``model`` column is optional there
(a file without it holds the model named by its file name, ``gpt-4o-mini.csv`` → ``gpt-4o-mini``; a file with
it must hold one model, and the column wins over the file name); two files of one model, or a per-query value
that differs between two files, are errors naming both files.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routerlab._jsonl import read_jsonl
from routerlab.errors import DataNotFoundError, RouterlabError, SchemaError
from routerlab.score.base import ScoreItem

__all__ = [
    "FIELDS",
    "REQUIRED",
    "TABLE_SUFFIXES",
    "answer_files",
    "column_flag",
    "default_name",
    "read_answer_table",
    "read_answer_tables",
    "table_format",
]

#: Suffix → format, longest first so that ``.csv.gz`` wins over ``.gz``.
_FORMATS: tuple[tuple[str, str], ...] = (
    (".csv.gz", "csv"),
    (".tsv.gz", "tsv"),
    (".jsonl.gz", "jsonl"),
    (".csv", "csv"),
    (".tsv", "tsv"),
    (".jsonl", "jsonl"),
    (".parquet", "parquet"),
)
#: The file suffixes read as a table of answers.
TABLE_SUFFIXES: tuple[str, ...] = tuple(s for s, _ in _FORMATS)

#: Field → the column names accepted for it when no column is given for it (first: the canonical name).
FIELDS: Mapping[str, tuple[str, ...]] = {
    "query_id": ("query_id",),
    "model": ("model",),
    "response": ("response", "response_text"),
    "gold": ("gold",),
    "text": ("text",),
    "source": ("source",),
    "split": ("split",),
    "category": ("category",),
    "choices": ("choices",),
    "tests": ("tests",),
    "entry_point": ("entry_point",),
    "test_setup": ("test_setup",),
    "prompt_tokens": ("prompt_tokens", "tokens_in"),
    "completion_tokens": ("completion_tokens", "tokens_out"),
    "cost_usd": ("cost_usd", "cost"),
    "latency_s": ("latency_s",),
    "finish_reason": ("finish_reason",),
    "truncated": ("truncated",),
    "error": ("error",),
}
REQUIRED = ("query_id", "model", "response", "gold")
_PER_QUERY = ("text", "gold", "source", "split", "category", "choices", "tests", "entry_point", "test_setup")
_NUMBERS = ("prompt_tokens", "completion_tokens", "cost_usd", "latency_s")
_DEDICATED_FLAGS = {
    "query_id": "--query-col",
    "model": "--model-col",
    "response": "--response-col",
    "gold": "--gold-col",
}
_WHAT = {
    "query_id": "the query's id",
    "model": "the model's name",
    "response": "the model's answer to score",
    "gold": "the reference answer (cells may be empty, e.g. for code items)",
}
#: Column names often used for a required field (a hint beside the spelling and the content).
_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "query_id": ("id", "qid", "question_id", "prompt_id", "sample_id", "item_id", "task_id", "query", "example_id"),
    "model": ("llm", "model_name", "model_id", "engine", "system", "agent"),
    "response": ("output", "completion", "generation", "prediction", "model_output", "answer_text", "reply"),
    "gold": ("label", "target", "reference", "answer", "gold_answer", "correct_answer", "ground_truth", "solution"),
}
_TRUE = {"true", "1", "1.0", "yes", "y", "t"}
_FALSE = {"false", "0", "0.0", "no", "n", "f"}
_PROFILE_SAMPLE = 5000


def column_flag(field: str) -> str:
    """The command-line flag that names the column of ``field`` (``--response-col`` or ``--col FIELD=``)."""
    return _DEDICATED_FLAGS.get(field, f"--col {field}=")


def _flag_for(field: str, column: str) -> str:
    flag = column_flag(field)
    return f"{flag}{column}" if flag.endswith("=") else f"{flag} {column}"


def table_format(path: Path) -> str | None:
    """``csv``, ``tsv``, ``jsonl`` or ``parquet`` from the file name; ``None`` for any other name."""
    lower = path.name.lower()
    return next((fmt for suffix, fmt in _FORMATS if lower.endswith(suffix)), None)


def _stem(path: Path) -> str:
    lower = path.name.lower()
    suffix = next((s for s, _ in _FORMATS if lower.endswith(s)), path.suffix)
    return path.name[: len(path.name) - len(suffix)] or path.name


# ----------------------------------------------------------------------------- reading the file
def _load(path: Path, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names (in order) and rows (dicts of plain Python values) of the file."""
    if not path.exists():
        raise DataNotFoundError(f"No table of answers at {str(path)!r}; check the path.")
    if path.is_dir():
        raise DataNotFoundError(f"{str(path)!r} is a folder; pass the path of one table of answers.")
    if fmt in ("csv", "tsv"):
        from routerlab.data.longformat import read_table

        df = read_table(path)  # cells as text, header stripped; clear errors for bad UTF-8, quoting, empty files
        columns = [str(c) for c in df.columns]
        rows = [dict(zip(columns, values, strict=True)) for values in df.itertuples(index=False, name=None)]
    elif fmt == "jsonl":
        rows = read_jsonl(path, fix='write one JSON object per line, e.g. {"query_id": "q1", "model": "m", ...}')
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    else:
        columns, rows = _load_parquet(path)
    if not rows:
        raise SchemaError(f"{str(path)!r} has no rows; write one row per (query, model) with a header.")
    return columns, rows


def _load_parquet(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
        if b"routerlab" in metadata:
            raise SchemaError(
                f"{str(path)!r} is a scored routerlab dataset (written by `routerlab score` or "
                "routerlab.data.write_parquet), not a table of answers; give the answers (one row per query and "
                "model) or the collection store."
            )
        table = pq.read_table(path)
    except RouterlabError:
        raise
    except Exception as exc:  # pyarrow raises many types for a malformed file
        raise SchemaError(f"{str(path)!r} could not be read as Parquet: {type(exc).__name__}: {exc}") from None
    return [str(c) for c in table.column_names], table.to_pylist()


# ----------------------------------------------------------------------------- column roles
@dataclass(frozen=True, slots=True)
class _Profile:
    """What the values of one column look like (from up to 5,000 non-empty cells)."""

    n: int
    n_distinct: int
    mean_len: float
    spaces: float  # share of values with whitespace inside
    example: str

    @property
    def text_like(self) -> float:
        """0..1: free text (sentences, paragraphs)."""
        return min(1.0, self.mean_len / 40.0) * 0.6 + self.spaces * 0.4 if self.n else 0.0

    @property
    def token_like(self) -> float:
        """0..1: short single tokens (ids, names, letters)."""
        return (1.0 - self.spaces) * (1.0 if self.mean_len <= 64 else 0.2) if self.n else 0.0

    def describe(self) -> str:
        """A few words about the values, with an example."""
        if not self.n:
            return "they are all empty"
        example = self.example if len(self.example) <= 40 else self.example[:37] + "..."
        if self.text_like >= 0.6:
            kind = f"free text like model answers (mean {self.mean_len:.0f} characters)"
        elif self.n_distinct <= max(2.0, math.sqrt(self.n)) and self.n_distinct < self.n:
            kind = f"a few repeated names ({self.n_distinct} distinct values)"
        elif self.token_like >= 0.8:
            kind = f"short ids ({self.n_distinct} distinct values in {self.n} rows)"
        else:
            kind = f"short text (mean {self.mean_len:.0f} characters)"
        return f"its values look like {kind}, e.g. {example!r}"


def _profile(rows: Sequence[Mapping[str, Any]], column: str) -> _Profile:
    values = [_text(r.get(column)) for r in rows[:_PROFILE_SAMPLE]]
    present = [v for v in values if v is not None]
    if not present:
        return _Profile(0, 0, 0.0, 0.0, "")
    return _Profile(
        n=len(present),
        n_distinct=len(set(present)),
        mean_len=sum(map(len, present)) / len(present),
        spaces=sum(1 for v in present if any(c.isspace() for c in v.strip())) / len(present),
        example=present[0],
    )


def _constant_within(rows: Sequence[Mapping[str, Any]], column: str, query_col: str | None) -> float:
    """Share of queries on whose rows ``column`` holds one value (0.5 when the query column is unknown)."""
    if query_col is None:
        return 0.5
    groups: dict[Any, set[str | None]] = {}
    for r in rows[:_PROFILE_SAMPLE]:
        groups.setdefault(_text(r.get(query_col)), set()).add(_text(r.get(column)))
    multi = [g for q, g in groups.items() if q is not None]
    return sum(1 for g in multi if len(g) == 1) / len(multi) if multi else 0.5


def _content_fit(field: str, p: _Profile, constant: float) -> float:
    """0..1: how well a column's values fit a required field."""
    if not p.n:
        return 0.0
    many = min(1.0, p.n_distinct / max(2.0, math.sqrt(p.n)))
    few = 1.0 if p.n_distinct <= max(2.0, math.sqrt(p.n)) else math.sqrt(p.n) / p.n_distinct
    if field == "response":
        return p.text_like * (0.7 + 0.3 * (1.0 - constant))
    if field == "query_id":
        return p.token_like * (0.4 + 0.3 * many + 0.3 * constant)
    if field == "model":
        return p.token_like * (0.4 + 0.3 * few + 0.3 * (1.0 - constant))
    short = 1.0 if p.mean_len <= 20 else max(0.0, 1.0 - (p.mean_len - 20) / 80)
    return short * (0.4 + 0.6 * constant)  # gold: short, one value per query


def _name_fit(field: str, column: str) -> float:
    lower = column.strip().lower()
    if lower in _SYNONYMS.get(field, ()):
        return 0.9
    return max(difflib.SequenceMatcher(None, lower, name).ratio() for name in FIELDS[field])


def _missing_error(
    path: Path,
    missing: Sequence[str],
    found: Mapping[str, str],
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
) -> SchemaError:
    """One error for every missing required column, each with the best-fitting free column and its flag."""
    query_col = found.get("query_id")
    free = [c for c in columns if c not in found.values()]
    profiles = {c: _profile(rows, c) for c in free}
    fits: list[tuple[float, str, str]] = []
    for field in missing:
        for c in free:
            content = _content_fit(field, profiles[c], _constant_within(rows, c, query_col))
            fits.append((0.6 * content + 0.4 * _name_fit(field, c), field, c))
    chosen: dict[str, tuple[float, str]] = {}
    taken: set[str] = set()
    for score, field, c in sorted(fits, reverse=True):
        if field not in chosen and c not in taken and score >= 0.45:
            chosen[field] = (score, c)
            taken.add(c)
    lines = []
    for field in missing:
        names = " or ".join(repr(n) for n in FIELDS[field])
        line = f"{str(path)!r} has no column {names} ({_WHAT[field]})."
        if field in chosen:
            c = chosen[field][1]
            line += f" Did you mean {c!r}? {profiles[c].describe()}. Pass {_flag_for(field, c)}."
            closest = max(free, key=lambda col: _name_fit(field, col))
            if closest != c and _name_fit(field, closest) > _name_fit(field, c):
                line += f" ({closest!r} has a closer name, but {profiles[closest].describe()}.)"
        else:
            line += f" No column looks like it; name the column with {column_flag(field)}" + (
                "COLUMN." if column_flag(field).endswith("=") else " COLUMN."
            )
        lines.append(line)
    listed = ", ".join(repr(c) for c in columns)
    return SchemaError(" ".join(lines) + f" Columns found: {listed}.")


def _resolve(
    path: Path,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    given: Mapping[str, str],
    required: Sequence[str] = REQUIRED,
) -> dict[str, str]:
    """Field → column of the file, from the given names and the accepted aliases."""
    unknown = [f for f in given if f not in FIELDS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(FIELDS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SchemaError(
            f"--col names the unknown field {unknown[0]!r}.{hint} Fields are: {', '.join(FIELDS)} "
            "(write --col FIELD=COLUMN)."
        )
    present = set(columns)
    out: dict[str, str] = {}
    for field, column in given.items():
        if column not in present:
            close = difflib.get_close_matches(column, list(columns), n=1, cutoff=0.6)
            hint = f" Did you mean {_flag_for(field, close[0])}?" if close else ""
            raise SchemaError(
                f"{_flag_for(field, column)}: {str(path)!r} has no column {column!r}.{hint} "
                f"Columns found: {', '.join(repr(c) for c in columns)}."
            )
        out[field] = column
    for field, names in FIELDS.items():
        if field in out:
            continue
        found = [n for n in names if n in present and n not in out.values()]
        if len(found) > 1:
            raise SchemaError(
                f"{str(path)!r} has both {found[0]!r} and {found[1]!r} for {field!r}; pick one with "
                f"{_flag_for(field, found[0])} (or drop the other column)."
            )
        if found:
            out[field] = found[0]
    twice = [c for c in set(out.values()) if list(out.values()).count(c) > 1]
    if twice:
        fields = [f for f, c in out.items() if c == twice[0]]
        raise SchemaError(
            f"column {twice[0]!r} of {str(path)!r} is given for both {fields[0]!r} and {fields[1]!r}; "
            "a column holds one field."
        )
    missing = [f for f in required if f not in out]
    if missing:
        raise _missing_error(path, missing, out, rows, columns)
    return out


# ----------------------------------------------------------------------------- cells
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _text(value: Any) -> str | None:
    """A cell as text (integral floats without ``.0``, so ids and golds read the same from every format)."""
    if _blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


@dataclass(frozen=True, slots=True)
class _Cells:
    """Parses the cells of one file, with errors that name the file, the row and the column."""

    path: Path
    fmt: str
    cols: Mapping[str, str]

    def where(self, row: int, field: str) -> str:
        return f"{str(self.path)!r}, row {row}, column {self.cols[field]!r}"

    def ident(self, r: Mapping[str, Any], row: int, field: str) -> str:
        value = _text(r.get(self.cols[field]))
        if value is None or not value.strip():
            raise SchemaError(f"{self.where(row, field)} is empty; every row needs {_WHAT[field]}.")
        return value.strip()

    def response(self, r: Mapping[str, Any], row: int) -> str | None:
        value = r.get(self.cols["response"])
        if value == "" and self.fmt in ("jsonl", "parquet"):
            return ""  # an empty answer, not a missing one: JSON and Parquet tell them apart
        if _blank(value):
            return None
        if not isinstance(value, str):
            raise SchemaError(f"{self.where(row, 'response')} must be text (the model's answer). Got {value!r}.")
        return value

    def number(self, r: Mapping[str, Any], row: int, field: str) -> float | None:
        value = r.get(self.cols[field]) if field in self.cols else None
        if _blank(value):
            return None
        try:
            if isinstance(value, bool):
                raise ValueError
            out = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SchemaError(
                f"{self.where(row, field)} must be a number. Got {value!r}; fix it, or leave the cell empty for "
                "'unknown'."
            ) from None
        if not (math.isfinite(out) and out >= 0):
            raise SchemaError(f"{self.where(row, field)} must be a finite number >= 0. Got {value!r}.")
        return out

    def flag(self, r: Mapping[str, Any], row: int) -> bool | None:
        value = r.get(self.cols["truncated"]) if "truncated" in self.cols else None
        if _blank(value):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise SchemaError(f"{self.where(row, 'truncated')} must be true/false (or 1/0, yes/no). Got {value!r}.")

    def plain(self, r: Mapping[str, Any], field: str) -> str | None:
        return _text(r.get(self.cols[field])) if field in self.cols else None

    def choices(self, r: Mapping[str, Any], row: int) -> tuple[str, ...] | None:
        value = r.get(self.cols["choices"]) if "choices" in self.cols else None
        if _blank(value):
            return None
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise SchemaError(
                    f"{self.where(row, 'choices')} starts with '[' but is not a JSON list ({exc.msg}); write a JSON "
                    'list such as ["Paris", "Rome"], or the options separated by | (Paris|Rome).'
                ) from None
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split("|"))
        if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
            return tuple(str(v) for v in value)
        raise SchemaError(
            f"{self.where(row, 'choices')} must be a list of option texts (JSON list or a|b|c). Got {value!r}."
        )

    def tests(self, r: Mapping[str, Any], row: int) -> str | tuple[str, ...] | None:
        value = r.get(self.cols["tests"]) if "tests" in self.cols else None
        if _blank(value):
            return None
        if isinstance(value, str):
            s = value.strip()
            if s.startswith("[") and s.endswith("]"):
                try:
                    loaded = json.loads(s)
                except json.JSONDecodeError:
                    return value  # Python source that happens to be bracketed
                if isinstance(loaded, list):
                    return tuple(str(t) for t in loaded)
            return value
        if isinstance(value, list | tuple):
            return tuple(str(t) for t in value)
        raise SchemaError(f"{self.where(row, 'tests')} must be test code or a list of assert lines. Got {value!r}.")


def _shown(value: Any) -> str:
    if value is None:
        return "(empty)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True, slots=True)
class _Read:
    """The records of one file and, per query, each per-query field's value with the row it was first read on."""

    cells: _Cells
    records: list[dict[str, Any]]
    per_query: dict[str, dict[str, tuple[Any, int]]]


def _read(path: Path, columns: Mapping[str, str], *, per_model: bool) -> _Read:
    """Read one file; with ``per_model`` the file holds one model, named by its ``model`` column or its stem."""
    fmt = table_format(path)
    if fmt is None:
        raise SchemaError(
            f"{str(path)!r} is not a table of answers: its name must end in one of {', '.join(TABLE_SUFFIXES)}."
        )
    names, rows = _load(path, fmt)
    required = tuple(f for f in REQUIRED if not (per_model and f == "model"))
    cells = _Cells(path, fmt, _resolve(path, names, rows, dict(columns), required))
    stem_model = _stem(path) if per_model and "model" not in cells.cols else None
    records: list[dict[str, Any]] = []
    first_row: dict[tuple[str, str], int] = {}
    dups: list[str] = []
    per_query: dict[str, dict[str, tuple[Any, int]]] = {}
    for row, r in enumerate(rows, start=1):
        qid = cells.ident(r, row, "query_id")
        model = stem_model if stem_model is not None else cells.ident(r, row, "model")
        if per_model and records and model != records[0]["model"]:
            raise SchemaError(
                f"{cells.where(row, 'model')} is {model!r} but row 1 is {records[0]['model']!r}: a file among "
                "several per-model answer files holds the answers of one model. Split the file by model, or "
                "score it alone as one table of answers."
            )
        if (qid, model) in first_row:
            dups.append(f"({qid!r}, {model!r}) on rows {first_row[qid, model]} and {row}")
            continue
        first_row[qid, model] = row
        error = cells.plain(r, "error")
        records.append(
            {
                "query_id": qid,
                "model": model,
                "response_text": cells.response(r, row),
                "finish_reason": cells.plain(r, "finish_reason"),
                "truncated": cells.flag(r, row),
                "prompt_tokens": cells.number(r, row, "prompt_tokens"),
                "completion_tokens": cells.number(r, row, "completion_tokens"),
                "latency_s": cells.number(r, row, "latency_s"),
                "cost_usd": cells.number(r, row, "cost_usd"),
                "error": error if error is not None and error.strip() else None,
            }
        )
        values: dict[str, Any] = {f: cells.plain(r, f) for f in _PER_QUERY if f not in ("choices", "tests")}
        values["choices"], values["tests"] = cells.choices(r, row), cells.tests(r, row)
        known = per_query.get(qid)
        if known is None:
            per_query[qid] = {f: (v, row) for f, v in values.items()}
            continue
        for f, v in values.items():
            old, old_row = known[f]
            if v != old:
                raise SchemaError(
                    f"{str(path)!r}: query {qid!r} has two different {cells.cols.get(f, f)!r} values: "
                    f"{_shown(old)} (row {old_row}) and {_shown(v)} (row {row}); a per-query column must be the "
                    "same on every row of a query. Fix the table, or give the two questions different query ids."
                )
    if dups:
        shown = "; ".join(dups[:5]) + ("; ..." if len(dups) > 5 else "")
        raise SchemaError(
            f"{str(path)!r}: {len(dups)} (query, model) pairs have more than one row: {shown}. "
            "Keep one row per (query, model) (e.g. the last successful attempt)."
        )
    return _Read(cells, records, per_query)


def read_answer_table(
    path: str | Path, *, columns: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, ScoreItem]]:
    """``(records, queries)`` of a table of answers, the shape :func:`~routerlab.score.store_reader.read_run` gives.

    Args:
        path: a ``.csv``, ``.tsv``, ``.jsonl`` (``.gz`` too) or ``.parquet`` file, one row per (query, model).
        columns: field → column of the file, for columns not named as in the module doc (e.g.
            ``{"response": "output"}``).

    Records carry the keys of :data:`routerlab.score.build.RECORD_KEYS`; queries map each id to its
    :class:`~routerlab.score.base.ScoreItem`, in order of first appearance. See the module doc for the rules.

    """
    read = _read(Path(path), dict(columns or {}), per_model=False)
    queries = {qid: _item(qid, {f: v for f, (v, _) in fields.items()}) for qid, fields in read.per_query.items()}
    return read.records, queries


def answer_files(folder: str | Path) -> list[Path]:
    """The tables of answers in ``folder`` (not its sub-folders, not hidden files), sorted by name.

    Other files (a ``prices.yaml``, a README) are skipped; a folder with no table is a
    :class:`~routerlab.errors.DataNotFoundError`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataNotFoundError(f"No folder of answer files at {str(folder)!r}; check the path.")
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and table_format(p) is not None
    )
    if not files:
        raise DataNotFoundError(
            f"{str(folder)!r} holds no table of answers: give one file per model named MODEL.csv (or .tsv, .jsonl, "
            f".parquet, {', '.join(s for s in TABLE_SUFFIXES if s.endswith('.gz'))})."
        )
    return files


def read_answer_tables(
    paths: Sequence[str | Path], *, columns: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, ScoreItem]]:
    """``(records, queries)`` of several per-model answer files (one model per file), as :func:`read_answer_table`.

    Args:
        paths: the files, each read with the same ``columns``; see :func:`answer_files` for a folder.
        columns: field → column, as for :func:`read_answer_table`.

    A file's model is its ``model`` column (``--model-col``) when it has one, which must then hold a single
    name (the column wins over the file name, so ``run-3.csv`` may hold ``gpt-4o-mini``); otherwise the
    file's name without its suffix (``answers/gpt-4o-mini.csv`` → ``gpt-4o-mini``). Two files that give the
    same model are an error naming both. Per-query fields (question, gold, source, split, ...) must agree
    across files: a difference is an error naming the query, both values and both files with their rows.
    Queries keep the order of first appearance, files taken in the given order.

    """
    if not paths:
        raise DataNotFoundError("No answer files given; pass a folder of per-model files or the files themselves.")
    given = dict(columns or {})
    records: list[dict[str, Any]] = []
    per_query: dict[str, dict[str, tuple[Any, Path, int]]] = {}
    model_file: dict[str, Path] = {}
    for path in map(Path, paths):
        read = _read(path, given, per_model=True)
        model = str(read.records[0]["model"])
        if model in model_file:
            how = f"its {read.cells.cols['model']!r} column" if "model" in read.cells.cols else "its file name"
            raise SchemaError(
                f"{str(path)!r} holds model {model!r} (from {how}), and so does {str(model_file[model])!r}: "
                "give one file per model (rename or merge the two files, or fix the model column)."
            )
        model_file[model] = path
        records.extend(read.records)
        for qid, fields in read.per_query.items():
            known = per_query.get(qid)
            if known is None:
                per_query[qid] = {f: (v, path, row) for f, (v, row) in fields.items()}
                continue
            for f, (v, row) in fields.items():
                old, old_path, old_row = known[f]
                if v != old:
                    raise SchemaError(
                        f"query {qid!r} has two different {read.cells.cols.get(f, f)!r} values: {_shown(old)} "
                        f"({str(old_path)!r}, row {old_row}) and {_shown(v)} ({str(path)!r}, row {row}); a per-query "
                        "column must be the same in every model's file. Fix the files, or give the two questions "
                        "different query ids."
                    )
    queries = {qid: _item(qid, {f: v for f, (v, _, _) in fields.items()}) for qid, fields in per_query.items()}
    return records, queries


def _item(qid: str, v: Mapping[str, Any]) -> ScoreItem:
    return ScoreItem(
        text=v["text"] or "",
        gold=v["gold"],
        choices=v["choices"],
        tests=v["tests"],
        entry_point=v["entry_point"],
        test_setup=v["test_setup"],
        source=v["source"] or "",
        split=v["split"] or "test",
        query_id=qid,
        category=v["category"],
    )


def default_name(path: Path) -> str:
    """The file's name without its table suffix (``answers.csv.gz`` → ``answers``)."""
    return _stem(path)
