"""Encoding sharded over a Ray cluster, into the same content-addressed cache as :func:`encode`.

The texts the cache lacks are cut into shards of ``shard_rows``; each shard is encoded by a Ray
task on whichever node has a free CPU (the encoder is built there, once per worker process), and
the driver adds each returned block to the encoder's :class:`~routerlab.data.features.cache.
EmbeddingStore` as it arrives. Workers never touch the cache, so nodes need no shared disk, and a
worker killed mid-shard leaves nothing behind: Ray runs the shard again (``max_retries``). Rows are
keyed by the SHA-256 of their text as in the local path, so a deterministic encoder writes the
same bytes whichever path, node or shard computed them, and a later local :func:`encode` finds
them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from routerlab._ray import require_ray
from routerlab.data.features.cache import (
    EmbeddingStore,
    _shared_encoder,
    _validated,
    encode,
    text_key,
)
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError

__all__ = ["SHARD_ROWS", "encode_on_ray"]

log = logging.getLogger(__name__)

#: texts per Ray task: large enough to amortise the task overhead, small enough to spread over the nodes
SHARD_ROWS = 512
#: times a shard is run again when the node running it dies
MAX_RETRIES = 3


def _encode_shard(encoder: str, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Encode one shard on a Ray worker (the encoder is loaded once per worker process)."""
    enc = _shared_encoder(encoder)
    return _validated(enc.encode(list(texts), batch_size=batch_size), len(texts), enc)


def encode_on_ray(
    data: RoutingData,
    encoder: str,
    *,
    shard_rows: int = SHARD_ROWS,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Like ``encode(data, encoder)``, with the texts the cache lacks encoded on the Ray cluster.

    Needs a connected Ray (``ray.init(...)``, or :func:`routerlab._ray.ray_session`). ``encoder``
    is a registered encoder name, built on the workers, which need the same routerlab (and model
    files) installed. ``progress(done, total)`` counts the texts encoded on the cluster. Returns
    what :func:`encode` returns afterwards: every row then comes from the cache.
    """
    ray = require_ray("encoding on a Ray cluster")
    if not ray.is_initialized():
        raise SchemaError("encode_on_ray() needs a connected Ray: call ray.init(address=...) first.")
    if not isinstance(encoder, str):
        raise SchemaError(f"encode_on_ray() needs an encoder name the workers can build; got {type(encoder).__name__}.")
    if shard_rows < 1:
        raise SchemaError(f"shard_rows must be >= 1 (texts per Ray task); got {shard_rows}.")
    if data.texts is None:
        return encode(data, encoder)  # encode() raises the usual message
    enc = _shared_encoder(encoder)
    if getattr(enc, "caches_itself", False):  # such an encoder keeps its own rows: encode locally
        return encode(data, encoder, batch_size=batch_size, progress=progress)
    todo = _uncached(data, enc.name, enc.dim)
    if todo:
        _encode_shards(ray, enc.name, encoder, todo, shard_rows, batch_size, progress)
    return encode(data, encoder, batch_size=batch_size)


def _uncached(data: RoutingData, store_name: str, dim: int | None) -> dict[bytes, str]:
    """The distinct texts of ``data`` that the encoder's store lacks, by key, in first-seen order."""
    texts: dict[bytes, str] = {}
    for t in data.texts if data.texts is not None else ():
        texts.setdefault(text_key(str(t)), str(t))
    found = EmbeddingStore(store_name, dim).lookup(list(texts))
    return {k: t for k, t in texts.items() if k not in found}


def _encode_shards(
    ray: Any,
    store_name: str,
    encoder: str,
    todo: dict[bytes, str],
    shard_rows: int,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Run one task per shard; the driver writes each block to the store as it arrives."""
    keys, texts = list(todo), list(todo.values())
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_encode_shard)
    pending = {task.remote(encoder, texts[s : s + shard_rows], batch_size): s for s in range(0, len(texts), shard_rows)}
    log.info("encoding %d texts with %s in %d Ray tasks", len(texts), encoder, len(pending))
    store = EmbeddingStore(store_name)
    done = 0
    if progress is not None:
        progress(0, len(texts))
    refs = list(pending)
    try:
        while refs:
            ready, refs = ray.wait(refs, num_returns=1)
            start = pending[ready[0]]
            block = np.asarray(ray.get(ready[0]))  # an encoder error is raised here, as the local path raises it
            store.add(keys[start : start + len(block)], block)
            done += len(block)
            if progress is not None:
                progress(done, len(texts))
    finally:
        for ref in refs:  # stopped early: the shards written so far stay cached, the rest is not computed
            ray.cancel(ref)
    store.compact()
