"""Per-source and per-category figures of the ceiling and artifact checks equal a direct per-group computation."""

from __future__ import annotations

import dataclasses

import numpy as np

from routerlab.audit.checks import artifacts, oracle_ceiling
from routerlab.data.synthetic import make_synthetic


def _data() -> object:
    data = make_synthetic(2000, n_models=6, dim=8, n_clusters=11, seed=7, missing_rate=0.2).data
    # group names whose sorted order differs from their order of appearance, one group never answered
    cats = np.array([f"c{(int(c[-3:]) * 7) % 11}" for c in data.categories], dtype=object)
    y = data.Y.copy()
    y[cats == "c3"] = np.nan
    truncated = np.random.default_rng(7).random(y.shape) < 0.1  # so that the artifacts check applies
    return dataclasses.replace(data, categories=cats, Y=y, truncated=truncated)


def _reference(data: object, keys: np.ndarray) -> dict[str, dict[str, float]]:
    obs = ~np.isnan(data.Y)
    rows = obs.any(axis=1)
    best = np.where(obs, data.Y, -np.inf).max(axis=1)
    out = {}
    for g in sorted(set(keys.tolist())):
        r = rows & (keys == g)
        if r.any():
            out[g] = {"n": int(r.sum()), "ceiling": round(float((best[r] >= 1.0).mean()), 4)}
    return out


def test_oracle_ceiling_groups_match_a_direct_computation() -> None:
    data = _data()
    (finding,) = [f for f in oracle_ceiling(data) if "per_source" in f.numbers]
    for field, keys in (("per_source", data.sources), ("per_category", data.categories)):
        got = {g: {"n": v["n"], "ceiling": v["ceiling"]} for g, v in finding.numbers[field].items()}
        assert got == _reference(data, keys)
    assert "c3" not in finding.numbers["per_category"]


def test_artifact_groups_count_the_answered_queries_of_each_source() -> None:
    data = _data()
    numbers = next(f.numbers for f in artifacts(data) if "per_source" in f.numbers)
    want = {g: v["n"] for g, v in _reference(data, data.sources).items()}
    assert {g: v["n"] for g, v in numbers["per_source"].items()} == want
