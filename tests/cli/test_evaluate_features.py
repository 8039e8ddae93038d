"""`routerlab evaluate --features FILE.npy`: learned routers on precomputed vectors, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.data import read_parquet
from routerlab.data.io import read_features
from routerlab.data.synthetic import write_synthetic
from routerlab.errors import SchemaError

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_synthetic(tmp_path_factory.mktemp("syn"), 1500, seed=5, n_models=6, dim=16, n_clusters=6)


def test_evaluate_reads_the_vectors_of_a_features_file(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["evaluate", "-d", str(files["data"]), "-r", "knn,best_single", "--features", str(files["embeddings"])]
    result = runner.invoke(app, [*args, "--out", str(out), "--n-jobs", "1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    board = json.loads((out / "leaderboard.json").read_text())
    (knn,) = board["seed_protocol"]
    assert knn["status"] == "ok" and knn["encoder"].startswith("file:embeddings.npy#")
    # the routing signal of the vectors shows: kNN on them beats the best single model on test
    best_single = next(row for row in board["rows"] if row["router"] == "best_single")
    assert knn["quality"] > best_single["quality"]


def test_features_identity_follows_the_file_content(files: dict[str, Path], tmp_path: Path) -> None:
    data = read_parquet(files["data"])
    first = read_features(files["embeddings"], data)
    assert first.matrix.shape == (1500, 16) and not first.matrix.flags.writeable
    changed = np.load(files["embeddings"]).copy()
    changed[0, 0] += 0.5
    np.save(tmp_path / "embeddings.npy", changed)
    assert read_features(tmp_path / "embeddings.npy", data).encoder != first.encoder


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: np.save(p, np.zeros((1499, 16), dtype=np.float32)), "1499 rows but"),
        (lambda p: np.save(p, np.zeros(1500, dtype=np.float32)), "shape"),
        (lambda p: np.save(p, np.full((1500, 2), np.nan)), "row 0 .* NaN"),
        (lambda p: p.write_bytes(b"not numpy"), "not a readable .npy"),
    ],
)
def test_bad_features_files_are_named_errors(files: dict[str, Path], tmp_path: Path, make: object, match: str) -> None:
    path = tmp_path / "bad.npy"
    make(path)  # type: ignore[operator]
    with pytest.raises(SchemaError, match=match):
        read_features(path, read_parquet(files["data"]))


def test_features_with_another_encoder_is_refused(files: dict[str, Path]) -> None:
    args = ["evaluate", "-d", str(files["data"]), "-r", "knn", "--features", str(files["embeddings"]), "-e", "minilm"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "give one of them" in result.output
