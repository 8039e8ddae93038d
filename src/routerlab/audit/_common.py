"""Shared pieces of the audit checks: full-quality labels, per-group means, paper references."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from routerlab.data.schema import RoutingData
from routerlab.metrics.calibration import oracle_labels

#: "Who Routes the Router: Rethinking the Evaluation of LLM Routing Systems", an anonymous double-blind
#: submission with no arXiv id (code: https://anonymous.4open.science/r/rethinking-routing-evaluation-DE30).
RETHINKING = 'rethinking-router-evaluation.txt ("Who Routes the Router")'
#: "Unsolvability Ceiling in Multi-LLM Routing: An Empirical Study of Evaluation Artifacts" (its text gives no
#: arXiv id).
UNSOLVABILITY = 'unsolvability-ceiling-artifacts.txt ("Unsolvability Ceiling in Multi-LLM Routing")'

#: Quality at or above which a cell counts as "full quality" / solved (Y is in [0, 1]).
SOLVED_THRESHOLD = 1.0
#: Float tolerance when comparing a quality to the solved threshold (scores like 8/9 rescaled to [0, 1]).
_EPS = 1e-9


def pick_best(quality: np.ndarray, cost: np.ndarray, eligible: np.ndarray) -> int:
    """Column with the highest quality among ``eligible``; ties to the cheaper, then the lower column."""
    q = np.where(eligible & np.isfinite(quality), quality, -np.inf)
    c = np.where(np.isfinite(cost), cost, np.inf)
    order = np.lexsort((np.arange(len(q)), c, -q))
    return int(order[0])


def answered(data: RoutingData) -> np.ndarray:
    """Boolean row mask: queries with at least one observed outcome."""
    mask: np.ndarray = np.asarray(data.observed.any(axis=1), dtype=bool)
    return mask


def finite_cost(data: RoutingData) -> np.ndarray:
    """Cost with missing values as +inf (never chosen as the cheapest)."""
    out: np.ndarray = np.where(np.isfinite(data.cost), data.cost, np.inf)
    return out


def solved_cells(data: RoutingData, threshold: float = SOLVED_THRESHOLD) -> np.ndarray:
    """Boolean matrix: observed cells whose quality reaches ``threshold``."""
    with np.errstate(invalid="ignore"):
        out: np.ndarray = data.observed & (np.nan_to_num(data.Y, nan=-1.0) >= threshold - _EPS)
    return out


def full_quality_labels(data: RoutingData, threshold: float = SOLVED_THRESHOLD) -> np.ndarray:
    """Per query the cheapest model reaching full quality (``Y >= threshold``); -1 for "none", -2 if unanswered.

    This is `unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §4.2's
    optimal-tier label ("queries where no tier achieves score2 are labeled none"):
    :func:`routerlab.metrics.calibration.oracle_labels`, with the float tolerance of :func:`solved_cells` and a
    missing cost counted as the dearest.
    """
    labels = oracle_labels(Y=data.Y, cost=finite_cost(data), threshold=threshold - _EPS)
    labels[~answered(data)] = -2
    return labels


def best_observed(data: RoutingData) -> np.ndarray:
    """Per query the highest observed quality (NaN for unanswered rows)."""
    obs = data.observed
    best = np.where(obs, data.Y, -np.inf).max(axis=1) if data.n_models else np.full(data.n_queries, -np.inf)
    out: np.ndarray = np.where(np.isfinite(best), best, np.nan)
    return out


def group_means(data: RoutingData, keys: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per group of ``keys`` (e.g. categories) and model: mean observed quality and count of outcomes.

    Returns ``(group_names, means, counts)`` with ``means[g, m]`` NaN where the model has no outcome
    in the group.
    """
    names, inverse = np.unique(keys.astype(str), return_inverse=True)
    obs = data.observed
    y = np.where(obs, data.Y, 0.0)
    sums = np.zeros((len(names), data.n_models))
    counts = np.zeros((len(names), data.n_models))
    np.add.at(sums, inverse, y)
    np.add.at(counts, inverse, obs.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return [str(n) for n in names], means, counts


def share(numerator: float | int, denominator: float | int) -> float | None:
    """``numerator / denominator`` or None when the denominator is 0."""
    return float(numerator) / float(denominator) if denominator else None


def label_distribution(labels: np.ndarray, names: list[str], none_label: str | None = None) -> dict[str, float]:
    """Share of each label among ``labels >= 0`` (plus ``none_label`` for -1), largest first."""
    keep = labels >= -1 if none_label is not None else labels >= 0
    lab = labels[keep]
    if lab.size == 0:
        return {}
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        n = int((lab == j).sum())
        if n:
            out[name] = n / lab.size
    if none_label is not None and (lab == -1).any():
        out[none_label] = float((lab == -1).sum()) / lab.size
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def round_figs(values: Mapping[str, float | None], digits: int = 4) -> dict[str, float | None]:
    """Round a dict of floats for reading (None stays None)."""
    return {k: (None if v is None or not np.isfinite(v) else round(float(v), digits)) for k, v in values.items()}


# A date snapshot suffix: 2024-07-18, 20240718, 2024.07.18 (YYYY-MM-DD), or a 4-digit MMDD / YYMM tag
# such as gpt-4-0613 or mistral-large-2407; only as its own dash/underscore/@-separated token.
_DATE_RE = re.compile(
    r"(?:(?<=[-_@:])|^)"
    r"(20\d{2}[-_.]?(?:0[1-9]|1[0-2])[-_.]?(?:0[1-9]|[12]\d|3[01])"  # YYYY-MM-DD / YYYYMMDD
    r"|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"  # MMDD (OpenAI snapshots: 0613, 1106)
    r"|2[3-9](?:0[1-9]|1[0-2]))"  # YYMM (Mistral snapshots: 2407, 2411)
    r"(?=$|[-_@:])"
)
_NOISE_RE = re.compile(r"(?:^|[-_@:])(?:latest|hf)(?=$|[-_@:])")


def model_name_key(name: str) -> tuple[str, str]:
    """Normalised name of a model and its date snapshot tag, to spot one model under two names.

    The key is lower case, without an organisation prefix (``mistralai/``), a date snapshot suffix
    (``-2024-07-18``, ``-20240718``, ``-0613``, ``-2407``), a ``-latest``/``-hf`` tag, a leading ``meta-`` before
    ``llama``, or any punctuation: ``gpt-4o-mini`` and ``gpt-4o-mini-2024-07-18`` share ``gpt4omini``,
    ``Llama-3-8B`` and ``llama3-8b`` share ``llama38b``; version numbers stay (``v0.1`` ≠ ``v0.2``). The tag is
    the date removed, digits only (``""`` when none), so two *different* dated snapshots can be told apart.
    """
    text = name.strip().lower().rsplit("/", 1)[-1]
    dates = [m.group(1) for m in _DATE_RE.finditer(text)]
    text = _DATE_RE.sub("", text)
    text = _NOISE_RE.sub("", text)
    text = re.sub(r"^meta[-_ ]?(?=llama)", "", text)
    key = re.sub(r"[^a-z0-9]+", "", text)
    return key, "".join(re.sub(r"\D", "", d) for d in dates)
