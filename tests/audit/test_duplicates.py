"""Duplicate groups, conflicting labels, leakage, de-duplication and the blocked cosine search."""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.audit import dedupe, exact_duplicate_groups, group_pairs, near_duplicate_pairs
from routerlab.audit.duplicates import (
    DIFFERENCE_READ,
    READ_WHOLE,
    UNREAD_EQUAL,
    UNVERIFIABLE,
    duplicates,
    label_disagreement,
    verify_pairs,
)
from routerlab.data import RoutingData
from routerlab.data.features import TokenSpans, get_encoder, token_spans
from routerlab.errors import SchemaError
from tests.audit._toy import toy

TEXTS = [
    "What is 2+2?",
    "  what   is 2+2? ",  # exact duplicate of q0 after normalisation, different labels
    "Capital of France?",
    "capital of FRANCE?",  # duplicate of q2 in the test split, same labels
    "Name a prime number.",
    "Name a prime number!",
]
Y = [[1, 0], [0, 0], [1, 1], [1, 1], [0, 1], [0, 1]]
SPLITS = ["train", "train", "train", "test", "train", "val"]


def _data() -> object:
    return toy(Y, texts=TEXTS, splits=SPLITS)


def test_exact_groups_disagreement_and_leakage() -> None:
    data = _data()
    groups = exact_duplicate_groups(data.texts)
    assert [g.tolist() for g in groups] == [[0, 1], [2, 3]]
    assert label_disagreement(data, groups).tolist() == [True, False]
    found = duplicates(data)
    exact = found[0]
    assert exact.numbers["n_groups"] == 2 and exact.numbers["disagree_share"] == 0.5
    assert exact.numbers["n_disagreeing"] == 1 and exact.numbers["n_extra_copies"] == 2
    assert exact.severity == "warning"
    assert found[1].severity == "info" and "Near duplicates not checked" in found[1].title
    leak = found[2]
    assert leak.severity == "error" and leak.numbers["n_groups_train_eval"] == 1
    assert set(leak.involved) == {"q2", "q3"}


def test_near_duplicates_from_given_embeddings() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 16)).astype(np.float32)
    X[5] = X[4] + 1e-3 * rng.normal(size=16)  # planted near duplicate across train/val
    found = duplicates(_data(), X=X, block_size=4)
    near = found[1]
    assert near.numbers["n_groups"] == 3 and near.numbers["n_pairs_above_threshold"] == 1
    assert near.numbers["disagree_share"] == pytest.approx(1 / 3, abs=1e-4)
    # group {4, 5} spans train and val: reported among the split combinations, not as train/eval leakage
    assert found[2].numbers["split_combinations"] == {"test+train": 1, "train+val": 1}


def test_dedupe_removes_exactly_the_extra_copies() -> None:
    data = _data()
    groups = exact_duplicate_groups(data.texts)
    out = dedupe(data, groups)
    assert out.query_ids.tolist() == ["q0", "q2", "q4", "q5"]
    assert out.meta["dedupe"] == {"keep": "first", "n_groups": 2, "n_removed": 2}
    assert dedupe(data, groups, keep="last").query_ids.tolist() == ["q1", "q3", "q4", "q5"]
    assert dedupe(data, groups, keep="none").query_ids.tolist() == ["q4", "q5"]
    with pytest.raises(SchemaError, match="keep must be"):
        dedupe(data, groups, keep="middle")


def test_blocked_search_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(53, 8))
    for a, b in [(3, 40), (10, 11), (40, 52), (20, 7)]:
        X[b] = X[a] * 2.0 + 1e-4 * rng.normal(size=8)  # scale does not matter for cosine
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = unit @ unit.T
    expected = {(i, j) for i in range(53) for j in range(i + 1, 53) if sims[i, j] >= 0.999}
    for block in (1, 7, 16, 100):
        got = near_duplicate_pairs(X, 0.999, block_size=block)
        assert {(int(i), int(j)) for i, j in got} == expected
    groups = group_pairs(53, near_duplicate_pairs(X, 0.999, block_size=7))
    assert [g.tolist() for g in groups] == [[3, 40, 52], [7, 20], [10, 11]]


def test_text_free_data_without_embeddings_is_skipped() -> None:
    [f] = duplicates(toy(Y))
    assert f.severity == "info" and f.title.startswith("Skipped")


def test_embeddings_must_match_queries() -> None:
    with pytest.raises(SchemaError, match="one row per query"):
        duplicates(_data(), X=np.ones((3, 4)))


# ------------------------------------------------------------------------ texts the encoder cut
_WORDS = "river valley stone harbour meadow lantern orchard glacier canyon village market bridge tower forest island"
_W = _WORDS.split()
#: A reading-comprehension passage of about 1,700 tokens: far beyond static64's 512 (and MiniLM's 254).
PASSAGE = " ".join(f"The {_W[i % 15]} near the {_W[(3 * i) % 15]} was mapped in {1800 + i}." for i in range(130))
#: A medium question of about 330 tokens that every encoder reads whole.
MEDIUM = " ".join(f"Item {i}: the {_W[i % 15]} by the {_W[(2 * i) % 15]}." for i in range(40)) + " Which item is last?"


def _long_context_data() -> RoutingData:
    texts = [
        PASSAGE + " Question: Which river is the longest?",
        PASSAGE + " Question: Where does the third river meet the sea?",  # another question after the same passage
        PASSAGE.replace("mapped in 1810", "maped in 1810") + " Question: Which river is the longest?",  # a typo
        MEDIUM,
        MEDIUM.replace("Item 7: the", "Item 7: teh"),  # a genuine near duplicate, read whole
        "Name a prime number below ten.",
    ]
    Y = [[1, 0], [0, 1], [1, 0], [1, 1], [1, 0], [0, 0]]
    return toy(Y, texts=texts)


def test_a_shared_passage_with_different_questions_is_not_a_near_duplicate() -> None:
    data = _long_context_data()
    enc = get_encoder("static64")
    assert data.texts is not None
    X = enc.encode([str(t) for t in data.texts])
    assert X[0] @ X[1] > 0.9999  # the encoder never reached the questions: its vectors cannot tell them apart
    near = duplicates(data, encoder="static64")[1]
    # without the check: one group {q0, q1, q2}, its labels in conflict; q1 asks another question and is out
    assert near.involved == ("q0", "q3")
    assert near.numbers["n_groups"] == 2 and near.numbers["n_queries_in_groups"] == 4
    assert near.numbers["n_pairs_above_threshold"] == 4 and near.numbers["n_pairs_unverifiable"] == 2
    assert sorted(map(sorted, near.numbers["unverifiable_examples"])) == [["q0", "q1"], ["q1", "q2"]]
    assert near.numbers["n_texts_truncated"] == 3 and near.numbers["max_tokens"] == 512
    assert "3 texts truncated by the encoder (at 512 tokens)" in near.title
    assert "2 pairs differing past the cut dropped as not verifiable" in near.title
    assert near.numbers["n_disagreeing"] == 1  # q3/q4 (a typo, read whole) disagree on m1; q0/q2 agree


def test_given_embeddings_with_their_encoder_are_verified_and_without_it_truncation_is_unknown() -> None:
    data = _long_context_data()
    enc = get_encoder("static64")
    assert data.texts is not None
    X = enc.encode([str(t) for t in data.texts])
    checked = duplicates(data, X=X, encoder=enc)[1]
    assert checked.numbers["n_pairs_unverifiable"] == 2 and checked.numbers["n_texts_truncated"] == 3
    assert "(X= given)" in checked.numbers["embeddings"]
    blind = duplicates(data, X=X)[1]
    assert blind.numbers["n_texts_truncated"] is None and blind.numbers["n_pairs_unverifiable"] is None
    assert "truncation unknown" in blind.title and blind.numbers["n_groups"] == 2  # {0, 1, 2} and {3, 4}


def _spans(kept: list[int], texts: list[str]) -> TokenSpans:
    n = len(texts)
    cut = np.array([k < len(t) for k, t in zip(kept, texts, strict=True)])
    return TokenSpans(
        n_tokens=np.full(n, 10),
        n_kept=np.where(cut, 5, 10),
        truncated=cut,
        kept_chars=np.asarray(kept),
        tail_start=np.zeros(n, dtype=np.int64),
        max_tokens=5,
    )


def test_verify_pairs_compares_what_the_encoder_did_not_read() -> None:
    texts = [
        "passage passage. Q: which?",
        "passage passage. Q: where?",  # differs after the cut
        "passage  passage. q: WHICH?",  # differs from 0 only in space and case after the cut
        "pasage passage. Q: which?",  # a typo inside the read part; the rest shifts by one character
        "short",
        "short!",
    ]
    kept = [16, 16, 17, 15, 5, 6]
    pairs = np.array([[0, 1], [0, 2], [0, 3], [4, 5], [1, 3]])
    status = verify_pairs(texts, pairs, _spans(kept, texts)).tolist()
    assert status == [UNVERIFIABLE, UNREAD_EQUAL, UNREAD_EQUAL, READ_WHOLE, UNVERIFIABLE]
    kept[3] = 14  # the encoder read one character less of text 3: its rest no longer lines up with text 0's
    assert verify_pairs(texts, pairs[2:3], _spans(kept, texts)).tolist() == [DIFFERENCE_READ]


def test_token_spans_of_each_encoder() -> None:
    texts = [PASSAGE, MEDIUM, "  a short one  ", ""]
    sp = token_spans(get_encoder("static64"), texts)
    assert sp is not None and sp.max_tokens == 512 and sp.n_truncated == 1
    assert sp.truncated.tolist() == [True, False, False, False] and sp.n_kept[0] == 512 < sp.n_tokens[0]
    assert sp.kept_chars.tolist()[1:] == [len(t) for t in texts[1:]] and 0 < sp.kept_chars[0] < len(PASSAGE)
    hashing = token_spans(get_encoder("hashing"), texts)
    assert hashing is not None and hashing.n_truncated == 0 and hashing.max_tokens is None
    assert hashing.n_tokens.tolist()[2:] == [3, 0]
