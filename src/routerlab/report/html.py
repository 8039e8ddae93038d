"""One self-contained HTML page: inline CSS and inline SVG figures, nothing fetched when it is opened.

No ``<script>``, no external stylesheet, image or font: the page names no URL to load (the only
``http`` strings are the SVG namespace declarations, which browsers never fetch). Sections, in
order: ``leaderboard``, ``deferral``, ``call-rate``, ``utility``, ``reliability``,
``significance``, ``diagnostics``, then ``seed-protocol`` (when the results directory holds a
sweep), ``audit`` (when it holds an ``audit.json``) and ``xbench`` (when it holds an
``xbench.json``; a folder holding only that file gets a page of that section alone,
:func:`render_xbench_html`). Every figure is a ``<figure class="figure" id="fig-<id>">`` holding
one ``<svg>``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from routerlab._version import __version__
from routerlab.experiments.xbench import Table1Row, XBenchGroup, XBenchResults, XBenchTable, fmt3
from routerlab.metrics.bootstrap import Interval
from routerlab.report.content import SPREAD_HEAD, SPREAD_NOTE, FigureSpec, ReportContent, XBenchContent, spread_cells

SECTIONS: tuple[tuple[str, str], ...] = (
    ("leaderboard", "Leaderboard"),
    ("deferral", "Deferral curves"),
    ("call-rate", "Call-rate curves"),
    ("utility", "Cost-utility U(λ)"),
    ("reliability", "Reliability"),
    ("significance", "Significance"),
    ("diagnostics", "Collapse and plateau diagnostics"),
)

CSS = """
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #d9dce1; --band: #f3f5f8; --accent: #1f5fa8; --warn: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { padding: 28px 32px 12px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 6px; font-size: 26px; }
header p { margin: 2px 0; color: var(--muted); }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: 8px 32px; z-index: 2; }
nav a { color: var(--accent); text-decoration: none; margin-right: 18px; font-size: 14px; white-space: nowrap; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 32px 48px; }
section { padding-top: 18px; border-bottom: 1px solid var(--line); padding-bottom: 18px; }
h2 { font-size: 21px; margin: 10px 0 8px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
p.lead { color: var(--muted); margin: 4px 0 10px; max-width: 900px; }
p.note { background: #fff8e1; border-left: 3px solid #f2b705; padding: 6px 10px; margin: 8px 0; font-size: 14px; }
p.warn, li.warn { color: var(--warn); }
.table-wrap { overflow-x: auto; margin: 6px 0 14px; max-width: 100%; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--band); font-weight: 600; position: sticky; top: 0; }
td.name, th.name { text-align: left; }
td.wrap { white-space: normal; text-align: left; min-width: 140px; max-width: 520px; }
tr.tier-even td { background: #f7f9fc; }
tr.bound td { color: var(--muted); font-style: italic; }
td.tier { font-weight: 600; text-align: center; }
span.ci { color: var(--muted); font-size: 12px; }
.sev-error { color: var(--warn); font-weight: 600; }
.sev-warning { color: #9a6700; font-weight: 600; }
.sev-info { color: var(--muted); }
figure.figure { margin: 12px 0 18px; }
figure.figure svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13.5px; max-width: 900px; margin-top: 4px; }
figcaption b { color: var(--fg); }
ul.tiers { margin: 4px 0 12px; }
footer { color: var(--muted); font-size: 13px; padding: 18px 32px 32px; max-width: 1180px; margin: 0 auto; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(value), quote=True)


def fmt(value: float | None, digits: int = 4) -> str:
    """A number, or an en dash for missing / undefined values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def fmt_cost(value: float | None) -> str:
    """A cost with 4 significant digits."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.4g}"


def fmt_ci(iv: Interval | None, digits: int = 4) -> str:
    """``estimate [low, high]`` as HTML."""
    if iv is None:
        return "–"
    return f'{iv.estimate:.{digits}f} <span class="ci">[{iv.low:.{digits}f}, {iv.high:.{digits}f}]</span>'


def table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    cls: str = "",
    row_cls: Sequence[str] = (),
    left: int = 1,
    element_id: str = "",
    wrap: Sequence[int] = (),
) -> str:
    """A table in a scrolling wrapper; the first ``left`` columns are left-aligned names. Cells are HTML."""
    ths = "".join(f'<th class="name">{h}</th>' if i < left else f"<th>{h}</th>" for i, h in enumerate(head))
    body = []
    for r, cells in enumerate(rows):
        klass = f' class="{row_cls[r]}"' if r < len(row_cls) and row_cls[r] else ""
        tds = []
        for i, c in enumerate(cells):
            kind = "wrap" if i in wrap else ("name" if i < left else "")
            tds.append(f'<td class="{kind}">{c}</td>' if kind else f"<td>{c}</td>")
        body.append(f"<tr{klass}>{''.join(tds)}</tr>")
    attrs = (f' class="{cls}"' if cls else "") + (f' id="{element_id}"' if element_id else "")
    head_html = f"<thead><tr>{ths}</tr></thead>"
    return f'<div class="table-wrap"><table{attrs}>{head_html}<tbody>{"".join(body)}</tbody></table></div>'


def _notes(content: ReportContent, section: str) -> str:
    return "".join(f'<p class="note">{esc(n)}</p>' for n in content.notes.get(section, []))


def _figure(spec: FigureSpec, svgs: Mapping[str, str]) -> str:
    return (
        f'<figure class="figure" id="fig-{esc(spec.id)}" data-figure="{esc(spec.id)}">{svgs[spec.id]}'
        f"<figcaption><b>{esc(spec.title)}.</b> {esc(spec.caption)}</figcaption></figure>"
    )


def render_html(content: ReportContent, svgs: Mapping[str, str]) -> str:
    """The report page; ``svgs`` maps each figure id of ``content.figures()`` to its inline ``<svg>``."""
    board, test = content.board, content.test
    figs = content.figures()
    missing = [f.id for f in figs if f.id not in svgs]
    if missing:
        raise ValueError(f"No SVG for figure(s) {missing}; render every figure of content.figures().")
    by_section: dict[str, list[FigureSpec]] = {}
    for f in figs:
        by_section.setdefault(f.section, []).append(f)

    def figures_of(section: str) -> str:
        """The figures of one section, as HTML."""
        return "".join(_figure(f, svgs) for f in by_section.get(section, []))

    sections = dict(SECTIONS)
    if content.sweep is not None:
        sections["seed-protocol"] = "Seed protocol (learned routers)"
    if content.audit is not None:
        sections["audit"] = "Audit"
    if content.xbench is not None or content.notes.get("xbench"):
        sections["xbench"] = XBENCH_TITLE
    from routerlab.report.cascade import SECTION as CASCADE_SECTION  # it imports this module
    from routerlab.report.cascade import TITLE as CASCADE_TITLE
    from routerlab.report.cascade import cascade_section_html

    if content.cascade is not None or content.notes.get(CASCADE_SECTION):
        sections[CASCADE_SECTION] = CASCADE_TITLE
    body = {
        "leaderboard": _leaderboard(content),
        "deferral": figures_of("deferral") + _deferral_table(content),
        "call-rate": figures_of("call-rate") + _call_rate_table(content),
        "utility": figures_of("utility") + _utility_table(content),
        "reliability": figures_of("reliability") + _reliability_table(content),
        "significance": _significance(content, figures_of("significance")),
        "diagnostics": _diagnostics(content, by_section.get("diagnostics", []), svgs),
        "seed-protocol": _sweep(content),
        "audit": _audit(content),
        "xbench": "" if content.xbench is None else xbench_section(content.xbench, by_section.get("xbench", []), svgs),
        CASCADE_SECTION: ""
        if content.cascade is None
        else cascade_section_html(content.cascade, by_section.get(CASCADE_SECTION, []), svgs),
    }
    parts = [
        f'<section id="{sid}"><h2>{esc(title)}</h2>{body[sid]}{_notes(content, sid)}</section>'
        for sid, title in sections.items()
    ]
    meta = (
        f"{board.split} split: {board.n_queries:,} queries × {board.n_models} models; trained on "
        f"{esc(', '.join(board.meta.get('train_splits', ['train'])))} ({board.meta.get('n_train', '?')} queries). "
        f"Cost unit <code>{esc(board.cost_unit)}</code>. Oracle quality {fmt(board.oracle_quality)}, "
        f"ceiling {fmt(board.ceiling)}. λ evaluated: {', '.join(f'{v:g}' for v in board.lams)}."
    )
    return _page(
        title=f"routerlab report: {esc(board.dataset)}",
        header=f"<h1>Routing report: {esc(board.dataset)}</h1><p>{meta}</p>"
        f"<p>Models: {esc(', '.join(test.model_names))}.</p>",
        sections=sections,
        parts=parts,
        footer=f"Written by routerlab {esc(__version__)}. Confidence intervals: {content.n_resamples} paired "
        f"bootstrap resamples of the test queries (seed {content.seed}), 95 % percentile intervals. "
        "Bound routers read the true outcomes and are shown for reference only.",
    )


def _page(*, title: str, header: str, sections: Mapping[str, str], parts: Sequence[str], footer: str) -> str:
    """The page around the sections: head with the inline CSS, header, navigation, sections, footer (HTML)."""
    nav = "".join(f'<a href="#{sid}">{esc(name)}</a>' for sid, name in sections.items())
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header>{header}</header>\n"
        f"<nav>{nav}</nav>\n<main>\n" + "\n".join(parts) + "\n</main>\n"
        f"<footer>{footer}</footer>\n</body>\n</html>\n"
    )


def render_xbench_html(content: XBenchContent, svgs: Mapping[str, str]) -> str:
    """The page of a folder holding only ``xbench.json``: its RouterXBench section, figures inline."""
    x = content.xbench
    figs = content.figures()
    missing = [f.id for f in figs if f.id not in svgs]
    if missing:
        raise ValueError(f"No SVG for figure(s) {missing}; render every figure of content.figures().")
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in content.notes.get("xbench", []))
    part = f'<section id="xbench"><h2>{XBENCH_TITLE}</h2>{xbench_section(x, figs, svgs)}{notes}</section>'
    resamples = f"{x.n_resamples} paired bootstrap resamples" if x.n_resamples else "paired bootstrap resamples"
    return _page(
        title=f"routerlab report: {esc(x.title)}",
        header=f"<h1>RouterXBench report: {esc(x.title)}</h1><p>Small model {esc(x.model)}, large model "
        f"{esc(x.large_model)}; {len(x.table1.groups)} setting(s) in Table 1.</p>",
        sections={"xbench": XBENCH_TITLE},
        parts=[part],
        footer=f"Written by routerlab {esc(__version__)} from xbench.json. Confidence intervals and tiers are "
        f"the file's: {resamples} of the test queries, shared by the routers of a setting.",
    )


# --------------------------------------------------------------------------- sections


def _leaderboard(content: ReportContent) -> str:
    unit = content.board.cost_unit
    out = [
        '<p class="lead">Routers in the same <b>tier</b> are statistically tied: the 95 % paired-bootstrap CI of '
        "their U(λ) difference to the tier's leader includes 0, so they are listed alphabetically, not ranked. "
        "Each later tier is significantly below the leader of every earlier one. Brackets: 95 % CIs. "
        f"Mean cost in <code>{esc(unit)}</code> per query.</p>"
    ]
    folds = any(s.fold_sd is not None for s in content.spread.values())
    spread_head = list(SPREAD_HEAD[: 3 if folds else 2]) if content.spread else []
    for lam, entries in content.entries.items():
        rows, classes = [], []
        for e in entries:
            r = e.row
            tier = "bound" if e.bound else (str(e.tier) if e.tier is not None else "–")
            top = max(r.call_rate.items(), key=lambda kv: kv[1]) if r.call_rate else ("–", 0.0)
            spread = [esc(c) for c in spread_cells(e, content.spread, lam, folds=folds)] if content.spread else []
            rows.append(
                [
                    tier,
                    esc(r.router),
                    fmt_ci(e.utility),
                    fmt_ci(e.quality),
                    *spread,
                    fmt_cost(r.mean_cost),
                    fmt(r.oracle_gap),
                    fmt(r.cna),
                    f"{esc(top[0].rsplit('/', 1)[-1])} ({top[1]:.0%})",
                ]
            )
            classes.append("bound" if e.bound else ("tier-even" if (e.tier or 0) % 2 == 0 else "tier-odd"))
        head = [
            "tier",
            "router",
            "U(λ) [95% CI]",
            "quality [95% CI]",
            *spread_head,
            "mean cost",
            "gap to oracle",
            "CNA",
            "most-used model",
        ]
        out.append(f"<h3>λ = {lam:g}</h3>")
        lb_id = f"leaderboard-lam-{lam:g}"
        wrap = (7 + len(spread_head),)
        out.append(table(head, rows, cls="leaderboard", row_cls=classes, left=2, element_id=lb_id, wrap=wrap))
    if content.spread:
        out.append(f'<p class="lead">{esc(SPREAD_NOTE)}</p>')
    return "".join(out)


def _deferral_table(content: ReportContent) -> str:
    d = content.deferral
    if d is None:
        return ""
    rows = []
    for name in d.points:
        iv = content.deferral_auc.get(name)
        rows.append(
            [
                esc(name),
                fmt_ci(iv) if iv is not None else fmt(d.auc[name]),
                fmt(float(d.points[name].y.max())),
                fmt_cost(float(d.points[name].x.min())),
            ]
        )
    if d.oracle is not None:
        rows.append(
            [
                "oracle frontier (bound)",
                fmt(d.oracle_auc),
                fmt(float(d.oracle.y.max())),
                fmt_cost(float(d.oracle.x.min())),
            ]
        )
    lo, hi = d.x_range
    lead = (
        f'<p class="lead">AUC: mean quality of the hull over budgets from {fmt_cost(lo)} to {fmt_cost(hi)} '
        f"{esc(d.cost_unit)} (the single models' mean costs), quality 0 below a router's cheapest point.</p>"
    )
    return lead + table(
        ["router", "deferral AUC [95% CI]", "peak quality", "lowest mean cost"], rows, element_id="deferral-auc"
    )


def _call_rate_table(content: ReportContent) -> str:
    c = content.call_rate
    if c is None:
        return ""
    rows = [
        [esc(n) + (" (bound)" if n in c.bounds else ""), fmt(c.auroc[n]), fmt(c.lpm[n]), fmt(c.mpm[n]), fmt(c.hcr[n])]
        for n in c.curves
    ]
    lead = (
        f'<p class="lead">Small model quality {fmt(c.perf_small)}, large {fmt(c.perf_large)}. LPM: mean Φ over call '
        f"rates [0, {c.d1:g}]; MPM: mean Φ from {c.d1:g} to the first call rate reaching τ1 = {fmt(c.tau[0])}; "
        f"HCR: 1 − mean call rate where Φ ∈ [{fmt(c.tau[0])}, {fmt(c.tau[1])}] (RouterXBench §3.3). AUROC: the "
        "router's preference for the small model against the small model being correct. – = undefined.</p>"
    )
    return lead + table(["router", "AUROC", "LPM", "MPM", "HCR"], rows, element_id="call-rate-metrics")


def _utility_table(content: ReportContent) -> str:
    u = content.utility
    head = ["router", *[f"U({v:g})" for v in u.lams]]
    rows = [
        [esc(n) + (" (bound)" if n in u.bounds else ""), *[fmt(float(v)) for v in vals]]
        for n, vals in u.utility.items()
    ]
    return table(head, rows, element_id="utility-table")


def _reliability_table(content: ReportContent) -> str:
    r = content.reliability
    if r is None or not r.tables:
        return ""
    rows = [[esc(n), fmt(r.ece[n]), fmt(r.brier[n]), f"{int(r.tables[n].count.sum()):,}"] for n in r.tables]
    return table(["router", "ECE", "Brier", "(query, model) pairs"], rows, element_id="reliability-table")


def _significance(content: ReportContent, figures: str) -> str:
    if not content.significance:
        return ""
    out = [
        '<p class="lead">Pairwise differences of mean per-query U(λ) between routers (bounds aside), with 95 % '
        "paired-bootstrap CIs; only differences whose CI excludes 0 are coloured.</p>",
        figures,
    ]
    for lam, disp in content.significance.items():
        items = "".join(
            f"<li>tier {i}: {esc(', '.join(sorted(t)))}{' (tied)' if len(t) > 1 else ''}</li>"
            for i, t in enumerate(disp.tiers, start=1)
        )
        out.append(f'<h3>Tiers at λ = {lam:g}</h3><ul class="tiers">{items}</ul>')
        rows = []
        for pd in disp.table.rows():
            iv = pd.interval
            rows.append(
                [
                    esc(pd.a),
                    esc(pd.b),
                    fmt(iv.estimate),
                    f"[{fmt(iv.low)}, {fmt(iv.high)}]",
                    "yes" if pd.excludes_zero else "no (tied)",
                ]
            )
        out.append(
            table(
                ["a", "b", "mean(a) − mean(b)", "95% CI", "significant"],
                rows,
                left=2,
                element_id=f"significance-lam-{lam:g}",
            )
        )
    return "".join(out)


def _diagnostics(content: ReportContent, figs: Sequence[FigureSpec], svgs: Mapping[str, str]) -> str:
    share = content.share
    out = [f"<h3>Collapse: routing share at λ = {content.main_lam:g}</h3>"]
    out += [_figure(f, svgs) for f in figs if f.id == "routing-share"]
    collapsed = {r: v for r, v in share.collapsed.items() if r not in content.bounds}
    items = []
    for r, (m, s) in collapsed.items():
        what = f"{esc(r)} routes {s:.1%} of the test queries to {esc(m)} (≥ {share.threshold:.0%})"
        if r in content.query_blind:
            items.append(f"<li>{what}: expected, its scores are the same for every query.</li>")
        else:
            items.append(
                f'<li class="warn">⚠ {what}: collapsed onto one model. Check whether it uses its features at all '
                "(routerlab.experiments.collapse_controls).</li>"
            )
    if items:
        out.append(f'<ul id="collapse-warnings">{"".join(items)}</ul>')
    else:
        out.append(
            f'<p id="collapse-warnings">No router sends ≥ {share.threshold:.0%} of the queries to one model.</p>'
        )
    rows = [
        [esc(m), *[f"{v:.1%}" if v > 0 else "" for v in share.share[:, j]]]
        for j, m in enumerate(share.models)
        if share.share[:, j].any()
    ]
    out.append(table(["model", *[esc(r) for r in share.routers]], rows, element_id="routing-share-table"))
    he = content.hard_easy
    out.append(f"<h3>Plateau: hard vs easy queries at λ = {content.main_lam:g}</h3>")
    out += [_figure(f, svgs) for f in figs if f.id == "hard-easy"]
    if he is not None:
        g = he.gap
        rows = [[esc(r), fmt(float(g.router_hard[i])), fmt(float(g.router_easy[i]))] for i, r in enumerate(he.routers)]
        rows.append(["oracle", fmt(g.oracle_hard), fmt(g.oracle_easy)])
        out.append(
            f'<p class="lead">Hard: {g.f_hard:.1%} of test queries, easy: {g.f_easy:.1%}. Oracle − mean router gap: '
            f"{fmt(g.gap_hard)} on hard vs {fmt(g.gap_easy)} on easy queries (ratio {fmt(g.ratio, 2)}); hard queries "
            f"hold {fmt(g.share_explained * 100, 1)} % of the whole gap; router spread on hard queries "
            f"{fmt(g.spread_hard)}.</p>"
        )
        out.append(table(["router", "accuracy on hard", "accuracy on easy"], rows, element_id="hard-easy-table"))
    if content.exchanged:
        out.append(f"<h3>Exchanged wins at λ = {content.main_lam:g}</h3>")
        out.append(
            '<p class="lead">Where two routers disagree, do they trade wins (large |ΔY|, small net ΔY) or is one '
            "better? (routing-plateau (arXiv:2606.07587) §5.2)</p>"
        )
        rows = [
            [
                esc(a),
                esc(b),
                f"{w.n_disagree / w.n_queries:.1%}",
                str(w.wins_a),
                str(w.wins_b),
                fmt(w.abs_mean),
                fmt(w.signed_mean),
                fmt(w.accuracy_gap),
            ]
            for a, b, w in content.exchanged
        ]
        out.append(
            table(
                [
                    "a",
                    "b",
                    "disagree",
                    "wins a",
                    "wins b",
                    "|ΔY| per disagreement",
                    "ΔY per disagreement",
                    "accuracy gap",
                ],
                rows,
                left=2,
                element_id="exchanged-wins",
            )
        )
    return "".join(out)


def _sweep(content: ReportContent) -> str:
    doc = content.sweep
    if doc is None:
        return ""
    lams = [f"{float(v):g}" for v in doc.get("protocol", {}).get("lams", [])]
    rows = []
    for r in doc["rows"]:
        if r.get("status") != "ok":
            rows.append([esc(r.get("router")), esc(r.get("encoder")), "failed", "", "", *[""] * len(lams)])
            continue
        n = len(r.get("seeds", []))
        params = ", ".join(f"{k}={v}" for k, v in (r.get("params") or {}).items()) or "–"

        def ms(mean: float | None, std: float | None, n: int = n) -> str:
            if mean is None:
                return "–"
            return f"{mean:.4f} ± {std:.4f}" if n > 1 and std is not None else f"{mean:.4f}"

        cells = [ms(r["test_utility_mean"].get(k), r["test_utility_std"].get(k)) for k in lams]
        rows.append(
            [
                esc(r["router"]),
                esc(r["encoder"]),
                esc(params),
                str(n),
                ms(r.get("test_acc_mean"), r.get("test_acc_std")),
                *cells,
            ]
        )
    lead = (
        '<p class="lead">The seed protocol of <code>routerlab evaluate</code>/<code>sweep</code>: configuration '
        "selected on validation, mean ± std (ddof 0) over seeds on the test split. The leaderboard above holds one "
        "fit of the selected configuration (seed 42).</p>"
    )
    head = ["router", "encoder", "selected params", "seeds", "test accuracy", *[f"U({k})" for k in lams]]
    return lead + table(head, rows, left=3, element_id="seed-protocol-table", wrap=(2,))


def _audit(content: ReportContent) -> str:
    a = content.audit
    if a is None:
        return ""
    c = a.counts()
    lead = (
        f'<p class="lead">Audit of <code>{esc(a.dataset)}</code> ({a.n_queries:,} queries × {a.n_models} models): '
        f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} note(s).</p>"
    )
    rows = [
        [
            esc(f.check),
            f'<span class="sev-{esc(f.severity)}">{esc(f.severity)}</span>',
            esc(f.title),
            esc(f.advice) or "–",
        ]
        for f in a.findings
    ]
    return lead + table(
        ["check", "severity", "finding", "what to do"], rows, left=4, element_id="audit-findings", wrap=(2, 3)
    )


# --------------------------------------------------------------------------- RouterXBench

XBENCH_TITLE = "RouterXBench"


def _x_ci(iv: Interval, signed: bool = False) -> str:
    return f'{fmt3(iv.estimate, signed)} <span class="ci">[{fmt3(iv.low, signed)}, {fmt3(iv.high, signed)}]</span>'


def _params(row: Table1Row) -> str:
    return esc(", ".join(f"{k}={v}" for k, v in row.params.items())) or "–"


def _table1(group: XBenchGroup, reference: str, element_id: str) -> str:
    rows = [
        [
            esc(r.router),
            _x_ci(r.auroc),
            "(reference)" if r.delta is None else _x_ci(r.delta, signed=True),
            esc(r.mark),
            fmt3(r.lpm),
            fmt3(r.mpm),
            fmt3(r.hcr),
            _params(r),
        ]
        for r in group.rows
    ]
    head = ["router", "AUROC [95% CI]", f"Δ AUROC vs {esc(reference)} [95% CI]", "tier", "LPM", "MPM", "HCR"]
    return table([*head, "selected"], rows, element_id=element_id, wrap=(7,))


def _sizes(group: XBenchGroup) -> str:
    sizes = [f"{n:,} {what}" for n, what in ((group.n_train, "training"), (group.n_test, "test")) if n is not None]
    return f" ({' / '.join(sizes)} queries)" if sizes else ""


def _grid_cell(row: Table1Row | None) -> str:
    if row is None:
        return "–"
    if row.delta is None:
        return _x_ci(row.auroc) + " (ref.)"
    return f"{_x_ci(row.auroc)} Δ {fmt3(row.delta.estimate, signed=True)}{esc(row.mark)}"


def _grid(table_: XBenchTable, element_id: str, *, scaling: bool = False) -> str:
    """Routers × groups: AUROC [95% CI] and Δ with its tier against the table's reference."""
    head = ["router"]
    for g in table_.groups:
        head.append(esc(g.name) + (f" (n = {g.n_train:,})" if scaling and g.n_train is not None else ""))
    rows = [[esc(name), *[_grid_cell(g.row(name)) for g in table_.groups]] for name in table_.routers]
    lead = (
        f'<p class="lead">AUROC [95% CI]; Δ: paired difference to {esc(table_.reference)} with its tier '
        "(** / *: its 99 % / 95 % interval excludes 0); – = not scored there.</p>"
    )
    return lead + table(head, rows, element_id=element_id)


def xbench_section(results: XBenchResults, figs: Sequence[FigureSpec], svgs: Mapping[str, str]) -> str:
    """The RouterXBench section: Tab. 1 per setting, Tab. 3, Tab. 4, §6 scaling, notes and commands (HTML)."""
    by_id = {f.id: f for f in figs}
    x = results
    resamples = f" ({x.n_resamples} resamples)" if x.n_resamples else ""
    out = [
        f'<p class="lead">{esc(x.title)}: <b>{esc(x.model)}</b> (small, local) and <b>{esc(x.large_model)}</b> '
        "(large). AUROC: the router's keep-the-small-model score against the small model's correctness (0.5 = "
        "chance). Δ: the paired-bootstrap difference to the table's reference on the same resampled test "
        f"queries{resamples}; tier ** when its 99 % interval excludes 0, * when its 95 % one does. LPM, MPM and "
        "HCR of the call-rate curve Φ (RouterXBench §3.3, Eqs. 6–11); – = undefined (no large-model outcomes "
        "on the test set, or no such band on Φ). Brackets: 95 % CIs.</p>"
    ]
    for i, g in enumerate(x.table1.groups):
        out.append(f"<h3>Table 1 — {esc(g.name)}{_sizes(g)}</h3>")
        out.append(_table1(g, x.table1.reference, f"xbench-table1-{i}"))
    if "xbench-auroc" in by_id:
        out.append(_figure(by_id["xbench-auroc"], svgs))
    if x.table3 is not None:
        out += ["<h3>Table 3 — layer aggregation</h3>", _grid(x.table3, "xbench-table3")]
    if x.table4 is not None:
        out += ["<h3>Table 4 — representation, same linear probe</h3>", _grid(x.table4, "xbench-table4")]
    if x.scaling is not None:
        out += ["<h3>§6 data scaling — test AUROC by training queries</h3>"]
        out.append(_grid(x.scaling, "xbench-scaling", scaling=True))
        if "xbench-scaling" in by_id:
            out.append(_figure(by_id["xbench-scaling"], svgs))
    for title, text in x.notes:
        paragraphs = "".join(f"<p>{esc(p.strip())}</p>" for p in text.split("\n\n") if p.strip())
        out.append(f'<h3>{esc(title)}</h3><div class="xbench-note">{paragraphs}</div>')
    if x.commands:
        out.append('<h3>Commands</h3><pre id="xbench-commands"><code>' + esc("\n".join(x.commands)) + "</code></pre>")
    return "".join(out)


__all__ = ["CSS", "SECTIONS", "XBENCH_TITLE", "render_html", "render_xbench_html", "xbench_section"]
