"""Markdown tables for papers: the report's numbers as ``report.md``, figures linked as PNG files."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from routerlab._markdown import md_table
from routerlab.experiments.xbench import Table1Row, XBenchResults, XBenchTable, fmt3
from routerlab.metrics.bootstrap import Interval
from routerlab.report.content import (
    SEED_PROTOCOL_LEAD,
    SPREAD_HEAD,
    SPREAD_NOTE,
    FigureSpec,
    ReportContent,
    XBenchContent,
    seed_protocol_table,
    spread_cells,
)


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _ci(iv: Interval | None, digits: int = 4) -> str:
    if iv is None:
        return "–"
    return f"{iv.estimate:.{digits}f} [{iv.low:.{digits}f}, {iv.high:.{digits}f}]"


def render_markdown(content: ReportContent, pngs: Mapping[str, str]) -> str:
    """``report.md``: one table per section; ``pngs`` maps figure ids to paths relative to the file."""
    board = content.board
    figs = {f.id: f for f in content.figures()}
    lines = [
        f"# Routing report: {board.dataset}",
        "",
        f"{board.split} split, {board.n_queries} queries × {board.n_models} models; cost unit `{board.cost_unit}`; "
        f"oracle quality {_num(board.oracle_quality)}, ceiling {_num(board.ceiling)}. 95 % CIs from "
        f"{content.n_resamples} paired bootstrap resamples (seed {content.seed}).",
    ]

    def figure(fid: str) -> None:
        if fid in figs and fid in pngs:
            lines.extend(["", f"![{figs[fid].title}]({pngs[fid]})", "", f"*{figs[fid].caption}*"])

    lines += [
        "",
        "## Leaderboard",
        "",
        "Routers in the same tier are statistically tied (listed alphabetically, not ranked).",
    ]
    folds = any(s.fold_sd is not None for s in content.spread.values())
    spread_head = list(SPREAD_HEAD[: 3 if folds else 2]) if content.spread else []
    for lam, entries in content.entries.items():
        rows = [
            [
                "bound" if e.bound else (str(e.tier) if e.tier is not None else "–"),
                e.row.router,
                _ci(e.utility),
                _ci(e.quality),
                *(spread_cells(e, content.spread, lam, folds=folds) if content.spread else []),
                f"{e.row.mean_cost:.4g}",
                _num(e.row.oracle_gap),
                _num(e.row.cna),
            ]
            for e in entries
        ]
        lines += ["", f"### λ = {lam:g}", ""]
        lines += md_table(
            [
                "tier",
                "router",
                "U(λ) [95% CI]",
                "quality [95% CI]",
                *spread_head,
                f"mean cost ({board.cost_unit})",
                "gap to oracle",
                "CNA",
            ],
            rows,
            left=2,
        )
    if content.spread:
        lines += ["", SPREAD_NOTE]
    d = content.deferral
    if d is not None:
        lines += ["", "## Deferral curves"]
        figure("deferral")
        rows = [
            [n, _ci(content.deferral_auc.get(n)) if n in content.deferral_auc else _num(d.auc[n])] for n in d.points
        ]
        if d.oracle is not None:
            rows.append(["oracle frontier (bound)", _num(d.oracle_auc)])
        lines += ["", *md_table(["router", "deferral AUC [95% CI]"], rows)]
    c = content.call_rate
    if c is not None:
        lines += ["", "## Call-rate curves", "", f"Pair: {c.small} (small) → {c.large} (large)."]
        figure("call-rate")
        rows = [[n, _num(c.auroc[n]), _num(c.lpm[n]), _num(c.mpm[n]), _num(c.hcr[n])] for n in c.curves]
        lines += ["", *md_table(["router", "AUROC", "LPM", "MPM", "HCR"], rows)]
    u = content.utility
    lines += ["", "## Cost-utility U(λ)"]
    figure("utility")
    rows = [[n, *[_num(float(v)) for v in vals]] for n, vals in u.utility.items()]
    lines += ["", *md_table(["router", *[f"U({v:g})" for v in u.lams]], rows)]
    r = content.reliability
    if r is not None and r.tables:
        lines += ["", "## Reliability"]
        figure("reliability")
        rows = [[n, _num(r.ece[n]), _num(r.brier[n])] for n in r.tables]
        lines += ["", *md_table(["router", "ECE", "Brier"], rows)]
    if content.significance:
        lines += ["", "## Significance"]
        for lam, disp in content.significance.items():
            figure(f"significance-lam-{lam:g}")
            tiers = "; ".join(f"tier {i}: {', '.join(sorted(t))}" for i, t in enumerate(disp.tiers, start=1))
            lines += ["", f"Tiers at λ = {lam:g}: {tiers}."]
    lines += ["", "## Diagnostics", ""]
    share = content.share
    figure("routing-share")
    rows = [[rt, *[f"{v:.1%}" for v in share.share[i]]] for i, rt in enumerate(share.routers)]
    lines += ["", *md_table(["router", *share.models], rows)]
    for rt, (m, s) in share.collapsed.items():
        if rt not in content.bounds:
            lines += ["", f"**Warning:** {rt} routes {s:.1%} of the queries to {m}: collapsed."]
    he = content.hard_easy
    if he is not None:
        figure("hard-easy")
        g = he.gap
        rows = [[rt, _num(float(g.router_hard[i])), _num(float(g.router_easy[i]))] for i, rt in enumerate(he.routers)]
        lines += [
            "",
            f"Hard queries: {g.f_hard:.1%} of the test split; gap hard {_num(g.gap_hard)} vs easy {_num(g.gap_easy)}; "
            f"share of the gap on hard queries {_num(g.share_explained)}.",
            "",
            *md_table(["router", "accuracy on hard", "accuracy on easy"], rows),
        ]
    if content.exchanged:
        rows = [
            [
                a,
                b,
                f"{w.n_disagree / w.n_queries:.1%}",
                str(w.wins_a),
                str(w.wins_b),
                _num(w.abs_mean),
                _num(w.signed_mean),
            ]
            for a, b, w in content.exchanged
        ]
        lines += [
            "",
            "### Exchanged wins",
            "",
            *md_table(["a", "b", "disagree", "wins a", "wins b", "|ΔY|", "ΔY"], rows, 2),
        ]
    if content.sweep is not None:
        head, rows = seed_protocol_table(content.sweep)
        lines += ["", "## Seed protocol (learned routers)", "", SEED_PROTOCOL_LEAD, "", *md_table(head, rows, left=3)]
    if content.audit is not None:
        lines += ["", "## Audit", ""]
        rows = [[f.check, f.severity, f.title] for f in content.audit.findings]
        lines += md_table(["check", "severity", "finding"], rows, left=3)
    if content.xbench is not None:
        lines += ["", *xbench_markdown(content.xbench, _figure_lines(figs, pngs))]
    if content.cascade is not None:
        from routerlab.report.cascade import cascade_markdown  # it imports this module

        lines += ["", *cascade_markdown(content.cascade, _figure_lines(figs, pngs))]
    for section, notes in content.notes.items():
        for n in notes:
            lines += ["", f"> Note ({section}): {n}"]
    return "\n".join(lines) + "\n"


def _figure_lines(figs: Mapping[str, FigureSpec], pngs: Mapping[str, str]) -> Callable[[str], list[str]]:
    """The Markdown of a figure (image link and caption) by id; nothing for a figure not drawn."""

    def lines(fid: str) -> list[str]:
        if fid not in figs or fid not in pngs:
            return []
        return ["", f"![{figs[fid].title}]({pngs[fid]})", "", f"*{figs[fid].caption}*"]

    return lines


def _x_ci(iv: Interval, signed: bool = False) -> str:
    return f"{fmt3(iv.estimate, signed)} [{fmt3(iv.low, signed)}, {fmt3(iv.high, signed)}]"


def _tier(mark: str) -> str:
    """``*``/``**`` escaped so that Markdown shows them rather than reading emphasis."""
    return mark.replace("*", "\\*")


def _grid_cell(row: Table1Row | None) -> str:
    if row is None:
        return "–"
    if row.delta is None:
        return f"{_x_ci(row.auroc)} (ref.)"
    return f"{_x_ci(row.auroc)} Δ {fmt3(row.delta.estimate, signed=True)}{_tier(row.mark)}"


def _xbench_grid(table: XBenchTable, *, scaling: bool = False) -> list[str]:
    head = ["router"]
    for g in table.groups:
        head.append(g.name + (f" (n = {g.n_train:,})" if scaling and g.n_train is not None else ""))
    rows = [[name, *[_grid_cell(g.row(name)) for g in table.groups]] for name in table.routers]
    lead = (
        f"AUROC [95% CI]; Δ: paired difference to {table.reference} with its tier (\\*\\* / \\*: its 99 % / 95 % "
        "interval excludes 0); – = not scored there."
    )
    return ["", lead, "", *md_table(head, rows)]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def xbench_markdown(results: XBenchResults, figure: Callable[[str], list[str]]) -> list[str]:
    """The RouterXBench section as Markdown lines: Tab. 1 per setting, Tab. 3, Tab. 4, §6, notes, commands."""
    x = results
    resamples = f" ({x.n_resamples} resamples)" if x.n_resamples else ""
    lines = [
        "## RouterXBench",
        "",
        f"{_one_line(x.title)}: {_one_line(x.model)} (small, local) and {_one_line(x.large_model)} (large). "
        "AUROC: keep-the-small-model score vs the small model's correctness (0.5 = chance). Δ: paired-bootstrap "
        f"difference to the table's reference{resamples}; tier \\*\\* when its 99 % interval excludes 0, \\* when "
        "its 95 % one does. LPM, MPM, HCR of the call-rate curve (RouterXBench §3.3); – = undefined. "
        "Brackets: 95 % CIs.",
    ]
    for g in x.table1.groups:
        sizes = [f"{n:,} {w}" for n, w in ((g.n_train, "training"), (g.n_test, "test")) if n is not None]
        heading = f"### Table 1 — {_one_line(g.name)}" + (f" ({' / '.join(sizes)} queries)" if sizes else "")
        rows = [
            [
                r.router,
                _x_ci(r.auroc),
                "(reference)" if r.delta is None else _x_ci(r.delta, signed=True),
                _tier(r.mark),
                fmt3(r.lpm),
                fmt3(r.mpm),
                fmt3(r.hcr),
                ", ".join(f"{k}={v}" for k, v in r.params.items()) or "–",
            ]
            for r in g.rows
        ]
        head = ["router", "AUROC [95% CI]", f"Δ AUROC vs {x.table1.reference} [95% CI]", "tier", "LPM", "MPM"]
        lines += ["", heading, "", *md_table([*head, "HCR", "selected"], rows)]
    lines += figure("xbench-auroc")
    if x.table3 is not None:
        lines += ["", "### Table 3 — layer aggregation", *_xbench_grid(x.table3)]
    if x.table4 is not None:
        lines += ["", "### Table 4 — representation, same linear probe", *_xbench_grid(x.table4)]
    if x.scaling is not None:
        lines += ["", "### §6 data scaling — test AUROC by training queries", *_xbench_grid(x.scaling, scaling=True)]
        lines += figure("xbench-scaling")
    for title, text in x.notes:
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        lines += ["", f"### {_one_line(title)}"]
        for p in paragraphs:
            lines += ["", p]
    if x.commands:
        fence = "~~~~" if any("```" in c for c in x.commands) else "```"
        lines += ["", "### Commands", "", f"{fence}sh", *x.commands, fence]
    return lines


def render_xbench_markdown(content: XBenchContent, pngs: Mapping[str, str]) -> str:
    """``report.md`` of a folder holding only ``xbench.json``: its RouterXBench section."""
    figs = {f.id: f for f in content.figures()}
    x = content.xbench
    lines = [f"# RouterXBench report: {_one_line(x.title)}", "", *xbench_markdown(x, _figure_lines(figs, pngs))]
    for n in content.notes.get("xbench", []):
        lines += ["", f"> Note: {n}"]
    return "\n".join(lines) + "\n"


__all__ = ["md_table", "render_markdown", "render_xbench_markdown", "xbench_markdown"]
