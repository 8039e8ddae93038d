"""The sweep's results: the headline row of each (dataset, router, encoder) and ``summary.json`` / ``.parquet``."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routerlab._files import atomic_write, atomic_write_bytes
from routerlab.experiments.sweep.config import SweepConfig
from routerlab.experiments.sweep.keys import SAMPLE_SEED, _jsonable, canonical_json, lam_key
from routerlab.experiments.sweep.records import SCHEMA_VERSION
from routerlab.experiments.sweep.stages import _Group, _rank_stage1, _stage1_specs

log = logging.getLogger(__name__)

#: the headline std is the population standard deviation over seeds
STD_DDOF = 0
SUMMARY_JSON = "summary.json"
SUMMARY_PARQUET = "summary.parquet"


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """The seed-protocol result of one (dataset, router, encoder)."""

    dataset: str
    router: str
    encoder: str
    status: str  # "ok" or "failed" (every stage-1 run failed)
    stochastic: bool  # True when the seed stage ran (stochastic router with a random_state)
    config_id: str | None
    params: dict[str, Any]
    grid_size: int
    n_configs: int  # stage-1 configurations tried
    n_runs: int  # successful runs of this (dataset, router, encoder), both stages
    seeds: tuple[int, ...]  # seeds of the headline figures
    val_acc_mean: float | None  # over the headline seeds
    stage2_val_acc_mean: float | None  # the selection criterion (None without stage 2)
    test_acc_mean: float | None
    test_acc_std: float | None  # ddof = 0
    test_quality_mean: dict[str, float]
    test_quality_std: dict[str, float]
    test_utility_mean: dict[str, float]
    test_utility_std: dict[str, float]
    test_cost_mean: dict[str, float]
    call_rate_mean: dict[str, float]  # at λ = 0
    oracle_test_acc: float | None
    n_train: int | None
    n_val: int | None
    n_test: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["seeds"] = list(self.seeds)
        return out


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What :func:`run_sweep` returns: the summary rows, the records behind them and run counts."""

    out_dir: Path
    lams: tuple[float, ...]
    summary: tuple[SummaryRow, ...]
    records: tuple[dict[str, Any], ...]  # the latest successful record of every run key used
    n_executed: int  # runs executed by this call (including failed ones)
    n_skipped: int  # runs found complete in runs.jsonl
    errors: tuple[dict[str, Any], ...] = field(default=())

    def row(self, router: str, dataset: str | None = None, encoder: str | None = None) -> SummaryRow:
        """Return the summary row of ``router`` (and ``dataset`` / ``encoder`` when several match)."""
        rows = [
            r
            for r in self.summary
            if r.router == router and dataset in (None, r.dataset) and encoder in (None, r.encoder)
        ]
        if len(rows) != 1:
            raise KeyError(
                f"{len(rows)} summary rows match router={router!r}, dataset={dataset!r}, encoder={encoder!r}."
            )
        return rows[0]

    def to_dict(self) -> dict[str, Any]:
        """Return the content of ``summary.json`` (no timings: a resumed sweep writes the same)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "protocol": {"std_ddof": STD_DDOF, "sample_seed": SAMPLE_SEED, "lams": list(self.lams)},
            "rows": [r.to_dict() for r in self.summary],
        }

    def to_markdown(self) -> str:
        """One Markdown table: selected params, mean ± std test accuracy and mean U(λ) per λ."""
        lams = [lam_key(lam) for lam in self.lams]
        head = ["dataset", "router", "encoder", "params", "seeds", "test acc", *[f"U({k})" for k in lams]]
        lines = [
            "# Sweep summary",
            "",
            f"Mean ± std (ddof = {STD_DDOF}) over the seeds of the selected configuration; deterministic routers "
            "report one run.",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * 5 + "---:|" * (1 + len(lams)),
        ]
        for r in self.summary:
            params = ", ".join(f"{k}={v}" for k, v in r.params.items()) or "defaults"
            if r.status != "ok" or r.test_acc_mean is None:
                cells = ["failed"] * (1 + len(lams))
            else:
                cells = [_pm(r.test_acc_mean, r.test_acc_std, len(r.seeds))]
                cells += [_pm(r.test_utility_mean[k], r.test_utility_std[k], len(r.seeds)) for k in lams]
            lines.append(
                f"| {r.dataset} | {r.router} | {r.encoder} | {params} | {len(r.seeds)} | " + " | ".join(cells) + " |"
            )
        return "\n".join(lines) + "\n"


def _pm(mean: float, std: float | None, n: int) -> str:
    return f"{mean:.4f} ± {std:.4f}" if n > 1 and std is not None else f"{mean:.4f}"


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def _std(values: Sequence[float]) -> float:
    return float(np.std(np.asarray(values, dtype=np.float64), ddof=STD_DDOF))


def _summarise(
    g: _Group, config: SweepConfig, done: Mapping[str, dict[str, Any]], oracle: float
) -> tuple[SummaryRow, list[dict[str, Any]]]:
    seeds = config.seeds
    ranked = _rank_stage1(g, seeds[0], done)
    empty: dict[str, float] = {}
    if not ranked:
        row = SummaryRow(
            g.dataset, g.router, g.encoder, "failed", g.stage2, None, {}, g.grid_size, len(g.configs), 0, (),
            None, None, None, None, empty, empty, empty, empty, empty, empty, oracle, None, None, None,
        )  # fmt: skip
        return row, []
    stage2_mean: float | None = None
    if g.stage2:
        candidates = []
        for spec in ranked[: config.top_k]:
            keys = [dataclasses.replace(spec, seed=s).key for s in seeds[1:]]
            if all(k in done for k in keys):
                candidates.append((round(_mean([done[k]["val_acc"] for k in keys]), 12), spec))
            else:
                log.warning(
                    "%s: configuration %s lacks successful stage-2 runs; not eligible", g.router, spec.config_id
                )
        if candidates:
            stage2_mean, chosen = max(candidates, key=lambda c: (c[0], -c[1].config_index))
            used_seeds = tuple(seeds)
        else:
            chosen, used_seeds = ranked[0], (seeds[0],)
    else:
        chosen, used_seeds = ranked[0], (seeds[0],)
    recs = [done[dataclasses.replace(chosen, seed=s).key] for s in used_seeds]
    lams = [lam_key(lam) for lam in config.lams]
    group_keys = {s.key for s in _stage1_specs(g, seeds[0])}
    group_keys |= (
        {dataclasses.replace(s, seed=seed).key for s in ranked[: config.top_k] for seed in seeds[1:]}
        if g.stage2
        else set()
    )
    used = [done[k] for k in sorted(group_keys) if k in done]
    models = sorted({m for r in recs for m in r["call_rate"]["0"]})
    row = SummaryRow(
        dataset=g.dataset,
        router=g.router,
        encoder=g.encoder,
        status="ok",
        stochastic=g.stage2,
        config_id=chosen.config_id,
        params=_jsonable(chosen.params),
        grid_size=g.grid_size,
        n_configs=len(g.configs),
        n_runs=len(used),
        seeds=used_seeds,
        val_acc_mean=_mean([r["val_acc"] for r in recs]),
        stage2_val_acc_mean=stage2_mean,
        test_acc_mean=_mean([r["test_acc"] for r in recs]),
        test_acc_std=_std([r["test_acc"] for r in recs]),
        test_quality_mean={k: _mean([r["test_quality"][k] for r in recs]) for k in lams},
        test_quality_std={k: _std([r["test_quality"][k] for r in recs]) for k in lams},
        test_utility_mean={k: _mean([r["test_utility"][k] for r in recs]) for k in lams},
        test_utility_std={k: _std([r["test_utility"][k] for r in recs]) for k in lams},
        test_cost_mean={k: _mean([r["test_mean_cost"][k] for r in recs]) for k in lams},
        call_rate_mean={m: _mean([r["call_rate"]["0"].get(m, 0.0) for r in recs]) for m in models},
        oracle_test_acc=oracle,
        n_train=recs[0]["n_train"],
        n_val=recs[0]["n_val"],
        n_test=recs[0]["n_test"],
    )
    return row, used


def write_summary(result: SweepResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``summary.json`` and ``summary.parquet`` (one row per dataset × router × encoder), atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    paths = {"json": out / SUMMARY_JSON, "parquet": out / SUMMARY_PARQUET}
    atomic_write_bytes(paths["json"], (json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n").encode())
    flat = []
    for r in result.summary:
        d = r.to_dict()
        row: dict[str, Any] = {k: v for k, v in d.items() if not isinstance(v, (dict, list))}
        row["params_json"] = canonical_json(r.params)
        row["seeds"] = list(r.seeds)
        row["call_rate_json"] = canonical_json(r.call_rate_mean)
        for lam in result.lams:
            k = lam_key(lam)
            row[f"test_quality_mean_lam{k}"] = r.test_quality_mean.get(k)
            row[f"test_quality_std_lam{k}"] = r.test_quality_std.get(k)
            row[f"test_utility_mean_lam{k}"] = r.test_utility_mean.get(k)
            row[f"test_utility_std_lam{k}"] = r.test_utility_std.get(k)
            row[f"test_cost_mean_lam{k}"] = r.test_cost_mean.get(k)
        flat.append(row)
    table = pa.Table.from_pylist(flat) if flat else pa.table({})
    with atomic_write(paths["parquet"]) as fh:
        pq.write_table(table, fh)
    return paths
