"""Parquet files in several row groups: written in groups, read back column by column, chunk by chunk, unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from routerlab.data import io
from routerlab.data.schema import OPTIONAL_MATRICES
from routerlab.data.synthetic import make_synthetic


def test_a_file_of_many_row_groups_round_trips_bit_for_bit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io, "ROW_GROUP_ROWS", 64)
    data = make_synthetic(1000, n_models=5, dim=8, n_clusters=3, seed=2, missing_rate=0.1).data
    path = io.write_parquet(data, tmp_path / "d.parquet")
    assert pq.ParquetFile(path).metadata.num_row_groups == 16  # 1000 rows / 64
    back = io.read_parquet(path)
    for name in ("Y", "cost", *OPTIONAL_MATRICES):
        want, got = getattr(data, name), getattr(back, name)
        assert (want is None) == (got is None)
        if want is not None:
            assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)
    for name in ("query_ids", "sources", "categories", "splits", "texts"):
        assert list(getattr(back, name)) == list(getattr(data, name))
    assert back.models == data.models and back.meta == data.meta
