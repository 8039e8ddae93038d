"""The leaderboard's values: its rows, each router's decisions, and :class:`Leaderboard` itself.

A :class:`Leaderboard` is what :func:`~routerlab.experiments.evaluate.evaluate` returns and
:func:`~routerlab.experiments.evaluate.load_results` reads back. Its JSON form
(:meth:`Leaderboard.to_dict`, ``leaderboard.json``) and Markdown form (``leaderboard.md``) live here;
the Parquet files of the results directory live in :mod:`routerlab.experiments.evaluate.results`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.data.features.long_text import TruncationReport
from routerlab.data.schema import RoutingData
from routerlab.decisions import CostScale, Decisions
from routerlab.errors import SchemaError
from routerlab.experiments.evaluate.deltas import DELTA_REFERENCE, _delta_cell, delta_note, quality_deltas
from routerlab.experiments.evaluate.seed_protocol import SWEEP_SUMMARY, SeedProtocolRow, _seed_rows, format_mean_std
from routerlab.metrics import core as M
from routerlab.metrics.core import DEFAULT_MISSING, MISSING_MEANING

#: version of ``leaderboard.json``: 2 added ``seed_protocol`` (version 1 files still load)
LEADERBOARD_SCHEMA_VERSION = 2
_LEADERBOARD_VERSIONS = (1, 2)
LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_MD = "leaderboard.md"
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
    """The result of :func:`~routerlab.experiments.evaluate.evaluate`: rows sorted by U(λ) per λ, plus the bounds.

    ``test`` and ``predictions`` (the evaluated queries and each router's decisions) are kept in
    memory for reports; they are not part of :meth:`to_dict` and are written by
    :meth:`save_results` as Parquet files (see :mod:`routerlab.experiments.evaluate.results`).
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
    #: learned routers' seed-protocol figures (:func:`.attach_sweep`), sorted like ``rows``
    seed_protocol: tuple[SeedProtocolRow, ...] = ()
    test: RoutingData | None = field(default=None, repr=False, compare=False)
    predictions: tuple[RouterPredictions, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def on_test(
        cls,
        test: RoutingData,
        *,
        dataset: str,
        split: str,
        cost_scale: tuple[float, float],
        rows: tuple[LeaderboardRow, ...],
        meta: dict[str, Any],
        seed_protocol: tuple[SeedProtocolRow, ...] = (),
        predictions: tuple[RouterPredictions, ...] = (),
    ) -> Leaderboard:
        """The leaderboard of ``test``: its size, cost unit, oracle quality and ceiling are read off it."""
        return cls(
            dataset=dataset,
            split=split,
            n_queries=test.n_queries,
            n_models=test.n_models,
            cost_unit=test.cost_unit,
            oracle_quality=M.oracle_accuracy_score(Y=test.Y),
            ceiling=M.ceiling_score(Y=test.Y),
            cost_scale=cost_scale,
            rows=rows,
            meta=meta,
            seed_protocol=seed_protocol,
            test=test,
            predictions=predictions,
        )

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
        """``router``'s saved decisions on the test queries, to choose from at any λ (:mod:`.results`).

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
        (:func:`.attach_sweep`) join the table, sorted by U(λ) with the others, with a "figures" column
        that tells a single test fit from a mean ± std over seeds.
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
        if self.meta.get("encoder_truncation"):  # what the learned routers' features never saw
            lines += ["", TruncationReport.from_dict(self.meta["encoder_truncation"]).sentence()]
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
        See :mod:`.results` for the format; :func:`.load_results` reads it back.
        """
        # results.py reads a Leaderboard back (load_results), so it is imported here, not at module level
        from routerlab.experiments.evaluate.results import save_results

        return save_results(self, out_dir, leaderboard=leaderboard)


def _opt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"
