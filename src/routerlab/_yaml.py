"""Reading YAML configs for pydantic models, with errors that name the file, the line and the key.

Shared by the collection config (:mod:`routerlab.collect.config`) and the sweep config
(:mod:`routerlab.experiments.sweep`); each passes in its own wording and its own valid keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from routerlab.errors import SchemaError

__all__ = ["describe_errors", "node_at", "read_yaml"]


def read_yaml(path: str | Path, *, what: str, expected: str, empty_ok: bool = False) -> tuple[dict[str, Any], Any]:
    """Read a YAML mapping from ``path``; return it and its composed node tree (for line numbers).

    ``what`` names the config kind in messages (``"Cannot read the {what} config ..."``), ``expected``
    says what the file must hold (``"{path}: a {what} config must be {expected}; got list."``).
    An empty file is ``{}`` when ``empty_ok``, else an error like any other non-mapping.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"Cannot read the {what} config {str(path)!r}: {exc.strerror or exc}.") from None
    try:
        raw = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SchemaError(f"{path}{where}: not valid YAML ({problem}).") from None
    if raw is None and empty_ok:
        raw = {}
    if not isinstance(raw, dict):
        raise SchemaError(f"{path}: a {what} config must be {expected}; got {type(raw).__name__}.")
    return raw, node


def node_at(node: Any, loc: Sequence[Any], *, key: bool) -> Any:
    """Find the YAML node at the pydantic error location ``loc`` (its key node for ``key=True``).

    Where the path leaves the tree (a missing key, an index out of range), the deepest node reached.
    """
    import yaml

    current = node
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, yaml.MappingNode):
            match = next(((k, v) for k, v in current.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                return current
            current = match[0] if (last and key) else match[1]
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(current.value):
            current = current.value[part]
        else:
            return current
    return current


def _no_hint(loc: tuple[Any, ...]) -> str:
    return ""


def describe_errors(
    exc: ValidationError,
    source: str,
    node: Any,
    *,
    what: str,
    valid_keys: Callable[[tuple[Any, ...]], list[str]],
    missing_hint: Callable[[tuple[Any, ...]], str] = _no_hint,
) -> str:
    """One line per validation error: ``{source}, line N: ...`` (the line when ``node`` is given).

    An unknown key lists ``valid_keys(loc)`` and the closest of them; a missing key gets
    ``missing_hint(loc)`` appended (e.g. ``" (or pass --out)"``). Several errors get a head line
    ``Invalid {what} config (N problems):``.
    """
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        where = source
        if node is not None and loc:
            target = node_at(node, loc, key=err["type"] == "extra_forbidden")
            if target is not None:
                where = f"{source}, line {target.start_mark.line + 1}"
        if err["type"] == "extra_forbidden":
            bad = str(loc[-1])
            valid = valid_keys(loc)
            close = difflib.get_close_matches(bad, valid, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            problems.append(f"{where}: unknown key {bad!r} ({dotted}).{hint} Valid keys: {', '.join(valid)}.")
        elif err["type"] == "missing":
            problems.append(f"{where}: the required key {dotted!r} is missing{missing_hint(loc)}.")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            got = "" if err["type"] == "value_error" else f" Got {err.get('input')!r}."  # ours name the value
            problems.append(f"{where}: {dotted}: {msg}.{got}")
    head = f"Invalid {what} config ({len(problems)} problems):" if len(problems) > 1 else ""
    return "\n".join([head, *problems]).strip()
