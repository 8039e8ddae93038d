"""Saved routers (routerlab.routers.persist): every registered router round-trips through a fresh process.

Each router is fitted on :func:`make_routing_problem` (random query features where it needs them),
saved with :func:`save_router`, and loaded back in a *new* Python process, which writes its scores
and routing choices to a file; they must equal the original router's bit for bit. The rest checks the
promises of the format: a wrong encoder or pool, a tampered or future-version folder, an unknown
router name and a missing file are clear routerlab errors, and loading never unpickles.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import routerlab
from routerlab.errors import DataNotFoundError, NotFittedError, PrerequisiteError, SchemaError, UnknownNameError
from routerlab.routers import ROUTERS, load_router, make_router, persist, save_router
from routerlab.routers.baselines import BestSingle
from routerlab.routers.persist import fingerprint, read_manifest
from tests.conftest import make_routing_problem

REPO = Path(__file__).resolve().parents[2]
ENCODER = "hashing:v1:dim=8"
PROBLEM: dict[str, Any] = {"n_queries": 150, "n_models": 4, "seed": 3, "missing": 0.1}
N_FEATURES = 8
#: fewer epochs than the defaults keep the torch fits short; the saved format does not depend on it
FAST: dict[str, dict[str, Any]] = {name: {"epochs": 4} for name in ("mlp", "mf", "contrastive", "irt")}
FAST["rf"] = {"n_estimators": 20}
#: the probes read N_FEATURES columns as n_layers stacked layers (a bare matrix cannot say how many)
FAST.update(
    {"probe_final": {"n_layers": 2}, "probe_mean": {"n_layers": 2}, "probe_dirichlet": {"n_layers": 2, "epochs": 4}}
)

#: run in a fresh interpreter: load every saved router and write its scores and choices to an npz
LOADER = """
import json, sys, traceback
import numpy as np
from routerlab import load_router
from tests.conftest import make_routing_problem

spec = json.loads(open(sys.argv[1]).read())
test = make_routing_problem(**spec["problem"]).split("test")
X = np.load(spec["features"], allow_pickle=False)
out, errors = {}, {}
for name, folder in spec["folders"].items():
    try:
        router = load_router(folder, encoder=spec["encoder"], models=test.model_names)
        feats = X if router.requires_features else None
        out[name + ".class"] = np.array(type(router).__name__)
        out[name + ".scores"] = router.predict_scores(test, feats)
        out[name + ".argmax"] = router.route(test, feats)
        out[name + ".lam"] = router.route(test, feats, lam=0.5)
        out[name + ".budget"] = router.route(test, feats, budget=spec["budget"])
    except Exception:
        errors[name] = traceback.format_exc()
np.savez(spec["out"], **out)
open(spec["errors"], "w").write(json.dumps(errors))
"""


def _problem() -> tuple[Any, Any, np.ndarray, np.ndarray]:
    data = make_routing_problem(**PROBLEM)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(data.n_queries, N_FEATURES))
    train_rows, test_rows = data.splits == "train", data.splits == "test"
    return data.subset(train_rows), data.subset(test_rows), X[train_rows], X[test_rows]


def _outputs(router: Any, test: Any, X: np.ndarray | None, budget: float) -> dict[str, np.ndarray]:
    return {
        "scores": router.predict_scores(test, X),
        "argmax": router.route(test, X),
        "lam": router.route(test, X, lam=0.5),
        "budget": router.route(test, X, budget=budget),
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every registered router fitted, saved, and loaded back in one fresh process."""
    root = tmp_path_factory.mktemp("saved-routers")
    train, test, X_train, X_test = _problem()
    budget = float(np.median(train.mean_cost()))
    folders, expected, skipped, fitted = {}, {}, {}, {}
    for name in ROUTERS.names():
        try:
            router = make_router(name, **FAST.get(name, {}))  # raises PrerequisiteError without torch
            router.fit(train, X_train if router.requires_features else None)
            folder = save_router(router, root / name, encoder=ENCODER)
        except PrerequisiteError as exc:  # torch (or skops) not installed: skip with the install line
            skipped[name] = str(exc)
            continue
        folders[name] = str(folder)
        fitted[name] = router
        expected[name] = _outputs(router, test, X_test if router.requires_features else None, budget)
    np.save(root / "X_test.npy", X_test)
    spec = {
        "problem": PROBLEM,
        "features": str(root / "X_test.npy"),
        "folders": folders,
        "encoder": ENCODER,
        "budget": budget,
        "out": str(root / "loaded.npz"),
        "errors": str(root / "errors.json"),
    }
    (root / "spec.json").write_text(json.dumps(spec))
    run = subprocess.run(
        [sys.executable, "-c", LOADER, str(root / "spec.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    with np.load(root / "loaded.npz", allow_pickle=False) as npz:
        loaded = {k: npz[k] for k in npz.files}
    errors = json.loads((root / "errors.json").read_text())
    return {
        "folders": folders,
        "expected": expected,
        "loaded": loaded,
        "errors": errors,
        "skipped": skipped,
        "fitted": fitted,
        "train": train,
        "test": test,
        "X_test": X_test,
    }


@pytest.mark.parametrize("name", ROUTERS.names())
def test_round_trip_in_a_fresh_process(saved: dict[str, Any], name: str) -> None:
    if name in saved["skipped"]:
        pytest.skip(f"{name}: optional dependency missing: {saved['skipped'][name]}")
    assert name not in saved["errors"], saved["errors"].get(name)
    loaded = saved["loaded"]
    assert str(loaded[f"{name}.class"]) == type(saved["fitted"][name]).__name__
    for key, value in saved["expected"][name].items():
        got = loaded[f"{name}.{key}"]
        assert got.dtype == value.dtype and got.shape == value.shape, key
        assert got.tobytes() == value.tobytes(), f"{name}: {key} differs after loading in a fresh process"


def _saved_folder(saved: dict[str, Any], name: str = "knn") -> Path:
    return Path(saved["folders"][name])


def _copy(saved: dict[str, Any], tmp_path: Path, name: str = "knn") -> Path:
    src = _saved_folder(saved, name)
    dst = tmp_path / name
    dst.mkdir()
    for file in src.iterdir():
        (dst / file.name).write_bytes(file.read_bytes())
    return dst


def _edit_manifest(folder: Path, **changes: Any) -> None:
    manifest = json.loads((folder / "router.json").read_text())
    manifest.update(changes)
    (folder / "router.json").write_text(json.dumps(manifest))


def test_manifest_says_what_was_saved(saved: dict[str, Any]) -> None:
    folder = _saved_folder(saved)
    router = saved["fitted"]["knn"]
    manifest = read_manifest(folder)
    assert manifest["schema_version"] == persist.SCHEMA_VERSION == 1
    assert manifest["router"] == "knn"
    assert manifest["params"] == {"k": 10, "weights": "uniform"}
    assert manifest["routerlab_version"] == routerlab.__version__
    assert manifest["encoder"] == ENCODER
    assert manifest["models"] == list(saved["train"].model_names)
    assert manifest["cost_scale"] == {"lo": router.cost_scale_.lo, "hi": router.cost_scale_.hi}
    assert manifest["train_fingerprint"] == fingerprint(saved["train"]) == router.train_fingerprint_
    emb = manifest["attributes"]["train_embeddings_"]
    assert emb["type"] == "ndarray" and emb["shape"] == list(router.train_embeddings_.shape)
    assert manifest["attributes"]["model_names_"] == {"type": "tuple", "items": manifest["models"]}
    # the arrays are plain .npy entries: numpy reads them without pickle
    with np.load(folder / "state.npz", allow_pickle=False) as npz:
        assert np.array_equal(npz["train_embeddings_"], router.train_embeddings_)
    # one line per fitted attribute: a diff of two saved routers shows which attributes changed
    text = (folder / "router.json").read_text()
    assert sum(line.startswith('  "train_') for line in text.splitlines()) == 4


def test_public_entry_points(saved: dict[str, Any]) -> None:
    assert routerlab.load_router is not None and "load_router" in routerlab.__all__
    router = routerlab.load_router(_saved_folder(saved, "best_single"))
    assert isinstance(router, BestSingle) and router.best_model_ == saved["fitted"]["best_single"].best_model_


def test_another_encoder_is_refused_naming_both(saved: dict[str, Any]) -> None:
    with pytest.raises(SchemaError) as err:
        load_router(_saved_folder(saved), encoder="minilm:all-MiniLM-L6-v2")
    message = str(err.value)
    assert f"router saved with encoder '{ENCODER}'" in message
    assert "cannot predict with features from 'minilm:all-MiniLM-L6-v2'" in message


def test_encoder_given_for_a_router_saved_without_one_is_refused(tmp_path: Path) -> None:
    train, _, _, _ = _problem()
    folder = save_router(BestSingle().fit(train), tmp_path / "bs")
    assert read_manifest(folder)["encoder"] is None
    assert isinstance(load_router(folder), BestSingle)
    with pytest.raises(SchemaError, match="saved without an encoder spec cannot confirm features from 'hashing"):
        load_router(folder, encoder=ENCODER)


def test_another_pool_is_refused_naming_both(saved: dict[str, Any]) -> None:
    folder = _saved_folder(saved)
    with pytest.raises(SchemaError) as err:
        load_router(folder, models=["m0", "m1", "gpt-4o"])
    message = str(err.value)
    assert "router saved with models ['m0', 'm1', 'm2', 'm3']" in message and "['m0', 'm1', 'gpt-4o']" in message
    with pytest.raises(SchemaError, match=r"select_models\(\['m0', 'm1', 'm2', 'm3'\]\)"):
        load_router(folder, models=["m3", "m2", "m1", "m0"])


def test_object_array_in_the_npz_is_refused(saved: dict[str, Any], tmp_path: Path) -> None:
    folder = _copy(saved, tmp_path)
    with np.load(folder / "state.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    evil = np.empty(1, dtype=object)
    evil[0] = {"anything": "a pickle could run code here"}
    arrays["model_mean_"] = evil
    np.savez(folder / "state.npz", **arrays)  # pickles the object array
    # a tamperer who also fixes the checksum still meets the object-array refusal
    manifest = json.loads((folder / "router.json").read_text())
    manifest["state"]["sha256"] = hashlib.sha256((folder / "state.npz").read_bytes()).hexdigest()
    (folder / "router.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaError, match=r"'model_mean_' is an object array.*refuses to load it"):
        load_router(folder)


def test_changed_npz_fails_the_checksum(saved: dict[str, Any], tmp_path: Path) -> None:
    folder = _copy(saved, tmp_path)
    with np.load(folder / "state.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["model_mean_"] = arrays["model_mean_"] + 1.0
    np.savez(folder / "state.npz", **arrays)
    with pytest.raises(SchemaError, match="does not match its manifest"):
        load_router(folder)


def test_array_differing_from_its_description_is_refused(saved: dict[str, Any], tmp_path: Path) -> None:
    folder = _copy(saved, tmp_path)
    manifest = json.loads((folder / "router.json").read_text())
    manifest["attributes"]["model_mean_"]["shape"] = [99]
    (folder / "router.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaError, match="'model_mean_' has dtype <f8 and shape \\[4\\], the manifest says"):
        load_router(folder)


def test_manifest_summary_must_match_the_state(saved: dict[str, Any], tmp_path: Path) -> None:
    folder = _copy(saved, tmp_path)
    _edit_manifest(folder, models=["m0", "m1", "m2", "x"])
    with pytest.raises(SchemaError, match="differs from the saved model_names_"):
        load_router(folder)


def test_future_schema_version_is_refused(saved: dict[str, Any], tmp_path: Path) -> None:
    folder = _copy(saved, tmp_path)
    _edit_manifest(folder, schema_version=persist.SCHEMA_VERSION + 1, routerlab_version="9.0.0")
    with pytest.raises(SchemaError, match=r"schema_version 2, written by routerlab '9\.0\.0'.*Upgrade routerlab"):
        load_router(folder)


def test_unknown_node_type_is_refused(saved: dict[str, Any], tmp_path: Path) -> None:
    folder = _copy(saved, tmp_path)
    manifest = json.loads((folder / "router.json").read_text())
    manifest["attributes"]["k_"] = {"type": "pickle", "data": "gASV..."}
    (folder / "router.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaError, match="k_: unknown value type 'pickle'"):
        load_router(folder)


def test_unknown_router_name_gets_did_you_mean(saved: dict[str, Any], tmp_path: Path) -> None:
    folder = _copy(saved, tmp_path)
    _edit_manifest(folder, router="knnn")
    with pytest.raises(UnknownNameError, match=r"Unknown router 'knnn'\. Did you mean 'knn'"):
        load_router(folder)


def test_missing_files_are_clear_errors(saved: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="folder does not exist"):
        load_router(tmp_path / "nowhere")
    folder = _copy(saved, tmp_path)
    (folder / "state.npz").unlink()
    with pytest.raises(DataNotFoundError, match=r"state\.npz is missing"):
        load_router(folder)
    (folder / "router.json").unlink()
    with pytest.raises(DataNotFoundError, match=r"router\.json is missing"):
        load_router(folder)


def test_not_json_or_not_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "router.json").write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_router(tmp_path)
    (tmp_path / "router.json").write_text('{"schema_version": 1}')
    with pytest.raises(SchemaError, match="not a routerlab router manifest"):
        load_router(tmp_path)


def test_loading_never_unpickles(saved: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle was used while loading a router")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    for name, folder in saved["folders"].items():
        router = load_router(folder, encoder=ENCODER)
        feats = saved["X_test"] if router.requires_features else None
        expected = saved["expected"][name]["scores"]
        assert np.array_equal(router.predict_scores(saved["test"], feats), expected), name


def test_sklearn_types_outside_the_allow_list_are_refused(
    saved: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    if "rf" not in saved["folders"]:
        pytest.skip(f"rf was not saved: {saved['skipped'].get('rf')}")
    monkeypatch.setattr(persist, "SKOPS_TRUSTED_TYPES", frozenset())
    with pytest.raises(SchemaError, match=r"does not trust to load: \['sklearn.tree._tree.Tree'\]"):
        load_router(_saved_folder(saved, "rf"))


def test_generic_state_round_trips_with_its_types(tmp_path: Path) -> None:
    train, test, _, _ = _problem()
    router = BestSingle(budget=2.5).fit(train)
    extra_in: dict[str, Any] = {
        "tuple": (1, 2.5, float("nan"), float("-inf")),
        "list": [np.float32(1.5), np.int64(3), np.bool_(True), None, "text"],
        "array": np.arange(6, dtype=np.int32).reshape(2, 3),
        "strings": np.array(["a", "bc"]),
        "empty": np.zeros((0, 3)),
    }
    router.extra_ = extra_in  # type: ignore[attr-defined]
    loaded = load_router(save_router(router, tmp_path / "bs"))
    extra = loaded.extra_  # type: ignore[attr-defined]
    assert isinstance(extra["tuple"], tuple) and extra["tuple"][:2] == (1, 2.5)
    assert np.isnan(extra["tuple"][2]) and extra["tuple"][3] == float("-inf")
    assert [type(v) for v in extra["list"]] == [np.float32, np.int64, np.bool_, type(None), str]
    assert extra["list"][0] == np.float32(1.5)
    assert extra["array"].dtype == np.int32 and np.array_equal(extra["array"], extra_in["array"])
    assert extra["strings"].tolist() == ["a", "bc"] and extra["empty"].shape == (0, 3)
    assert loaded.get_params() == {"budget": 2.5}
    assert loaded.model_names_ == router.model_names_ and loaded.cost_scale_ == router.cost_scale_
    assert np.array_equal(loaded.predict_scores(test), router.predict_scores(test))


def test_unsupported_state_is_a_save_error(tmp_path: Path) -> None:
    train, _, _, _ = _problem()
    router = BestSingle().fit(train)
    router.weird_ = {1, 2}  # type: ignore[attr-defined]
    with pytest.raises(SchemaError, match=r"fitted attribute weird_ is a builtins\.set"):
        save_router(router, tmp_path / "x")
    router.weird_ = np.array([object()], dtype=object)  # type: ignore[attr-defined]
    with pytest.raises(SchemaError, match="weird_ is an object array"):
        save_router(router, tmp_path / "x")
    assert not (tmp_path / "x" / "router.json").exists()


def test_unfitted_router_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        save_router(BestSingle(), tmp_path / "x")


def test_saving_again_replaces_the_folder_contents(tmp_path: Path) -> None:
    train, _, _, _ = _problem()
    folder = save_router(BestSingle().fit(train), tmp_path / "bs")
    save_router(BestSingle(budget=1.0).fit(train), folder)
    assert load_router(folder).get_params() == {"budget": 1.0}
    assert sorted(p.name for p in folder.iterdir()) == ["router.json", "state.npz"]


def test_fingerprint_tracks_the_training_data() -> None:
    train, _, _, _ = _problem()
    first = fingerprint(train)
    assert first == fingerprint(train) and first.startswith("sha256:") and len(first) == 7 + 64
    Y = train.Y.copy()
    Y[0, 0] = 1.0 - np.nan_to_num(Y[0, 0])
    assert fingerprint(dataclasses.replace(train, Y=Y)) != first
    assert fingerprint(train.subset(np.arange(1, train.n_queries))) != first
    assert BestSingle().fit(train).train_fingerprint_ == first


def test_missing_skops_names_the_extra(saved: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if "rf" not in saved["fitted"]:
        pytest.skip(f"rf was not fitted: {saved['skipped'].get('rf')}")
    monkeypatch.setitem(sys.modules, "skops", None)  # import skops now raises ImportError
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(PrerequisiteError, match=r"pip install 'routerlab\[persist\]'"):
        save_router(saved["fitted"]["rf"], tmp_path / "rf")
    with pytest.raises(PrerequisiteError, match=r"pip install 'routerlab\[persist\]'"):
        load_router(_saved_folder(saved, "rf"))


def test_read_only_attribute_is_refused(saved: dict[str, Any], tmp_path: Path) -> None:
    if "irt" not in saved["folders"]:
        pytest.skip(f"irt was not saved: {saved['skipped'].get('irt')}")
    folder = _copy(saved, tmp_path, "irt")
    manifest = json.loads((folder / "router.json").read_text())
    manifest["attributes"]["ability_"] = 1.0  # a property of IRTRouter, computed from net_
    (folder / "router.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaError, match="ability_ is not a settable attribute of IRTRouter"):
        load_router(folder)
