"""`routerlab report` on a sweep's output folder: the seed-protocol tables and the studies' tables and figures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from routerlab.errors import SchemaError
from routerlab.experiments.sweep import run_sweep
from routerlab.report import report
from routerlab.report.sweep import build_sweep_content, is_sweep_only
from routerlab.routers import ROUTERS
from tests.experiments.test_sweep import TinyDet, X, _config
from tests.experiments.test_sweep_variants import _with_duplicates


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    ROUTERS.register(TinyDet.name, TinyDet)
    yield
    ROUTERS.unregister(TinyDet.name)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sweep")
    ROUTERS.register(TinyDet.name, TinyDet)
    variants = [
        {"name": "synth"},
        {"name": "synth", "label": "synth@30%", "train_fraction": 0.3},
        {"name": "synth", "label": "synth-dedup", "dedupe": {"keep": "none"}},
    ]
    features = {("synth", "fake"): X, ("synth", "fake2"): X[:, ::-1] ** 2}
    config = _config(out, datasets=variants, routers=["tiny_det", "best_single"], encoders=["fake", "fake2"])
    run_sweep(config, data={"synth": _with_duplicates()}, features=features)
    return out


def test_a_sweep_folder_gets_its_own_report_with_every_study(sweep_dir: Path, tmp_path: Path) -> None:
    assert is_sweep_only(sweep_dir)
    content = build_sweep_content(sweep_dir)
    ids = [f.id for f in content.figures()]
    assert ids == ["scaling-0", "encoders-0", "dedupe-0"]
    html_path = report(sweep_dir, tmp_path / "r")
    page = html_path.read_text()
    assert "Sweep report" in page and page.count("<svg") == 3
    md = (tmp_path / "r" / "report.md").read_text()
    # one seed-protocol table per dataset variant, then the studies with the numbers of summary.json
    assert md.count("\n## synth") == 3 and "## Studies" in md
    summary = json.loads((sweep_dir / "summary.json").read_text())
    row = next(r for r in summary["rows"] if r["dataset"] == "synth@30%" and r["encoder"] == "fake")
    assert f"| synth | tiny_det | fake | 0.3 | {row['n_train']} | {row['test_acc_mean']:.4f} |" in md
    assert sorted(p.name for p in (tmp_path / "r" / "figures").iterdir()) == [
        "dedupe-0.png",
        "encoders-0.png",
        "scaling-0.png",
    ]


def test_a_plain_sweep_says_it_holds_no_study(tmp_path: Path) -> None:
    from tests.experiments.test_sweep import INJECT

    run_sweep(_config(tmp_path, routers=["tiny_det"]), **INJECT)
    content = build_sweep_content(tmp_path)
    assert content.figures() == [] and "no study" in content.notes["sweep-studies"][0]
    page = report(tmp_path, tmp_path / "r").read_text()
    assert "no study" in page


def test_a_broken_summary_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("[" * 100_000)
    with pytest.raises(SchemaError, match=r"summary\.json"):
        build_sweep_content(tmp_path)
    (tmp_path / "summary.json").write_text('{"rows": 3}')
    with pytest.raises(SchemaError, match="not a sweep summary"):
        build_sweep_content(tmp_path)


def test_a_sweep_with_a_fine_tuned_router_gets_the_fine_tuning_figure(tmp_path: Path) -> None:
    from tests.experiments.test_sweep_variants import _row

    folder = tmp_path / "sweep"
    folder.mkdir()
    summary = {
        "schema_version": 1,
        "protocol": {"lams": [0.0]},
        "variants": {
            "d": {"name": "d", "train_fraction": 1.0, "n_train": 100, "dedupe": None},
            "d@10%": {"name": "d", "train_fraction": 0.1, "n_train": 10, "dedupe": None},
        },
        "rows": [
            _row(d, r, e, a, n_train=n)
            for d, r, e, a, n in [
                ("d", "finetuned", "none", 0.53, 100),
                ("d", "mlp", "minilm", 0.50, 100),
                ("d@10%", "finetuned", "none", 0.38, 10),
                ("d@10%", "mlp", "minilm", 0.40, 10),
            ]
        ],
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    ids = [f.id for f in build_sweep_content(folder).figures()]
    assert ids == ["scaling-0", "finetune-0"]
    report(folder, tmp_path / "r")
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Frozen encoder vs the same encoder fine-tuned" in md and "| +3.00 |" in md
    assert "finetune-0.png" in {p.name for p in (tmp_path / "r" / "figures").iterdir()}
