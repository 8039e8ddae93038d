"""The runs file: one JSON line per run, appended as results arrive, read back to resume.

Every run appends one JSON line to ``out_dir/runs.jsonl`` (flushed and ``fsync``-ed), written by
the parent process as results arrive, so a kill loses at most the runs in flight. A run is
identified by its *run key*, a hash of (dataset, router, encoder, params, seed); the stage is not
part of the key, so the seed-42 run of stage 1 is also the first of the five headline seeds.
Under cross-validated selection (``selection: cv``) the key also holds the held-out fold and the
number of folds (records keep ``fold``), or marks a refit on train ∪ val, so each (config, seed,
fold) is resumed on its own and never mistaken for a run of the paper's protocol. On
start, existing records are read and every completed run key is skipped: an interrupted sweep
resumes where it stopped. A truncated last line (a kill mid-write) is dropped with a warning; a
corrupt line elsewhere (not UTF-8 JSON) stops the sweep with an error naming the line.
Each record also carries a fingerprint of the dataset (ids, splits, models, outcomes, costs) and
its figures at every λ; a record whose data changed, or that lacks a requested λ, is redone.
Failed runs are recorded with ``status = "error"`` and retried on the next start.
``summary.json`` and ``summary.parquet`` are rewritten at the end of every sweep; they hold no
timings, so a resumed sweep writes the same summary as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from routerlab.experiments.sweep.keys import lam_key

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RUNS_FILE = "runs.jsonl"


def read_records(path: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Read the records of a ``runs.jsonl`` file, in file order.

    A truncated last line (a process killed mid-write: no final newline) is dropped with a warning;
    with ``repair=True`` it is also cut from the file, so that later appends start on a fresh line.
    Any other line that is not valid UTF-8 JSON (a corrupt or hand-edited file) is a
    :class:`SchemaError` naming the file and line, since skipping it would silently redo or lose runs;
    a JSON object that is not a sweep record of this schema version is skipped with a warning.
    """
    from routerlab._jsonl import parse_line

    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        log.warning(
            "%s: dropping a truncated last line (%d bytes), left by an interrupted run; that run will be redone",
            path,
            len(raw) - cut,
        )
        raw = raw[:cut]
        if repair:
            os.truncate(path, cut)
    fix = (
        "the runs file is corrupt: delete that line (its run is redone on the next start) or move the file "
        "away to start the sweep afresh"
    )
    records = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        rec = parse_line(line, path=path, lineno=number, fix=fix)
        if rec.get("schema_version") != SCHEMA_VERSION or "run_key" not in rec:
            log.warning("%s, line %d: not a sweep record of schema version %d; skipped", path, number, SCHEMA_VERSION)
            continue
        records.append(rec)
    return records


class _RecordWriter:
    """Appends records to ``runs.jsonl``, one line each, flushed and fsync-ed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, allow_nan=False, default=repr) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def _complete(
    record: Mapping[str, Any],
    lams: Sequence[float],
    fingerprints: Mapping[str, str],
    identities: Mapping[str, str | None] | None = None,
) -> bool:
    """Whether ``record`` can be reused: ok, on the same data, from the same encoder (model and version), every λ.

    Records written before a field existed (no ``data_fingerprint`` / ``encoder_identity``) are reused.
    """
    if record.get("status") != "ok":
        return False
    if record.get("data_fingerprint") not in (None, fingerprints.get(record.get("dataset", ""))):
        return False
    if identities is not None and record.get("encoder_identity") not in (
        None,
        identities.get(record.get("encoder", "")),
    ):
        return False
    if record.get("fold") is not None:  # a cross-validation fold: scored on its held-out fold, never on test
        return record.get("val_acc") is not None
    have = record.get("test_utility") or {}
    return all(lam_key(lam) in have for lam in lams)
