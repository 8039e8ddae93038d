"""`routerlab sweep --backend ray`: on a real two-node Ray cluster (separate processes on loopback).

The same runs as the local backend give the same records (timings and timestamps aside) and a
byte-identical summary.json; a worker node killed mid-sweep costs nothing but a retry; an
interrupted Ray sweep resumes like a local one; encoding on the cluster writes the rows the local
path writes. The cluster (tests/experiments/ray_cluster.py) is started once for the module.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routerlab._optional import installed
from routerlab.errors import PrerequisiteError, RouterlabError, SchemaError
from routerlab.experiments.sweep import SweepConfig, read_records, run_sweep

needs_ray = pytest.mark.skipif(
    not installed("ray") or not sys.platform.startswith("linux"),
    reason="ray is not installed (pip install 'routerlab[distributed]'), or not Linux (the test cluster reads /proc)",
)

TIMING = ("fit_s", "predict_s", "timestamp")
SWEEP = {
    "datasets": ["routerlab-mini"],
    "routers": ["knn", "random", "kmeans"],  # scikit-learn only: no torch import in every Ray worker
    "encoders": ["hashing"],
    "seeds": [42, 7, 99],
    "top_k": 1,
    "max_configs": 4,
    "lams": [0.0, 0.5],
}


def _config(out: Path, **extra: Any) -> SweepConfig:
    return SweepConfig.build(**SWEEP, out_dir=out, **extra)


def _records(out: Path) -> list[dict[str, Any]]:
    """The run records without timings, in run-key order (backends finish runs in different orders)."""
    recs = [{k: v for k, v in r.items() if k not in TIMING} for r in read_records(out / "runs.jsonl")]
    return sorted(recs, key=lambda r: r["run_key"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sweep on the local backend, in this process."""
    out = tmp_path_factory.mktemp("local")
    run_sweep(_config(out, n_jobs=1))
    return out


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from tests.experiments.ray_cluster import LocalRayCluster

    c = LocalRayCluster().start()
    try:
        c.add_worker()
        yield c
    finally:
        c.stop()
        assert not c.pids(), "processes of the test cluster outlived it"


def _same_as_reference(out: Path, reference: Path) -> None:
    assert _records(out) == _records(reference)
    assert (out / "summary.json").read_bytes() == (reference / "summary.json").read_bytes()


def test_missing_ray_is_a_prerequisite_error_naming_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(PrerequisiteError, match=r"--backend ray needs Ray.*pip install 'routerlab\[distributed\]'"):
        run_sweep(_config(tmp_path, backend="ray"))
    assert not (tmp_path / "runs.jsonl").exists()  # refused before any work


def test_an_address_needs_the_ray_backend(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"address '10.0.0.5:6379' is a Ray cluster's; set backend: ray"):
        _config(tmp_path, address="10.0.0.5:6379")
    path = tmp_path / "sweep.yaml"
    path.write_text("datasets: [routerlab-mini]\nrouters: [knn]\nbackend: rai\n")
    with pytest.raises(SchemaError, match=r"backend"):
        SweepConfig.from_yaml(path, out_dir=tmp_path)


@needs_ray
def test_an_address_where_no_cluster_answers_fails_fast(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        RouterlabError, match=rf"No Ray cluster answers at address '127.0.0.1:{port}'.*ray start --head"
    ):
        run_sweep(_config(tmp_path, backend="ray", address=f"127.0.0.1:{port}"))


@needs_ray
def test_linux_needs_no_windows_or_osx_cluster_flag(cluster: Any) -> None:
    """The fixture's worker joined without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER; set to 0 it would forbid joining."""
    cluster.env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        with pytest.raises(RuntimeError, match=r"Multi-node Ray clusters are not supported"):
            cluster.add_worker()
    finally:
        del cluster.env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"]


@needs_ray
def test_cli_sweep_on_the_cluster_matches_the_local_backend(cluster: Any, reference: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app

    path = tmp_path / "sweep.yaml"
    path.write_text(json.dumps(SWEEP))  # JSON is YAML
    args = ["sweep", str(path), "--out", str(tmp_path / "out"), "--backend", "ray", "--address", cluster.address]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    _same_as_reference(tmp_path / "out", reference)
    ports = cluster.listening_ports()
    assert cluster.port in ports and not [p for p in ports if 10002 <= p <= 19999]


@needs_ray
def test_a_worker_node_killed_mid_sweep_changes_nothing(
    cluster: Any, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    from routerlab.experiments.sweep import backends, scheduler

    victim = cluster.add_worker()
    made: list[backends.RayBackend] = []

    def make(config: SweepConfig) -> backends.Backend:
        made.append(backends.RayBackend(config.address, 1))
        return made[0]

    monkeypatch.setattr(scheduler, "make_backend", make)
    killed: list[int] = []

    def progress(done: int, total: int, message: str) -> None:
        # kill once the victim has computed a run (so it is given work) while runs are still queued
        if killed or not made or not made[0].nodes or total - done < 3:
            return  # nothing computed yet (Ray is joined on the first run), or too little left to do
        victim_id = next(n["NodeID"] for n in ray.nodes() if n["NodeManagerPort"] == cluster.manager_port[victim.pid])
        if made[0].nodes[victim_id] >= 1:
            cluster.kill(victim)
            killed.append(done)

    run_sweep(_config(tmp_path / "out", backend="ray", address=cluster.address), progress=progress)
    assert killed, "the victim node never computed a run before the end of the sweep"
    _same_as_reference(tmp_path / "out", reference)


class _Stop(Exception):
    pass


@needs_ray
def test_an_interrupted_ray_sweep_resumes(cluster: Any, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = _config(out, backend="ray", address=cluster.address)

    def stop_after_4(done: int, total: int, message: str) -> None:
        if done >= 4:
            raise _Stop

    with pytest.raises(_Stop):
        run_sweep(config, progress=stop_after_4)
    lines = (out / "runs.jsonl").read_bytes()
    assert lines.endswith(b"\n") and len(lines.splitlines()) == 4  # whole records of finished runs only
    result = run_sweep(config)
    assert (result.n_skipped, result.n_executed) == (4, len(_records(reference)) - 4)
    _same_as_reference(out, reference)


@needs_ray
def test_encoding_on_the_cluster_writes_the_rows_of_the_local_path(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from routerlab._ray import ray_session
    from routerlab.data import load
    from routerlab.data.features import encode
    from routerlab.data.features.cache import EmbeddingStore, text_key
    from routerlab.data.features.distributed import encode_on_ray

    data = load("routerlab-mini")
    keys = list(dict.fromkeys(text_key(str(t)) for t in data.texts))
    monkeypatch.setenv("ROUTERLAB_CACHE_DIR", str(tmp_path / "local"))
    X_local = encode(data, "hashing")
    store_name = _store_name("hashing")
    local_rows = EmbeddingStore(store_name).lookup(keys)

    monkeypatch.setenv("ROUTERLAB_CACHE_DIR", str(tmp_path / "ray"))
    encode(data.subset(np.arange(200)), "hashing")  # some rows are cached already: only the rest is shipped
    shipped: list[tuple[int, int]] = []
    with ray_session(cluster.address, 1):
        X_ray = encode_on_ray(data, "hashing", shard_rows=250, progress=lambda d, t: shipped.append((d, t)))
    n_cached = len({text_key(str(t)) for t in data.texts[:200]})
    assert shipped[0] == (0, len(keys) - n_cached) and shipped[-1][0] == len(keys) - n_cached
    ray_rows = EmbeddingStore(store_name).lookup(keys)
    assert ray_rows.keys() == local_rows.keys() == set(keys)
    assert all(ray_rows[k].tobytes() == local_rows[k].tobytes() for k in keys)
    assert X_ray.tobytes() == X_local.tobytes()
    again: list[tuple[int, int]] = []
    encode(data, "hashing", progress=lambda d, t: again.append((d, t)))
    assert again == [(0, 0)]  # the local path finds every row the cluster computed


def _store_name(encoder: str) -> str:
    from routerlab.data.features import get_encoder

    return get_encoder(encoder).name


def test_encode_on_ray_needs_a_connected_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    from routerlab.data import load
    from routerlab.data.features.distributed import encode_on_ray

    with pytest.raises(PrerequisiteError, match=r"pip install 'routerlab\[distributed\]'"):
        encode_on_ray(load("routerlab-mini"), "hashing")


# Last in the module on purpose: after an in-process local Ray (bound to the machine's routable address)
# has been shut down, a later ray.init(address=<the test cluster on 127.0.0.2>) in the same process loses
# the results of its tasks (OwnerDiedError; Ray 2.60). xdist runs each worker's tests in file order.
@needs_ray
def test_without_an_address_a_new_local_ray_runs_the_sweep(cluster: Any, tmp_path: Path) -> None:
    """Even with a cluster running on this machine (the fixture's), no --address starts a Ray of n_jobs CPUs."""
    import ray

    seen: list[tuple[float, int]] = []

    def progress(done: int, total: int, message: str) -> None:
        if ray.is_initialized() and not seen:
            seen.append((ray.cluster_resources()["CPU"], len(ray.nodes())))

    small = {"routers": ["random", "best_single"], "seeds": [42, 7]}
    run_sweep(SweepConfig.build(**{**SWEEP, **small}, out_dir=tmp_path / "local", n_jobs=1))
    run_sweep(
        SweepConfig.build(**{**SWEEP, **small}, out_dir=tmp_path / "ray", backend="ray", n_jobs=1), progress=progress
    )
    assert seen == [(1.0, 1)] and not ray.is_initialized()
    _same_as_reference(tmp_path / "ray", tmp_path / "local")
