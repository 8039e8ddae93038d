"""``path=`` / ``--path`` / ``path:`` with a dataset it cannot apply to is an error, never silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.collect.config import QuerySetConfig
from routerlab.collect.queries import load_queries
from routerlab.data import load, write_parquet
from routerlab.errors import SchemaError
from tests.conftest import make_routing_problem

SHIPPED = "routerlab-mini"


def test_path_with_a_shipped_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"'routerlab-mini' ships inside the routerlab package.*Drop path="):
        load(SHIPPED, path=tmp_path)


def test_loader_options_with_a_shipped_dataset_are_refused() -> None:
    with pytest.raises(SchemaError, match=r"routerlab-mini takes no loader options; got \['score_scale'\]"):
        load(SHIPPED, score_scale=(0, 10))


def test_path_with_a_file_name_is_refused(tmp_path: Path) -> None:
    file = write_parquet(make_routing_problem(4, 2, seed=0), tmp_path / "mine.parquet")
    with pytest.raises(SchemaError, match=r"is a file, so path=.*give the file's full path as the name"):
        load(str(file), path=tmp_path / "elsewhere")
    assert load(str(file)).n_models == 2


@pytest.mark.parametrize("command", [["data", "show", SHIPPED], ["audit", SHIPPED], ["evaluate", "-r", "random"]])
def test_cli_path_with_a_shipped_dataset_is_one_red_line(tmp_path: Path, command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--path", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "ships inside the routerlab package" in result.output and "--path" in result.output
    assert "Traceback" not in result.output


def test_collect_query_set_with_a_shipped_dataset_and_a_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="ships inside the routerlab package"):
        load_queries(QuerySetConfig(dataset=SHIPPED, path=tmp_path, limit=3))
