"""FeatureRouter: the encoder inside the estimator, saved with it and checked when features come in (issue 12 §2-3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import routerlab
from routerlab.data import load
from routerlab.data.features.value import Features, featurize
from routerlab.errors import SchemaError
from routerlab.routers import make_router
from routerlab.routers.persist import read_manifest
from routerlab.routers.pipeline import FeatureRouter

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fitted() -> tuple[FeatureRouter, object]:
    data = load("routerlab-mini")
    router = FeatureRouter(encoder="hashing", router=make_router("knn", k=15)).fit(data.subset(data.splits == "train"))
    return router, data.subset(data.splits == "test")


def test_saved_in_one_process_routes_identically_in_a_fresh_one(
    fitted: tuple[FeatureRouter, object], tmp_path: Path
) -> None:
    router, test = fitted
    router.save(tmp_path / "r")
    manifest = read_manifest(tmp_path / "r")
    assert manifest["encoder"] == router.encoder_ and manifest["pipeline"]["encoder"] == "hashing"
    code = (
        "import json, sys, routerlab\n"
        "from routerlab.data import load\n"
        "d = load('routerlab-mini'); t = d.subset(d.splits == 'test')\n"
        "r = routerlab.load_router(sys.argv[1])\n"
        "dec = r.decide(t)\n"
        "print(json.dumps({'cls': type(r).__name__, 'encoder': dec.encoder, 'scores': dec.scores.tolist(),"
        " 'lam0': dec.choose(lam=0).tolist(), 'lam5': dec.choose(lam=0.5).tolist()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    mine = router.decide(test)  # type: ignore[arg-type]
    assert got["cls"] == "FeatureRouter" and got["encoder"] == router.encoder_
    assert np.array_equal(np.array(got["scores"]), mine.scores)
    assert got["lam0"] == mine.choose(lam=0).tolist() and got["lam5"] == mine.choose(lam=0.5).tolist()


def test_a_loaded_router_refuses_features_of_another_encoder(
    fitted: tuple[FeatureRouter, object], tmp_path: Path
) -> None:
    router, test = fitted
    router.save(tmp_path / "r")
    loaded = routerlab.load_router(tmp_path / "r")
    other = featurize(test, "static64")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match=r"expects features from encoder 'hashing:.*' but was given .*'static64:"):
        loaded.predict_scores(test, other)  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match=r"saved with encoder 'hashing:.*' cannot predict with features from 'minilm"):
        routerlab.load_router(tmp_path / "r", encoder="minilm:all-MiniLM-L6-v2")
    same = featurize(test, "hashing")  # type: ignore[arg-type]
    assert isinstance(same, Features)
    assert np.array_equal(loaded.predict_scores(test, same), router.predict_scores(test))  # type: ignore[arg-type]
