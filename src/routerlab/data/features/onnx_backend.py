"""Faster CPU backends for sentence-transformers encoders: ONNX Runtime, fp32 or int8.

``minilm?backend=onnx`` and ``minilm?backend=onnx-int8`` (``st:<path>?backend=...`` likewise)
run the same network through ONNX Runtime instead of torch:

``torch`` (default; the plain name)
    sentence-transformers on torch, as before; vectors and cache key unchanged.
``onnx``
    the transformer exported once to ONNX (opset 17) and run by ONNX Runtime in fp32; vectors
    equal torch's up to float rounding (cosine ≥ 0.9999 to the torch vectors).
``onnx-int8``
    that graph with its MatMuls in int8 (:func:`_quantise`): weights with one scale per output
    channel; activations with one scale per token where one MatMul reads them (attention output,
    FFN in, FFN out; ZeroQuant's token-wise quantisation, Yao et al. 2022, §3) and ONNX Runtime's
    dynamic quantisation (one scale per tensor, computed once) where Q, K and V read the same
    tensor; vectors differ slightly (cosine to torch ≥ :data:`COSINE_BOUND` ``["onnx-int8"]``).
    Measured and replaced: ONNX Runtime's ``quantize_dynamic`` alone, one activation scale per
    tensor for every MatMul (cosine mean 0.9925, minimum 0.973 on 800 routerdc-7models queries,
    against 0.9978 / 0.994 now, at the same speed, on CPUs with VNNI and, through u8 weights, without
    (:func:`int8_scheme`)); per-tensor weight scales (mean 0.945, minimum
    0.85 on 200 llmrouter-dcrouter queries). A per-tensor activation scale makes a text's int8
    vector depend on its batch mates (cosine 0.993 between a text encoded alone and in a batch).

Both ONNX backends therefore run **each text alone**: a cached row depends on its text only, and
no time goes to padding. The texts go to one single-threaded run per CPU core at a time (Python
threads sharing one session; ONNX Runtime releases the GIL). Sessions never spin-wait for work.
On the loaded 2-core machine (load average 8-11) this measured, for fp32 on 200 llmrouter-dcrouter
queries: batches of 64 on 2 intra-op threads 14 q/s, batches of 16 19 q/s, one text per run on
2 workers 27 q/s; for int8, spinning on 21 q/s, off 36 q/s, one thread × 2 workers 41 q/s. The graph is
traced with eager attention (:func:`_eager_attention`); int8 sessions leave out two fusions that made
them slower here (:data:`INT8_DISABLED_OPTIMIZERS`). Speeds: ``benchmarks/bench_encode.py --backends``.

Both read the same word pieces as torch (``tokenizer.json`` with truncation at ``max_seq_length``,
texts stripped, as sentence-transformers does), then mean-pool over the attention mask and
L2-normalise, so the only difference is the arithmetic. The exported files are cached under
``<cache_dir>/onnx/<model fingerprint>-torch<version>-opset17-eager/`` (the fingerprint hashes the source
folder's file names, sizes and configs), written atomically, and reused by every later process.
Export needs torch (the ``embed`` extra); running needs ``onnxruntime`` and ``onnx``
(``pip install 'routerlab[onnx]'``). Since the vectors differ, the encoder name carries the
backend, the trace (``graph=eager``), the int8 scheme and the ONNX Runtime version: cached rows of
one backend are never served for another.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from routerlab._arrays import l2_normalise
from routerlab._files import TMP_PREFIX
from routerlab._optional import optional_dependency
from routerlab.errors import RouterlabError, SchemaError, check_choice

log = logging.getLogger(__name__)

#: the values of the ``backend`` option, default first
BACKENDS = ("torch", "onnx", "onnx-int8")
DEFAULT_BACKEND = "torch"
BACKEND_MEANING = {
    "torch": "sentence-transformers on torch (the reference vectors)",
    "onnx": "the same network exported to ONNX, run by ONNX Runtime in fp32",
    "onnx-int8": "the ONNX graph with int8 MatMuls (per-channel weights; per-token activations but Q/K/V's), run by "
    "ONNX Runtime",
}
#: the cosine to the torch vectors each backend keeps on real query texts (checked in tests; measured by
#: benchmarks/bench_encode.py and on 800 routerdc-7models queries: int8 mean 0.9978, minimum 0.994 — ONNX
#: Runtime's all-per-tensor dynamic scheme, the earlier onnx-int8, gave 0.9925 / 0.973; fp32 1.00000; the same
#: on an AMD EPYC with AVX2 and no VNNI through :data:`INT8_SCHEME_U8`)
COSINE_BOUND = {"torch": 1.0, "onnx": 0.9999, "onnx-int8": 0.985}
ONNX_INSTALL = "pip install 'routerlab[onnx]'"
OPSET = 17
#: how the graph was traced: part of the export folder and of the encoder name, so files and cached rows of
#: an earlier trace (transformers' SDPA attention, before 2026-12) are never mixed with these
GRAPH = "eager"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: how ``onnx-int8`` quantises (:func:`_quantise`): in its file and encoder names, so rows of the earlier
#: scheme (ONNX Runtime's dynamic quantisation, one activation scale per tensor) are never mixed with these
INT8_SCHEME = "w-channel-a-token-qkv-tensor"
#: the same integers with every int8 weight stored as uint8 + 128 (u8 × u8 kernels), on CPUs without VNNI
#: (:func:`int8_scheme`)
INT8_SCHEME_U8 = INT8_SCHEME + "-u8"
#: /proc/cpuinfo flags under which ONNX Runtime's u8 × s8 kernels sum products in int32 (VNNI's vpdpbusd)
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@functools.cache
def cpu_fields(cpuinfo: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's fields in ``cpuinfo`` (``model name``, ``flags``, ...); empty where unreadable."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() and fields:
            break  # the next processor's block repeats the same fields
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def cpu_has_vnni(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU lists a VNNI flag in ``cpuinfo`` (False where the file cannot be read: u8 × u8 is safe)."""
    return bool(VNNI_FLAGS & set(cpu_fields(cpuinfo).get("flags", "").split()))


def int8_scheme(vnni: bool | None = None) -> str:
    """The ``onnx-int8`` scheme for this CPU: :data:`INT8_SCHEME`, or :data:`INT8_SCHEME_U8` without VNNI.

    Without VNNI (AVX2 alone, as on AMD EPYC Zen 3) ONNX Runtime's u8 × s8 kernel adds pairs of
    products in int16 (``vpmaddubsw``) and saturates: with per-token activations around the zero
    point 128 and weights up to ±127 a pair reaches 2 · 255 · 127 > 32,767, and a hand-checked
    MatMul came out 20 % off in one column. ONNX Runtime documents the saturation and proposes u8 × u8,
    which widens to 16 bits first: exact, at about 0.9× the speed there. So without VNNI every int8
    weight (and zero point) is stored shifted by 128 as uint8 — the same integer products as the s8 graph
    computes exactly with VNNI. (The Q/K/V MatMuls of ONNX Runtime's dynamic quantisation came out exact
    there even on inputs built to saturate; they are shifted too, so no kernel choice can saturate.)
    Measured on 400 routerdc-7models queries on that CPU, cosine to torch mean / min: s8 weights
    0.99693 / 0.99101, u8 on the per-token MatMuls only 0.99757 / 0.99388, u8 everywhere (this scheme)
    0.99776 / 0.99422 — the figures of the s8 graph on a CPU with VNNI.
    ``vnni`` defaults to :func:`cpu_has_vnni`.
    """
    return INT8_SCHEME if (cpu_has_vnni() if vnni is None else vnni) else INT8_SCHEME_U8


def check_backend(value: str, *, where: str = "backend") -> str:
    """``value`` if it is one of :data:`BACKENDS`; else a :class:`SchemaError` naming the choices."""
    return check_choice(value, BACKENDS, BACKEND_MEANING, where=where)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def name_with_backend(name: str, backend: str) -> str:
    """The encoder identity ``name`` with its backend; ``torch`` leaves it unchanged (same cache key).

    The ONNX Runtime version is part of the name: int8 kernels (and fp32 fusions) may change
    between releases, and the cache must not mix their rows.
    """
    if backend == DEFAULT_BACKEND:
        return name
    scheme = f"/int8={int8_scheme()}" if backend == "onnx-int8" else ""
    return f"{name}:backend={backend}/graph={GRAPH}{scheme}/onnxruntime=={_version('onnxruntime')}"


def require_onnx(what: str) -> None:
    """Raise a PrerequisiteError naming ``what`` and the pip install unless onnxruntime and onnx import."""
    with optional_dependency(f"{what} needs the Python packages 'onnxruntime' and 'onnx' ({{exc}}): {ONNX_INSTALL}"):
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401


# ------------------------------------------------------------------------------------------ export
def _pooling_is_mean(folder: Path) -> bool:
    """Whether the sentence-transformers model in ``folder`` is Transformer → mean Pooling (→ Normalize)."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        pooling = next(m for m in modules if str(m["type"]).endswith("Pooling"))
        cfg = json.loads((folder / str(pooling["path"]) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, StopIteration):
        return False
    others = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"]
    return (
        kinds[:2] == ["Transformer", "Pooling"]
        and set(kinds[2:]) <= {"Normalize"}
        and bool(cfg.get("pooling_mode_mean_tokens"))
        and not others
    )


def export_dir(folder: Path, fingerprint: str) -> Path:
    """Where the ONNX files of the model in ``folder`` are cached (created on demand)."""
    from routerlab.data.registry import cache_dir

    return cache_dir() / "onnx" / f"{fingerprint}-torch{_version('torch')}-opset{OPSET}-{GRAPH}"


def _eager_attention(model: Any) -> Callable[[], None]:
    """Switch ``model`` to the plain (eager) attention for tracing; returns the function that switches it back.

    transformers' default attention traces to ``scaled_dot_product_attention`` plus IsNaN/Where
    guards for fully masked rows; eager attention traces to MatMul → Softmax → MatMul, which ONNX
    Runtime runs faster (measured on 400 routerdc-7models queries, one text per run, idle 2-core
    machine: fp32 90 → 96 q/s, int8 182-199 → 211-230 q/s) with the same vectors (cosine 1.00000).
    """
    before = getattr(model.config, "_attn_implementation", None)
    setter = getattr(model, "set_attn_implementation", None)

    def switch(kind: str | None) -> None:
        if kind is None:
            return
        if callable(setter):
            setter(kind)
        else:  # older transformers read the config field at forward time
            model.config._attn_implementation = kind

    switch("eager")
    return lambda: switch(before)


def _export_fp32(st_model: Any, target: Path) -> None:
    """Export ``st_model``'s transformer (token ids → last hidden state), eager attention, to ``target`` (atomic)."""
    import warnings

    import torch

    class _Hidden(torch.nn.Module):  # keyword call: transformers 5's forward takes other positionals
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    inner = st_model[0].auto_model
    net = _Hidden(inner).eval()
    ids = torch.ones((2, 8), dtype=torch.long)
    tmp = target.with_name(f"{TMP_PREFIX}{os.getpid()}-{target.name}")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    restore = _eager_attention(inner)  # the torch model may go on encoding in this process: restored below
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape checks that hold for every input
            torch.onnx.export(
                net,
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                tmp,
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,  # the TorchScript exporter handles BERT's dynamic shapes without onnxscript
            )
        os.replace(tmp, target)  # atomic: a concurrent reader sees no file or the whole one
    finally:
        restore()
        tmp.unlink(missing_ok=True)


def _weight_matmuls(graph: Any) -> dict[str, int]:
    """Name of each MatMul whose right operand is a 2-D float initializer -> how many such MatMuls read its input."""
    from onnx import TensorProto

    weights = {i.name: i for i in graph.initializer}
    found = [
        n
        for n in graph.node
        if n.op_type == "MatMul"
        and len(n.input) == 2
        and (w := weights.get(n.input[1])) is not None
        and len(w.dims) == 2
        and w.data_type == TensorProto.FLOAT
    ]
    readers: dict[str, int] = {}
    for n in found:
        readers[n.input[0]] = readers.get(n.input[0], 0) + 1
    return {n.name: readers[n.input[0]] for n in found}


def _quantise(source: Path, target: Path, *, unsigned_weights: bool = False) -> None:
    """Int8 MatMuls of ``source``, per-channel weights and per-token activations where it pays, into ``target``.

    Every MatMul whose right operand is a 2-D float weight W (k × n) gets int8 weights with one
    scale per output channel, w_j = max_i |W_ij| / 127, Q_ij = round(W_ij / w_j). Its activations X
    (… × k) are quantised in one of two ways, by how many such MatMuls read X:

    * **read by one** (attention output, FFN in, FFN out): one scale per token — ZeroQuant's
      token-wise activation quantisation (Yao et al. 2022, §3; the vector-wise scales of
      LLM.int8(), Dettmers et al. 2022, §3.2)::

          s_t = max(max_i |X_ti|, 1e-8) / 127    q_ti = round(X_ti / s_t) + 128   (uint8)
          Y_tj = s_t · w_j · Σ_i (q_ti − 128) · Q_ij                      (sum exact in int32)

    * **read by several** (Q, K and V read one LayerNorm output): ONNX Runtime's dynamic
      quantisation, one asymmetric uint8 scale for the tensor (min and max of X), computed once
      for all readers in one fused pass.

    Measured on 600 routerdc-7models queries (cosine to the fp32 vectors): every MatMul per tensor
    (ONNX Runtime's ``quantize_dynamic``, the earlier ``onnx-int8``) mean 0.9925, min 0.973; every
    MatMul per token 0.9972 / 0.992 at 0.92× its speed (ten more nodes per MatMul); this mix
    0.9978 / 0.994 at the same speed as all-per-tensor. A token's scale is its own, so a text's
    vector never depends on another text's outliers. The graph's other operations stay fp32.
    ``unsigned_weights`` stores every Q as uint8 Q + 128 (zero point shifted alike), so ONNX Runtime
    runs u8 × u8 kernels, exact on CPUs without VNNI (:func:`int8_scheme`).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    readers = _weight_matmuls(onnx.load(str(source), load_external_data=False).graph)
    per_token = sorted(name for name, n in readers.items() if n == 1)
    tmp = target.with_name(f"{TMP_PREFIX}{os.getpid()}-{target.name}")
    try:
        quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=per_token,
        )
        model = onnx.load(str(tmp))
        if unsigned_weights:
            _shift_matmul_integer_weights(model)
        _per_token_int8(model, set(per_token), unsigned_weights=unsigned_weights)
        onnx.save(model, str(tmp))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _shift_matmul_integer_weights(model: Any) -> None:
    """Store the int8 weights (and their zero points) of ``model``'s MatMulInteger nodes as uint8 + 128, in place.

    (q_a − z_a)(Q + 128 − (z + 128)) = (q_a − z_a)(Q − z): the same integers, but ONNX Runtime then
    runs u8 × u8 kernels, which do not saturate on CPUs without VNNI (:func:`int8_scheme`).
    """
    from onnx import TensorProto, numpy_helper

    weights = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        for name in node.input[1:4:2]:  # B and B's zero point
            init = weights.get(name)
            if init is None or init.data_type != TensorProto.INT8:
                raise RouterlabError(f"MatMulInteger {node.name!r}: expected an int8 initializer for {name!r}")
            shifted = (numpy_helper.to_array(init).astype(np.int16) + 128).astype(np.uint8)
            init.CopyFrom(numpy_helper.from_array(shifted, name))


def _weights_int8(w: np.ndarray, w_scale: np.ndarray, unsigned: bool) -> np.ndarray:
    """round(W / w_j) in [-127, 127] as int8, or shifted by the zero point 128 as uint8 (same products)."""
    q: np.ndarray = np.clip(np.round(w / w_scale), -127, 127)
    return (q + 128).astype(np.uint8) if unsigned else q.astype(np.int8)


def _per_token_int8(
    model: Any, names: set[str], tokens_from: str = "input_ids", *, unsigned_weights: bool = False
) -> None:
    """Rewrite the MatMuls of ``model`` named in ``names`` (2-D float weights) as per-token int8, in place.

    Their inputs are hidden states of shape (batch, tokens, k), the shape of graph input
    ``tokens_from`` plus one axis: the row count and the output shape come from that input once
    for the whole graph (fewer nodes per MatMul: 10 % faster than per-MatMul Shape nodes). A tensor
    of another shape fails at run time in QuantizeLinear or Reshape; it is never quantised wrongly.
    ``unsigned_weights``: weights as uint8 with zero point 128 (u8 × u8 kernels; see :func:`int8_scheme`).
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    const: dict[str, np.ndarray] = {
        "pt_inv127": np.array(1.0 / 127.0, np.float32),
        "pt_eps": np.array(1e-8, np.float32),
        "pt_zero": np.array(128, np.uint8),
        "pt_last": np.array([-1], np.int64),
    }
    added = [numpy_helper.from_array(v, k) for k, v in const.items()]
    nodes: list[Any] = [
        helper.make_node("Shape", [tokens_from], ["pt_batch_tokens"]),
        helper.make_node("ReduceProd", ["pt_batch_tokens"], ["pt_rows"], keepdims=1),
        helper.make_node("Expand", ["pt_zero", "pt_rows"], ["pt_zeros"]),  # one zero point per token
    ]
    out_shapes: dict[int, str] = {}
    for node in graph.node:
        if node.name not in names:
            nodes.append(node)
            continue
        p = f"{node.name}/pt_"
        w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
        w_scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
        k, n = w.shape
        added += [
            numpy_helper.from_array(_weights_int8(w, w_scale, unsigned_weights), p + "w"),
            numpy_helper.from_array(w_scale.astype(np.float32), p + "w_scale"),
            numpy_helper.from_array(np.array([-1, k], np.int64), p + "rows"),
        ]
        if n not in out_shapes:
            out_shapes[n] = f"pt_shape_{n}"
            added.append(numpy_helper.from_array(np.array([n], np.int64), f"pt_n_{n}"))
            nodes.append(helper.make_node("Concat", ["pt_batch_tokens", f"pt_n_{n}"], [out_shapes[n]], axis=0))
        nodes += [
            # tokens as rows: QuantizeLinear takes one scale per index of one axis
            helper.make_node("Reshape", [node.input[0], p + "rows"], [p + "x"]),
            helper.make_node("ReduceMax", [p + "x"], [p + "hi"], axes=[1], keepdims=1),
            helper.make_node("ReduceMin", [p + "x"], [p + "lo"], axes=[1], keepdims=1),
            helper.make_node("Neg", [p + "lo"], [p + "neg_lo"]),
            helper.make_node("Max", [p + "hi", p + "neg_lo", "pt_eps"], [p + "absmax"]),
            helper.make_node("Mul", [p + "absmax", "pt_inv127"], [p + "s"]),  # rows × 1
            helper.make_node("Reshape", [p + "s", "pt_last"], [p + "s_flat"]),
            helper.make_node("QuantizeLinear", [p + "x", p + "s_flat", "pt_zeros"], [p + "q"], axis=0),
            # a_scale of rows × 1 broadcasts against b_scale: y_tj = s_t · w_j · Σ_i (q_ti − 128) Q_ij
            helper.make_node(
                "MatMulIntegerToFloat",
                [p + "q", p + "w", p + "s", p + "w_scale", "pt_zero", *(["pt_zero"] if unsigned_weights else [])],
                [p + "ys"],
                domain="com.microsoft",
            ),
            helper.make_node(
                "Reshape", [p + "ys", out_shapes[n]], [node.output[0]], name=f"{node.name}/per_token_int8"
            ),
        ]
    used = {name for n in nodes for name in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend([*kept, *(a for a in added if a.name in used)])
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))


def onnx_model_path(
    backend: str, folder: Path, fingerprint: str, load_torch: Callable[[], Any], *, name: str = "encoder"
) -> Path:
    """The cached ONNX file for ``backend`` of the model in ``folder``, exported (and quantised) if missing.

    ``load_torch`` returns the loaded sentence-transformers model; it is called only when the fp32
    file must be exported. The int8 file's name holds the ONNX Runtime version that quantised it.
    """
    if not _pooling_is_mean(folder):
        raise SchemaError(
            f"Encoder {name!r}: backend={backend!r} supports sentence-transformers models made of a Transformer, "
            f"mean Pooling and optionally Normalize; {folder} is another kind. Use backend=torch."
        )
    out = export_dir(folder, fingerprint)
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "model.onnx"
    if not fp32.is_file():
        log.info("exporting %s to ONNX at %s", folder, fp32)
        _export_fp32(load_torch(), fp32)
    if backend == "onnx":
        return fp32
    scheme = int8_scheme()
    int8 = out / f"model-int8-{scheme}-onnxruntime{_version('onnxruntime')}.onnx"
    if not int8.is_file():
        log.info("quantising %s to int8 (%s) at %s", fp32, scheme, int8)
        _quantise(fp32, int8, unsigned_weights=scheme == INT8_SCHEME_U8)
    return int8


# --------------------------------------------------------------------------------------------- run
_SESSIONS: dict[str, Any] = {}
_SESSIONS_LOCK = threading.Lock()


#: ONNX Runtime fusions left out of int8 sessions: on this CPU (AMD EPYC, AVX-512 VNNI) the fused BiasGelu and
#: SkipLayerNormalization kernels ran the int8 graphs 12-13 % slower than the plain ops (800 routerdc-7models
#: queries: 105.6 vs 93.0 q/s for ``onnx-int8``, 113.7 vs 101.9 for ONNX Runtime's dynamic scheme); fp32 was
#: unchanged (46.2 vs 45.6), so fp32 sessions, whose cached rows were made with them, keep every fusion.
INT8_DISABLED_OPTIMIZERS = ("BiasGeluFusion", "SkipLayerNormFusion")


def _session(path: Path, threads: int) -> Any:
    """One ONNX Runtime session per file, intra-op thread count (0: one per core) and process; no spin-waiting."""
    import onnxruntime as ort

    with _SESSIONS_LOCK:
        key = f"{path}#{threads}"
        if key not in _SESSIONS:
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            disabled = list(INT8_DISABLED_OPTIMIZERS) if path.name.startswith("model-int8-") else None
            _SESSIONS[key] = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
            )
        return _SESSIONS[key]


class OnnxRunner:
    """Encode a batch of texts as sentence-transformers would, with the transformer run by ONNX Runtime.

    ``tokenizer`` is a ``tokenizers.Tokenizer`` (no truncation, no padding set: this class sets
    both), ``max_seq_length`` the model's window in word pieces (special tokens included) and
    ``lower`` whether texts are lower-cased first (``do_lower_case`` of ``sentence_bert_config.json``).
    Each text runs alone, single-threaded, ``workers`` texts at a time (default: one per CPU core),
    so a row never depends on the batch it came in.
    """

    def __init__(
        self,
        path: Path,
        tokenizer: Any,
        max_seq_length: int,
        *,
        lower: bool = False,
        workers: int | None = None,
    ) -> None:
        self.path = path
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.session = _session(path, 1)
        self.lower = lower
        tok = tokenizer
        tok.enable_truncation(max_length=max_seq_length)
        pad = tok.token_to_id("[PAD]")
        tok.enable_padding(pad_id=0 if pad is None else int(pad), pad_token="[PAD]")
        self.tokenizer = tok
        self.wants = {i.name for i in self.session.get_inputs()}

    def __call__(self, batch: list[str]) -> np.ndarray:
        """Unit-norm float32 rows for ``batch``, one text per run (``batch_size`` only paces progress)."""
        if len(batch) == 1:
            return self._run(batch)
        if self.workers == 1:
            return np.concatenate([self._run([text]) for text in batch], axis=0)
        with ThreadPoolExecutor(self.workers) as pool:  # map keeps the input order
            return np.concatenate(list(pool.map(lambda text: self._run([text]), batch)), axis=0)

    def _run(self, batch: list[str]) -> np.ndarray:
        prepared = [t.strip().lower() if self.lower else t.strip() for t in batch]
        encodings = self.tokenizer.encode_batch(prepared)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        feeds = {k: v for k, v in zip(_INPUTS, (ids, mask, types), strict=True) if k in self.wants}
        hidden = np.asarray(self.session.run(["last_hidden_state"], feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if not np.isfinite(pooled).all():
            raise RouterlabError(f"ONNX Runtime returned non-finite vectors from {self.path}; delete it to re-export.")
        return l2_normalise(pooled, dtype=np.float32)
