"""Scorers: turn model responses into outcomes, each recorded with its name, version and parameters.

Kinds (`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §2.3, §3.3;
`routing-plateau.txt` (arXiv:2606.07587) App. D): multiple-choice letter extraction with a parse flag
(:class:`LetterScorer`), normalised exact match (:class:`ExactScorer`), numeric/symbolic equivalence for math
(:class:`MathScorer`), unit tests run in a sandboxed subprocess (:class:`CodeScorer`), an LLM judge on the 0/1/2 rubric
(:class:`LLMJudge`) and a judge kept side by side with exact match (:class:`DualJudge`). :func:`records_to_routing`
turns collected records into a
:class:`~routerlab.data.RoutingData`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routerlab.score.base import (
    LETTERS,
    SCORERS,
    Score,
    ScoreItem,
    Scorer,
    ScorerSpec,
    parse_rate,
    scorer_for,
)
from routerlab.score.letter import LetterExtraction, LetterScorer, extract_letter

if TYPE_CHECKING:
    from routerlab.score.build import ScoredRecord, build_routing, records_to_routing, score_records
    from routerlab.score.code import CodeScorer, SandboxLimits, SandboxResult, run_sandboxed
    from routerlab.score.exact import ExactScorer
    from routerlab.score.judge import DualJudge, LLMJudge
    from routerlab.score.math import MathScorer

_LAZY = {
    "ScoredRecord": "routerlab.score.build",
    "build_routing": "routerlab.score.build",
    "records_to_routing": "routerlab.score.build",
    "score_records": "routerlab.score.build",
    "CodeScorer": "routerlab.score.code",
    "SandboxLimits": "routerlab.score.code",
    "SandboxResult": "routerlab.score.code",
    "run_sandboxed": "routerlab.score.code",
    "ExactScorer": "routerlab.score.exact",
    "DualJudge": "routerlab.score.judge",
    "LLMJudge": "routerlab.score.judge",
    "MathScorer": "routerlab.score.math",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'routerlab.score' has no attribute {name!r}")


__all__ = [
    "LETTERS",
    "SCORERS",
    "CodeScorer",
    "DualJudge",
    "ExactScorer",
    "LLMJudge",
    "LetterExtraction",
    "LetterScorer",
    "MathScorer",
    "SandboxLimits",
    "SandboxResult",
    "Score",
    "ScoreItem",
    "ScoredRecord",
    "Scorer",
    "ScorerSpec",
    "build_routing",
    "extract_letter",
    "parse_rate",
    "records_to_routing",
    "run_sandboxed",
    "score_records",
    "scorer_for",
]
