"""Tiny RouterBench-format files (the six CSVs of routerbench-0shot-subset) for tests that need responses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

MODELS = ("cheap-7b", "mid-34b", "dear-gpt")
PRICES = (1e-5, 1e-4, 1e-3)
ACCURACY = (0.5, 0.7, 0.9)
FILES = (
    ("arc_challenge_train.csv", "arc-challenge"),
    ("arc_challenge_test.csv", "arc-challenge"),
    ("mbpp_train.csv", "mbpp"),
    ("mbpp_test.csv", "mbpp"),
    ("winograde_train.csv", "winogrande"),
    ("winograde_test.csv", "winogrande"),
)


def _answer(correct: bool, noisy: bool) -> str:
    # the answer text carries the outcome (the scorer can learn it) except on noisy rows
    sure = correct != noisy
    return str(["The answer is B, certainly." if sure else "Maybe C? not sure"])


def write_routerbench(folder: Path, *, n_rows: int = 40, seed: int = 0, hostile: bool = False) -> Path:
    """Write the six files with ``n_rows`` rows each; ``hostile`` puts a huge response and control characters in."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for f, (fname, task) in enumerate(FILES):
        rows = []
        for i in range(n_rows):
            row: dict[str, object] = {
                "": f * 1000 + i,
                "sample_id": f"{task}.{fname.split('_')[-1][:-4]}.{i}",
                "prompt": str([f"Question {i} of {task}: pick the right option. Topic {i % 4}."]),
                "eval_name": task,
            }
            for m, model in enumerate(MODELS):
                correct = bool(rng.random() < ACCURACY[m])
                row[model] = float(correct)
                row[f"{model}|model_response"] = _answer(correct, bool(rng.random() < 0.1))
                row[f"{model}|total_cost"] = PRICES[m] * float(rng.uniform(0.5, 1.5))
            rows.append(row)
        if hostile and f == 0:
            rows[0][f"{MODELS[0]}|model_response"] = "x" * 50_000
            rows[1][f"{MODELS[1]}|model_response"] = str(["bell\x07 and \x1b[31m escape\r\nline"])
            rows[2][f"{MODELS[2]}|model_response"] = ""
        df = pd.DataFrame(rows)
        df["oracle_model_to_route_to"] = MODELS[-1]
        df.to_csv(folder / fname, index=False)
    return folder
