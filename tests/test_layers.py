"""The package's layering ([tool.importlinter] in pyproject.toml) holds, as CI's `lint-imports` step checks it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import routerlab
from routerlab._version import __version__

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    if importlib.util.find_spec("importlinter") is None:
        pytest.skip("import-linter is not installed: pip install -e '.[dev]'")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is installed but its lint-imports command is not on PATH")
    return exe


def test_import_contracts_hold() -> None:
    proc = subprocess.run(
        [_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert __version__ == project["version"] == routerlab.__version__
