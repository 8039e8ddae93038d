"""The ``backend`` option of the MiniLM / ``st:`` encoders: ONNX Runtime fp32 and int8 (issue 16, item 1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from routerlab._optional import installed
from routerlab.data.features import cache as cache_mod
from routerlab.data.features import get_encoder
from routerlab.data.features.encoders import MiniLMEncoder, is_encoder_name
from routerlab.data.features.long_text import split_name_options
from routerlab.data.features.onnx_backend import (
    BACKENDS,
    COSINE_BOUND,
    INT8_SCHEME,
    INT8_SCHEME_U8,
    check_backend,
    cpu_fields,
    cpu_has_vnni,
    export_dir,
    int8_scheme,
    onnx_model_path,
    require_onnx,
)
from routerlab.errors import PrerequisiteError, SchemaError

_HAS_ORT = installed("onnxruntime") and installed("onnx")
needs_ort = pytest.mark.skipif(not _HAS_ORT, reason="needs onnxruntime and onnx: pip install 'routerlab[onnx]'")

_TEXTS = [
    "What is the capital of France?",
    "   Strip me: leading and trailing white space is dropped, as sentence-transformers does.   ",
    "x",
    "A question about 3 apples and 5 pears: how many fruits? (A) 7 (B) 8 (C) 9 (D) 15",
    # ~1,100 word pieces: cut at the 256-token window by every backend alike
    " ".join(f"Paragraph {i} tells how the river met the valley of stones in year {1800 + i}." for i in range(60)),
]


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the module, so the ONNX export (about 10 s) happens once."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(autouse=True)
def _own_cache(module_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTERLAB_CACHE_DIR", str(module_cache))


# ------------------------------------------------------------------------------ names and errors
def test_option_parsing_and_errors() -> None:
    assert split_name_options("minilm?backend=onnx-int8") == ("minilm", {"backend": "onnx-int8"})
    assert split_name_options("minilm?long=tail&backend=onnx") == ("minilm", {"long": "tail", "backend": "onnx"})
    assert all(is_encoder_name(f"minilm?backend={b}") for b in BACKENDS)
    with pytest.raises(SchemaError, match="Did you mean 'onnx'") as err:
        split_name_options("minilm?backend=onx")
    assert all(b in str(err.value) for b in BACKENDS) and "backend='onx'" in str(err.value)
    with pytest.raises(SchemaError, match=r"\?backend="):
        split_name_options("minilm?backnd=onnx")
    with pytest.raises(SchemaError, match="once"):
        split_name_options("minilm?backend=onnx&backend=torch")
    with pytest.raises(SchemaError, match=r"no \?backend= option"):
        get_encoder("hashing?backend=onnx")
    assert check_backend("onnx-int8") == "onnx-int8"


def test_missing_onnxruntime_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(PrerequisiteError, match=r"pip install 'routerlab\[onnx\]'"):
        require_onnx("Encoder backend='onnx'")
    with pytest.raises(PrerequisiteError, match=r"backend='onnx-int8'.*pip install 'routerlab\[onnx\]'"):
        get_encoder("minilm?backend=onnx-int8")
    assert get_encoder("minilm").name  # the torch backend does not need it


@needs_ort
def test_names_and_cache_keys_change_with_the_backend_only() -> None:
    plain = get_encoder("minilm")
    assert get_encoder("minilm?backend=torch").name == plain.name  # same vectors, same cache key
    names = {b: get_encoder(f"minilm?backend={b}").name for b in BACKENDS}
    assert names["onnx"].startswith(plain.name + ":backend=onnx/graph=eager/onnxruntime==")
    assert names["onnx-int8"].startswith(
        plain.name + f":backend=onnx-int8/graph=eager/int8={int8_scheme()}/onnxruntime=="
    )
    assert len({cache_mod.store_dir(n) for n in names.values()}) == 3
    both = get_encoder("minilm?long=tail&backend=onnx-int8").name
    assert both.startswith(plain.name + ":long=tail:backend=onnx-int8/")
    with pytest.raises(SchemaError, match="device='cuda'"):
        MiniLMEncoder(backend="onnx", device="cuda")


@needs_ort
def test_only_mean_pooled_models_export(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )

    def never() -> None:
        raise AssertionError("a model that cannot be exported must not be loaded")

    with pytest.raises(SchemaError, match=r"mean Pooling.*backend=torch"):
        onnx_model_path("onnx", tmp_path, "abc", never, name="st:x?backend=onnx")


# ----------------------------------------------------------------------------------- the vectors
@needs_ort
def test_vectors_stay_within_the_stated_cosine_and_the_export_is_cached() -> None:
    reference = get_encoder("minilm").encode(_TEXTS, batch_size=2)
    for backend in ("onnx", "onnx-int8"):
        enc = get_encoder(f"minilm?backend={backend}")
        vectors = enc.encode(_TEXTS, batch_size=2)
        assert vectors.shape == reference.shape and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        cosines = (vectors * reference).sum(axis=1)
        assert cosines.min() >= COSINE_BOUND[backend], (backend, cosines)
        # each text runs alone: a row does not depend on the batch it came in, to the bit
        alone = enc.encode(_TEXTS[3:4])
        assert np.array_equal(alone[0], vectors[3])
    folder = Path(get_encoder("minilm").folder)  # type: ignore[attr-defined]
    files = sorted(p.name for p in export_dir(folder, "x").parent.glob("*/*.onnx"))
    assert len(files) == 2 and "model.onnx" in files

    def never() -> None:
        raise AssertionError("a cached export must not load torch again")

    fingerprint = next(export_dir(folder, "x").parent.iterdir()).name.split("-torch")[0]
    assert onnx_model_path("onnx-int8", folder, fingerprint, never).is_file()


@needs_ort
def test_long_mode_runs_on_the_onnx_backend() -> None:
    chunk = get_encoder("minilm?long=chunk").encode(_TEXTS[-2:])
    fast = get_encoder("minilm?long=chunk&backend=onnx").encode(_TEXTS[-2:])
    assert ((chunk * fast).sum(axis=1) >= COSINE_BOUND["onnx"]).all()


@needs_ort
def test_export_traces_eager_attention_and_leaves_the_torch_model_as_it_was(tmp_path: Path) -> None:
    import onnx

    from routerlab.data.features.onnx_backend import _export_fp32

    enc = get_encoder("minilm")
    model = enc._load()  # type: ignore[attr-defined]
    inner = model[0].auto_model
    before_kind = inner.config._attn_implementation
    before = enc.encode(_TEXTS[:3])
    _export_fp32(model, tmp_path / "m.onnx")
    ops = {node.op_type for node in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert "Softmax" in ops and "IsNaN" not in ops  # MatMul → Softmax → MatMul, no SDPA guards
    assert inner.config._attn_implementation == before_kind  # switched back after tracing
    after = model.encode(_TEXTS[:3], normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(before, after, atol=1e-6)


# ------------------------------------------------------------------------------ per-token int8
def _one_matmul(k: int, n: int, seed: int) -> tuple[object, np.ndarray]:
    """An ONNX graph y = x @ W (x: batch × tokens × k) with a token-shaped ``input_ids`` input, and W."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(seed).normal(size=(k, n)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
        "g",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", k]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), w


@needs_ort
@pytest.mark.parametrize(
    "unsigned",
    [
        True,
        pytest.param(
            False,
            marks=pytest.mark.skipif(
                not cpu_has_vnni(), reason="without VNNI ONNX Runtime's u8 × s8 kernel saturates in int16"
            ),
        ),
    ],
)
def test_per_token_int8_matches_the_formula_and_one_tokens_outlier_leaves_the_others_alone(unsigned: bool) -> None:
    import onnxruntime as ort

    from routerlab.data.features.onnx_backend import _per_token_int8

    model, w = _one_matmul(16, 5, seed=0)
    _per_token_int8(model, {"mm"}, unsigned_weights=unsigned)  # type: ignore[arg-type]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    x = np.random.default_rng(1).normal(size=(2, 3, 16)).astype(np.float32)
    ids = np.zeros((2, 3), dtype=np.int64)

    def run(xs: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(["y"], {"input_ids": ids, "x": xs})[0])

    # the docstring's formula, by hand: per-token activation scale, per-column weight scale
    s = np.abs(x).max(axis=-1, keepdims=True) / 127
    ws = np.abs(w).max(axis=0) / 127
    expected = (np.round(x / s) @ np.round(w / ws)) * s * ws
    got = run(x)
    assert got.shape == (2, 3, 5)
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(got - x @ w).max() < 0.05 * np.abs(x @ w).max()  # close to fp32
    # a token 1,000× larger changes its own output only (one scale per tensor would coarsen every token)
    loud = x.copy()
    loud[0, 1] *= 1000
    again = run(loud)
    keep = np.ones((2, 3), dtype=bool)
    keep[0, 1] = False
    assert np.array_equal(again[keep], got[keep])
    # a tensor whose rows are not the tokens of input_ids fails loudly, never quantised on the wrong rows
    with pytest.raises(Exception, match=r"(?i)shape|size|dimension|broadcast"):
        session.run(["y"], {"input_ids": np.zeros((1, 3), dtype=np.int64), "x": x})


@needs_ort
def test_the_int8_graph_quantises_single_reader_matmuls_per_token_and_q_k_v_per_tensor() -> None:
    import onnx

    from routerlab.data.features.onnx_backend import _weight_matmuls

    enc = get_encoder("minilm?backend=onnx-int8")
    path = enc._onnx_runner().path  # type: ignore[attr-defined]
    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    per_token = [n for n in graph.node if n.name.endswith("/per_token_int8")]
    # MiniLM-L6: per layer, attention output, FFN in and FFN out per token; Q, K, V share one dynamic scale
    assert len(per_token) == 18 and ops.count("DynamicQuantizeLinear") == 6
    assert "MatMul" in ops  # the attention's activation × activation products stay fp32
    assert not [name for name, readers in _weight_matmuls(graph).items()]  # no fp32 weight MatMul is left


def test_the_int8_scheme_follows_the_cpu(tmp_path: Path) -> None:
    assert int8_scheme(vnni=True) == INT8_SCHEME
    assert int8_scheme(vnni=False) == INT8_SCHEME_U8 != INT8_SCHEME  # different vectors, different cache rows
    assert int8_scheme() == int8_scheme(vnni=cpu_has_vnni())
    # the flags line decides; an unreadable cpuinfo takes the u8 × u8 path, exact on every CPU
    for n, (flags, expected) in enumerate(
        [("fpu avx2 avx512_vnni sse", True), ("fpu avx2 sse4_2", False), ("fpu avx_vnni", True), ("vnni2", False)]
    ):
        info = tmp_path / f"cpuinfo{n}"
        info.write_text(f"processor\t: 0\nmodel name\t: X avx512_vnni\nflags\t\t: {flags}\n", encoding="utf-8")
        assert cpu_has_vnni(str(info)) is expected, flags
    assert cpu_has_vnni(str(tmp_path / "missing")) is False
    # two processors: the first block's fields are read, the second's never overwrite them
    two = tmp_path / "cpuinfo-two"
    two.write_text(
        "processor\t: 0\nmodel name\t: First\nflags\t\t: avx2\n\nprocessor\t: 1\nmodel name\t: Second\n"
        "flags\t\t: avx512_vnni\n",
        encoding="utf-8",
    )
    assert cpu_fields(str(two)) == {"processor": "0", "model name": "First", "flags": "avx2"}
    assert cpu_has_vnni(str(two)) is False
    assert cpu_fields(str(tmp_path / "missing")) == {}


@needs_ort
def test_shifted_u8_weights_compute_onnx_runtimes_dynamic_int8_exactly(tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from routerlab.data.features.onnx_backend import _shift_matmul_integer_weights

    model, w = _one_matmul(16, 5, seed=2)
    onnx.save(model, str(tmp_path / "f.onnx"))  # type: ignore[arg-type]
    quantize_dynamic(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    shifted = onnx.load(str(tmp_path / "q.onnx"))
    _shift_matmul_integer_weights(shifted)
    assert {i.data_type for i in shifted.graph.initializer if i.name.endswith(("_quantized", "_zero_point"))} == {
        onnx.TensorProto.UINT8
    }
    session = ort.InferenceSession(shifted.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).normal(size=(2, 3, 16)).astype(np.float32)
    got = np.asarray(session.run(["y"], {"input_ids": np.zeros((2, 3), np.int64), "x": x})[0])
    # by hand: DynamicQuantizeLinear (one asymmetric uint8 scale for the tensor), per-column symmetric int8 W
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    s = (hi - lo) / 255
    z = np.clip(np.round(-lo / s), 0, 255)
    q = np.clip(np.round(x / s) + z, 0, 255)
    ws = np.abs(w).max(axis=0) / 127
    expected = ((q - z) @ np.round(w / ws)) * s * ws
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5)
