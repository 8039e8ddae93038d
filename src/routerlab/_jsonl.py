"""Reading JSON Lines (and locating errors in other text files) as hostile input; canonical JSON.

Every JSONL reader of routerlab goes through :func:`iter_jsonl` (or :func:`parse_line` for a file
already in memory). A file is read in binary, one line at a time (``.gz`` files decompressed on the
fly); each line is decoded as UTF-8 *strictly* and parsed with :func:`json.loads`. Every problem is a
:class:`~routerlab.errors.SchemaError` that names the file, the 1-based line and, where it helps, the
column, followed by the caller's fix:

* bad UTF-8: ``runs.jsonl, line 7: not valid UTF-8 (byte 0xff at column 12); ...``
* bad JSON: ``q.jsonl, line 3: not valid JSON (Expecting ',' delimiter at column 18); ...``
* a key twice in one object (JSON would silently keep the last value), a line that is not an object
  (where objects are required), nesting too deep for the parser (``[[[[...``: a clear error, never a
  ``RecursionError``), and a line longer than :data:`MAX_LINE_BYTES` (64 MiB; such a "line" is
  usually a whole JSON file, or binary data, given where JSON Lines were expected).

Blank lines are skipped (they still count in line numbers); a UTF-8 byte-order mark on the first line
is dropped. :func:`parse_json` reads a whole JSON document the same way (line and column of the
error). :func:`find_bad_utf8` gives the line and column of the first bad byte of any text file,
for readers (pandas' CSV) whose own errors give only a byte offset. :func:`canonical_json` is the
one deterministic encoding that keys and hashes are computed from.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from routerlab.errors import DataNotFoundError, SchemaError

__all__ = [
    "MAX_LINE_BYTES",
    "DuplicateKeyError",
    "canonical_json",
    "find_bad_utf8",
    "iter_jsonl",
    "loads",
    "parse_json",
    "parse_line",
    "read_jsonl",
]

#: the longest line read from a JSON Lines file, in bytes
MAX_LINE_BYTES = 64 * 1024 * 1024


class DuplicateKeyError(ValueError):
    """A JSON object has the same key twice (raised by :func:`loads`)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears twice in one object")
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return out


def canonical_json(value: Any, *, ascii_only: bool = False, fallback: Callable[[Any], Any] | None = None) -> str:
    """Deterministic JSON for keys and hashes: sorted keys, no spaces, no NaN (``ValueError``).

    Non-ASCII text is kept as UTF-8 unless ``ascii_only`` (then escaped, as :func:`json.dumps` does by
    default), which keeps the digests already recorded by callers that hashed that form unchanged.
    ``fallback`` encodes values JSON has no type for (the sweep's run keys use ``repr``); without
    it they are a ``TypeError``.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only, allow_nan=False, default=fallback
    )


def loads(text: str) -> Any:
    """:func:`json.loads`, but a key twice in one object raises :class:`DuplicateKeyError`."""
    return json.loads(text, object_pairs_hook=_no_duplicates)


def _column(raw: bytes, offset: int) -> int:
    """The 1-based character column of byte ``offset`` in the line ``raw``."""
    return len(raw[:offset].decode("utf-8", errors="replace")) + 1


def parse_line(raw: bytes, *, path: str | Path, lineno: int, fix: str, objects: bool = True) -> Any:
    """Decode one line (bytes, without or with its newline) as strict UTF-8 JSON; SchemaError naming the line.

    ``fix`` ends every message (e.g. ``"restore the original file (one JSON object per line)"``); with
    ``objects`` the line must hold a JSON object.
    """
    where = f"{path}, line {lineno}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"{where}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {_column(raw, exc.start)}); {fix}."
        ) from None
    text = text.rstrip("\r\n")  # so that an error at the end of the line has a column on this line
    if lineno == 1:
        text = text.removeprefix("\ufeff")
    try:
        value = loads(text)
    except DuplicateKeyError as exc:
        raise SchemaError(
            f"{where}: the key {exc.key!r} appears twice in one object (JSON would silently keep the last "
            f"value); remove one of them. {fix[:1].upper()}{fix[1:]}."
        ) from None
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); {fix}.") from None
    except RecursionError:
        raise SchemaError(
            f"{where}: the JSON is nested too deeply to read (thousands of levels of [ or {{); {fix}."
        ) from None
    if objects and not isinstance(value, dict):
        raise SchemaError(f"{where}: must be a JSON object {{...}}; got a {type(value).__name__}; {fix}.")
    return value


def parse_json(raw: bytes, *, path: str | Path, fix: str) -> Any:
    """Parse a whole JSON document (bytes) strictly; a SchemaError naming the file, line and column, then ``fix``."""
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        start = raw.rfind(b"\n", 0, exc.start) + 1
        column = _column(raw[start:], exc.start - start)
        raise SchemaError(
            f"{path}, line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {column}); {fix}."
        ) from None
    try:
        return loads(text)
    except DuplicateKeyError as exc:
        raise SchemaError(
            f"{path}: the key {exc.key!r} appears twice in one object (JSON would silently keep the last value); {fix}."
        ) from None
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"{path}, line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno}); {fix}."
        ) from None
    except RecursionError:
        raise SchemaError(
            f"{path}: the JSON is nested too deeply to read (thousands of levels of [ or {{); {fix}."
        ) from None


def _open(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def iter_jsonl(
    path: str | Path, *, fix: str, objects: bool = True, max_line_bytes: int | None = None
) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, value)`` for every non-blank line of the JSONL file ``path`` (see the module doc).

    A missing file is a :class:`~routerlab.errors.DataNotFoundError`; every other problem a SchemaError
    naming the file and line, ending in ``fix``. ``max_line_bytes`` defaults to :data:`MAX_LINE_BYTES`.
    """
    limit = MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes
    path = Path(path)
    try:
        fh = _open(path)
    except FileNotFoundError:
        raise DataNotFoundError(f"No file at {str(path)!r}; check the path.") from None
    except OSError as exc:
        raise SchemaError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    with fh:
        lineno = 0
        while True:
            try:
                raw = fh.readline(limit + 1)
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise SchemaError(
                    f"{path}, after line {lineno}: not a readable gzip file ({exc}); re-compress it, or drop "
                    "the .gz suffix if it is plain text."
                ) from None
            except IsADirectoryError:
                raise DataNotFoundError(f"{str(path)!r} is a folder; pass the path of one JSONL file.") from None
            except OSError as exc:
                raise SchemaError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
            if not raw:
                return
            lineno += 1
            if len(raw) > limit:
                raise SchemaError(
                    f"{path}, line {lineno}: longer than {limit:,} bytes (the limit MAX_LINE_BYTES of "
                    "routerlab._jsonl); JSON Lines holds one record per line — is this a JSON file or binary data "
                    f"rather than JSON Lines? {fix[:1].upper()}{fix[1:]}."
                )
            if not raw.strip():
                continue
            yield lineno, parse_line(raw, path=path, lineno=lineno, fix=fix, objects=objects)


def read_jsonl(path: str | Path, *, fix: str) -> list[dict[str, Any]]:
    """Every non-blank line of ``path`` as a JSON object (see :func:`iter_jsonl`)."""
    return [row for _, row in iter_jsonl(path, fix=fix, objects=True)]


def find_bad_utf8(path: str | Path) -> tuple[int, int, int] | None:
    """``(line, column, byte)`` of the first byte of ``path`` that is not valid UTF-8, or None (1-based)."""
    path = Path(path)
    try:
        with _open(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return lineno, _column(raw, exc.start), raw[exc.start]
    except (OSError, EOFError, zlib.error):
        return None
    return None
