"""Query features for routers: encoders, and a cache that computes them once per (text, encoder).

>>> from routerlab.data.features import encode
>>> X = encode(data, "minilm")  # (n_queries, 384) float32, unit rows, cached on disk

Encoders (:data:`ENCODERS`, built with :func:`get_encoder`): ``"minilm"`` (all-MiniLM-L6-v2),
``"static64"`` (a 64-d model2vec model, tests only), ``"hashing"`` (model-free hashed n-grams),
``"handcrafted"`` (13 surface features, unsolvability-ceiling paper §3.4) and ``"st:<path>"`` (any
local sentence-transformers model). :func:`encode` caches rows under
``cache_dir()/"embeddings"``, keyed by encoder name and text hash; see
:mod:`routerlab.data.features.cache`. :func:`token_spans` says how much of each text an encoder
reads (the rest is cut before encoding), from the tokenizer alone.
"""

from __future__ import annotations

from routerlab.data.features.cache import encode
from routerlab.data.features.encoders import (
    ENCODERS,
    Encoder,
    ReportsTruncation,
    TokenSpans,
    get_encoder,
    token_spans,
)

__all__ = ["ENCODERS", "Encoder", "ReportsTruncation", "TokenSpans", "encode", "get_encoder", "token_spans"]
