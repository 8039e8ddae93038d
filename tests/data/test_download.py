"""The download path, against a real HTTP server on loopback serving a benchmark's public layout."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from routerlab.data import DATASETS, load
from routerlab.data.registry import download_dataset
from routerlab.errors import DataNotFoundError
from tests.conftest import SHARED_DATA

NAME = "routerbench-0shot-subset"


@pytest.fixture
def server() -> Iterator[str]:
    folder = SHARED_DATA / NAME
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_fetches_every_file_byte_for_byte(server: str, tmp_path: Path) -> None:
    spec = dataclasses.replace(DATASETS.get(NAME), base_url=server)
    dest = download_dataset(spec, tmp_path / NAME)
    for rel in spec.files:
        assert (dest / rel).read_bytes() == (SHARED_DATA / NAME / rel).read_bytes()
    assert not list(dest.rglob(".tmp-*"))  # no temporary file left (routerlab._files)
    a = load(NAME, dest)
    b = load(NAME, SHARED_DATA / NAME)
    assert (a.query_ids == b.query_ids).all()


def test_download_is_resumable_and_skips_present_files(server: str, tmp_path: Path) -> None:
    spec = dataclasses.replace(DATASETS.get(NAME), base_url=server)
    dest = tmp_path / NAME
    dest.mkdir()
    marker = dest / spec.files[0]
    marker.write_text("already here")  # a finished file from an earlier run is not fetched again
    download_dataset(spec, dest)
    assert marker.read_text() == "already here"
    assert (dest / spec.files[1]).read_bytes() == (SHARED_DATA / NAME / spec.files[1]).read_bytes()


def test_missing_remote_file_is_an_http_error_and_leaves_no_partial(server: str, tmp_path: Path) -> None:
    spec = dataclasses.replace(DATASETS.get(NAME), base_url=server, files=("no_such_file.csv",))
    with pytest.raises(Exception, match="404"):
        download_dataset(spec, tmp_path / "x")
    assert not (tmp_path / "x" / "no_such_file.csv").exists()


def test_no_local_files_and_no_download_names_every_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTERLAB_DATA_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="download=True") as err:
        load(NAME)
    assert "ROUTERLAB_DATA_DIR" in str(err.value) and "path=" in str(err.value)
