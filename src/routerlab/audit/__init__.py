"""Audit a routing dataset before trusting results on it.

>>> from routerlab.audit import audit
>>> report = audit(data)                                   # every check, default options
>>> report = audit(data, ["duplicates"], encoder="minilm")  # near duplicates by embedding
>>> print(report.to_markdown()); report.to_json()

Checks (:data:`AUDIT_CHECKS`; each ``(data, **options) -> list[Finding]``, docstrings give the formula
and the paper section):

``oracle_ceiling``
    unsolvability ceiling, CNA ceiling, optimal-label distribution and routing gain per source
    (`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §4.2, §6.1).
``label_sanity``
    oracle-label majority share (the 79 % majority trap, §8), prices, constant costs, token counts,
    coverage.
``specialist_score``
    per-category specialist score and its distribution (`rethinking-router-evaluation.txt` ("Who Routes the Router")
    §4.2, §4.5).
``model_dominance``
    average rank across categories; flags a dominant model (§4.3, Table 2).
``model_redundancy``
    Jaccard similarity of correct sets and greedy pruning (§4.3, App. H).
``duplicates``
    exact and near duplicates (cosine >= 0.999), conflicting labels, train/test leakage (§4.2, §4.5);
    :func:`dedupe` writes the cleaned dataset.
``artifacts``
    dual-judge discordance, truncation and parse failures among unsolved queries, exact-match
    corrected ceiling (`unsolvability-ceiling-artifacts.txt` §3.3, §5).
``zero_cost_tokens``
    a model's rows at cost 0 although they used tokens (any share), with examples.
``constant_tokens``
    ``tokens_in``/``tokens_out`` identical on every row of a model: a default filled in.
``missing_prices``
    models with token counts but no ``input_price``/``output_price``; rows with tokens but no cost.
``model_aliases``
    near-identical model names (case, punctuation, date suffix) splitting or doubling coverage.

The last four (:data:`DATA_WARNING_CHECKS`) are cheap; :func:`data_warnings` runs them and returns one
line per warning, for commands such as ``routerlab evaluate`` to print before trusting a result.

Probes (:data:`PROBE_CHECKS`, run only when named, since they fit routers; :mod:`routerlab.audit.probes`):

``pseudo_specialists``
    inject synthetic specialists on hard categories and measure each router's change in agreement with
    the generalist (`rethinking-router-evaluation.txt` §4.3, Table 4).
``ood_holdout``
    hold categories (default: math) out of training and report each router's change on them (§4.4,
    App. I.2, Tables 5 and 7).

Options are passed by keyword to :func:`audit` and reach every selected check that takes them
(``solved_threshold`` is shared by the ceiling, redundancy, label and artifact checks); an option no
selected check takes is an error with the closest known names.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from routerlab._registry import Registry
from routerlab.audit.duplicates import (
    dedupe,
    exact_duplicate_groups,
    group_pairs,
    label_disagreement,
    near_duplicate_groups,
    near_duplicate_pairs,
    normalise_text,
)
from routerlab.audit.findings import SEVERITIES, AuditReport, Finding, make_finding
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError, UnknownNameError

log = logging.getLogger(__name__)

CheckFn = Callable[..., list[Finding]]

AUDIT_CHECKS: Registry[CheckFn] = Registry("check")
#: The checks :func:`audit` runs when none are named, in report order.
DEFAULT_CHECKS: tuple[str, ...] = (
    "oracle_ceiling",
    "label_sanity",
    "specialist_score",
    "model_dominance",
    "model_redundancy",
    "duplicates",
    "artifacts",
    "zero_cost_tokens",
    "constant_tokens",
    "missing_prices",
    "model_aliases",
)
for _name in DEFAULT_CHECKS:
    _module = "duplicates" if _name == "duplicates" else "checks"
    AUDIT_CHECKS.register(_name, f"routerlab.audit.{_module}:{_name}")
#: Cheap cost, token and name checks that :func:`data_warnings` runs (leaderboard failures, issue 11 §3).
DATA_WARNING_CHECKS: tuple[str, ...] = ("zero_cost_tokens", "constant_tokens", "missing_prices", "model_aliases")
#: Probes that fit routers (slower; run only when named).
PROBE_CHECKS: tuple[str, ...] = ("pseudo_specialists", "ood_holdout")
for _name in PROBE_CHECKS:
    AUDIT_CHECKS.register(_name, f"routerlab.audit.probes:{_name}")


def _check_names(checks: str | Sequence[str] | None) -> list[str]:
    if checks is None:
        return list(DEFAULT_CHECKS)
    if isinstance(checks, str):
        checks = [c.strip() for c in checks.split(",") if c.strip()]
    names = list(dict.fromkeys(checks))
    if not names:
        raise SchemaError(f"No check selected; name at least one of {', '.join(AUDIT_CHECKS.names())}.")
    return names


def _keyword_options(fn: CheckFn) -> set[str]:
    params = inspect.signature(fn).parameters.values()
    return {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _option_record(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in options.items():
        out[k] = f"<array shape {tuple(np.shape(v))}>" if isinstance(v, np.ndarray) else v
    return out


def audit(data: RoutingData, checks: str | Sequence[str] | None = None, **options: Any) -> AuditReport:
    """Run audit checks on ``data`` and gather their findings in an :class:`AuditReport`.

    ``checks`` names registered checks (a list, or one comma-separated string as a command line would
    pass it); ``None`` runs :data:`DEFAULT_CHECKS`. ``options`` go, by keyword, to each selected check
    that declares them (e.g. ``solved_threshold=0.5``, ``X=embeddings``, ``encoder="minilm"``,
    ``dominance_rank=2``). An unknown check or option raises
    :class:`~routerlab.errors.UnknownNameError` with the closest names.
    """
    if not isinstance(data, RoutingData):
        raise SchemaError(
            f"audit() needs a RoutingData; got {type(data).__name__}. Load one with routerlab.data.load()."
        )
    if data.n_queries == 0:
        raise SchemaError(f"Dataset {data.name!r} has no queries; there is nothing to audit.")
    names = _check_names(checks)
    fns = {name: AUDIT_CHECKS.get(name) for name in names}
    accepted = {name: _keyword_options(fn) for name, fn in fns.items()}
    known = set().union(*accepted.values())
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise UnknownNameError(
                f"Unknown audit option {key!r} for checks {', '.join(names)}.{hint} "
                f"Options they take: {', '.join(sorted(known)) or '(none)'}."
            )
    findings: list[Finding] = []
    for name, fn in fns.items():
        start = time.perf_counter()
        found = fn(data, **{k: v for k, v in options.items() if k in accepted[name]})
        for f in found:
            if not isinstance(f, Finding):
                raise SchemaError(f"Check {name!r} returned a {type(f).__name__}; a check must return Findings.")
        findings.extend(found)
        log.info("audit %s: %s gave %d finding(s) in %.2fs", data.name, name, len(found), time.perf_counter() - start)
    return AuditReport(
        dataset=data.name,
        n_queries=data.n_queries,
        n_models=data.n_models,
        checks=tuple(names),
        findings=tuple(findings),
        options=_option_record(options),
    )


def data_warnings(data: RoutingData) -> list[str]:
    """One line per warning of the cheap cost, token and name checks (:data:`DATA_WARNING_CHECKS`) on ``data``.

    Each line is ``"<check>: <title>. <what to do>"`` for a finding at warning or error level; an empty list
    means none of them found anything. Meant for commands that consume a dataset (``routerlab evaluate``)
    to log before results are trusted; run ``routerlab audit DATA`` for the figures.
    """
    report = audit(data, DATA_WARNING_CHECKS)
    return [f"{f.check}: {f.title}. {f.advice}" for f in report.at_least("warning")]


__all__ = [
    "AUDIT_CHECKS",
    "DATA_WARNING_CHECKS",
    "DEFAULT_CHECKS",
    "PROBE_CHECKS",
    "SEVERITIES",
    "AuditReport",
    "CheckFn",
    "Finding",
    "audit",
    "data_warnings",
    "dedupe",
    "exact_duplicate_groups",
    "group_pairs",
    "label_disagreement",
    "make_finding",
    "near_duplicate_groups",
    "near_duplicate_pairs",
    "normalise_text",
]
