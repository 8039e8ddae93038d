"""``routerlab ope LOG --router DIR`` and ``routerlab data from-log LOG --out FILE``: the decision log, offline.

``ope`` estimates another router's value on the gateway's logged, scored traffic
(:func:`routerlab.serve.offline.evaluate_on_log`: IPS, SNIPS, DR, DM with bootstrap CIs); ``from-log``
turns the logged, scored traffic into a RoutingData file for retraining
(:func:`routerlab.serve.offline.routing_data_from_log`). Register them with
``app.command("ope")(ope_cmd)`` and ``data_app.command("from-log")(from_log_cmd)``. Errors raised on
purpose (no query text logged, no feedback, a pool that is not the log's) are one red line, exit 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from routerlab.cli._common import _friendly_errors, console

if TYPE_CHECKING:
    from routerlab.metrics.bootstrap import Interval
    from routerlab.serve.offline import LogEvaluation

__all__ = ["from_log_cmd", "ope_cmd"]

_LABELS = {
    "ips": "IPS",
    "snips": "SNIPS (self-normalised)",
    "dr": "DR (doubly robust)",
    "dm": "DM (reward model only)",
}


def _read(log: Path) -> list[dict[str, Any]]:
    """The log's records; a missing file is one clear error (exit 2), not a traceback."""
    from routerlab.serve.log import read_log

    try:
        return read_log(log)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _interval(iv: Interval) -> dict[str, float | None]:
    return {"estimate": _number(iv.estimate), "low": _number(iv.low), "high": _number(iv.high)}


def _as_json(result: LogEvaluation, log: Path) -> dict[str, Any]:
    b, v = result.bandit, result.value
    d = v.diagnostics
    return {
        "log": str(log),
        "target": b.target,
        "policy": b.policy,
        "reward_model": b.reward_model,
        "level": v.logged.level,
        "n_resamples": v.n_resamples,
        "seed": v.seed,
        "estimates": {key: _interval(iv) for key, iv in v.estimates.items()},
        "logged": _interval(v.logged),
        "diagnostics": {
            "n_records": b.n_records,
            "n_used": d.n,
            "excluded": dict(b.excluded),
            "n_matched": d.n_matched,
            "match_rate": d.match_rate,
            "ess": d.ess,
            "max_weight": d.max_weight,
            "n_unsupported": d.n_unsupported,
            "n_unknown_support": result.n_unknown_support,
        },
        "warnings": list(d.warnings),
    }


def _cell(value: float) -> str:
    return "undefined" if math.isnan(value) else f"{value:.4f}"


def _print_table(result: LogEvaluation, log: Path) -> None:
    b, v = result.bandit, result.value
    pct = f"{v.logged.level:.0%} CI"
    table = Table(title=f"{b.target} at {b.policy} on {log.name}")
    for col, justify in (("estimator", "left"), ("value", "right"), (pct, "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for key, iv in v.estimates.items():
        table.add_row(_LABELS[key], _cell(iv.estimate), f"[{_cell(iv.low)}, {_cell(iv.high)}]")
    table.add_section()
    table.add_row(
        "logged policy (mean feedback)", _cell(v.logged.estimate), f"[{_cell(v.logged.low)}, {_cell(v.logged.high)}]"
    )
    console.print(table)
    d = v.diagnostics
    console.print(
        f"used {d.n} of {b.n_records} records · match rate {d.match_rate:.1%} ({d.n_matched}) · "
        f"effective sample size {d.ess:.1f} · max weight {d.max_weight:.3g} · "
        f"bootstrap {v.n_resamples} resamples, seed {v.seed} · q̂ of DR and DM: the {b.reward_model} router's scores",
        highlight=False,
        soft_wrap=True,
    )
    if b.excluded:
        console.print("excluded: " + "; ".join(f"{n} {reason}" for reason, n in b.excluded.items()), highlight=False)
    if d.n_unsupported:
        console.print(
            f"[bold yellow]unsupported:[/] {d.n_unsupported} records where the logging policy never tries the "
            "target's model",
            highlight=False,
        )
    if result.n_unknown_support:
        console.print(
            f"[yellow]note:[/] on {result.n_unknown_support} records the logging probability of the target's model "
            "is unknown (a budget left it out of the logged ranking, or not): they may be unsupported.",
            highlight=False,
        )
    for line in d.warnings:
        console.print(f"[bold yellow]warning:[/] {line}", highlight=False)


@_friendly_errors
def ope_cmd(
    log: Annotated[Path, typer.Argument(help="The gateway's decision log (routerlab serve --log).")],
    router: Annotated[Path, typer.Option("--router", help="The saved router folder to evaluate (the target).")],
    lam: Annotated[
        float, typer.Option("--lambda", min=0.0, max=1.0, help="The target's cost weight λ (0 = quality only).")
    ] = 0.0,
    budget: Annotated[
        float | None, typer.Option("--budget", min=0.0, help="A per-query cost budget for the target instead of λ.")
    ] = None,
    reward_model: Annotated[
        str,
        typer.Option(
            "--reward-model",
            help="q̂ of DR and DM: 'logged' (the logging router's scores, kept in the log) or 'target'.",
        ),
    ] = "logged",
    resamples: Annotated[int, typer.Option("--resamples", min=1, help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Estimate a router's value on the gateway's logged traffic: IPS, SNIPS, doubly robust, with 95 % CIs.

    Uses the routed requests answered by their logged choice that got feedback (POST /v1/feedback)
    and whose text was logged (routerlab serve --log-queries); explore with ε > 0 so every model is tried.
    """
    from routerlab.serve.offline import REWARD_MODELS, evaluate_on_log

    if reward_model not in REWARD_MODELS:
        raise ValueError(f"--reward-model must be one of {', '.join(REWARD_MODELS)}. Got {reward_model!r}.")
    if budget is not None and lam != 0.0:
        raise ValueError("Give --lambda or --budget for the target, not both.")
    result = evaluate_on_log(
        _read(log),
        router,
        lam=lam,
        budget=budget,
        reward_model=reward_model,  # type: ignore[arg-type]
        n_resamples=resamples,
        seed=seed,
    )
    if as_json:
        typer.echo(json.dumps(_as_json(result, log), indent=2))
    else:
        _print_table(result, log)


def _counts(excluded: Mapping[str, int]) -> str:
    return "; ".join(f"{n} {reason}" for reason, n in excluded.items()) or "none"


@_friendly_errors
def from_log_cmd(
    log: Annotated[Path, typer.Argument(help="The gateway's decision log (routerlab serve --log).")],
    out: Annotated[Path, typer.Option("--out", help="The RoutingData Parquet file to write.")],
    val: Annotated[float, typer.Option("--val", help="Share of queries in the val split (hash of the text).")] = 0.1,
    test: Annotated[float, typer.Option("--test", help="Share of queries in the test split.")] = 0.3,
    models: Annotated[
        str | None, typer.Option("--models", help="Comma-separated pool, in column order (default: the log's).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the split hash.")] = 0,
) -> None:
    """Turn logged, scored traffic into a RoutingData file (one outcome per query: the model that answered).

    Each answered request with feedback and logged text (routerlab serve --log-queries) is one row;
    read it back with `routerlab data show FILE`.
    """
    from routerlab.data.io import write_parquet
    from routerlab.serve.offline import routing_data_from_log

    pool = None
    if models is not None:
        pool = [m.strip() for m in models.split(",") if m.strip()]
        if not pool:
            raise ValueError(f"--models must name at least one model (comma-separated). Got {models!r}.")
    records = _read(log)
    data = routing_data_from_log(records, models=pool, val=val, test=test, seed=seed, name=out.stem, source=str(log))
    path = write_parquet(data, out)
    sizes = ", ".join(f"{k}={v}" for k, v in data.split_sizes().items())
    console.print(
        f"wrote {path}: {data.n_queries} queries from {len(records)} records, {data.n_models} models "
        f"({', '.join(data.model_names)}), splits {sizes}",
        soft_wrap=True,
        highlight=False,
    )
    per_model = data.observed.sum(axis=0)
    console.print(
        "outcomes per model: " + ", ".join(f"{m}={int(c)}" for m, c in zip(data.model_names, per_model, strict=True)),
        highlight=False,
    )
    console.print(f"excluded: {_counts(data.meta['excluded'])}", highlight=False, soft_wrap=True)
