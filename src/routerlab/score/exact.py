r"""Normalised exact match of a short free-text answer against the gold answer.

`routing-plateau.txt` App. D: "extractive QA uses exact match or token-level F1". The final answer is
taken from, in order, the last ``\boxed{...}``, the last "answer is/Answer: ..." statement, or the whole
response; both sides are normalised the SQuAD way (case-folded, punctuation and the articles a/an/the
removed, whitespace collapsed). Aliases of the gold answer may be given in ``item.meta["aliases"]``.
"""

from __future__ import annotations

import re
import string
import unicodedata

from routerlab.score.base import Score, ScoreItem, ScorerSpec

__all__ = ["ExactScorer", "extract_final_answer", "normalize_answer"]

_VERSION = "1"
_STATEMENT = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:)\s*:?\s*(?P<ans>[^\n]+?)\s*\.?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”")


_BOXED_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE = re.compile(r"[{}]")
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def strip_think(text: str, repl: str = " ") -> str:
    """``text`` with every ``<think>...</think>`` block replaced by ``repl``.

    The result of ``re.sub(r"<think>.*?</think>", repl, text, flags=re.DOTALL | re.IGNORECASE)``, in linear
    time: that regex rescans the rest of the text from every unclosed ``<think>``, so a response of 200,000
    of them hangs it. If the leftmost open tag has no close tag after it, no later one has either.
    """
    parts: list[str] = []
    pos = 0
    while (m := _THINK_OPEN.search(text, pos)) is not None:
        close = _THINK_CLOSE.search(text, m.end())
        if close is None:
            break
        parts += [text[pos : m.start()], repl]
        pos = close.end()
    parts.append(text[pos:])
    return "".join(parts)


def boxed_spans(text: str) -> list[tuple[int, int]]:
    r"""``(start, end)`` of the content of every ``\boxed{...}`` / ``\fbox{...}`` with a closing brace, in order.

    Braces nest (every ``{`` and ``}`` counts, as in LaTeX source). One pass matches all braces with a stack,
    instead of scanning forward from each opening: that scan is quadratic on a response of many unclosed
    ``\boxed{`` (a hostile 1 MB answer would take hours).
    """
    opens = [m.end() for m in _BOXED_OPEN.finditer(text)]
    if not opens:
        return []
    close_of: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE.finditer(text, opens[0] - 1):  # braces before the first opening cannot close it
        if m.group() == "{":
            stack.append(m.end())
        elif stack:
            close_of[stack.pop()] = m.start()
    return [(e, close_of[e]) for e in opens if e in close_of]


def _last_boxed(text: str) -> str | None:
    r"""The content of the last ``\boxed{...}`` or ``\fbox{...}`` (nested braces allowed), else ``None``."""
    spans = boxed_spans(text)
    if not spans:
        return None
    start, end = spans[-1]
    return text[start:end]


def extract_final_answer(response: str) -> tuple[str | None, str]:
    """The final answer in ``response`` and the rule that found it (``boxed``, ``statement``, ``whole``)."""
    text = strip_think(response or "").strip()
    if not text:
        return None, "empty"
    boxed = _last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip(), "boxed"
    statements = list(_STATEMENT.finditer(text))
    if statements:
        return statements[-1].group("ans").strip(" *`$"), "statement"
    return text, "whole"


def normalize_answer(s: str) -> str:
    """SQuAD-style normalisation: NFKC, case-fold, strip punctuation and articles, collapse whitespace."""
    s = unicodedata.normalize("NFKC", s).casefold()
    s = re.sub(r"\\text\s*\{([^{}]*)\}", r"\1", s)
    s = s.translate(_PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


class ExactScorer:
    """1.0 when the normalised final answer equals the normalised gold (or an alias), else 0.0."""

    def __init__(self) -> None:
        self._spec = ScorerSpec("exact", _VERSION, {"normalize": "squad", "extract": "boxed>statement>whole"})

    @property
    def spec(self) -> ScorerSpec:
        """Name, version and parameters."""
        return self._spec

    def score(self, response: str, item: ScoreItem) -> Score:
        """Compare the final answer of ``response`` with ``item.gold``."""
        if item.gold is None:
            raise ValueError(f"query {item.query_id!r} has no gold answer; exact match needs one.")
        answer, rule = extract_final_answer(response)
        golds = [item.gold, *[str(a) for a in item.meta.get("aliases", ()) or ()]]
        detail = {"rule": rule, "gold": item.gold}
        if answer is None or not normalize_answer(answer):
            return Score(0.0, None, False, None, "empty", self._spec, detail)
        got = normalize_answer(answer)
        ok = any(got == normalize_answer(g) for g in golds)
        return Score(1.0 if ok else 0.0, None, True, answer, "correct" if ok else "wrong", self._spec, detail)
