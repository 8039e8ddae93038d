"""The scoring contract: what a scorer is given, what it returns, and how it is recorded.

A scorer turns one model response into a :class:`Score`. Every score carries the
:class:`ScorerSpec` (name, version, parameters) of the scorer that produced it, so a result can be
reproduced and two runs can be told apart (`routing-plateau.txt` (arXiv:2606.07587) App. D: "each (query, model) pair is
reduced to a binary label by a per-task scorer, not a single global metric"). The kinds follow
`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §2.3 (a 0/1/2 LLM judge) and §3.3
(an exact-match second judge whose *parse rate* is reported, with unparsed responses excluded from exact-match figures).

Conventions
-----------
* ``Score.value`` is quality in [0, 1]. It is NaN only when the scorer itself could not judge (a judge
  call that raised, or a missing or unreadable *gold* answer: reason ``no_gold``/``bad_gold``/
  ``ambiguous_gold``); an unparseable *response* is a judged outcome: ``value`` 0 and ``parsed=False``.
  A scorer never raises on a strange response or gold; it returns such a score with a reason.
* ``Score.raw`` is the score on the scorer's own scale (a judge's 0/1/2), or ``None`` when there is no
  scale beyond ``value`` (exact match, unit tests).
* ``Score.reason`` is a short machine-readable word ("correct", "wrong", "no_answer", "timeout", ...).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from routerlab._jsonl import canonical_json
from routerlab._registry import Registry

LETTERS = "ABCDEFGHIJ"


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (tuples become lists); a clear error for anything else."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number to be recorded in a scorer spec. Got {value!r}.")
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ValueError(
        f"{where} must be JSON-like (str, number, bool, None, list, dict) so the score can be reproduced. "
        f"Got {type(value).__name__}."
    )


@dataclass(frozen=True, slots=True)
class ScorerSpec:
    """Name, version and parameters of a scorer: enough to reproduce its scores.

    ``version`` changes whenever the scorer's behaviour changes for some input; ``params`` holds every
    setting that changes a score (a judge's model and prompt template, a sandbox's limits).
    """

    name: str
    version: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not self.version:
            raise ValueError(
                f"ScorerSpec needs a name and a version. Got name={self.name!r}, version={self.version!r}."
            )
        object.__setattr__(self, "params", _jsonable(dict(self.params), f"ScorerSpec({self.name!r}).params"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"name", "version", "params", "hash"}``."""
        return {"name": self.name, "version": self.version, "params": dict(self.params), "hash": self.hash}

    @property
    def hash(self) -> str:
        """A stable 12-hex-digit digest of name, version and parameters (sorted-key JSON)."""
        payload = canonical_json([self.name, self.version, self.params], ascii_only=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScorerSpec:
        """Inverse of :meth:`to_dict` (the hash is recomputed, not trusted)."""
        return cls(name=str(data["name"]), version=str(data["version"]), params=dict(data.get("params") or {}))


@dataclass(frozen=True, slots=True)
class Score:
    """One scored response.

    Attributes:
        value: quality in [0, 1]; NaN only when the scorer could not run (see the module docstring).
        raw: the score on the scorer's own scale (a judge's 0/1/2), or ``None``.
        parsed: whether an answer could be extracted from the response (§3.3's parse rate).
        extracted: the extracted answer (a letter, a number, the code that ran), or ``None``.
        reason: a short machine-readable word for the outcome.
        spec: the scorer that produced the score.
        detail: JSON-ready extras (the judge's prompt and raw output, the rule that matched, ...).
        components: named sub-scores kept side by side (a dual judge's ``judge`` and ``exact``).

    """

    value: float
    raw: float | None
    parsed: bool
    extracted: str | None
    reason: str
    spec: ScorerSpec
    detail: Mapping[str, Any] = field(default_factory=dict)
    components: Mapping[str, Score] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = float(self.value)
        if not (math.isnan(v) or 0.0 <= v <= 1.0):
            raise ValueError(f"Score.value must be in [0, 1] (or NaN when the scorer could not run). Got {v!r}.")
        object.__setattr__(self, "value", v)
        if self.raw is not None:
            object.__setattr__(self, "raw", float(self.raw))

    @property
    def missing(self) -> bool:
        """True when the scorer could not judge (``value`` is NaN): no outcome, not a wrong answer."""
        return math.isnan(self.value)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the score, its spec and its components."""
        return {
            "value": None if self.missing else self.value,
            "raw": self.raw,
            "parsed": self.parsed,
            "extracted": self.extracted,
            "reason": self.reason,
            "scorer": self.spec.to_dict(),
            "detail": dict(self.detail),
            "components": {k: v.to_dict() for k, v in self.components.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Score:
        """Inverse of :meth:`to_dict` (a ``None`` value is NaN: the scorer could not judge).

        Raises ``ValueError`` naming the field when ``data`` is not a score written by :meth:`to_dict`.
        """
        try:
            value, raw, extracted = data["value"], data["raw"], data["extracted"]
            return cls(
                value=math.nan if value is None else float(value),
                raw=None if raw is None else float(raw),
                parsed=bool(data["parsed"]),
                extracted=None if extracted is None else str(extracted),
                reason=str(data["reason"]),
                spec=ScorerSpec.from_dict(data["scorer"]),
                detail=dict(data.get("detail") or {}),
                components={str(k): cls.from_dict(v) for k, v in (data.get("components") or {}).items()},
            )
        except KeyError as exc:
            raise ValueError(
                f"A stored score lacks the field {exc.args[0]!r}; it was not written by Score.to_dict."
            ) from None
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"A stored score is malformed ({exc}); it was not written by Score.to_dict.") from None


@dataclass(frozen=True, slots=True)
class ScoreItem:
    """What a scorer knows about a query besides the response.

    Attributes:
        text: the query (prompt) as sent to the model; for HumanEval, the function signature and docstring.
        gold: the reference answer (a letter, a number, a string), or ``None``.
        choices: option texts of a multiple-choice question, in letter order (A, B, ...).
        tests: unit tests for code: HumanEval's ``check`` function source, or MBPP's ``assert`` lines.
        entry_point: the function the tests call (HumanEval).
        test_setup: code to run before the tests (MBPP's ``test_setup_code``).
        source: the benchmark the query comes from (picks the scorer).
        split: the split the query belongs to.
        query_id: the query's id.
        category: a finer grouping than ``source`` (a subject), or ``None``.
        meta: any other JSON-ready fields.

    """

    text: str = ""
    gold: str | None = None
    choices: tuple[str, ...] | None = None
    tests: str | tuple[str, ...] | None = None
    entry_point: str | None = None
    test_setup: str | None = None
    source: str = ""
    split: str = "test"
    query_id: str = ""
    category: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(str(c) for c in self.choices))
        if isinstance(self.tests, list):
            object.__setattr__(self, "tests", tuple(str(t) for t in self.tests))
        if self.gold is not None and not isinstance(self.gold, str):
            object.__setattr__(self, "gold", str(self.gold))

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> ScoreItem:
        """Build an item from a flat row; scorer fields may also sit in ``row["meta"]`` (a dict or JSON text).

        Known keys: ``query_id``, ``text`` (or ``prompt``), ``gold`` (or ``answer``), ``choices``, ``tests``
        (or ``test``/``test_list``), ``entry_point``, ``test_setup`` (or ``test_setup_code``), ``source``,
        ``split``, ``category``. Everything else lands in ``meta``.
        """
        meta_raw = row.get("meta")
        meta: dict[str, Any] = {}
        if isinstance(meta_raw, str) and meta_raw.strip():
            try:
                loaded = json.loads(meta_raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"query {row.get('query_id')!r}: meta is not valid JSON ({exc}).") from None
            if isinstance(loaded, Mapping):
                meta = dict(loaded)
        elif isinstance(meta_raw, Mapping):
            meta = dict(meta_raw)

        def pick(*keys: str) -> Any:
            for source in (row, meta):
                for k in keys:
                    v = source.get(k)
                    if v is not None and not (isinstance(v, float) and math.isnan(v)):
                        return v
            return None

        choices = pick("choices", "options")
        if isinstance(choices, str):
            choices = json.loads(choices) if choices.strip().startswith("[") else None
        tests = pick("tests", "test", "test_list")
        if isinstance(tests, str) and tests.strip().startswith("[") and tests.strip().endswith("]"):
            try:
                tests = json.loads(tests)
            except json.JSONDecodeError:
                pass
        if isinstance(tests, Sequence) and not isinstance(tests, str):
            tests = tuple(str(t) for t in tests)
        used = {"choices", "options", "tests", "test", "test_list", "entry_point", "test_setup", "test_setup_code"}
        gold = pick("gold", "answer")
        return cls(
            text=str(pick("text", "prompt") or ""),
            gold=None if gold is None else str(gold),
            choices=None if choices is None else tuple(str(c) for c in choices),
            tests=tests,
            entry_point=pick("entry_point"),
            test_setup=pick("test_setup", "test_setup_code"),
            source=str(pick("source") or ""),
            split=str(pick("split") or "test"),
            query_id=str(pick("query_id") or ""),
            category=pick("category"),
            meta={k: v for k, v in meta.items() if k not in used},
        )


@runtime_checkable
class Scorer(Protocol):
    """Anything with a :class:`ScorerSpec` that scores a response to a :class:`ScoreItem`."""

    @property
    def spec(self) -> ScorerSpec:
        """Name, version and parameters, recorded with every score."""
        ...

    def score(self, response: str, item: ScoreItem) -> Score:
        """Score one response; never raises for a bad response (it is a score of 0 with a reason)."""
        ...


def parse_rate(scores: Sequence[Score]) -> float:
    """Share of scores whose answer could be extracted (§3.3 reports it per tier); NaN for no scores."""
    if not scores:
        return float("nan")
    return sum(1 for s in scores if s.parsed) / len(scores)


#: Scorer factories by name; ``scorer_for(name, **params)`` builds one. Plug-ins register under the
#: ``routerlab.scorers`` entry-point group.
SCORERS: Registry[Callable[..., Scorer]] = Registry("scorer")
SCORERS.register("letter", "routerlab.score.letter:LetterScorer")
SCORERS.register("exact", "routerlab.score.exact:ExactScorer")
SCORERS.register("math", "routerlab.score.math:MathScorer")
SCORERS.register("code", "routerlab.score.code:CodeScorer")
SCORERS.register("judge", "routerlab.score.judge:LLMJudge")
SCORERS.register("dual", "routerlab.score.judge:DualJudge")


def scorer_for(name: str, **params: Any) -> Scorer:
    """Build the scorer registered as ``name`` with ``params`` (e.g. ``scorer_for("code", timeout_s=5)``)."""
    factory = SCORERS.get(name)
    return factory(**params)
