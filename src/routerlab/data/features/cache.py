"""Encode a dataset's queries once per encoder: a content-addressed, crash-safe embedding cache.

Layout (under :func:`routerlab.data.registry.cache_dir`)::

    embeddings/
      <encoder-slug>-<sha256(encoder.name)[:12]>/   one store per encoder name
        meta.json                                   {"schema_version", "encoder", "dim"}, for people
        shard-<blake2b(keys)[:20]>.npz              keys: (n, 32) uint8 sha256 of each text (UTF-8)
                                                    vectors: (n, dim) float32
                                                    encoder: the encoder name (0-d str)

A row is found by the SHA-256 of its text, never by its position, so a dataset that is permuted,
subset, split or merged with another reuses every row already computed, and only unseen texts are
encoded. New rows are written in shards of :data:`CHECKPOINT_ROWS` as they are computed (a long,
interrupted encode resumes where it stopped); many shards are merged into one at the end of a call.
Every file is written to a temporary name and moved into place (:mod:`routerlab._files`), so a
killed process never leaves a half-written shard. Shards are plain ``.npz`` (no pickles); a shard
that cannot be read, fails its zip CRC, or whose name, shapes, dtype, width or values do not check
out is removed with a warning and its rows are encoded again. Concurrent writers are safe: shard
names are content hashes, and merging deletes only shards it has just rewritten.

This is the cache `routing-plateau.txt` (arXiv:2606.07587) App. E describes: embeddings computed once per
(benchmark, encoder) and shared across routers, so cross-method gaps cannot be re-encoding artefacts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import zipfile
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from routerlab._files import TMP_PREFIX, atomic_write, atomic_write_bytes
from routerlab.data.features.encoders import Encoder, get_encoder
from routerlab.data.registry import cache_dir
from routerlab.data.schema import RoutingData
from routerlab.errors import RouterlabError, SchemaError

log = logging.getLogger(__name__)

STORE_SCHEMA_VERSION = 1
CHECKPOINT_ROWS = 4096  # rows encoded between two shard writes
MAX_SHARDS = 8  # more shards than this are merged into one at the end of an encode call
LOG_EVERY_S = 10.0  # seconds between two INFO lines of a running encode
_KEY_BYTES = 32


def text_key(text: str) -> bytes:
    """Return the cache key of one text: the SHA-256 digest of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def store_dir(encoder_name: str) -> Path:
    """Return the folder holding the cached rows of the encoder called ``encoder_name``."""
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", encoder_name).strip("_")[:60]
    digest = hashlib.sha256(encoder_name.encode("utf-8")).hexdigest()[:12]
    return cache_dir() / "embeddings" / f"{slug}-{digest}"


class _CorruptShard(Exception):
    pass


def _load_member(shard: Path, name: str) -> np.ndarray:
    """The array ``name`` of an ``.npz`` shard; a _CorruptShard when the file cannot be read as one."""
    try:
        with np.load(shard, allow_pickle=False) as z:
            array: np.ndarray = z[name]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _CorruptShard(f"unreadable ({type(exc).__name__}: {exc})") from None
    return array


class EmbeddingStore:
    """The cached rows of one encoder: text key → float32 vector, spread over ``.npz`` shards."""

    def __init__(self, encoder_name: str, dim: int | None = None, root: Path | None = None) -> None:
        self.encoder_name = encoder_name
        self.dim = dim
        self.root = root if root is not None else store_dir(encoder_name)

    # -------------------------------------------------------------------------------- reading
    def shards(self) -> list[Path]:
        """List the shard files now in the store."""
        return sorted(self.root.glob("shard-*.npz")) if self.root.is_dir() else []

    def _check_meta(self) -> None:
        meta = self.root / "meta.json"
        if not meta.exists():
            return
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            ok = info.get("encoder") == self.encoder_name and info.get("schema_version") == STORE_SCHEMA_VERSION
        except (OSError, ValueError, AttributeError, RecursionError):
            ok = False
        if not ok:
            log.warning("embedding cache %s belongs to another encoder or version; clearing it", self.root)
            for shard in self.shards():
                shard.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)

    def _read_keys(self, shard: Path) -> np.ndarray:
        try:
            with np.load(shard, allow_pickle=False) as z:
                name = str(z["encoder"])
                keys: np.ndarray = z["keys"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise _CorruptShard(f"unreadable ({type(exc).__name__}: {exc})") from None
        if name != self.encoder_name:
            raise _CorruptShard(f"written for encoder {name!r}")
        if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != _KEY_BYTES:
            raise _CorruptShard(f"keys have dtype {keys.dtype} and shape {keys.shape}, not uint8 (n, {_KEY_BYTES})")
        return keys

    def _read_vectors(self, shard: Path, n_rows: int) -> np.ndarray:
        vectors = _load_member(shard, "vectors")
        if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[0] != n_rows:
            raise _CorruptShard(
                f"vectors have dtype {vectors.dtype} and shape {vectors.shape}, not float32 ({n_rows}, dim)"
            )
        if self.dim is not None and vectors.shape[1] != self.dim:
            raise _CorruptShard(f"vectors are {vectors.shape[1]}-d, but the encoder gives {self.dim}-d")
        if not np.isfinite(vectors).all():
            raise _CorruptShard("vectors hold NaN or inf")
        return vectors

    def _discard(self, shard: Path, reason: str) -> None:
        log.warning("embedding cache shard %s is %s; removing it, its rows will be encoded again", shard, reason)
        try:
            shard.unlink(missing_ok=True)
        except OSError as exc:  # pragma: no cover - read-only cache
            log.warning("could not remove %s: %s", shard, exc)

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """Return the cached vectors of those ``keys`` that are in the store."""
        self._check_meta()
        wanted = set(keys)
        found: dict[bytes, np.ndarray] = {}
        for shard in self.shards():
            if len(found) == len(wanted):
                break
            try:
                shard_keys = self._read_keys(shard)
                rows = [(k, i) for i, k in enumerate(map(bytes, shard_keys)) if k in wanted and k not in found]
                if not rows:
                    continue
                vectors = self._read_vectors(shard, len(shard_keys))
            except _CorruptShard as exc:
                self._discard(shard, str(exc))
                continue
            except FileNotFoundError:  # merged away by a concurrent process; its rows live elsewhere
                continue
            if self.dim is None:
                self.dim = int(vectors.shape[1])
            for k, i in rows:
                found[k] = vectors[i]
        return found

    # -------------------------------------------------------------------------------- writing
    def _write_meta(self) -> None:
        meta = self.root / "meta.json"
        if meta.exists():
            return
        payload = {"schema_version": STORE_SCHEMA_VERSION, "encoder": self.encoder_name, "dim": self.dim}
        atomic_write_bytes(meta, (json.dumps(payload, indent=2) + "\n").encode("utf-8"))

    def add(self, keys: Sequence[bytes], vectors: np.ndarray) -> Path:
        """Write ``vectors`` (float32, one row per key) as a new shard; returns its path."""
        key_arr = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), _KEY_BYTES)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.root.mkdir(parents=True, exist_ok=True)
        if self.dim is None:
            self.dim = int(vectors.shape[1])
        self._write_meta()
        path = self.root / f"shard-{hashlib.blake2b(key_arr.tobytes(), digest_size=10).hexdigest()}.npz"
        with atomic_write(path) as fh:
            np.savez(fh, allow_pickle=False, encoder=np.array(self.encoder_name), keys=key_arr, vectors=vectors)
        return path

    def compact(self, max_shards: int | None = None) -> None:
        """Merge the shards into one when there are more than ``max_shards`` (default :data:`MAX_SHARDS`).

        Also removes temporary files more than an hour old, left by killed writers.
        """
        if max_shards is None:
            max_shards = MAX_SHARDS
        for tmp in self.root.glob(f"{TMP_PREFIX}*"):
            try:
                if time.time() - tmp.stat().st_mtime > 3600:
                    tmp.unlink()
            except OSError:
                pass
        shards = self.shards()
        if len(shards) <= max_shards:
            return
        keys_parts: list[np.ndarray] = []
        vec_parts: list[np.ndarray] = []
        merged: list[Path] = []
        for shard in shards:
            try:
                k = self._read_keys(shard)
                v = self._read_vectors(shard, len(k))
            except _CorruptShard as exc:
                self._discard(shard, str(exc))
                continue
            except FileNotFoundError:
                continue
            if vec_parts and v.shape[1] != vec_parts[0].shape[1]:
                self._discard(shard, f"{v.shape[1]}-d, unlike the store's {vec_parts[0].shape[1]}-d rows")
                continue
            keys_parts.append(k)
            vec_parts.append(v)
            merged.append(shard)
        if len(merged) < 2:
            return
        all_keys = np.concatenate(keys_parts)
        _, first = np.unique(all_keys.view(f"V{_KEY_BYTES}").ravel(), return_index=True)
        first.sort()
        out = self.add([bytes(k) for k in all_keys[first]], np.concatenate(vec_parts)[first])
        for shard in merged:
            if shard != out:
                shard.unlink(missing_ok=True)
        log.info(
            "merged %d embedding cache shards of %s into %s (%d rows)",
            len(merged),
            self.encoder_name,
            out.name,
            len(first),
        )


# ------------------------------------------------------------------------------------ encode
@lru_cache(maxsize=8)
def _shared_encoder(name: str) -> Encoder:
    """One encoder object per name within a process, so a model loads at most once."""
    return get_encoder(name)


def _validated(block: object, n: int, encoder: Encoder) -> np.ndarray:
    arr = np.asarray(block)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise RouterlabError(
            f"Encoder {encoder.name!r} returned shape {arr.shape} for {n} texts; it must return (n_texts, dim)."
        )
    if encoder.dim is not None and arr.shape[1] != encoder.dim:
        raise RouterlabError(
            f"Encoder {encoder.name!r} declares dim={encoder.dim} but returned {arr.shape[1]} columns."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise RouterlabError(f"Encoder {encoder.name!r} returned NaN or inf (first in row {row}); nothing was cached.")
    return arr


class _Progress:
    """Passes ``(done, total)`` on to the caller's callback and logs it at INFO.

    ``done`` never goes back and never passes ``total``; each value is passed on once (so ``(0,
    total)`` comes first, ``(total, total)`` last). The log gets a line every :data:`LOG_EVERY_S`
    seconds and one at the end, with the rate.
    """

    def __init__(self, encoder: str, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.encoder, self.total, self.callback = encoder, total, callback
        self.done = 0
        self.start = self.logged = time.monotonic()
        if callback is not None:
            callback(0, total)

    def __call__(self, done: int) -> None:
        done = min(max(int(done), self.done), self.total)
        if done == self.done:
            return
        self.done = done
        if self.callback is not None:
            self.callback(done, self.total)
        now = time.monotonic()
        if done == self.total or now - self.logged >= LOG_EVERY_S:
            self.logged = now
            elapsed = now - self.start
            log.info(
                "encoded %d/%d texts with %s (%.1f s, %.0f texts/s)",
                done, self.total, self.encoder, elapsed, done / elapsed if elapsed > 0 else float("inf"),
            )  # fmt: skip


def encode(
    data: RoutingData,
    encoder: str | Encoder = "minilm",
    *,
    cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Features of ``data``'s query texts: a float32 ``(data.n_queries, dim)`` array in row order.

    ``encoder`` is a registered name (``"minilm"``, ``"static64"``, ``"hashing"``,
    ``"handcrafted"``, ``"st:/path"``) or an :class:`Encoder`. With ``cache=True`` rows are read
    from and written to the on-disk store of that encoder (see the module doc), so each text is
    encoded once per encoder, whatever dataset, split or order it comes in; repeated texts are
    encoded once per call. ``progress(done, total)`` is called with ``(0, total)`` before encoding
    and after each batch (``done`` increasing, ending at ``total``), where ``total`` counts the texts
    actually encoded (0 on a full hit); the same progress is logged at INFO every
    :data:`LOG_EVERY_S` seconds and at the end. The CLI turns the callback into a progress bar.

    Raises :class:`~routerlab.errors.SchemaError` when ``data`` has no query text.
    """
    if not isinstance(data, RoutingData):
        raise SchemaError(
            f"encode() needs a RoutingData; got {type(data).__name__}. Load one with routerlab.data.load()."
        )
    if data.texts is None:
        raise SchemaError(
            f"Dataset {data.name!r} has no query text; use text-free routers (oracle, best_single, ...) or add texts: "
            "for a long table, a text column (`--text-col COLUMN` on the CLI, text_col= in Python); in Python, "
            "RoutingData(texts=...)."
        )
    enc = _shared_encoder(encoder) if isinstance(encoder, str) else encoder
    texts: list[str] = [str(t) for t in data.texts]

    index: dict[bytes, int] = {}
    inverse = np.empty(len(texts), dtype=np.intp)
    unique_texts: list[str] = []
    for i, text in enumerate(texts):
        key = text_key(text)
        j = index.get(key)
        if j is None:
            j = index[key] = len(unique_texts)
            unique_texts.append(text)
        inverse[i] = j
    keys = list(index)

    # An encoder that keeps its own on-disk rows (``caches_itself``, e.g. ``hidden:``) is not copied here.
    store = EmbeddingStore(enc.name, enc.dim) if cache and not getattr(enc, "caches_itself", False) else None
    found = store.lookup(keys) if store is not None else {}
    todo = [j for j, k in enumerate(keys) if k not in found]
    log.info(
        "encode %r with %s: %d texts, %d unique, %d cached, %d to encode",
        data.name, enc.name, len(texts), len(keys), len(found), len(todo),
    )  # fmt: skip

    blocks: dict[int, np.ndarray] = {}
    total = len(todo)
    report = _Progress(enc.name, total, progress)
    wrote = False
    step = CHECKPOINT_ROWS if store is not None else max(total, 1)
    for start in range(0, total, step):
        chunk = todo[start : start + step]

        def chunk_progress(done: int, _total: int, offset: int = start) -> None:
            report(offset + done)

        block = _validated(
            enc.encode([unique_texts[j] for j in chunk], batch_size=batch_size, progress=chunk_progress),
            len(chunk),
            enc,
        )
        report(start + len(chunk))  # also for encoders that call no progress of their own
        blocks[start] = block
        if store is not None:
            try:
                store.add([keys[j] for j in chunk], block)
                wrote = True
            except OSError as exc:
                log.warning("could not write the embedding cache under %s (%s); continuing without it", store.root, exc)
                store = None
    if store is not None and wrote:
        try:
            store.compact()
        except OSError as exc:  # pragma: no cover - read-only or full disk
            log.warning("could not merge embedding cache shards under %s: %s", store.root, exc)

    dims = {b.shape[1] for b in blocks.values()} | {v.shape[0] for v in found.values()}
    if len(dims) > 1:
        raise RouterlabError(
            f"Cached and new rows of {enc.name!r} have different widths {sorted(dims)}; the encoder's output changed "
            f"without a change of name. Delete {store_dir(enc.name)} or give the encoder a new name."
        )
    dim = dims.pop() if dims else (enc.dim or 0)
    unique = np.empty((len(keys), dim), dtype=np.float32)
    for j, k in enumerate(keys):
        if k in found:
            unique[j] = found[k]
    for start, block in blocks.items():
        unique[todo[start : start + len(block)]] = block
    return unique[inverse]
