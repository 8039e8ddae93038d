"""Matplotlib, imported lazily: a missing install is a :class:`~routerlab.errors.PrerequisiteError`.

Figures written to disk are built with :class:`matplotlib.figure.Figure` directly (no pyplot: no
global state, no GUI backend). SVG output is made safe to inline several times in one HTML page:
no XML prolog, DOCTYPE or metadata (nothing that names a URL), text kept as text, and every
element id prefixed so that two figures never share an id.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routerlab._optional import require

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOTS_HINT = "pip install 'routerlab[plots]'"

#: colours of routers, in order (matplotlib's tab10 without grey, then tab20's light shades)
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
)
ORACLE_COLOUR = "#404040"

_RC = {
    "svg.fonttype": "none",  # text stays text: small files, searchable, no embedded glyph paths
    "svg.hashsalt": "routerlab",  # deterministic ids
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def require_matplotlib() -> Any:
    """Import and return :mod:`matplotlib`, or raise :class:`PrerequisiteError` naming the extra."""
    return require("matplotlib", f"Plots need matplotlib, which is not installed. Run: {PLOTS_HINT}")


def colour(i: int) -> str:
    """The colour of the ``i``-th router."""
    return PALETTE[i % len(PALETTE)]


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.2)) -> Axes:
    """``ax`` itself, or the axes of a new pyplot figure (interactive use, as scikit-learn's displays)."""
    if ax is not None:
        return ax
    require_matplotlib()
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize)
    return new


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A pyplot-free figure with routerlab's style."""
    with style():
        from matplotlib.figure import Figure

        return Figure(figsize=figsize, layout="constrained")


def style() -> Any:
    """A context manager applying routerlab's rc settings while drawing and saving."""
    matplotlib = require_matplotlib()
    return matplotlib.rc_context(_RC)


_ID = re.compile(r'\bid="([^"]+)"')


def to_svg(fig: Figure, prefix: str) -> str:
    """The figure as an inline ``<svg>`` element (see the module doc), ids prefixed with ``prefix``."""
    buf = io.StringIO()
    with style():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prolog and the DOCTYPE (it names a DTD URL)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    ids = set(_ID.findall(text))
    if ids:
        pattern = re.compile(
            r'(id="|#)(' + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)) + r')(?=["\)])'
        )
        text = pattern.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    return text.strip()


def to_png(fig: Figure, path: Path, dpi: int = 200) -> Path:
    """Write the figure as a PNG at ``dpi``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with style():
        fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None})
    return path
