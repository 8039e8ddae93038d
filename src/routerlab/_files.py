"""Atomic file writes: the one write-then-rename helper every writer of routerlab uses.

A file is written under a temporary name in its target's folder (``.tmp-<pid>-<uuid><suffix>``),
flushed to disk, then moved onto the target with :func:`os.replace`, so a reader sees the old file or
the new one, never half of one; on any error the temporary file is removed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["TMP_PREFIX", "atomic_write", "atomic_write_bytes"]

#: the name prefix of the temporary files (a crashed writer's leftovers can be found by it)
TMP_PREFIX = ".tmp-"


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into; it replaces ``path`` when the block ends without error."""
    path = Path(path)
    tmp = path.with_name(f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}{path.suffix}")
    try:
        with tmp.open("wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Replace ``path`` by ``payload`` atomically (:func:`atomic_write`)."""
    with atomic_write(path) as fh:
        fh.write(payload)
