"""Reading YAML configs for pydantic models, with errors that name the file, the line and the key.

Shared by the collection config (:mod:`routerlab.collect.config`) and the sweep config
(:mod:`routerlab.experiments.sweep`); each passes in its own wording and its own valid keys.

A config is read as hostile input. YAML is parsed with PyYAML's *safe* loader (plain data only:
a ``!!python/...`` or any other unknown tag is refused), and a file is refused, with a
:class:`~routerlab.errors.SchemaError` that names the file, the limit and the fix, when

* it is larger than :data:`MAX_BYTES` (1 MiB) — configs hold settings; data (queries, prompts)
  belongs in files the config points to;
* it is not UTF-8 (the message gives the line and column of the first bad byte);
* it nests mappings/lists deeper than :data:`MAX_DEPTH` (64 levels), counted *after* aliases are
  expanded, so a nesting bomb is a clear error rather than a ``RecursionError``;
* it uses more than :data:`MAX_ALIASES` (100) aliases (``*name``), or, with aliases expanded, holds
  more than :data:`MAX_NODES` (100,000) values or :data:`MAX_EXPANDED_CHARS` (4 Mi) characters of
  text — a "billion laughs" alias bomb is refused before anything is built from it; an alias that
  refers to the node that contains it (a recursive structure) is refused too;
* a mapping has the same key twice (YAML would silently keep the last value).

Merge keys (``<<: *defaults``) work as usual; a key written after the merge overrides the merged one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from routerlab.errors import SchemaError

__all__ = [
    "MAX_ALIASES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_EXPANDED_CHARS",
    "MAX_NODES",
    "describe_errors",
    "node_at",
    "read_yaml",
]

#: the largest config file read, in bytes
MAX_BYTES = 1024 * 1024
#: the deepest nesting of mappings and lists (after expanding aliases)
MAX_DEPTH = 64
#: the most aliases (``*name``) in one file
MAX_ALIASES = 100
#: the most values (scalars, lists, mappings) in the document once aliases are expanded
MAX_NODES = 100_000
#: the most characters of scalar text in the document once aliases are expanded
MAX_EXPANDED_CHARS = 4 * 1024 * 1024

_MERGE_TAG = "tag:yaml.org,2002:merge"
_FIX_SIZE = "configs hold settings: put large data (queries, prompts, bodies) in a file the config points to"


class _Refused(Exception):
    """Raised inside the loader; :func:`read_yaml` turns it into a SchemaError naming the file."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _line(node_or_event: Any) -> int | None:
    mark = getattr(node_or_event, "start_mark", None)
    return None if mark is None else int(mark.line) + 1


def _make_loader(text: str) -> Any:
    """A PyYAML SafeLoader over ``text`` that counts aliases and depth and refuses duplicate keys."""
    import yaml

    class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    raise _Refused(
                        _line(self.peek_event()),
                        f"more than {MAX_ALIASES} aliases (*name) (the limit MAX_ALIASES); "
                        "write the values out, or use fewer anchors",
                    )
                return super().compose_node(parent, index)
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise _Refused(
                        _line(self.peek_event()),
                        f"nested more than {MAX_DEPTH} levels deep (the limit MAX_DEPTH); flatten the structure",
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if not isinstance(node, yaml.MappingNode):
                return super().construct_mapping(node, deep=deep)
            seen: dict[Any, int | None] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.get(key, -1)
                except TypeError:  # unhashable: PyYAML reports it below
                    continue
                if first != -1:
                    raise _Refused(
                        _line(key_node),
                        f"the key {key!r} appears twice in one mapping (lines {first} and {_line(key_node)}); "
                        "YAML would silently keep the last value: remove one of them",
                    )
                seen[key] = _line(key_node)
            original = list(node.value)
            try:  # flattening merge keys rewrites node.value; keep the tree as written for line numbers
                return super().construct_mapping(node, deep=deep)
            finally:
                node.value = original

    return _Loader(text)


def _check_expansion(root: Any) -> None:
    """Refuse a node graph that, with aliases expanded, is too deep, too large or recursive."""
    import yaml

    memo: dict[int, tuple[int, int, int]] = {}  # id(node) -> (values, characters, height)
    open_nodes: set[int] = set()

    def walk(node: Any, depth: int) -> tuple[int, int, int]:
        key = id(node)
        if key in open_nodes:
            raise _Refused(
                _line(node),
                "an alias refers to the list or mapping that contains it (a recursive structure); remove it",
            )
        if key in memo:
            size = memo[key]
        else:
            if isinstance(node, yaml.ScalarNode):
                size = (1, len(node.value), 0)
            else:
                open_nodes.add(key)
                children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
                n_values, n_chars, height = 1, 0, 0
                for child in children:
                    if depth + 1 > MAX_DEPTH:
                        raise _Refused(
                            _line(child),
                            f"nested more than {MAX_DEPTH} levels deep once aliases are expanded "
                            "(the limit MAX_DEPTH); flatten the structure or use fewer aliases",
                        )
                    c_values, c_chars, c_height = walk(child, depth + 1)
                    n_values, n_chars, height = n_values + c_values, n_chars + c_chars, max(height, c_height + 1)
                open_nodes.discard(key)
                size = (n_values, n_chars, height)
            memo[key] = size
        if depth + size[2] > MAX_DEPTH:
            raise _Refused(
                _line(node),
                f"nested more than {MAX_DEPTH} levels deep once aliases are expanded (the limit MAX_DEPTH); "
                "flatten the structure or use fewer aliases",
            )
        if size[0] > MAX_NODES:
            raise _Refused(
                _line(node),
                f"holds more than {MAX_NODES:,} values, counting each alias (*name) as a copy of what it refers "
                "to (the limit MAX_NODES; an alias bomb?); write the values out once, or use fewer aliases",
            )
        if size[1] > MAX_EXPANDED_CHARS:
            raise _Refused(
                _line(node),
                f"holds more than {MAX_EXPANDED_CHARS:,} characters of text, counting each alias (*name) as a "
                f"copy of what it refers to (the limit MAX_EXPANDED_CHARS; an alias bomb?); {_FIX_SIZE}",
            )
        return size

    if root is not None:
        walk(root, 1)


def _read_text(path: Path, what: str) -> str:
    """The file's text: at most :data:`MAX_BYTES`, strictly UTF-8 (a leading BOM dropped)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SchemaError(f"Cannot read the {what} config {str(path)!r}: {exc.strerror or exc}.") from None
    if len(raw) > MAX_BYTES:
        raise SchemaError(
            f"{path}: the {what} config is larger than {MAX_BYTES:,} bytes (the limit MAX_BYTES of "
            f"routerlab._yaml); {_FIX_SIZE}."
        )
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[raw.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", errors="replace")) + 1
        raise SchemaError(
            f"{path}, line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {column}); "
            "save the config as UTF-8."
        ) from None


def read_yaml(path: str | Path, *, what: str, expected: str, empty_ok: bool = False) -> tuple[dict[str, Any], Any]:
    """Read a YAML mapping from ``path``; return it and its composed node tree (for line numbers).

    ``what`` names the config kind in messages (``"Cannot read the {what} config ..."``), ``expected``
    says what the file must hold (``"{path}: a {what} config must be {expected}; got list."``).
    An empty file is ``{}`` when ``empty_ok``, else an error like any other non-mapping.
    The limits of the module doc apply; breaking one is a SchemaError naming the file, line and fix.
    """
    import yaml

    path = Path(path)
    text = _read_text(path, what)
    loader = None
    try:
        loader = _make_loader(text)
        node = loader.get_single_node()
        _check_expansion(node)
        raw = None if node is None else loader.construct_document(node)
    except _Refused as exc:
        where = f", line {exc.line}" if exc.line is not None else ""
        raise SchemaError(f"{path}{where}: the {what} config is refused: {exc.message}.") from None
    except RecursionError:
        raise SchemaError(
            f"{path}: the {what} config is nested too deeply to read (the limit is {MAX_DEPTH} levels); "
            "flatten the structure."
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SchemaError(
            f"{path}, line {line}: not valid YAML (the character {chr(exc.character)!r} is not allowed in YAML; "
            "remove it, or write it as an escape inside double quotes)."
        ) from None
    except yaml.constructor.ConstructorError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(exc, "problem", None) or exc)
        if "could not determine a constructor for the tag" in problem:
            tag = problem.rsplit(" ", 1)[-1].strip("'")
            raise SchemaError(
                f"{path}{where}: the tag {tag!r} is not allowed; a {what} config holds plain data (mappings, "
                "lists, text, numbers, true/false, null): remove the tag."
            ) from None
        raise SchemaError(f"{path}{where}: not valid YAML ({problem}).") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        problem = f"{context}: {problem}" if context else problem
        raise SchemaError(f"{path}{where}: not valid YAML ({problem}).") from None
    finally:
        if loader is not None:
            loader.dispose()
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
