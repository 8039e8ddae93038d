"""Fit routers on a benchmark's training split and score them on its test split: the leaderboard.

Protocol: every router is fitted once on the training split, then routes each test query by the
shared policy at each requested λ (`routing-plateau.txt` (arXiv:2606.07587) App. E: the cost-utility sweep is applied
post hoc to the same predictions). Routers see ``test.without_outcomes()``; only the oracle reads
the labels.

Missing outcomes follow the one policy of :mod:`routerlab.metrics.core` (``missing=``, default
``"reroute"``): under ``"reroute"`` a model with no recorded outcome on a query is not offered for
it (``available = observed``); under ``"zero"``/``"skip"``/``"error"`` the router chooses freely
and the metrics count, drop or refuse the choices that land on a missing cell. Either way every
decision the router *wanted* to make on a cell with no outcome is counted per router and λ
(:attr:`LeaderboardRow.missing_outcomes`), logged as a warning, and recorded in ``meta["missing"]``
(``{"policy", "meaning", "decisions": {router: {λ: count}}, "warnings": [...]}``), which
``leaderboard.json`` and ``predictions.parquet`` keep. On fully covered data nothing changes.

Besides the figures, :func:`evaluate` keeps what each router decided (:class:`RouterPredictions`:
its test choice at every λ, its ``predict_scores`` and the cost estimates its policy used), so a
report can recompute any curve or confidence interval later without refitting.

The results directory
---------------------
:meth:`Leaderboard.save_results` writes, and :func:`load_results` reads back, a folder
(``schema_version`` 1):

``test.parquet``
    the evaluated queries: the test split without the queries nobody answered, as a
    :class:`~routerlab.data.schema.RoutingData` (outcomes ``Y``, ``cost``, model names, query ids,
    sources, categories, texts), read with :func:`routerlab.data.read_parquet`.
``predictions.parquet``
    one row per (router, test query), in ``test.parquet``'s query order, routers in evaluation
    order. Columns: ``router``, ``query_id``; ``choice@<λ>`` for every evaluated λ (the chosen
    model's *name*; ``<λ>`` is :func:`routerlab.decisions.lam_key`, e.g. ``choice@0``, ``choice@0.5``;
    files written with ``choice@0.0`` still load);
    ``score:<model>`` for every model (the router's ``predict_scores``; null when the router has
    none); ``cost_estimate:<model>`` (the per-call cost its policy traded off: the mean training
    cost for learned routers and baselines, the true cost for the oracle). The file's key-value
    metadata ``routerlab`` holds ``{"schema_version": 1, "dataset", "split", "cost_scale": [lo,
    hi], "meta": {"train_splits", "n_train"}, "lams": [...], "models": [...], "routers": [{"name",
    "params", "needs_outcomes", "has_scores", "encoder"}, ...]}`` (``encoder``: the identity of the
    encoder whose features the router read, or null).
``leaderboard.json`` / ``leaderboard.md``
    the figures of the routers the caller reports (:meth:`Leaderboard.to_dict`, by default all),
    for people and diffs, and the seed-protocol figures of learned routers when
    :func:`attach_sweep` added them (``seed_protocol``; ``schema_version`` 2, files of version 1
    still load). :func:`load_results` recomputes every row from the two Parquet files and takes the
    seed-protocol rows from ``leaderboard.json``.

Re-selecting with the shared policy, ``board.decisions(router).choose(lam=λ)`` (the saved scores
and cost estimates as a :class:`~routerlab.decisions.Decisions`, with ``available=test.observed``
under ``missing="reroute"`` and no mask under the other policies), reproduces ``choice@<λ>``
exactly, at any λ: a report can trace curves at λ values that were never evaluated.

``routerlab evaluate --out DIR`` writes this folder. Learned routers (``--router knn,...``) run
the seed protocol (:mod:`routerlab.experiments.sweep`, records in ``DIR/sweep/``); the
validation-selected configuration of each is then fitted once more with seed 42 (as in stage 1)
and evaluated here together with the baselines, so ``predictions.parquet`` holds every router.
``leaderboard.json``/``.md`` then list the baselines by their test figures and the learned routers
by their seed-protocol figures (:class:`SeedProtocolRow`: quality and U(λ) as mean ± std over the
seeds of the validation-selected configuration, ddof 0; mean cost; gap and CNA of the mean
quality), copied by :func:`attach_sweep` from the sweep summary (``DIR/sweep/summary.json``), so the
saved leaderboard holds every router the printed table shows.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from routerlab._files import atomic_write
from routerlab.data.features.value import Features
from routerlab.data.io import write_parquet
from routerlab.data.schema import RoutingData
from routerlab.decisions import CostScale, Decisions, lam_key, policy_for
from routerlab.errors import DataNotFoundError, SchemaError
from routerlab.metrics import core as M
from routerlab.metrics.core import DEFAULT_MISSING, MISSING_MEANING, MissingPolicy, check_missing_policy
from routerlab.routers import BASELINES, Router, clone, describe, make_router
from routerlab.routers.pipeline import FeatureRouter

log = logging.getLogger(__name__)

#: version of ``predictions.parquet``'s metadata
RESULTS_SCHEMA_VERSION = 1
#: version of ``leaderboard.json``: 2 added ``seed_protocol`` (version 1 files still load)
LEADERBOARD_SCHEMA_VERSION = 2
_LEADERBOARD_VERSIONS = (1, 2)
#: where ``routerlab evaluate --out DIR`` keeps the sweep summary the seed-protocol rows come from
SWEEP_SUMMARY = "sweep/summary.json"
LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_MD = "leaderboard.md"
TEST_PARQUET = "test.parquet"
PREDICTIONS_PARQUET = "predictions.parquet"
_META_KEY = b"routerlab"
_IN_MEMORY = ("test", "predictions")  # Leaderboard fields that live in the Parquet files, not in the JSON


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """One router's figures at one λ on the evaluation split."""

    router: str
    params: dict[str, Any]
    lam: float
    quality: float
    mean_cost: float
    utility: float
    oracle_gap: float
    cna: float
    call_rate: dict[str, float]
    #: decisions the router made (or, under missing="reroute", wanted to make) on a cell with no outcome
    missing_outcomes: int = 0


@dataclass(frozen=True, slots=True)
class SeedProtocolRow:
    """A learned router's seed-protocol figures at one λ (from the sweep summary, see :func:`attach_sweep`).

    ``quality`` and ``utility`` are means over ``seeds`` (the seeds of the validation-selected
    configuration) with their standard deviations (ddof 0; None with one seed), ``mean_cost`` the
    mean cost, ``oracle_gap``/``cna`` those of the mean quality against the oracle of the sweep's
    test split. ``status`` is ``"failed"`` (every figure None) when every run of the router failed.
    """

    router: str
    encoder: str
    lam: float
    status: str
    params: dict[str, Any]
    seeds: tuple[int, ...]
    quality: float | None
    quality_std: float | None
    mean_cost: float | None
    utility: float | None
    utility_std: float | None
    oracle_gap: float | None
    cna: float | None

    @property
    def label(self) -> str:
        """The router's name as tables show it: ``knn (minilm)``, or the name alone without an encoder."""
        return self.router if self.encoder in ("", "none") else f"{self.router} ({self.encoder})"

    @property
    def n_seeds(self) -> int:
        """How many seeds the mean ± std are over."""
        return len(self.seeds)


@dataclass(frozen=True, slots=True, eq=False)
class RouterPredictions:
    """What one router decided on the test queries (rows aligned with :attr:`Leaderboard.test`).

    ``choices`` maps each evaluated λ to the chosen model column per query; ``scores`` is the
    router's ``predict_scores`` (None when it exposes none) and ``cost_estimate`` the per-call
    cost its policy traded off, both (n_queries, n_models). Arrays are read-only.
    """

    router: str
    params: dict[str, Any]
    needs_outcomes: bool
    choices: Mapping[float, np.ndarray]
    scores: np.ndarray | None
    cost_estimate: np.ndarray | None
    #: identity of the encoder whose features the router read (None for text-free routers)
    encoder: str | None = None

    def __post_init__(self) -> None:
        choices = {float(lam): np.asarray(c, dtype=np.intp) for lam, c in self.choices.items()}
        for arr in choices.values():
            arr.setflags(write=False)
        object.__setattr__(self, "choices", choices)
        for name in ("scores", "cost_estimate"):
            value = getattr(self, name)
            if value is not None:
                arr = np.array(value, dtype=np.float64)
                arr.setflags(write=False)
                object.__setattr__(self, name, arr)

    def choice(self, lam: float = 0.0) -> np.ndarray:
        """The chosen model column per test query at ``lam``."""
        try:
            return self.choices[float(lam)]
        except KeyError:
            raise KeyError(
                f"{self.router!r} was not evaluated at lambda={lam}; its lambdas are {sorted(self.choices)}."
            ) from None


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """The result of :func:`evaluate`: rows sorted by U(λ) within each λ, plus the bounds.

    ``test`` and ``predictions`` (the evaluated queries and each router's decisions) are kept in
    memory for reports; they are not part of :meth:`to_dict` and are written by
    :meth:`save_results` as Parquet files (see the module doc).
    """

    dataset: str
    split: str
    n_queries: int
    n_models: int
    cost_unit: str
    oracle_quality: float
    ceiling: float
    cost_scale: tuple[float, float]
    rows: tuple[LeaderboardRow, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    #: learned routers' seed-protocol figures (:func:`attach_sweep`), sorted like ``rows``
    seed_protocol: tuple[SeedProtocolRow, ...] = ()
    test: RoutingData | None = field(default=None, repr=False, compare=False)
    predictions: tuple[RouterPredictions, ...] = field(default=(), repr=False, compare=False)

    def at(self, lam: float) -> list[LeaderboardRow]:
        """The rows at λ = ``lam``, best first."""
        return [r for r in self.rows if r.lam == lam]

    def row(self, router: str, lam: float = 0.0) -> LeaderboardRow:
        """The row of ``router`` at ``lam``."""
        for r in self.rows:
            if r.router == router and r.lam == lam:
                return r
        raise KeyError(
            f"No row for router {router!r} at lambda={lam}; routers: {sorted({r.router for r in self.rows})}."
        )

    @property
    def lams(self) -> list[float]:
        """The evaluated λ values, ascending."""
        return sorted({r.lam for r in self.rows})

    def prediction(self, router: str) -> RouterPredictions:
        """The decisions of ``router`` on the test queries."""
        for p in self.predictions:
            if p.router == router:
                return p
        raise KeyError(
            f"No predictions for router {router!r}; routers with predictions: {[p.router for p in self.predictions]}."
        )

    def decisions(self, router: str) -> Decisions:
        """``router``'s saved decisions on the test queries, to choose from at any λ (module doc).

        Offered the observed cells under ``missing="reroute"`` (the default), every cell otherwise:
        ``decisions(router).choose(lam=λ)`` equals ``prediction(router).choice(λ)`` at an evaluated λ.
        """
        p = self.prediction(router)
        if self.test is None or p.scores is None or p.cost_estimate is None:
            raise SchemaError(
                f"The results hold no scores or cost estimates for {router!r} (or no test queries), so it cannot be "
                "re-routed at another λ; evaluate it again (`routerlab evaluate --out DIR`)."
            )
        reroute = self.meta.get("missing", {}).get("policy", DEFAULT_MISSING) == "reroute"
        return Decisions(
            router=router,
            params=p.params,
            model_names=tuple(self.test.model_names),
            query_ids=self.test.query_ids,
            scores=p.scores,
            cost_estimate=p.cost_estimate,
            scale=CostScale(*self.cost_scale),
            needs_outcomes=p.needs_outcomes,
            encoder=p.encoder,
            available=self.test.observed if reroute else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the in-memory ``test`` and ``predictions``)."""
        out: dict[str, Any] = {"schema_version": LEADERBOARD_SCHEMA_VERSION}
        for f in fields(self):
            if f.name in _IN_MEMORY:
                continue
            value = getattr(self, f.name)
            if f.name in ("rows", "seed_protocol"):
                out[f.name] = [asdict(r) for r in value]
            else:
                out[f.name] = copy.deepcopy(value)
        for r in out["seed_protocol"]:
            r["seeds"] = list(r["seeds"])
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Leaderboard:
        """Rebuild a leaderboard written by :meth:`to_dict` (without predictions); reads versions 1 and 2."""
        version = d.get("schema_version")
        if version not in _LEADERBOARD_VERSIONS:
            raise SchemaError(
                f"Leaderboard schema_version {version!r} is not supported (this routerlab reads "
                f"{', '.join(map(str, _LEADERBOARD_VERSIONS))}); upgrade routerlab or re-run routerlab evaluate."
            )
        try:
            return cls(
                dataset=d["dataset"],
                split=d["split"],
                n_queries=int(d["n_queries"]),
                n_models=int(d["n_models"]),
                cost_unit=d["cost_unit"],
                oracle_quality=float(d["oracle_quality"]),
                ceiling=float(d["ceiling"]),
                cost_scale=(float(d["cost_scale"][0]), float(d["cost_scale"][1])),
                rows=tuple(LeaderboardRow(**r) for r in d["rows"]),
                meta=dict(d.get("meta", {})),
                seed_protocol=_seed_rows(d.get("seed_protocol", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"Not a leaderboard written by Leaderboard.to_dict(): {exc!r}.") from None

    def to_markdown(self) -> str:
        """A Markdown table per λ (router, quality, cost, U(λ), gap to oracle, CNA).

        When any decision landed on a missing outcome, a "no outcome" column shows how many of each
        router's decisions did, and a line names the policy that counted them. Seed-protocol rows
        (:func:`attach_sweep`) join the table, sorted by U(λ) with the others, with a "figures"
        column that tells a single test fit from a mean ± std over seeds.
        """
        holes = any(r.missing_outcomes for r in self.rows)
        seeded = bool(self.seed_protocol)
        deltas = {lam: quality_deltas(self, lam) for lam in self.lams}
        with_delta = any(deltas.values())
        lines = [
            f"# Leaderboard: {self.dataset} ({self.split}, {self.n_queries} queries, {self.n_models} models)",
            "",
            f"Oracle quality {self.oracle_quality:.4f}; ceiling {self.ceiling:.4f}; cost unit `{self.cost_unit}`.",
        ]
        if holes:
            policy = self.meta.get("missing", {}).get("policy", DEFAULT_MISSING)
            lines += [
                "",
                f"Decisions on a model with no outcome for the query count under missing={policy!r}: "
                f"{MISSING_MEANING.get(policy, policy)}.",
            ]
        if seeded:
            info = self.meta.get("seed_protocol", {})
            source = info.get("source", SWEEP_SUMMARY)
            lines += [
                "",
                "Rows marked *seed protocol* are learned routers: the configuration selected on validation, "
                f"quality and U(λ) as mean ± std (ddof {info.get('std_ddof', 0)}) over its seeds on the test split, "
                f"gap and CNA of the mean quality; from `{source}` (the report's Seed protocol section). "
                "Other rows are one fit scored on this test split.",
            ]
        if with_delta:
            lines += ["", delta_note(self.n_queries)]
        for lam in sorted({r.lam for r in self.rows} | {s.lam for s in self.seed_protocol}):
            extra = (" no outcome |", "---:|") if holes else ("", "")
            if seeded:
                extra = (extra[0] + " figures |", extra[1] + "---|")
            if with_delta:
                extra = (extra[0] + f" Δ quality vs {DELTA_REFERENCE} [95 % CI] |", extra[1] + "---:|")
            at = deltas.get(lam, {})
            lines += [
                "",
                f"## λ = {lam:g}",
                "",
                f"| router | quality | mean cost | U(λ) | gap to oracle | CNA |{extra[0]}",
                f"|---|---:|---:|---:|---:|---:|{extra[1]}",
            ]
            entries: list[tuple[float, float, str, str]] = []
            for r in self.at(lam):
                hole = f" {r.missing_outcomes}/{self.n_queries} |" if holes else ""
                kind = " single fit |" if seeded else ""
                line = (
                    f"| {r.router} | {r.quality:.4f} | {r.mean_cost:.6g} | {r.utility:.4f} "
                    f"| {r.oracle_gap:.4f} | {r.cna:.4f} |{hole}{kind}{_delta_cell(at, r.router, with_delta)}"
                )
                entries.append((r.utility, r.mean_cost, r.router, line))
            for s in self.seed_protocol:
                if s.lam != lam:
                    continue
                hole = " – |" if holes else ""
                kind = f" seed protocol, {s.n_seeds} seed{'s' if s.n_seeds != 1 else ''} |"
                if s.status != "ok" or s.quality is None or s.utility is None or s.mean_cost is None:
                    line = f"| {s.label} | failed | – | – | – | – |{hole} seed protocol |{' – |' if with_delta else ''}"
                    entries.append((-np.inf, np.inf, s.label, line))
                    continue
                line = (
                    f"| {s.label} | {format_mean_std(s.quality, s.quality_std, s.n_seeds)} | {s.mean_cost:.6g} "
                    f"| {format_mean_std(s.utility, s.utility_std, s.n_seeds)} | {_opt(s.oracle_gap)} | {_opt(s.cna)} "
                    f"|{hole}{kind}{_delta_cell(at, s.router, with_delta)}"
                )
                entries.append((s.utility, s.mean_cost, s.label, line))
            # the order of the printed table: U(λ) best first, then cheaper, then by name
            lines += [e[3] for e in sorted(entries, key=lambda e: (-e[0], e[1], e[2]))]
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``leaderboard.json`` and ``leaderboard.md`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / LEADERBOARD_JSON, "markdown": out / LEADERBOARD_MD}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        paths["markdown"].write_text(self.to_markdown())
        return paths

    def select(self, routers: Sequence[str]) -> Leaderboard:
        """The same leaderboard restricted to ``routers`` (rows and predictions).

        The seed-protocol rows stay, and so do their routers' decisions, which their Δ column uses.
        """
        keep = set(routers)
        unknown = sorted(keep - {r.router for r in self.rows})
        if unknown:
            raise KeyError(f"No router(s) {unknown} here; routers: {sorted({r.router for r in self.rows})}.")
        decided = keep | {s.router for s in self.seed_protocol}
        return dataclasses.replace(
            self,
            rows=tuple(r for r in self.rows if r.router in keep),
            predictions=tuple(p for p in self.predictions if p.router in decided),
        )

    def save_results(self, out_dir: str | Path, *, leaderboard: Sequence[str] | None = None) -> dict[str, Path]:
        """Write the results directory: ``test.parquet``, ``predictions.parquet`` and :meth:`save`'s files.

        ``leaderboard`` names the routers whose rows go into ``leaderboard.json``/``.md`` (default:
        all; an empty list writes neither file). ``predictions.parquet`` always holds every router.
        See the module doc for the format; :func:`load_results` reads it back.
        """
        if self.test is None or not self.predictions:
            raise SchemaError(
                "This leaderboard carries no predictions (it was not produced by evaluate(), or was read from "
                "leaderboard.json alone); call evaluate() again and save that result."
            )
        names = [p.router for p in self.predictions]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SchemaError(
                f"Router name(s) {dup} appear more than once; predictions are stored by router name. "
                "Evaluate each configuration in its own run, or give the routers distinct names."
            )
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"test": write_parquet(self.test, out / TEST_PARQUET)}
        paths["predictions"] = _write_predictions(self, out / PREDICTIONS_PARQUET)
        if leaderboard is None or leaderboard:
            paths.update((self if leaderboard is None else self.select(leaderboard)).save(out))
        return paths


#: the router every row is compared with in the Δ column of the printed and Markdown tables
DELTA_REFERENCE = "best_single"
DELTA_RESAMPLES = 1000


@dataclass(frozen=True, slots=True)
class QualityDelta:
    """``quality(router) − quality(reference)`` on the same test queries, with its paired-bootstrap CI."""

    router: str
    reference: str
    lam: float
    delta: float
    low: float
    high: float
    n_queries: int

    @property
    def significant(self) -> bool:
        """Whether the CI excludes 0 (the difference is real at its level)."""
        return self.low > 0 or self.high < 0

    def cell(self) -> str:
        """``+0.0243 [+0.0100, +0.0390]``; an asterisk marks a CI that excludes 0."""
        mark = "*" if self.significant else ""
        return f"{self.delta:+.4f} [{self.low:+.4f}, {self.high:+.4f}]{mark}"

    def short(self) -> str:
        """In percentage points with the CI's half-width, for narrow terminals: ``+2.4 ± 1.3*``."""
        mark = "*" if self.significant else ""
        return f"{100 * self.delta:+.1f} ± {50 * (self.high - self.low):.1f}{mark}"


def delta_note(n_queries: int) -> str:
    """The sentence that explains the Δ column (Markdown and the CLI alike)."""
    return (
        f"Δ quality vs {DELTA_REFERENCE}: paired bootstrap over the {n_queries} test queries ({DELTA_RESAMPLES} "
        "resamples, seed 0) on the decisions saved in predictions.parquet (a learned router: its selected "
        "configuration fitted at seed 42); * marks a 95 % CI that excludes 0."
    )


def _delta_cell(deltas: Mapping[str, QualityDelta], router: str, shown: bool) -> str:
    if not shown:
        return ""
    d = deltas.get(router)
    return f" {d.cell()} |" if d is not None else " – |"


def _per_query_quality(test: RoutingData, choice: np.ndarray, policy: str) -> np.ndarray:
    """Each test query's counted quality under ``policy``; NaN for a query ``skip`` leaves out."""
    counted = M.chosen_outcomes(Y=test.Y, choice=choice, missing=policy)
    out = np.full(test.n_queries, np.nan)
    out[counted.rows] = counted.quality
    return out


def quality_deltas(
    board: Leaderboard,
    lam: float,
    *,
    reference: str = DELTA_REFERENCE,
    n_resamples: int = DELTA_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, QualityDelta]:
    """Every router's quality minus ``reference``'s, per router, with a 95 % paired-bootstrap CI over queries.

    The pairs are the decisions the board holds (``predictions``; a learned router's are those of
    its selected configuration fitted once at seed 42), scored under the board's missing policy; a
    query that ``skip`` leaves out for either router leaves the pair. The test is the one of
    `rethinking-router-evaluation.txt` ("Who Routes the Router") App. F
    "Statistical Testing": paired bootstrap resampling of test queries, a difference significant
    when its 95 % CI excludes zero, here applied to mean quality at one λ. Empty when the board
    holds no test queries or no decisions of ``reference``.
    """
    from routerlab.metrics.bootstrap import paired_difference_ci

    if board.test is None or reference not in {p.router for p in board.predictions}:
        return {}
    policy = str(board.meta.get("missing", {}).get("policy", DEFAULT_MISSING))
    base = _per_query_quality(board.test, board.prediction(reference).choice(lam), policy)
    out: dict[str, QualityDelta] = {}
    for p in board.predictions:
        if p.router == reference or float(lam) not in p.choices:
            continue
        mine = _per_query_quality(board.test, p.choice(lam), policy)
        both = np.isfinite(mine) & np.isfinite(base)
        if not both.any():
            continue
        ci = paired_difference_ci(mine[both], base[both], n_resamples=n_resamples, seed=seed, level=level)
        out[p.router] = QualityDelta(p.router, reference, float(lam), ci.estimate, ci.low, ci.high, int(both.sum()))
    return out


def format_mean_std(mean: float, std: float | None, n: int) -> str:
    """``mean ± std`` over ``n`` seeds as the leaderboards show it; the mean alone for one seed or no std."""
    return f"{mean:.4f} ± {std:.4f}" if n > 1 and std is not None else f"{mean:.4f}"


def _opt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _count_at(counts: Mapping[str, Any], lam: float) -> int:
    """A per-λ count from ``meta.missing.decisions``, keyed by :func:`lam_key` (or ``repr`` in older files)."""
    return int(counts.get(lam_key(lam), counts.get(repr(float(lam)), 0)))


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _seed_rows(raw: Any) -> tuple[SeedProtocolRow, ...]:
    """Seed-protocol rows from their JSON form (``leaderboard.json``'s ``seed_protocol``)."""
    if not isinstance(raw, list):
        raise TypeError(f"seed_protocol must be a list of rows, not {type(raw).__name__}")
    out = []
    for r in raw:
        out.append(
            SeedProtocolRow(
                router=str(r["router"]),
                encoder=str(r["encoder"]),
                lam=float(r["lam"]),
                status=str(r["status"]),
                params=dict(r.get("params") or {}),
                seeds=tuple(int(x) for x in r.get("seeds") or ()),
                quality=_opt_float(r.get("quality")),
                quality_std=_opt_float(r.get("quality_std")),
                mean_cost=_opt_float(r.get("mean_cost")),
                utility=_opt_float(r.get("utility")),
                utility_std=_opt_float(r.get("utility_std")),
                oracle_gap=_opt_float(r.get("oracle_gap")),
                cna=_opt_float(r.get("cna")),
            )
        )
    return tuple(out)


def attach_sweep(board: Leaderboard, sweep: Any, *, source: str = SWEEP_SUMMARY) -> Leaderboard:
    """``board`` with the seed-protocol figures of the learned routers of ``sweep`` (see the module doc).

    ``sweep`` is a :class:`~routerlab.experiments.sweep.SweepResult` or the content of its
    ``summary.json`` (a dict with ``rows`` and ``protocol``). One :class:`SeedProtocolRow` is made per
    summary row and λ of ``board`` (every summary row: a sweep over one dataset, as ``routerlab
    evaluate`` runs), with the figures ``routerlab evaluate`` prints: quality and U(λ) mean ± std,
    mean cost, gap ``oracle - mean quality`` and CNA ``mean quality / oracle`` against the oracle
    of the sweep's test split; failed routers get a row with status ``"failed"``. ``source`` is
    where the summary is saved, relative to the results directory (recorded in
    ``meta["seed_protocol"]``). The board's own rows and predictions are unchanged; :meth:`save`
    and :meth:`save_results` write the new rows to ``leaderboard.json``/``.md``.
    """
    doc: Mapping[str, Any] = sweep.to_dict() if hasattr(sweep, "to_dict") else sweep
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rows"), list):
        raise SchemaError(
            f"attach_sweep() needs a SweepResult or the content of a sweep summary.json; got {type(sweep).__name__}."
        )
    protocol = dict(doc.get("protocol") or {})
    lams = board.lams or sorted(float(v) for v in protocol.get("lams", []))
    rows: list[SeedProtocolRow] = []
    for r in doc["rows"]:
        oracle = _opt_float(r.get("oracle_test_acc"))
        for lam in lams:
            k = lam_key(lam)
            mean = _opt_float((r.get("test_quality_mean") or {}).get(k))
            ok = r.get("status") == "ok" and oracle is not None and mean is not None
            q = mean if ok else None
            rows.append(
                SeedProtocolRow(
                    router=str(r["router"]),
                    encoder=str(r.get("encoder", "none")),
                    lam=float(lam),
                    status="ok" if ok else "failed",
                    params=dict(r.get("params") or {}),
                    seeds=tuple(int(x) for x in r.get("seeds") or ()),
                    quality=q,
                    quality_std=_opt_float((r.get("test_quality_std") or {}).get(k)) if ok else None,
                    mean_cost=_opt_float((r.get("test_cost_mean") or {}).get(k)) if ok else None,
                    utility=_opt_float((r.get("test_utility_mean") or {}).get(k)) if ok else None,
                    utility_std=_opt_float((r.get("test_utility_std") or {}).get(k)) if ok else None,
                    oracle_gap=oracle - q if oracle is not None and q is not None else None,
                    cna=q / oracle if oracle and q is not None else None,
                )
            )
    ordered = sorted(
        rows,
        key=lambda s: (s.lam, -(s.utility if s.utility is not None else -np.inf), s.mean_cost or 0.0, s.label),
    )
    meta = dict(board.meta)
    meta["seed_protocol"] = {
        "source": source,
        "std_ddof": protocol.get("std_ddof", 0),
        "sample_seed": protocol.get("sample_seed"),
        "summary_schema_version": doc.get("schema_version"),
        "meaning": "validation-selected configuration; test quality and U(λ) as mean ± std over its seeds",
    }
    return dataclasses.replace(board, seed_protocol=tuple(ordered), meta=meta)


def _choice_column(lam: float) -> str:
    return f"choice@{lam_key(lam)}"


def _old_choice_column(lam: float) -> str:
    """The column name of files written before λ had one encoding (``choice@0.0``)."""
    return f"choice@{float(lam)!r}"


def _write_predictions(board: Leaderboard, path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert board.test is not None
    test = board.test
    models = list(test.model_names)
    lams = board.lams
    n = test.n_queries
    names = np.array(models, dtype=object)
    columns: dict[str, list[Any]] = {"router": [], "query_id": []}
    columns.update({_choice_column(lam): [] for lam in lams})
    for prefix in ("score:", "cost_estimate:"):
        columns.update({prefix + m: [] for m in models})
    for p in board.predictions:
        columns["router"].append(pa.array([p.router] * n, type=pa.string()))
        columns["query_id"].append(pa.array(test.query_ids.tolist(), type=pa.string()))
        for lam in lams:
            columns[_choice_column(lam)].append(pa.array(names[p.choice(lam)].tolist(), type=pa.string()))
        for prefix, matrix in (("score:", p.scores), ("cost_estimate:", p.cost_estimate)):
            for j, m in enumerate(models):
                values = pa.nulls(n, type=pa.float64()) if matrix is None else pa.array(matrix[:, j], pa.float64())
                columns[prefix + m].append(values)
    meta = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "dataset": board.dataset,
        "split": board.split,
        "cost_scale": list(board.cost_scale),
        "meta": board.meta,
        "lams": lams,
        "models": models,
        "routers": [
            {
                "name": p.router,
                "params": p.params,
                "needs_outcomes": p.needs_outcomes,
                "has_scores": p.scores is not None,
                "encoder": p.encoder,
            }
            for p in board.predictions
        ],
    }
    table = pa.table({k: pa.concat_arrays(v) for k, v in columns.items()})
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    with atomic_write(path) as fh:
        pq.write_table(table, fh, compression="zstd")
    return path


def load_results(results_dir: str | Path) -> Leaderboard:
    """Read a results directory written by :meth:`Leaderboard.save_results`, with ``test`` and ``predictions``.

    The rows are recomputed from ``test.parquet`` and ``predictions.parquet`` (so every router that
    has predictions has rows, whichever routers ``leaderboard.json`` lists).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from routerlab.data import read_parquet

    folder = Path(results_dir)
    missing = [f for f in (TEST_PARQUET, PREDICTIONS_PARQUET) if not (folder / f).is_file()]
    if len(missing) == 2 and not (folder / LEADERBOARD_JSON).is_file():
        raise DataNotFoundError(
            f"{str(folder)!r} is not a results directory (no {PREDICTIONS_PARQUET}, {TEST_PARQUET} or "
            f"{LEADERBOARD_JSON}); write one with `routerlab evaluate --out {folder}` (or Leaderboard.save_results)."
        )
    if missing:
        raise SchemaError(
            f"{str(folder)!r} has no {' or '.join(missing)}: it was written by an older routerlab or by "
            f"Leaderboard.save(). Re-run `routerlab evaluate --out {folder}` to write the predictions."
        )
    test = read_parquet(folder / TEST_PARQUET)
    pred_path = folder / PREDICTIONS_PARQUET
    try:
        table = pq.read_table(pred_path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{str(pred_path)!r} is not a readable Parquet file ({exc}).") from None
    try:
        meta = json.loads((table.schema.metadata or {})[_META_KEY])
    except (KeyError, ValueError, RecursionError):
        raise SchemaError(
            f"{str(pred_path)!r} has no routerlab metadata; re-create it with routerlab evaluate."
        ) from None
    if meta.get("schema_version") != RESULTS_SCHEMA_VERSION:
        raise SchemaError(
            f"{str(pred_path)!r} has schema_version {meta.get('schema_version')!r}; this routerlab reads "
            f"version {RESULTS_SCHEMA_VERSION}. Re-run routerlab evaluate."
        )
    lacking = [k for k in ("dataset", "split", "cost_scale", "lams", "models", "routers") if k not in meta]
    if lacking:
        raise SchemaError(
            f"The routerlab metadata of {str(pred_path)!r} lacks {lacking}; re-create it with routerlab evaluate."
        )
    models = list(meta["models"])
    if models != list(test.model_names):
        raise SchemaError(
            f"{str(pred_path)!r} lists models {models} but {TEST_PARQUET} has {test.model_names}; "
            "the two files come from different runs. Re-run routerlab evaluate."
        )
    scale = CostScale(float(meta["cost_scale"][0]), float(meta["cost_scale"][1]))
    index = {m: j for j, m in enumerate(models)}
    routers = table.column("router").to_numpy(zero_copy_only=False).astype(str)
    qids = table.column("query_id").to_numpy(zero_copy_only=False).astype(str)
    run_meta = dict(meta.get("meta", {}))
    record = run_meta.get("missing", {})
    policy = check_missing_policy(str(record.get("policy", DEFAULT_MISSING)))
    counts = record.get("decisions", {})
    predictions, rows = [], []
    for info in meta["routers"]:
        picked = np.flatnonzero(routers == info["name"])
        if not np.array_equal(qids[picked], test.query_ids.astype(str)):
            raise SchemaError(
                f"The predictions of {info['name']!r} in {str(pred_path)!r} do not cover the queries of "
                f"{TEST_PARQUET} in order; the files come from different runs. Re-run routerlab evaluate."
            )
        part = table.take(pa.array(picked))
        choices = {}
        for lam in meta["lams"]:
            column = _choice_column(lam) if _choice_column(lam) in part.column_names else _old_choice_column(lam)
            names = part.column(column).to_pylist()
            choices[float(lam)] = np.array([index[m] for m in names], dtype=np.intp)

        def matrix(prefix: str, part: pa.Table = part) -> np.ndarray | None:
            cols = [part.column(prefix + m) for m in models]
            if all(c.null_count == len(c) for c in cols):
                return None
            return np.column_stack([c.to_numpy(zero_copy_only=False).astype(np.float64) for c in cols])

        pred = RouterPredictions(
            router=info["name"],
            params=dict(info.get("params", {})),
            needs_outcomes=bool(info.get("needs_outcomes", False)),
            encoder=info.get("encoder"),
            choices=choices,
            scores=matrix("score:"),
            cost_estimate=matrix("cost_estimate:"),
        )
        predictions.append(pred)
        rows += [
            _row(
                pred.router,
                pred.params,
                test,
                c,
                lam,
                scale,
                missing=policy,
                n_missing=int(_count_at(counts.get(pred.router, {}), lam)),
            )
            for lam, c in pred.choices.items()
        ]
    seed_protocol, seed_meta = _saved_seed_protocol(folder / LEADERBOARD_JSON)
    run_meta.pop("seed_protocol", None)  # the rows and their description live in leaderboard.json
    if seed_protocol and seed_meta is not None:
        run_meta["seed_protocol"] = seed_meta
    return Leaderboard(
        dataset=str(meta["dataset"]),
        split=str(meta["split"]),
        n_queries=test.n_queries,
        n_models=test.n_models,
        cost_unit=test.cost_unit,
        oracle_quality=M.oracle_accuracy_score(Y=test.Y),
        ceiling=M.ceiling_score(Y=test.Y),
        cost_scale=(scale.lo, scale.hi),
        rows=_sorted(rows),
        meta=run_meta,
        seed_protocol=seed_protocol,
        test=test,
        predictions=tuple(predictions),
    )


def _saved_seed_protocol(path: Path) -> tuple[tuple[SeedProtocolRow, ...], dict[str, Any] | None]:
    """The seed-protocol rows (and their ``meta`` entry) of ``leaderboard.json``; none when it has none.

    The rows of the other routers are recomputed from the Parquet files, so a missing file, a file of
    schema version 1 (which has no seed-protocol rows) or one this routerlab cannot read costs only
    these rows (the last with a warning).
    """
    if not path.is_file():
        return (), None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise TypeError(f"the file holds a {type(doc).__name__}, not an object")
        if doc.get("schema_version") not in _LEADERBOARD_VERSIONS:
            raise ValueError(
                f"schema_version {doc.get('schema_version')!r}; this routerlab reads "
                f"{', '.join(map(str, _LEADERBOARD_VERSIONS))}"
            )
        rows = _seed_rows(doc.get("seed_protocol", []))
        info = (doc.get("meta") or {}).get("seed_protocol")
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        log.warning("%s: seed-protocol rows not read (%s); re-run routerlab evaluate to rewrite it", path, exc)
        return (), None
    return rows, dict(info) if isinstance(info, dict) else None


def _reads_features(router: Router) -> bool:
    return bool(router.requires_features) or isinstance(router, FeatureRouter)


def _as_router(spec: str | Router) -> tuple[str, Router]:
    if isinstance(spec, FeatureRouter):
        return spec.label, clone(spec)  # "knn (hashing)": the encoder is part of the name
    if isinstance(spec, Router):
        return spec.name, clone(spec)  # never refit the caller's object in place
    return spec, make_router(spec)


def _named_routers(routers: Sequence[str | Router]) -> list[tuple[str, Router]]:
    """Each router with a unique leaderboard name: its registered name, or ``name(params)`` when the class repeats."""
    named = [_as_router(spec) for spec in routers]
    counts = Counter(name for name, _ in named)
    out = [(describe(r) if counts[name] > 1 else name, r) for name, r in named]
    seen: set[str] = set()
    for name, _ in out:
        if name in seen:
            raise SchemaError(
                f"Router {name!r} is listed twice with the same parameters; drop one, or change its parameters."
            )
        seen.add(name)
    return out


def evaluate(
    data: RoutingData,
    routers: Sequence[str | Router] = BASELINES,
    *,
    lams: Sequence[float] = (0.0,),
    train_splits: Sequence[str] = ("train",),
    test_split: str = "test",
    features: np.ndarray | Features | None = None,
    encoder: str | None = None,
    missing: str = DEFAULT_MISSING,
) -> Leaderboard:
    """Fit each router on ``train_splits`` and score it on ``test_split`` at each λ in ``lams``.

    ``missing`` is the missing-outcome policy (:mod:`routerlab.metrics.core`): ``"reroute"``
    (default) offers a router only the models with an outcome on each query; ``"zero"``, ``"skip"``
    and ``"error"`` let it choose freely and count, drop or refuse the choices on missing cells.
    Every decision on a cell with no outcome is counted, warned about and recorded (module doc).

    ``features`` (optional) is an (n_queries, d) matrix aligned with ``data``'s rows, or better
    :class:`~routerlab.data.features.Features` (which carry the encoder's identity), passed to
    routers as ``X`` (routers that use no features ignore it; a :class:`~routerlab.routers.FeatureRouter`
    checks the encoder). ``encoder`` (a registered name such as ``"hashing"``) encodes ``data``
    once here instead, when a router needs features. The encoder's identity is recorded with each
    feature-reading router's decisions (``RouterPredictions.encoder``). The result keeps the evaluated
    queries (``test``) and every router's decisions (``predictions``) for reports; write them with
    :meth:`Leaderboard.save_results`.
    """
    if not routers:
        raise ValueError("No routers to evaluate; pass router names such as ['oracle', 'best_single'].")
    policy = check_missing_policy(missing)
    for lam in lams:
        policy_for(lam)  # validates λ before any fitting
    train_mask = np.isin(data.splits, list(train_splits))
    test_mask = data.splits == test_split
    for label, mask, splits in (("training", train_mask, train_splits), ("test", test_mask, [test_split])):
        if not mask.any():
            raise SchemaError(
                f"{data.name!r} has no {label} queries (split {list(splits)}); its splits are {data.split_sizes()}."
            )
    test_rows = np.flatnonzero(test_mask & data.observed.any(axis=1))  # a query nobody answered cannot be scored
    train, test = data.subset(train_mask), data.subset(test_rows)
    named = _named_routers(routers)
    if features is not None and encoder is not None:
        raise ValueError("Give features= (already encoded) or encoder= (encode here), not both.")
    if encoder is not None and any(_reads_features(r) for _, r in named):
        from routerlab.data.features.value import featurize

        features = featurize(data, encoder)  # once, for every router
    feats = features if isinstance(features, Features) else None
    matrix = None if features is None else (feats.matrix if feats is not None else np.asarray(features))
    scale = CostScale.from_costs(train.cost, train.observed)
    rows: list[LeaderboardRow] = []
    predictions: list[RouterPredictions] = []
    decisions: dict[str, dict[str, int]] = {}
    warnings: list[str] = []
    for name, router in named:
        log.info("fitting %s on %d queries", name, train.n_queries)
        X_train: Any = None if matrix is None else matrix[train_mask]
        X_test: Any = None if matrix is None else matrix[test_rows]
        if isinstance(router, FeatureRouter):  # it checks the encoder of what it is given
            X_train = feats.subset(train_mask) if feats is not None else None
            X_test = feats.subset(test_rows) if feats is not None else None
        router.fit(train, X_train)
        decided = router.decide(test, X_test).renamed(name)  # scores and cost estimates, once
        used = decided.encoder or (feats.encoder if feats is not None and router.requires_features else None)
        offered = decided.restricted(test.observed) if policy == "reroute" else decided
        choices: dict[float, np.ndarray] = {}
        for lam in lams:
            wanted = decided.choose(lam=lam)
            hit = int(M.missing_decisions(Y=test.Y, choice=wanted).sum())
            choice = offered.choose(lam=lam) if policy == "reroute" else wanted
            choices[float(lam)] = choice
            decisions.setdefault(name, {})[lam_key(lam)] = hit
            if hit:
                message = (
                    f"{name} routed {hit} of {test.n_queries} test queries (λ={float(lam):g}) to models with no "
                    f"outcome; under missing={policy!r} they are {MISSING_MEANING[policy]}."
                )
                log.warning(message)
                warnings.append(message)
            rows.append(_row(name, _simple_params(router), test, choice, lam, scale, missing=policy, n_missing=hit))
        predictions.append(
            RouterPredictions(
                router=name,
                params=_simple_params(router),
                needs_outcomes=bool(router.needs_outcomes),
                choices=choices,
                scores=decided.scores,
                cost_estimate=decided.cost_estimate,
                encoder=used,
            )
        )
    from routerlab.audit import data_warnings  # the audit imports routers: kept out of module import

    checks = data_warnings(data)  # zero-cost rows with tokens, constant tokens, missing prices, alias names
    for line in checks:
        log.warning(line)
    return Leaderboard(
        dataset=data.name,
        split=test_split,
        n_queries=test.n_queries,
        n_models=test.n_models,
        cost_unit=data.cost_unit,
        oracle_quality=M.oracle_accuracy_score(Y=test.Y),
        ceiling=M.ceiling_score(Y=test.Y),
        cost_scale=(scale.lo, scale.hi),
        rows=_sorted(rows),
        meta={
            "train_splits": list(train_splits),
            "n_train": train.n_queries,
            "data_warnings": checks,
            "missing": {
                "policy": policy,
                "meaning": MISSING_MEANING[policy],
                "decisions": decisions,
                "warnings": warnings,
            },
        },
        test=test,
        predictions=tuple(predictions),
    )


def _simple_params(router: Router) -> dict[str, Any]:
    return {k: v for k, v in router.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))}


def _sorted(rows: Sequence[LeaderboardRow]) -> tuple[LeaderboardRow, ...]:
    """Rows by λ, then U(λ) best first, then cheaper, then by name."""
    return tuple(sorted(rows, key=lambda r: (r.lam, -r.utility, r.mean_cost, r.router)))


def score_choice(
    name: str,
    router: Router,
    test: RoutingData,
    choice: np.ndarray,
    lam: float,
    scale: CostScale,
    *,
    missing: str = DEFAULT_MISSING,
) -> LeaderboardRow:
    """All leaderboard figures of one router's ``choice`` on ``test`` at ``lam`` (cost scaled by ``scale``).

    Choices on cells with no outcome count as ``missing`` says (:mod:`routerlab.metrics.core`).
    """
    hit = int(M.missing_decisions(Y=test.Y, choice=choice).sum())
    return _row(name, _simple_params(router), test, choice, lam, scale, missing=missing, n_missing=hit)


def _row(
    name: str,
    params: dict[str, Any],
    test: RoutingData,
    choice: np.ndarray,
    lam: float,
    scale: CostScale,
    *,
    missing: str,
    n_missing: int,
) -> LeaderboardRow:
    policy: MissingPolicy = check_missing_policy(missing)
    rates = M.call_rate(choice=choice, n_models=test.n_models)
    return LeaderboardRow(
        router=name,
        params=params,
        lam=float(lam),
        quality=M.routing_accuracy_score(Y=test.Y, choice=choice, missing=policy),
        mean_cost=M.mean_cost(cost=test.cost, choice=choice, Y=test.Y, missing=policy),
        utility=M.utility_score(Y=test.Y, cost=test.cost, choice=choice, lam=lam, scale=scale, missing=policy),
        oracle_gap=M.oracle_gap_loss(Y=test.Y, choice=choice, missing=policy),
        cna=M.cna_score(Y=test.Y, choice=choice, missing=policy),
        call_rate={m: float(r) for m, r in zip(test.model_names, rates, strict=True) if r > 0},
        missing_outcomes=n_missing,
    )
