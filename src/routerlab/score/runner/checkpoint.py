"""The ``*.scores.jsonl`` details file as a checkpoint: read back when opened, a line per score, rewritten at the end.

One JSON line per (query, model) record: :meth:`~routerlab.score.build.ScoredRecord.to_dict`. Lines are
appended and flushed one at a time, so a killed run loses only what it was still scoring; a last line cut
short by the kill is dropped when the file is opened again (and cut off, so the next line is not glued to
it). A later line for a record replaces an earlier one. The file is locked while a run writes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from routerlab._files import atomic_write
from routerlab.errors import RouterlabError

if TYPE_CHECKING:
    from routerlab.score.build import ScoredRecord

__all__ = ["Checkpoint", "jsonl_line"]

log = logging.getLogger(__name__)


def jsonl_line(data: Mapping[str, Any]) -> bytes:
    """One JSONL line: readable UTF-8, escaped where a reader splitting on line breaks would cut the line."""
    text = json.dumps(data, ensure_ascii=False)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate in an answer: ASCII escapes keep the line valid
        return json.dumps(data, ensure_ascii=True).encode("ascii") + b"\n"


def _lock(fh: IO[bytes], path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise RouterlabError(
            f"Another scoring run is writing {str(path)!r}; wait for it to finish or write to another file (--out)."
        ) from None


class Checkpoint:
    """The details file of a scoring run; use as a context manager (it holds a lock while open).

    Attributes:
        path: the file.
        stored: (query id, model) → the last line stored for that record, as a dict.

    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] = open(self.path, "a+b")  # closed by __exit__
        _lock(self._fh, self.path)
        self.stored = self._read()

    def _read(self) -> dict[tuple[str, str], dict[str, Any]]:
        self._fh.seek(0)
        data = self._fh.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            log.warning(
                "%s: the last line was cut short (a run was killed while writing it); its record is scored again",
                self.path,
            )
            self._fh.truncate(end)
        stored: dict[tuple[str, str], dict[str, Any]] = {}
        bad = 0
        for raw in data[:end].split(b"\n"):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                key = (str(line["query_id"]), str(line["model"]))
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            stored[key] = line
        if bad:
            log.warning("%s: %d lines are not score records; they are ignored", self.path, bad)
        return stored

    def append(self, scored: ScoredRecord) -> None:
        """Write one record's line and flush it (a killed process loses nothing written)."""
        self._fh.write(jsonl_line(scored.to_dict()))
        self._fh.flush()

    def rewrite(self, scored: Sequence[ScoredRecord]) -> None:
        """Replace the file by one line per record of ``scored``, in that order (atomically)."""
        with atomic_write(self.path) as fh:
            for s in scored:
                fh.write(jsonl_line(s.to_dict()))

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._fh.close()
