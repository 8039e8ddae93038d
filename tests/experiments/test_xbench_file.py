"""xbench.json (routerlab.experiments.xbench): rows round-trip through the file; hostile files are refused clearly."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routerlab.errors import DataNotFoundError, SchemaError
from routerlab.experiments import xbench as xb
from routerlab.experiments.xbench import (
    XBENCH_JSON,
    Table1Row,
    XBenchResults,
    XBenchTable,
    read_xbench,
    table1_rows,
    write_xbench,
)
from routerlab.metrics.bootstrap import Interval

REF = "ProbeDirichlet"


def row(
    router: str,
    auroc: tuple[float, float, float],
    delta: tuple[float, float, float] | None,
    mark: str = "",
    lpm: float | None = 0.41,
    mpm: float | None = None,
    hcr: float | None = 0.23,
    **params: Any,
) -> Table1Row:
    return Table1Row(
        router,
        Interval(*auroc, 0.95),
        None if delta is None else Interval(*delta, 0.95),
        mark,
        lpm,
        mpm,
        hcr,
        dict(params),
    )


def small_results() -> XBenchResults:
    """Two settings, every table, notes and commands; the second setting has no large-model outcomes (MedQA)."""
    indomain = [
        row(REF, (0.62, 0.55, 0.70), None, C=1.0),
        row("ProbeMean", (0.58, 0.50, 0.66), (-0.04, -0.09, 0.01), "", 0.40, 0.71, 0.20, C=0.1, val_auroc=0.6),
        row("Entropy", (0.52, 0.44, 0.60), (-0.10, -0.18, -0.03), "*"),
    ]
    medqa = [
        row(REF, (0.55, 0.45, 0.64), None, "", None, None, None),
        row("ProbeMean", (0.57, 0.47, 0.66), (0.02, -0.05, 0.09), "", None, None, None),
    ]
    t1 = {"In-domain (MMLU)": indomain, "OOD: MMLU → MedQA (100)": medqa}
    return XBenchResults(
        title="SmolLM2-135M vs GPT-4",
        model="smollm2-135m",
        large_model="gpt-4-1106-preview",
        table1=XBenchTable.from_rows(t1, reference=REF, n_test={"In-domain (MMLU)": 60}),
        table3=XBenchTable.from_rows({k: v[:2] for k, v in t1.items()}, reference=REF),
        table4=XBenchTable.from_rows(
            {
                "In-domain (MMLU)": [
                    row("hidden, final", (0.6, 0.5, 0.7), None),
                    row("MiniLM", (0.5, 0.4, 0.6), (-0.1, -0.2, 0.0)),
                ]
            },
            reference="hidden, final",
        ),
        scaling=XBenchTable.from_rows({"1K (all 204)": indomain[:2]}, reference=REF, n_train={"1K (all 204)": 204}),
        notes=(("Paper vs ours", "Llama-3.1-8B there, 135M here.\n\nThe ordering of signals is what transfers."),),
        commands=("python benchmarks/probes_xbench.py --run runs/mmlu300 --out runs/xbench",),
        n_resamples=1000,
    )


def written(tmp_path: Path, results: XBenchResults | None = None) -> dict[str, Any]:
    """The JSON document write_xbench writes for ``results`` (default: :func:`small_results`)."""
    path = write_xbench(results or small_results(), tmp_path)
    return dict(json.loads(path.read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- round trip


def test_round_trip_is_exact(tmp_path: Path) -> None:
    results = small_results()
    path = write_xbench(results, tmp_path / "new" / "folder")
    assert path == tmp_path / "new" / "folder" / XBENCH_JSON
    assert read_xbench(path) == results
    assert read_xbench(path.parent) == results  # the folder works as well as the file
    assert not list(path.parent.glob("*.tmp")) and not list(path.parent.glob(".*.tmp"))


def test_rows_of_table1_rows_round_trip_and_nan_is_written_as_null(tmp_path: Path) -> None:
    # a real Tab. 1 from table1_rows; 6 test queries so that some resamples hold one class
    y_small = np.array([1, 0, 1, 0, 0, 1], dtype=float)
    scores = {REF: np.array([0.9, 0.1, 0.8, 0.3, 0.2, 0.7]), "flat": np.zeros(6), "noisy": np.arange(6.0)}
    rows = table1_rows(scores, y_small=y_small, y_large=np.ones(6), reference=REF, n_resamples=300)
    nan_row = Table1Row("nan bounds", Interval(0.5, math.nan, math.nan, 0.95), Interval(0.0, math.nan, math.nan, 0.95),
                        "", math.nan, None, None, {"val_auroc": math.nan, "C": 1.0})  # fmt: skip
    results = XBenchResults("t", "s", "l", XBenchTable.from_rows({"in": [*rows, nan_row]}, reference=REF))
    text = write_xbench(results, tmp_path).read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text  # strict JSON: any JSON tool reads it
    back = read_xbench(tmp_path).table1.groups[0].rows
    assert back[: len(rows)] == tuple(rows)  # table1_rows' output exactly, with its tiers and CIs
    got = back[-1]
    assert math.isnan(got.auroc.low) and math.isnan(got.auroc.high) and got.auroc.estimate == 0.5
    assert got.delta is not None and math.isnan(got.delta.low)
    assert got.lpm is None and got.params == {"val_auroc": None, "C": 1.0}  # undefined stays undefined: null


def test_writer_refuses_what_the_reader_would_and_writes_nothing(tmp_path: Path) -> None:
    bad = Table1Row(
        "ProbeMean", Interval(math.nan, 0.1, 0.2, 0.95), Interval(0.0, -0.1, 0.1, 0.95), "", None, None, None
    )
    results = XBenchResults("t", "s", "l", XBenchTable.from_rows({"in": [bad]}, reference=REF))
    with pytest.raises(SchemaError, match=r"write_xbench\(results\): table1\.groups\[0\]\.rows\[0\]\.auroc\.estimate"):
        write_xbench(results, tmp_path)
    assert not (tmp_path / XBENCH_JSON).exists()


def test_from_rows_refuses_sizes_of_unknown_groups() -> None:
    with pytest.raises(SchemaError, match=r"n_train names group\(s\) \['2K'\].*\['1K'\]"):
        XBenchTable.from_rows({"1K": []}, reference=REF, n_train={"2K": 2000})


def test_missing_file_names_the_writer(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="write_xbench"):
        read_xbench(tmp_path)


# --------------------------------------------------------------------------- hostile files


def at_row(doc: dict[str, Any], i: int = 1) -> dict[str, Any]:
    return dict(doc["table1"]["groups"][0]["rows"][i])


def set_row(doc: dict[str, Any], i: int, **fields: Any) -> dict[str, Any]:
    doc["table1"]["groups"][0]["rows"][i] = {**at_row(doc, i), **fields}
    return doc


R1 = "table1.groups[0].rows[1]"
CASES: list[tuple[str, Any, list[str]]] = [
    ("top-level list", lambda d: [d], ["the document must be a JSON object", "write_xbench"]),
    ("no version", lambda d: {k: v for k, v in d.items() if k != "schema_version"},
     ["schema_version is missing", "tables.json is another file"]),
    ("future version", lambda d: {**d, "schema_version": 2}, ["schema_version is not a version", "(1)", "Got 2"]),
    ("boolean version", lambda d: {**d, "schema_version": True}, ["schema_version", "Got True"]),
    ("string version", lambda d: {**d, "schema_version": "1"}, ["schema_version", "Got '1'"]),
    ("unknown field", lambda d: {**d, "tabel3": None}, ["tabel3 is not a field", "misspelt"]),
    ("missing table1", lambda d: {k: v for k, v in d.items() if k != "table1"}, ["the field table1 is missing"]),
    ("title empty", lambda d: {**d, "title": "  "}, ["title must be a non-empty string", "Got '  '"]),
    ("estimate as string", lambda d: set_row(d, 1, auroc={**at_row(d)["auroc"], "estimate": "0.58"}),
     [f"{R1}.auroc.estimate must be a number in [0, 1]", "Got '0.58'"]),
    ("estimate out of range", lambda d: set_row(d, 1, auroc={**at_row(d)["auroc"], "estimate": 1.5}),
     [f"{R1}.auroc.estimate must be a number in [0, 1]", "Got 1.5", "out of range"]),
    ("estimate NaN", lambda d: set_row(d, 1, auroc={**at_row(d)["auroc"], "estimate": math.nan}),
     [f"{R1}.auroc.estimate", "Got nan", "must be defined"]),
    ("lpm NaN", lambda d: set_row(d, 1, lpm=math.nan), [f"{R1}.lpm must be a number in [0, 1] or null", "Got nan",
                                                          "write an undefined value as null"]),
    ("bound Infinity",
     lambda d: set_row(d, 1, delta_vs_reference={**at_row(d)["delta_vs_reference"], "low": -math.inf}),
     [f"{R1}.delta_vs_reference.low", "Got -inf"]),
    ("huge number", lambda d: set_row(d, 1, hcr=10**400), [f"{R1}.hcr", "in range"]),
    ("boolean metric", lambda d: set_row(d, 1, mpm=True), [f"{R1}.mpm must be a number", "Got True"]),
    ("low above high", lambda d: set_row(d, 1, auroc={"estimate": 0.5, "low": 0.7, "high": 0.6, "level": 0.95}),
     [f"{R1}.auroc has low > high"]),
    ("one bound null", lambda d: set_row(d, 1, auroc={"estimate": 0.5, "low": None, "high": 0.6, "level": 0.95}),
     [f"{R1}.auroc has one bound null"]),
    ("level 1", lambda d: set_row(d, 1, auroc={**at_row(d)["auroc"], "level": 1}), [f"{R1}.auroc.level", "Got 1"]),
    ("interval with extra key", lambda d: set_row(d, 1, auroc={**at_row(d)["auroc"], "median": 0.5}),
     [f"{R1}.auroc.median is not a field"]),
    ("unknown tier", lambda d: set_row(d, 1, significance="***"), [f"{R1}.significance must be one of", "'***'"]),
    ("tier its CI denies", lambda d: set_row(d, 1, significance="**"),
     [f"{R1}.significance contradicts", "[-0.09, 0.01]", "Got '**'"]),
    ("no tier its CI demands", lambda d: set_row(d, 2, significance=""),
     ["table1.groups[0].rows[2].significance contradicts", "Got ''"]),
    ("no delta off the reference", lambda d: set_row(d, 1, delta_vs_reference=None),
     [f"{R1}.delta_vs_reference must be null on the reference 'ProbeDirichlet'", "Got None"]),
    ("delta on the reference", lambda d: set_row(d, 0, delta_vs_reference=at_row(d)["delta_vs_reference"]),
     ["table1.groups[0].rows[0].delta_vs_reference"]),
    ("router twice", lambda d: set_row(d, 2, router="ProbeMean", significance="*"),
     ["table1.groups[0].rows[2].router repeats a router", "'ProbeMean'"]),
    ("nested params", lambda d: set_row(d, 1, params={"C": {"a": [1]}}),
     [f"{R1}.params.C must be a string, number, boolean or null"]),
    ("params NaN", lambda d: set_row(d, 1, params={"C": math.nan}), [f"{R1}.params.C must be finite"]),
    ("no rows", lambda d: {**d, "table1": {"reference": REF, "groups": [{"name": "x", "rows": []}]}},
     ["table1.groups[0].rows must be a non-empty JSON list", "Got a list of 0"]),
    ("group twice", lambda d: {**d, "table1": {**d["table1"], "groups": [d["table1"]["groups"][0]] * 2}},
     ["table1.groups[1].name repeats a group", "'In-domain (MMLU)'"]),
    ("scaling without n_train", lambda d: {**d, "scaling": {**d["scaling"], "groups": [
        {**d["scaling"]["groups"][0], "n_train": None}]}},
     ["scaling.groups[0].n_train must be the number of training"]),
    ("negative n_test", lambda d: {**d, "table1": {**d["table1"], "groups": [
        {**d["table1"]["groups"][0], "n_test": -3}]}}, ["table1.groups[0].n_test must be a whole number >= 1", "-3"]),
    ("fractional resamples", lambda d: {**d, "n_resamples": 2.5}, ["n_resamples must be a whole number", "2.5"]),
    ("note without text", lambda d: {**d, "notes": [{"title": "x"}]}, ["the field notes[0].text is missing"]),
    ("command not a string", lambda d: {**d, "commands": [["python", "x"]]},
     ["commands[0] must be a non-empty string"]),
    ("table a list", lambda d: {**d, "table3": [1]}, ["table3 must be a JSON object", "Got a list of 1"]),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_documents_are_refused_naming_field_value_and_fix(
    tmp_path: Path, mutate: Any, expected: list[str]
) -> None:
    doc = mutate(written(tmp_path))
    # Python's json writes NaN/Infinity tokens, as a careless or hostile writer would
    (tmp_path / XBENCH_JSON).write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SchemaError) as err:
        read_xbench(tmp_path)
    message = str(err.value)
    assert message.startswith(str(tmp_path / XBENCH_JSON))  # the file
    for part in expected:
        assert part in message, (part, message)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "is not valid UTF-8 JSON"),
        (b'{"schema_version": 1, "title": "\xff\xfe"}', "is not valid UTF-8 JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is not valid UTF-8 JSON"),  # a nesting bomb: no RecursionError escapes
        (b'{"schema_version": 1, "schema_version": 1}', "the key 'schema_version' appears twice"),
    ],
    ids=["not json", "not utf-8", "nesting bomb", "duplicate key"],
)
def test_unparseable_files_are_refused(tmp_path: Path, raw: bytes, expected: str) -> None:
    (tmp_path / XBENCH_JSON).write_bytes(raw)
    with pytest.raises(SchemaError, match=expected):
        read_xbench(tmp_path)


def test_oversized_file_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_xbench(small_results(), tmp_path)
    monkeypatch.setattr(xb, "MAX_XBENCH_BYTES", 100)
    with pytest.raises(SchemaError, match=r"more bytes than the 100 an xbench.json may hold"):
        read_xbench(tmp_path)
