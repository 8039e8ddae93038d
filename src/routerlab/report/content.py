"""Everything a report shows, computed once from a results directory (:func:`build_content`).

The HTML and Markdown renderers only format what is here. Conventions:

* **Bounds.** Routers that read the true outcomes (``needs_outcomes``: the oracle) are upper
  bounds, not competitors: they are listed as "bound", never placed in a tier, and left out of
  the significance matrix, the reliability diagram and the hard/easy split.
* **Confidence intervals.** 95 % percentile intervals from a paired bootstrap over test queries
  (:func:`routerlab.metrics.bootstrap.bootstrap_means`: one set of resampled queries for every
  router, seeded). The leaderboard's U(λ) and quality intervals resample per-query values; the
  deferral AUC interval re-traces every router's hull on each resample
  (`rethinking-router-evaluation.txt` ("Who Routes the Router") App. F: "recompute method AUCs per sample").
* **Tiers.** Within each λ, :meth:`routerlab.metrics.SignificanceTable.tiers` on per-query
  utility: routers within noise of their tier's leader share the tier and are listed
  alphabetically — tied, not ranked.
* **Main λ.** Diagnostics of one operating point (routing share, hard/easy gap, exchanged wins)
  use the smallest evaluated λ (normally 0: quality only).
* **RouterXBench.** A folder holding ``xbench.json`` (:func:`routerlab.experiments.xbench.write_xbench`)
  gets a RouterXBench section: the file's tables as written (their intervals and tiers are the
  benchmark's), and figures of Tab. 1's AUROC and the §6 curve. A folder holding only that file
  gets a report of that section alone (:class:`XBenchContent`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.audit.findings import AuditReport
from routerlab.data.schema import RoutingData
from routerlab.decisions.policy import CostScale
from routerlab.errors import RouterlabError, SchemaError
from routerlab.experiments.cascade import CascadeEvaluation
from routerlab.experiments.evaluate import (
    LEADERBOARD_JSON,
    PREDICTIONS_PARQUET,
    TEST_PARQUET,
    Leaderboard,
    LeaderboardRow,
    RouterPredictions,
    load_results,
)
from routerlab.experiments.xbench import XBENCH_JSON, XBenchResults, read_xbench
from routerlab.metrics import core as M
from routerlab.metrics.bootstrap import Interval, bootstrap_means
from routerlab.metrics.curves import PLATEAU_LAMBDAS, area_under_curve, non_decreasing_hull
from routerlab.metrics.diagnostics import ExchangedWins, exchanged_wins
from routerlab.report._mpl import colour
from routerlab.report.displays import (
    DEFERRAL_LAMBDAS,
    CallRateDisplay,
    DeferralCurveDisplay,
    HardEasyDisplay,
    ReliabilityDisplay,
    RoutingShareDisplay,
    SignificanceDisplay,
    UtilityDisplay,
    XBenchAurocDisplay,
    XBenchScalingDisplay,
    router_choices,
)

log = logging.getLogger(__name__)

LEVEL = 0.95
#: at most this many routers (best first) enter the pairwise exchanged-wins table
MAX_EXCHANGE_ROUTERS = 6


@dataclass(frozen=True, slots=True)
class Entry:
    """One leaderboard line: a router at one λ, with intervals and its tier (None for a bound)."""

    row: LeaderboardRow
    utility: Interval
    quality: Interval
    tier: int | None
    bound: bool


@dataclass(frozen=True, slots=True)
class Spread:
    """How much a learned router's figures move with its training seed and cross-validation fold.

    Read from the seed protocol's ``sweep/summary.json`` (population std, ddof 0): ``quality_sd``
    is the std over ``n_seeds`` seeds of the selected configuration's test quality at each λ;
    ``fold_sd`` the std over ``n_folds`` folds of its held-out accuracy at λ = 0 (the selection
    score of ``selection: cv``), None under the paper's validation split. Shown beside the
    bootstrap CI half-width, which measures only the test sample's noise: a gap smaller than
    the seed sd is a gap between two draws of training, not between two methods.
    """

    n_seeds: int
    stochastic: bool
    quality_sd: dict[float, float]
    n_folds: int | None = None
    fold_sd: float | None = None


@dataclass(frozen=True, slots=True)
class FigureSpec:
    """One figure of the report: its id (also the PNG's name), title, caption and how to draw it."""

    id: str
    title: str
    caption: str
    display: Any
    size: tuple[float, float]
    section: str
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to ``display.plot``


@dataclass(frozen=True, slots=True)
class ReportContent:
    """The numbers and displays of one report (see the module doc)."""

    board: Leaderboard
    main_lam: float
    bounds: tuple[str, ...]
    entries: dict[float, list[Entry]]
    deferral: DeferralCurveDisplay | None
    deferral_auc: dict[str, Interval]
    call_rate: CallRateDisplay | None
    utility: UtilityDisplay
    reliability: ReliabilityDisplay | None
    significance: dict[float, SignificanceDisplay]
    share: RoutingShareDisplay
    hard_easy: HardEasyDisplay | None
    exchanged: list[tuple[str, str, ExchangedWins]]
    audit: AuditReport | None
    sweep: dict[str, Any] | None
    notes: dict[str, list[str]] = field(default_factory=dict)
    query_blind: tuple[str, ...] = ()  # routers whose scores are the same for every query
    colors: dict[str, str] = field(default_factory=dict)  # one colour per router in every figure
    n_resamples: int = 1000
    seed: int = 0
    xbench: XBenchResults | None = None  # the folder's xbench.json, when it holds one
    cascade: CascadeEvaluation | None = None  # the folder's cascade.json, when it holds one of this dataset
    #: learned routers' spread over seeds and CV folds, from the sweep (:class:`Spread`), by router name
    spread: dict[str, Spread] = field(default_factory=dict)

    @property
    def test(self) -> RoutingData:
        """The evaluated queries."""
        assert self.board.test is not None
        return self.board.test

    def figures(self) -> list[FigureSpec]:
        """The figures in report order."""
        figs: list[FigureSpec] = []
        if self.deferral is not None:
            figs.append(
                FigureSpec(
                    "deferral",
                    "Deferral curves",
                    "Mean quality against mean cost per query. Dots: a router's operating points along a λ sweep "
                    f"({len(DEFERRAL_LAMBDAS)} values in [0, 1]); line: their non-decreasing hull (AUC over the "
                    "single models' cost range in the legend); squares: single models; dashed: the oracle frontier.",
                    self.deferral,
                    (9.0, 5.0),
                    "deferral",
                    kwargs={"colors": self.colors},
                )
            )
        if self.call_rate is not None:
            c = self.call_rate
            figs.append(
                FigureSpec(
                    "call-rate",
                    "Call-rate curves",
                    f"Binary routing between {c.small} (small) and {c.large} (large) on the {c.n_queries} queries "
                    "where both answered: each router calls the large model on the queries where its score gain "
                    "(large − small) is highest. Shaded: the low band of LPM and the relative-performance band of HCR.",
                    c,
                    (9.0, 4.8),
                    "call-rate",
                    kwargs={"colors": self.colors},
                )
            )
        figs.append(
            FigureSpec(
                "utility",
                "U(λ)",
                "Realised U(λ) = (1 − λ)·quality − λ·c̃ with cost min–max normalised on the training split; each "
                "router re-selects with its own scores at every λ (post hoc, as in routing-plateau "
                "(arXiv:2606.07587) §4.2).",
                self.utility,
                (8.5, 4.4),
                "utility",
                kwargs={"colors": self.colors},
            )
        )
        if self.reliability is not None and self.reliability.tables:
            figs.append(
                FigureSpec(
                    "reliability",
                    "Reliability diagram",
                    "Each router's scores read as the probability that the model answers correctly, over every "
                    "(query, model) with an outcome; 10 equal-width bins, marker area ∝ bin count.",
                    self.reliability,
                    (5.6, 5.2),
                    "reliability",
                    kwargs={"colors": self.colors},
                )
            )
        for lam, disp in self.significance.items():
            n = len(disp.table.names)
            figs.append(
                FigureSpec(
                    f"significance-lam-{lam:g}",
                    f"Significance matrix, λ = {lam:g}",
                    f"Paired-bootstrap differences of mean per-query U(λ = {lam:g}) ({disp.table.n_resamples} "
                    "resamples); * marks a 95 % CI that excludes 0, faded cells are within noise.",
                    disp,
                    (max(4.5, 1.6 + 0.85 * n), max(3.6, 1.2 + 0.65 * n)),
                    "significance",
                )
            )
        figs.append(
            FigureSpec(
                "routing-share",
                "Routing share per model",
                f"Share of the test queries each router sends to each model at λ = {self.main_lam:g}; a router "
                f"sending ≥ {self.share.threshold:.0%} to one model is flagged as collapsed.",
                self.share,
                (7.5, 1.9 + 0.32 * len(self.share.routers) + 0.18 * len(self.share.models) / 3),
                "diagnostics",
            )
        )
        if self.hard_easy is not None:
            figs.append(
                FigureSpec(
                    "hard-easy",
                    "Hard vs easy queries",
                    "Accuracy on hard solvable queries (one model correct, or few and not the global top-1 model) "
                    f"and on easy ones, at λ = {self.main_lam:g} (routing-plateau (arXiv:2606.07587) §5.1).",
                    self.hard_easy,
                    (7.0, 4.2),
                    "diagnostics",
                )
            )
        if self.xbench is not None:
            figs += xbench_figures(self.xbench)
        if self.cascade is not None:
            from routerlab.report.cascade import cascade_figure  # it imports this module

            figs.append(cascade_figure(self.cascade, self.colors))
        return figs


# --------------------------------------------------------------------------- building


def build_content(
    results_dir: str | Path | Leaderboard,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    pair: tuple[str, str] | None = None,
) -> ReportContent:
    """Load a results directory (or take an evaluated :class:`Leaderboard`) and compute the report.

    ``pair`` names the (small, large) models of the call-rate curves; by default the cheapest model
    and the best one. ``n_resamples``/``seed`` drive every bootstrap.
    """
    folder = None if isinstance(results_dir, Leaderboard) else Path(results_dir)
    board = results_dir if isinstance(results_dir, Leaderboard) else load_results(results_dir)
    if board.test is None or not board.predictions:
        raise SchemaError("The leaderboard carries no predictions; evaluate() it again or load a results directory.")
    test = board.test
    preds = list(board.predictions)
    lams = board.lams
    main_lam = lams[0]
    scale = CostScale(*board.cost_scale)
    bounds = tuple(p.router for p in preds if p.needs_outcomes)
    notes: dict[str, list[str]] = {}

    def note(section: str, text: str) -> None:
        notes.setdefault(section, []).append(text)
        log.info("report %s: %s", section, text)

    entries = _leaderboard_entries(board, preds, test, scale, n_resamples, seed)
    scored = {p.router: p for p in preds if p.scores is not None and p.cost_estimate is not None}
    competitors = [p for p in preds if not p.needs_outcomes]
    if not competitors:
        note("leaderboard", "Only bound routers (the oracle) were evaluated; add baselines or learned routers.")

    deferral, auc_ci = None, {}
    if competitors:
        kwargs = _decision_kwargs(board, competitors, scored)
        deferral = DeferralCurveDisplay.from_predictions(
            Y=test.Y, cost=test.cost, model_names=test.model_names, cost_unit=test.cost_unit, **kwargs
        )
        auc_ci = _auc_intervals(deferral, test, kwargs, n_resamples, seed)
        unscored = [p.router for p in competitors if p.router not in scored]
        if unscored:
            note("deferral", f"No scores saved for {', '.join(unscored)}: only the evaluated λ values are drawn.")

    call_rate = _call_rate(test, preds, scored, bounds, pair, note)
    utility = UtilityDisplay.from_predictions(
        Y=test.Y,
        cost=test.cost,
        scale=scale,
        lams=sorted({*PLATEAU_LAMBDAS, *lams}),
        bounds=bounds,
        **_decision_kwargs(board, preds, scored),
    )
    rel_scores = {p.router: p.scores for p in competitors if p.scores is not None}
    reliability = None
    if rel_scores:
        reliability = ReliabilityDisplay.from_predictions(Y=test.Y, scores=rel_scores)
        for name, why in reliability.skipped.items():
            note("reliability", f"{name} left out: {why}.")
        if reliability.thresholded:
            note("reliability", "Outcomes are graded; a (query, model) counts as correct when its quality is ≥ 0.5.")
    else:
        note("reliability", "No router (bounds aside) exposes scores to read as probabilities.")

    significance = {}
    if len(competitors) >= 2:
        for lam in lams:
            per_query = {p.router: _per_query_utility(test, p.choice(lam), lam, scale) for p in competitors}
            significance[lam] = SignificanceDisplay.from_per_query(
                per_query, label=f"U(λ={lam:g})", n_resamples=n_resamples, seed=seed, level=LEVEL
            )
    else:
        note("significance", "Fewer than two routers (bounds aside): nothing to compare.")

    share = RoutingShareDisplay.from_choices(
        {p.router: p.choice(main_lam) for p in preds}, model_names=test.model_names
    )
    hard_easy = None
    exchanged: list[tuple[str, str, ExchangedWins]] = []
    if competitors:
        try:
            hard_easy = HardEasyDisplay.from_choices(
                Y=test.Y, choices={p.router: p.choice(main_lam) for p in competitors}
            )
        except SchemaError as exc:
            note("diagnostics", f"Hard/easy split not available: {exc}")
        else:
            if hard_easy.thresholded:
                note("diagnostics", "Outcomes are graded; hard/easy uses quality ≥ 0.5 as correct.")
            if not hard_easy.gap.hard.any():
                note("diagnostics", "No hard query in this test split.")
        best = sorted(competitors, key=lambda p: -board.row(p.router, main_lam).quality)[:MAX_EXCHANGE_ROUTERS]
        for i, a in enumerate(best):
            for b in best[i + 1 :]:
                exchanged.append(
                    (
                        a.router,
                        b.router,
                        exchanged_wins(Y=test.Y, choice_a=a.choice(main_lam), choice_b=b.choice(main_lam)),
                    )
                )

    audit = _read_audit(folder, note) if folder is not None else None
    sweep = _read_sweep(folder, note) if folder is not None else None
    xbench = _read_xbench(folder, note) if folder is not None else None
    cascade = None
    if folder is not None:
        from routerlab.report.cascade import read_cascade_beside  # it imports this module

        cascade = read_cascade_beside(folder, board.dataset, test.n_queries, note)
    if sweep is not None:
        learned = sorted({str(r.get("router")) for r in sweep["rows"]} & {p.router for p in preds})
        if learned:
            note(
                "leaderboard",
                f"{', '.join(learned)}: one fit of the validation-selected configuration (seed 42); the mean ± std "
                "over the seeds of the protocol is in the Seed protocol section.",
            )
    return ReportContent(
        board=board,
        main_lam=main_lam,
        bounds=bounds,
        entries=entries,
        deferral=deferral,
        deferral_auc=auc_ci,
        call_rate=call_rate,
        utility=utility,
        reliability=reliability,
        significance=significance,
        share=share,
        hard_easy=hard_easy,
        exchanged=exchanged,
        audit=audit,
        sweep=sweep,
        notes=notes,
        colors={p.router: colour(i) for i, p in enumerate(competitors)},
        query_blind=tuple(
            p.router
            for p in preds
            if p.scores is not None and not p.needs_outcomes and (p.scores == p.scores[:1]).all()
        ),
        n_resamples=n_resamples,
        seed=seed,
        xbench=xbench,
        cascade=cascade,
        spread=sweep_spread(sweep, {p.router for p in preds}, lams) if sweep is not None else {},
    )


def _decision_kwargs(
    board: Leaderboard, preds: Sequence[RouterPredictions], scored: Mapping[str, RouterPredictions]
) -> dict[str, Any]:
    """``decisions``/``choices`` keyword arguments of the displays for ``preds`` (decisions where scores were saved)."""
    decisions = {p.router: board.decisions(p.router) for p in preds if p.router in scored}
    choices = {p.router: dict(p.choices) for p in preds if p.router not in scored}
    return {"decisions": decisions, "choices": choices, "missing": _policy(board)}


def _policy(board: Leaderboard) -> str:
    """The missing-outcome policy the board was scored under (its curves follow it)."""
    return str(board.meta.get("missing", {}).get("policy", M.DEFAULT_MISSING))


def _per_query_utility(test: RoutingData, choice: np.ndarray, lam: float, scale: CostScale) -> np.ndarray:
    """Each query's U(λ) term of ``choice`` (:func:`~routerlab.metrics.per_query_utility`, missing cells as 0)."""
    return M.per_query_utility(Y=test.Y, cost=test.cost, choice=choice, lam=lam, scale=scale, missing="zero")


def _intervals(values: np.ndarray, n_resamples: int, seed: int) -> list[Interval]:
    draws = bootstrap_means(values, n_resamples=n_resamples, seed=seed)
    alpha = (1 - LEVEL) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha], axis=0)
    return [Interval(float(v.mean()), float(a), float(b), LEVEL) for v, a, b in zip(values, lo, hi, strict=True)]


def _leaderboard_entries(
    board: Leaderboard,
    preds: Sequence[RouterPredictions],
    test: RoutingData,
    scale: CostScale,
    n_resamples: int,
    seed: int,
) -> dict[float, list[Entry]]:
    from routerlab.metrics.diagnostics import significance_table

    out: dict[float, list[Entry]] = {}
    for lam in board.lams:
        util = np.stack([_per_query_utility(test, p.choice(lam), lam, scale) for p in preds])
        qual = np.stack([M.chosen(test.Y, p.choice(lam)) for p in preds])
        u_ci, q_ci = _intervals(util, n_resamples, seed), _intervals(qual, n_resamples, seed)
        tier_of: dict[str, int] = {}
        competitors = [i for i, p in enumerate(preds) if not p.needs_outcomes]
        if len(competitors) >= 2:
            table = significance_table(
                {preds[i].router: util[i] for i in competitors}, n_resamples=n_resamples, seed=seed, level=LEVEL
            )
            for t, members in enumerate(table.tiers(), start=1):
                tier_of.update({m: t for m in members})
        elif competitors:
            tier_of[preds[competitors[0]].router] = 1
        rows = []
        for i, p in enumerate(preds):
            rows.append(
                Entry(
                    row=board.row(p.router, lam),
                    utility=u_ci[i],
                    quality=q_ci[i],
                    tier=tier_of.get(p.router),
                    bound=p.needs_outcomes,
                )
            )
        rows.sort(key=lambda e: (not e.bound, e.tier or 0, e.row.router))
        out[lam] = rows
    return out


def _auc_intervals(
    display: DeferralCurveDisplay,
    test: RoutingData,
    kwargs: Mapping[str, Any],
    n_resamples: int,
    seed: int,
) -> dict[str, Interval]:
    """Paired-bootstrap CIs of each router's deferral AUC: every resample re-traces the hulls."""
    x_range = display.x_range
    if not x_range[1] > x_range[0]:
        return {}
    per_router = router_choices(decisions=kwargs["decisions"], choices=kwargs["choices"], lams=DEFERRAL_LAMBDAS)
    names = list(per_router)
    blocks = []
    for name in names:
        ch = list(per_router[name].values())
        blocks += [M.chosen(test.cost, c) for c in ch] + [M.chosen(test.Y, c) for c in ch]
    values = np.stack(blocks)
    if not np.isfinite(values).all():
        return {}
    draws = bootstrap_means(values, n_resamples=n_resamples, seed=seed)
    out, start = {}, 0
    alpha = (1 - LEVEL) / 2
    for name in names:
        k = len(per_router[name])
        xs, ys = draws[:, start : start + k], draws[:, start + k : start + 2 * k]
        start += 2 * k
        aucs = np.array(
            [
                area_under_curve(non_decreasing_hull(np.column_stack([xs[b], ys[b]])), x_range=x_range, left=0.0)
                for b in range(draws.shape[0])
            ]
        )
        lo, hi = np.quantile(aucs, [alpha, 1 - alpha])
        out[name] = Interval(display.auc[name], float(lo), float(hi), LEVEL)
    return out


def pick_pair(test: RoutingData, pair: tuple[str, str] | None = None) -> tuple[int, int] | None:
    """Column indices of the (small, large) pair: ``pair`` by name, else the cheapest and the best model."""
    if pair is not None:
        return test.model_index(pair[0]), test.model_index(pair[1])
    with np.errstate(invalid="ignore"):
        cost = np.nanmean(np.where(test.observed, test.cost, np.nan), axis=0)
        quality = np.nanmean(np.where(test.observed, test.Y, np.nan), axis=0)
    ok = np.isfinite(cost) & np.isfinite(quality)
    if ok.sum() < 2:
        return None
    idx = np.flatnonzero(ok)
    small = int(idx[np.lexsort((-quality[idx], cost[idx]))[0]])
    large = int(idx[np.lexsort((cost[idx], -quality[idx]))[0]])
    return (small, large) if small != large else None


def _call_rate(
    test: RoutingData,
    preds: Sequence[RouterPredictions],
    scored: Mapping[str, RouterPredictions],
    bounds: Sequence[str],
    pair: tuple[str, str] | None,
    note: Any,
) -> CallRateDisplay | None:
    picked = pick_pair(test, pair)
    if picked is None:
        note("call-rate", "No (small, large) pair: the cheapest model is also the best one.")
        return None
    s, l_ = picked
    rows = test.observed[:, s] & test.observed[:, l_]
    if rows.sum() < 2:
        note("call-rate", "Fewer than two queries have outcomes for both models of the pair.")
        return None
    strong = {}
    for p in preds:
        if p.router in scored and p.scores is not None:
            strong[p.router] = p.scores[rows, l_] - p.scores[rows, s]
    if not strong:
        note("call-rate", "No router exposes scores, so no call-rate curve can be traced.")
        return None
    ys, yl = test.Y[rows, s], test.Y[rows, l_]
    if not yl.mean() > ys.mean():
        note(
            "call-rate",
            f"The large model {test.model_names[l_]} is not better than {test.model_names[s]} here; "
            "LPM/MPM/HCR are undefined.",
        )
    return CallRateDisplay.from_scores(
        y_small=ys,
        y_large=yl,
        strong_scores=strong,
        small=test.model_names[s],
        large=test.model_names[l_],
        bounds=bounds,
    )


def _read_audit(folder: Path, note: Any) -> AuditReport | None:
    path = folder / "audit.json"
    if not path.is_file():
        return None
    try:
        return AuditReport.from_json(path.read_text(encoding="utf-8"))
    except (RouterlabError, ValueError, KeyError, TypeError) as exc:
        note("audit", f"{path} could not be read ({exc}); re-run `routerlab audit DATA --out {folder}`.")
        return None


def _read_xbench(folder: Path, note: Any) -> XBenchResults | None:
    path = folder / XBENCH_JSON
    if not path.is_file():
        return None
    try:
        return read_xbench(path)
    except RouterlabError as exc:  # SchemaError names the field, the value and the fix
        note("xbench", f"The RouterXBench section is left out: {exc}")
        return None


def xbench_figures(results: XBenchResults) -> list[FigureSpec]:
    """The RouterXBench section's figures: Tab. 1's AUROC per router and setting, and the §6 curve if present."""
    t1 = results.table1
    auroc = XBenchAurocDisplay.from_table(t1)
    figs = [
        FigureSpec(
            "xbench-auroc",
            "RouterXBench Table 1: AUROC",
            f"AUROC of each router's keep-the-small-model score against {results.model}'s correctness, with its "
            "95 % paired-bootstrap CI, in each setting (one colour a setting); dashed: chance (0.5).",
            auroc,
            (10.0, max(3.0, 1.8 + 0.22 * len(auroc.routers) * max(1.0, 0.6 * len(auroc.groups)))),
            "xbench",
        )
    ]
    if results.scaling is not None:
        scaling = XBenchScalingDisplay.from_table(results.scaling)
        figs.append(
            FigureSpec(
                "xbench-scaling",
                "RouterXBench §6: data scaling",
                "In-domain test AUROC (95 % CI band) against the number of training queries (routerxbench §6).",
                scaling,
                (8.5, 4.2),
                "xbench",
            )
        )
    return figs


@dataclass(frozen=True, slots=True)
class XBenchContent:
    """The report of a folder holding ``xbench.json`` and no evaluation: the RouterXBench section alone."""

    xbench: XBenchResults
    notes: dict[str, list[str]] = field(default_factory=dict)

    def figures(self) -> list[FigureSpec]:
        """The figures in report order."""
        return xbench_figures(self.xbench)


def is_xbench_only(folder: str | Path) -> bool:
    """True when ``folder`` holds ``xbench.json`` and none of the files of ``routerlab evaluate --out``."""
    path = Path(folder)
    evaluated = any((path / f).is_file() for f in (TEST_PARQUET, PREDICTIONS_PARQUET, LEADERBOARD_JSON))
    return (path / XBENCH_JSON).is_file() and not evaluated


def build_xbench_content(folder: str | Path) -> XBenchContent:
    """The content of a folder holding only ``xbench.json``.

    A bad file raises its SchemaError: with nothing else to show, it cannot be a note as in a full report.
    """
    return XBenchContent(read_xbench(Path(folder) / XBENCH_JSON))


#: what the seed-protocol table shows, for the lead sentence of both renderers
SEED_PROTOCOL_LEAD = (
    "The seed protocol of `routerlab evaluate`/`sweep`: configuration selected on validation, mean ± std "
    "(ddof 0) over seeds on the test split, as `leaderboard.json`/`.md` report the learned routers. The "
    "leaderboard above holds one fit of the selected configuration (seed 42)."
)


def seed_protocol_table(doc: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The seed-protocol table of a sweep summary (``sweep/summary.json``): header and rows of plain text.

    One row per (router, encoder): the selected parameters, the number of seeds, the test accuracy
    and U(λ) at each λ of the protocol as mean ± std ("failed" when every run failed). Renderers
    escape the cells for their format.
    """
    lams = [f"{float(v):g}" for v in (doc.get("protocol") or {}).get("lams", [])]
    head = ["router", "encoder", "selected params", "seeds", "test accuracy", *[f"U({k})" for k in lams]]
    rows: list[list[str]] = []
    for r in doc.get("rows", []):
        if r.get("status") != "ok":
            rows.append([str(r.get("router")), str(r.get("encoder")), "failed", "", "", *[""] * len(lams)])
            continue
        n = len(r.get("seeds") or [])
        params = ", ".join(f"{k}={v}" for k, v in (r.get("params") or {}).items()) or "–"

        def ms(mean: float | None, std: float | None, n: int = n) -> str:
            if mean is None:
                return "–"
            return f"{mean:.4f} ± {std:.4f}" if n > 1 and std is not None else f"{mean:.4f}"

        utility, spread = r.get("test_utility_mean") or {}, r.get("test_utility_std") or {}
        rows.append(
            [
                str(r.get("router")),
                str(r.get("encoder")),
                params,
                str(n),
                ms(r.get("test_acc_mean"), r.get("test_acc_std")),
                *[ms(utility.get(k), spread.get(k)) for k in lams],
            ]
        )
    return head, rows


def sweep_spread(doc: Mapping[str, Any], routers: set[str], lams: Sequence[float]) -> dict[str, Spread]:
    """Each of ``routers`` with exactly one ok row in the sweep summary ``doc``: its :class:`Spread` at ``lams``.

    A router with rows under several encoders is left out: the leaderboard cannot say which one it shows.
    """
    from routerlab.decisions import lam_key

    rows: dict[str, list[Mapping[str, Any]]] = {}
    for r in doc.get("rows", []):
        if isinstance(r, Mapping) and r.get("router") in routers:
            rows.setdefault(str(r["router"]), []).append(r)
    out = {}
    for name, found in rows.items():
        if len(found) != 1 or found[0].get("status") != "ok":
            continue
        r = found[0]
        sd = r.get("test_quality_std") or {}
        cv = r.get("cv") if isinstance(r.get("cv"), Mapping) else None
        out[name] = Spread(
            n_seeds=len(r.get("seeds") or []),
            stochastic=bool(r.get("stochastic")),
            quality_sd={lam: float(sd[lam_key(lam)]) for lam in lams if sd.get(lam_key(lam)) is not None},
            n_folds=None if cv is None else int(cv.get("n_folds") or len(cv.get("fold_scores") or [])),
            fold_sd=None if cv is None or cv.get("score_std") is None else float(cv["score_std"]),
        )
    return out


def spread_cells(entry: Entry, spread: Mapping[str, Spread], lam: float, *, folds: bool) -> list[str]:
    """The leaderboard's spread cells of ``entry`` as plain text: CI half-width, seed sd (and fold sd).

    ``±0.0213``; ``0.0061 (3 seeds)``, ``0 (deterministic)``; ``0.0110 (5 folds)`` at λ = 0 only
    (the folds score accuracy at λ = 0); "–" where a figure does not exist.
    """
    half = f"±{(entry.quality.high - entry.quality.low) / 2:.4f}"
    s = spread.get(entry.row.router)
    if s is None:
        seed = "–"
    elif s.n_seeds > 1 and lam in s.quality_sd:
        seed = f"{s.quality_sd[lam]:.4f} ({s.n_seeds} seeds)"
    else:
        seed = "0 (deterministic)" if not s.stochastic else "– (1 seed)"
    cells = [half, seed]
    if folds:
        ok = s is not None and s.fold_sd is not None and lam == 0
        cells.append(f"{s.fold_sd:.4f} ({s.n_folds} folds)" if ok and s is not None else "–")
    return cells


#: the leaderboard's spread columns and what they mean, for both renderers
SPREAD_HEAD = ("quality ± (95% CI half-width)", "seed sd", "fold sd")
SPREAD_NOTE = (
    "Spread: the CI half-width is the test sample's noise; seed sd the std (ddof 0) of the selected "
    "configuration's test quality over the seed protocol's seeds; fold sd the std over cross-validation folds of "
    "its held-out accuracy at λ = 0 (selection cv). Differences smaller than these are not differences of method."
)


def _read_sweep(folder: Path, note: Any) -> dict[str, Any] | None:
    path = folder / "sweep" / "summary.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8/JSON, or a nesting bomb
        note("sweep", f"{path} could not be read ({exc}).")
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("rows"), list) else None


__all__ = [
    "SEED_PROTOCOL_LEAD",
    "SPREAD_HEAD",
    "SPREAD_NOTE",
    "Entry",
    "FigureSpec",
    "ReportContent",
    "Spread",
    "XBenchContent",
    "build_content",
    "build_xbench_content",
    "is_xbench_only",
    "pick_pair",
    "seed_protocol_table",
    "spread_cells",
    "sweep_spread",
    "xbench_figures",
]
