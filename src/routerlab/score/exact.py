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


def _last_boxed(text: str) -> str | None:
    r"""The content of the last ``\boxed{...}`` or ``\fbox{...}`` (nested braces allowed), else ``None``."""
    found = None
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found = text[m.end() : i - 1]
    return found


def extract_final_answer(response: str) -> tuple[str | None, str]:
    """The final answer in ``response`` and the rule that found it (``boxed``, ``statement``, ``whole``)."""
    text = re.sub(r"<think>.*?</think>", " ", response or "", flags=re.DOTALL | re.IGNORECASE).strip()
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
