"""Price tables: ``{model: [input_usd_per_1M, output_usd_per_1M]}`` read from JSON or YAML, and the cost they give.

One reader serves ``routerlab score --prices`` and the ``--prices`` option of every command that loads a long
table. :func:`token_costs` turns token counts into USD: ``cost = tokens_in * IN / 1e6 + tokens_out * OUT / 1e6``.
A model with tokens but no price is an error (never a silent $0); a priced model that no row uses is reported
so that a misspelt name shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.errors import SchemaError

#: What a price file must hold, quoted in errors.
EXPECTED = "a mapping {MODEL: [IN, OUT]} of prices in USD per 1M input and output tokens"


def read_prices(path: Path | None) -> dict[str, tuple[float, float]] | None:
    """``--prices``: a JSON or YAML mapping {model: [input, output]} in USD per 1M tokens (None: no file)."""
    if path is None:
        return None
    raw: Any
    if path.suffix.lower() in (".yaml", ".yml"):
        from routerlab._yaml import read_yaml

        raw, _ = read_yaml(path, what="prices", expected=EXPECTED)
    else:
        from routerlab._jsonl import parse_json

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"--prices {str(path)!r} is not a readable JSON file: {exc}.") from None
        # the project's strict JSON reader: line and column of a syntax error, duplicate models, nesting bombs
        raw = parse_json(
            data, path=path, fix="write --prices as JSON {model: [IN, OUT]} (a .yaml/.yml file is read as YAML)"
        )
    if not isinstance(raw, dict):
        raise ValueError(f"--prices {str(path)!r} must hold {EXPECTED}. Got {type(raw).__name__}.")
    prices = {}
    for model, pair in raw.items():
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ValueError(
                f"--prices entry {model!r} must be a pair [IN, OUT] of USD per 1M input and output tokens. "
                f"Got {pair!r}."
            )
        try:
            p_in, p_out = float(pair[0]), float(pair[1])
        except (TypeError, ValueError):
            raise ValueError(
                f"--prices entry {model!r} must hold two numbers (USD per 1M tokens). Got {pair!r}."
            ) from None
        if not (math.isfinite(p_in) and math.isfinite(p_out) and p_in >= 0 and p_out >= 0):
            raise ValueError(f"--prices entry {model!r} must hold two finite prices >= 0. Got {pair!r}.")
        prices[str(model)] = (p_in, p_out)
    return prices


def token_costs(
    models: Sequence[str],
    tokens_in: np.ndarray | None,
    tokens_out: np.ndarray | None,
    observed: np.ndarray,
    prices: Mapping[str, tuple[float, float]],
    *,
    where: str = "the table",
) -> tuple[np.ndarray, list[str]]:
    """USD cost per (query, model) from token counts and ``prices``; also the priced models no column uses.

    ``tokens_in``/``tokens_out`` are (n_queries, n_models) (None: absent; a missing count is 0 when the other
    is present). Pairs not ``observed`` cost NaN. A model with an observed pair and no price, or an observed pair
    with neither count, is a :class:`SchemaError` naming the model and the fix.
    """
    if tokens_in is None and tokens_out is None:
        raise SchemaError(
            f"{where} has no tokens_in/tokens_out (or tokens) column, so --prices has nothing to price; add the "
            "token counts, or give a cost column instead of --prices."
        )
    shape = observed.shape
    t_in = np.full(shape, np.nan) if tokens_in is None else np.asarray(tokens_in, dtype=np.float64)
    t_out = np.full(shape, np.nan) if tokens_out is None else np.asarray(tokens_out, dtype=np.float64)
    used = [m for j, m in enumerate(models) if observed[:, j].any()]
    unpriced = [m for m in used if m not in prices]
    if unpriced:
        example = ", ".join(f'"{m}": [IN, OUT]' for m in unpriced[:2])
        raise SchemaError(
            f"{where}: model(s) {', '.join(map(repr, unpriced))} have token counts but no price in --prices "
            f"(it prices {', '.join(map(repr, sorted(prices))) or 'nothing'}); add {{{example}}} in USD per 1M "
            "tokens, or fix the model name."
        )
    no_tokens = observed & np.isnan(t_in) & np.isnan(t_out)
    if no_tokens.any():
        q, j = (int(v[0]) for v in np.nonzero(no_tokens))
        raise SchemaError(
            f"{where}: model {models[j]!r} has a score but no token counts at query #{q + 1} "
            f"({int(no_tokens.sum())} such pairs); fill tokens_in/tokens_out, or give a cost column."
        )
    p_in = np.array([prices.get(m, (np.nan, np.nan))[0] for m in models])
    p_out = np.array([prices.get(m, (np.nan, np.nan))[1] for m in models])
    cost = (np.nan_to_num(t_in) * p_in + np.nan_to_num(t_out) * p_out) / 1e6
    cost = np.where(observed, cost, np.nan)
    unused = sorted(set(prices) - set(used))
    return cost, unused
