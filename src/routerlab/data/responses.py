"""Model responses aligned with a :class:`~routerlab.data.schema.RoutingData`: the answer text of each (query, model).

Offline cascades (`routing-plateau.txt` (arXiv:2606.07587) §2 lists FrugalGPT-style cascades) score a model's
*answer* before deciding whether to escalate, so they need what each model wrote, not only whether it was
right. Benchmarks that hold every model's response (RouterBench's ``<model>|model_response``, RouteLLM's
``<model>_response``) expose it through a loader registered as ``DatasetSpec.responses``;
:func:`load_responses` calls it and :meth:`Responses.aligned` lines the texts up with a RoutingData's
queries and models.

Conventions
-----------
* ``text[q, m]`` is a ``str`` or ``None``; **None means "no response"** (no column for that model, an empty
  cell, a query the file does not hold). A missing response is never ``""``: an empty answer the model
  really gave stays ``""`` only where the file says so (e.g. RouterBench's ``['']``).
* Responses are untrusted text. :class:`ResponseLimits` bounds what is kept: each file is refused above
  ``max_file_bytes`` (pandas holds a whole cell in memory, so the file size is the bound on what is read),
  each cell is cut to ``max_chars`` characters, and C0/C1 control characters other than newline and tab
  become spaces. How many cells were cut or cleaned is recorded in ``meta``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError

#: C0 and C1 control characters except tab (\x09) and newline (\x0a); \r is folded too
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    """Bounds on untrusted response text (module doc).

    ``max_chars`` characters are kept per cell (the scorer reads at most that much of an answer);
    ``max_file_bytes`` refuses a file before it is parsed; ``parse_chars`` bounds the cells a loader may
    parse as a Python literal (RouterBench stores ``['answer']``), longer cells are kept raw.
    """

    max_chars: int = 8_000
    max_file_bytes: int = 512 * 1024 * 1024
    parse_chars: int = 65_536

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_file_bytes", "parse_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SchemaError(f"ResponseLimits.{name} must be a positive integer. Got {value!r}.")

    def check_file(self, path: Path) -> Path:
        """``path``, or a SchemaError when it is larger than ``max_file_bytes``."""
        size = path.stat().st_size
        if size > self.max_file_bytes:
            raise SchemaError(
                f"{str(path)!r} is {size:,} bytes, above the {self.max_file_bytes:,}-byte bound on response files; "
                "check the file is the benchmark's original, or raise ResponseLimits(max_file_bytes=...)."
            )
        return path


@dataclass
class CleanCounts:
    """How many cells :func:`clean_response` cut or cleaned (a loader's running tally)."""

    truncated: int = 0
    control: int = 0

    def as_dict(self) -> dict[str, int]:
        """``{"truncated": ..., "control_cleaned": ...}`` for ``meta``."""
        return {"truncated": self.truncated, "control_cleaned": self.control}


def clean_response(text: str, limits: ResponseLimits, counts: CleanCounts | None = None) -> str:
    """``text`` cut to ``limits.max_chars`` with control characters (not newline, tab) turned into spaces."""
    if len(text) > limits.max_chars:
        text = text[: limits.max_chars]
        if counts is not None:
            counts.truncated += 1
    text = text.replace("\r\n", "\n")  # Windows line ends are line ends, not control noise
    cleaned = _CONTROL.sub(" ", text)
    if counts is not None and cleaned != text:
        counts.control += 1
    return cleaned


def _text_matrix(value: Any, shape: tuple[int, int]) -> np.ndarray:
    arr = np.empty(shape, dtype=object)
    src = np.asarray(value, dtype=object)
    if src.shape != shape:
        raise SchemaError(f"Responses.text has shape {src.shape}; it must be {shape} (queries × models).")
    for (q, m), v in np.ndenumerate(src):
        if v is not None and not isinstance(v, str):
            raise SchemaError(
                f"Responses.text[{q}, {m}] must be a string or None (no response). Got {type(v).__name__}."
            )
        arr[q, m] = v
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class Responses:
    """The answer text of each (query, model); None where there is no response (module doc)."""

    query_ids: np.ndarray
    model_names: tuple[str, ...]
    text: np.ndarray
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = np.array([str(i) for i in self.query_ids], dtype=object)
        if len(set(ids.tolist())) != len(ids):
            raise SchemaError("Responses.query_ids must be unique; one row of responses per query.")
        names = tuple(str(m) for m in self.model_names)
        if len(set(names)) != len(names):
            raise SchemaError(f"Responses.model_names must be unique. Got {names}.")
        object.__setattr__(self, "query_ids", ids)
        object.__setattr__(self, "model_names", names)
        object.__setattr__(self, "text", _text_matrix(self.text, (len(ids), len(names))))
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def n_queries(self) -> int:
        """Number of rows (queries)."""
        return len(self.query_ids)

    @property
    def missing(self) -> np.ndarray:
        """True where there is no response."""
        flat = [v is None for v in self.text.ravel().tolist()]
        return np.array(flat, dtype=bool).reshape(self.text.shape)

    def subset(self, rows: np.ndarray | Sequence[int]) -> Responses:
        """The rows ``rows`` (indices), in that order."""
        idx = np.asarray(rows, dtype=np.intp)
        return Responses(self.query_ids[idx], self.model_names, self.text[idx], self.meta)

    def aligned(self, data: RoutingData) -> Responses:
        """These responses re-ordered as ``data``'s queries and models; None where this table has no entry.

        A query or model of ``data`` absent here gets None (no response), never ``""``; the counts are in
        ``meta["aligned"]``. When *no* query id matches, the tables describe different data: a SchemaError.
        """
        row_of = {q: i for i, q in enumerate(self.query_ids.tolist())}
        col_of = {m: j for j, m in enumerate(self.model_names)}
        rows = np.array([row_of.get(str(q), -1) for q in data.query_ids], dtype=np.intp)
        cols = np.array([col_of.get(m, -1) for m in data.model_names], dtype=np.intp)
        if data.n_queries and not (rows >= 0).any():
            raise SchemaError(
                f"None of {data.name!r}'s {data.n_queries} query ids is among the responses' ids (e.g. "
                f"{str(data.query_ids[0])!r} vs {str(self.query_ids[0]) if self.n_queries else 'none'!r}); load the "
                "responses of the same dataset (routerlab.data.load_responses(data.name))."
            )
        out = np.full((data.n_queries, data.n_models), None, dtype=object)
        hit = (rows >= 0)[:, None] & (cols >= 0)[None, :]
        if hit.any():
            r, c = np.nonzero(hit)
            out[r, c] = self.text[rows[r], cols[c]]
        meta = {
            **self.meta,
            "aligned": {
                "dataset": data.name,
                "queries_without_row": int((rows < 0).sum()),
                "models_without_column": [m for m, j in zip(data.model_names, cols, strict=True) if j < 0],
            },
        }
        return Responses(data.query_ids, tuple(data.model_names), out, meta)

    def column(self, model: str) -> np.ndarray:
        """The responses of ``model`` (one per query, None where missing)."""
        if model not in self.model_names:
            raise SchemaError(f"No responses for model {model!r}; models: {', '.join(self.model_names)}.")
        col: np.ndarray = self.text[:, self.model_names.index(model)]
        return col


def load_responses(
    name: str, path: str | Path | None = None, *, limits: ResponseLimits | None = None, download: bool = False
) -> Responses:
    """The responses of the registered benchmark ``name`` (all its rows), from its ``DatasetSpec.responses`` loader.

    ``path`` and ``download`` find the files as :func:`routerlab.data.load` does; align the result with
    a loaded RoutingData by :meth:`Responses.aligned`. A benchmark without responses is a SchemaError.
    """
    from routerlab.data.registry import DATASETS, resolve_dataset_dir

    spec = DATASETS.get(name)
    if spec.responses is None:
        with_responses = sorted(n for n in DATASETS.names() if DATASETS.get(n).responses is not None)
        raise SchemaError(
            f"Dataset {name!r} holds no model responses (its loader reads only outcomes and costs); datasets with "
            f"responses: {', '.join(with_responses)}."
        )
    import importlib

    module, _, attr = spec.responses.partition(":")
    fn = getattr(importlib.import_module(module), attr)
    root = resolve_dataset_dir(spec, path, download)
    out: Responses = fn(root, limits=limits or ResponseLimits())
    return out
