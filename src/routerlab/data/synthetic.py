"""A generated routing benchmark of any size, with the structure of a real one: for scaling tests.

:func:`make_synthetic` builds a :class:`~routerlab.data.schema.RoutingData` of ``n_queries`` ×
``n_models`` (default 30) with binary outcomes, token counts, USD costs and latencies, and the 384-d
unit query vectors a sentence encoder would give (float32, as :func:`routerlab.data.features.encode`
returns them). :func:`write_synthetic` writes both to a folder (``data.parquet`` +
``embeddings.npy``) so that ``routerlab data show``, ``audit`` and ``evaluate --features`` read them
as a user's files.

Structure (so that routing has signal and the audit has something to find)
--------------------------------------------------------------------------
* **Topics**: ``n_clusters`` random unit centres in ``dim`` dimensions; cluster sizes follow a
  Dirichlet draw (a few big topics, a long tail). A query's vector is its centre plus isotropic
  noise, re-normalised (cosine to its centre about 0.7, to another centre about 0). ``sources`` are
  8 domains (a cluster's domain is ``cluster % 8``), ``categories`` the clusters.
* **Skill**: model ``m`` answers query ``q`` of cluster ``c`` correctly with probability
  ``sigmoid(ability[m] + skill[c, m] + (v_q · w_m)·√dim·0.5 − difficulty[q])``: a general ability
  rising with price, a per-topic specialism, a smooth direction in embedding space (so
  neighbours inside a topic differ too) and a per-query difficulty shared by all models.
* **Prices** (USD per 1M tokens): log-uniform input prices from $0.05 to $15, output 2–5× input,
  in :class:`~routerlab.data.schema.ModelInfo`. ``tokens_in`` is the prompt length (log-normal,
  median 250) times a per-model tokenizer factor (0.9–1.15); ``tokens_out`` is log-normal per
  model (median 80–600: verbosity). ``cost = tokens_in·IN/1e6 + tokens_out·OUT/1e6``.
  ``latency_s = ttft[m] + tokens_out / speed[m]`` with log-normal noise (σ 0.25).
* **Missing cells**: each cell is missing with probability ``missing_rate`` (Y, cost, tokens and
  latency all NaN), as when a model was not run on a query.
* **Duplicates**: a ``duplicate_rate`` share of queries repeat an earlier query's text and vector
  (same cluster, outcomes drawn anew, so some labels conflict, as re-runs do); they may fall in
  another split (train/test leakage for the audit to find).
* **Splits**: train/val/test drawn per query with probabilities ``split_fractions``.

Rows are generated in fixed blocks of :data:`BLOCK_ROWS` from one seed (:func:`routerlab._random.rng`),
so the same ``(n_queries, seed, …)`` reproduces bit for bit and temporaries stay bounded at any size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from routerlab._arrays import l2_normalise
from routerlab._random import rng
from routerlab.data.io import write_parquet
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import SchemaError

#: rows generated at a time (bounds the float64 temporaries: 65,536 × 384 × 8 B = 192 MiB)
BLOCK_ROWS = 1 << 16
#: the domains (``sources``) clusters are grouped into
N_DOMAINS = 8
_FAMILIES = ("atlas", "boreal", "cirrus", "delta", "ember", "fjord", "gale", "haze", "ion", "jade")
_SIZES_B = (1.5, 8.0, 70.0)


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticRouting:
    """A generated dataset: ``data``, its query vectors (float32, unit rows) and each query's cluster."""

    data: RoutingData
    embeddings: np.ndarray
    clusters: np.ndarray


def _check(
    n_queries: int, n_models: int, dim: int, n_clusters: int, missing_rate: float, duplicate_rate: float
) -> None:
    for name, value, low in (("n_queries", n_queries, 1), ("n_models", n_models, 1), ("dim", dim, 2)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise SchemaError(f"{name} must be an int >= {low}. Got {value!r}.")
    if not isinstance(n_clusters, (int, np.integer)) or not 1 <= n_clusters:
        raise SchemaError(f"n_clusters must be an int >= 1. Got {n_clusters!r}.")
    for name, rate in (("missing_rate", missing_rate), ("duplicate_rate", duplicate_rate)):
        if not 0 <= rate < 1:
            raise SchemaError(f"{name} must be in [0, 1), e.g. 0.02. Got {rate!r}.")


def _models(n_models: int, gen: np.random.Generator) -> tuple[tuple[ModelInfo, ...], np.ndarray]:
    """The pool, cheapest first, and each model's general ability (rising with price, with scatter)."""
    log_in = np.sort(gen.uniform(np.log(0.05), np.log(15.0), n_models))
    price_in = np.round(np.exp(log_in), 4)
    price_out = np.round(price_in * gen.uniform(2.0, 5.0, n_models), 4)
    ability = (log_in - log_in.mean()) * 0.45 + gen.normal(0.0, 0.35, n_models)
    models = []
    for m in range(n_models):
        family = _FAMILIES[m % len(_FAMILIES)]
        size = _SIZES_B[min(len(_SIZES_B) - 1, m * len(_SIZES_B) // n_models)]
        models.append(
            ModelInfo(
                name=f"{family}-{size:g}b-r{m}",
                family=family,
                params_b=size,
                input_price=float(price_in[m]),
                output_price=float(price_out[m]),
            )
        )
    return tuple(models), ability


def make_synthetic(
    n_queries: int,
    *,
    n_models: int = 30,
    dim: int = 384,
    n_clusters: int = 64,
    missing_rate: float = 0.02,
    duplicate_rate: float = 0.01,
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> SyntheticRouting:
    """Generate a routing dataset of ``n_queries`` × ``n_models`` with vectors (see the module docstring)."""
    _check(n_queries, n_models, dim, n_clusters, missing_rate, duplicate_rate)
    fractions = np.asarray(split_fractions, dtype=np.float64)
    if fractions.shape != (3,) or (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise SchemaError(
            f"split_fractions must be three shares (train, val, test) summing to 1. Got {split_fractions!r}."
        )
    gen = rng(seed)
    models, ability = _models(n_models, gen)
    centres = l2_normalise(gen.standard_normal((n_clusters, dim)))
    skill = gen.normal(0.0, 0.9, (n_clusters, n_models))
    directions = l2_normalise(gen.standard_normal((n_models, dim)))
    tokenizer = gen.uniform(0.9, 1.15, n_models)
    verbosity = np.exp(gen.uniform(np.log(80.0), np.log(600.0), n_models))
    ttft = gen.uniform(0.15, 1.2, n_models)
    speed = gen.uniform(30.0, 180.0, n_models)  # output tokens per second
    weights = gen.dirichlet(np.full(n_clusters, 0.8))
    prices_in = np.array([m.input_price for m in models], dtype=np.float64)
    prices_out = np.array([m.output_price for m in models], dtype=np.float64)
    shape = (n_queries, n_models)
    y, cost, t_in, t_out, latency = (np.empty(shape) for _ in range(5))
    embeddings = np.empty((n_queries, dim), dtype=np.float32)
    clusters = np.empty(n_queries, dtype=np.int64)
    # each query is an original or repeats an earlier original (its text, vector and cluster)
    source_row = np.arange(n_queries)
    is_dup = gen.random(n_queries) < duplicate_rate
    is_dup[0] = False
    dup_rows = np.flatnonzero(is_dup)
    source_row[dup_rows] = np.floor(gen.random(len(dup_rows)) * dup_rows).astype(np.int64)
    while (deeper := source_row[source_row] != source_row).any():  # a copy of a copy points at the original
        source_row[deeper] = source_row[source_row[deeper]]
    tags = gen.integers(0, 1 << 40, n_queries)
    noise_scale = 1.0 / np.sqrt(dim)
    for start in range(0, n_queries, BLOCK_ROWS):
        stop = min(n_queries, start + BLOCK_ROWS)
        n = stop - start
        c = gen.choice(n_clusters, size=n, p=weights)
        vec = centres[c] + gen.standard_normal((n, dim)) * noise_scale
        embeddings[start:stop] = l2_normalise(vec, dtype=np.float32)
        clusters[start:stop] = c
        copies = source_row[start:stop] != np.arange(start, stop)
        embeddings[start:stop][copies] = embeddings[source_row[start:stop][copies]]
        clusters[start:stop][copies] = clusters[source_row[start:stop][copies]]
        c = clusters[start:stop]
        direction = embeddings[start:stop].astype(np.float64) @ directions.T * np.sqrt(dim) * 0.5
        logit = ability + skill[c] + direction - gen.normal(0.0, 1.0, (n, 1))
        y[start:stop] = (gen.random((n, n_models)) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
        prompt = np.exp(gen.normal(np.log(250.0), 0.6, (n, 1)))
        t_in[start:stop] = np.round(prompt * tokenizer)
        t_out[start:stop] = np.maximum(1.0, np.round(verbosity * np.exp(gen.normal(0.0, 0.5, (n, n_models)))))
        cost[start:stop] = (t_in[start:stop] * prices_in + t_out[start:stop] * prices_out) / 1e6
        jitter = np.exp(gen.normal(0.0, 0.25, (n, n_models)))
        latency[start:stop] = np.round((ttft + t_out[start:stop] / speed) * jitter, 4)
        gone = gen.random((n, n_models)) < missing_rate
        for mat in (y, cost, t_in, t_out, latency):
            mat[start:stop][gone] = np.nan
    split_names = np.array(["train", "val", "test"], dtype=object)
    splits = split_names[np.searchsorted(np.cumsum(fractions)[:2], gen.random(n_queries), side="right")]
    texts = np.array(
        [f"[topic {clusters[r]}] question {tags[r]:010x}: explain case {r % 997} in detail" for r in source_row],
        dtype=object,
    )
    domain_names = np.array([f"domain-{d}" for d in range(N_DOMAINS)], dtype=object)
    cluster_names = np.array([f"topic-{c:03d}" for c in range(n_clusters)], dtype=object)
    data = RoutingData(
        name=f"synthetic-{n_queries}",
        query_ids=np.array([f"q{i:08d}" for i in range(n_queries)], dtype=object),
        sources=domain_names[clusters % N_DOMAINS],
        categories=cluster_names[clusters],
        splits=splits,
        texts=texts,
        models=models,
        Y=y,
        cost=cost,
        cost_unit="usd",
        tokens_in=t_in,
        tokens_out=t_out,
        latency_s=latency,
        meta={
            "generator": "routerlab.data.synthetic.make_synthetic",
            "seed": int(seed),
            "n_clusters": int(n_clusters),
            "dim": int(dim),
            "missing_rate": float(missing_rate),
            "duplicate_rate": float(duplicate_rate),
            "n_duplicates": int((source_row != np.arange(n_queries)).sum()),
        },
    )
    return SyntheticRouting(data, embeddings, clusters)


def write_synthetic(out_dir: str | Path, n_queries: int, *, seed: int = 0, **options: object) -> dict[str, Path]:
    """Generate with :func:`make_synthetic` and write ``data.parquet``, ``embeddings.npy`` and ``info.json``.

    ``embeddings.npy`` row ``i`` is the vector of ``data.parquet`` row ``i`` (float32, unit norm), for
    ``routerlab evaluate --features``; it can be memory-mapped (``np.load(..., mmap_mode="r")``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = make_synthetic(n_queries, seed=seed, **options)  # type: ignore[arg-type]
    paths = {"data": out / "data.parquet", "embeddings": out / "embeddings.npy", "info": out / "info.json"}
    write_parquet(made.data, paths["data"])
    np.save(paths["embeddings"], made.embeddings)
    info = {"n_queries": made.data.n_queries, "n_models": made.data.n_models, **made.data.meta}
    paths["info"].write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return paths
