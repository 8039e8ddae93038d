"""The root-level helpers every package shares: _files, _optional, _arrays and _jsonl.canonical_json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from routerlab._arrays import l2_normalise
from routerlab._files import TMP_PREFIX, atomic_write, atomic_write_bytes
from routerlab._jsonl import canonical_json
from routerlab._optional import installed, optional_dependency, require, require_installed
from routerlab.errors import PrerequisiteError


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"new"  # the old content survives a failed write
    assert not list(tmp_path.glob(f"{TMP_PREFIX}*"))


def test_optional_dependency_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "no_such_pkg", None)  # importing it raises ImportError
    with pytest.raises(PrerequisiteError, match=r"^X needs no_such_pkg \(.*no_such_pkg.*\); pip install it$"):
        require("no_such_pkg", "X needs no_such_pkg ({exc}); pip install it")
    with pytest.raises(PrerequisiteError, match="plots need it"), optional_dependency("plots need it"):
        import no_such_pkg  # noqa: F401
    assert not installed("no_such_pkg") and installed("numpy")
    with pytest.raises(PrerequisiteError, match="Encoder 'e' needs it"):
        require_installed("no_such_pkg", "Encoder 'e' needs it")
    assert require("json", "never raised") is json


def test_l2_normalise_rows_and_zero_rows() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_array_equal(l2_normalise(x), [[0.6, 0.8], [0.0, 0.0]])
    assert l2_normalise(x, dtype=np.float32).dtype == np.float32


def test_canonical_json_is_order_free_and_strict() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'
    assert canonical_json({"a": "é"}, ascii_only=True) == '{"a":"\\u00e9"}'
    with pytest.raises(ValueError):
        canonical_json({"a": float("nan")})
