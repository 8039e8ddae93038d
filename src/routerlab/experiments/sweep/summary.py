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
from routerlab.experiments.sweep.keys import SAMPLE_SEED, _jsonable, canonical_json, config_id, lam_key
from routerlab.experiments.sweep.records import SCHEMA_VERSION
from routerlab.experiments.sweep.stages import (
    _cv_stage1_specs,
    _CvScore,
    _Group,
    _rank_cv,
    _rank_stage1,
    _refit_specs,
    _stage1_specs,
)

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
    #: cross-validated selection only (see :func:`_cv_summary`): folds, the selected configuration's
    #: held-out accuracy per fold with mean and std, and every configuration's; None under "val"
    cv: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (no ``cv`` key under the paper's protocol: its summary is unchanged)."""
        out = dataclasses.asdict(self)
        out["seeds"] = list(self.seeds)
        if self.cv is None:
            del out["cv"]
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
    cv_folds: int | None = None  # the number of folds of cross-validated selection; None: selected on val
    #: dataset key -> what the variant is (base ``name``, ``train_fraction``, ``dedupe``) for every dataset
    #: entry with a label, a training fraction or de-duplication; None when the sweep has none
    variants: dict[str, dict[str, Any]] | None = None
    #: dataset -> encoder -> how many query texts the encoder cut (its tokenizer's window); None when no
    #: encoder of the sweep has a window (hashing) or only features passed in were used
    truncation: dict[str, dict[str, dict[str, Any]]] | None = None

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
        protocol: dict[str, Any] = {"std_ddof": STD_DDOF, "sample_seed": SAMPLE_SEED, "lams": list(self.lams)}
        if self.cv_folds is not None:
            protocol |= {"selection": "cv", "cv_folds": self.cv_folds}
        doc = {"schema_version": SCHEMA_VERSION, "protocol": protocol, "rows": [r.to_dict() for r in self.summary]}
        if self.variants:  # absent otherwise: the summary of a sweep without variants is unchanged
            doc["variants"] = self.variants
        if self.truncation:
            doc["truncation"] = self.truncation
        return doc

    def to_markdown(self) -> str:
        """One Markdown table: selected params, mean ± std test accuracy and mean U(λ) per λ."""
        lams = [lam_key(lam) for lam in self.lams]
        cv = self.cv_folds is not None
        head = ["dataset", "router", "encoder", "params", "seeds", *(["cv score"] if cv else []), "test acc"]
        head += [f"U({k})" for k in lams]
        lines = [
            "# Sweep summary",
            "",
            f"Mean ± std (ddof = {STD_DDOF}) over the seeds of the selected configuration; deterministic routers "
            "report one run.",
            *(
                [
                    f"Selected by {self.cv_folds}-fold cross-validation on train ∪ val (cv score: held-out accuracy, "
                    "mean ± std over folds) and refitted on train ∪ val; test played no part in the selection."
                ]
                if cv
                else []
            ),
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * 5 + "---:|" * (1 + len(lams) + cv),
        ]
        for r in self.summary:
            params = ", ".join(f"{k}={v}" for k, v in r.params.items()) or "defaults"
            score = [cv_score(r)] if cv else []
            if r.status != "ok" or r.test_acc_mean is None:
                cells = score + ["failed"] * (1 + len(lams))
            else:
                cells = [*score, _pm(r.test_acc_mean, r.test_acc_std, len(r.seeds))]
                cells += [_pm(r.test_utility_mean[k], r.test_utility_std[k], len(r.seeds)) for k in lams]
            lines.append(
                f"| {r.dataset} | {r.router} | {r.encoder} | {params} | {len(r.seeds)} | " + " | ".join(cells) + " |"
            )
        return "\n".join(lines) + "\n"


def cv_score(row: SummaryRow) -> str:
    """The selection score of a cross-validated row as ``mean ± std`` over folds ("-" without one)."""
    if row.cv is None or row.cv.get("score_mean") is None:
        return "-"
    return f"{row.cv['score_mean']:.4f} ± {row.cv['score_std']:.4f}"


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
    if not ranked:
        return _failed_row(g, oracle), []
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
    group_keys = {s.key for s in _stage1_specs(g, seeds[0])}
    group_keys |= (
        {dataclasses.replace(s, seed=seed).key for s in ranked[: config.top_k] for seed in seeds[1:]}
        if g.stage2
        else set()
    )
    used = [done[k] for k in sorted(group_keys) if k in done]
    row = _row(g, config, chosen.config_id, chosen.params, recs, len(used), oracle)
    row = dataclasses.replace(row, val_acc_mean=_mean([r["val_acc"] for r in recs]), stage2_val_acc_mean=stage2_mean)
    return row, used


def _failed_row(g: _Group, oracle: float, cv: dict[str, Any] | None = None) -> SummaryRow:
    empty: dict[str, float] = {}
    return SummaryRow(
        g.dataset, g.router, g.encoder, "failed", g.stage2, None, {}, g.grid_size, len(g.configs), 0, (),
        None, None, None, None, empty, empty, empty, empty, empty, empty, oracle, None, None, None, cv,
    )  # fmt: skip


def _row(
    g: _Group,
    config: SweepConfig,
    cid: str,
    params: Mapping[str, Any],
    recs: Sequence[Mapping[str, Any]],
    n_runs: int,
    oracle: float,
) -> SummaryRow:
    """The headline row of the selected configuration from its test records ``recs`` (one per seed)."""
    lams = [lam_key(lam) for lam in config.lams]
    models = sorted({m for r in recs for m in r["call_rate"]["0"]})
    return SummaryRow(
        dataset=g.dataset,
        router=g.router,
        encoder=g.encoder,
        status="ok",
        stochastic=g.stage2,
        config_id=cid,
        params=_jsonable(dict(params)),
        grid_size=g.grid_size,
        n_configs=len(g.configs),
        n_runs=n_runs,
        seeds=tuple(int(r["seed"]) for r in recs),
        val_acc_mean=None,
        stage2_val_acc_mean=None,
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


def _cv_summary(config: SweepConfig, ranked: Sequence[_CvScore], fold_sizes: Sequence[int]) -> dict[str, Any]:
    """The ``cv`` entry of a cross-validated row: the selected configuration's fold scores first."""
    best = ranked[0]
    return {
        "n_folds": config.cv_folds,
        "seed": config.seeds[0],
        "fold_sizes": list(fold_sizes),  # held-out queries scored per fold
        "fold_scores": list(best.fold_scores),  # the selected configuration's held-out accuracy per fold
        "score_mean": best.mean,
        "score_std": _std(best.fold_scores),  # ddof = STD_DDOF, across folds
        "configs": [
            {
                "config_id": config_id(c.params),
                "params": _jsonable(c.params),
                "score_mean": c.mean,
                "score_std": _std(c.fold_scores),
            }
            for c in ranked
        ],
    }


def _summarise_cv(
    g: _Group, config: SweepConfig, done: Mapping[str, dict[str, Any]], oracle: float
) -> tuple[SummaryRow, list[dict[str, Any]]]:
    """The row of cross-validated selection: best mean held-out accuracy over folds, test of its refit on train ∪ val.

    The test figures are mean ± std over the refit's seeds (all seeds for a stochastic router, one
    otherwise); ``val_acc_mean`` is the selection score (mean held-out accuracy over the folds) and
    ``n_val`` the number of held-out queries it is over (every answered query of train ∪ val once).
    """
    ranked = _rank_cv(g, config, done)
    if not ranked:
        return _failed_row(g, oracle), []
    folds = [s for s in _cv_stage1_specs(g, config) if s.config_index == ranked[0].config_index]
    sizes = [int(done[s.key]["n_val"]) for s in folds]
    refit = _refit_specs(g, config, done)
    recs = [done[s.key] for s in refit if s.key in done]
    keys = {s.key for s in _cv_stage1_specs(g, config)} | {s.key for s in refit}
    used = [done[k] for k in sorted(keys) if k in done]
    cv = _cv_summary(config, ranked, sizes)
    if not recs:
        log.warning("%s: every refit of the selected configuration failed; no test figures", g.router)
        return _failed_row(g, oracle, cv), used
    row = _row(g, config, refit[0].config_id, ranked[0].params, recs, len(used), oracle)
    return dataclasses.replace(row, val_acc_mean=ranked[0].mean, n_val=sum(sizes), cv=cv), used


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
        if r.cv is not None:  # cross-validated selection: the selection score and its spread over folds
            row["cv_score_mean"], row["cv_score_std"] = r.cv.get("score_mean"), r.cv.get("score_std")
            row["cv_fold_scores"] = list(r.cv.get("fold_scores") or [])
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
