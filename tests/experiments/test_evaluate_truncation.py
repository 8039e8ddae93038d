"""`routerlab evaluate` says how many query texts its encoder cut (issue 15, item 2), and saves it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from routerlab.data import RoutingData
from routerlab.data.features import ENCODERS, TokenSpans
from routerlab.data.features.cache import _shared_encoder
from routerlab.data.features.encoders import HashingEncoder
from routerlab.experiments.evaluate.results import load_results
from routerlab.experiments.protocol import evaluate_protocol
from tests.conftest import make_routing_problem


class FiveWords(HashingEncoder):
    """Hashing vectors, but it says it reads only the first 5 words (a stand-in for a bounded model)."""

    def __init__(self) -> None:
        super().__init__(n_features=64)
        self.name = "five-words:v1"

    def token_spans(self, texts: Sequence[str]) -> TokenSpans:
        n = np.array([len(t.split()) for t in texts], dtype=np.int64)
        kept = np.minimum(n, 5)
        chars = np.array([len(" ".join(t.split()[:5])) for t in texts], dtype=np.int64)
        return TokenSpans(n, kept, n > 5, chars, np.zeros(len(texts), dtype=np.int64), 5)


@pytest.fixture
def five_words() -> Iterator[str]:
    ENCODERS.register("five-words", FiveWords)
    _shared_encoder.cache_clear()
    yield "five-words"
    ENCODERS.unregister("five-words")
    _shared_encoder.cache_clear()


def _data(n: int = 120) -> RoutingData:
    data = make_routing_problem(n, 3, seed=2)
    # every 4th text is long (8 words), the others 4 words
    texts = [f"topic {i % 5} item {i}" + (" with more words" if i % 4 == 0 else "") for i in range(n)]
    return dataclasses.replace(data, texts=np.array(texts, dtype=object))


def test_the_truncation_rate_is_reported_and_saved(tmp_path: Path, five_words: str) -> None:
    data = _data()
    result = evaluate_protocol(data, ["best_single", "knn"], encoder=five_words, sweep_dir=tmp_path / "sweep")
    report = result.truncation
    assert report is not None and (report.n_texts, report.n_long, report.n_truncated) == (120, 30, 30)
    test = data.splits == "test"
    assert report.by_split["test"] == (int(test.sum()), 6, 6)  # rows 96..119: every 4th
    line = report.sentence()
    assert line.startswith("five-words: 30 of 120 query texts (25.0 %) are longer than its 5-token window")
    assert result.board is not None
    saved = result.board.meta["encoder_truncation"]
    assert saved["n_truncated"] == 30 and saved["truncated_share"] == 0.25 and saved["encoder"] == "five-words:v1"
    assert line in result.board.to_markdown()
    result.board.save_results(tmp_path / "out")
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert board["meta"]["encoder_truncation"]["n_long"] == 30
    assert load_results(tmp_path / "out").meta["encoder_truncation"]["n_long"] == 30


def test_no_features_no_report_and_a_whole_read_says_so(tmp_path: Path) -> None:
    data = _data(60)
    assert evaluate_protocol(data, ["best_single"], encoder="hashing", sweep_dir=tmp_path / "a").truncation is None
    result = evaluate_protocol(data, ["knn"], encoder="hashing", sweep_dir=tmp_path / "b")
    assert result.truncation is not None and result.truncation.n_truncated == 0
    assert result.truncation.sentence().startswith("hashing read every query text whole (60 texts")
