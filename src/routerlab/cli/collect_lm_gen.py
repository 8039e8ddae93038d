"""``routerlab collect-lm-gen``: a small local LM's generated answers and verbal signals on a question set.

A thin command over :func:`routerlab.collect.local_gen.collect_lm_gen`; register it with
``app.command("collect-lm-gen")(collect_lm_gen_cmd)``. The questions are drawn exactly as
``routerlab collect-lm`` draws them (same loaders, same ``--limit``/``--seed`` sample), so the two
runs' query ids align. The answers' option letters — semantic entropy's classes — come from the
``letter`` scorer (:class:`LetterClasses`), the rule ``routerlab score --scorer letter`` applies to
the answer files this command writes. Rerun the same command to resume after an interruption.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console, err_console, progress_bar
from routerlab.cli.collect_lm import SHARD_HELP, question_sample, shard_note, take_shard

__all__ = ["LetterClasses", "collect_lm_gen_cmd"]


class LetterClasses:
    """The ``letter`` scorer's extracted option letter as an answer's meaning class (``None``: unparsed).

    ``spec`` is ``letter@<version>#<spec hash>``: a new extraction rule keys new semantic entropies.
    """

    def __init__(self) -> None:
        from routerlab.score.letter import LetterScorer

        self._scorer = LetterScorer()
        spec = self._scorer.spec
        self._spec = f"{spec.name}@{spec.version}#{spec.hash}"

    @property
    def spec(self) -> str:
        """Name, version and parameter hash of the letter scorer."""
        return self._spec

    def __call__(self, response: str, choices: Sequence[str]) -> str | None:
        """The letter the scorer extracts from ``response`` (what ``routerlab score`` would read), or ``None``."""
        from routerlab.score.base import ScoreItem

        return self._scorer.score(response, ScoreItem(choices=tuple(choices))).extracted


def _rate(values: Sequence[bool]) -> str:
    return f"{np.mean(values):.1%}" if len(values) else "-"


@_friendly_errors
def collect_lm_gen_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder: generations.sqlite, answers.jsonl, samples.jsonl.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Local instruct LM: smollm2-135m, or a Hugging Face model folder.")
    ] = "smollm2-135m",
    data: Annotated[str, typer.Option("--data", "-d", help="Question set: mmlu or medqa.")] = "mmlu",
    subjects: Annotated[str, typer.Option("--subjects", help="Comma-separated MMLU subjects (default: all 57).")] = "",
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", help="N questions: the same seeded sample as `collect-lm --limit N --seed S`."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the --limit sample (as collect-lm's).")] = 0,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Folder holding routellm-evals/ and raw-evals/ (default $ROUTERLAB_DATA_DIR)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Sampled answers per question (semantic entropy's K).")] = 5,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Token budget of every answer of this source; past it: truncated.")
    ] = 24,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature of the K answers.")] = 1.0,
    gen_seed: Annotated[
        int, typer.Option("--gen-seed", help="Seed of the samples (per query: hash of seed, text).")
    ] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Questions per committed batch.")] = 8,
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads (default: torch's).")] = None,
    shard: Annotated[str | None, typer.Option("--shard", help=SHARD_HELP)] = None,
) -> None:
    """Greedy answer, K sampled answers and SelfAsk's P(True) per question; semantic entropy over the samples.

    Rows go to OUT/generations.sqlite and to the content-addressed cache the encoder verbal:MODEL
    reads; at the end OUT/answers.jsonl (greedy) and OUT/samples.jsonl (the samples) hold the answers
    in the table format of `routerlab score OUT/answers.jsonl --scorer letter`. A killed run loses at
    most one batch.
    """
    from routerlab.collect.local_gen import collect_lm_gen, read_generations, write_answer_files
    from routerlab.data.features.generate import GenSettings
    from routerlab.data.features.lm import LETTERS

    settings = GenSettings(k=k, max_new_tokens=max_new_tokens, temperature=temperature, seed=gen_seed)
    sample = question_sample(data, subjects=subjects, data_dir=data_dir, limit=limit, seed=seed, threads=threads)
    questions = take_shard(sample, shard)
    classify = LetterClasses()
    try:
        with progress_bar(f"collect-lm-gen {model} → {out}") as bar:
            summary = collect_lm_gen(
                questions,
                out,
                classify=classify,
                model=model,
                settings=settings,
                batch_size=batch_size,
                progress=lambda done, total: bar(completed=done, total=total),
            )
    except KeyboardInterrupt:
        err_console.print(f"[yellow]interrupted[/]: committed batches are in {out}; run the same command to resume")
        raise typer.Exit(code=130) from None
    answers, samples = write_answer_files(out, classes=classify.spec, model=model, settings=settings)
    wanted_ids = set(sample.query_ids)  # every shard's rows so far
    rows = [
        r
        for r in read_generations(out, classes=classify.spec, model=model, settings=settings)
        if r["query_id"] in wanted_ids
    ]
    greedy = [r["generation"].greedy for r in rows]
    sampled = [s for r in rows for s in r["generation"].samples]
    letters = [r["greedy_letter"] for r in rows]
    right = [letter == LETTERS[int(r["gold"])] for letter, r in zip(letters, rows, strict=True)]
    sample_letters = [x for r in rows for x in json.loads(r["sample_letters"])]
    table = Table(title=f"{out}: {len(rows):,} questions, {settings.tag()}")
    for header in ("answers", "n", "parsed", "truncated", "accuracy"):
        table.add_column(header, justify="left" if header == "answers" else "right")
    table.add_row("greedy", f"{len(greedy):,}", _rate([x is not None for x in letters]),
                  _rate([g.truncated for g in greedy]), _rate(right))  # fmt: skip
    table.add_row("sampled", f"{len(sampled):,}", _rate([x is not None for x in sample_letters]),
                  _rate([s.truncated for s in sampled]), "-")  # fmt: skip
    console.print(table)
    p_true = np.array([r["selfask_p_true"] for r in rows])
    entropy = np.array([r["semantic_entropy"] for r in rows])
    console.print(
        f"this run: {summary.generated:,} generated, {summary.from_cache:,} from the cache, "
        f"{summary.already_done:,} found done, in {summary.seconds:.1f} s ({summary.queries_per_s:.3f} questions/s); "
        f"mean P(True) {p_true.mean():.3f}, mean semantic entropy {entropy.mean():.3f} nats; wrote {answers} and "
        f"{samples} (score them: routerlab score {answers} --scorer letter)",
        highlight=False,
    )
    note = shard_note(f"{answers} / {samples}", len(rows), len(sample))
    if note:
        console.print(note, highlight=False)
