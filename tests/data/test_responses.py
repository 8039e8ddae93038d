"""Model responses: bounded, cleaned, aligned with the data; a missing response stays None, never ""."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from routerlab.data import load, load_responses
from routerlab.data.loaders.routellm import MODELS as ROUTELLM_MODELS
from routerlab.data.loaders.routellm import load_routellm_responses
from routerlab.data.loaders.routerbench import load_routerbench_responses, load_routerbench_subset
from routerlab.data.responses import CleanCounts, ResponseLimits, Responses, clean_response
from routerlab.errors import SchemaError
from tests.conftest import make_routing_problem
from tests.data.routerbench_tiny import MODELS, write_routerbench

SHARED = Path(os.environ.get("ROUTERLAB_DATA_DIR", "/work/shared/data"))


def test_clean_response_bounds_and_cleans() -> None:
    counts = CleanCounts()
    limits = ResponseLimits(max_chars=10)
    assert clean_response("a\x00b\x1bc\x7fd\x9f", limits, counts) == "a b c d "
    assert clean_response("line\r\nnext\tx", ResponseLimits(), counts) == "line\nnext\tx"  # \n and \t kept
    assert clean_response("y" * 25, limits, counts) == "y" * 10
    assert counts.as_dict() == {"truncated": 1, "control_cleaned": 1}


def test_limits_refuse_a_large_file(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_text("x" * 100)
    with pytest.raises(SchemaError, match="100 bytes, above the 10-byte bound"):
        ResponseLimits(max_file_bytes=10).check_file(big)
    with pytest.raises(SchemaError, match="max_chars must be a positive integer"):
        ResponseLimits(max_chars=0)


def test_aligned_keeps_missing_as_none() -> None:
    data = make_routing_problem(6, 3, seed=0)
    resp = Responses(
        query_ids=["q5", "q0", "zzz"],
        model_names=("m2", "m0", "other"),
        text=[["a", "b", "c"], [None, "", "e"], ["f", "g", "h"]],
    )
    out = resp.aligned(data)
    assert out.text.shape == (6, 3)
    assert out.text[0, 0] == "" and out.text[0, 2] is None  # q0: m0 answered "", m2 has no response
    assert out.text[5, 0] == "b" and out.text[5, 2] == "a"
    assert out.text[1, 1] is None  # m1 has no column, q1 no row: None, not ""
    assert out.missing.sum() == 6 * 3 - 3
    assert out.meta["aligned"] == {"dataset": "synthetic", "queries_without_row": 4, "models_without_column": ["m1"]}
    with pytest.raises(SchemaError, match="None of 'synthetic'"):
        Responses(query_ids=["nope"], model_names=("m0",), text=[["x"]]).aligned(data)
    with pytest.raises(SchemaError, match="must be a string or None"):
        Responses(query_ids=["q0"], model_names=("m0",), text=[[3]])


def test_routerbench_responses_hostile_file(tmp_path: Path) -> None:
    root = write_routerbench(tmp_path / "rb", n_rows=5, hostile=True)
    data = load_routerbench_subset(root)
    resp = load_routerbench_responses(root, limits=ResponseLimits(max_chars=1000)).aligned(data)
    assert resp.model_names == tuple(MODELS) and resp.n_queries == data.n_queries
    assert len(resp.text[0, 0]) == 1000  # the 50,000-character cell, cut (too long to parse as a literal)
    assert resp.text[1, 1] == "bell  and  [31m escape\nline"  # list literal joined, controls gone
    assert resp.text[2, 2] is None  # an empty cell: no response
    assert resp.text[3, 0] in ("The answer is B, certainly.", "Maybe C? not sure")
    assert resp.meta["truncated"] == 1 and resp.meta["control_cleaned"] == 1


def test_routellm_responses(tmp_path: Path) -> None:
    weak, strong = ROUTELLM_MODELS
    (tmp_path / "mmlu" / "responses").mkdir(parents=True)
    (tmp_path / "gsm8k").mkdir()
    pd.DataFrame({"prompt": ["q1", "q2"], weak: [True, False], strong: [True, True]}).to_csv(
        tmp_path / "mmlu" / "responses" / "mmlu_anatomy.csv", index=False
    )
    pd.DataFrame(
        {
            "prompt": ["a", "b"],
            weak: [True, False],
            strong: [True, True],
            f"{weak}_response": ["#### 18", ""],
            f"{strong}_response": ["18\x00", "7"],
        }
    ).to_csv(tmp_path / "gsm8k" / "gsm8k_responses.csv", index=False)
    resp = load_routellm_responses(tmp_path)
    assert resp.query_ids.tolist() == ["mmlu-anatomy-0", "mmlu-anatomy-1", "gsm8k-0", "gsm8k-1"]
    assert resp.text[0, 0] is None and resp.text[1, 1] is None  # MMLU files: no response column
    assert resp.text[2].tolist() == ["#### 18", "18 "] and resp.text[3].tolist() == [None, "7"]
    assert resp.meta["models_without_column"] == {"mmlu": sorted(ROUTELLM_MODELS)}


def test_no_responses_for_a_dataset_without_them() -> None:
    with pytest.raises(SchemaError, match="holds no model responses"):
        load_responses("routerlab-dcrouter")


@pytest.mark.skipif(not (SHARED / "routerbench-0shot-subset").is_dir(), reason="shared routerbench data absent")
def test_real_routerbench_responses_align() -> None:
    data = load("routerbench-0shot-subset", SHARED / "routerbench-0shot-subset")
    resp = load_responses(data.name, SHARED / "routerbench-0shot-subset").aligned(data)
    assert resp.meta["aligned"]["queries_without_row"] == 0 and not resp.meta["aligned"]["models_without_column"]
    assert not resp.missing.any()  # every cell of these files holds a response
    assert max(len(t) for t in resp.text.ravel()) <= ResponseLimits().max_chars
    assert np.mean([len(t) <= 3 for t in resp.text[data.sources == "winogrande"].ravel()]) > 0.9
