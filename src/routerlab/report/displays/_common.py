"""Shared pieces of the displays: outcomes read as 0/1, each router's choices, labels, colours, short names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from routerlab.decisions import Decisions
from routerlab.errors import SchemaError
from routerlab.report._mpl import ORACLE_COLOUR, colour

#: graded outcomes are read as correct at or above this quality where a 0/1 label is needed
CORRECT_AT = 0.5


def binary_outcomes(Y: np.ndarray, threshold: float = CORRECT_AT) -> tuple[np.ndarray, bool]:
    """``Y`` as 0/1 labels (NaN kept), and whether it had to be thresholded (graded quality)."""
    Y = np.asarray(Y, dtype=np.float64)
    obs = ~np.isnan(Y)
    if np.isin(Y[obs], (0.0, 1.0)).all():
        return Y, False
    return np.where(obs, (Y >= threshold).astype(np.float64), np.nan), True


def _label(name: str, value: float | None, what: str, fmt: str = ".3f") -> str:
    return f"{name} ({what} {value:{fmt}})" if value is not None and np.isfinite(value) else name


def _style(i: int, name: str, bounds: Sequence[str], colors: Mapping[str, str] | None) -> dict[str, Any]:
    if name in bounds:
        return {"color": ORACLE_COLOUR, "linestyle": "--"}
    return {"color": _colour(i, name, colors)}


def _colour(i: int, name: str, colors: Mapping[str, str] | None) -> str:
    """``colors[name]`` when given (one colour per router across figures), else the ``i``-th of the palette."""
    return colors[name] if colors is not None and name in colors else colour(i)


def _short(name: str, n: int = 28) -> str:
    name = name.rsplit("/", 1)[-1]
    return name if len(name) <= n else name[: n - 1] + "…"


_NOTHING_TO_DRAW = "No router to draw: give decisions (router.decide(...)) or choices for at least one router."


def router_choices(
    *,
    decisions: Mapping[str, Decisions] | None,
    choices: Mapping[str, Mapping[float, np.ndarray]] | None,
    lams: Sequence[float],
) -> dict[str, dict[float, np.ndarray]]:
    """Each router's choices: ``decisions[name].choose(lam=λ)`` at ``lams``, else its saved ``choices``."""
    out: dict[str, dict[float, np.ndarray]] = {
        name: d.choices(sorted({float(v) for v in lams})) for name, d in (decisions or {}).items()
    }
    for name, ch in (choices or {}).items():
        if name not in out:
            out[name] = {float(k): np.asarray(v) for k, v in sorted(ch.items())}
    if not out:
        raise SchemaError(_NOTHING_TO_DRAW)
    return out


def _or_nan(fn: Any) -> float:
    value = _or_none(fn)
    return float("nan") if value is None else value


def _or_none(fn: Any) -> float | None:
    try:
        value = float(fn())
    except (ValueError, SchemaError):
        return None
    return value if np.isfinite(value) else None
