"""A new benchmark from the CLI only: a long table with renamed columns, a price file and no val split."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app

runner = CliRunner()

MODELS = ("gpt-big", "mini", "open-7b")
PRICES = {"gpt-big": (5.0, 15.0), "mini": (0.15, 0.6), "open-7b": (0.1, 0.1)}
#: Percent-correct per model: gpt-big is best on train, so best_single is unambiguous.
LEVELS = {"gpt-big": (100, 75, 100, 50), "mini": (25, 50, 0, 100), "open-7b": (0, 25, 50, 0)}
COLUMNS = ["--query-col", "qid", "--model-col", "llm", "--score-col", "correct", "--score-scale", "100"]


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """bench.csv (qid, llm, correct in 0..100, tokens, source, split train/test, text) and prices.yaml."""
    rows = []
    for i in range(40):
        for j, m in enumerate(MODELS):
            rows.append(
                {
                    "qid": f"q{i}",
                    "llm": m,
                    "correct": LEVELS[m][(i + j) % 4],
                    "tokens_in": 50 + 7 * i + 13 * j,
                    "tokens_out": 10 + 3 * i + 29 * j,
                    "source": "ifeval" if i % 5 == 0 else ("math" if i % 2 else "code"),
                    "split": "test" if i % 3 == 0 else "train",
                    "text": f"question {i} about {'sums' if i % 2 else 'loops'}",
                }
            )
    df = pd.DataFrame(rows)
    csv = tmp_path / "bench.csv"
    df.to_csv(csv, index=False)
    prices = tmp_path / "prices.yaml"
    prices.write_text("".join(f"{m}: [{a}, {b}]\n" for m, (a, b) in PRICES.items()))
    df["q"] = df["correct"] / 100
    df["cost"] = [(r.tokens_in * PRICES[r.llm][0] + r.tokens_out * PRICES[r.llm][1]) / 1e6 for r in df.itertuples()]
    return csv, prices, df


def _run(args: list[str], code: int = 0) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output + repr(result.exception)
    assert "Traceback" not in result.output
    return result.output


def _rows(output: str) -> dict[str, list[str]]:
    out = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if cells and cells[0] in MODELS:
            out[cells[0]] = cells[1:]
    return out


@pytest.mark.parametrize("split", ["test", "all"])
def test_data_show_maps_columns_and_prices_tokens(bench: tuple[Path, Path, pd.DataFrame], split: str) -> None:
    csv, prices, df = bench
    out = _run(["data", "show", str(csv), *COLUMNS, "--prices", str(prices), "--split", split])
    part = df if split == "all" else df[df["split"] == split]
    want = part.groupby("llm")[["q", "cost"]].mean()
    rows = _rows(out)
    assert set(rows) == set(MODELS)
    for m in MODELS:
        assert float(rows[m][1]) == pytest.approx(want.loc[m, "q"], abs=5e-5)
        assert float(rows[m][2]) == pytest.approx(want.loc[m, "cost"], rel=1e-5)
    assert "cost unit 'usd'" in out


def test_evaluate_and_audit_with_sources_and_val_fraction(
    bench: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    csv, prices, df = bench
    out_dir = tmp_path / "res"
    common = [*COLUMNS, "--prices", str(prices), "--exclude-sources", "ifeval"]
    first = _run(["evaluate", "-d", str(csv), *common, "--out", str(out_dir)])
    # the default learned router needs a validation split: skipped in plain sight, with the flag that adds one
    flat = " ".join(first.split())
    assert "knn skipped" in flat and "--val-fraction 0.1" in flat
    board = json.loads((out_dir / "leaderboard.json").read_text())
    assert board["seed_protocol"] == []
    kept = df[df["source"] != "ifeval"]
    test = kept[kept["split"] == "test"]
    assert board["n_queries"] == test["qid"].nunique()
    assert board["oracle_quality"] == pytest.approx(test.groupby("qid")["q"].max().mean())
    best = kept[kept["split"] == "train"].groupby("llm")["q"].mean().idxmax()
    row = next(r for r in board["rows"] if r["router"] == "best_single")
    assert row["quality"] == pytest.approx(test[test["llm"] == best]["q"].mean())
    assert row["mean_cost"] == pytest.approx(test[test["llm"] == best]["cost"].mean())

    audit_out = _run(["audit", str(csv), *COLUMNS, "--sources", "math,code", "--out", str(tmp_path / "a")])
    assert f"{kept['qid'].nunique()} queries, 3 models" in audit_out
    assert (tmp_path / "a" / "audit.json").exists()

    learned = ["evaluate", "-d", str(csv), *COLUMNS, "-r", "knn", "-e", "hashing", "--n-jobs", "1"]
    assert "--val-fraction" in _run([*learned, "--out", str(tmp_path / "x")], code=2)
    out = _run([*learned, "--val-fraction", "0.2", "--out", str(tmp_path / "knn")])
    assert "knn (hashing)" in out


def test_bad_inputs_name_the_flag(bench: tuple[Path, Path, pd.DataFrame], tmp_path: Path) -> None:
    csv, prices, _ = bench
    out = _run(["data", "show", str(csv), "--query-col", "qid", "--model-col", "llm"], code=2)
    assert "pass --score-col correct" in out
    out = _run(["data", "show", str(csv), "--query-col", "qid", "--score-col", "correct"], code=2)
    assert "pass --model-col llm" in out
    out = _run(["data", "show", str(csv), "--model-col", "llm", "--score-col", "correct"], code=2)
    assert "pass --query-col qid" in out
    out = _run(["data", "show", str(csv), "--query-col", "qid", "--model-col", "llm", "--score-col", "correct"], 2)
    assert "--score-scale 100" in out
    out = _run(["evaluate", "-d", str(csv), *COLUMNS, "--sources", "mth"], code=2)
    assert "unknown source 'mth'" in out and "Did you mean 'math'?" in out
    out = _run(["audit", "routerlab-mini", "--score-col", "correct"], code=2)
    assert "--score-col" in out and "registered benchmark" in out
    out = _run(["data", "show", str(csv), *COLUMNS, "--split", "dev"], code=2)
    assert "train, val, test, ood or all" in out
    short = tmp_path / "short.yaml"
    short.write_text("gpt-big: [5, 15]\nmini: [0.15, 0.6]\nopen-7B: [0.1, 0.1]\n")
    out = _run(["data", "show", str(csv), *COLUMNS, "--prices", str(short)], code=2)
    assert "'open-7b' have token counts but no price" in out
    extra = tmp_path / "extra.yaml"
    extra.write_text(prices.read_text() + "gpt-huge: [9, 9]\n")
    out = _run(["data", "show", str(csv), *COLUMNS, "--prices", str(extra)])
    assert "warning:" in out and "'gpt-huge'" in out


def test_help_lists_splits_and_hash_rule() -> None:
    out = " ".join(_run(["data", "show", "--help"]).split())
    assert "train, val, test, ood or all" in out
    assert "--val-fraction" in out and "train 0.7 / val 0.1 / test 0.2" in out
    for command in ("evaluate", "audit"):
        text = _run([command, "--help"])
        for flag in ("--score-col", "--prices", "--val-fraction", "--sources", "--exclude-sources"):
            assert flag in text


def test_val_fraction_is_deterministic(bench: tuple[Path, Path, pd.DataFrame]) -> None:
    from routerlab.cli._load import _carve_val
    from routerlab.data import load

    csv, _, _ = bench
    data = load(str(csv), query_col="qid", model_col="llm", score_col="correct", score_scale=(0, 100))
    a, b = _carve_val(data, 0.25), _carve_val(data.subset(np.arange(data.n_queries)[::-1]), 0.25)
    assert (a.splits == "val").sum() > 0
    assert dict(zip(a.query_ids, a.splits, strict=True)) == dict(zip(b.query_ids, b.splits, strict=True))
    assert (a.splits[data.splits == "test"] == "test").all()


def test_text_column_is_named_from_the_cli(bench: tuple[Path, Path, pd.DataFrame], tmp_path: Path) -> None:
    """The query texts learned routers encode can sit in any column: --text-col names it; its absence says so."""
    _, prices, df = bench
    renamed = tmp_path / "renamed.csv"
    df.drop(columns=["q", "cost"]).rename(columns={"text": "question"}).to_csv(renamed, index=False)
    common = ["evaluate", "-d", str(renamed), *COLUMNS, "--prices", str(prices), "--val-fraction", "0.3"]
    common += ["-r", "best_single,knn", "--encoder", "hashing", "--n-jobs", "1", "--out"]
    out = _run([*common, str(tmp_path / "without")], code=2)
    assert "--text-col" in out
    out = _run([*common, str(tmp_path / "with"), "--text-col", "question"])
    board = json.loads((tmp_path / "with" / "leaderboard.json").read_text())
    assert {r["router"] for r in board["seed_protocol"]} == {"knn"}
