"""The ``missing_prices`` check: models with token counts but no price; rows with tokens but no cost."""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.audit.checks._shared import _LEADERBOARD_REF, _tokens_used
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import RoutingData


def missing_prices(data: RoutingData) -> list[Finding]:
    """Models with token counts but no price, and cells whose tokens are known but whose cost is not.

    A model needs ``ModelInfo.input_price`` when it has ``tokens_in > 0`` on some row, and ``output_price``
    when it has ``tokens_out > 0``: without them a cost cannot be derived from (or checked against) its
    tokens. Cells with tokens but a NaN cost (calls without an outcome — failed or unscored — still cost
    money) are counted per model as well. One finding listing the models: a **warning** when some row with
    tokens has no cost, or when prices are missing and the cost is not a measured per-call cost (unit other
    than ``"usd"``: a proxy or call count the tokens could replace); an **info** when prices are missing but
    every row with tokens has a measured per-call USD cost (the costs stand; prices would only check them).
    """
    check = "missing_prices"
    names = data.model_names
    used = _tokens_used(data)
    if used is None:
        return [make_finding(check, "info", "Not applicable: no token counts", reference=_LEADERBOARD_REF)]
    per_model: dict[str, dict[str, Any]] = {}
    for j, model in enumerate(data.models):
        lacking = [
            price
            for attr, price in (("tokens_in", "input_price"), ("tokens_out", "output_price"))
            if getattr(data, attr) is not None
            and (np.nan_to_num(getattr(data, attr)[:, j], nan=0.0) > 0).any()
            and getattr(model, price) is None
        ]
        with_tokens = np.nan_to_num(used[:, j], nan=0.0) > 0
        no_cost = int((with_tokens & np.isnan(data.cost[:, j])).sum())
        if lacking or no_cost:
            per_model[names[j]] = {
                "missing": lacking,
                "n_rows_with_tokens": int(with_tokens.sum()),
                "n_rows_with_tokens_but_no_cost": no_cost,
            }
    if not per_model:
        return [make_finding(check, "info", "Every model with token counts has its prices", reference=_LEADERBOARD_REF)]
    n_no_cost = sum(v["n_rows_with_tokens_but_no_cost"] for v in per_model.values())
    n_unpriced = sum(bool(v["missing"]) for v in per_model.values())
    measured = data.cost_unit == "usd"
    return [
        make_finding(
            check,
            "warning" if n_no_cost or not measured else "info",
            f"{n_unpriced} model(s) with token counts have no price; {n_no_cost:,} row(s) with tokens have no cost"
            + (f" (cost unit {data.cost_unit!r})" if not measured else ""),
            numbers={"by_model": per_model, "cost_unit": data.cost_unit, "per_call_usd_cost": measured},
            involved=list(per_model),
            advice="Give each model its input_price and output_price (ModelInfo, USD per 1M tokens) so cost = "
            "(tokens_in·input_price + tokens_out·output_price) / 1e6 can be computed and checked, and cost the "
            "calls that used tokens without an outcome: they were paid for.",
            reference=f"routerlab.data.schema.ModelInfo; {_LEADERBOARD_REF}",
        )
    ]
