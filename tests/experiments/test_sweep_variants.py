"""Dataset variants in a sweep: nested training fractions and de-duplicated training splits (issue 15 item 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError
from routerlab.experiments.sweep import SweepConfig, run_sweep
from routerlab.experiments.sweep.config import Dedupe
from routerlab.experiments.sweep.data import dedupe_train, train_fraction
from routerlab.routers import ROUTERS
from tests.experiments.test_sweep import DATA, INJECT, TinyDet, X, _config, _lines
from tests.experiments.test_sweep_cv import _with


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    ROUTERS.register(TinyDet.name, TinyDet)
    yield
    ROUTERS.unregister(TinyDet.name)


def _train_ids(data: RoutingData) -> set[str]:
    return {str(q) for q, s in zip(data.query_ids, data.splits, strict=True) if s == "train"}


def test_fractions_are_nested_keep_val_and_test_and_ignore_row_order() -> None:
    small, rows_small = train_fraction(DATA, 0.2)
    large, _ = train_fraction(DATA, 0.5)
    n_train = int((DATA.splits == "train").sum())
    assert _train_ids(small) < _train_ids(large) < _train_ids(DATA)
    assert 0.05 * n_train < len(_train_ids(small)) < 0.4 * n_train
    for part in ("val", "test"):
        assert list(small.query_ids[small.splits == part]) == list(DATA.query_ids[DATA.splits == part])
    assert list(small.query_ids) == list(DATA.query_ids[rows_small])
    assert small.meta["train_fraction"] == {"fraction": 0.2, "n_train": len(_train_ids(small)), "n_train_full": n_train}
    # the same queries whatever the row order
    order = np.random.default_rng(1).permutation(DATA.n_queries)
    shuffled, _ = train_fraction(DATA.subset(order), 0.2)
    assert _train_ids(shuffled) == _train_ids(small)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_bad_train_fraction_is_refused_naming_the_field(tmp_path: Path, bad: float) -> None:
    with pytest.raises(SchemaError, match="train_fraction"):
        _config(tmp_path, datasets=[{"name": "synth", "train_fraction": bad}])


def test_a_fraction_that_keeps_nothing_is_an_error() -> None:
    with pytest.raises(SchemaError, match="keeps none of the"):
        train_fraction(DATA.subset(np.arange(3)), 1e-9)


def _with_duplicates() -> RoutingData:
    texts = [str(t) for t in DATA.texts]
    # rows 0, 1, 2 of train and one test row share a text (up to case and spacing)
    texts[1] = "  " + texts[0].upper()
    texts[2] = texts[0].replace(" ", "   ")
    test_row = int(np.flatnonzero(DATA.splits == "test")[0])
    texts[test_row] = texts[0]
    return _with(DATA, texts=np.asarray(texts, dtype=object))


def test_exact_dedupe_touches_train_only_and_keeps_the_first_or_none() -> None:
    data = _with_duplicates()
    first, rows = dedupe_train(data, Dedupe(keep="first"))
    assert first.n_queries == data.n_queries - 2 and 0 in rows and 1 not in rows and 2 not in rows
    assert list(first.query_ids[first.splits == "test"]) == list(data.query_ids[data.splits == "test"])
    assert first.meta["dedupe"]["n_removed"] == 2 and first.meta["dedupe"]["split"] == "train"
    none, rows = dedupe_train(data, Dedupe(keep="none"))
    assert none.n_queries == data.n_queries - 3 and not {0, 1, 2} & set(rows.tolist())
    assert list(none.query_ids) == list(data.query_ids[rows])


def test_near_duplicate_dedupe_with_an_encoder() -> None:
    data = _with_duplicates()
    # hashing vectors of equal word multisets are equal: cosine 1 >= 0.999
    out, rows = dedupe_train(data, Dedupe(encoder="hashing", threshold=0.999))
    assert 0 in rows and 1 not in rows and 2 not in rows
    assert out.meta["dedupe"]["encoder"] == "hashing"


def test_one_sweep_holds_variants_of_one_dataset_with_the_given_features_cut_to_match(tmp_path: Path) -> None:
    variants = [
        {"name": "synth"},
        {"name": "synth", "label": "synth@20%", "train_fraction": 0.2},
        {"name": "synth", "label": "synth-dedup", "dedupe": {"keep": "none"}},
    ]
    data = {"synth": _with_duplicates()}
    config = _config(tmp_path, datasets=variants, routers=["tiny_det", "best_single"])
    res = run_sweep(config, data=data, features=INJECT["features"])
    recs = _lines(tmp_path / "runs.jsonl")
    assert {r["dataset"] for r in recs} == {"synth", "synth@20%", "synth-dedup"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    by = {(r["dataset"], r["router"]): r for r in summary["rows"]}
    assert by[("synth@20%", "tiny_det")]["n_train"] < by[("synth", "tiny_det")]["n_train"]
    assert by[("synth-dedup", "tiny_det")]["n_train"] == by[("synth", "tiny_det")]["n_train"] - 3
    # every variant is scored on the same test queries
    assert len({r["n_test"] for r in summary["rows"]}) == 1
    assert res.n_executed == len(recs)


def test_a_variant_needs_its_own_label_and_dedupe_keys_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="own label"):
        _config(tmp_path, datasets=[{"name": "synth"}, {"name": "synth", "train_fraction": 0.5}])
    with pytest.raises(SchemaError, match="encoder"):
        SweepConfig.build(
            datasets=[{"name": "synth", "dedupe": {"encodr": "minilm"}}], routers=["tiny_det"], out_dir=tmp_path
        )


def _sweep_yaml(tmp_path: Path, body: dict[str, Any]) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(json.dumps(body))
    return path


def test_yaml_variants_round_trip(tmp_path: Path) -> None:
    cfg = SweepConfig.from_yaml(
        _sweep_yaml(
            tmp_path,
            {
                "datasets": [{"name": "synth", "label": "s10", "train_fraction": 0.1, "dedupe": {"threshold": 0.99}}],
                "routers": ["tiny_det"],
                "out_dir": str(tmp_path / "out"),
            },
        )
    )
    ref = cfg.datasets[0]
    assert ref.key == "s10" and ref.train_fraction == 0.1 and ref.dedupe is not None and ref.dedupe.threshold == 0.99


def test_studies_read_scaling_encoders_and_dedupe_from_the_summary(tmp_path: Path) -> None:
    from routerlab.experiments.sweep.studies import dedupe_rows, encoder_rows, scaling_rows, studies_markdown

    variants = [
        {"name": "synth"},
        {"name": "synth", "label": "synth@30%", "train_fraction": 0.3},
        {"name": "synth", "label": "synth-dedup", "dedupe": {"keep": "none"}},
    ]
    features = {("synth", "fake"): X, ("synth", "fake2"): X[:, ::-1] ** 2}
    config = _config(tmp_path, datasets=variants, routers=["tiny_det"], encoders=["fake", "fake2"])
    run_sweep(config, data={"synth": _with_duplicates()}, features=features)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["variants"]["synth@30%"]["train_fraction"] == 0.3
    rows = {(r["dataset"], r["encoder"]): r for r in summary["rows"]}

    scaling = scaling_rows(summary)
    assert [(r.encoder, r.fraction) for r in scaling] == [("fake", 0.3), ("fake", 1.0), ("fake2", 0.3), ("fake2", 1.0)]
    assert scaling[0].point.acc == rows[("synth@30%", "fake")]["test_acc_mean"]
    assert scaling[0].n_train < scaling[1].n_train

    enc = encoder_rows(summary)
    assert [(r.dataset, r.encoder) for r in enc] == [("synth", "fake"), ("synth", "fake2")]

    (ded,) = [r for r in dedupe_rows(summary) if r.encoder == "fake"]
    orig, red = rows[("synth", "fake")], rows[("synth-dedup", "fake")]
    assert ded.n_removed == 3
    assert ded.avg_original == pytest.approx(np.mean(list(orig["test_quality_mean"].values())))
    assert ded.peak_reduced == pytest.approx(max(red["test_quality_mean"].values()))
    md = studies_markdown(summary)
    assert "training-set size" in md and "by encoder" in md and "de-duplicating" in md
    # a sweep without variants: no studies, and no variants key in its summary
    plain = tmp_path / "plain"
    run_sweep(_config(plain, routers=["tiny_det"]), **INJECT)
    doc = json.loads((plain / "summary.json").read_text())
    assert "variants" not in doc and studies_markdown(doc) == ""


def test_drop_leaked_removes_train_and_val_twins_of_test_queries_only() -> None:
    from routerlab.experiments.sweep.data import drop_leaked

    data = _with_duplicates()  # rows 0, 1, 2 (train) share the text of one test query
    out, rows = drop_leaked(data)
    assert not {0, 1, 2} & set(rows.tolist()) and out.n_queries == data.n_queries - 3
    assert list(out.query_ids[out.splits == "test"]) == list(data.query_ids[data.splits == "test"])
    assert out.meta["drop_leaked"] == {"n_removed": 3, "n_test_with_twin": 1}
    clean, rows = drop_leaked(DATA)
    assert clean.n_queries == DATA.n_queries and clean.meta["drop_leaked"]["n_removed"] == 0


def test_cli_sweep_prints_and_saves_the_scaling_table(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app

    path = tmp_path / "sweep.yaml"
    path.write_text(
        "datasets:\n"
        "  - {name: routerlab-mini, label: mini@40%, train_fraction: 0.4}\n"
        "  - routerlab-mini\n"
        "routers: [knn]\nencoders: [hashing]\nseeds: [42]\nmax_configs: 2\nlams: [0]\n"
    )
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out"), "--n-jobs", "1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    studies = (tmp_path / "out" / "studies.md").read_text()
    assert "training-set size" in studies and "| routerlab-mini | knn | hashing | 0.4 |" in studies
    assert "training-set size" in result.output


def test_a_variant_handed_back_to_the_sweep_is_not_cut_again_and_keeps_its_record() -> None:
    from routerlab.experiments.sweep.config import DatasetRef
    from routerlab.experiments.sweep.data import _variant

    ref = DatasetRef(name="synth", label="v", drop_leaked=True, dedupe=Dedupe(keep="first"), train_fraction=0.5)
    once, rows = _variant(_with_duplicates(), ref)
    assert rows is not None and once.meta["drop_leaked"]["n_removed"] == 3
    twice, again = _variant(once, ref)
    assert again is None and twice is once
    # another fraction of the same variant is still applied
    smaller, rows = _variant(once, ref.model_copy(update={"train_fraction": 0.2}))
    assert rows is not None and smaller.n_queries < once.n_queries


def test_the_summary_and_the_cli_say_how_many_texts_the_encoder_cut(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app
    from routerlab.data.io import write_parquet

    texts = [str(t) for t in DATA.texts]
    for i in (0, 5, 150):  # two train rows and one test row far beyond MiniLM's 256-piece window
        texts[i] = " ".join(f"word{j}" for j in range(400))
    data = _with(DATA, texts=np.asarray(texts, dtype=object))
    res = run_sweep(
        _config(tmp_path / "api", routers=["tiny_det"], encoders=["minilm"]),
        data={"synth": data},
        features={("synth", "minilm"): X},
    )
    t = json.loads((tmp_path / "api" / "summary.json").read_text())["truncation"]["synth"]["minilm"]
    assert t["n_texts"] == DATA.n_queries and t["n_truncated"] == 3 and t["by_split"]["test"]["n_truncated"] == 1
    assert res.truncation is not None
    # hashing reads every word: no record
    doc = json.loads(
        (
            run_sweep(_config(tmp_path / "h", routers=["tiny_det"], encoders=["hashing"]), data={"synth": data}).out_dir
            / "summary.json"
        ).read_text()
    )
    assert "truncation" not in doc
    path = tmp_path / "synth.parquet"
    write_parquet(data, path)
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(f"datasets: [{{name: {path}}}]\nrouters: [knn]\nencoders: [minilm]\nseeds: [42]\nmax_configs: 1\n")
    out = CliRunner().invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "cli"), "--n-jobs", "1"])
    assert out.exit_code == 0, out.output + repr(out.exception)
    assert "minilm cut 3 of 160 query texts" in out.output


def _row(dataset: str, router: str, encoder: str, acc: float, std: float = 0.0, **extra: Any) -> dict[str, Any]:
    from routerlab.experiments.sweep.keys import lam_key

    return {
        "dataset": dataset,
        "router": router,
        "encoder": encoder,
        "status": "ok",
        "test_acc_mean": acc,
        "test_acc_std": std,
        "test_quality_mean": {lam_key(0.0): acc},
        "seeds": [42, 1337, 2026],
        "n_train": extra.pop("n_train", None),
        **extra,
    }


def test_the_fine_tuning_study_pairs_each_frozen_router_with_the_fine_tuned_one_of_its_encoder() -> None:
    from routerlab.experiments.sweep.studies import finetune_rows, studies_markdown

    summary = {
        "variants": {
            "d": {"name": "d", "train_fraction": 1.0, "n_train": 100, "dedupe": None},
            "d@10%": {"name": "d", "train_fraction": 0.1, "n_train": 10, "dedupe": None},
            "d-dd": {"name": "d", "train_fraction": 1.0, "n_train": 97, "dedupe": {"keep": "first", "n_removed": 3}},
        },
        "rows": [
            _row("d", "finetuned", "none", 0.53, 0.004, params={"lr": 5e-5}),
            _row("d", "mlp", "minilm", 0.50, 0.01),
            _row("d", "knn", "hashing", 0.49),  # another encoder: nothing to pair with
            _row("d@10%", "mlp", "minilm", 0.40),
            _row("d@10%", "finetuned", "none", 0.38, params={"lr": 5e-5}),
            _row("d@10%", "knn", "minilm", 0.41, status="failed"),  # a failed run is no point
            _row("d-dd", "finetuned", "none", 0.99),  # de-duplicated entries are the dedupe study's
            _row("d-dd", "mlp", "minilm", 0.10),
            _row("e", "finetuned", "none", 0.60, params={"base_model": "st:/m"}, n_train=50),
            _row("e", "mlp", "minilm", 0.10),  # not the fine-tuned router's base encoder
            _row("e", "mlp", "st:/m", 0.58),
        ],
    }
    rows = finetune_rows(summary)
    assert [(r.dataset, r.fraction, r.encoder, r.frozen_router) for r in rows] == [
        ("d", 0.1, "minilm", "mlp"),
        ("d", 1.0, "minilm", "mlp"),
        ("e", 1.0, "st:/m", "mlp"),
    ]
    assert [round(100 * r.delta, 6) for r in rows] == [-2.0, 3.0, 2.0]
    assert [r.n_train for r in rows] == [10, 100, 50]
    assert rows[1].tuned.std == 0.004 and rows[1].frozen.n_seeds == 3
    md = studies_markdown(summary)
    assert "| d | 0.1 | 10 | minilm | mlp | 0.4000 ± 0.0000 | finetuned | 0.3800 ± 0.0000 | -2.00 |" in md
    assert "| e | 1 | 50 | st:/m | mlp | 0.5800 ± 0.0000 | finetuned | 0.6000 ± 0.0000 | +2.00 |" in md
    # the rows do not depend on the order of the summary's rows
    assert finetune_rows({**summary, "rows": summary["rows"][::-1]}) == rows
