"""Small numeric helpers shared by the data, routers, metrics and audit packages."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["l2_normalise"]


def l2_normalise(x: ArrayLike, *, dtype: DTypeLike = np.float64) -> np.ndarray:
    """Rows of the matrix ``x`` scaled to unit L2 norm, as ``dtype``; an all-zero row stays zero.

    Dot products of the rows are then cosine similarities (kNN and k-means routers, duplicate
    search, diagnostics); encoders return their embeddings this way, in float32.
    """
    arr = np.asarray(x, dtype=dtype)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    out = np.zeros_like(arr)
    np.divide(arr, norms, out=out, where=norms > 0)
    return out
