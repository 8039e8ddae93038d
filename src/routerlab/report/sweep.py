"""The report of a sweep's output folder (``routerlab sweep --out DIR``): the summary and its studies.

``routerlab report DIR`` on a folder holding a sweep's ``summary.json`` and none of the files of
``routerlab evaluate --out`` writes this page: per dataset the seed-protocol table (selected
parameters, seeds, test accuracy and U(λ) as mean ± std over seeds, and the CV score with its std
over folds under ``selection: cv``), then the studies the sweep's variants answer
(:mod:`routerlab.experiments.sweep.studies`): accuracy against training-set size, by encoder,
frozen vs fine-tuned encoder, and before / after de-duplication (`routing-plateau.txt` §6;
`rethinking-router-evaluation.txt` Table 1), each as a table and a figure. A sweep has no
per-query decisions, so there are no CIs over queries here: run ``routerlab evaluate`` (or
``benchmarks/past_plateau.py``) for those.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routerlab._version import __version__
from routerlab.errors import SchemaError
from routerlab.experiments.evaluate import LEADERBOARD_JSON, PREDICTIONS_PARQUET, TEST_PARQUET
from routerlab.experiments.sweep.studies import (
    dedupe_rows,
    encoder_rows,
    finetune_rows,
    scaling_rows,
    studies_markdown,
)
from routerlab.experiments.sweep.summary import SUMMARY_JSON
from routerlab.experiments.xbench import XBENCH_JSON
from routerlab.report.content import FigureSpec, seed_protocol_table
from routerlab.report.displays.studies import DedupeDisplay, EncoderDisplay, FineTuneDisplay, ScalingDisplay

SECTION_SUMMARY = "sweep-summary"
SECTION_STUDIES = "sweep-studies"


@dataclass(frozen=True, slots=True)
class SweepContent:
    """The numbers and figures of a sweep folder's report."""

    folder: Path
    summary: Mapping[str, Any]
    notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        """The dataset keys of the summary, in first-seen order."""
        seen: dict[str, None] = {}
        for r in self.summary.get("rows", []):
            seen.setdefault(str(r.get("dataset")), None)
        return list(seen)

    def figures(self) -> list[FigureSpec]:
        """Per dataset: the scaling, encoder, fine-tuning and dedupe figures of the studies it holds."""
        studies: list[tuple[str, str, str, Any, Sequence[Any]]] = [
            (
                "scaling",
                "accuracy against training-set size",
                "Test accuracy at λ = 0 (mean ± one std over the protocol's seeds) of each router fitted on nested "
                "fractions of the training split (hash of the query id); validation and test are the same for "
                "every fraction (routing-plateau.txt §6).",
                ScalingDisplay,
                scaling_rows(self.summary),
            ),
            (
                "encoders",
                "accuracy by encoder",
                "Test accuracy at λ = 0 (± one std over seeds) of each router under each encoder of the sweep.",
                EncoderDisplay,
                encoder_rows(self.summary),
            ),
            (
                "finetune",
                "frozen vs fine-tuned encoder",
                "Test accuracy at λ = 0 (± one std over seeds) of each router on the frozen base encoder (dashed) and "
                "of the router that fine-tunes that encoder end to end (solid), at each training fraction "
                '(routing-plateau.txt §6, Tab. 6 "FT").',
                FineTuneDisplay,
                finetune_rows(self.summary),
            ),
            (
                "dedupe",
                "before and after de-duplication",
                "Avg. test accuracy over the sweep's λ values of each router fitted on the original training "
                "split and on the split without duplicate queries (rethinking-router-evaluation.txt Table 1); "
                "validation and test untouched.",
                DedupeDisplay,
                dedupe_rows(self.summary),
            ),
        ]
        figs: list[FigureSpec] = []
        for prefix, title, caption, display, rows in studies:
            for i, name in enumerate(sorted({r.dataset for r in rows})):
                mine = tuple(r for r in rows if r.dataset == name)
                figs.append(
                    FigureSpec(
                        f"{prefix}-{i}", f"{name}: {title}", caption, display(name, mine), (7.6, 4.2), SECTION_STUDIES
                    )
                )
        return figs


def is_sweep_only(folder: str | Path) -> bool:
    """True when ``folder`` holds a sweep's ``summary.json`` and no evaluation or RouterXBench files."""
    path = Path(folder)
    evaluated = any((path / f).is_file() for f in (TEST_PARQUET, PREDICTIONS_PARQUET, LEADERBOARD_JSON, XBENCH_JSON))
    return (path / SUMMARY_JSON).is_file() and not evaluated


def build_sweep_content(folder: str | Path) -> SweepContent:
    """The content of a sweep folder; a summary that cannot be read is a SchemaError naming the file."""
    path = Path(folder) / SUMMARY_JSON
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # bad UTF-8/JSON, or a nesting bomb
        raise SchemaError(f"{path} could not be read ({exc}); re-run `routerlab sweep` to write it.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise SchemaError(f"{path} is not a sweep summary (no 'rows' list); re-run `routerlab sweep` to write it.")
    notes: dict[str, list[str]] = {}
    if not studies_markdown(doc):
        notes[SECTION_STUDIES] = [
            "This sweep holds no study: add dataset variants (train_fraction, dedupe) or several encoders to its "
            "config (see benchmarks/configs/)."
        ]
    return SweepContent(Path(folder), doc, notes)


def _tables(content: SweepContent) -> list[tuple[str, list[str], list[list[str]]]]:
    """One seed-protocol table per dataset (and the CV score column under cross-validated selection)."""
    out = []
    cv = (content.summary.get("protocol") or {}).get("selection") == "cv"
    for name in content.datasets:
        rows = [r for r in content.summary["rows"] if str(r.get("dataset")) == name]
        head, body = seed_protocol_table({**content.summary, "rows": rows})
        if cv:
            head = [*head, "cv score (mean ± std over folds)"]
            body = [
                [*b, _cv_cell(r.get("cv"))] for b, r in zip(body, rows, strict=True)
            ]  # the std over folds beside the seeds' std
        out.append((name, head, body))
    return out


def _cv_cell(cv: Any) -> str:
    if not isinstance(cv, Mapping) or cv.get("score_mean") is None:
        return "–"
    return f"{float(cv['score_mean']):.4f} ± {float(cv.get('score_std') or 0.0):.4f}"


def render_sweep_markdown(content: SweepContent, pngs: Mapping[str, str]) -> str:
    """``report.md`` of a sweep folder."""
    from routerlab.report.markdown import md_table

    lines = [f"# Sweep report: {content.folder.name}", "", _lead(content)]
    for name, head, body in _tables(content):
        lines += ["", f"## {name}", "", *md_table(head, body, left=3)]
    studies = studies_markdown(content.summary)
    if studies:
        lines += ["", "## Studies", "", studies.rstrip()]
    for f in content.figures():
        if f.id in pngs:
            lines += ["", f"![{f.title}]({pngs[f.id]})", "", f"*{f.caption}*"]
    for n in content.notes.get(SECTION_STUDIES, []):
        lines += ["", f"> Note: {n}"]
    return "\n".join(lines) + "\n"


def _lead(content: SweepContent) -> str:
    protocol = content.summary.get("protocol") or {}
    how = (
        f"selected by {protocol.get('cv_folds')}-fold cross-validation on train ∪ val and refitted there"
        if protocol.get("selection") == "cv"
        else "selected on validation (routing-plateau.txt App. E.4)"
    )
    return (
        f"Seed protocol: configurations {how}; test figures are mean ± std (ddof 0) over the seeds of the selected "
        "configuration. No per-query CIs: a sweep keeps no decisions (use `routerlab evaluate` for them)."
    )


def render_sweep_html(content: SweepContent, svgs: Mapping[str, str]) -> str:
    """The page of a sweep folder: a table per dataset, the studies' tables and figures inline."""
    from routerlab.report.html import _figure, _page, esc, table

    figs = content.figures()
    missing = [f.id for f in figs if f.id not in svgs]
    if missing:
        raise ValueError(f"No SVG for figure(s) {missing}; render every figure of content.figures().")
    parts = [f'<section id="{SECTION_SUMMARY}"><h2>Seed protocol</h2><p class="lead">{esc(_lead(content))}</p>']
    for name, head, body in _tables(content):
        cells = [[esc(c) for c in r] for r in body]
        parts.append(f"<h3>{esc(name)}</h3>" + table([esc(h) for h in head], cells, left=3))
    parts.append("</section>")
    studies = [f"<h2>Studies</h2>{''.join(_figure(f, svgs) for f in figs)}"]
    studies += [f'<p class="note">{esc(n)}</p>' for n in content.notes.get(SECTION_STUDIES, [])]
    parts.append(f'<section id="{SECTION_STUDIES}">' + "".join(studies) + "</section>")
    return _page(
        title=f"routerlab sweep report: {esc(content.folder.name)}",
        header=f"<h1>Sweep report: {esc(content.folder.name)}</h1><p>{len(content.datasets)} dataset(s), "
        f"{len(content.summary.get('rows', []))} summary rows.</p>",
        sections={SECTION_SUMMARY: "Seed protocol", SECTION_STUDIES: "Studies"},
        parts=parts,
        footer=f"Written by routerlab {esc(__version__)} from {esc(SUMMARY_JSON)}.",
    )


__all__ = ["SweepContent", "build_sweep_content", "is_sweep_only", "render_sweep_html", "render_sweep_markdown"]
