from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from routerlab.data import RoutingData
from routerlab.data.features import ENCODERS, Encoder, encode, get_encoder
from routerlab.data.features import cache as cache_mod
from routerlab.data.features.handcrafted import FEATURE_NAMES, HandcraftedEncoder
from routerlab.errors import DataNotFoundError, RouterlabError, SchemaError, UnknownNameError
from tests.conftest import make_routing_problem


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedding cache per test (conftest's is shared by the whole session)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ROUTERLAB_CACHE_DIR", str(root))
    return root


class Counting:
    """Wraps an encoder and records how often, and on what, it was called."""

    def __init__(self, inner: Encoder, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or inner.name
        self.dim = inner.dim
        self.calls = 0
        self.texts: list[str] = []

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size, progress=progress)


def shards(name: str) -> list[Path]:
    return sorted(cache_mod.store_dir(name).glob("shard-*.npz"))


@pytest.fixture
def data() -> RoutingData:
    return make_routing_problem(60)


# ------------------------------------------------------------------------------------ the cache
def test_cache_hit_returns_identical_bytes_without_encoding(data: RoutingData) -> None:
    enc = Counting(get_encoder("hashing"))
    cold = encode(data, enc)
    assert enc.calls == 1 and len(enc.texts) == data.n_queries
    assert cold.dtype == np.float32 and cold.shape == (data.n_queries, 1024)
    warm = encode(data, enc)
    assert enc.calls == 1
    assert warm.tobytes() == cold.tobytes()
    assert len(shards(enc.name)) == 1


def test_permuted_and_subset_data_reuse_the_cache_in_data_order(data: RoutingData) -> None:
    enc = Counting(get_encoder("static64"))
    full = encode(data, enc)
    perm = np.random.default_rng(0).permutation(data.n_queries)
    assert encode(data.subset(perm), enc).tobytes() == full[perm].tobytes()
    sub = np.array([7, 3, 41])
    assert encode(data.subset(sub), enc).tobytes() == full[sub].tobytes()
    assert encode(data.split("test"), enc).tobytes() == full[data.splits == "test"].tobytes()
    assert enc.calls == 1


def test_only_unseen_texts_are_encoded(data: RoutingData) -> None:
    enc = Counting(get_encoder("hashing"))
    encode(data.subset(np.arange(40)), enc)
    enc.texts.clear()
    out = encode(data, enc)
    assert enc.texts == [str(t) for t in data.texts[40:]]  # type: ignore[index]
    assert np.array_equal(out, encode(data, get_encoder("hashing"), cache=False))


def test_repeated_texts_are_encoded_once() -> None:
    data = make_routing_problem(6)
    data = dataclasses.replace(data, texts=np.array(["same", "other", "same", "same", "x", "other"], dtype=object))
    enc = Counting(get_encoder("hashing"))
    out = encode(data, enc, cache=False)
    assert sorted(enc.texts) == ["other", "same", "x"]
    assert np.array_equal(out[0], out[2]) and np.array_equal(out[1], out[5])


def test_different_encoder_names_never_share_entries(data: RoutingData) -> None:
    a = Counting(get_encoder("hashing"), name="test-a")
    b = Counting(get_encoder("hashing"), name="test-b")
    encode(data, a)
    encode(data, b)
    assert a.calls == 1 and b.calls == 1
    assert cache_mod.store_dir("test-a") != cache_mod.store_dir("test-b")
    small = get_encoder("hashing", n_features=64)
    assert small.name != get_encoder("hashing").name
    assert encode(data, small).shape == (data.n_queries, 64)


def test_no_cache_writes_nothing(data: RoutingData, _own_cache: Path) -> None:
    encode(data, "handcrafted", cache=False)
    assert not (_own_cache / "embeddings").exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_dtype", "wrong_encoder"])
def test_a_corrupted_cache_file_is_rebuilt(data: RoutingData, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    enc = Counting(get_encoder("hashing"))
    cold = encode(data, enc)
    (shard,) = shards(enc.name)
    if damage == "garbage":
        shard.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    else:
        with np.load(shard) as z:
            arrays = {k: z[k] for k in z.files}
        if damage == "wrong_dtype":
            arrays["vectors"] = arrays["vectors"].astype(np.float64)
        else:
            arrays["encoder"] = np.array("some-other-encoder")
        np.savez(shard, **arrays)
    with caplog.at_level(logging.WARNING, logger="routerlab.data.features.cache"):
        again = encode(data, enc)
    assert enc.calls == 2
    assert again.tobytes() == cold.tobytes()
    assert any("encoded again" in r.getMessage() for r in caplog.records)
    encode(data, enc)
    assert enc.calls == 2  # rebuilt: the next call is a hit


def test_an_interrupted_encode_keeps_finished_shards_and_no_partial_file(
    data: RoutingData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_mod, "CHECKPOINT_ROWS", 25)

    class Dies(Counting):
        def encode(self, texts: Sequence[str], **kw: object) -> np.ndarray:
            if self.calls == 1:
                raise KeyboardInterrupt
            return super().encode(texts, **kw)  # type: ignore[arg-type]

    enc = Dies(get_encoder("hashing"))
    with pytest.raises(KeyboardInterrupt):
        encode(data, enc)
    store = cache_mod.store_dir(enc.name)
    assert len(shards(enc.name)) == 1 and not list(store.glob(".tmp-*"))
    resumed = Counting(get_encoder("hashing"))
    out = encode(data, resumed)
    assert len(resumed.texts) == data.n_queries - 25
    assert np.array_equal(out, encode(data, get_encoder("hashing"), cache=False))


def test_many_shards_are_merged(data: RoutingData, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_mod, "CHECKPOINT_ROWS", 10)
    monkeypatch.setattr(cache_mod, "MAX_SHARDS", 2)
    enc = Counting(get_encoder("handcrafted"))
    out = encode(data, enc)
    assert enc.calls == 6 and len(shards(enc.name)) == 1
    assert encode(data, enc).tobytes() == out.tobytes() and enc.calls == 6


def test_progress_reports_encoded_texts(data: RoutingData) -> None:
    seen: list[tuple[int, int]] = []
    encode(data, "hashing", progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, data.n_queries) and seen[-1] == (data.n_queries, data.n_queries)
    seen.clear()
    encode(data, "hashing", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(0, 0)]


def _assert_monotone(seen: list[tuple[int, int]], total: int) -> None:
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert {t for _, t in seen} == {total}
    done = [d for d, _ in seen]
    assert all(a < b for a, b in itertools.pairwise(done)), done


@pytest.mark.parametrize("name", ["hashing", "static64", "minilm"])
def test_progress_is_called_per_batch_with_growing_done(
    name: str, data: RoutingData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_mod, "CHECKPOINT_ROWS", 25)  # three chunks: progress runs on across them
    small = data.subset(np.arange(40)) if name == "minilm" else data  # minilm: a short encode is enough
    seen: list[tuple[int, int]] = []
    # a fresh encoder object: the process-wide one of `name` stays unloaded for the tests that check that
    encode(small, get_encoder(name), batch_size=8, progress=lambda d, t: seen.append((d, t)))
    _assert_monotone(seen, small.n_queries)
    assert len(seen) >= 4


def test_progress_of_an_encoder_that_reports_nothing_comes_per_checkpoint(
    data: RoutingData, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Silent:
        name = "silent"
        dim = 2

        def encode(self, texts: Sequence[str], **kw: object) -> np.ndarray:
            return np.ones((len(texts), 2), dtype=np.float32)

    monkeypatch.setattr(cache_mod, "CHECKPOINT_ROWS", 25)
    seen: list[tuple[int, int]] = []
    encode(data, Silent(), progress=lambda d, t: seen.append((d, t)))
    assert seen == [(0, 60), (25, 60), (50, 60), (60, 60)]


def test_encoding_progress_is_logged_at_info(
    data: RoutingData, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cache_mod, "LOG_EVERY_S", 0.0)  # a line per batch
    with caplog.at_level(logging.INFO, logger="routerlab.data.features.cache"):
        encode(data, "static64", batch_size=20)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("encoded ")]
    assert [line.split(" texts")[0] for line in lines] == ["encoded 20/60", "encoded 40/60", "encoded 60/60"]
    assert "with static64:" in lines[-1] and "texts/s" in lines[-1]
    caplog.clear()
    monkeypatch.setattr(cache_mod, "LOG_EVERY_S", 3600.0)
    with caplog.at_level(logging.INFO, logger="routerlab.data.features.cache"):
        encode(data, "hashing", batch_size=8)
    assert [r.getMessage().split(" texts")[0] for r in caplog.records if "encoded " in r.getMessage()] == [
        "encoded 60/60"
    ]  # only the final line when batches come faster than LOG_EVERY_S


def test_bad_encoder_output_is_not_cached(data: RoutingData) -> None:
    class Broken:
        name = "broken"
        dim = 3

        def encode(self, texts: Sequence[str], **kw: object) -> np.ndarray:
            return np.full((len(texts), 3), np.nan, dtype=np.float32)

    with pytest.raises(RouterlabError, match="NaN"):
        encode(data, Broken())
    assert shards("broken") == []


def test_a_full_hit_never_loads_the_model(data: RoutingData) -> None:
    fake = np.random.default_rng(0).standard_normal((data.n_queries, 384)).astype(np.float32)
    name = get_encoder("minilm").name
    cache_mod.EmbeddingStore(name, 384).add([cache_mod.text_key(t) for t in data.texts], fake)  # type: ignore[union-attr]
    assert encode(data, "minilm").tobytes() == fake.tobytes()
    assert cache_mod._shared_encoder("minilm")._model is None  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------- errors
def test_missing_texts_raise_schema_error(data: RoutingData) -> None:
    with pytest.raises(SchemaError, match="has no query text; use text-free routers"):
        encode(dataclasses.replace(data, texts=None), "hashing")


def test_unknown_encoder_suggests_a_name() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'minilm'"):
        get_encoder("minlm")
    assert {"minilm", "static64", "hashing", "handcrafted", "st"} <= set(ENCODERS.names())


def test_st_with_a_missing_folder_is_a_clear_error() -> None:
    with pytest.raises(DataNotFoundError, match=r"'/nonexistent' does not exist.*never downloads"):
        get_encoder("st:/nonexistent")


def test_st_names_a_local_folder_by_path_and_fingerprint() -> None:
    folder = Path(get_encoder("minilm").folder)  # type: ignore[attr-defined]
    enc = get_encoder(f"st:{folder}")
    assert enc.name.startswith(f"st:{folder.resolve()}#") and enc.name == get_encoder(f"st:{folder}").name
    assert enc.dim is None  # known once the model loads (lazily, on the first encode)


# ----------------------------------------------------------------------------------- encoders
def test_hashing_is_deterministic_and_stateless() -> None:
    texts = ["What is 2 + 2?", "Translate 'chat' into English.", "", "what IS 2+2"]
    enc = get_encoder("hashing")
    together = enc.encode(texts, batch_size=2)
    alone = np.vstack([get_encoder("hashing").encode([t]) for t in texts])
    assert together.tobytes() == alone.tobytes()
    assert together.dtype == np.float32 and together.shape == (4, 1024)
    norms = np.linalg.norm(together, axis=1)
    assert np.allclose(norms[[0, 1, 3]], 1.0, atol=1e-6) and norms[2] == 0.0  # empty text → zero row
    assert together[0] @ together[3] > together[0] @ together[1]
    chars = get_encoder("hashing", n_features=256, char_ngrams=(3, 4)).encode(texts)
    assert chars.shape == (4, 256) and "chars=3-4" in get_encoder("hashing", char_ngrams=(3, 4)).name


def test_handcrafted_features_match_hand_counts() -> None:
    texts = [
        "What is 2+2? Why?",
        "Hello, world! Which way.",
        "somewhat showing whoever",  # question words only inside other words: no match
    ]
    enc = get_encoder("handcrafted")
    assert isinstance(enc, HandcraftedEncoder)
    assert enc.dim == len(FEATURE_NAMES) == 13
    X = encode(dataclasses.replace(make_routing_problem(3), texts=np.array(texts, dtype=object)), enc)
    row = dict(zip(FEATURE_NAMES, X[0], strict=True))
    assert row["char_len"] == 17 and row["token_len"] == 4
    assert row["n_question_marks"] == 2 and row["n_periods"] == 0
    assert row["has_what"] == 1 and row["has_why"] == 1 and row["has_how"] == 0
    row = dict(zip(FEATURE_NAMES, X[1], strict=True))
    assert (row["char_len"], row["token_len"]) == (24, 4)
    assert (row["n_commas"], row["n_exclamation_marks"], row["n_periods"], row["n_question_marks"]) == (1, 1, 1, 0)
    assert row["has_which"] == 1 and row["has_what"] == 0
    assert X[2, 2:].sum() == 0 and X[2, 0] == 24 and X[2, 1] == 3


def test_static64_gives_unit_64d_rows(data: RoutingData) -> None:
    X = encode(data, "static64")
    assert X.shape == (data.n_queries, 64) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)


def test_minilm_embeds_meaning() -> None:
    enc = get_encoder("minilm")
    assert enc.name.startswith("minilm:all-MiniLM-L6-v2") and enc.dim == 384
    X = enc.encode(
        [
            "How do I bake bread at home?",
            "What is a simple recipe for homemade bread?",
            "Which planet is closest to the sun?",
            "What is the capital of France?",
        ]
    )
    assert X.shape == (4, 384) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert X[0] @ X[1] > X[0] @ X[2] + 0.2 and X[0] @ X[1] > X[0] @ X[3] + 0.2


# ------------------------------------------------------------------------------ truncation
_LONG = " ".join(f"Paragraph {i} tells how the river met the valley of stones in year {1800 + i}." for i in range(60))


def test_minilm_token_spans_come_from_the_tokenizer_and_match_the_model() -> None:
    from routerlab.data.features import token_spans
    from routerlab.data.features.encoders import MiniLMEncoder

    enc = MiniLMEncoder()
    texts = [_LONG + " Question: which year came last?", "  What is the capital of France? ", ""]
    spans = token_spans(enc, texts)
    assert enc._model is None  # the tokenizer alone: no model load
    assert spans is not None and spans.max_tokens == 254 and spans.truncated.tolist() == [True, False, False]
    assert spans.n_kept.tolist() == [254, 7, 0] and spans.n_tokens[0] > 254
    assert spans.kept_chars.tolist()[1:] == [len(texts[1]), 0] and 0 < spans.kept_chars[0] < len(_LONG)
    model = enc._load()
    mask = model.preprocess(texts)["attention_mask"].sum(1).tolist()
    assert [m - 2 for m in mask] == spans.n_kept.tolist()  # [CLS] and [SEP] take two of the 256
    head = texts[0][: spans.kept_chars[0]]
    tail = texts[0][spans.tail_start[0] :]
    X = enc.encode([texts[0], head, tail])
    assert X[0] @ X[1] > 0.9999  # what lies past kept_chars never reaches the vector
    assert token_spans(enc, [tail]).truncated.tolist() == [False]  # type: ignore[union-attr]


def test_static64_token_spans_mark_where_model2vec_cuts() -> None:
    from routerlab.data.features import token_spans

    enc = get_encoder("static64")
    texts = [_LONG, _LONG[:300]]
    spans = token_spans(enc, texts)
    assert spans is not None and spans.max_tokens == 512 and spans.truncated.tolist() == [True, False]
    assert spans.n_kept[0] == 512 < spans.n_tokens[0] and spans.kept_chars[1] == 300
    X = enc.encode([texts[0], texts[0][: spans.kept_chars[0]], texts[0][: spans.kept_chars[0] - 40]])
    assert X[0] @ X[1] > 0.99999 > X[0] @ X[2]


def test_encoders_without_token_spans_report_unknown() -> None:
    from routerlab.data.features import token_spans

    assert token_spans(HandcraftedEncoder(), ["a question"]) is None
    hashing = token_spans(get_encoder("hashing"), ["one two", _LONG])
    assert hashing is not None and hashing.n_truncated == 0 and hashing.n_tokens[0] == 2


def test_model_fingerprint_reads_a_folder_that_lies_under_a_dot_cache(tmp_path: Path) -> None:
    from routerlab.data.features.encoders import _model_fingerprint

    folder = tmp_path / ".cache" / "models" / "m"  # as ~/.cache/routerlab/models/<name> does
    (folder / ".cache").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    first = _model_fingerprint(folder)
    assert first != hashlib.sha256(b"").hexdigest()[:12]  # the files were read
    (folder / ".cache" / "lock").write_text("x")  # a hub lock file below the folder does not count
    assert _model_fingerprint(folder) == first
    (folder / "config.json").write_text('{"hidden_size": 16}')
    assert _model_fingerprint(folder) != first
