r"""A local LM's mean-pooled hidden states as query features: a float16 shard store and the ``hidden:`` encoder.

**Store** (:class:`HiddenStateStore`, under ``cache_dir()/"hidden-states"``): one folder per model
identity (:func:`routerlab.data.features.lm.model_identity`: weights, version, prompt format), shards
laid out as the embedding cache's (:mod:`routerlab.data.features.cache`: text SHA-256 keys, atomic
writes, corrupt shards dropped and recomputed), but each row is the whole ``(n_states, dim)`` stack
of per-layer mean-pooled states in float16 (31 × 576 for SmolLM2-135M: 36 KB a query)::

    hidden-states/<model-slug>-<sha256(identity)[:12]>/
      meta.json                      {"schema_version", "encoder": identity, "dim": [n_states, dim]}
      shard-<blake2b(keys)[:20]>.npz keys (n, 32) uint8; vectors (n, n_states, dim) float16; encoder

``routerlab collect-lm`` (:mod:`routerlab.collect.local_lm`) fills it while it records outcomes; the
encoder reads it and computes only the rows it lacks (one forward pass each, :class:`LocalLM`).

**Encoder** ``hidden:<model>[?layers=SEL][&answer=METHOD]`` (registered in :data:`ENCODERS` as ``hidden``; ``<model>``
a :data:`LOCAL_LMS` name or a model folder). ``SEL`` picks what a router sees, as float32 rows:

``all`` (default)
    every state, flattened layer-major: column ``l * dim + j`` is unit ``j`` of state ``l``;
    state 0 is the input embeddings, state ``n_layers`` the last layer (after the final norm).
    ProbeMean / ProbeDirichlet reshape rows to ``(n_states, dim)`` (routerxbench §4, eqs. 12-15).
``final``
    the last state only (routerxbench Table 3 "Final Layer").
``input``
    state 0, the mean of the prompt's input embeddings (Table 4 "LLM Emb.").
``mean``
    the uniform mean over states (Table 3 "Mean Pool", fixed weights).

The layer structure travels with the features: the encoder's ``name`` (the identity that
:class:`~routerlab.data.features.Features` and fitted routers carry) ends in
``:layers=<SEL>:shape=<n_states>x<dim>``, and :func:`hidden_layout` parses it back.

**Logit signals** ``logits:<model>`` (:class:`LogitSignalEncoder`, registered as ``logits``): the
same forward pass's four letter logits and max probability / entropy / margin over the letters and
over the vocabulary (:data:`SIGNAL_COLUMNS`), float32, from a second store
(``cache_dir()/"lm-signals"``) that ``collect-lm`` fills beside the states. Every forward pass, by
either encoder or the collector, writes both stores (:func:`store_forward`).

**Answer method** (``?answer=cloze``, default ``letter``; :data:`~routerlab.data.features.lm.ANSWER_METHODS`):
both encoders read the stores of ``model_identity(model, answer)``. ``cloze`` states come from the
cloze prompt ``"Question: <q>\nAnswer:"`` and its signals from the four options' scores, so they
live in other stores than ``letter``'s and are computed with the cloze pass when missing. E.g.
``hidden:smollm2-135m?answer=cloze&layers=final``, ``logits:smollm2-135m?answer=cloze``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from routerlab.data.features.cache import _KEY_BYTES, EmbeddingStore, _CorruptShard, _load_member, text_key
from routerlab.data.features.encoders import Progress
from routerlab.data.features.lm import (
    ANSWER_METHODS,
    DEFAULT_ANSWER,
    LOCAL_LMS,
    ForwardResult,
    check_answer_method,
    load_lm,
    model_folder,
    model_identity,
)
from routerlab.data.registry import cache_dir
from routerlab.errors import RouterlabError, SchemaError

log = logging.getLogger(__name__)

LAYER_CHOICES = ("all", "final", "input", "mean")
_SHAPE = re.compile(r":layers=(all|final|input|mean):shape=(\d+)x(\d+)$")
#: prompts per forward pass when the encoder computes missing rows
FORWARD_BATCH = 8


def hidden_store_dir(identity: str) -> Path:
    """The folder of the hidden-state rows of the model with this identity."""
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", identity).strip("_")[:60]
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]
    return cache_dir() / "hidden-states" / f"{slug}-{digest}"


class HiddenStateStore(EmbeddingStore):
    """Text key → ``(n_states, dim)`` float16 mean-pooled states of one model (see the module doc)."""

    def __init__(self, identity: str, shape: tuple[int, int] | None = None, root: Path | None = None) -> None:
        super().__init__(identity, None, root if root is not None else hidden_store_dir(identity))
        self.shape = shape

    def _read_vectors(self, shard: Path, n_rows: int) -> np.ndarray:
        vectors = _load_member(shard, "vectors")
        if vectors.dtype != np.float16 or vectors.ndim != 3 or vectors.shape[0] != n_rows:
            raise _CorruptShard(
                f"rows have dtype {vectors.dtype} and shape {vectors.shape}, not float16 ({n_rows}, n_states, dim)"
            )
        if self.shape is not None and tuple(vectors.shape[1:]) != self.shape:
            raise _CorruptShard(f"rows are {vectors.shape[1:]}, but the model gives {self.shape}")
        if not np.isfinite(vectors).all():
            raise _CorruptShard("rows hold NaN or inf")
        self.shape = (int(vectors.shape[1]), int(vectors.shape[2]))
        self.dim = vectors.shape[1]  # keeps EmbeddingStore's width check (compact) meaningful
        return vectors

    def contains(self, keys: Sequence[bytes]) -> set[bytes]:
        """Which of ``keys`` have a row in the store (reads only the shards' keys)."""
        self._check_meta()
        wanted = set(keys)
        have: set[bytes] = set()
        for shard in self.shards():
            try:
                have.update(k for k in map(bytes, self._read_keys(shard)) if k in wanted)
            except _CorruptShard as exc:
                self._discard(shard, str(exc))
            except FileNotFoundError:  # merged away by a concurrent process
                continue
        return have

    def _write_meta(self) -> None:
        from routerlab._files import atomic_write_bytes

        meta = self.root / "meta.json"
        if meta.exists():
            return
        payload = {"schema_version": 1, "encoder": self.encoder_name, "dim": list(self.shape or ())}
        atomic_write_bytes(meta, (json.dumps(payload, indent=2) + "\n").encode("utf-8"))

    def add(self, keys: Sequence[bytes], vectors: np.ndarray) -> Path:
        """Write ``(n, n_states, dim)`` rows (stored as float16) as a new shard; returns its path."""
        from routerlab._files import atomic_write

        rows = np.ascontiguousarray(vectors, dtype=np.float16)
        if rows.ndim != 3 or rows.shape[0] != len(keys):
            raise SchemaError(f"hidden states must be (n_keys={len(keys)}, n_states, dim); got {rows.shape}.")
        if self.shape is None:
            self.shape = (int(rows.shape[1]), int(rows.shape[2]))
        elif tuple(rows.shape[1:]) != self.shape:
            raise SchemaError(f"hidden states are {rows.shape[1:]} per row, but this store holds {self.shape}.")
        key_arr = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), _KEY_BYTES)
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_meta()
        path = self.root / f"shard-{hashlib.blake2b(key_arr.tobytes(), digest_size=10).hexdigest()}.npz"
        with atomic_write(path) as fh:
            np.savez(fh, allow_pickle=False, encoder=np.array(self.encoder_name), keys=key_arr, vectors=rows)
        return path


#: the columns of a ``logits:`` row, in order (routerxbench §5.1 logit-based signals, and the raw letter logits)
SIGNAL_COLUMNS = (
    "logit_a", "logit_b", "logit_c", "logit_d",
    "letter_max_prob", "letter_entropy", "letter_margin",
    "vocab_max_prob", "vocab_entropy", "vocab_margin",
)  # fmt: skip


def signal_store(identity: str) -> EmbeddingStore:
    """The float32 store of a model's logit signals (:data:`SIGNAL_COLUMNS`), keyed by text like the states."""
    name = f"{identity}:signals"
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", identity).strip("_")[:60]
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    return EmbeddingStore(name, len(SIGNAL_COLUMNS), root=cache_dir() / "lm-signals" / f"{slug}-{digest}")


def signal_rows(result: ForwardResult) -> np.ndarray:
    """The :data:`SIGNAL_COLUMNS` of a forward pass as a float32 ``(n, 10)`` array."""
    cols = [result.letter_logits[:, j] for j in range(4)]
    cols += [getattr(result, c) for c in SIGNAL_COLUMNS[4:]]
    return np.stack(cols, axis=1).astype(np.float32)


def store_forward(identity: str, keys: Sequence[bytes], result: ForwardResult) -> None:
    """Write one forward pass's hidden states and logit signals to the model's two stores."""
    HiddenStateStore(identity, (int(result.hidden.shape[1]), int(result.hidden.shape[2]))).add(keys, result.hidden)
    signal_store(identity).add(keys, signal_rows(result))


def compute_missing(
    model: str,
    texts: Sequence[str],
    keys: Sequence[bytes],
    todo: Sequence[int],
    *,
    answer: str = DEFAULT_ANSWER,
    progress: Progress | None = None,
) -> tuple[dict[bytes, np.ndarray], dict[bytes, np.ndarray]]:
    """Run ``model`` on ``texts[i]`` for ``i`` in ``todo``; store and return their states and signals by key."""
    lm = load_lm(model)
    identity = model_identity(model, answer)
    order = sorted(dict.fromkeys(todo), key=lambda i: len(texts[i]))  # similar lengths share a batch
    hidden: dict[bytes, np.ndarray] = {}
    signals: dict[bytes, np.ndarray] = {}
    for start in range(0, len(order), FORWARD_BATCH):
        batch = order[start : start + FORWARD_BATCH]
        batch_keys = [keys[i] for i in batch]
        result = lm.answer_pass([texts[i] for i in batch], answer)
        store_forward(identity, batch_keys, result)
        rows = signal_rows(result)
        for j, k in enumerate(batch_keys):
            hidden[k], signals[k] = result.hidden[j], rows[j]
        if progress is not None:
            progress(min(start + FORWARD_BATCH, len(order)), len(order))
    HiddenStateStore(identity).compact()
    signal_store(identity).compact()
    return hidden, signals


def model_shape(model: str) -> tuple[int, int]:
    """``(n_states, dim)`` of a local LM from its config alone (no weights loaded): layers + 1, hidden size."""
    spec = LOCAL_LMS.get(model)
    if spec is not None and spec.n_layers is not None and spec.dim is not None:
        return spec.n_layers + 1, spec.dim
    config = json.loads((model_folder(model) / "config.json").read_text(encoding="utf-8"))
    return int(config["num_hidden_layers"]) + 1, int(config["hidden_size"])


@dataclass(frozen=True, slots=True)
class HiddenLayout:
    """The layer structure of ``hidden:`` features: which states a row holds and their width."""

    layers: str
    n_states: int
    dim: int

    @property
    def width(self) -> int:
        """Columns of a feature row."""
        return self.n_states * self.dim if self.layers == "all" else self.dim


def hidden_layout(encoder_identity: str) -> HiddenLayout | None:
    """The layout a ``hidden:`` encoder identity declares; ``None`` for any other encoder."""
    if not encoder_identity.startswith("hidden:"):
        return None
    found = _SHAPE.search(encoder_identity)
    if found is None:
        return None
    return HiddenLayout(found.group(1), int(found.group(2)), int(found.group(3)))


def parse_lm_encoder_name(name: str) -> tuple[str, dict[str, str]]:
    """``"hidden:<model>?layers=SEL&answer=M"`` (or ``logits:...``) → ``(model, {"layers": SEL, "answer": M})``.

    Options absent from the name are absent from the dict; a clear error for a malformed name.
    """
    prefix, _, body = name.partition(":")
    allowed = ("layers", "answer") if prefix == "hidden" else ("answer",)
    model, _, query = body.partition("?")
    options: dict[str, str] = {}
    for part in query.split("&") if query else []:
        key, _, value = part.partition("=")
        choices = LAYER_CHOICES if key == "layers" else tuple(ANSWER_METHODS)
        if key not in allowed or key in options or value not in choices:
            raise SchemaError(
                f"Encoder {name!r}: options are {' and '.join('?' + a + '=' for a in allowed)} (layers: "
                f"{', '.join(LAYER_CHOICES)}; answer: {', '.join(ANSWER_METHODS)}), each once; got {part!r}. "
                f"Example: {prefix}:smollm2-135m?{'layers=final&' if prefix == 'hidden' else ''}answer=cloze."
            )
        options[key] = value
    if not model:
        raise SchemaError(f"Encoder {name!r} names no model; write {prefix}:<model>, e.g. {prefix}:smollm2-135m.")
    return model, options


def parse_hidden_name(name: str) -> tuple[str, str]:
    """``"hidden:<model>?layers=SEL"`` → ``(model, SEL)``; a clear error for a malformed name."""
    model, options = parse_lm_encoder_name(name if name.startswith("hidden:") else f"hidden:{name}")
    return model, options.get("layers", "all")


class HiddenStateEncoder:
    """Query features from a local LM's mean-pooled hidden states (see the module doc).

    Rows come from the :class:`HiddenStateStore` (filled by ``routerlab collect-lm``); missing rows
    are computed with one forward pass each and stored. The encoder caches its own rows, so
    :func:`~routerlab.data.features.encode` does not copy them into the float32 embedding cache
    (``caches_itself``).
    """

    caches_itself = True

    def __init__(self, model: str = "smollm2-135m", *, layers: str = "all", answer: str = DEFAULT_ANSWER) -> None:
        if layers not in LAYER_CHOICES:
            raise SchemaError(f"layers must be one of {', '.join(LAYER_CHOICES)}. Got {layers!r}.")
        self.model = model
        self.layers = layers
        self.answer = check_answer_method(answer)
        self.identity = model_identity(model, answer)
        self.n_states, self.state_dim = model_shape(model)
        self.layout = HiddenLayout(layers, self.n_states, self.state_dim)
        self.name = f"hidden:{self.identity}:layers={layers}:shape={self.n_states}x{self.state_dim}"
        self.dim: int | None = self.layout.width
        self.store = HiddenStateStore(self.identity, (self.n_states, self.state_dim))

    def states(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """``(n, n_states, dim)`` float16 states of ``texts``: stored rows, plus the missing ones computed."""
        keys = [text_key(t) for t in texts]
        found = self.store.lookup(keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        if todo:
            log.info("hidden:%s: %d of %d texts not collected yet; computing them", self.model, len(todo), len(keys))
            hidden, _ = compute_missing(self.model, texts, keys, todo, answer=self.answer, progress=progress)
            shape = next(iter(hidden.values())).shape
            if shape != (self.n_states, self.state_dim):
                raise RouterlabError(
                    f"{self.model}: the loaded model gives {shape[0]}x{shape[1]} states, its config says "
                    f"{self.n_states}x{self.state_dim}."
                )
            found.update(hidden)
        out = np.empty((len(keys), self.n_states, self.state_dim), dtype=np.float16)
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
        """float32 rows of the selected states (``layers``), one per text."""
        states = self.states(texts, progress=progress).astype(np.float32)
        if self.layers == "all":
            return states.reshape(len(texts), -1)
        if self.layers == "final":
            return states[:, -1, :]
        if self.layers == "input":
            return states[:, 0, :]
        mean: np.ndarray = states.mean(axis=1)
        return mean

    def __repr__(self) -> str:
        return f"HiddenStateEncoder(model={self.model!r}, layers={self.layers!r}, answer={self.answer!r})"


class LogitSignalEncoder:
    """``logits:<model>``: the small model's next-token signals per query, :data:`SIGNAL_COLUMNS` in order.

    The four letter logits, then max probability, entropy (nats) and margin over the letters and
    over the vocabulary — the logit-based baselines of routerxbench §5.1 (MaxLogits, Entropy,
    ConfidenceMargin) read them as features. Rows come from the store ``collect-lm`` fills; missing
    ones are computed with one forward pass (which also stores the hidden states).
    """

    caches_itself = True

    def __init__(self, model: str = "smollm2-135m", *, answer: str = DEFAULT_ANSWER) -> None:
        self.model = model
        self.answer = check_answer_method(answer)
        self.identity = model_identity(model, answer)
        self.name = f"logits:{self.identity}:cols={','.join(SIGNAL_COLUMNS)}"
        self.dim: int | None = len(SIGNAL_COLUMNS)
        self.store = signal_store(self.identity)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
        """float32 ``(n, 10)`` rows of :data:`SIGNAL_COLUMNS`."""
        keys = [text_key(t) for t in texts]
        found = self.store.lookup(keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        if todo:
            log.info("logits:%s: %d of %d texts not collected yet; computing them", self.model, len(todo), len(keys))
            _, signals = compute_missing(self.model, texts, keys, todo, answer=self.answer, progress=progress)
            found.update(signals)
        out = np.empty((len(keys), len(SIGNAL_COLUMNS)), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out

    def __repr__(self) -> str:
        return f"LogitSignalEncoder(model={self.model!r}, answer={self.answer!r})"
