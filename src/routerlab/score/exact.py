r"""Normalised exact match of a short free-text answer against the gold answer.

`routing-plateau.txt` (arXiv:2606.07587) App. D: "extractive QA uses exact match or token-level F1";
`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §3.3 uses exact match
as the second judge and reports its parse rate. The final answer is taken from, in order, the last
``\boxed{...}``, the last "answer is/Answer: ..." statement, or the whole response. Both sides are then
normalised the SQuAD way, as papers report exact match (each step can be
turned off, and the choice is recorded in the scorer's spec):

1. ``\text{...}``-style LaTeX wrappers are unwrapped (``\boxed{\text{The Tempest}}``); NFKC;
2. ``lowercase``: case-folded;
3. ``punctuation``: every punctuation character, ``_`` included, becomes a space (``The_Tempest`` →
   ``the tempest``; ``well-known`` = ``well known``);
4. ``articles``: the words a/an/the are dropped — unless nothing else is left, so that a one-letter
   answer ``A`` is still an answer and still differs from ``B``;
5. whitespace is collapsed.

Aliases of the gold answer may be given in ``item.meta["aliases"]`` (a list, or one string). The scorer
never raises on a strange response or gold: a response with nothing left after normalisation is
``parsed=False`` (value 0); a missing gold or one with nothing left is "no outcome" (value NaN, reason
``no_gold`` / ``bad_gold``), since the scorer could not judge (the convention of :mod:`routerlab.score.base`).
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from typing import Any

from routerlab.score.base import Score, ScoreItem, ScorerSpec

__all__ = ["ExactScorer", "extract_final_answer", "normalize_answer"]

_VERSION = "2"  # 2: punctuation (and _) to space, a lone article kept, no raise on a bad gold
_STATEMENT = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:)\s*:?\s*(?P<ans>[^\n]+?)\s*\.?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "‘’“”«»–—…"})
_LATEX_WRAP = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|emph)\s*\{([^{}]*)\}")


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


def normalize_answer(s: str, *, lowercase: bool = True, punctuation: bool = True, articles: bool = True) -> str:
    """SQuAD-style normalisation (steps in the module docstring); each keyword turns one step off."""
    s = unicodedata.normalize("NFKC", s)
    for _ in range(3):  # nested wrappers: \textbf{\text{x}}
        s = _LATEX_WRAP.sub(r"\1", s)
    if lowercase:
        s = s.casefold()
    if punctuation:
        s = s.translate(_PUNCT)
    if articles:
        dropped = _ARTICLES.sub(" ", s) if lowercase else re.sub(r"\b(?:a|an|the)\b", " ", s, flags=re.IGNORECASE)
        if dropped.strip():  # a lone article ("A", an option letter) stays an answer
            s = dropped
    return " ".join(s.split())


def _aliases(meta: Any) -> list[str]:
    """``meta["aliases"]`` as a list of strings (a single string is one alias; anything else none)."""
    raw = meta.get("aliases") if hasattr(meta, "get") else None
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, (list, tuple)):
        return [str(a) for a in raw if a is not None and not (isinstance(a, float) and math.isnan(a))]
    return []


class ExactScorer:
    """1.0 when the normalised final answer equals the normalised gold (or an alias), else 0.0.

    Args:
        lowercase: case-fold both sides.
        punctuation: turn punctuation (``_`` included) into spaces.
        articles: drop the articles a/an/the (a lone article is kept).

    """

    def __init__(self, *, lowercase: bool = True, punctuation: bool = True, articles: bool = True) -> None:
        self.lowercase = lowercase
        self.punctuation = punctuation
        self.articles = articles
        self._spec = ScorerSpec(
            "exact",
            _VERSION,
            {
                "normalize": "squad",
                "lowercase": lowercase,
                "punctuation": "space" if punctuation else "keep",
                "articles": "drop_unless_alone" if articles else "keep",
                "extract": "boxed>statement>whole",
            },
        )

    @property
    def spec(self) -> ScorerSpec:
        """Name, version and parameters."""
        return self._spec

    def _norm(self, s: str) -> str:
        return normalize_answer(s, lowercase=self.lowercase, punctuation=self.punctuation, articles=self.articles)

    def score(self, response: str, item: ScoreItem) -> Score:
        """Compare the final answer of ``response`` with ``item.gold``; never raises (see the module docstring)."""
        answer, rule = extract_final_answer(response if isinstance(response, str) else "")
        detail: dict[str, Any] = {"rule": rule, "gold": item.gold}
        golds = [g for g in (self._norm(x) for x in [item.gold or "", *_aliases(item.meta)]) if g]
        got = self._norm(answer) if answer is not None else ""
        parsed = bool(got)
        if not golds:
            reason = "no_gold" if item.gold is None else "bad_gold"
            return Score(math.nan, None, parsed, answer if parsed else None, reason, self._spec, detail)
        if not parsed:
            return Score(0.0, None, False, None, "empty", self._spec, detail)
        ok = got in golds
        detail["normalized"] = got
        return Score(1.0 if ok else 0.0, None, True, answer, "correct" if ok else "wrong", self._spec, detail)
