"""The generated routing benchmark: shapes, reproducibility, sane prices/tokens/latency, structure, disk round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from routerlab.data import read_parquet
from routerlab.data.synthetic import make_synthetic, write_synthetic
from routerlab.errors import SchemaError


@pytest.fixture(scope="module")
def made() -> object:
    return make_synthetic(3000, n_models=12, dim=32, n_clusters=8, seed=1)


def test_shapes_dtypes_and_schema(made: object) -> None:
    data, emb = made.data, made.embeddings
    assert (data.n_queries, data.n_models) == (3000, 12)
    for name in ("Y", "cost", "tokens_in", "tokens_out", "latency_s"):
        assert getattr(data, name).shape == (3000, 12)
    assert emb.shape == (3000, 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert set(np.unique(data.Y[data.observed])) <= {0.0, 1.0}
    assert len(set(data.query_ids)) == 3000
    sizes = data.split_sizes()
    assert set(sizes) == {"train", "val", "test"} and 0.65 < sizes["train"] / 3000 < 0.75
    assert data.cost_unit == "usd" and len({m.name for m in data.models}) == 12


def test_same_seed_reproduces_and_another_differs(made: object) -> None:
    again = make_synthetic(3000, n_models=12, dim=32, n_clusters=8, seed=1)
    other = make_synthetic(3000, n_models=12, dim=32, n_clusters=8, seed=2)
    for name in ("Y", "cost", "tokens_out", "latency_s"):
        np.testing.assert_array_equal(getattr(made.data, name), getattr(again.data, name))
    np.testing.assert_array_equal(made.embeddings, again.embeddings)
    np.testing.assert_array_equal(made.data.texts, again.data.texts)
    assert not np.array_equal(made.embeddings, other.embeddings)


def test_prices_tokens_cost_latency_are_sane(made: object) -> None:
    data = made.data
    obs = data.observed
    p_in = np.array([m.input_price for m in data.models])
    p_out = np.array([m.output_price for m in data.models])
    assert (p_in >= 0.04).all() and (p_in <= 15.0).all() and (p_out >= 2 * p_in - 1e-3).all()
    t_in, t_out = data.tokens_in[obs], data.tokens_out[obs]
    assert (t_in >= 1).all() and (t_out >= 1).all()
    assert np.array_equal(t_in, np.round(t_in)) and np.array_equal(t_out, np.round(t_out))
    assert 100 < np.median(t_in) < 600
    cost = (data.tokens_in * p_in + data.tokens_out * p_out) / 1e6
    np.testing.assert_allclose(data.cost[obs], cost[obs], rtol=1e-12)
    assert (data.latency_s[obs] > 0).all() and np.median(data.latency_s[obs]) < 30
    # a missing cell is missing everywhere: outcome, cost, tokens and latency
    for name in ("cost", "tokens_in", "tokens_out", "latency_s"):
        np.testing.assert_array_equal(np.isnan(getattr(data, name)), ~obs)
    assert 0.01 < (~obs).mean() < 0.03


def test_duplicates_share_text_vector_and_topic(made: object) -> None:
    data, emb = made.data, made.embeddings
    _, first, inverse = np.unique(data.texts.astype(str), return_index=True, return_inverse=True)
    copies = np.flatnonzero(first[inverse] != np.arange(data.n_queries))
    assert len(copies) == data.meta["n_duplicates"] and 10 < len(copies) < 60  # about 1 %
    originals = first[inverse[copies]]
    np.testing.assert_array_equal(emb[copies], emb[originals])
    np.testing.assert_array_equal(data.categories[copies], data.categories[originals])


def test_routing_has_signal_per_topic(made: object) -> None:
    """The best model per topic (chosen on train) beats the best single model on test: routing can gain."""
    data = made.data
    train, test = data.splits == "train", data.splits == "test"
    y = np.where(data.observed, data.Y, 0.0)
    best_single = int(np.argmax(np.nanmean(data.Y[train], axis=0)))
    per_topic = np.array([np.nanmean(data.Y[train & (made.clusters == c)], axis=0).argmax() for c in range(8)])
    routed = y[test, per_topic[made.clusters[test]]].mean()
    single = y[test, best_single].mean()
    assert routed > single + 0.01
    # vectors carry the topic: a query is closer to its own topic's mean than to the others
    centres = np.stack([made.embeddings[made.clusters == c].mean(axis=0) for c in range(8)])
    assert ((made.embeddings @ centres.T).argmax(axis=1) == made.clusters).mean() > 0.95


def test_write_synthetic_round_trips(tmp_path: Path) -> None:
    paths = write_synthetic(tmp_path / "syn", 500, seed=3, n_models=4, dim=8, n_clusters=3)
    again = make_synthetic(500, seed=3, n_models=4, dim=8, n_clusters=3)
    data = read_parquet(paths["data"])
    np.testing.assert_array_equal(data.Y, again.data.Y)
    np.testing.assert_array_equal(data.latency_s, again.data.latency_s)
    np.testing.assert_array_equal(np.load(paths["embeddings"], mmap_mode="r"), again.embeddings)
    assert data.models == again.data.models and data.meta["seed"] == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_queries": 0}, "n_queries"),
        ({"n_queries": 10, "missing_rate": 1.0}, "missing_rate"),
        ({"n_queries": 10, "split_fractions": (0.5, 0.5, 0.5)}, "split_fractions"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(SchemaError, match=field):
        make_synthetic(**kwargs)  # type: ignore[arg-type]
