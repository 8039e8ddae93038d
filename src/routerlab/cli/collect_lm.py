"""``routerlab collect-lm``: run a small local LM over a question set and keep its outcomes and hidden states.

A thin command over :func:`routerlab.collect.local_lm.collect_lm`; register it with
``app.command("collect-lm")(collect_lm_cmd)``. Rerun the same command to resume after an
interruption: only the questions not yet collected are computed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console, err_console, progress_bar
from routerlab.errors import DataNotFoundError, SchemaError

if TYPE_CHECKING:
    from routerlab.data.loaders.mcq import QuestionSet

__all__ = ["collect_lm_cmd", "question_sample", "shard_note", "take_shard"]

DATASETS = ("mmlu", "medqa")


def _data_root(data_dir: Path | None) -> Path:
    root = data_dir or (Path(os.environ["ROUTERLAB_DATA_DIR"]) if os.environ.get("ROUTERLAB_DATA_DIR") else None)
    if root is None:
        raise DataNotFoundError(
            "collect-lm needs the folder holding routellm-evals/ and raw-evals/: pass --data-dir DIR or set "
            "ROUTERLAB_DATA_DIR."
        )
    return root


def question_sample(
    data: str, *, subjects: str, data_dir: Path | None, limit: int | None, seed: int, threads: int | None
) -> QuestionSet:
    """The seeded ``--limit`` sample of ``--data`` that ``collect-lm`` and ``collect-lm-gen`` both run on.

    Checks ``--data``/``--subjects``, sets torch's CPU threads, and prints how many RouteLLM MMLU
    prompts joined their gold answer (the rest are left out, said here rather than silently).
    """
    from routerlab.data.loaders.mcq import load_medqa_questions, load_mmlu_questions

    if data not in DATASETS:
        raise SchemaError(f"--data must be one of {', '.join(DATASETS)}. Got {data!r}.")
    if subjects and data != "mmlu":
        raise SchemaError(f"--subjects applies to --data mmlu only (got --data {data}).")
    root = _data_root(data_dir)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    wanted = [s.strip() for s in subjects.split(",") if s.strip()] or None
    if data == "mmlu":
        questions = load_mmlu_questions(root / "routellm-evals", root / "raw-evals", subjects=wanted)
        total = questions.join.total if questions.join is not None else None
        if total is not None:
            console.print(
                f"MMLU: {total.matched:,} of {total.prompts:,} RouteLLM prompts joined their gold answer "
                f"({total.unmatched} without a raw row, {total.ambiguous} ambiguous; those are left out)",
                highlight=False,
            )
    else:
        questions = load_medqa_questions(root / "raw-evals")
    return questions.sample(limit, seed=seed)


SHARD_HELP = (
    "K/N: compute only every N-th question of the sample, from the K-th (0-based), so that N processes, "
    "one per core, share a run: start each with the same options and --out and its own K."
)


def take_shard(questions: QuestionSet, shard: str | None) -> QuestionSet:
    """The ``--shard K/N`` part of ``questions``: rows K, K+N, K+2N, … (all of them without ``--shard``)."""
    if shard is None:
        return questions
    k_text, sep, n_text = shard.partition("/")
    try:
        k, n = int(k_text), int(n_text)
    except ValueError:
        k, n = -1, 0
    if not sep or n < 1 or not 0 <= k < n:
        raise SchemaError(f"--shard must be K/N with 0 <= K < N, e.g. 0/2 and 1/2 for two processes. Got {shard!r}.")
    return questions.take(range(k, len(questions), n))


def shard_note(what: str, done: int, planned: int) -> str | None:
    """The line that says a shard's output is partial until every shard has finished, or None when complete."""
    if done >= planned:
        return None
    return (
        f"[yellow]{done:,} of the sample's {planned:,} questions are collected[/]: {what} is complete once every "
        "--shard has finished (rerun any shard's command then to rewrite it)"
    )


@_friendly_errors
def collect_lm_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Collection folder (outcomes.sqlite, routing.parquet).")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Local LM: smollm2-135m, or a Hugging Face model folder.")
    ] = "smollm2-135m",
    data: Annotated[
        str, typer.Option("--data", "-d", help="Question set: mmlu (with GPT-4/Mixtral outcomes) or medqa.")
    ] = "mmlu",
    subjects: Annotated[str, typer.Option("--subjects", help="Comma-separated MMLU subjects (default: all 57).")] = "",
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", help="N questions, a seeded sample over all subjects (a larger N keeps them)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the --limit sample.")] = 0,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Folder holding routellm-evals/ and raw-evals/ (default $ROUTERLAB_DATA_DIR)."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Questions per forward pass and per commit.")] = 8,
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads (default: torch's).")] = None,
    answer: Annotated[
        str,
        typer.Option(
            "--answer",
            help="letter: argmax of the ' A'..' D' next-token logits; cloze: the option text with the highest "
            "per-character log-likelihood after 'Question: ...\\nAnswer:' (hidden states from that prompt).",
        ),
    ] = "letter",
    shard: Annotated[str | None, typer.Option("--shard", help=SHARD_HELP)] = None,
) -> None:
    """One forward pass of the small model per question: answer, correctness, logit signals, hidden states.

    Outcomes go to OUT/outcomes.sqlite, hidden states to the model's float16 store (read by the
    encoder hidden:MODEL); at the end OUT/routing.parquet holds the RoutingData (small model,
    Mixtral-8x7B, GPT-4-1106) for `routerlab evaluate`. A killed run loses at most one batch.
    """
    from routerlab.collect.local_lm import collect_lm, routing_data
    from routerlab.data.features.lm import ANSWER_METHODS
    from routerlab.data.io import write_parquet

    if answer not in ANSWER_METHODS:
        raise SchemaError(f"--answer must be one of {', '.join(ANSWER_METHODS)}. Got {answer!r}.")
    sample = question_sample(data, subjects=subjects, data_dir=data_dir, limit=limit, seed=seed, threads=threads)
    questions = take_shard(sample, shard)
    try:
        with progress_bar(f"collect-lm {model} → {out}") as bar:
            summary = collect_lm(
                questions,
                out,
                model=model,
                answer=answer,
                batch_size=batch_size,
                progress=lambda done, total: bar(completed=done, total=total),
            )
    except KeyboardInterrupt:
        err_console.print(f"[yellow]interrupted[/]: committed batches are in {out}; run the same command to resume")
        raise typer.Exit(code=130) from None
    dataset = routing_data(out, model=model, answer=answer)
    path = write_parquet(dataset, out / "routing.parquet")
    small = dataset.Y[:, 0]
    table = Table(title=f"{out}: {dataset.n_queries:,} questions collected")
    for header in ("model", "accuracy", "mean cost (USD)"):
        table.add_column(header, justify="left" if header == "model" else "right")
    for j, m in enumerate(dataset.models):
        y = dataset.Y[:, j]
        seen = ~np.isnan(y)
        acc = f"{y[seen].mean():.3f}" if seen.any() else "-"
        cost = f"{dataset.cost[seen, j].mean():.2e}" if seen.any() else "-"
        table.add_row(m.name, acc, cost)
    console.print(table)
    console.print(
        f"this run: {summary.computed:,} computed ({summary.already_done:,} found done) in {summary.seconds:.1f} s, "
        f"{summary.queries_per_s:.2f} questions/s; small-model accuracy {small.mean():.3f}; wrote {path}",
        highlight=False,
    )
    note = shard_note(str(path), len(set(sample.query_ids) & set(dataset.query_ids)), len(sample))
    if note:
        console.print(note, highlight=False)
