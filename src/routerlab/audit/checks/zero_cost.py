"""The ``zero_cost_tokens`` check: a model's rows at cost 0 although the call used tokens."""

from __future__ import annotations

import numpy as np

from routerlab.audit.checks._shared import _LEADERBOARD_REF, _r, _tokens_used
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import ModelInfo, RoutingData

#: Query ids quoted per finding as examples.
N_EXAMPLES = 5


def _declared_free(model: ModelInfo) -> bool:
    return model.input_price == 0 and model.output_price == 0


def zero_cost_tokens(data: RoutingData, *, n_examples: int = N_EXAMPLES) -> list[Finding]:
    """Rows of a model at zero cost although the call used tokens (a cost lost on the way, read as free).

    For each model, among the rows with a recorded cost (finite) and ``tokens_in + tokens_out > 0``, the
    count and share with ``cost == 0``; any share above 0 is a warning, one finding per model, with example
    query ids. Public leaderboards have shipped such rows (cost columns left at 0 for part of a model's
    calls); a cost-aware router then sends those queries to the "free" model and the savings are fiction.

    * A model declared free (``input_price == 0`` and ``output_price == 0``: a local model) is consistent at
      cost 0 and skipped; the ``label_sanity`` check still asks to confirm a price of 0.
    * Rows with zero tokens are not counted (nothing was charged; ``label_sanity`` reports zero token
      counts on answered cells).
    * Without token counts, a per-call cost (unit ``"usd"``) that is 0 on some but not all of a model's
      answered rows is flagged the same way, since its other calls were charged.
    """
    check = "zero_cost_tokens"
    names = data.model_names
    used = _tokens_used(data)
    findings: list[Finding] = []
    if used is not None:
        recorded = np.isfinite(data.cost) & (np.nan_to_num(used, nan=0.0) > 0)
        basis, note = "rows with tokens", ""
    elif data.cost_unit == "usd":
        recorded = data.observed & np.isfinite(data.cost)
        basis, note = "answered rows", " while its other calls were charged (no token counts)"
    else:
        return [
            make_finding(
                check,
                "info",
                f"Not applicable: no token counts, and cost unit {data.cost_unit!r} is not a per-call cost",
                reference=_LEADERBOARD_REF,
            )
        ]
    zero = recorded & (np.nan_to_num(data.cost, nan=np.inf) == 0)
    for j, model in enumerate(data.models):
        n_rows, n_zero = int(recorded[:, j].sum()), int(zero[:, j].sum())
        if n_zero == 0 or _declared_free(model) or (used is None and n_zero == n_rows):
            continue
        ids = data.query_ids[zero[:, j]]
        frac = n_zero / n_rows
        tokens = (
            {"median_tokens_on_zero_rows": _r(float(np.nanmedian(used[zero[:, j], j])), 1)} if used is not None else {}
        )
        findings.append(
            make_finding(
                check,
                "warning",
                f"{names[j]}: {n_zero:,} of {n_rows:,} {basis} ({frac:.1%}) cost 0{note}",
                numbers={
                    "model": names[j],
                    "n_zero_cost": n_zero,
                    "n_rows": n_rows,
                    "fraction": _r(frac),
                    "basis": "tokens_in + tokens_out > 0 and a recorded cost"
                    if used is not None
                    else "answered rows of a per-call cost",
                    "cost_unit": data.cost_unit,
                    "example_query_ids": [str(q) for q in ids[:n_examples]],
                    **tokens,
                },
                involved=ids,
                advice=f"These calls were charged; cost 0 makes {names[j]} free to every cost-aware router on these "
                "queries and inflates its savings. Recompute the cost from the token counts (re-read them from the API "
                "usage fields if absent) and the model's prices (ModelInfo input_price/output_price, USD per 1M "
                "tokens), or drop the rows; if the model really is free (local), declare input_price=0 and "
                "output_price=0.",
                reference=_LEADERBOARD_REF,
            )
        )
    if not findings:
        findings.append(
            make_finding(
                check,
                "info",
                f"No model has stray zero costs on its {basis}",
                numbers={"basis": basis},
                reference=_LEADERBOARD_REF,
            )
        )
    return findings
