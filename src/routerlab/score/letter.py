r"""Multiple-choice answer-letter extraction and exact match against the gold letter.

This is the exact-match "secondary judge" of
`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §3.3: "we extract the predicted
answer letter (A/B/C/D) and compare against the gold label. Parse rates are 87.6-94.6% for MMLU ...; unparsed responses
are excluded from exact-match calculations." Parse failures are Artifact 3 (format mismatch, §5.3) and, for responses
cut at the token budget, Artifact 2 (§5.2) — so the extractor reports *why* nothing was parsed and never guesses.
`routing-plateau.txt` (arXiv:2606.07587) App. D scores multiple choice by "exact letter-choice matching against a boxed
answer", which is rule 1 below.

Rules, tried in order; the first that yields a letter wins:

1. ``boxed`` — the last ``\boxed{...}`` whose content is a letter (``\boxed{C}``, ``\boxed{\text{(C)}}``)
   or exactly one option's text (contents longer than 10,000 characters are skipped).
2. ``statement`` — the **last** committed statement in the response: "the answer is (C)", "Answer: C",
   "correct option: C", "C is the correct answer", "I'd go with C", "I think it's option C". A statement
   whose letter is negated ("the answer is not A", "I would not choose A") is not a commitment, so in
   "Not A, the answer is B" the answer is B, and in "The answer is A. Wait — the answer is B." it is B.
3. ``final_line`` — the last non-empty line is only a letter ("C", "**C**", "(C)", "C.", "Option C").
4. ``leading_letter`` — the first line starts with a letter form followed by text ("C) because ...",
   "**B.** Paris"), unless the response enumerates options (lines led by two or more different letters).
5. ``choice_text`` — the response repeats exactly one option's text instead of its letter (after removing
   options contained in a longer matched option); with several, the last line decides if it names one.
6. ``single_mention`` — every "option X" / "(X)" mention names the same letter, in no negative sentence.

Otherwise the response is unparsed with reason ``empty``, ``refusal``, ``ambiguous`` (several letters, no
commitment) or ``no_answer``.

The gold is read by :func:`resolve_gold` under ``gold_format`` (recorded in the scorer's spec): ``"auto"``
accepts a letter (``C``, ``(c)``), one option's text, or an option index written as an integer (``2``, ``2.0``,
``"1.0"`` as a csv column with gaps writes it) — 0-based, the Hugging Face MMLU convention, and only when the
item has choices; ``"index"``/``"letter"``/``"text"`` accept only that form, which settles a digit that is one
option's index and another option's text (numeric options). The scorer never raises on a strange gold or
response: a gold it cannot read is "no outcome" (value NaN, reason ``no_gold``, ``bad_gold`` or
``ambiguous_gold``, the convention of :mod:`routerlab.score.base` for a scorer that could not judge), with
``parsed`` still telling whether the response gave a letter.

Letters are A-J (MMLU-Pro has ten options); bare lowercase letters count only
when bracketed or followed by punctuation, so the article "a" is not an answer.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from routerlab.score.base import LETTERS, Score, ScoreItem, ScorerSpec
from routerlab.score.exact import boxed_spans, strip_think

__all__ = ["GOLD_FORMATS", "LetterExtraction", "LetterScorer", "extract_letter", "gold_letter", "resolve_gold"]

_VERSION = "3"  # 2: a boxed content longer than _MAX_BOXED characters is not an answer; 3: gold_format, no raise
GOLD_FORMATS = ("auto", "letter", "index", "text")

_TAGS = re.compile(r"</?[a-zA-Z][^>\n]{0,40}>")
_MARKUP = re.compile(r"\*\*|__|\*|`|\$|\\[()\[\]]")
_LATEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox)\s*\{([^{}]*)\}")

_LET = r"[\(\[]?\s*([A-Ja-j])\s*[\)\]]?"
_NOUN = (
    r"(?:(?:final|correct|right|best|true|most\s+(?:likely|appropriate|accurate|plausible|reasonable)|"
    r"only\s+correct)\s+(?:answer|option|choice)(?:\s+(?:choice|option|letter))?"
    r"|my\s+(?:final\s+)?(?:answer|choice|pick|selection)"
    r"|answer(?:\s+(?:choice|option|letter))?)"
)
_STATEMENTS = [
    # "the answer is (C)", "Answer: C", "correct option - C", "the answer to this question is therefore C"
    re.compile(
        r"\b" + _NOUN + r"(?:\s+(?:to\s+(?:this|the)\s+question|here|then))?\s*"
        r"(?:is|would\s+be|should\s+be|will\s+be|must\s+be|=|:|-|–|—)\s*:?\s*"
        r"(?:therefore\s+|thus\s+|then\s+|clearly\s+|probably\s+|likely\s+|definitely\s+|most\s+likely\s+)?"
        r"(?:option|choice|letter|answer)?\s*" + _LET,
        re.IGNORECASE,
    ),
    # "C is the correct answer", "Option C is correct", "(C) Paris is the right choice"
    re.compile(
        r"(?:\b(?:option|choice|answer)\s*)?" + _LET + r"(?:[.:)]?[ \t]+[^\n.;]{0,60}?)?"
        r"\s+(?:is|seems\s+to\s+be|appears\s+to\s+be)\s+(?:the\s+|most\s+likely\s+the\s+)?"
        r"(?:correct|right|best)\b",
        re.IGNORECASE,
    ),
    # "I'd go with C", "I choose B", "I think it's option C", "It's D", "Select C"
    re.compile(
        r"\b(?:i\s+(?:would\s+|will\s+|'d\s+)?(?:choose|pick|select|go\s+with|opt\s+for)"
        r"|i['’]d\s+(?:choose|pick|select|go\s+with|opt\s+for)"
        r"|(?:i\s+(?:think|believe)\s+)?(?:it['’]s|it\s+is|that['’]s|that\s+is)"
        r"|(?:choose|select|pick|go\s+with))"
        r"\s*:?\s*(?:option|choice|answer|letter)?\s*" + _LET,
        re.IGNORECASE,
    ),
    # "Therefore, C." / "So the answer: (B)" closing a line
    re.compile(
        r"\b(?:therefore|thus|hence|so)\s*,?\s*(?:option|choice)?\s*" + _LET + r"(?=\s*[.!]?\s*$)",
        re.IGNORECASE | re.MULTILINE,
    ),
]
_NEGATED_BEFORE = re.compile(r"(?:\bnot|n['’]t|\bnever|\bno)\s*$", re.IGNORECASE)
_NEGATED_INSIDE = re.compile(r"\b(?:not|never|incorrect|wrong|false)\b|n['’]t\b", re.IGNORECASE)
_LINE_BARE = re.compile(
    r"^\s*(?:(?:final\s+)?(?:answer|option|choice)\s*[:\-]?\s*)?" + _LET + r"\s*[.!]?\s*$", re.IGNORECASE
)
_LINE_LED = re.compile(r"^\s*(?:\(([A-Ja-j])\)|\[([A-Ja-j])\]|([A-Ja-j])\s*[.):]|([A-J])\s+[-–—])\s*\S")
_MENTION = re.compile(r"\b(?:option|choice)\s+([A-J])\b|\(([A-Ja-j])\)", re.IGNORECASE)
_NEGATIVE_SENTENCE = re.compile(
    r"\b(?:not|incorrect|wrong|false|eliminat\w*|rule[sd]?\s+out|unlikely)\b|n['’]t\b", re.IGNORECASE
)
_REFUSAL = re.compile(
    r"\b(?:i\s+(?:can(?:no|['’])t|am\s+(?:unable|not\s+able)|won['’]t|will\s+not)\s+"
    r"(?:help|answer|assist|provide|determine|choose|select)"
    r"|i['’]m\s+(?:sorry|unable|not\s+able)|as\s+an\s+ai\b|cannot\s+be\s+(?:determined|answered)"
    r"|none\s+of\s+the\s+(?:options|choices)\s+(?:is|are)\s+correct)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class LetterExtraction:
    """The outcome of :func:`extract_letter`: the letter (or ``None``), the rule that fired, and why not."""

    letter: str | None
    rule: str | None
    reason: str

    @property
    def parsed(self) -> bool:
        """Whether a letter was extracted."""
        return self.letter is not None


def _accept(text: str, start: int, end: int, allowed: str) -> str | None:
    """The letter at ``text[start:end]`` if it is an answer letter in context, else ``None``."""
    # Only the characters around the letter are read: slicing text[:start] / text[end:] per candidate made
    # extraction quadratic on a long response with many candidate letters.
    letter = text[start:end]
    if letter.upper() not in allowed:
        return None
    prev, nxt = text[start - 1 : start] if start else "", text[end : end + 1]
    if prev.isalnum() or nxt.isalnum() or (nxt != "" and nxt in "'’") or text[end : end + 2] in (".D", ".M"):
        return None
    if letter.islower():
        i = start
        while i > 0 and text[i - 1] == " ":
            i -= 1
        opener = text[i - 1 : i] if i else ""
        j = end
        while j < len(text) and text[j] in " \t":
            j += 1
        rest = text[j : j + 1]
        if not ((opener != "" and opener in "([") or rest == "" or rest[0] in ".,;:!)]\n"):
            return None
    return letter.upper()


def _clean(response: str) -> str:
    text = unicodedata.normalize("NFKC", response)
    text = strip_think(text)
    return text.replace("\r\n", "\n").strip()


def _strip_markup(text: str) -> str:
    text = _LATEX_WRAP.sub(r"\1", text)
    text = _TAGS.sub("", text)
    return _MARKUP.sub("", text)


def _norm_text(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold()
    s = re.sub(r"[\s_]+", " ", s)
    return s.strip(" .,;:!?\"'()[]")


#: A boxed content longer than this is not an answer. Nested ``\boxed{`` make the contents overlap, and
#: reading every one of them is quadratic: 20,000 nested boxes (160 kB) would take minutes.
_MAX_BOXED = 10_000


def _boxed_contents(text: str) -> Iterator[str]:
    r"""Contents of every ``\boxed{...}`` (balanced braces) up to ``_MAX_BOXED`` characters, last first."""
    for start, end in reversed(boxed_spans(text)):
        if end - start <= _MAX_BOXED:
            yield text[start:end]


def _choice_letter(fragment: str, choices: tuple[str, ...] | None, allowed: str) -> str | None:
    """The letter of the one option whose text equals ``fragment``, else ``None``."""
    if not choices:
        return None
    target = _norm_text(fragment)
    hits = [LETTERS[i] for i, c in enumerate(choices[: len(allowed)]) if _norm_text(c) == target and target]
    return hits[0] if len(hits) == 1 else None


def _from_boxed(text: str, choices: tuple[str, ...] | None, allowed: str) -> str | None:
    for content in _boxed_contents(text):
        inner = _strip_markup(content).strip()
        m = re.fullmatch(r"[\(\[]?\s*([A-Ja-j])\s*[\)\]]?(?:\s*[.:)\-]\s*(.*))?", inner, re.DOTALL)
        if m and m.group(1).upper() in allowed:
            return m.group(1).upper()
        letter = _choice_letter(inner, choices, allowed)
        if letter:
            return letter
    return None


def _overlapping(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Every match of ``pattern``, including those starting inside an earlier match."""
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        yield m
        pos = m.start() + 1


def _from_statements(text: str, allowed: str) -> str | None:
    best: tuple[int, str] | None = None
    for pattern in _STATEMENTS:
        for m in _overlapping(pattern, text):
            letter = _accept(text, m.start(1), m.end(1), allowed)
            if letter is None:
                continue
            if _NEGATED_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
                continue
            if pattern is _STATEMENTS[1] and _NEGATED_INSIDE.search(text[m.end(1) : m.end()]):
                continue
            if best is None or m.start(1) > best[0]:
                best = (m.start(1), letter)
    return None if best is None else best[1]


def _line_letter(pattern: re.Pattern[str], line: str, allowed: str) -> str | None:
    m = pattern.match(line)
    if not m:
        return None
    group = next(g for g in range(1, (m.lastindex or 0) + 1) if m.group(g))
    return _accept(line, m.start(group), m.end(group), allowed)


def _from_choice_text(text: str, choices: tuple[str, ...] | None, allowed: str) -> str | bool | None:
    """A letter; ``False`` when several options' texts appear and the last line does not decide."""
    if not choices:
        return None
    norm = _norm_text(text)

    def found(hay: str) -> list[int]:
        idx = []
        for i, c in enumerate(choices[: len(allowed)]):
            nc = _norm_text(c)
            if len(nc) >= 2 and re.search(r"(?<!\w)" + re.escape(nc) + r"(?!\w)", hay):
                idx.append(i)
        texts = {i: _norm_text(choices[i]) for i in idx}
        return [i for i in idx if not any(i != j and texts[i] in texts[j] for j in idx)]

    hits = found(norm)
    if len(hits) == 1:
        return LETTERS[hits[0]]
    if len(hits) > 1:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines or _LINE_LED.match(lines[-1]):  # an enumerated option, not a conclusion
            return False
        last = found(_norm_text(lines[-1]))
        return LETTERS[last[0]] if len(last) == 1 else False
    return None


def _from_mentions(text: str, allowed: str) -> str | bool | None:
    letters: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
        negative: bool | None = None  # searched once per sentence, not once per mention (quadratic)
        for m in _MENTION.finditer(sentence):
            g = 1 if m.group(1) else 2
            letter = _accept(sentence, m.start(g), m.end(g), allowed)
            if letter is None:
                continue
            if negative is None:
                negative = _NEGATIVE_SENTENCE.search(sentence) is not None
            if negative:
                return False
            letters.add(letter)
    if len(letters) == 1:
        return letters.pop()
    return False if letters else None


def extract_letter(
    response: str | None, *, letters: str = "ABCD", choices: tuple[str, ...] | None = None
) -> LetterExtraction:
    """Extract the committed answer letter from a free-form response (rules in the module docstring).

    Args:
        response: the model's response.
        letters: the valid option letters, e.g. ``"ABCD"`` or ``LETTERS`` (A-J).
        choices: the options' texts in letter order, used for boxed/option-text answers.

    """
    if response is None or not response.strip():
        return LetterExtraction(None, None, "empty")
    text = _clean(response)
    if not text:
        return LetterExtraction(None, None, "empty")
    boxed = _from_boxed(text, choices, letters)
    if boxed:
        return LetterExtraction(boxed, "boxed", "parsed")
    plain = _strip_markup(text)
    stated = _from_statements(plain, letters)
    if stated:
        return LetterExtraction(stated, "statement", "parsed")
    lines = [ln for ln in plain.splitlines() if ln.strip()]
    last = _line_letter(_LINE_BARE, lines[-1], letters) if lines else None
    if last:
        return LetterExtraction(last, "final_line", "parsed")
    led = {x for ln in lines if (x := _line_letter(_LINE_LED, ln, letters) or _line_letter(_LINE_BARE, ln, letters))}
    first = _line_letter(_LINE_LED, lines[0], letters) if lines else None
    if first and len(led) < 2:
        return LetterExtraction(first, "leading_letter", "parsed")
    by_text = _from_choice_text(plain, choices, letters)
    if isinstance(by_text, str):
        return LetterExtraction(by_text, "choice_text", "parsed")
    mention = _from_mentions(plain, letters)
    if isinstance(mention, str):
        return LetterExtraction(mention, "single_mention", "parsed")
    if _REFUSAL.search(plain):
        return LetterExtraction(None, None, "refusal")
    if by_text is False or mention is False or len(led) >= 2:
        return LetterExtraction(None, None, "ambiguous")
    return LetterExtraction(None, None, "no_answer")


def _letters_for(item: ScoreItem, gold: str | None) -> str:
    n = max(4, len(item.choices or ()), LETTERS.index(gold) + 1 if gold else 0)
    return LETTERS[: min(n, len(LETTERS))]


def _as_index(gold: str) -> int | None:
    """``gold`` as a non-negative integer (``"2"``, ``"2.0"``), else ``None``."""
    m = re.fullmatch(r"\+?(\d{1,3})(?:\.0*)?", gold)
    return int(m.group(1)) if m else None


def resolve_gold(item: ScoreItem, gold_format: str = "auto") -> tuple[str | None, str]:
    """The gold letter of a multiple-choice item and how it was read; ``(None, reason)`` when it cannot be read.

    Forms and ``gold_format`` as in the module docstring. Reasons: ``letter``, ``index``, ``text`` when read;
    ``no_gold``, ``bad_gold`` or ``ambiguous_gold`` (a digit that is one option's index and another's text under
    ``"auto"``) when not. Never raises.
    """
    if item.gold is None:
        return None, "no_gold"
    gold = str(item.gold).strip()
    n = len(item.choices or ())
    if gold_format in ("auto", "letter"):
        m = re.fullmatch(r"[\(\[]?\s*([A-Ja-j])\s*[\)\]]?\.?", gold)
        if m:
            return m.group(1).upper(), "letter"
        if gold_format == "letter":
            return None, "bad_gold"
    by_text = _choice_letter(gold, item.choices, LETTERS[:n]) if n and gold_format in ("auto", "text") else None
    index = _as_index(gold) if gold_format in ("auto", "index") else None
    by_index = LETTERS[index] if index is not None and index < min(n, len(LETTERS)) else None
    if by_index is None and index is not None and not n and gold_format == "index" and index < len(LETTERS):
        by_index = LETTERS[index]
    if by_text and by_index and by_text != by_index:
        return None, "ambiguous_gold"
    if by_index:
        return by_index, "index"
    if by_text:
        return by_text, "text"
    return None, "bad_gold"


def gold_letter(item: ScoreItem, gold_format: str = "auto") -> str:
    """The gold answer of a multiple-choice item as a letter (:func:`resolve_gold`), for callers that want an error.

    Raises ``ValueError`` naming the query and the fix when the gold cannot be read; the scorer itself never
    raises (it returns a NaN score with the reason).
    """
    letter, how = resolve_gold(item, gold_format)
    if letter is not None:
        return letter
    if how == "ambiguous_gold":
        raise ValueError(
            f"query {item.query_id!r}: gold {item.gold!r} is ambiguous: one option's index and another option's "
            "text; store the gold answer as a letter or pass gold_format='index' (or 'text')."
        )
    raise ValueError(
        f"query {item.query_id!r}: gold {item.gold!r} is not an option letter (A-J), an option index or an "
        f"option's text under gold_format={gold_format!r}; fix the query's gold answer or use another scorer."
    )


class LetterScorer:
    """Exact match of the extracted answer letter against the gold letter (§3.3's secondary judge).

    ``value`` is 1.0 when the extracted letter equals the gold letter, else 0.0; an unparsed response
    scores 0.0 with ``parsed=False`` so that §3.3's "unparsed responses are excluded" can be applied
    downstream (the audit's ``artifacts`` check does). ``detail["rule"]`` names the rule that fired. A gold
    that cannot be read gives value NaN ("no outcome") with the reason, never an exception.

    Args:
        gold_format: how the gold is written: ``"auto"``, ``"letter"``, ``"index"`` (0-based) or ``"text"``
            (see the module docstring). An unknown value raises ``ValueError`` here, when the scorer is built.

    """

    def __init__(self, *, gold_format: str = "auto") -> None:
        if gold_format not in GOLD_FORMATS:
            raise ValueError(f"gold_format must be one of {', '.join(GOLD_FORMATS)}. Got {gold_format!r}.")
        self.gold_format = gold_format
        self._spec = ScorerSpec(
            "letter",
            _VERSION,
            {
                "letters": "A-J",
                "rules": "boxed>statement>final_line>leading_letter>choice_text>single_mention",
                "gold_format": gold_format,
            },
        )

    @property
    def spec(self) -> ScorerSpec:
        """Name, version and parameters."""
        return self._spec

    def score(self, response: str, item: ScoreItem) -> Score:
        """Extract the letter from ``response`` and compare it with ``item.gold``; never raises."""
        gold, how = resolve_gold(item, self.gold_format)
        text = response if isinstance(response, str) else ""
        ex = extract_letter(text, letters=_letters_for(item, gold), choices=item.choices)
        detail = {"rule": ex.rule, "gold": gold, "gold_read_as": how}
        if gold is None:
            detail["gold"] = item.gold
            return Score(math.nan, None, ex.parsed, ex.letter, how, self._spec, detail)
        if ex.letter is None:
            return Score(0.0, None, False, None, ex.reason, self._spec, detail)
        correct = ex.letter == gold
        return Score(
            1.0 if correct else 0.0, None, True, ex.letter, "correct" if correct else "wrong", self._spec, detail
        )
