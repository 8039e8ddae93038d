"""Cost and token sanity (issue 11 §3): $0 rows with tokens, constant tokens, missing prices, alias names.

Each defect is planted in a hand-made dataset; before these checks, ``audit()`` reported none of them
(30 % of a model's rows at $0 passed silently; constant tokens and alias names were never looked at).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routerlab.audit import DATA_WARNING_CHECKS, DEFAULT_CHECKS, audit, data_warnings
from routerlab.audit._common import model_name_key
from routerlab.audit.checks import constant_tokens, missing_prices, model_aliases, zero_cost_tokens
from routerlab.data import ModelInfo, RoutingData, load
from tests.audit._toy import toy
from tests.conftest import make_routing_problem


def _with(data: RoutingData, **changes: Any) -> RoutingData:
    return dataclasses.replace(data, **changes)


def _clean(n_queries: int = 100, n_models: int = 4, seed: int = 0) -> RoutingData:
    """A synthetic problem with varying token counts and a per-call cost derived from them and the prices."""
    data = make_routing_problem(n_queries, n_models, seed=seed)
    rng = np.random.default_rng(seed)
    t_in = rng.integers(20, 400, size=(n_queries, 1)).astype(float) * np.ones((1, n_models))
    t_out = rng.integers(5, 800, size=(n_queries, n_models)).astype(float)
    price = np.array([[m.input_price or 0.0 for m in data.models]])
    return _with(data, tokens_in=t_in, tokens_out=t_out, cost=(t_in + t_out) * price / 1e6)


def _warnings(findings: list[Any]) -> list[Any]:
    return [f for f in findings if f.severity != "info"]


# ------------------------------------------------------------------------------------------ clean data
def test_clean_dataset_raises_none_of_them() -> None:
    data = _clean()
    assert data_warnings(data) == []
    report = audit(data, DATA_WARNING_CHECKS)
    assert [f.check for f in report] == list(DATA_WARNING_CHECKS) and report.worst == "info"


def test_checks_are_registered_selectable_and_run_by_default() -> None:
    assert set(DATA_WARNING_CHECKS) <= set(DEFAULT_CHECKS)
    report = audit(_clean(), "zero_cost_tokens, model_aliases")
    assert report.checks == ("zero_cost_tokens", "model_aliases")


def test_not_applicable_without_token_counts() -> None:
    data = make_routing_problem(30, 3)  # per-call usd costs, no tokens, all > 0
    for check in (zero_cost_tokens, constant_tokens, missing_prices):
        [f] = check(data)
        assert f.severity == "info"
    [f] = zero_cost_tokens(toy([[1, 0]], cost_unit="params_b"))
    assert f.severity == "info" and f.title.startswith("Not applicable")


# ------------------------------------------------------------------------------------------ $0 with tokens
def test_thirty_percent_of_rows_at_zero_cost_with_tokens() -> None:
    data = _clean()
    cost = data.cost.copy()
    cost[:30, 1] = 0.0
    data = _with(data, cost=cost)
    [f] = _warnings(zero_cost_tokens(data))
    assert f.severity == "warning" and f.title.startswith("m1: 30 of 100")
    assert f.numbers["n_zero_cost"] == 30 and f.numbers["fraction"] == 0.3
    assert f.numbers["example_query_ids"] == ["q0", "q1", "q2", "q3", "q4"]
    assert f.n_involved == 30 and f.involved[0] == "q0"
    assert "Recompute the cost from the token counts" in f.advice
    # the default audit reports it too, and evaluate's warnings name the model and the fraction
    assert audit(data).by_check("zero_cost_tokens")[0].severity == "warning"
    [line] = data_warnings(data)
    assert line.startswith("zero_cost_tokens: m1: 30 of 100") and "(30.0%) cost 0" in line


def test_one_zero_row_is_enough_and_all_rows_are_flagged() -> None:
    data = _clean(40, 2)
    cost = data.cost.copy()
    cost[7, 0] = 0.0
    cost[:, 1] = 0.0
    found = _warnings(zero_cost_tokens(_with(data, cost=cost)))
    assert [(f.numbers["model"], f.numbers["n_zero_cost"], f.numbers["fraction"]) for f in found] == [
        ("m0", 1, 0.025),
        ("m1", 40, 1.0),
    ]


def test_zero_cost_counts_unanswered_rows_that_used_tokens() -> None:
    # a failed call (no outcome) that used tokens but was recorded at $0 is still a lost cost
    data = _clean(10, 2)
    y, cost = data.Y.copy(), data.cost.copy()
    y[0, 0], cost[0, 0] = np.nan, 0.0
    [f] = _warnings(zero_cost_tokens(_with(data, Y=y, cost=cost)))
    assert f.numbers["n_zero_cost"] == 1 and f.involved == ("q0",)


def test_zero_cost_rows_without_tokens_in_a_per_call_cost() -> None:
    data = make_routing_problem(20, 2)
    cost = data.cost.copy()
    cost[:4, 0] = 0.0  # some of m0's calls at $0 while its others were charged
    cost[:, 1] = 0.0  # all of m1's: the constant-cost note of label_sanity covers it
    [f] = _warnings(zero_cost_tokens(_with(data, cost=cost)))
    assert (
        f.numbers["model"] == "m0"
        and f.numbers["fraction"] == 0.2
        and f.title.endswith("while its other calls were charged (no token counts)")
    )


def test_declared_free_local_model_is_not_flagged() -> None:
    # a local model: prices 0 (declared free) and cost 0; with zero tokens (not metered) or with tokens
    data = _clean(20, 2)
    models = (data.models[0], ModelInfo(name="local", input_price=0.0, output_price=0.0))
    cost, t_in, t_out = data.cost.copy(), data.tokens_in.copy(), data.tokens_out.copy()  # type: ignore[union-attr]
    cost[:, 1] = 0.0
    t_in[:, 1], t_out[:, 1] = 0.0, 0.0
    free = _with(data, models=models, cost=cost, tokens_in=t_in, tokens_out=t_out)
    assert data_warnings(free) == []
    metered = _with(free, tokens_in=data.tokens_in, tokens_out=data.tokens_out)
    assert data_warnings(metered) == []
    # the same $0 rows on a model with a real price are flagged
    priced = _with(metered, models=(data.models[0], ModelInfo(name="local", input_price=0.1, output_price=0.1)))
    assert [f.numbers["model"] for f in _warnings(zero_cost_tokens(priced))] == ["local"]


# ------------------------------------------------------------------------------------------ constant tokens
def test_constant_tokens_out_while_other_models_vary() -> None:
    data = _clean(50, 3)
    t_out = data.tokens_out.copy()  # type: ignore[union-attr]
    t_out[:, 2] = 256.0
    [f] = _warnings(constant_tokens(_with(data, tokens_out=t_out)))
    assert f.numbers["field"] == "tokens_out" and f.involved == ("m2",)
    assert f.numbers["constant"] == {"m2": {"value": 256.0, "n_rows": 50}} and f.numbers["n_varying_models"] == 2
    assert "while 2 other model(s) vary" in f.title and "default filled in" in f.advice


def test_constant_tokens_in_is_flagged_per_field() -> None:
    data = _clean(50, 3)
    t_in = data.tokens_in.copy()  # type: ignore[union-attr]
    t_in[:, 0] = 100.0
    t_out = data.tokens_out.copy()  # type: ignore[union-attr]
    t_out[:, 0] = 50.0
    found = _warnings(constant_tokens(_with(data, tokens_in=t_in, tokens_out=t_out)))
    assert [(f.numbers["field"], f.involved) for f in found] == [("tokens_in", ("m0",)), ("tokens_out", ("m0",))]


def test_constant_tokens_ignores_zeros_short_columns_and_unanswered_rows() -> None:
    data = _clean(50, 3)
    t_out = data.tokens_out.copy()  # type: ignore[union-attr]
    t_out[:, 0] = 0.0  # not recorded: label_sanity's token check reports zeros
    assert _warnings(constant_tokens(_with(data, tokens_out=t_out))) == []
    y = data.Y.copy()
    y[4:, 1] = np.nan  # m1 answered 4 rows only: below min_rows
    t_out[:4, 1] = 99.0
    assert _warnings(constant_tokens(_with(data, Y=y, tokens_out=t_out))) == []
    assert _warnings(constant_tokens(_with(data, Y=y, tokens_out=t_out), min_rows=3))[0].involved == ("m1",)


# ------------------------------------------------------------------------------------------ missing prices
def test_missing_prices_for_a_model_with_tokens() -> None:
    # tokens but a proxy cost (here: one unit per call): prices would give the real cost
    data = _with(_clean(20, 3), cost=np.ones((20, 3)), cost_unit="calls")
    models = (data.models[0], ModelInfo(name="m1"), ModelInfo(name="m2", input_price=1.0))
    [f] = _warnings(missing_prices(_with(data, models=models)))
    assert f.involved == ("m1", "m2") and f.severity == "warning" and "(cost unit 'calls')" in f.title
    assert f.numbers["by_model"]["m1"]["missing"] == ["input_price", "output_price"]
    assert f.numbers["by_model"]["m2"]["missing"] == ["output_price"]
    assert "input_price and output_price" in f.advice
    # the existing label_sanity note does not distinguish a model with tokens; this warning reaches evaluate
    assert any(line.startswith("missing_prices: 2 model(s)") for line in data_warnings(_with(data, models=models)))


def test_missing_prices_is_a_note_when_per_call_usd_costs_are_measured() -> None:
    # a long-format leaderboard with tokens and a measured per-call USD cost: the costs stand without prices
    data = _clean(20, 2)
    [f] = missing_prices(_with(data, models=(data.models[0], ModelInfo(name="m1"))))
    assert f.severity == "info" and f.involved == ("m1",) and f.numbers["per_call_usd_cost"] is True


def test_missing_prices_counts_token_rows_without_cost() -> None:
    data = _clean(10, 2)
    y, cost = data.Y.copy(), data.cost.copy()
    y[:3, 1], cost[:3, 1] = np.nan, np.nan  # three calls used tokens, have no outcome and no cost
    [f] = _warnings(missing_prices(_with(data, Y=y, cost=cost)))
    assert f.numbers["by_model"] == {
        "m1": {"missing": [], "n_rows_with_tokens": 10, "n_rows_with_tokens_but_no_cost": 3}
    }
    assert "3 row(s) with tokens have no cost" in f.title


def test_missing_prices_not_flagged_without_tokens_used() -> None:
    data = _clean(10, 2)
    models = (data.models[0], ModelInfo(name="m1"))
    zeros = np.zeros((10, 2))
    zeros[:, 0] = 5.0
    assert _warnings(missing_prices(_with(data, models=models, tokens_in=zeros, tokens_out=zeros))) == []


# ------------------------------------------------------------------------------------------ aliases
@pytest.mark.parametrize(
    ("a", "b", "alike"),
    [
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", True),
        ("Llama-3-8B", "llama3-8b", True),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct", "llama-3.1-70b-instruct", True),
        ("claude-3-5-sonnet-20240620", "claude-3.5-sonnet", True),
        ("gpt-3.5-turbo", "gpt-3.5-turbo-1106", True),
        ("Llama-2-13b-chat-hf", "llama-2-13b-chat", True),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-08-06", False),  # two snapshots
        ("Mistral-7B-Instruct-v0.1", "Mistral-7B-Instruct-v0.2", False),
        ("Mistral-7B-v0.1", "Chinese-Mistral-7B-v0.1", False),
        ("gpt-4-0613", "gpt-4-1106-preview", False),
        ("gpt-4o", "gpt-4o-mini", False),
    ],
)
def test_model_name_key(a: str, b: str, alike: bool) -> None:
    (ka, da), (kb, db) = model_name_key(a), model_name_key(b)
    assert (ka == kb and not (da and db and da != db)) is alike


def test_alias_names_with_complementary_coverage() -> None:
    nan = np.nan
    Y = [[1, nan, 0], [0, nan, 1], [nan, 1, 1], [nan, 0, 0]]
    data = toy(Y, names=["gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o"])
    [f] = _warnings(model_aliases(data))
    assert f.involved == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18") and f.severity == "warning"
    assert f.numbers["kind"] == "complementary" and f.numbers["n_both"] == 0
    assert f.numbers["coverage"] == {"gpt-4o-mini": 0.5, "gpt-4o-mini-2024-07-18": 0.5}
    assert f.numbers["coverage_combined"] == 1.0 and "coverage 50% and 50%, complementary" in f.title
    assert "Merge the two columns" in f.advice


def test_alias_names_with_overlapping_coverage() -> None:
    data = toy([[1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0]], names=["Llama-3-8B", "llama3-8b", "Mistral-7B"])
    [f] = _warnings(model_aliases(data))
    assert f.involved == ("Llama-3-8B", "llama3-8b") and f.numbers["kind"] == "overlapping"
    assert f.numbers["n_both"] == 4 and f.numbers["agreement_on_shared"] == 0.75


def test_distinct_snapshots_and_versions_are_not_aliases() -> None:
    names = ["gpt-4o-2024-05-13", "gpt-4o-2024-08-06", "Mistral-7B-Instruct-v0.1", "Mistral-7B-Instruct-v0.2"]
    [f] = model_aliases(toy([[1, 0, 1, 0]], names=names))
    assert f.severity == "info"


# ------------------------------------------------------------------------------------------ end to end
def test_long_format_leaderboard_file_with_every_defect(tmp_path: Path) -> None:
    """A leaderboard table as published: per-call USD costs and tokens, read by routerlab.data.load."""
    rng = np.random.default_rng(0)
    lines = ["query_id,model,score,cost,tokens_in,tokens_out"]
    for i in range(20):
        t_in = int(rng.integers(50, 500))
        for model in ("gpt-4o", "claude-3-haiku", "Llama-3-8B", "llama3-8b"):
            if (model == "Llama-3-8B") != (i < 10) and model.lower().startswith("llama"):
                continue  # the 8B model's rows are split between two spellings
            t_out = 128 if model == "claude-3-haiku" else int(rng.integers(5, 900))
            cost = 0.0 if model == "gpt-4o" and i < 6 else (t_in + 3 * t_out) * 1e-6
            lines.append(f"q{i},{model},{int(rng.integers(0, 2))},{cost},{t_in},{t_out}")
    path = tmp_path / "leaderboard.csv"
    path.write_text("\n".join(lines) + "\n")
    data = load(str(path))
    found = {line.split(":")[0]: line for line in data_warnings(data)}
    assert set(found) == {"zero_cost_tokens", "constant_tokens", "model_aliases"}
    assert found["zero_cost_tokens"].startswith("zero_cost_tokens: gpt-4o: 6 of 20 rows with tokens (30.0%) cost 0")
    assert "claude-3-haiku = 128" in found["constant_tokens"]
    assert "'Llama-3-8B' and 'llama3-8b'" in found["model_aliases"] and "complementary" in found["model_aliases"]
    # prices are absent (a long table has none) but every row has a measured per-call cost: a note only
    assert audit(data, "missing_prices").findings[0].severity == "info"
