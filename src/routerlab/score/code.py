"""Unit-test scoring of generated code (HumanEval, MBPP) in the two-process sandbox.

`routing-plateau.txt` (arXiv:2606.07587) App. D: "code benchmarks use unit-test execution";
`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §3.1 scores HumanEval and MBPP
(§6.3: small tiers write 50-65% more tokens, so truncated code is common and must score 0 with its reason, not crash the
run).

The candidate's program runs in one process and the tests in another, which decides pass/fail
(:mod:`routerlab.score.sandbox`: what the sandbox promises and what it does not). A HumanEval prompt —
its imports and helper functions, which the tests use (``poly`` in HumanEval/32, ``encode_cyclic`` in
HumanEval/38) — runs on the trusted side too, so a candidate that redefines a helper cannot change
what the tests check.

Each failure is a status (:data:`routerlab.score.sandbox.STATUSES`), and the :class:`CodeScorer`
scores it 0 with that status as the reason, except ``harness_error`` (the *tests* do not compile: not
the model's fault, so the score is NaN — no outcome — rather than 0). ``parsed`` is False for
``no_code`` and ``syntax_error``. Text the candidate controls is stored under ``untrusted_*`` keys of the
score's detail, capped and stripped of control characters.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from typing import Any

from routerlab.score.base import Score, ScoreItem, ScorerSpec
from routerlab.score.sandbox import STATUSES, SandboxLimits, SandboxResult, run_sandboxed, sandbox_layers

__all__ = [
    "STATUSES",
    "UNPARSED_STATUSES",
    "CodeScorer",
    "Program",
    "SandboxLimits",
    "SandboxResult",
    "build_program",
    "extract_code",
    "run_sandboxed",
    "sandbox_layers",
]

_VERSION = "2"
#: statuses that mean the candidate's code could not even be read as a program
UNPARSED_STATUSES = frozenset({"no_code", "syntax_error"})


# ------------------------------------------------------------------------------------ programs
_FENCE = re.compile(r"```[ \t]*(?P<lang>[\w+#.-]*)[^\n]*\n(?P<body>.*?)(?:```|\Z)", re.DOTALL)


def extract_code(response: str | None, entry_point: str | None = None) -> tuple[str | None, str]:
    """The code in a response and the rule used.

    Fenced blocks (```python ... ```, an unterminated last fence counts — truncated responses): the
    longest block that defines ``entry_point``, else the longest Python-or-untagged block. No fence: the
    whole response (a completion). Returns ``(None, "no_code")`` for an empty response.
    """
    text = re.sub(r"<think>.*?</think>", "", response or "", flags=re.DOTALL | re.IGNORECASE)
    if not text.strip():
        return None, "no_code"
    blocks = [
        (m.group("lang").lower(), m.group("body"))
        for m in _FENCE.finditer(text)
        if m.group("lang").lower() in ("", "python", "py", "python3")
    ]
    if blocks:
        if entry_point:
            defining = [
                b for _, b in blocks if re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", b, re.M)
            ]
            if defining:
                return max(defining, key=len), "fenced_entry_point"
        return max((b for _, b in blocks), key=len), "fenced_longest"
    if "```" in text:
        return None, "no_code"  # only non-Python fences
    return text, "unfenced"


@dataclass(frozen=True, slots=True)
class Program:
    """What the sandbox runs for one answer: the untrusted ``solution`` and the trusted ``setup`` and ``tests``."""

    solution: str
    tests: str
    setup: str = ""
    entry_point: str | None = None


def build_program(code: str, item: ScoreItem) -> Program:
    """The :class:`Program` for a HumanEval- or MBPP-style item.

    HumanEval (``entry_point`` set): if ``code`` defines the entry point, the solution is the prompt
    (``item.text``, which may hold helpers and imports; its docstring-only function is then redefined)
    followed by ``code``; otherwise ``code`` is a completion appended to the prompt. The prompt is also the
    trusted ``setup`` of the tests, whose ``check`` is then called on the candidate's entry point. MBPP:
    the solution is ``code``; ``test_setup`` is the setup and the assert lines are the tests.
    """
    tests = item.tests if isinstance(item.tests, str) else "\n".join(item.tests or ())
    setup = item.test_setup or ""
    if item.entry_point:
        defines = re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(item.entry_point)}\s*\(", code, re.M)
        solution = (item.text + "\n\n" + code) if defines else (item.text + code)
        setup = "\n".join(part for part in (item.text, setup) if part)
        if re.search(r"^def\s+check\s*\(", tests, re.M):
            tests = f"{tests}\n\ncheck({item.entry_point})\n"
        return Program(solution, tests, setup, item.entry_point)
    return Program(code, tests, setup, None)


class CodeScorer:
    """1.0 when the extracted code passes the item's unit tests in the sandbox, else 0.0 with the status.

    ``parsed`` is False when no code could be extracted or it does not compile (a format artifact, §5.3,
    or a truncated answer, §5.2). Keyword arguments are :class:`SandboxLimits` fields.
    """

    def __init__(self, **limits: Any) -> None:
        self.limits = SandboxLimits(**limits)
        self._spec = ScorerSpec("code", _VERSION, {"limits": self.limits.to_dict(), "python": sys.version.split()[0]})

    @property
    def spec(self) -> ScorerSpec:
        """Name, version and parameters (the sandbox limits and the Python version)."""
        return self._spec

    def score(self, response: str, item: ScoreItem) -> Score:
        """Extract code from ``response``, run it with ``item``'s tests, score pass/fail."""
        if not item.tests:
            raise ValueError(f"query {item.query_id!r} has no tests; the code scorer needs unit tests.")
        code, rule = extract_code(response, item.entry_point)
        if code is None:
            return Score(0.0, None, False, None, "no_code", self._spec, {"rule": rule})
        program = build_program(code, item)
        result = run_sandboxed(
            program.solution, program.tests, setup=program.setup, entry_point=program.entry_point, limits=self.limits
        )
        detail = {
            "rule": rule,
            "status": result.status,
            "error": result.error,
            "violations": [dict(v) for v in result.violations],
            "duration_s": result.duration_s,
            "returncode": result.returncode,
            "output_truncated": result.output_truncated,
            "layers": dict(result.layers),
            # written by the candidate: capped and stripped of control characters, never interpreted
            "untrusted_error": result.untrusted_error,
            "untrusted_stderr_tail": result.stderr[-2000:],
        }
        return Score(
            math.nan if result.status == "harness_error" else (1.0 if result.passed else 0.0),
            None,
            result.status not in UNPARSED_STATUSES,
            code,
            result.status,
            self._spec,
            detail,
        )
