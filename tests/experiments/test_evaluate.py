"""evaluate(): the leaderboard protocol on synthetic and real data."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import routerlab
import routerlab.data
from routerlab.data import RoutingData
from routerlab.data.schema import ModelInfo
from routerlab.decisions.policy import CostScale
from routerlab.errors import SchemaError
from routerlab.experiments.evaluate import Leaderboard, SeedProtocolRow, attach_sweep, evaluate, load_results
from routerlab.experiments.sweep import SummaryRow, SweepResult
from routerlab.metrics import core as M
from routerlab.routers import BASELINES, make_router
from routerlab.routers.baselines import BestSingle
from tests.conftest import make_routing_problem

LAMS = (0.0, 0.2, 0.5, 0.9)


@pytest.fixture(scope="module")
def board() -> Leaderboard:
    return evaluate(make_routing_problem(200, 4, seed=0, missing=0.1), BASELINES, lams=LAMS)


def test_one_row_per_router_and_lambda(board: Leaderboard) -> None:
    assert len(board.rows) == len(BASELINES) * len(LAMS)
    assert {(r.router, r.lam) for r in board.rows} == {(n, lam) for n in BASELINES for lam in LAMS}
    assert board.dataset == "synthetic" and board.split == "test" and board.n_models == 4
    assert {k: board.meta[k] for k in ("train_splits", "n_train")} == {"train_splits": ["train"], "n_train": 120}
    assert board.meta["missing"]["policy"] == "reroute"


def test_oracle_row(board: Leaderboard) -> None:
    oracle = board.row("oracle", 0.0)
    assert board.ceiling > 0
    assert oracle.oracle_gap == 0.0
    assert oracle.cna == 1.0
    assert oracle.quality == board.oracle_quality


def test_utility_at_lambda_zero_equals_quality(board: Leaderboard) -> None:
    for r in board.at(0.0):
        assert r.utility == r.quality, r.router


def test_rows_consistent_with_their_own_metrics(board: Leaderboard) -> None:
    lo, hi = board.cost_scale
    assert 0 <= lo < hi
    for r in board.rows:
        assert r.oracle_gap == pytest.approx(board.oracle_quality - r.quality, abs=1e-12)
        assert r.cna == pytest.approx(r.quality / board.ceiling)
        assert sum(r.call_rate.values()) == pytest.approx(1.0)
        assert all(v > 0 for v in r.call_rate.values())
        if r.lam > 0:
            assert r.utility <= (1 - r.lam) * r.quality + 1e-12  # the cost term is never a bonus


def test_rows_sorted_by_utility_within_lambda(board: Leaderboard) -> None:
    lams_in_order = [r.lam for r in board.rows]
    assert lams_in_order == sorted(lams_in_order)
    for lam in LAMS:
        utilities = [r.utility for r in board.at(lam)]
        assert utilities == sorted(utilities, reverse=True)
        # the oracle leads (it may share the lead: at λ = 0.9 every router here collapses onto the cheapest model)
        assert board.at(lam)[0].utility == board.row("oracle", lam).utility
        tied = [r for r in board.at(lam) if r.utility == utilities[0]]
        assert [(r.mean_cost, r.router) for r in tied] == sorted((r.mean_cost, r.router) for r in tied)
    assert board.at(0.0)[0].router == "oracle"


def test_figures_match_direct_computation() -> None:
    data = make_routing_problem(200, 4, seed=1)
    board = evaluate(data, ["best_single", "cheapest"], lams=(0.0, 0.5))
    train, test = data.split("train"), data.split("test")
    scale = CostScale.from_costs(train.cost, train.observed)
    assert board.cost_scale == (scale.lo, scale.hi)
    for name, lam in (("best_single", 0.0), ("cheapest", 0.5), ("best_single", 0.5)):
        choice = make_router(name).fit(train).route(test, lam=lam)
        row = board.row(name, lam)
        assert row.quality == M.routing_accuracy_score(Y=test.Y, choice=choice)
        assert row.mean_cost == M.mean_cost(cost=test.cost, choice=choice)
        assert row.utility == M.utility_score(Y=test.Y, cost=test.cost, choice=choice, lam=lam, scale=scale)


def test_unanswered_test_queries_are_dropped() -> None:
    data = make_routing_problem(100, 3, seed=2)
    Y = np.array(data.Y)
    Y[95, :] = np.nan  # a test query no model answered
    board = evaluate(dataclasses.replace(data, Y=Y), ["oracle"])
    assert board.n_queries == 19


def test_public_verb_and_router_instances() -> None:
    data = make_routing_problem(100, 3, seed=0)
    a = routerlab.evaluate(data, [BestSingle(budget=100.0), "oracle"])
    assert isinstance(a, Leaderboard)
    assert {r.router for r in a.rows} == {"best_single", "oracle"}
    assert a.row("best_single").params == {"budget": 100.0}
    with pytest.raises(KeyError, match=re.escape("No row for router 'knn' at lambda=0.0")):
        a.row("knn")


def test_save_writes_valid_json_and_markdown(board: Leaderboard, tmp_path: Path) -> None:
    paths = board.save(tmp_path / "out")
    assert set(paths) == {"json", "markdown"}

    def no_nan(token: str) -> float:
        raise AssertionError(f"non-standard JSON constant {token}")

    with paths["json"].open() as fh:
        doc = json.load(fh, parse_constant=no_nan)
    assert doc["schema_version"] == 2 and doc["dataset"] == "synthetic" and doc["seed_protocol"] == []
    assert len(doc["rows"]) == len(board.rows)
    assert {row["router"] for row in doc["rows"]} == set(BASELINES)
    for row in doc["rows"]:
        assert all(math.isfinite(row[k]) for k in ("quality", "mean_cost", "utility", "oracle_gap", "cna", "lam"))
    assert doc["rows"][0]["utility"] == board.rows[0].utility  # full precision kept

    md = paths["markdown"].read_text()
    assert md.startswith("# Leaderboard: synthetic (test,")
    for name in BASELINES:
        assert f"| {name} |" in md
    for lam in LAMS:
        assert f"## λ = {lam:g}" in md
    assert md.count("| oracle |") == len(LAMS)


def test_no_train_split_names_the_splits_present() -> None:
    data = make_routing_problem(50)
    only_test = data.with_splits(["test"] * 40 + ["val"] * 10)
    with pytest.raises(SchemaError) as info:
        evaluate(only_test, ["oracle"])
    msg = str(info.value)
    assert "no training queries" in msg and "'test': 40" in msg and "'val': 10" in msg
    with pytest.raises(SchemaError, match="no test queries"):
        evaluate(data, ["oracle"], test_split="ood")


def test_bad_lambda_fails_before_fitting() -> None:
    fitted: list[str] = []

    class Spy(BestSingle):
        def _fit(self, train, X):  # type: ignore[no-untyped-def]
            fitted.append("yes")
            super()._fit(train, X)

    with pytest.raises(ValueError, match=r"lambda must be in \[0, 1\].*Got 1.5"):
        evaluate(make_routing_problem(50), [Spy()], lams=(0.0, 1.5))
    assert fitted == []
    with pytest.raises(ValueError, match="No routers"):
        evaluate(make_routing_problem(50), [])


def test_train_on_train_and_val() -> None:
    data = make_routing_problem(100, 3, seed=0)
    board = evaluate(data, ["best_single"], train_splits=("train", "val"))
    assert board.meta["n_train"] == 80


# ---------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def mini() -> routerlab.data.RoutingData:
    try:
        return routerlab.data.load("routerlab-mini")
    except Exception as exc:  # the shipped subset may not be built yet
        pytest.skip(f"routerlab-mini is not available in this checkout ({type(exc).__name__}: {exc})")


def test_real_data_oracle_dominates_baselines(mini: routerlab.data.RoutingData) -> None:
    assert "test" in mini.split_sizes() and "train" in mini.split_sizes()
    board = evaluate(mini, BASELINES, lams=LAMS)
    assert board.n_queries > 0 and 0 < board.oracle_quality <= 1
    for lam in LAMS:
        rows = {r.router: r for r in board.at(lam)}
        oracle = rows.pop("oracle")
        for name, row in rows.items():
            assert oracle.utility >= row.utility - 1e-12, (name, lam)
            if lam == 0:
                assert oracle.quality >= row.quality, name
    assert board.row("oracle").oracle_gap == 0.0


def test_one_class_twice_gets_names_that_tell_the_configs_apart() -> None:
    data = make_routing_problem(120, 3, seed=2)
    X = np.random.default_rng(0).normal(size=(data.n_queries, 4))
    board = evaluate(data, [make_router("knn", k=3), make_router("knn", k=7), "oracle"], features=X)
    names = {r.router for r in board.rows}
    assert names == {"knn(k=3, weights='uniform')", "knn(k=7, weights='uniform')", "oracle"}
    with pytest.raises(SchemaError, match=r"listed twice with the same parameters"):
        evaluate(data, [make_router("knn", k=3), make_router("knn", k=3)], features=X)


# ------------------------------------------------------------------- missing outcomes (issue 11 §2)
def _strong_missing_on_test(n: int = 60) -> RoutingData:
    """Two models; "strong" is better on train but has no outcome on any test query."""
    data = make_routing_problem(n, 2, seed=1).select_models(["m1", "m0"])
    y = np.array(data.Y)
    y[data.splits == "test", 0] = np.nan
    return dataclasses.replace(data, Y=y)


def test_a_model_missing_every_test_outcome_is_counted_warned_and_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = _strong_missing_on_test()
    with caplog.at_level("WARNING", logger="routerlab.experiments.evaluate"):
        board = evaluate(data, ["oracle", "best_single"])
    n = board.n_queries
    assert board.row("best_single").missing_outcomes == n and board.row("oracle").missing_outcomes == 0
    assert board.meta["missing"]["decisions"]["best_single"] == {"0": n}
    assert f"best_single routed {n} of {n} test queries (λ=0) to models with no outcome" in caplog.text
    assert "missing='reroute'" in caplog.text and board.meta["missing"]["warnings"]
    md = board.to_markdown()
    assert "| no outcome |" in md and f"| {n}/{n} |" in md and "missing='reroute'" in md
    assert json.loads(json.dumps(board.to_dict()))["rows"][0]["missing_outcomes"] in (0, n)


def test_policy_zero_counts_failed_calls_and_skip_refuses_a_router_with_nothing_left() -> None:
    data = _strong_missing_on_test()
    board = evaluate(data, ["oracle", "best_single", "cheapest"], missing="zero", lams=(0.0, 0.5))
    assert board.row("best_single", 0.0).quality == 0.0  # never the other model's number
    assert board.row("best_single", 0.0).missing_outcomes == board.n_queries
    for lam in (0.0, 0.5):  # at λ=0.5 best_single trades quality for cost and picks the cheap model
        assert all(r.quality <= board.oracle_quality + 1e-12 for r in board.at(lam))
    assert board.meta["missing"]["policy"] == "zero"
    with pytest.raises(SchemaError, match="under missing='skip' nothing is left"):
        evaluate(data, ["best_single"], missing="skip")
    with pytest.raises(SchemaError, match="which has no outcome"):
        evaluate(data, ["best_single"], missing="error")
    with pytest.raises(ValueError, match="missing must be one of"):
        evaluate(data, ["best_single"], missing="fill")


def test_missing_counts_survive_the_results_directory(tmp_path: Path) -> None:
    board = evaluate(_strong_missing_on_test(), ["oracle", "best_single"])
    board.save_results(tmp_path)
    again = load_results(tmp_path)
    assert again.row("best_single").missing_outcomes == board.n_queries
    assert again.meta["missing"]["policy"] == "reroute"


def test_missing_counts_do_not_depend_on_query_order() -> None:
    data = _strong_missing_on_test()
    perm = np.random.default_rng(0).permutation(data.n_queries)
    a, b = evaluate(data, ["random", "best_single"]), evaluate(data.subset(perm), ["random", "best_single"])
    for name in ("random", "best_single"):
        assert a.row(name).missing_outcomes == b.row(name).missing_outcomes
        assert a.row(name).quality == pytest.approx(b.row(name).quality)


def test_evaluate_warns_on_zero_cost_rows_with_tokens_and_records_them() -> None:
    """Issue 11 §3: the cost/token sanity checks reach evaluate's warnings and leaderboard meta."""
    data = make_routing_problem(120, 3, seed=3)
    rng = np.random.default_rng(3)
    t_in = rng.integers(20, 400, size=(data.n_queries, 1)).astype(float) * np.ones((1, data.n_models))
    t_out = rng.integers(5, 800, size=(data.n_queries, data.n_models)).astype(float)
    price = np.array([[m.input_price or 0.0 for m in data.models]])
    cost = (t_in + t_out) * price / 1e6
    clean = dataclasses.replace(data, tokens_in=t_in, tokens_out=t_out, cost=cost)
    assert evaluate(clean, ["oracle", "best_single"]).meta["data_warnings"] == []
    cost = cost.copy()
    cost[: data.n_queries // 3, 1] = 0.0  # a third of one model's calls recorded as free although they used tokens
    board = evaluate(dataclasses.replace(clean, cost=cost), ["oracle", "best_single"])
    [line] = board.meta["data_warnings"]
    assert line.startswith(f"zero_cost_tokens: {data.model_names[1]}: 40 of 120")


# ------------------------------------------------------------------ learned routers: seed-protocol rows
def _summary_row(router: str, *, ok: bool = True) -> SummaryRow:
    per_lam = {"0": 0.61, "0.5": 0.55}
    return SummaryRow(
        dataset="synthetic",
        router=router,
        encoder="hashing",
        status="ok" if ok else "failed",
        stochastic=True,
        config_id="c1" if ok else None,
        params={"k": 5} if ok else {},
        grid_size=4,
        n_configs=4,
        n_runs=8 if ok else 0,
        seeds=(42, 43, 44, 45, 46) if ok else (),
        val_acc_mean=0.6 if ok else None,
        stage2_val_acc_mean=0.6 if ok else None,
        test_acc_mean=0.61 if ok else None,
        test_acc_std=0.01 if ok else None,
        test_quality_mean={"0": 0.61, "0.5": 0.6} if ok else {},
        test_quality_std={"0": 0.01, "0.5": 0.02} if ok else {},
        test_utility_mean=per_lam if ok else {},
        test_utility_std={"0": 0.01, "0.5": 0.03} if ok else {},
        test_cost_mean={"0": 2.5, "0.5": 1.25} if ok else {},
        call_rate_mean={},
        oracle_test_acc=0.8 if ok else None,
        n_train=100,
        n_val=50,
        n_test=50,
    )


@pytest.fixture(scope="module")
def seeded() -> Leaderboard:
    board = evaluate(make_routing_problem(120, 3, seed=1), ["oracle", "best_single"], lams=(0.0, 0.5))
    sweep = SweepResult(
        out_dir=Path("sweep"),
        lams=(0.0, 0.5),
        summary=(_summary_row("knn"), _summary_row("mlp", ok=False)),
        records=(),
        n_executed=0,
        n_skipped=0,
    )
    return attach_sweep(board, sweep)


def test_attach_sweep_gives_the_printed_seed_protocol_figures(seeded: Leaderboard) -> None:
    assert {(s.label, s.lam) for s in seeded.seed_protocol} == {
        (n, lam) for n in ("knn (hashing)", "mlp (hashing)") for lam in (0.0, 0.5)
    }
    knn = next(s for s in seeded.seed_protocol if s.router == "knn" and s.lam == 0.5)
    assert knn == SeedProtocolRow(
        router="knn",
        encoder="hashing",
        lam=0.5,
        status="ok",
        params={"k": 5},
        seeds=(42, 43, 44, 45, 46),
        quality=0.6,
        quality_std=0.02,
        mean_cost=1.25,
        utility=0.55,
        utility_std=0.03,
        oracle_gap=pytest.approx(0.2),  # type: ignore[arg-type]
        cna=pytest.approx(0.75),  # type: ignore[arg-type]
    )
    mlp = next(s for s in seeded.seed_protocol if s.router == "mlp")
    assert mlp.status == "failed" and mlp.quality is None and mlp.utility is None
    assert seeded.meta["seed_protocol"]["source"] == "sweep/summary.json"
    # the summary.json dict works as well as the SweepResult
    again = attach_sweep(dataclasses.replace(seeded, seed_protocol=()), {"rows": [_summary_row("knn").to_dict()]})
    assert [s for s in again.seed_protocol] == [s for s in seeded.seed_protocol if s.router == "knn"]
    with pytest.raises(SchemaError, match="SweepResult or the content"):
        attach_sweep(seeded, {"protocol": {}})


def test_saved_leaderboard_holds_learned_routers_and_loads_back(seeded: Leaderboard, tmp_path: Path) -> None:
    paths = seeded.save_results(tmp_path, leaderboard=["oracle", "best_single"])
    doc = json.loads(paths["json"].read_text())
    assert doc["schema_version"] == 2
    assert {r["router"] for r in doc["rows"]} == {"oracle", "best_single"}
    assert {r["router"] for r in doc["seed_protocol"]} == {"knn", "mlp"}
    assert Leaderboard.from_dict(doc).seed_protocol == seeded.seed_protocol
    loaded = load_results(tmp_path)
    assert loaded.seed_protocol == seeded.seed_protocol
    assert loaded.meta["seed_protocol"]["source"] == "sweep/summary.json"

    md = paths["markdown"].read_text()
    assert "seed protocol" in md and "sweep/summary.json" in md
    knn = "| knn (hashing) | 0.6000 ± 0.0200 | 1.25 | 0.5500 ± 0.0300 | 0.2000 | 0.7500 | seed protocol, 5 seeds |"
    assert knn in md
    assert "| mlp (hashing) | failed |" in md
    assert "| oracle |" in md and md.count("single fit |") == 4
    # rows are ordered by U(λ) as the printed table is: at λ = 0, oracle (1.0) > knn (0.61) > failed mlp
    lam0 = md.split("## λ = 0\n")[1].split("## λ")[0]
    assert lam0.index("| oracle |") < lam0.index("| knn (hashing) |") < lam0.index("| mlp (hashing) |")


def test_a_leaderboard_without_seed_rows_keeps_its_old_markdown(board: Leaderboard) -> None:
    md = board.to_markdown()
    assert "figures" not in md and "seed protocol" not in md


def test_an_old_leaderboard_json_still_loads(seeded: Leaderboard, tmp_path: Path) -> None:
    paths = seeded.save_results(tmp_path)
    doc = json.loads(paths["json"].read_text())
    doc["schema_version"] = 1
    del doc["seed_protocol"]
    doc["meta"].pop("seed_protocol")
    paths["json"].write_text(json.dumps(doc))
    old = Leaderboard.from_dict(doc)
    assert old.seed_protocol == () and old.rows == seeded.rows
    loaded = load_results(tmp_path)
    assert loaded.seed_protocol == () and "seed_protocol" not in loaded.meta
    assert {r.router for r in loaded.rows} == {"oracle", "best_single"}


def test_a_leaderboard_json_from_the_future_is_refused_or_skipped(
    seeded: Leaderboard, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = seeded.save_results(tmp_path)
    doc = json.loads(paths["json"].read_text())
    doc["schema_version"] = 99
    with pytest.raises(SchemaError, match="schema_version 99 is not supported"):
        Leaderboard.from_dict(doc)
    paths["json"].write_text(json.dumps(doc))
    with caplog.at_level("WARNING"):
        loaded = load_results(tmp_path)
    assert loaded.seed_protocol == () and "seed-protocol rows not read" in caplog.text


# ------------------------------------------------------------------- Δ vs best_single (issue 11 §5, main job)
def _two_models(q_a: list[float], q_b: list[float]) -> RoutingData:
    """A test split where model a and model b have the given outcomes; train makes b the best single."""
    n = len(q_a)
    y = np.array([[0.0, 1.0]] * 4 + list(zip(q_a, q_b, strict=True)))
    return RoutingData(
        name="pair",
        query_ids=np.array([f"q{i}" for i in range(4 + n)], dtype=object),
        sources=np.array(["s"] * (4 + n), dtype=object),
        splits=np.array(["train"] * 4 + ["test"] * n, dtype=object),
        models=(ModelInfo("a"), ModelInfo("b")),
        Y=y,
        cost=np.ones_like(y),
        cost_unit="usd",
    )


def test_quality_deltas_is_the_paired_mean_difference_with_a_ci_around_it() -> None:
    from routerlab.experiments.evaluate import quality_deltas

    # oracle minus best_single (model b): per query max(a, b) - b = [1, 0, 0, 1, 0, 0, 0, 0] -> 0.25
    data = _two_models([1, 0, 1, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 1, 1, 0])
    board = evaluate(data, ["oracle", "best_single", "cheapest"])
    deltas = quality_deltas(board, 0.0)
    assert set(deltas) == {"oracle", "cheapest"}  # the reference is not compared with itself
    d = deltas["oracle"]
    assert d.delta == pytest.approx(0.25) and d.n_queries == 8
    assert d.low <= d.delta <= d.high and d.low >= 0  # the oracle never loses a paired query
    assert d.delta == pytest.approx(board.row("oracle").quality - board.row("best_single").quality)
    assert quality_deltas(board, 0.0, reference="random") == {}  # not evaluated: nothing to compare with


def test_quality_deltas_do_not_depend_on_query_order_and_find_a_real_gap() -> None:
    from routerlab.experiments.evaluate import quality_deltas

    rng = np.random.default_rng(3)
    a = (rng.random(400) < 0.7).astype(float)
    data = _two_models(a.tolist(), (rng.random(400) < 0.5).astype(float).tolist())
    first = quality_deltas(evaluate(data, ["oracle", "best_single"]), 0.0)["oracle"]
    perm = np.concatenate([np.arange(4), 4 + rng.permutation(400)])
    again = quality_deltas(evaluate(data.subset(perm), ["oracle", "best_single"]), 0.0)["oracle"]
    assert first.delta == pytest.approx(again.delta)
    assert first.significant and first.low > 0.1  # a gap of ~0.35 on 400 queries cannot be noise
    assert "*" in first.cell() and first.short().startswith("+") and " ± " in first.short()


def test_markdown_shows_the_delta_column_for_every_router_the_table_holds() -> None:
    data = make_routing_problem(120, 3, seed=1)
    X = np.random.default_rng(0).normal(size=(data.n_queries, 4))
    board = evaluate(data, ["oracle", "best_single", make_router("knn", k=5)], lams=(0.0, 0.5), features=X)
    sweep = SweepResult(Path("sweep"), (0.0, 0.5), (_summary_row("knn"),), (), 0, 0)
    seeded = attach_sweep(board, sweep)  # as the CLI does; it then saves the baselines' rows only
    md = seeded.to_markdown()
    assert "Δ quality vs best_single [95 % CI]" in md and "paired bootstrap" in md
    lam0 = md.split("## λ = 0\n")[1].split("## λ")[0]
    knn_line = next(line for line in lam0.splitlines() if line.startswith("| knn (hashing) |"))
    assert re.search(r"\| [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\]\*? \|$", knn_line)
    best = next(line for line in lam0.splitlines() if line.startswith("| best_single |"))
    assert best.endswith("| – |")
    # restricting the JSON/Markdown rows to the baselines keeps the learned routers' decisions for their Δ
    sub = seeded.select([r.router for r in seeded.rows if r.router in BASELINES])
    assert "| knn (hashing) |" in sub.to_markdown() and sub.to_markdown().count("*") >= 1


def test_results_written_with_the_old_lambda_encoding_still_load(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    board = evaluate(_strong_missing_on_test(), ["oracle", "best_single"], lams=(0.0, 0.5))
    board.save_results(tmp_path)
    path = tmp_path / "predictions.parquet"
    table = pq.read_table(path)
    old = {"choice@0": "choice@0.0", "choice@0.5": "choice@0.5"}
    meta = json.loads(table.schema.metadata[b"routerlab"])
    for counts in meta.get("meta", {}).get("missing", {}).get("decisions", {}).values():
        for key in list(counts):
            counts[repr(float(key))] = counts.pop(key)
    renamed = table.rename_columns([old.get(c, c) for c in table.column_names])
    renamed = renamed.replace_schema_metadata({b"routerlab": json.dumps(meta).encode()})
    pq.write_table(renamed, path)
    again = load_results(tmp_path)
    for lam in (0.0, 0.5):
        assert np.array_equal(again.prediction("best_single").choice(lam), board.prediction("best_single").choice(lam))
        assert again.row("best_single", lam).missing_outcomes == board.row("best_single", lam).missing_outcomes
