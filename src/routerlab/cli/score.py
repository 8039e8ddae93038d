"""``routerlab score RUN.duckdb --scorer ...``: score a collection run into a RoutingData.

Registered by the main app as ``app.command("score")(score_cmd)``. Writes the outcome matrices as Parquet
(``--out``) and, beside it, one JSON line per (query, model) with the full score: the judge's prompt and raw
output, the sandbox status, the letter rule — so every number in the matrix can be traced and reproduced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from routerlab.cli._common import _friendly_errors, console

__all__ = ["parse_scorer_option", "score_cmd"]

_NAMES = ("letter", "exact", "math", "code", "judge", "dual", "dual:letter", "dual:math", "dual:exact")


def parse_scorer_option(value: str) -> dict[str, str]:
    """``"letter"`` → ``{"*": "letter"}``; ``"mmlu=dual,humaneval=code,*=judge"`` → that mapping.

    A scorer is one of ``letter``, ``exact``, ``math``, ``code``, ``judge``, ``dual`` (judge + letter) or
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
        if name not in _NAMES:
            import difflib

            close = difflib.get_close_matches(name, _NAMES, n=2, cutoff=0.5)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"Unknown scorer {name!r} for source {source!r}.{hint} Known: {', '.join(_NAMES)}.")
    return mapping


def _build_scorers(
    mapping: dict[str, str], *, judge_model: str | None, judge_base_url: str | None, code_timeout: float
) -> dict[str, Any]:
    from routerlab.score import scorer_for
    from routerlab.score.judge import DualJudge, LLMJudge, openai_chat_completer

    judge: LLMJudge | None = None
    out: dict[str, Any] = {}
    for source, name in mapping.items():
        if name.startswith(("judge", "dual")):
            if judge is None:
                if not judge_model:
                    raise ValueError(f"Scorer {name!r} needs a judge model: pass --judge-model (and --judge-base-url).")
                complete = openai_chat_completer(judge_model, base_url=judge_base_url)
                judge = LLMJudge(complete, model=judge_model, sampling={"temperature": 0.0, "max_tokens": 1024})
            out[source] = judge if name == "judge" else DualJudge(judge, name.partition(":")[2] or "letter")
        elif name == "code":
            out[source] = scorer_for("code", timeout_s=code_timeout)
        else:
            out[source] = scorer_for(name)
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


def _score(
    run: Path,
    scorer: str,
    out: Path | None,
    name: str | None,
    judge_model: str | None,
    judge_base_url: str | None,
    prices: Path | None,
    code_timeout: float,
) -> None:
    import numpy as np
    from rich.table import Table

    from routerlab.score.build import build_routing, score_records
    from routerlab.score.store_reader import read_run

    mapping = parse_scorer_option(scorer)
    scorers = _build_scorers(mapping, judge_model=judge_model, judge_base_url=judge_base_url, code_timeout=code_timeout)
    price_table = _read_prices(prices)
    records, queries = read_run(run)
    with console.status(f"scoring {len(records)} records from {run.name}") as status:

        def progress(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                status.update(f"scored {done}/{total} records")

        scored = score_records(records, queries, scorers, progress=progress)
    data = build_routing(scored, queries, name=name or run.stem, prices=price_table)
    target = out if out is not None else run.with_suffix(".parquet")
    target.parent.mkdir(parents=True, exist_ok=True)
    data.save(target)
    details = target.with_suffix(".scores.jsonl")
    with details.open("w", encoding="utf-8") as fh:
        for s in scored:
            fh.write(json.dumps(s.to_dict(), ensure_ascii=False) + "\n")
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
            help="A scorer for every source (letter, exact, math, code, judge, dual, dual:math) or "
            "source=scorer pairs, e.g. 'mmlu=dual,humaneval=code,*=judge'.",
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
) -> None:
    """Score a collection run: outcome, raw-score, parsed and truncated matrices, latency and cost."""
    _friendly_errors(_score)(run, scorer, out, name, judge_model, judge_base_url, prices, code_timeout)
