"""Semantic entropy by hand, the generation cache (a real SQLite file) and the ``verbal:`` encoder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from routerlab.data.features import get_encoder
from routerlab.data.features.cache import text_key
from routerlab.data.features.encoders import is_encoder_name
from routerlab.data.features.generate import GenSettings, generation_identity
from routerlab.data.features.verbal import (
    VERBAL_COLUMNS,
    GenerationCache,
    VerbalSignalEncoder,
    answer_classes,
    discrete_semantic_entropy,
    parse_verbal_name,
)
from routerlab.errors import RouterlabError, SchemaError


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["A", "A", "A", "B", "C"], -(0.6 * math.log(0.6) + 2 * 0.2 * math.log(0.2))),  # counts [3, 1, 1]: 0.9503
        (["B"] * 5, 0.0),
        (["A", "B", "C", "D"], math.log(4)),
        ([None] * 5, math.log(5)),  # five unparsed answers: five classes, none agrees with another
        (["A", "A", None, None, "B"], -(0.4 * math.log(0.4) + 3 * 0.2 * math.log(0.2))),  # [2, 1, 1, 1]
        (["C", None], math.log(2)),
    ],
)
def test_discrete_semantic_entropy_by_hand(labels: list[str | None], expected: float) -> None:
    assert discrete_semantic_entropy(labels) == pytest.approx(expected, abs=1e-12)


def test_counts_3_1_1_give_0_9503() -> None:
    assert discrete_semantic_entropy(["D", "A", "D", "C", "D"]) == pytest.approx(0.950270539, abs=1e-9)


def test_order_does_not_matter_and_unparsed_answers_are_their_own_class() -> None:
    rng = np.random.default_rng(0)
    labels: list[str | None] = ["A", None, "B", "A", None, "C", "A"]
    base = discrete_semantic_entropy(labels)
    for _ in range(5):
        assert discrete_semantic_entropy([labels[i] for i in rng.permutation(len(labels))]) == pytest.approx(base)
    classes = answer_classes(labels)
    assert len(set(classes)) == 5 and classes[0] == classes[3] == "A"
    with pytest.raises(SchemaError, match="at least one answer"):
        discrete_semantic_entropy([])


@pytest.fixture
def model_dir(tmp_path: Path) -> str:
    """A model folder is enough for an identity (nothing is loaded)."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return str(folder)


def _fill(cache: GenerationCache, identity: str, classes: str, texts: list[str]) -> dict[str, tuple[float, float]]:
    values = {t: (0.1 + 0.8 * i / len(texts), float(i % 3)) for i, t in enumerate(texts)}
    keys = {t: text_key(t).hex() for t in texts}
    cache.put(
        identity,
        classes,
        [(keys[t], json.dumps({"t": t}), p) for t, (p, _) in values.items()],
        [(keys[t], json.dumps(["A"]), se) for t, (_, se) in values.items()],
    )
    return values


def test_the_cache_keeps_rows_by_content_and_never_rewrites_them(tmp_path: Path, model_dir: str) -> None:
    cache = GenerationCache(tmp_path / "g.sqlite")
    identity = generation_identity(model_dir, GenSettings())
    texts = ["q one", "q two", "q three"]
    values = _fill(cache, identity, "letter@3", texts)
    keys = [text_key(t).hex() for t in texts]
    assert cache.signals(identity, "letter@3", [*keys, keys[0]]) == {text_key(t).hex(): v for t, v in values.items()}
    assert cache.records(identity, keys[:1]) == {keys[0]: json.dumps({"t": "q one"})}
    cache.put(identity, "letter@3", [(keys[0], "{}", 0.99)], [])  # a stored row is final
    assert cache.records(identity, keys[:1]) == {keys[0]: json.dumps({"t": "q one"})}
    other = generation_identity(model_dir, GenSettings(k=7))
    assert cache.signals(other, "letter@3", keys) == {}  # other settings never share a row
    assert cache.signals(identity, "letter@4", keys) == {}  # nor another classifier's entropies
    assert cache.classifiers(identity) == [("letter@3", 3)]


def test_the_encoder_reads_the_cached_signals_in_column_order(
    tmp_path: Path, model_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTERLAB_CACHE_DIR", str(tmp_path / "cache"))
    settings = GenSettings(k=3, max_new_tokens=8)
    texts = ["alpha?", "beta?", "gamma?", "delta?"]
    values = _fill(GenerationCache(), generation_identity(model_dir, settings), "letter@3#x", texts)
    name = f"verbal:{model_dir}?k=3&max_new_tokens=8"
    assert is_encoder_name(name)
    encoder = get_encoder(name)
    assert isinstance(encoder, VerbalSignalEncoder) and encoder.classes == "letter@3#x"
    rows = encoder.encode(texts[::-1])
    assert rows.dtype == np.float32 and rows.shape == (4, len(VERBAL_COLUMNS))
    np.testing.assert_allclose(rows, np.array([values[t] for t in texts[::-1]], dtype=np.float32))
    with pytest.raises(RouterlabError, match=r"1 of 2 texts have no verbal signals .*routerlab collect-lm-gen"):
        encoder.encode(["alpha?", "never generated"])
    with pytest.raises(RouterlabError, match=r"no verbal signals under k=5:T=1:max_new=24:seed=0.*other settings"):
        get_encoder(f"verbal:{model_dir}")  # the defaults name other settings than the collected ones
    _fill(GenerationCache(), generation_identity(model_dir, settings), "letter@4#y", texts)
    with pytest.raises(RouterlabError, match=r"several answer classifiers .*'letter@3#x' \(4 rows\)"):
        get_encoder(name)
    assert get_encoder(f"{name}&classes=letter@4#y").encode(texts[:1]).shape == (1, 2)


def test_encoder_names_are_parsed_or_refused_clearly() -> None:
    model, settings, classes = parse_verbal_name("verbal:smollm2-135m?k=7&temperature=0.5&seed=3")
    assert (model, settings, classes) == ("smollm2-135m", GenSettings(k=7, temperature=0.5, seed=3), None)
    with pytest.raises(SchemaError, match=r"options are k=, max_new_tokens=.*got 'layers=all'"):
        parse_verbal_name("verbal:smollm2-135m?layers=all")
    with pytest.raises(SchemaError, match=r"k, max_new_tokens and seed are ints"):
        parse_verbal_name("verbal:smollm2-135m?k=five")
    with pytest.raises(SchemaError, match=r"GenSettings.k must be an int >= 2"):
        parse_verbal_name("verbal:smollm2-135m?k=1")
    with pytest.raises(SchemaError, match="names no model"):
        parse_verbal_name("verbal:")
