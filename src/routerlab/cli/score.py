"""``routerlab score RUN.duckdb --scorer ...``: score a collection run into a RoutingData.

Registered by the main app as ``app.command("score")(score_cmd)``. Writes the outcome matrices as Parquet
(``--out``) and, beside it, one JSON line per (query, model) with the full score: the judge's prompt and raw
output, the sandbox status, the letter rule — so every number in the matrix can be traced and reproduced.

Scorers run in worker processes (:mod:`routerlab.score.runner`): each score is appended to the details file
as it arrives, so rerunning the same command after a kill resumes where it stopped, and an answer that
crashes or hangs its scorer loses only its own score (no outcome, reason ``scorer_crashed`` or
``scorer_timeout``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from routerlab.cli._common import _friendly_errors, console, err_console, progress_bar

if TYPE_CHECKING:
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


def _read_prices(path: Path | None) -> dict[str, tuple[float, float]] | None:
    if path is None:
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"--prices {str(path)!r} is not a readable JSON file: {exc}.") from None
    prices = {}
    for model, pair in raw.items():
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ValueError(f"--prices entry {model!r} must be [input_usd_per_1m, output_usd_per_1m]. Got {pair!r}.")
        prices[str(model)] = (float(pair[0]), float(pair[1]))
    return prices


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
    run: Path,
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
) -> None:
    import numpy as np
    from rich.table import Table

    from routerlab.score.build import build_routing
    from routerlab.score.runner import score_with_checkpoint
    from routerlab.score.store_reader import read_run

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
    records, queries = read_run(run)
    target = out if out is not None else run.with_suffix(".parquet")
    details = target.with_suffix(".scores.jsonl")
    try:
        with progress_bar(f"score {run.name}", before_time=("failed {task.fields[failed]}",), failed=0) as bar:

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
    data = build_routing(result.scored, queries, name=name or run.stem, prices=price_table)
    target.parent.mkdir(parents=True, exist_ok=True)
    data.save(target)
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
    console.print(f"wrote {target} and {details}", highlight=False)


def score_cmd(
    run: Annotated[Path, typer.Argument(help="The collection store (DuckDB file) to score.")],
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
        Path | None, typer.Option("--out", "-o", help="Parquet file to write (default RUN with .parquet).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (default the RUN file's stem).")] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Judge model for judge/dual scorers.")
    ] = None,
    judge_base_url: Annotated[
        str | None,
        typer.Option("--judge-base-url", help="OpenAI-compatible endpoint of the judge (default $OPENAI_BASE_URL)."),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(help="JSON {model: [input, output] USD per 1M tokens} for records without cost_usd."),
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
) -> None:
    """Score a collection run: outcome, raw-score, parsed and truncated matrices, latency and cost.

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
    )
