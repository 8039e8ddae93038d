"""The local-LM forward pass, the float16 hidden-state store and the ``hidden:`` encoder, on a tiny random Llama."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="local LMs need torch (pip install 'routerlab[lm]')")
pytest.importorskip("transformers", reason="local LMs need transformers (pip install 'routerlab[lm]')")

from routerlab.data.features import encode, get_encoder
from routerlab.data.features import hidden as hidden_mod
from routerlab.data.features.cache import text_key
from routerlab.data.features.hidden import (
    HiddenStateEncoder,
    HiddenStateStore,
    hidden_layout,
    parse_hidden_name,
)
from routerlab.data.features.lm import distribution_signals, letter_token_ids, load_lm, model_identity
from routerlab.data.features.value import featurize
from routerlab.data.loaders.mcq import mcq_prompt
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import RouterlabError, SchemaError
from tests.data.tiny_lm import DIM, N_LAYERS, build_tiny_lm, tiny_questions

QUESTIONS = tiny_questions(24)
TEXTS = [mcq_prompt(q, c) for q, c, _ in QUESTIONS]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"), TEXTS))


def _data(texts: list[str]) -> RoutingData:
    n = len(texts)
    return RoutingData(
        name="tiny",
        query_ids=np.array([f"q{i}" for i in range(n)], dtype=object),
        sources=np.array(["s"] * n, dtype=object),
        splits=np.array(["test"] * n, dtype=object),
        models=(ModelInfo("a"), ModelInfo("b")),
        Y=np.zeros((n, 2)),
        cost=np.ones((n, 2)),
        cost_unit="usd",
        texts=np.array(texts, dtype=object),
    )


# ------------------------------------------------------------------------------ signals
def test_distribution_signals_by_hand() -> None:
    mx, ent, margin = distribution_signals(np.array([[0.0, 0.0, 0.0, 0.0], [math.log(3.0), 0.0, -np.inf, -np.inf]]))
    assert mx == pytest.approx([0.25, 0.75])
    assert ent == pytest.approx([math.log(4), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))])
    assert margin == pytest.approx([0.0, 0.5])
    # shift-invariant and safe for huge logits
    big = distribution_signals(np.array([[1000.0 + math.log(3.0), 1000.0]]))
    assert big[0] == pytest.approx([0.75]) and big[2] == pytest.approx([0.5])


class _SplitsLetters:
    """A tokenizer that splits ' A' into two tokens after 'Answer:'."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [1, 2] if text == "Answer:" else [1, 2, 3, 4 + ord(text[-1])]}


def test_letter_tokens_must_be_single_tokens(tiny: str) -> None:
    lm = load_lm(tiny)
    assert [lm.tokenizer.decode([i]) for i in lm.letter_ids] == [" A", " B", " C", " D"]
    with pytest.raises(RouterlabError, match="not one token"):
        letter_token_ids(_SplitsLetters())


# ------------------------------------------------------------------------------ forward pass
def test_forward_matches_an_unbatched_pass_by_hand(tiny: str) -> None:
    import torch

    lm = load_lm(tiny)
    batch = TEXTS[:5]  # different lengths: right padding must not change any row
    result = lm.forward(batch)
    assert result.hidden.shape == (5, N_LAYERS + 1, DIM) and result.hidden.dtype == np.float16
    for i, text in enumerate(batch):
        ids = torch.tensor([lm.tokenizer(text, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            out = lm.model(input_ids=ids, output_hidden_states=True)
        pooled = torch.stack([h[0].mean(dim=0) for h in out.hidden_states]).numpy()  # eq. 12: mean over tokens
        np.testing.assert_allclose(result.hidden[i].astype(np.float32), pooled, atol=2e-3, rtol=2e-3)
        logits = out.logits[0, -1].double().numpy()
        np.testing.assert_allclose(result.letter_logits[i], logits[lm.letter_ids], atol=1e-4)
        assert result.answer[i] == int(np.argmax(logits[lm.letter_ids]))
        mx, ent, margin = distribution_signals(logits[None, :])
        assert result.vocab_max_prob[i] == pytest.approx(mx[0], abs=1e-6)
        assert result.vocab_entropy[i] == pytest.approx(ent[0], abs=1e-5)
        assert result.vocab_margin[i] == pytest.approx(margin[0], abs=1e-6)
        assert result.n_tokens[i] == ids.shape[1]
    assert result.cpu_s.sum() > 0
    # the letters' entropy can never exceed log(4)
    assert (result.letter_entropy <= math.log(4) + 1e-9).all()


def test_hidden_states_past_float16_range_are_refused_not_stored_as_inf() -> None:
    from routerlab.data.features.lm import _as_float16

    ok = np.array([[65504.0, -1.5, 0.0]], dtype=np.float32)  # float16's largest finite value is kept exactly
    np.testing.assert_array_equal(_as_float16("m", ok), ok.astype(np.float16))
    with pytest.raises(
        RouterlabError, match=r"tiny-lm: a mean-pooled hidden state exceeds float16's range \(max \|h\| = 7e\+04\)"
    ):
        _as_float16("tiny-lm", np.array([[1.0, -70000.0]], dtype=np.float32))


# ------------------------------------------------------------------------------ store
def test_store_round_trip_and_refuses_a_wrong_shape(tmp_path: Path) -> None:
    store = HiddenStateStore("m1", (3, 4), root=tmp_path / "s")
    rows = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) / 7
    keys = [text_key("x"), text_key("y")]
    store.add(keys, rows)
    got = HiddenStateStore("m1", (3, 4), root=tmp_path / "s").lookup([*keys, text_key("z")])
    assert set(got) == set(keys)
    np.testing.assert_array_equal(got[keys[1]], rows[1].astype(np.float16))
    assert store.contains([keys[0], text_key("z")]) == {keys[0]}
    with pytest.raises(SchemaError, match=r"\(3, 4\)"):
        store.add([text_key("w")], np.zeros((1, 2, 4)))


def test_a_corrupt_shard_is_dropped_and_its_rows_recomputed(tiny: str) -> None:
    enc = HiddenStateEncoder(tiny, layers="final")
    first = enc.encode(TEXTS[:4])
    [shard] = enc.store.shards()
    shard.write_bytes(shard.read_bytes()[:100])  # truncated: zip CRC/structure fails
    again = HiddenStateEncoder(tiny, layers="final").encode(TEXTS[:4])
    np.testing.assert_array_equal(first, again)
    assert len(enc.store.shards()) == 1


# ------------------------------------------------------------------------------ encoder
def test_layer_options_select_blocks_of_the_flattened_row(tiny: str) -> None:
    all_rows = get_encoder(f"hidden:{tiny}").encode(TEXTS[:6])
    assert all_rows.shape == (6, (N_LAYERS + 1) * DIM) and all_rows.dtype == np.float32
    blocks = all_rows.reshape(6, N_LAYERS + 1, DIM)  # layer-major: column l * dim + j
    np.testing.assert_array_equal(get_encoder(f"hidden:{tiny}?layers=final").encode(TEXTS[:6]), blocks[:, -1])
    np.testing.assert_array_equal(get_encoder(f"hidden:{tiny}?layers=input").encode(TEXTS[:6]), blocks[:, 0])
    np.testing.assert_allclose(
        get_encoder(f"hidden:{tiny}?layers=mean").encode(TEXTS[:6]), blocks.mean(axis=1), rtol=1e-6
    )


def test_identity_carries_the_layer_structure(tiny: str) -> None:
    enc = get_encoder(f"hidden:{tiny}?layers=all")
    assert enc.name.startswith(f"hidden:{model_identity(tiny)}")
    layout = hidden_layout(enc.name)
    assert layout is not None and (layout.layers, layout.n_states, layout.dim) == ("all", N_LAYERS + 1, DIM)
    assert layout.width == enc.dim == (N_LAYERS + 1) * DIM
    final = hidden_layout(get_encoder(f"hidden:{tiny}?layers=final").name)
    assert final is not None and final.width == DIM
    assert hidden_layout("minilm:all-MiniLM-L6-v2") is None


@pytest.mark.parametrize(
    ("name", "match"),
    [("hidden:", "names no model"), ("hidden:m?layer=all", r"\?layers="), ("hidden:m?layers=last", "final")],
)
def test_bad_names_say_what_to_write(name: str, match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        parse_hidden_name(name)


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(RouterlabError, match="neither a known name"):
        get_encoder("hidden:no-such-model")


def test_featurize_reads_collected_rows_without_the_model(tiny: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(TEXTS[6:12])
    first = featurize(data, f"hidden:{tiny}?layers=input")

    def no_model(model: str) -> None:
        raise AssertionError("every row is stored; the model must not run")

    monkeypatch.setattr(hidden_mod, "load_lm", no_model)
    again = featurize(data.subset(np.array([5, 0, 3])), HiddenStateEncoder(tiny, layers="input"))
    np.testing.assert_array_equal(again.matrix, first.matrix[[5, 0, 3]])
    assert again.encoder == first.encoder


def test_rows_are_not_copied_into_the_float32_embedding_cache(tiny: str) -> None:
    from routerlab.data.registry import cache_dir

    encode(_data(TEXTS[12:15]), HiddenStateEncoder(tiny, layers="all"))
    assert not (cache_dir() / "embeddings").exists() or not any((cache_dir() / "embeddings").glob("hidden*"))
    assert HiddenStateStore(model_identity(tiny)).contains([text_key(t) for t in TEXTS[12:15]]) == {
        text_key(t) for t in TEXTS[12:15]
    }


def test_logit_signal_encoder_gives_the_forward_pass_signals(tiny: str) -> None:
    from routerlab.data.features.hidden import SIGNAL_COLUMNS, LogitSignalEncoder

    enc = get_encoder(f"logits:{tiny}")
    assert isinstance(enc, LogitSignalEncoder) and enc.dim == len(SIGNAL_COLUMNS) == 10
    rows = enc.encode(TEXTS[15:19])
    result = load_lm(tiny).forward(TEXTS[15:19])
    np.testing.assert_allclose(rows[:, :4], result.letter_logits, atol=1e-4)
    np.testing.assert_allclose(rows[:, SIGNAL_COLUMNS.index("letter_entropy")], result.letter_entropy, atol=1e-5)
    np.testing.assert_allclose(rows[:, SIGNAL_COLUMNS.index("vocab_margin")], result.vocab_margin, atol=1e-5)
    # the same pass stored the hidden states too: the hidden: encoder needs no model now
    assert HiddenStateStore(model_identity(tiny)).contains([text_key(t) for t in TEXTS[15:19]]) == {
        text_key(t) for t in TEXTS[15:19]
    }
