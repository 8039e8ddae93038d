r"""Numeric and symbolic answer equivalence for math benchmarks (GSM8K, MATH, SVAMP, ...).

`routing-plateau.txt` (arXiv:2606.07587) App. D: "math benchmarks use numeric or symbolic equivalence". The final answer
is the last ``\boxed{...}`` (nested braces allowed), else the last ``#### X`` (GSM8K's format), else the last
"final answer is X" / "Answer: X" statement, else the last number in the response. A candidate counts only
if something is left of it after normalisation (``\boxed{}``, ``\boxed{{}}`` are skipped); a ``####`` or
statement candidate that is prose ("#### Jackson is 4 years old.") gives its last number. Nothing found
means ``parsed=False`` (§3.3 of `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing"):
parse failures are reported, not guessed), so ``parsed=True`` means an answer was really found.

Normalisation, in order: LaTeX wrappers ``\text{...}``/``\textbf``/``\mathrm``/``\mbox`` are unwrapped (a
``\text{...}`` unit after a number is dropped: ``5\text{ cm}`` → ``5``); ``$``, ``\left``/``\right``, spacing
commands and degrees are removed; redundant outer braces go (``{{7}}`` → ``7``: prompts written as Python
format strings produce ``\boxed{{7}}``); ``\dfrac``/``\tfrac``/``\frac{a}{b}`` become ``(a)/(b)``; a leading
``x =`` goes; thousands separators go (``1,000`` and ``1{,}000`` → ``1000``, only between a digit and exactly
three digits); spaces go and the result is lower-cased; unit words of two or more letters after a number go
(``18 dollars``, ``5 cm^2`` → ``18``, ``5``; a single letter stays: ``5x`` is an expression).

Two answers are equal when (in order) their normalised strings are equal, their numeric values agree within
``rel_tol``/``abs_tol``, or — only if sympy is installed; it is never required — their difference simplifies
to 0. Tuples and lists compare element-wise. **Percent rule:** ``p%`` (or ``p\%``, ``p percent``) equals the
number ``p`` (a question asking "what percent" is answered either way) and the fraction ``p/100``; it never
equals ``100·p`` (``50%`` = ``50`` = ``0.5``, but ``50%`` ≠ ``5000``).

Sympy only sees strings that pass a strict whitelist (digits, operators, parentheses, single-letter symbols
and a few function names), since its parser evaluates Python, and that are small enough for ``simplify`` to
finish quickly (at most three symbols, no symbolic power above 9, calls nested at most twice): a hostile
answer such as ``(x+y+z+w+1)^99`` would otherwise keep the scorer busy for hours.

The scorer never raises on a strange response or gold: a missing gold, or one with nothing left after
normalisation, is "no outcome" (value NaN, reason ``no_gold``/``bad_gold``: the scorer could not judge, the
convention of :mod:`routerlab.score.base`), with ``parsed`` still telling whether the response had an answer.
"""

from __future__ import annotations

import importlib.util
import math
import re
from functools import lru_cache
from typing import Any

from routerlab.score.base import Score, ScoreItem, ScorerSpec
from routerlab.score.exact import _last_boxed, strip_think

__all__ = ["MathScorer", "extract_math_answer", "math_equal", "normalize_math"]

_VERSION = "3"  # 2: sympy refuses runaway expressions (see _safe_for_sympy); 3: normalisation, parse, no raise
_NUM = r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?%?|-?\.\d+%?"
_STATEMENT = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=)\s*:?\s*(?P<ans>[^\n]+?)\s*\.?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_HASHES = re.compile(r"####\s*(?P<ans>[^\n]+)")
_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_DROP = (
    "\\left", "\\right", "\\displaystyle", "\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "\\$", "$",
    "\\(", "\\)", "\\[", "\\]", "^\\circ", "^{\\circ}", "°", "\\circ",
)  # fmt: skip
_FUNCS = {"sqrt", "pi", "log", "ln", "exp", "sin", "cos", "tan", "oo"}


def _numberish(normalized: str) -> bool:
    """Whether a normalised candidate is a number, a fraction, a percent or a tuple of them."""
    return all(_number(p) is not None for p in _split_top(normalized))


def _candidate(raw: str, rule: str) -> str | None:
    """``raw`` if it is an answer; for ``hashes``/``statement`` prose, its last number; else ``None``."""
    raw = raw.strip().strip(" *`")
    norm = normalize_math(raw)
    if not norm:
        return None
    if rule in ("hashes", "statement") and not _numberish(norm) and not _safe_for_sympy(norm):
        numbers = re.findall(_NUM, raw)
        return numbers[-1].strip() if numbers else None
    return raw


def extract_math_answer(response: str) -> tuple[str | None, str]:
    """The final answer in ``response`` and the rule that found it.

    Rules: ``boxed``, ``hashes``, ``statement``, ``last_number``; ``(None, "empty" | "no_answer")`` otherwise.
    """
    text = strip_think(response if isinstance(response, str) else "").strip()
    if not text:
        return None, "empty"
    boxed = _last_boxed(text)
    if boxed is not None and (found := _candidate(boxed, "boxed")) is not None:
        return found, "boxed"
    hashes = list(_HASHES.finditer(text))
    if hashes and (found := _candidate(hashes[-1].group("ans"), "hashes")) is not None:
        return found, "hashes"
    statements = list(_STATEMENT.finditer(text))
    if statements and (found := _candidate(statements[-1].group("ans"), "statement")) is not None:
        return found, "statement"
    numbers = re.findall(_NUM, text)
    if numbers:
        return numbers[-1].strip(), "last_number"
    return None, "no_answer"


def _replace_frac_sqrt(s: str) -> str:
    r"""``\frac{a}{b}`` (and ``\frac12``) → ``(a)/(b)`` and ``\sqrt{x}`` → ``sqrt(x)``, innermost first."""
    s = re.sub(r"\\[dt]?frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)
    frac = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
    sqrt = re.compile(r"\\sqrt\s*\{([^{}]*)\}")
    for _ in range(20):
        new = sqrt.sub(r"sqrt(\1)", frac.sub(r"(\1)/(\2)", s))
        if new == s:
            break
        s = new
    return s


def _strip_outer_braces(s: str) -> str:
    """``{{7}}`` → ``7``: drop brace pairs that enclose the whole string (``{1}+{2}`` stays), in linear time."""
    if not (s.startswith("{") and s.endswith("}")):
        return s
    partner: dict[int, int] = {}
    stack: list[int] = []
    for i, ch in enumerate(s):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            partner[stack.pop()] = i
    k = 0
    while k < len(s) - 1 - k and partner.get(k) == len(s) - 1 - k:
        k += 1
    return s[k : len(s) - k].strip()


def normalize_math(answer: str) -> str:
    """A canonical string for an answer (see the module docstring); spaces removed, lower-cased."""
    s = answer.strip()
    s = re.sub(r"(?<=\d)\s*\\(?:text|mbox|mathrm)\s*\{\s*[a-zA-Z][a-zA-Z\s.]*\}\s*(?:\^\{?\d\}?)?\s*$", "", s)
    for _ in range(3):
        s = _WRAPPERS.sub(r"\1", s)
    for token in _DROP:
        s = s.replace(token, "")
    s = _strip_outer_braces(s.strip())
    s = s.replace("{,}", ",").replace("\\%", "%").replace("\\infty", "oo").replace("\\pi", "pi")
    s = _replace_frac_sqrt(s)
    s = s.replace("\\cdot", "*").replace("\\times", "*").replace("\\div", "/")
    s = re.sub(r"^\s*[a-zA-Z]\s*=\s*", "", s)  # "x = 5" -> "5"
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)  # thousands separators
    s = re.sub(r"\s+", "", s).rstrip(".").lower()
    s = re.sub(r"^(-?[\d.]+(?:/\d+)?)percent$", r"\1%", s)
    s = re.sub(r"^(-?[\d.]+(?:/\d+)?%?)(?:[a-z]{2,}(?:\^\d)?)+$", r"\1", s)  # units: "5cm^2" -> "5"
    return _strip_outer_braces(s)


def _number(s: str) -> tuple[float, bool] | None:
    """``(value, is_percent)`` of a plain number, fraction or percent string; ``None`` otherwise."""
    pct = s.endswith("%")
    body = s[:-1] if pct else s
    body = re.sub(r"^\((-?[\d.]+)\)$", r"\1", body)
    m = re.fullmatch(r"\(?(-?[\d.]+)\)?/\(?(-?[\d.]+)\)?", body)
    try:
        if m:
            den = float(m.group(2))
            return (float(m.group(1)) / den, pct) if den else None
        return float(body), pct
    except ValueError:
        return None


def _split_top(s: str) -> list[str]:
    """Split ``(a,b)`` / ``[a,b]`` / ``a,b`` at top-level commas (one element when there is none)."""
    if len(s) >= 2 and s[0] in "([{" and s[-1] in ")]}":
        inner = s[1:-1]
        depth = 0
        for ch in inner:
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
            if depth < 0:
                break
        else:
            s = inner
    parts, depth, cur = [], 0, ""
    for ch in s:
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


@lru_cache(maxsize=1)
def _sympy_version() -> str | None:
    if importlib.util.find_spec("sympy") is None:
        return None
    import sympy

    return str(sympy.__version__)


def _call_depth(s: str) -> int:
    """How deeply calls of the functions in ``_FUNCS`` nest in ``s`` (``sin(exp(x))`` is 2)."""
    opened: list[bool] = []  # per open parenthesis: does it open a function call?
    depth = deepest = 0
    for m in re.finditer(r"([a-z]+)?\s*\(|\)", s):
        if m.group() == ")":
            if opened and opened.pop():
                depth -= 1
            continue
        call = m.group(1) in _FUNCS
        opened.append(call)
        depth += call
        deepest = max(deepest, depth)
    return deepest


def _safe_for_sympy(s: str) -> bool:
    """Whether sympy may see ``s``: its parser evaluates Python, and simplify can run for hours.

    Besides the character whitelist, a few shapes that keep ``simplify`` busy for minutes or more on a
    100-character hostile answer are refused: a symbolic power above 9 (``(x+y+z+w+1)^99`` expands into
    millions of terms), more than three symbols (a product of 13 binomials expands into 2^13 terms), calls
    nested more than twice or two ``exp`` (``sin(exp(exp(99)))`` needs a number with 10^42 digits), and a
    number of more than four digits beside a function (``sin(exp(9999999))``).
    """
    if not s or len(s) > 100 or not re.fullmatch(r"[0-9a-z+\-*/^().\s]*", s):
        return False
    if re.search(r"\.[a-z]|\^\s*\(?\s*\d{3,}|\*\*", s) or s.count("^") > 1:  # no power towers
        return False
    words = re.findall(r"[a-z]+", s)
    if not all(len(w) == 1 or w in _FUNCS for w in words):
        return False
    if not words:
        return True
    if re.search(r"\^\s*\(?\s*\d{2,}", s) or len({w for w in words if len(w) == 1}) > 3:
        return False
    if any(w in _FUNCS for w in words) and (
        _call_depth(s) > 2 or s.count("exp") > 1 or re.search(r"\d{5,}", s) is not None
    ):
        return False
    return True


def _sympy_equal(a: str, b: str) -> bool:
    if _sympy_version() is None or not (_safe_for_sympy(a) and _safe_for_sympy(b)):
        return False
    from sympy import simplify
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    transformations: Any = (*standard_transformations, implicit_multiplication_application, convert_xor)
    try:
        diff = simplify(parse_expr(a, transformations=transformations) - parse_expr(b, transformations=transformations))
        return bool(diff == 0)
    except Exception:  # sympy raises many types for unparseable input; not equal is the honest answer
        return False


def _scalar_equal(a: str, b: str, rel_tol: float, abs_tol: float) -> tuple[bool, str]:
    if a == b:
        return True, "string"
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        (x, px), (y, py) = na, nb
        candidates = [(x, y)]  # the percent rule of the module docstring: p% = p = p/100, never 100p
        if px != py:
            candidates.append((x / 100, y) if px else (x, y / 100))
        return any(math.isclose(u, v, rel_tol=rel_tol, abs_tol=abs_tol) for u, v in candidates), "numeric"
    if _sympy_equal(a, b):
        return True, "sympy"
    return False, "string"


def math_equal(answer: str, gold: str, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> tuple[bool, str]:
    """Whether two answers are equivalent, and how it was decided (``string``, ``numeric``, ``sympy``)."""
    a, b = normalize_math(answer), normalize_math(gold)
    pa, pb = _split_top(a), _split_top(b)
    if len(pa) > 1 or len(pb) > 1:
        if len(pa) != len(pb):
            return False, "tuple"
        return all(_scalar_equal(x, y, rel_tol, abs_tol)[0] for x, y in zip(pa, pb, strict=True)), "tuple"
    return _scalar_equal(a, b, rel_tol, abs_tol)


def _gold_answer(gold: str) -> str:
    boxed = _last_boxed(gold)
    if boxed is not None:
        return boxed
    m = _HASHES.search(gold)
    return m.group("ans").strip() if m else gold


class MathScorer:
    """1.0 when the response's final answer is equivalent to the gold answer, else 0.0.

    Args:
        rel_tol: relative tolerance of the numeric comparison.
        abs_tol: absolute tolerance of the numeric comparison.

    """

    def __init__(self, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol
        self._spec = ScorerSpec(
            "math",
            _VERSION,
            {"rel_tol": rel_tol, "abs_tol": abs_tol, "sympy": _sympy_version() or "not installed"},
        )

    @property
    def spec(self) -> ScorerSpec:
        """Name, version and parameters (including the sympy version, which can change a score)."""
        return self._spec

    def score(self, response: str, item: ScoreItem) -> Score:
        """Extract the final answer of ``response`` and compare it with ``item.gold``; never raises."""
        answer, rule = extract_math_answer(response)
        gold = _gold_answer(item.gold) if item.gold is not None else None
        gold_norm = normalize_math(gold) if gold is not None else ""
        detail: dict[str, Any] = {"rule": rule, "gold": gold, "gold_normalized": gold_norm}
        if gold is None or not gold_norm:
            reason = "no_gold" if item.gold is None else "bad_gold"
            return Score(math.nan, None, answer is not None, answer, reason, self._spec, detail)
        if answer is None:
            return Score(0.0, None, False, None, rule, self._spec, detail)
        ok, method = math_equal(answer, gold, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        detail.update(normalized=normalize_math(answer), method=method)
        return Score(1.0 if ok else 0.0, None, True, answer, "correct" if ok else "wrong", self._spec, detail)
