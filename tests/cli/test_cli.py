"""The command line: real commands on shipped and public data, and friendly errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.data import DATASETS
from tests.conftest import SHARED_DATA

runner = CliRunner()

PUBLIC = [n for n in DATASETS.names() if not DATASETS.get(n).shipped]


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _fails(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, f"expected exit 2, got {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    return result.output


def test_evaluate_without_arguments_routes_on_shipped_data_and_shows_a_real_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main job: baselines and a learned router on routerlab-dcrouter's 1,796 test queries (issue 11)."""
    import pyarrow.parquet as pq

    from routerlab.data import read_parquet

    monkeypatch.chdir(tmp_path)
    out = _ok(["evaluate"])
    baselines = {"oracle", "best_single", "random", "cheapest", "majority_label"}
    for router in [*baselines, "knn (hashing)"]:
        assert router in out
    assert "1796 queries" in out and "Δ vs best" in out
    body = [line for line in out.splitlines() if line.startswith("│")]
    assert len(body) >= 6 and not any(re.search(r"\d…", line) for line in body)  # a number is never cut
    results = tmp_path / "routerlab-results" / "routerlab-dcrouter"
    board = json.loads((results / "leaderboard.json").read_text())
    rows = board["rows"]
    assert {r["router"] for r in rows} == baselines
    assert [(s["router"], s["encoder"], s["status"]) for s in board["seed_protocol"]] == [("knn", "hashing", "ok")]
    oracle = next(r for r in rows if r["router"] == "oracle")
    assert all(oracle["quality"] >= r["quality"] for r in [*rows, *board["seed_protocol"]])
    assert oracle["oracle_gap"] == 0.0
    md = (results / "leaderboard.md").read_text()
    assert "| oracle |" in md and "| knn (hashing) |" in md and "Δ quality vs best_single [95 % CI]" in md
    # the Δ of knn, recomputed independently from the saved decisions and outcomes
    test = pq.read_table(results / "test.parquet").to_pylist()
    y = np.array([row["Y"] for row in test], dtype=float)
    preds = pq.read_table(results / "predictions.parquet").to_pylist()
    order = {row["query_ids"]: i for i, row in enumerate(test)}
    column = {m: j for j, m in enumerate(read_parquet(results / "test.parquet").model_names)}
    choice = {name: np.zeros(len(y), dtype=int) for name in ("knn", "best_single")}
    for p in preds:
        if p["router"] in choice:
            choice[p["router"]][order[p["query_id"]]] = column[p["choice@0"]]
    knn, best = y[np.arange(len(y)), choice["knn"]], y[np.arange(len(y)), choice["best_single"]]
    knn_line = next(line for line in md.splitlines() if line.startswith("| knn (hashing) |"))
    m = re.search(r"\| ([+-]\d\.\d{4}) \[([+-]\d\.\d{4}), ([+-]\d\.\d{4})\](\*?) \|$", knn_line)
    assert m, knn_line
    delta, low, high = (float(m.group(i)) for i in (1, 2, 3))
    diff = knn - best
    assert delta == pytest.approx(diff.mean(), abs=5e-5)
    normal = 1.96 * diff.std() / np.sqrt(len(diff))  # the normal approximation of the paired CI
    assert (high - low) / 2 == pytest.approx(normal, rel=0.15)
    # the test split is large enough for a gap to show: the CI half-width stays under 2.5 pp
    assert normal < 0.025 and (m.group(4) == "*") == (low > 0 or high < 0)


def test_evaluate_several_lambdas(tmp_path: Path) -> None:
    _ok(["evaluate", "--router", "oracle,cheapest,best_single", "--lambda", "0,0.5", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "leaderboard.json").read_text())["rows"]
    assert sorted({r["lam"] for r in rows}) == [0.0, 0.5]
    for r in rows:
        if r["lam"] == 0.0:
            assert r["utility"] == pytest.approx(r["quality"])
        else:
            assert r["utility"] < r["quality"] or r["mean_cost"] == 0


def test_a_repeated_router_option_adds_routers_and_a_repeated_encoder_is_refused(tmp_path: Path) -> None:
    """Click keeps only the last of a repeated plain option; --router accumulates, a second --encoder is an error."""
    _ok(["evaluate", "--router", "oracle", "-r", "cheapest,best_single", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "leaderboard.json").read_text())["rows"]
    assert {r["router"] for r in rows} == {"oracle", "cheapest", "best_single"}
    out = _fails(["evaluate", "-r", "knn", "--encoder", "hashing", "--encoder", "minilm", "--out", str(tmp_path)])
    assert "--encoder was given 2 times" in out and "routerlab sweep" in out


def test_data_ls_lists_every_dataset() -> None:
    out = _ok(["data", "ls"])
    for name in DATASETS.names():
        assert name in out


@pytest.mark.parametrize("name", PUBLIC)
def test_data_show_on_public_data(name: str) -> None:
    if not (SHARED_DATA / name).is_dir():
        pytest.skip(f"{SHARED_DATA / name} is absent")
    out = _ok(["data", "show", name, "--path", str(SHARED_DATA / name)])
    assert "queries" in out and "models" in out
    assert "oracle quality (test)" in out
    assert "best single model" in out


def test_unknown_router_suggests(tmp_path: Path) -> None:
    out = _fails(["evaluate", "--router", "best_singel", "--out", str(tmp_path)])
    assert "Did you mean 'best_single'" in out


def test_unknown_dataset_suggests() -> None:
    out = _fails(["data", "show", "llmrouter-dcroutr"])
    assert "Did you mean 'llmrouter-dcrouter'" in out


def test_bad_lambda(tmp_path: Path) -> None:
    assert "lambda" in _fails(["evaluate", "--lambda", "abc", "--out", str(tmp_path)]).lower()
    assert "[0, 1]" in _fails(["evaluate", "--lambda", "1.5", "--out", str(tmp_path)])


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    out = _fails(["evaluate", "--data", str(empty), "--out", str(tmp_path / "o")])
    assert "empty" in out.lower()


def test_installed_entry_point_runs() -> None:
    exe = Path(sys.executable).with_name("routerlab")
    if not exe.exists():
        pytest.skip("routerlab entry point not installed in this environment")
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "routerlab" in done.stdout


def test_audit_command_writes_json_and_markdown(tmp_path: Path) -> None:
    out = _ok(["audit", "routerlab-mini", "--out", str(tmp_path)])
    assert "oracle_ceiling" in out and "model_dominance" in out
    report = json.loads((tmp_path / "audit.json").read_text())
    checks = {f["check"] for f in report["findings"]}
    assert {"oracle_ceiling", "model_dominance", "duplicates", "label_sanity"} <= checks
    assert (tmp_path / "audit.md").read_text().strip()


def test_audit_unknown_check_suggests() -> None:
    assert "Did you mean 'duplicates'" in _fails(["audit", "routerlab-mini", "--checks", "duplicate"])


def test_audit_ood_probe_from_the_command_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "audit",
            "routerlab-mini",
            "--checks",
            "ood_holdout",
            "--router",
            "knn",
            "--encoder",
            "hashing",
            "--holdout",
            "gsm8k,^math$",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "audit.json").read_text())
    first = report["findings"][0]
    # routerlab-mini's test split has no math query: math is held out of training but not scored
    assert first["check"] == "ood_holdout" and first["involved"] == ["gsm8k"]
    assert first["numbers"]["held_out_without_test_queries"] == ["math"]
    knn = report["findings"][1]
    assert set(knn["numbers"]["delta_pp"]) == {"gsm8k", "Average"}


def test_audit_probe_options_need_their_probe() -> None:
    result = runner.invoke(app, ["audit", "routerlab-mini", "--checks", "label_sanity", "--router", "knn"])
    assert result.exit_code == 2
    assert "--router applies to the probes pseudo_specialists, ood_holdout" in result.output
    result = runner.invoke(app, ["audit", "routerlab-mini", "--checks", "pseudo_specialists", "--holdout", "math"])
    assert result.exit_code == 2 and "--checks ood_holdout" in result.output


def _holes_csv(tmp_path: Path) -> Path:
    """A long table where "strong" (best on train) has no outcome on any test query."""
    lines = ["query_id,model,score,cost,split"]
    for i in range(40):
        split = "train" if i < 24 else ("val" if i < 32 else "test")
        if split != "test":
            lines.append(f"q{i},strong,{int(i % 5 != 0)},2.0,{split}")
        lines.append(f"q{i},weak,{int(i % 2 == 0)},0.5,{split}")
    path = tmp_path / "holes.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_data_show_never_prints_a_missing_model_as_best_single(tmp_path: Path) -> None:
    out = " ".join(_ok(["data", "show", str(_holes_csv(tmp_path))]).split())  # undo the console's wrapping
    assert "0.0% (0/8)" in out and "no outcome" in out  # coverage beside the model
    assert "coverage below 100%" in out
    assert "best single model on test (observed outcomes only): weak, quality 0.5000" in out
    assert "strong has no outcome on the test split" in out
    assert "strong, test quality" not in out and "strong, quality" not in out


def test_data_show_partial_coverage_is_compared_on_what_it_has(tmp_path: Path) -> None:
    path = _holes_csv(tmp_path)
    text = path.read_text() + "q32,strong,1,2.0,test\nq33,strong,1,2.0,test\n"
    path.write_text(text)
    out = " ".join(_ok(["data", "show", str(path)]).split())
    assert "25.0% (2/8)" in out
    assert "strong, quality 1.0000, coverage 25.0%" in out
    assert "strong, test quality 1.0000 on its 2/8 observed queries" in out


def test_evaluate_warns_and_records_decisions_on_missing_outcomes(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    result = runner.invoke(
        app, ["evaluate", "-d", str(_holes_csv(tmp_path)), "-r", "oracle,best_single", "--out", str(out_dir)]
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "best_single routed 8 of 8 test queries (λ=0) to models with no outcome" in output
    assert "missing='reroute'" in output
    board = json.loads((out_dir / "leaderboard.json").read_text())
    assert board["meta"]["missing"]["decisions"]["best_single"] == {"0": 8}
    assert {r["router"]: r["missing_outcomes"] for r in board["rows"]} == {"oracle": 0, "best_single": 8}
    assert "| 8/8 |" in (out_dir / "leaderboard.md").read_text()


def test_evaluate_missing_option_changes_the_policy_visibly(tmp_path: Path) -> None:
    """--missing zero: best_single's pick of the model with no test outcome counts as failed calls."""
    out_dir = tmp_path / "zero"
    args = ["evaluate", "-d", str(_holes_csv(tmp_path)), "-r", "oracle,best_single", "--out", str(out_dir)]
    result = runner.invoke(app, [*args, "--missing", "zero"])
    assert result.exit_code == 0, result.output
    board = json.loads((out_dir / "leaderboard.json").read_text())
    assert board["meta"]["missing"]["policy"] == "zero"
    quality = {r["router"]: r["quality"] for r in board["rows"]}
    assert quality["best_single"] == 0.0 and quality["oracle"] == 0.5
    assert "missing='zero'" in " ".join(result.output.split())
    bad = runner.invoke(app, [*args, "--missing", "maybe"])
    assert bad.exit_code == 2 and "missing must be one of" in bad.output
    learned = runner.invoke(
        app, ["evaluate", "-d", str(_holes_csv(tmp_path)), "-r", "knn", "--missing", "skip", "--encoder", "hashing"]
    )
    assert learned.exit_code == 2 and "--missing reroute" in " ".join(learned.output.split())


def test_evaluate_saves_the_evaluated_router_and_a_pool_it_can_be_served_with(tmp_path: Path) -> None:
    """--save-routers: the saved router decides the test split as predictions.parquet recorded (issue 13)."""
    import pyarrow.parquet as pq

    from routerlab.decisions import policy_for
    from routerlab.routers import load_router
    from routerlab.routers.persist import read_manifest
    from routerlab.serve import load_pool

    out, saved = tmp_path / "results", tmp_path / "routers"
    args = ["evaluate", "--data", "routerlab-mini", "--out", str(out), "--save-routers", str(saved)]
    text = _ok([*args, "--router", "best_single,knn"])
    folder = saved / "knn-hashing"
    assert f"saved knn (hashing) to {folder}" in text.replace("\n", "")
    pool = load_pool(saved / "pool.example.yaml")
    pool.check_matches(read_manifest(folder)["models"], router=str(folder))  # raises on a mismatch
    from routerlab.data import read_parquet

    test = read_parquet(out / "test.parquet")
    recorded = {
        p["query_id"]: p["choice@0"]
        for p in pq.read_table(out / "predictions.parquet").to_pylist()
        if p["router"] == "knn"
    }
    decided = load_router(folder).decide(test).restricted(test.observed).choose(policy_for(lam=0.0))
    assert [test.model_names[j] for j in decided] == [recorded[q] for q in test.query_ids]
    assert "--router" in _fails([*args, "--router", "best_single"])
