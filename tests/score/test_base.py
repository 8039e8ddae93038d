"""The scoring contract: specs are reproducible records, scores are validated, the registry helps."""

from __future__ import annotations

import math

import pytest

from routerlab.errors import UnknownNameError
from routerlab.score import SCORERS, Score, ScoreItem, Scorer, ScorerSpec, parse_rate, scorer_for


def test_spec_hash_is_stable_and_order_free() -> None:
    a = ScorerSpec("code", "1", {"timeout_s": 2.0, "memory_mb": 256})
    b = ScorerSpec("code", "1", {"memory_mb": 256, "timeout_s": 2.0})
    assert a.hash == b.hash and len(a.hash) == 12
    assert a.hash != ScorerSpec("code", "2", {"timeout_s": 2.0, "memory_mb": 256}).hash
    assert ScorerSpec.from_dict(a.to_dict()) == a
    # a hand-checked value: sha256 of '["code","1",{"memory_mb":256,"timeout_s":2.0}]'
    import hashlib

    assert a.hash == hashlib.sha256(b'["code","1",{"memory_mb":256,"timeout_s":2.0}]').hexdigest()[:12]


def test_spec_rejects_unrecordable_params() -> None:
    with pytest.raises(ValueError, match="JSON-like"):
        ScorerSpec("x", "1", {"fn": print})
    with pytest.raises(ValueError, match="finite"):
        ScorerSpec("x", "1", {"tol": float("nan")})


def test_score_value_range() -> None:
    spec = ScorerSpec("x", "1")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Score(1.5, None, True, None, "x", spec)
    missing = Score(math.nan, None, False, None, "judge_error", spec)
    assert missing.missing and missing.to_dict()["value"] is None


def test_parse_rate() -> None:
    spec = ScorerSpec("x", "1")
    scores = [Score(1.0, None, True, "A", "correct", spec), Score(0.0, None, False, None, "no_answer", spec)]
    assert parse_rate(scores) == 0.5
    assert math.isnan(parse_rate([]))


def test_registry_and_factory() -> None:
    assert {"letter", "exact", "math", "code", "judge", "dual"} <= set(SCORERS.names())
    letter = scorer_for("letter")
    assert isinstance(letter, Scorer) and letter.spec.name == "letter"
    assert scorer_for("code", timeout_s=3).spec.params["limits"]["timeout_s"] == 3
    with pytest.raises(UnknownNameError, match="Did you mean 'letter'"):
        scorer_for("lettr")


def test_score_item_from_mapping_reads_meta_json() -> None:
    item = ScoreItem.from_mapping(
        {
            "query_id": "mbpp/2",
            "text": "Write min.",
            "source": "mbpp",
            "gold": None,
            "split": "val",
            "meta": '{"test_list": ["assert f(1) == 1"], "test_setup_code": "import math", "difficulty": 3}',
        }
    )
    assert item.tests == ("assert f(1) == 1",) and item.test_setup == "import math"
    assert item.split == "val" and item.meta == {"difficulty": 3}
    mc = ScoreItem.from_mapping({"query_id": "q", "answer": 2, "choices": '["a", "b", "c"]'})
    assert mc.gold == "2" and mc.choices == ("a", "b", "c")
    with pytest.raises(ValueError, match="not valid JSON"):
        ScoreItem.from_mapping({"query_id": "q", "meta": "{oops"})
