"""Running the sweep: plan both stages, execute the pending runs on a backend, record them and summarise."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.data.features.encoders import is_encoder_name
from routerlab.data.features.value import encoder_identity
from routerlab.data.schema import RoutingData
from routerlab.errors import RouterlabError
from routerlab.experiments.sweep.backends import Backend, Job, make_backend
from routerlab.experiments.sweep.config import NO_ENCODER, DatasetRef, SweepConfig
from routerlab.experiments.sweep.data import (
    Folds,
    SplitData,
    _features,
    _fold_split,
    _load,
    _refit_split,
    _split_data,
    data_fingerprint,
    make_folds,
    split_rows,
)
from routerlab.experiments.sweep.records import RUNS_FILE, _complete, _RecordWriter, read_records
from routerlab.experiments.sweep.run import RunSpec
from routerlab.experiments.sweep.stages import (
    _build_groups,
    _cv_stage1_specs,
    _Group,
    _planned_stage2,
    _refit_seeds,
    _refit_specs,
    _resolve_routers,
    _stage1_specs,
    _stage2_specs,
)
from routerlab.experiments.sweep.summary import SweepResult, _summarise, _summarise_cv, write_summary
from routerlab.metrics import core as M

log = logging.getLogger(__name__)


def _identity(encoder: str) -> str | None:
    """The encoder's identity (model and version); its name when it is not registered (features passed in)."""
    if encoder == NO_ENCODER:
        return None
    if is_encoder_name(encoder):
        return encoder_identity(encoder)
    return encoder


#: ``progress(done, total, message)``, called once at start and after every finished run
SweepProgress = Callable[[int, int, str], None]


class _Runner:
    """Executes run specs on the backend, writes their records as they arrive and tracks progress."""

    def __init__(
        self,
        config: SweepConfig,
        writer: _RecordWriter,
        done: dict[str, dict[str, Any]],
        progress: SweepProgress | None,
        fingerprints: Mapping[str, str],
        identities: Mapping[str, str | None],
        backend: Backend,
    ):
        self.backend = backend
        self.fingerprints = fingerprints
        self.identities = identities
        self.config = config
        self.writer = writer
        self.done = done
        self.progress = progress
        self.n_done = 0
        self.total = 0
        self.executed = 0
        self.errors: list[dict[str, Any]] = []

    def tick(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.n_done, self.total, message)

    def run(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        for record in self.backend.results(jobs, tuple(self.config.lams)):
            record["data_fingerprint"] = self.fingerprints[record["dataset"]]
            record["encoder_identity"] = self.identities.get(record["encoder"])  # model and version
            self.writer.write(record)
            self.executed += 1
            self.n_done += 1
            what = f"{record['dataset']} {record['router']}[{record['encoder']}] {record['config_id']}"
            what += f" seed {record['seed']}"
            if record.get("fold") is not None:
                what += f" fold {record['fold'] + 1}/{record['n_folds']}"
            if record["status"] == "ok":
                self.done[record["run_key"]] = record
                figure = f"val {record['val_acc']:.4f}" if "val_acc" in record else f"test {record['test_acc']:.4f}"
                self.tick(f"{what}: {figure}")
            else:
                self.errors.append(record)
                log.warning("run failed: %s: %s", what, record["error"])
                self.tick(f"{what}: failed")
                if self.config.fail_fast:
                    raise RouterlabError(f"Sweep run {what} failed: {record['error']}\n{record.get('traceback', '')}")


def run_sweep(
    config: SweepConfig,
    *,
    features: Mapping[tuple[str, str], np.ndarray] | None = None,
    progress: SweepProgress | None = None,
    data: Mapping[str, RoutingData] | None = None,
) -> SweepResult:
    """Run (or resume) the seed protocol over ``config``; see :mod:`routerlab.experiments.sweep`.

    ``features`` maps ``(dataset name, encoder name)`` to a precomputed (n_queries, d) matrix
    aligned with the dataset's rows; pairs not given are computed once here with
    :func:`routerlab.data.features.encode` (cached on disk) and shipped to the workers.
    ``data`` maps dataset names of ``config.datasets`` to already loaded datasets (the others are
    loaded with :func:`routerlab.data.load`). ``progress(done, total, message)`` is called at the
    start and after each finished run.
    """
    classes = _resolve_routers(config)
    groups = _build_groups(config, classes)
    datasets, kept = _load(config, data)
    refs = {ref.key: ref for ref in config.datasets}
    cv = config.selection == "cv"
    # cross-validation pools train and val, so a dataset without val is fine there
    rows = {name: split_rows(d, need_val=not cv) for name, d in datasets.items()}
    folds: dict[str, Folds] = {n: make_folds(d, rows[n], config.cv_folds) for n, d in datasets.items()} if cv else {}
    for g in groups:
        g.folds_id = folds[g.dataset].fingerprint if cv else None
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / RUNS_FILE
    fingerprints = {name: data_fingerprint(d) for name, d in datasets.items()}
    # the encoder's identity (model and version), not only its name: features of a new version are not reused
    identities = {e: _identity(e) for e in {g.encoder for g in groups}}
    done: dict[str, dict[str, Any]] = {}
    stale: dict[str, str] = {}  # run key -> dataset, for successful records that cannot be reused
    for rec in read_records(runs_path, repair=True):
        if _complete(rec, config.lams, fingerprints, identities):
            done[rec["run_key"]] = rec
        elif rec.get("status") == "ok" and rec.get("dataset") in fingerprints:
            stale[rec["run_key"]] = rec["dataset"]
    for name in sorted({d for k, d in stale.items() if k not in done}):
        n_stale = sum(1 for k, d in stale.items() if d == name and k not in done)
        log.warning(
            "%s: %d records of %r were computed on other data or features (or lack a requested λ); they are redone",
            runs_path,
            n_stale,
            name,
        )
    backend = make_backend(config)
    feature_cache: dict[tuple[str, str], np.ndarray | None] = {}
    split_cache: dict[tuple[str, str, str], SplitData] = {}

    def features_of(dataset: str, encoder: str) -> np.ndarray | None:
        if (dataset, encoder) not in feature_cache:
            d = datasets[dataset]
            if encoder != NO_ENCODER and not _given(features, refs[dataset], encoder):
                backend.prepare_features(d, encoder)  # Ray: the uncached texts are encoded on the cluster
            X = (
                None
                if encoder == NO_ENCODER
                else _features(d, dataset, encoder, features, refs[dataset], kept[dataset])
            )
            feature_cache[(dataset, encoder)] = X
        return feature_cache[(dataset, encoder)]

    def split_for(spec: RunSpec) -> SplitData:
        """The data a run is fitted and scored on: train/val/test, a cross-validation fold, or the refit."""
        part = "refit" if spec.refit else "split" if spec.fold is None else f"fold {spec.fold}"
        key = (spec.dataset, spec.encoder, part)
        if key not in split_cache:
            d, X = datasets[spec.dataset], features_of(spec.dataset, spec.encoder)
            if spec.refit:
                split_cache[key] = _refit_split(d, folds[spec.dataset], rows[spec.dataset]["test"], X)
            elif spec.fold is not None:
                split_cache[key] = _fold_split(d, folds[spec.dataset], spec.fold, X)
            else:
                split_cache[key] = _split_data(d, rows[spec.dataset], X)
        return split_cache[key]

    def stage1_of(g: _Group) -> list[RunSpec]:
        return _cv_stage1_specs(g, config) if cv else _stage1_specs(g, config.seeds[0])

    def stage2_of(g: _Group) -> list[RunSpec]:
        return _refit_specs(g, config, done) if cv else _stage2_specs(g, config, done)

    def planned2(g: _Group) -> int:
        return len(_refit_seeds(g, config)) if cv else _planned_stage2(g, config)

    writer = _RecordWriter(runs_path)
    runner = _Runner(config, writer, done, progress, fingerprints, identities, backend)
    skipped = 0
    try:
        stage1 = [(s, g) for g in groups for s in stage1_of(g)]
        pending1 = [(s, g) for s, g in stage1 if s.key not in done]
        skipped += len(stage1) - len(pending1)
        runner.total = len(stage1) + sum(planned2(g) for g in groups)
        runner.n_done = len(stage1) - len(pending1)
        runner.tick(f"stage 1: {len(pending1)} runs to do, {runner.n_done} already done")
        runner.run([(s, g.cls, split_for(s)) for s, g in pending1])
        # stage 2 starts only now: every stage-1 record of every group exists
        stage2 = [(s, g) for g in groups for s in stage2_of(g)]
        pending2 = [(s, g) for s, g in stage2 if s.key not in done]
        skipped += len(stage2) - len(pending2)
        runner.total = len(stage1) + len(stage2)
        runner.n_done = runner.total - len(pending2)
        runner.tick(f"stage 2: {len(pending2)} runs to do")
        runner.run([(s, g.cls, split_for(s)) for s, g in pending2])
    finally:
        writer.close()
        backend.close()
    summary, used = [], []
    for g in groups:
        test = datasets[g.dataset].subset(rows[g.dataset]["test"])
        summarise = _summarise_cv if cv else _summarise
        row, recs = summarise(g, config, done, M.oracle_accuracy_score(Y=test.Y))
        summary.append(row)
        used.extend(recs)
    result = SweepResult(
        out_dir=out,
        lams=tuple(config.lams),
        summary=tuple(summary),
        records=tuple(used),
        n_executed=runner.executed,
        n_skipped=skipped,
        errors=tuple(runner.errors),
        cv_folds=config.cv_folds if cv else None,
        variants=_variants(config, datasets) or None,
        truncation=_truncation(datasets, {(g.dataset, g.encoder) for g in groups}) or None,
    )
    write_summary(result, out)
    log.info("sweep done: %d runs executed, %d found in %s", runner.executed, skipped, runs_path)
    return result


def _given(features: Mapping[tuple[str, str], np.ndarray] | None, ref: DatasetRef, encoder: str) -> bool:
    """Whether the caller passed this dataset's features under ``encoder`` (looked up as ``_features`` does)."""
    return features is not None and any((name, encoder) in features for name in (ref.key, ref.name))


def _variants(config: SweepConfig, datasets: Mapping[str, RoutingData]) -> dict[str, dict[str, Any]]:
    """What each labelled, cut or de-duplicated dataset of the sweep is (the summary's ``variants``)."""
    out: dict[str, dict[str, Any]] = {}
    for ref in config.datasets:
        if ref.label is None and ref.train_fraction is None and ref.dedupe is None and not ref.drop_leaked:
            continue
        meta = datasets[ref.key].meta
        out[ref.key] = {
            "name": ref.name,
            "train_fraction": 1.0 if ref.train_fraction is None else ref.train_fraction,
            "n_train": int((datasets[ref.key].splits == "train").sum()),
            "dedupe": None if ref.dedupe is None else {**ref.dedupe.model_dump(), **meta.get("dedupe", {})},
            "drop_leaked": meta.get("drop_leaked") if ref.drop_leaked else None,
        }
    return out


def _truncation(
    datasets: Mapping[str, RoutingData], pairs: Iterable[tuple[str, str]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """How many query texts each registered encoder of the sweep cut, per dataset (the summary's ``truncation``).

    From the encoder's tokenizer alone (:func:`routerlab.data.features.long_text.truncation_report`);
    encoders that cannot tell (hashing reads every word) and features passed in are left out.
    """
    from routerlab.data.features.long_text import truncation_report

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for dataset, encoder in sorted(pairs):
        data = datasets[dataset]
        if encoder == NO_ENCODER or not is_encoder_name(encoder) or data.texts is None:
            continue
        report = truncation_report(encoder, [str(t) for t in data.texts], splits=data.splits, label=encoder)
        if report is not None and report.max_tokens is not None:
            out.setdefault(dataset, {})[encoder] = report.to_dict()
    return out
