"""Query features that carry the identity of the encoder that made them.

A bare ``(n_queries, d)`` matrix cannot say which encoder produced it: two 384-d encoders give
matrices of the same shape, and a router fitted on one would silently predict from the other.
:class:`Features` keeps the encoder's identity (:attr:`Encoder.name`, which names the model and
its version) and the query ids beside the matrix, so that :class:`routerlab.routers.FeatureRouter`
can refuse features from another encoder or for other queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from routerlab.data.features.cache import _shared_encoder, encode
from routerlab.data.features.encoders import Encoder
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError


@dataclass(frozen=True, slots=True, eq=False)
class Features:
    """``matrix[i]`` encodes query ``query_ids[i]`` with the encoder named ``encoder`` (read-only)."""

    encoder: str
    query_ids: np.ndarray
    matrix: np.ndarray

    def __post_init__(self) -> None:
        ids = np.asarray(self.query_ids, dtype=object)
        matrix = np.asarray(self.matrix)
        if matrix.ndim != 2 or matrix.shape[0] != len(ids):
            raise SchemaError(
                f"Features from {self.encoder!r}: the matrix must be (n_queries={len(ids)}, d); got {matrix.shape}."
            )
        ids.setflags(write=False)
        matrix = matrix.copy() if matrix.flags.writeable else matrix
        matrix.setflags(write=False)
        object.__setattr__(self, "query_ids", ids)
        object.__setattr__(self, "matrix", matrix)

    @property
    def dim(self) -> int:
        """Width of a feature row."""
        return int(self.matrix.shape[1])

    def subset(self, rows: np.ndarray | Sequence[int] | Sequence[bool]) -> Features:
        """The features of ``rows`` (indices or a boolean mask), as :meth:`RoutingData.subset`."""
        picked = np.asarray(rows)
        return Features(self.encoder, self.query_ids[picked], self.matrix[picked])

    def for_data(self, data: RoutingData, *, encoder: str, owner: str) -> np.ndarray:
        """The matrix aligned with ``data``'s rows, after checking the encoder and the query ids.

        ``encoder`` is the identity the caller expects; ``owner`` names the caller in errors.
        """
        if self.encoder != encoder:
            raise SchemaError(
                f"{owner} expects features from encoder {encoder!r} but was given features from {self.encoder!r}; "
                f"encode the queries with the same encoder (routerlab.data.features.featurize(data, ...))."
            )
        if len(self.query_ids) != data.n_queries or not np.array_equal(self.query_ids, data.query_ids):
            raise SchemaError(
                f"{owner}: the features are for {len(self.query_ids)} other queries than the {data.n_queries} of "
                f"{data.name!r}; take features.subset(rows) with the same rows as data.subset(rows)."
            )
        return self.matrix


def featurize(
    data: RoutingData,
    encoder: str | Encoder,
    *,
    cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Features:
    """:func:`~routerlab.data.features.encode` ``data``'s texts and keep the encoder's identity with them."""
    enc = _shared_encoder(encoder) if isinstance(encoder, str) else encoder
    return Features(enc.name, data.query_ids, encode(data, enc, cache=cache, progress=progress))


def encoder_identity(encoder: str | Encoder) -> str:
    """The identity string of ``encoder`` (a registered name such as ``"hashing"``, or an :class:`Encoder`)."""
    return (_shared_encoder(encoder) if isinstance(encoder, str) else encoder).name
