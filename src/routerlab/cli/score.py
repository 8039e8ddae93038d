"""``routerlab score RUN.duckdb --scorer ...``: score a collection run (or a table of answers) into a RoutingData.

RUN is a collection store (``.duckdb``/``.db``, read by :mod:`routerlab.score.store_reader`) or a table of
answers (``.csv``, ``.tsv``, ``.jsonl``, ``.parquet``, one row per query and model, read by
:mod:`routerlab.score.answer_table`; ``--query-col`` ... ``--col FIELD=COLUMN`` name its columns). Both give
the same records and queries, so everything below is the same for either. A folder (or several files) of
per-model answer files (one model per file, named by its ``model`` column or its file name) is read by
:func:`routerlab.score.answer_table.read_answer_tables`.

Registered by the main app as ``app.command("score")(score_cmd)``. Writes the outcome matrices as Parquet
(``--out``) and, beside it, one JSON line per (query, model) with the full score: the judge's prompt and raw
output, the sandbox status, the letter rule — so every number in the matrix can be traced and reproduced.

Scorers run in worker processes (:mod:`routerlab.score.runner`): each score is appended to the details file
as it arrives, so rerunning the same command after a kill resumes where it stopped, and an answer that
crashes or hangs its scorer loses only its own score (no outcome, reason ``scorer_crashed`` or
``scorer_timeout``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from routerlab.cli._common import _friendly_errors, console, err_console, progress_bar
from routerlab.data.io import write_parquet
from routerlab.data.prices import read_prices as _read_prices
from routerlab.errors import SchemaError

if TYPE_CHECKING:
    from routerlab.score.base import ScoreItem
    from routerlab.score.runner import ScorerRecipe, ScoringRun

__all__ = ["parse_scorer_option", "score_cmd"]

_JUDGES = ("judge", "dual")
#: The sandbox's own --code-timeout plus this margin (its start-up and teardown) must fit in --score-timeout.
_CODE_MARGIN_S = 10.0


def _check_scorer_name(source: str, name: str) -> None:
    from routerlab.score.base import SCORERS

    base, sep, exact = name.partition(":")
    where = f"(--scorer, source {source!r})"
    if sep and base != "dual":
        raise ValueError(f"Only dual takes ':<exact-match scorer>'. Got {name!r} {where}; write e.g. 'dual:math'.")
    if base not in SCORERS:
        raise ValueError(f"{SCORERS.unknown_message(base)} {where}")
    if sep and (exact in _JUDGES or exact not in SCORERS):
        known = ", ".join(n for n in SCORERS.names() if n not in _JUDGES)
        raise ValueError(f"{name!r} {where}: the part after 'dual:' must be an exact-match scorer ({known}).")


def parse_scorer_option(value: str) -> dict[str, str]:
    """``"letter"`` → ``{"*": "letter"}``; ``"mmlu=dual,humaneval=code,*=judge"`` → that mapping.

    A scorer is any name registered in :data:`routerlab.score.base.SCORERS` — built in: ``letter``,
    ``exact``, ``math``, ``code``, ``judge``, ``dual`` (judge + letter) — plug-ins included, or
    ``dual:math`` / ``dual:exact`` (judge + that exact-match scorer).
    """
    mapping: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        source, sep, name = part.rpartition("=")
        source, name = (source.strip() or "*") if sep else "*", name.strip()
        if source in mapping:
            raise ValueError(f"--scorer names source {source!r} twice; give one scorer per source.")
        mapping[source] = name
    if not mapping:
        raise ValueError("--scorer is empty; give a scorer name (e.g. letter) or source=scorer pairs.")
    for source, name in mapping.items():
        _check_scorer_name(source, name)
    return mapping


def _recipes(
    mapping: dict[str, str], *, judge_model: str | None, judge_base_url: str | None, code_timeout: float
) -> dict[str, ScorerRecipe]:
    """What each worker builds for each source (a judge's client cannot be sent to a worker, its recipe can)."""
    from routerlab.score.runner import ScorerRecipe

    out: dict[str, ScorerRecipe] = {}
    for source, name in mapping.items():
        base, _, exact = name.partition(":")
        if base in _JUDGES:
            if not judge_model:
                raise ValueError(f"Scorer {name!r} needs a judge model: pass --judge-model (and --judge-base-url).")
            params: dict[str, str | None] = {"model": judge_model, "base_url": judge_base_url}
            if base == "dual":
                params["exact"] = exact or "letter"
            out[source] = ScorerRecipe(base, params)
        elif base == "code":
            out[source] = ScorerRecipe("code", {"timeout_s": code_timeout})
        else:
            out[source] = ScorerRecipe(base)
    return out


def _known(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_costs(records: Sequence[Mapping[str, Any]], prices: Mapping[str, tuple[float, float]]) -> int:
    """Refuse answers whose cost is unknown; count the failed rows (no outcome) whose cost stays unknown (NaN).

    A record's cost is its ``cost_usd``, else its prompt and completion tokens at the ``--prices`` of its model.
    An answer with neither would need a cost invented ($0), which a RoutingData refuses for an observed cell:
    that is an error naming the models and the fix, given before any scoring. A failed row (an error, or no
    answer) has no outcome, so an unknown cost is allowed there; those with token counts are counted so that
    the command can say their cost is missing.
    """
    no_price: Counter[str] = Counter()
    no_tokens: Counter[str] = Counter()
    failed_unpriced = 0
    for r in records:
        if _known(r.get("cost_usd")):
            continue
        model = str(r.get("model"))
        err = r.get("error")
        answered = r.get("response_text") is not None and not (isinstance(err, str) and err.strip())
        tokens = _known(r.get("prompt_tokens")) and _known(r.get("completion_tokens"))
        if not answered:
            failed_unpriced += int(tokens and model not in prices)
        elif model not in prices:
            no_price[model] += 1
        elif not tokens:
            no_tokens[model] += 1
    problems = []
    if no_price:
        shown = ", ".join(f"{m!r} ({n} rows)" for m, n in no_price.most_common())
        example = ", ".join(f'"{m}": [IN, OUT]' for m in list(no_price)[:2])
        unused = sorted(set(prices) - {str(r.get("model")) for r in records})
        hint = (
            f" (--prices names {', '.join(map(repr, unused))}, which no row uses: a misspelt model?)" if unused else ""
        )
        problems.append(
            f"{sum(no_price.values())} answers have no cost_usd and their model has no price: {shown}{hint}. "
            f"Pass --prices FILE.json|.yaml with {{{example}}} in USD per 1M tokens, or give a cost_usd column"
        )
    if no_tokens:
        shown = ", ".join(f"{m!r} ({n} rows)" for m, n in no_tokens.most_common())
        problems.append(
            f"{sum(no_tokens.values())} answers have no cost_usd and no prompt/completion token counts to price: "
            f"{shown}. Give their cost_usd, or their prompt_tokens and completion_tokens"
        )
    if problems:
        raise SchemaError(
            "; ".join(problems) + ". An unknown cost is never taken as $0, and a scored answer needs a cost."
        )
    return failed_unpriced


_STORE_SUFFIXES = (".duckdb", ".db")


def _read_answers(
    runs: Sequence[Path], columns: Mapping[str, str]
) -> tuple[list[dict[str, Any]], dict[str, ScoreItem], Path, str, list[Path]]:
    """``(records, queries, default output, default name, input files)`` of what RUN names.

    One collection store, one table of answers (one row per query and model), a folder of per-model answer
    files, or several per-model answer files.
    """
    from routerlab.score.answer_table import (
        TABLE_SUFFIXES,
        answer_files,
        default_name,
        read_answer_table,
        read_answer_tables,
        table_format,
    )
    from routerlab.score.store_reader import read_run

    if not runs:
        raise ValueError("Give RUN: a collection store, a table of answers, or a folder of per-model answer files.")
    if len(runs) > 1 or runs[0].is_dir():
        if len(runs) == 1:
            folder = runs[0]
            files = answer_files(folder)
        else:
            wrong = [str(p) for p in runs if p.is_dir() or table_format(p) is None]
            if wrong:
                raise SchemaError(
                    f"Several RUN paths must all be per-model answer files ({', '.join(TABLE_SUFFIXES)}); not "
                    f"{', '.join(map(repr, wrong))}. Give a collection store or a folder alone."
                )
            files, folder = list(runs), runs[0].parent
        records, queries = read_answer_tables(files, columns=columns)
        stem = folder.resolve().name or "answers"
        return records, queries, folder.resolve().with_name(f"{stem}.parquet"), stem, files
    run = runs[0]
    if run.suffix.lower() in _STORE_SUFFIXES:
        if columns:
            raise ValueError(
                f"{', '.join(sorted(columns))}: column options apply to a table of answers, not to the collection "
                f"store {str(run)!r}."
            )
        records, queries = read_run(run)
        return records, queries, run.with_suffix(".parquet"), run.stem, [run]
    if table_format(run) is not None:
        records, queries = read_answer_table(run, columns=columns)
        stem = default_name(run)
        out = run.with_name(f"{stem}.parquet")
        if out == run:  # answers.parquet: never overwrite the input
            out = run.with_name(f"{stem}.scored.parquet")
        return records, queries, out, stem, [run]
    raise SchemaError(
        f"routerlab score cannot read {str(run)!r} (suffix {''.join(run.suffixes) or '(none)'!r}): give a collection "
        f"store ({', '.join(_STORE_SUFFIXES)}), a table of answers ({', '.join(TABLE_SUFFIXES)}) or a folder of "
        "per-model answer files; export a spreadsheet as CSV."
    )


def _column_options(
    query_col: str | None, model_col: str | None, response_col: str | None, gold_col: str | None, col: Sequence[str]
) -> dict[str, str]:
    """Field → column from ``--query-col`` ... and the repeatable ``--col FIELD=COLUMN``."""
    out: dict[str, str] = {}
    for spec in col:
        key, sep, name = spec.partition("=")
        if not sep or not key.strip() or not name.strip():
            raise ValueError(f"--col takes FIELD=COLUMN (e.g. --col text=question). Got {spec!r}.")
        if key.strip() in out:
            raise ValueError(f"--col names the field {key.strip()!r} twice; give one column per field.")
        out[key.strip()] = name.strip()
    for field, column, flag in (
        ("query_id", query_col, "--query-col"),
        ("model", model_col, "--model-col"),
        ("response", response_col, "--response-col"),
        ("gold", gold_col, "--gold-col"),
    ):
        if column is not None:
            if field in out:
                raise ValueError(f"{flag} and --col {field}=... both name the column of {field!r}; give one.")
            out[field] = column
    return out


def _report_resume(run: ScoringRun) -> None:
    for c in run.spec_changes:
        err_console.print(
            f"[yellow]scorer changed[/] for source {c.source!r}: {c.n_records} stored scores made by {c.old} "
            f"were scored again with {c.new}",
            highlight=False,
        )
    if run.n_answer_changed:
        err_console.print(f"[yellow]answers changed[/] since they were scored: {run.n_answer_changed} scored again")
    if run.n_reused:
        console.print(
            f"resumed: {run.n_reused} scores read back from {run.checkpoint.name}, {run.n_scored} scored now",
            highlight=False,
        )


def _report_failures(run: ScoringRun) -> None:
    failures = run.failures
    if not failures:
        return
    reasons = Counter(s.score.reason for s in failures if s.score is not None)
    counts = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    err_console.print(
        f"[yellow]{len(failures)} records could not be scored[/] ({counts}); they are no outcome (NaN), "
        f"listed with their reason in {run.checkpoint}. `--retry-failed` scores them again.",
        highlight=False,
    )
    for s in failures[:5]:
        assert s.score is not None
        err_console.print(f"  ({s.query_id!r}, {s.model!r}): {s.score.detail.get('error')}", highlight=False)


def _score(
    runs: Sequence[Path],
    scorer: str,
    out: Path | None,
    name: str | None,
    judge_model: str | None,
    judge_base_url: str | None,
    prices: Path | None,
    code_timeout: float,
    workers: int,
    score_timeout: float,
    retry_failed: bool,
    columns: Mapping[str, str],
) -> None:
    import numpy as np
    from rich.table import Table

    from routerlab.score.build import build_routing
    from routerlab.score.runner import score_with_checkpoint

    mapping = parse_scorer_option(scorer)
    recipes = _recipes(mapping, judge_model=judge_model, judge_base_url=judge_base_url, code_timeout=code_timeout)
    if workers < 1:
        raise ValueError(f"--workers must be at least 1 (processes that run the scorers). Got {workers}.")
    if not score_timeout > 0:
        raise ValueError(f"--score-timeout must be > 0 seconds per answer. Got {score_timeout:g}.")
    if any(r.name == "code" for r in recipes.values()) and score_timeout < code_timeout + _CODE_MARGIN_S:
        raise ValueError(
            f"--score-timeout ({score_timeout:g} s) must leave room for the sandbox's own --code-timeout "
            f"({code_timeout:g} s) and its start-up: give at least {code_timeout + _CODE_MARGIN_S:g} s."
        )
    price_table = _read_prices(prices)
    records, queries, default_out, default_name, inputs = _read_answers(runs, columns)
    n_cost_unknown = _check_costs(records, price_table or {})
    if n_cost_unknown:
        err_console.print(
            f"[yellow]cost unknown[/] for {n_cost_unknown} failed rows (no answer) that have token counts but no "
            "cost_usd and no --prices entry: their cost is left missing (NaN), not $0",
            highlight=False,
        )
    target = out if out is not None else default_out
    details = target.with_suffix(".scores.jsonl")
    if any(p.resolve() in (target.resolve(), details.resolve()) for p in inputs):
        raise ValueError(f"--out {str(target)!r} would overwrite the answers being scored; write elsewhere.")
    try:
        label = f"score {runs[0].name}{' ...' if len(runs) > 1 else ''}"
        with progress_bar(label, before_time=("failed {task.fields[failed]}",), failed=0) as bar:

            def progress(done: int, total: int, failed: int) -> None:
                bar(completed=done, total=total, failed=failed)

            result = score_with_checkpoint(
                records,
                queries,
                recipes,
                details,
                workers=workers,
                timeout_s=score_timeout,
                retry_failed=retry_failed,
                progress=progress,
            )
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]interrupted[/]: the scores so far are in {details}; run the same command to resume",
            highlight=False,
        )
        raise typer.Exit(code=130) from None
    _report_resume(result)
    data = build_routing(result.scored, queries, name=name or default_name, prices=price_table)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(data, target)
    table = Table(title=f"{data.name}: {data.n_queries} queries × {data.n_models} models")
    for col in ("model", "outcomes", "mean Y", "parse rate", "truncated", "failed records"):
        table.add_column(col, justify="left" if col == "model" else "right")
    obs = data.observed
    failed = data.meta.get("n_failed_records", {})
    for j, m in enumerate(data.model_names):
        n = int(obs[:, j].sum())
        parsed = data.parsed[obs[:, j], j].mean() if n and data.parsed is not None else float("nan")
        trunc = data.truncated[obs[:, j], j].mean() if n and data.truncated is not None else float("nan")
        mean_y = float(np.nanmean(data.Y[:, j])) if n else float("nan")
        table.add_row(m, str(n), f"{mean_y:.4f}", f"{parsed:.1%}", f"{trunc:.1%}", str(failed.get(m, 0)))
    console.print(table)
    _report_failures(result)
    if data.meta.get("n_judge_unparseable"):
        console.print(f"[yellow]judge output unparseable:[/] {data.meta['n_judge_unparseable']} answers (no outcome)")
    if data.meta.get("n_injection_suspected"):
        console.print(f"[yellow]suspected judge-injection attempts:[/] {data.meta['n_injection_suspected']} answers")
    console.print(f"wrote {target} and {details}", highlight=False, soft_wrap=True)


def score_cmd(
    run: Annotated[
        list[Path],
        typer.Argument(
            help="The collection store (.duckdb/.db), a table of answers (.csv, .tsv, .jsonl, .parquet; one row "
            "per query and model), or a folder (or several files) of per-model answer files: each file is read "
            "with the same column options and holds one model, named by its model column when it has one (which "
            "must then hold one name; it wins over the file name), otherwise by the file name "
            "(answers/gpt-4o-mini.csv -> gpt-4o-mini). Two files of one model, or a per-query value (question, "
            "gold, source, split, ...) that differs between files, is an error naming both files.",
            show_default=False,
        ),
    ],
    scorer: Annotated[
        str,
        typer.Option(
            "--scorer",
            "-s",
            help="A scorer for every source (letter, exact, math, code, judge, dual, dual:math, or any scorer "
            "plug-in) or source=scorer pairs, e.g. 'mmlu=dual,humaneval=code,*=judge'.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Parquet file to write (default RUN with .parquet, a folder answers/ gives answers.parquet beside "
            "it; for answers.parquet, answers.scored.parquet).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Dataset name (default the RUN file's or folder's name without its suffix)."),
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Judge model for judge/dual scorers.")
    ] = None,
    judge_base_url: Annotated[
        str | None,
        typer.Option("--judge-base-url", help="OpenAI-compatible endpoint of the judge (default $OPENAI_BASE_URL)."),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            help="JSON or YAML {MODEL: [IN, OUT]}: USD per 1M input and output tokens, for records without cost_usd."
        ),
    ] = None,
    code_timeout: Annotated[float, typer.Option("--code-timeout", help="Seconds per sandboxed code run.")] = 10.0,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Worker processes that run the scorers.")] = 4,
    score_timeout: Annotated[
        float,
        typer.Option(
            "--score-timeout",
            help="Seconds one answer may take to score; past it the worker is killed and the answer recorded "
            "as scorer_timeout (no outcome).",
        ),
    ] = 300.0,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="Score again the stored answers whose scorer crashed, timed out or failed."
        ),
    ] = False,
    query_col: Annotated[
        str | None, typer.Option("--query-col", help="Table: the column of query ids (default query_id).")
    ] = None,
    model_col: Annotated[
        str | None,
        typer.Option(
            "--model-col",
            help="Table: the column of model names (default model; optional in per-model files, see RUN).",
        ),
    ] = None,
    response_col: Annotated[
        str | None,
        typer.Option("--response-col", help="Table: the column of answers (default response or response_text)."),
    ] = None,
    gold_col: Annotated[
        str | None, typer.Option("--gold-col", help="Table: the column of reference answers (default gold).")
    ] = None,
    col: Annotated[
        list[str] | None,
        typer.Option(
            "--col",
            help="Table: FIELD=COLUMN for any other field (text, source, split, category, choices, tests, "
            "entry_point, test_setup, prompt_tokens, completion_tokens, cost_usd, latency_s, finish_reason, "
            "truncated, error); repeatable.",
        ),
    ] = None,
) -> None:
    """Score a collection run or answers (a table, or per-model files): outcome, parsed, truncated, latency, cost.

    Scores go to OUT's .scores.jsonl as they are made; rerun the same command to resume after a kill.
    """
    _friendly_errors(_score)(
        run,
        scorer,
        out,
        name,
        judge_model,
        judge_base_url,
        prices,
        code_timeout,
        workers,
        score_timeout,
        retry_failed,
        _friendly_errors(_column_options)(query_col, model_col, response_col, gold_col, col or []),
    )
