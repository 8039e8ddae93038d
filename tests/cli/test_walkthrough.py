"""README "Evaluate routers on your own benchmark": the walk-through, command by command, as real subprocesses.

The benchmark is real: RouterBench's 0-shot ARC-Challenge answers of four models (RouterDC's train/test split,
``../shared/data/routerbench-0shot-subset``), written as one CSV per model, as a user's own answer files
would be. Only the token counts are made up (about 4 characters a token). Every figure the CLI prints or saves
is checked against an independent computation: RouterBench's own 0/1 labels, tokens × prices, and the oracle
computed with pandas from the scored Parquet.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from routerlab.data import read_parquet
from routerlab.score import extract_letter
from tests.score.helpers import unwrap_cell

#: RouterBench's column → (the model's name, its file's stem) and its prices (USD per 1M input/output tokens).
MODELS = {
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-3.5-turbo-1106": (1.0, 2.0),
    "meta/llama-2-70b-chat": (0.9, 0.9),
    "mistralai/mistral-7b-chat": (0.2, 0.2),
}
ROUTERS = ("oracle", "best_single", "random", "knn")
#: The walk-through of README.md, in its order (run in the folder that holds answers/ and prices.yaml).
STEPS: tuple[tuple[str, ...], ...] = (
    (
        "score",
        "answers/",
        "--scorer",
        "arc-challenge=letter",
        "--response-col",
        "answer",
        "--col",
        "text=question",
        "--prices",
        "prices.yaml",
        "--workers",
        "2",
        "--out",
        "bench.parquet",
    ),
    ("data", "show", "bench.parquet"),
    (
        "evaluate",
        "-d",
        "bench.parquet",
        "--router",
        ",".join(ROUTERS),
        "--encoder",
        "hashing",
        "--val-fraction",
        "0.2",
        "--n-jobs",
        "2",
        "--out",
        "results/",
    ),
    ("audit", "bench.parquet", "--out", "results/"),
    ("report", "results/"),
)


def _name(column: str) -> str:
    return column.split("/")[-1]


def _routerbench(shared_data: Path) -> pd.DataFrame:
    """240 train and 160 test queries; gold = the letter RouterBench marked correct (queries with none dropped)."""
    folder = shared_data / "routerbench-0shot-subset"
    parts = []
    for split, n in (("train", 240), ("test", 160)):
        part = pd.read_csv(folder / f"arc_challenge_{split}.csv").head(n)
        part["split"] = split
        parts.append(part)
    df = pd.concat(parts, ignore_index=True)
    everyone = [c.split("|")[0] for c in df.columns if c.endswith("|model_response")]
    golds: list[str | None] = []
    for _, row in df.iterrows():
        votes: collections.Counter[str] = collections.Counter()
        for m in everyone:  # the letters of the answers labelled correct, over all 11 models
            text, label = row[f"{m}|model_response"], row[m]
            letter = extract_letter(unwrap_cell(text), letters="ABCDE").letter if isinstance(text, str) else None
            if label == 1 and letter:
                votes[letter] += 1
        golds.append(votes.most_common(1)[0][0] if votes else None)
    df["gold"] = golds
    return df[df["gold"].notna()].reset_index(drop=True)


def _write_benchmark(df: pd.DataFrame, where: Path) -> pd.DataFrame:
    """answers/<model>.csv (query_id, question, answer, gold, source, split, tokens) and prices.yaml.

    Returns the long frame of what was written, with RouterBench's label per (query, model).
    """
    (where / "answers").mkdir()
    written = []
    for column in MODELS:
        rows = df[df[f"{column}|model_response"].map(lambda v: isinstance(v, str)) & df[column].notna()]
        question = rows["prompt"].map(unwrap_cell)
        answer = rows[f"{column}|model_response"].map(unwrap_cell)
        table = pd.DataFrame(
            {
                "query_id": rows["sample_id"],
                "question": question,
                "answer": answer,
                "gold": rows["gold"],
                "source": rows["eval_name"],
                "split": rows["split"],
                "prompt_tokens": question.str.len() // 4 + 12,  # made up: ~4 characters a token, plus a template
                "completion_tokens": answer.str.len() // 4 + 1 + np.arange(len(rows)) % 7,  # a short reason at times
            }
        )
        table.to_csv(where / "answers" / f"{_name(column)}.csv", index=False)
        written.append(table.assign(model=_name(column), label=rows[column].to_numpy()))
    prices = "".join(f"{_name(m)}: [{inp}, {out}]\n" for m, (inp, out) in MODELS.items())
    (where / "prices.yaml").write_text(prices, encoding="utf-8")
    return pd.concat(written, ignore_index=True)


def _run(args: tuple[str, ...], cwd: Path) -> str:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "routerlab.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"routerlab {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _shown_models(text: str) -> dict[str, tuple[float, float]]:
    """Model → (mean quality, mean cost) from the table `routerlab data show` prints."""
    row = re.compile(r"^\W*(\S+)\s*│\s*([\d.]+)%\s*│\s*([\d.]+)\s*│\s*([\d.e+-]+)\s*│", re.MULTILINE)
    return {m.group(1): (float(m.group(3)), float(m.group(4))) for m in row.finditer(text)}


def test_walkthrough_scores_evaluates_audits_and_reports_a_folder_of_answer_files(
    tmp_path: Path, shared_data: Path
) -> None:
    """Every README step exits 0, and its figures match RouterBench's labels, tokens × prices and pandas."""
    long = _write_benchmark(_routerbench(shared_data), tmp_path)
    outputs = [_run(step, tmp_path) for step in STEPS]

    # score: one model per file, named by the file; outcomes agree with RouterBench's own labels
    data = read_parquet(tmp_path / "bench.parquet")
    names = [_name(m) for m in MODELS]
    assert sorted(data.model_names) == sorted(names)
    table = pd.read_parquet(tmp_path / "bench.parquet")  # the matrices as list cells, read without routerlab
    cells = table[["query_ids", "splits", "Y", "cost", "tokens_in", "tokens_out"]].explode(
        ["Y", "cost", "tokens_in", "tokens_out"]
    )
    cells["model"] = data.model_names * len(table)
    cells = cells.rename(columns={"query_ids": "query_id"}).merge(long, on=["query_id", "model"], how="inner")
    assert len(cells) == len(long)  # every written answer has its cell
    scored = cells["Y"].astype(float)
    assert scored.notna().all()
    agreement = float((scored == cells["label"]).mean())
    assert agreement >= 0.98, f"letter scorer agrees with RouterBench's labels on {agreement:.1%} of answers"

    # cost = tokens × prices (USD per 1M tokens), from the token counts written in the files
    price = cells["model"].map({_name(m): p for m, p in MODELS.items()})
    expected = cells["prompt_tokens"] * price.str[0] / 1e6 + cells["completion_tokens"] * price.str[1] / 1e6
    np.testing.assert_allclose(cells["cost"].astype(float), expected, rtol=1e-9)
    np.testing.assert_array_equal(cells["tokens_in"].astype(float), cells["prompt_tokens"])

    # data show: per-model quality and cost on the test split
    shown = _shown_models(outputs[1])
    test = cells[cells["splits"] == "test"]
    for model in names:
        mine = test[test["model"] == model]
        quality, cost = shown[model]
        assert quality == pytest.approx(mine["Y"].astype(float).mean(), abs=5e-5), model
        assert abs(quality - mine["label"].mean()) <= 0.02, model  # RouterBench's own accuracy
        assert cost == pytest.approx(mine["cost"].astype(float).mean(), rel=1e-3), model

    # evaluate: the oracle is the share of test queries that some model got right
    board = json.loads((tmp_path / "results" / "leaderboard.json").read_text(encoding="utf-8"))
    solved = test.assign(Y=test["Y"].astype(float)).groupby("query_id")["Y"].max()
    assert board["n_queries"] == len(solved)
    assert board["oracle_quality"] == pytest.approx(float((solved == 1.0).mean()), abs=1e-12)
    rows = {r["router"]: r for r in board["rows"] + board["seed_protocol"]}  # knn: its seed-protocol row
    assert set(ROUTERS) <= set(rows)
    assert "constant_tokens" not in outputs[2]  # the made-up completion counts vary, as measured ones do
    assert rows["oracle"]["quality"] == pytest.approx(board["oracle_quality"])
    best = max(names, key=lambda m: shown[m][0])
    assert rows["best_single"]["quality"] <= rows["oracle"]["quality"]
    assert rows["best_single"]["quality"] >= shown[best][0] - 0.05  # chosen on train, scored on test

    # audit and report
    assert (tmp_path / "results" / "audit.json").is_file()
    for name in ("report.html", "report.md"):
        text = (tmp_path / "results" / "report" / name).read_text(encoding="utf-8")
        assert all(router in text for router in ROUTERS), name


def test_readme_shows_exactly_the_walkthrough() -> None:
    """The README section's commands are the ones the walk-through runs, in its order."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Evaluate routers on your own benchmark", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    commands = [tuple(line.split()) for line in block.splitlines() if line.strip()]
    assert commands == [("routerlab", *step) for step in STEPS]
