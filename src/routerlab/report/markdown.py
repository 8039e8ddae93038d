"""Markdown tables for papers: the report's numbers as ``report.md``, figures linked as PNG files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from routerlab.metrics.bootstrap import Interval
from routerlab.report.content import SEED_PROTOCOL_LEAD, ReportContent, seed_protocol_table


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _ci(iv: Interval | None, digits: int = 4) -> str:
    if iv is None:
        return "–"
    return f"{iv.estimate:.{digits}f} [{iv.low:.{digits}f}, {iv.high:.{digits}f}]"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(head: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """A GitHub-flavoured Markdown table (the first ``left`` columns left-aligned)."""
    align = ["---" if i < left else "---:" for i in range(len(head))]
    lines = ["| " + " | ".join(_cell(h) for h in head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return lines


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
    for lam, entries in content.entries.items():
        rows = [
            [
                "bound" if e.bound else (str(e.tier) if e.tier is not None else "–"),
                e.row.router,
                _ci(e.utility),
                _ci(e.quality),
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
                f"mean cost ({board.cost_unit})",
                "gap to oracle",
                "CNA",
            ],
            rows,
            left=2,
        )
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
    for section, notes in content.notes.items():
        for n in notes:
            lines += ["", f"> Note ({section}): {n}"]
    return "\n".join(lines) + "\n"


__all__ = ["md_table", "render_markdown"]
