"""The cascade in the report: ``cascade.json`` (``routerlab cascade --out DIR``) as a section and a figure.

``routerlab report DIR`` on a folder holding ``cascade.json`` and none of the files of ``routerlab evaluate
--out`` writes a page of this section alone: the deferral curves of the FrugalGPT-style cascade (cost = every
call it made) beside the one-shot routers fitted on the same training queries, their AUC with paired-bootstrap
CIs and Δ AUC cascade − method (`rethinking-router-evaluation.txt` App. F), and quality at matched cost. A
``cascade.json`` beside an evaluation of the same dataset adds the section to the full report; one of another
dataset is left out with a note. The numbers are the file's (:func:`routerlab.experiments.cascade.read_cascade`
validates it as untrusted input); nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from routerlab._markdown import md_table
from routerlab._version import __version__
from routerlab.errors import RouterlabError
from routerlab.experiments.cascade import (
    CASCADE,
    CASCADE_JSON,
    MATCHED_LEAD,
    MATCHED_LEFT,
    CascadeEvaluation,
    read_cascade,
)
from routerlab.experiments.evaluate import LEADERBOARD_JSON, PREDICTIONS_PARQUET, TEST_PARQUET
from routerlab.experiments.sweep.summary import SUMMARY_JSON
from routerlab.experiments.xbench import XBENCH_JSON
from routerlab.report._mpl import colour
from routerlab.report.content import FigureSpec
from routerlab.report.displays.deferral import DeferralCurveDisplay

SECTION = "cascade"
TITLE = "Cascade vs one-shot routers"
FIGURE_ID = "cascade-deferral"


@dataclass(frozen=True, slots=True)
class CascadeContent:
    """The report of a folder holding ``cascade.json`` and no evaluation: the cascade section alone."""

    folder: Path
    result: CascadeEvaluation
    notes: dict[str, list[str]] = field(default_factory=dict)

    def figures(self) -> list[FigureSpec]:
        """The cascade's deferral figure."""
        return [cascade_figure(self.result)]


def cascade_figure(result: CascadeEvaluation, colors: Mapping[str, str] | None = None) -> FigureSpec:
    """The deferral curves of the cascade and the one-shot routers, single models as squares."""
    display = DeferralCurveDisplay.from_points(
        points=result.points,
        model_cost=list(result.model_cost.values()),
        model_quality=list(result.model_quality.values()),
        model_names=list(result.model_cost),
        x_range=result.x_range,
        cost_unit=result.cost_unit,
    )
    return FigureSpec(
        FIGURE_ID,
        f"{result.dataset}: cascade vs one-shot routers",
        f"Mean quality against mean cost per test query ({result.n_test} queries). Cascade: one dot per policy of "
        "its training frontier (chain and thresholds chosen on out-of-fold training scores), its cost the sum of "
        f"every call made; one-shot routers: one dot per λ ({result.meta.get('curve_lambdas', '?')} values). "
        "Lines: each method's non-decreasing hull, AUC over the single models' cost range in the legend (the "
        "table gives its CI); squares: single models.",
        display,
        (9.0, 5.0),
        SECTION,
        # the routers keep their colours across the report's figures; the cascade takes the next one
        kwargs={"colors": {**colors, CASCADE: colors.get(CASCADE, colour(len(colors)))}} if colors else {},
    )


def is_cascade_only(folder: str | Path) -> bool:
    """True when ``folder`` holds ``cascade.json`` and no evaluation, sweep summary or RouterXBench file."""
    path = Path(folder)
    others = (TEST_PARQUET, PREDICTIONS_PARQUET, LEADERBOARD_JSON, XBENCH_JSON, SUMMARY_JSON)
    return (path / CASCADE_JSON).is_file() and not any((path / f).is_file() for f in others)


def build_cascade_content(folder: str | Path) -> CascadeContent:
    """The content of a folder holding only ``cascade.json``; a bad file raises its SchemaError."""
    return CascadeContent(Path(folder), read_cascade(Path(folder) / CASCADE_JSON))


def read_cascade_beside(
    folder: Path, dataset: str, n_test: int, note: Callable[[str, str], None]
) -> CascadeEvaluation | None:
    """The folder's ``cascade.json`` for a full report of ``dataset`` (``n_test`` test queries).

    A bad file, or one of another dataset or of more test queries than the evaluation's (another subset: the
    cascade only drops queries), becomes a note and no section.
    """
    if not (folder / CASCADE_JSON).is_file():
        return None
    try:
        result = read_cascade(folder / CASCADE_JSON)
    except RouterlabError as exc:  # SchemaError names the field, the value and the fix
        note(SECTION, f"The cascade section is left out: {exc}")
        return None
    if result.dataset != dataset:
        note(
            SECTION,
            f"The cascade section is left out: {folder / CASCADE_JSON} is of dataset {result.dataset!r}, this report "
            f"of {dataset!r}. Run `routerlab cascade --data {dataset} --out {folder}` or report it on its own folder.",
        )
        return None
    if result.n_test > n_test:
        note(
            SECTION,
            f"The cascade section is left out: {folder / CASCADE_JSON} was measured on {result.n_test} test queries, "
            f"more than this evaluation's {n_test} (another subset of {dataset!r}?). Report it on its own folder.",
        )
        return None
    return result


def _lead(result: CascadeEvaluation) -> str:
    params = result.params.get("cascade", {}) if isinstance(result.params.get("cascade"), dict) else {}
    chain = params.get("chain")
    how = (
        f"the chain {' → '.join(map(str, chain))}"
        if chain
        else f"every cheapest-first chain of ≤ {params.get('max_stages', '?')} models"
    )
    routers = ", ".join(n for n in result.points if n != CASCADE)
    return (
        f"A FrugalGPT-style cascade on {result.dataset}: per-model (query, answer) scorers, {how} with thresholds "
        f"chosen on out-of-fold training scores; the one-shot routers ({routers}) "
        f"fitted on the same {result.n_train} training queries. Test: {result.n_test} queries. {result.auc_lead()}"
    )


def cascade_markdown(result: CascadeEvaluation, figure: Callable[[str], list[str]]) -> list[str]:
    """The cascade section as Markdown lines (``figure(id)`` gives a figure's lines)."""
    lines = [f"## {TITLE}", "", _lead(result), "", *md_table(*result.auc_table())]
    lines += figure(FIGURE_ID)
    lines += ["", "### Matched cost", "", MATCHED_LEAD, "", *md_table(*result.matched_table(), left=MATCHED_LEFT)]
    for n in result.meta.get("notes", []):
        lines += ["", f"> Note: {n}"]
    return lines


def cascade_section_html(result: CascadeEvaluation, figs: Sequence[FigureSpec], svgs: Mapping[str, str]) -> str:
    """The cascade section's body as HTML: lead, AUC table, figure, matched-cost table, the file's notes."""
    from routerlab.report.html import _figure, esc, table

    auc_head, auc_rows = result.auc_table()
    m_head, m_rows = result.matched_table()
    out = [
        f'<p class="lead">{esc(_lead(result))}</p>',
        table([esc(h) for h in auc_head], [[esc(c) for c in r] for r in auc_rows], element_id="cascade-auc"),
        *(_figure(f, svgs) for f in figs if f.id == FIGURE_ID),
        f"<h3>Matched cost</h3><p>{esc(MATCHED_LEAD)}</p>",
        table(
            [esc(h) for h in m_head],
            [[esc(c) for c in r] for r in m_rows],
            left=MATCHED_LEFT,
            element_id="cascade-matched",
        ),
        *(f'<p class="note">{esc(n)}</p>' for n in result.meta.get("notes", [])),
    ]
    return "".join(out)


def render_cascade_markdown(content: CascadeContent, pngs: Mapping[str, str]) -> str:
    """``report.md`` of a folder holding only ``cascade.json``."""
    from routerlab.report.markdown import _figure_lines

    figs = {f.id: f for f in content.figures()}
    r = content.result
    lines = [f"# Cascade report: {r.dataset}", "", *cascade_markdown(r, _figure_lines(figs, pngs))]
    return "\n".join(lines) + "\n"


def render_cascade_html(content: CascadeContent, svgs: Mapping[str, str]) -> str:
    """The page of a folder holding only ``cascade.json``: the cascade section, its figure inline."""
    from routerlab.report.html import _page, esc

    figs = content.figures()
    missing = [f.id for f in figs if f.id not in svgs]
    if missing:
        raise ValueError(f"No SVG for figure(s) {missing}; render every figure of content.figures().")
    r = content.result
    part = f'<section id="{SECTION}"><h2>{TITLE}</h2>{cascade_section_html(r, figs, svgs)}</section>'
    return _page(
        title=f"routerlab cascade report: {esc(r.dataset)}",
        header=f"<h1>Cascade report: {esc(r.dataset)}</h1><p>{r.n_test:,} test queries, {r.n_train:,} training "
        f"queries; {len(r.model_cost)} models; cost unit <code>{esc(r.cost_unit)}</code>.</p>",
        sections={SECTION: TITLE},
        parts=[part],
        footer=f"Written by routerlab {esc(__version__)} from {esc(CASCADE_JSON)}. Confidence intervals are the "
        f"file's: {esc(r.meta.get('n_resamples', '?'))} paired bootstrap resamples of the test queries.",
    )


__all__ = [
    "FIGURE_ID",
    "SECTION",
    "TITLE",
    "CascadeContent",
    "build_cascade_content",
    "cascade_figure",
    "cascade_markdown",
    "cascade_section_html",
    "is_cascade_only",
    "read_cascade_beside",
    "render_cascade_html",
    "render_cascade_markdown",
]
