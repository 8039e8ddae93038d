"""Token counts from an upstream's answer: its JSON ``usage``, or the last SSE event that carries one."""

from __future__ import annotations

import json
from typing import Any

from routerlab.collect.client import MAX_TOKENS_PER_CALL

__all__ = ["SSEUsage", "usage_counts", "usage_of"]

#: the longest SSE line the usage scanner keeps (longer lines are passed through, not parsed)
_MAX_SSE_LINE = 1_000_000


def usage_counts(usage: Any) -> tuple[int | None, int | None]:
    """``(prompt_tokens, completion_tokens)`` of a ``usage`` object.

    None where absent or not an integer in 0..MAX_TOKENS_PER_CALL: an upstream's ``NaN``, ``Infinity``,
    float or 10**30 never becomes a cost (nor an integer SQLite cannot store).
    """
    if not isinstance(usage, dict):
        return None, None
    counts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
    p, c = (
        v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_TOKENS_PER_CALL else None for v in counts
    )
    return p, c


def usage_of(content: bytes) -> tuple[int | None, int | None]:
    """The upstream JSON answer's ``usage`` token counts (None where absent or not an integer)."""
    try:
        usage = json.loads(content).get("usage")
    except (ValueError, RecursionError, AttributeError):
        return None, None
    return usage_counts(usage)


class SSEUsage:
    """Scans a passing ``text/event-stream`` for the last ``data:`` event that carries ``usage``."""

    def __init__(self) -> None:
        self._partial = b""
        self.usage: Any = None

    def feed(self, chunk: bytes) -> None:
        """Scan the next chunk of the stream."""
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > _MAX_SSE_LINE:
            self._partial = b""
        for line in lines:
            self._line(line)

    def close(self) -> None:
        """Scan what is left after the last newline."""
        self._line(self._partial)
        self._partial = b""

    def _line(self, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if not line.startswith(b"data:") or b'"usage"' not in line:
            return
        try:
            event = json.loads(line[5:])
        except (ValueError, RecursionError):
            return
        if isinstance(event, dict) and isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
