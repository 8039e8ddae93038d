"""The ``model_aliases`` check: near-identical model names splitting or doubling coverage."""

from __future__ import annotations

import numpy as np

from routerlab.audit._common import model_name_key
from routerlab.audit.checks._shared import _EPS, _LEADERBOARD_REF, _r
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData


def model_aliases(data: RoutingData) -> list[Finding]:
    """Model names that look like one model under two names (coverage split between near-identical columns).

    Names are compared by :func:`routerlab.audit._common.model_name_key`: case, punctuation, an organisation
    prefix, a date snapshot suffix, ``-latest``/``-hf`` and a ``meta-`` before ``llama`` are ignored, so
    ``gpt-4o-mini`` ~ ``gpt-4o-mini-2024-07-18`` and ``Llama-3-8B`` ~ ``llama3-8b``. Two names with
    *different* dates (``gpt-4o-2024-05-13``, ``gpt-4o-2024-08-06``) are distinct snapshots and not flagged.
    One warning per pair with each name's coverage, the queries both answered and, on those, the share of
    equal outcomes: complementary coverage (no shared query) means one model's results were split in two
    columns; overlapping coverage means the same model counts twice in the pool.
    """
    check = "model_aliases"
    names = data.model_names
    keys = [model_name_key(n) for n in names]
    obs = data.observed
    cov = data.coverage()
    findings: list[Finding] = []
    for a in range(data.n_models):
        for b in range(a + 1, data.n_models):
            (ka, da), (kb, db) = keys[a], keys[b]
            if ka != kb or (da and db and da != db):
                continue
            both = obs[:, a] & obs[:, b]
            n_both = int(both.sum())
            agree = float(np.mean(np.abs(data.Y[both, a] - data.Y[both, b]) <= _EPS)) if n_both else None
            union = float((obs[:, a] | obs[:, b]).mean()) if data.n_queries else 0.0
            kind = "complementary" if n_both == 0 else "overlapping"
            findings.append(
                make_finding(
                    check,
                    "warning",
                    f"{names[a]!r} and {names[b]!r} look like one model under two names: coverage {cov[a]:.0%} and "
                    f"{cov[b]:.0%}, {kind} ({n_both:,} queries answered by both)",
                    numbers={
                        "names": [names[a], names[b]],
                        "normalised": ka,
                        "coverage": {names[a]: _r(cov[a]), names[b]: _r(cov[b])},
                        "n_answered": {names[a]: int(obs[:, a].sum()), names[b]: int(obs[:, b].sum())},
                        "n_both": n_both,
                        "coverage_combined": _r(union),
                        "kind": kind,
                        "agreement_on_shared": _r(agree),
                    },
                    involved=[names[a], names[b]],
                    advice="Merge the two columns under one name when they are one model (split coverage gives "
                    "each a sparse column, so oracles and comparisons rest on different queries; a duplicate counts "
                    "twice in dominance and redundancy). If they are really different models or snapshots, rename "
                    "them so the difference is visible (e.g. add the snapshot date to both).",
                    reference=_LEADERBOARD_REF,
                )
            )
    if not findings:
        findings.append(
            make_finding(
                check, "info", f"No two of the {data.n_models} model names look alike", reference=_LEADERBOARD_REF
            )
        )
    return findings
