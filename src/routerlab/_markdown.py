"""Markdown tables: the one GitHub-flavoured table writer of routerlab's ``*.md`` outputs and reports."""

from __future__ import annotations

from collections.abc import Sequence


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(head: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """A GitHub-flavoured Markdown table (the first ``left`` columns left-aligned), ``|`` and newlines escaped."""
    align = ["---" if i < left else "---:" for i in range(len(head))]
    lines = ["| " + " | ".join(_cell(h) for h in head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return lines


__all__ = ["md_table"]
