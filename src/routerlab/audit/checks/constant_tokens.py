"""The ``constant_tokens`` check: token counts identical on every row of a model (a default)."""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.audit.checks._shared import _LEADERBOARD_REF, _r
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData


def constant_tokens(data: RoutingData, *, min_rows: int = 5) -> list[Finding]:
    """Token counts identical on every row of a model: a default filled in, not a measured count.

    For ``tokens_in`` and ``tokens_out`` separately: a model whose finite counts on its answered rows (at
    least ``min_rows`` of them) are all the same positive number. Prompts differ in length and answers in
    length, so a constant count was written by a loader or a collection default (or every answer hit the
    same ``max_tokens`` cap: truncation). One warning per field naming the models, their constant value,
    and whether the other models' counts vary. Constant zeros are left to ``label_sanity``'s token check
    (zero tokens on an answered cell: a count not recorded).
    """
    check = "constant_tokens"
    names = data.model_names
    obs = data.observed
    findings: list[Finding] = []
    seen = False
    for attr in ("tokens_in", "tokens_out"):
        tok = getattr(data, attr)
        if tok is None:
            continue
        seen = True
        constant: dict[str, dict[str, Any]] = {}
        varying: list[str] = []
        for j in range(data.n_models):
            v = tok[obs[:, j], j]
            v = v[np.isfinite(v)]
            if v.size < max(min_rows, 2):
                continue
            if np.ptp(v) == 0 and v[0] > 0:
                constant[names[j]] = {"value": _r(float(v[0]), 2), "n_rows": int(v.size)}
            elif np.ptp(v) > 0:
                varying.append(names[j])
        if not constant:
            continue
        others = f"while {len(varying)} other model(s) vary" if varying else "(no model's count varies)"
        values = ", ".join(f"{m} = {c['value']:g}" for m, c in list(constant.items())[:3])
        findings.append(
            make_finding(
                check,
                "warning",
                f"{attr} is the same on every row for {len(constant)} of {data.n_models} model(s) ({values}) {others}",
                numbers={"field": attr, "constant": constant, "n_varying_models": len(varying), "min_rows": min_rows},
                involved=list(constant),
                advice=f"A constant {attr} is a default filled in, not a measured count, so costs derived from it and "
                "any length or truncation analysis are wrong. Re-read the counts from the API usage fields; if "
                "every answer hit the same max_tokens cap, the answers are truncated: raise the budget.",
                reference=_LEADERBOARD_REF,
            )
        )
    if not findings:
        title = "No model has constant token counts" if seen else "Not applicable: no token counts"
        findings.append(make_finding(check, "info", title, reference=_LEADERBOARD_REF))
    return findings
