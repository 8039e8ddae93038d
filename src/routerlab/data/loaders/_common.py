"""Parsing helpers the public-benchmark loaders share.

JSON and JSON Lines reading with errors that name the file, line and fix; score dicts that may
be Python-literal strings (parsed with ``ast.literal_eval``, never ``eval``); model family and
size from a name; stable, unique query ids.
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from routerlab._jsonl import parse_json
from routerlab._jsonl import read_jsonl as _read_jsonl
from routerlab.errors import DataNotFoundError, SchemaError


def require_dir(root: Path | None, name: str, homepage: str) -> Path:
    """Return ``root`` as a Path; a DataNotFoundError saying how to point at the files if it is not a folder."""
    if root is None:
        raise DataNotFoundError(
            f"The {name!r} loader needs the folder of the benchmark's original files; pass "
            f"routerlab.data.load({name!r}, path=...) (files from {homepage})."
        )
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"{str(root)!r} is not a folder; point path= at the {name!r} files ({homepage}).")
    return root


def require_file(path: Path, fix: str = "copy it from the benchmark's public repository") -> Path:
    """Return ``path`` if it is a file; raise a DataNotFoundError naming it and ``fix`` otherwise."""
    if not path.is_file():
        raise DataNotFoundError(f"Missing file {str(path)!r}; {fix}.")
    return path


def read_json(path: Path) -> Any:
    """Parse one JSON file; a SchemaError naming the file, line and column if it is not valid UTF-8 JSON.

    A key twice in one object, and nesting too deep for the parser, are errors too (never a silent
    last-value-wins, never a ``RecursionError``); see :func:`routerlab._jsonl.parse_json`.
    """
    return parse_json(
        require_file(path).read_bytes(),
        path=path,
        fix="the file is truncated or edited; restore the original from the benchmark's repository",
    )


def read_json_list(path: Path) -> list[dict[str, Any]]:
    """Read a JSON file whose top level is a list of objects (rows)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise SchemaError(
            f"{str(path)!r} must hold a JSON list of rows; got a {type(data).__name__}. Restore the original file."
        )
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise SchemaError(f"{str(path)!r} row {i} must be a JSON object; got {type(row).__name__}: {row!r:.80}.")
    return data


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per non-empty line; a SchemaError naming the file and line on a bad line.

    Read with :func:`routerlab._jsonl.iter_jsonl`: strict UTF-8, errors name the 1-based line.
    """
    return _read_jsonl(require_file(path), fix="restore the original file (one JSON object per line)")


def require_field(row: Mapping[str, Any], field: str, path: Path, where: str, kind: type | None = None) -> Any:
    """Return ``row[field]``; a SchemaError naming file, row and field when it is absent or of the wrong type."""
    if field not in row:
        raise SchemaError(
            f"{str(path)!r} {where} has no {field!r} field (it has {sorted(row)}). Restore the original file."
        )
    value = row[field]
    if kind is not None and not isinstance(value, kind):
        raise SchemaError(
            f"{str(path)!r} {where} field {field!r} must be a {kind.__name__}; got {type(value).__name__}: "
            f"{value!r:.80}."
        )
    return value


def parse_scores(value: Any, path: Path, where: str) -> dict[str, float]:
    """Parse a ``scores`` field, a dict or its Python-literal string (never ``eval``), to ``{model: float}``.

    ``None`` (or NaN) means no outcome and becomes NaN; anything else that is not a number is a
    SchemaError naming the file, row and model.
    """
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise SchemaError(
                f"{str(path)!r} {where} field 'scores' is a string that is not a dict literal: {value!r:.80}. "
                "It must be {model: score} (as JSON or as a Python-literal string)."
            ) from None
    if not isinstance(value, dict):
        raise SchemaError(
            f"{str(path)!r} {where} field 'scores' must be a dict {{model: score}}; got {type(value).__name__}."
        )
    out: dict[str, float] = {}
    for model, score in value.items():
        if not isinstance(model, str) or not model:
            raise SchemaError(f"{str(path)!r} {where} 'scores' has a non-text model key {model!r}.")
        if score is None:
            out[model] = math.nan
        elif isinstance(score, (int, float)) and not isinstance(score, bool):
            out[model] = float(score)
        else:
            raise SchemaError(
                f"{str(path)!r} {where} scores[{model!r}] must be a number (or null for no outcome); got {score!r:.80}."
            )
    return out


def model_pool(score_dicts: Sequence[Mapping[str, float]]) -> list[str]:
    """List model names in order of first appearance (the first row's key order, then any later keys)."""
    seen: dict[str, None] = {}
    for scores in score_dicts:
        for model in scores:
            seen.setdefault(model, None)
    return list(seen)


def fill_scores(score_dicts: Sequence[Mapping[str, float]], models: Sequence[str]) -> np.ndarray:
    """Stack score dicts as an ``(n_rows, n_models)`` matrix; a model missing from a row is NaN (no outcome)."""
    col = {m: j for j, m in enumerate(models)}
    y = np.full((len(score_dicts), len(models)), np.nan)
    for i, scores in enumerate(score_dicts):
        for model, score in scores.items():
            y[i, col[model]] = score
    return y


# (pattern searched in the lower-cased name without its organisation, family); first match wins.
_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"mixtral|mistral|zephyr", "mistral"),
    (r"gemma", "gemma"),
    (r"qwen", "qwen"),
    (r"llama|wizardlm", "llama"),
    (r"claude", "claude"),
    (r"gpt", "gpt"),
    (r"(^|[^a-z])yi([^a-z]|$)", "yi"),
)


def model_family(name: str) -> str | None:
    """Guess the model family from its name ("qwen", "llama", "gemma", "mistral", "claude", "gpt", "yi").

    Fine-tunes are filed under their base: ``MetaMath-Mistral-7B`` and ``zephyr-7b-beta`` under
    "mistral", ``llama3-chatqa`` and ``WizardLM-13B-V1.2`` under "llama", ``codegemma`` under
    "gemma". An unrecognised name gives its leading word (``palmyra-creative-122b`` -> "palmyra"),
    or None.
    """
    base = name.lower().rsplit("/", 1)[-1]
    for pattern, family in _FAMILIES:
        if re.search(pattern, base):
            return family
    match = re.match(r"[a-z]+", base)
    return match.group(0) if match else None


def params_from_text(text: str | None, *, moe_total: bool = False) -> float | None:
    """Read billions of parameters from a size like "7B" or a name like "Yi-34B-Chat"; None if unclear.

    A mixture written "8x7b" gives None (its total is not stated), unless ``moe_total`` asks for
    experts × expert size (56 for "Mixtral-8x7B"), the cost proxy some benchmarks use.
    """
    if not text:
        return None
    low = text.lower().replace("_", "-")
    moe = re.search(r"(?<![\w.])(\d+)x(\d+(?:\.\d+)?)\s*b(?![a-z])", low)
    if moe:
        return float(moe.group(1)) * float(moe.group(2)) if moe_total else None
    match = re.search(r"(?<![\w.])(\d+(?:\.\d+)?)\s*b(?![a-z])", low)
    return float(match.group(1)) if match else None


def content_id(text: str, length: int = 12) -> str:
    """Return a short, stable id for a text (blake2b hex digest)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()[:length]


def unique_ids(keys: Sequence[str], suffixes: Sequence[str]) -> tuple[list[str], list[int]]:
    """Make ``keys`` unique: a repeated key gets ``-suffix`` (then ``-2``, ``-3``...), in row order.

    Returns the ids and the row positions that had to be disambiguated.
    """
    seen: set[str] = set()
    ids: list[str] = []
    changed: list[int] = []
    for i, (key, suffix) in enumerate(zip(keys, suffixes, strict=True)):
        candidate = key
        if candidate in seen:
            changed.append(i)
            candidate = f"{key}-{suffix}"
            n = 2
            while candidate in seen:
                candidate = f"{key}-{suffix}-{n}"
                n += 1
        seen.add(candidate)
        ids.append(candidate)
    return ids, changed
