"""Collect → score → audit through the real command line, against loopback OpenAI-compatible servers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from typer.testing import CliRunner

from routerlab.cli.main import app
from routerlab.data import read_parquet
from routerlab.score import extract_letter
from routerlab.score.store_reader import read_run
from tests.collect.conftest import ServeFn, make_config

runner = CliRunner()


def test_collect_score_audit_end_to_end(tmp_path: Path, serve: ServeFn) -> None:
    cfg = make_config(tmp_path, [serve(["mock"]), serve(["mock"])], n_queries=16)
    config = tmp_path / "collect.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    done = runner.invoke(app, ["collect", str(config)])
    assert done.exit_code == 0, done.output

    out = tmp_path / "run.parquet"
    done = runner.invoke(app, ["score", str(cfg.store), "--scorer", "letter", "--out", str(out)])
    assert done.exit_code == 0, done.output
    data = read_parquet(out)
    assert data.n_queries == 16 and data.model_names == ["m0", "m1"]
    assert data.parsed is not None and data.truncated is not None and data.latency_s is not None
    assert np.all(data.cost > 0)

    # every outcome is the letter extracted from the stored answer compared with the gold letter
    records, queries = read_run(cfg.store)
    gold = {qid: item.gold for qid, item in queries.items()}
    for rec in records:
        m, q = data.model_index(rec["model"]), int(np.flatnonzero(data.query_ids == rec["query_id"])[0])
        got = extract_letter(rec["response_text"]).letter
        assert data.Y[q, m] == float(got == gold[rec["query_id"]])
        assert data.parsed[q, m] == (got is not None)

    report_dir = tmp_path / "audit"
    done = runner.invoke(app, ["audit", str(out), "--checks", "oracle_ceiling,artifacts", "--out", str(report_dir)])
    assert done.exit_code == 0, done.output
    findings = json.loads((report_dir / "audit.json").read_text())["findings"]
    assert {f["check"] for f in findings} == {"oracle_ceiling", "artifacts"}
    art = next(f for f in findings if f["check"] == "artifacts")
    assert not art["title"].startswith("Not applicable")  # parsed / truncated reached the audit
