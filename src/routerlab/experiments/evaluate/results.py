"""The results directory: the folder a leaderboard is saved to, with its decisions, and read back from.

:meth:`Leaderboard.save_results` writes, and :func:`load_results` reads back, a folder
(``schema_version`` 1):

``test.parquet``
    the evaluated queries: the test split without the queries nobody answered, as a
    :class:`~routerlab.data.schema.RoutingData` (outcomes ``Y``, ``cost``, model names, query ids,
    sources, categories, texts), read with :func:`routerlab.data.read_parquet`.
``predictions.parquet``
    one row per (router, test query), in ``test.parquet``'s query order, routers in evaluation
    order. Columns: ``router``, ``query_id``; ``choice@<λ>`` for every evaluated λ (the chosen
    model's *name*; ``<λ>`` is :func:`routerlab.decisions.lam_key`, e.g. ``choice@0``, ``choice@0.5``;
    files written with ``choice@0.0`` still load);
    ``score:<model>`` for every model (the router's ``predict_scores``; null when the router has
    none); ``cost_estimate:<model>`` (the per-call cost its policy traded off: the mean training
    cost for learned routers and baselines, the true cost for the oracle). The file's key-value
    metadata ``routerlab`` holds ``{"schema_version": 1, "dataset", "split", "cost_scale": [lo,
    hi], "meta": {"train_splits", "n_train"}, "lams": [...], "models": [...], "routers": [{"name",
    "params", "needs_outcomes", "has_scores", "encoder"}, ...]}`` (``encoder``: the identity of the
    encoder whose features the router read, or null).
``leaderboard.json`` / ``leaderboard.md``
    the figures of the routers the caller reports (:meth:`Leaderboard.to_dict`, by default all),
    for people and diffs, and the seed-protocol figures of learned routers when
    :func:`.attach_sweep` added them (``seed_protocol``; ``schema_version`` 2, files of version 1
    still load). :func:`load_results` recomputes every row from the two Parquet files and takes the
    seed-protocol rows from ``leaderboard.json``.

Re-selecting with the shared policy, ``board.decisions(router).choose(lam=λ)`` (the saved scores
and cost estimates as a :class:`~routerlab.decisions.Decisions`, with ``available=test.observed``
under ``missing="reroute"`` and no mask under the other policies), reproduces ``choice@<λ>``
exactly, at any λ: a report can trace curves at λ values that were never evaluated.

``routerlab evaluate --out DIR`` writes this folder. Learned routers (``--router knn,...``) run
the seed protocol (:mod:`routerlab.experiments.sweep`, records in ``DIR/sweep/``); the
validation-selected configuration of each is then fitted once more with seed 42 (as in stage 1)
and evaluated here together with the baselines, so ``predictions.parquet`` holds every router.
``leaderboard.json``/``.md`` then list the baselines by their test figures and the learned routers
by their seed-protocol figures (:class:`SeedProtocolRow`: quality and U(λ) as mean ± std over the
seeds of the validation-selected configuration, ddof 0; mean cost; gap and CNA of the mean
quality), copied by :func:`.attach_sweep` from the sweep summary (``DIR/sweep/summary.json``), so the
saved leaderboard holds every router the printed table shows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from routerlab._files import atomic_write
from routerlab.data.io import write_parquet
from routerlab.decisions import CostScale, lam_key
from routerlab.errors import DataNotFoundError, SchemaError
from routerlab.experiments.evaluate.figures import _row, _sorted
from routerlab.experiments.evaluate.leaderboard import (
    _LEADERBOARD_VERSIONS,
    LEADERBOARD_JSON,
    Leaderboard,
    RouterPredictions,
)
from routerlab.experiments.evaluate.seed_protocol import SeedProtocolRow, _seed_rows
from routerlab.metrics.core import DEFAULT_MISSING, check_missing_policy

log = logging.getLogger(__name__)

#: version of ``predictions.parquet``'s metadata
RESULTS_SCHEMA_VERSION = 1
TEST_PARQUET = "test.parquet"
PREDICTIONS_PARQUET = "predictions.parquet"
_META_KEY = b"routerlab"


def save_results(
    board: Leaderboard, out_dir: str | Path, *, leaderboard: Sequence[str] | None = None
) -> dict[str, Path]:
    """Write ``board``'s results directory (:meth:`Leaderboard.save_results`, which calls this)."""
    if board.test is None or not board.predictions:
        raise SchemaError(
            "This leaderboard carries no predictions (it was not produced by evaluate(), or was read from "
            "leaderboard.json alone); call evaluate() again and save that result."
        )
    names = [p.router for p in board.predictions]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SchemaError(
            f"Router name(s) {dup} appear more than once; predictions are stored by router name. "
            "Evaluate each configuration in its own run, or give the routers distinct names."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"test": write_parquet(board.test, out / TEST_PARQUET)}
    paths["predictions"] = _write_predictions(board, out / PREDICTIONS_PARQUET)
    if leaderboard is None or leaderboard:
        paths.update((board if leaderboard is None else board.select(leaderboard)).save(out))
    return paths


def _choice_column(lam: float) -> str:
    return f"choice@{lam_key(lam)}"


def _old_choice_column(lam: float) -> str:
    """The column name of files written before λ had one encoding (``choice@0.0``)."""
    return f"choice@{float(lam)!r}"


def _write_predictions(board: Leaderboard, path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert board.test is not None
    test = board.test
    models = list(test.model_names)
    lams = board.lams
    n = test.n_queries
    names = np.array(models, dtype=object)
    columns: dict[str, list[Any]] = {"router": [], "query_id": []}
    columns.update({_choice_column(lam): [] for lam in lams})
    for prefix in ("score:", "cost_estimate:"):
        columns.update({prefix + m: [] for m in models})
    for p in board.predictions:
        columns["router"].append(pa.array([p.router] * n, type=pa.string()))
        columns["query_id"].append(pa.array(test.query_ids.tolist(), type=pa.string()))
        for lam in lams:
            columns[_choice_column(lam)].append(pa.array(names[p.choice(lam)].tolist(), type=pa.string()))
        for prefix, matrix in (("score:", p.scores), ("cost_estimate:", p.cost_estimate)):
            for j, m in enumerate(models):
                values = pa.nulls(n, type=pa.float64()) if matrix is None else pa.array(matrix[:, j], pa.float64())
                columns[prefix + m].append(values)
    meta = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "dataset": board.dataset,
        "split": board.split,
        "cost_scale": list(board.cost_scale),
        "meta": board.meta,
        "lams": lams,
        "models": models,
        "routers": [
            {
                "name": p.router,
                "params": p.params,
                "needs_outcomes": p.needs_outcomes,
                "has_scores": p.scores is not None,
                "encoder": p.encoder,
            }
            for p in board.predictions
        ],
    }
    table = pa.table({k: pa.concat_arrays(v) for k, v in columns.items()})
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    with atomic_write(path) as fh:
        pq.write_table(table, fh, compression="zstd")
    return path


def load_results(results_dir: str | Path) -> Leaderboard:
    """Read a results directory written by :meth:`Leaderboard.save_results`, with ``test`` and ``predictions``.

    The rows are recomputed from ``test.parquet`` and ``predictions.parquet`` (so every router that
    has predictions has rows, whichever routers ``leaderboard.json`` lists).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from routerlab.data import read_parquet

    folder = Path(results_dir)
    missing = [f for f in (TEST_PARQUET, PREDICTIONS_PARQUET) if not (folder / f).is_file()]
    if len(missing) == 2 and not (folder / LEADERBOARD_JSON).is_file():
        raise DataNotFoundError(
            f"{str(folder)!r} is not a results directory (no {PREDICTIONS_PARQUET}, {TEST_PARQUET} or "
            f"{LEADERBOARD_JSON}); write one with `routerlab evaluate --out {folder}` (or Leaderboard.save_results)."
        )
    if missing:
        raise SchemaError(
            f"{str(folder)!r} has no {' or '.join(missing)}: it was written by an older routerlab or by "
            f"Leaderboard.save(). Re-run `routerlab evaluate --out {folder}` to write the predictions."
        )
    test = read_parquet(folder / TEST_PARQUET)
    pred_path = folder / PREDICTIONS_PARQUET
    try:
        table = pq.read_table(pred_path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{str(pred_path)!r} is not a readable Parquet file ({exc}).") from None
    try:
        meta = json.loads((table.schema.metadata or {})[_META_KEY])
    except (KeyError, ValueError, RecursionError):
        raise SchemaError(
            f"{str(pred_path)!r} has no routerlab metadata; re-create it with routerlab evaluate."
        ) from None
    if meta.get("schema_version") != RESULTS_SCHEMA_VERSION:
        raise SchemaError(
            f"{str(pred_path)!r} has schema_version {meta.get('schema_version')!r}; this routerlab reads "
            f"version {RESULTS_SCHEMA_VERSION}. Re-run routerlab evaluate."
        )
    lacking = [k for k in ("dataset", "split", "cost_scale", "lams", "models", "routers") if k not in meta]
    if lacking:
        raise SchemaError(
            f"The routerlab metadata of {str(pred_path)!r} lacks {lacking}; re-create it with routerlab evaluate."
        )
    models = list(meta["models"])
    if models != list(test.model_names):
        raise SchemaError(
            f"{str(pred_path)!r} lists models {models} but {TEST_PARQUET} has {test.model_names}; "
            "the two files come from different runs. Re-run routerlab evaluate."
        )
    scale = CostScale(float(meta["cost_scale"][0]), float(meta["cost_scale"][1]))
    index = {m: j for j, m in enumerate(models)}
    routers = table.column("router").to_numpy(zero_copy_only=False).astype(str)
    qids = table.column("query_id").to_numpy(zero_copy_only=False).astype(str)
    run_meta = dict(meta.get("meta", {}))
    record = run_meta.get("missing", {})
    policy = check_missing_policy(str(record.get("policy", DEFAULT_MISSING)))
    counts = record.get("decisions", {})
    predictions, rows = [], []
    for info in meta["routers"]:
        picked = np.flatnonzero(routers == info["name"])
        if not np.array_equal(qids[picked], test.query_ids.astype(str)):
            raise SchemaError(
                f"The predictions of {info['name']!r} in {str(pred_path)!r} do not cover the queries of "
                f"{TEST_PARQUET} in order; the files come from different runs. Re-run routerlab evaluate."
            )
        part = table.take(pa.array(picked))
        choices = {}
        for lam in meta["lams"]:
            column = _choice_column(lam) if _choice_column(lam) in part.column_names else _old_choice_column(lam)
            names = part.column(column).to_pylist()
            choices[float(lam)] = np.array([index[m] for m in names], dtype=np.intp)

        def matrix(prefix: str, part: pa.Table = part) -> np.ndarray | None:
            cols = [part.column(prefix + m) for m in models]
            if all(c.null_count == len(c) for c in cols):
                return None
            return np.column_stack([c.to_numpy(zero_copy_only=False).astype(np.float64) for c in cols])

        pred = RouterPredictions(
            router=info["name"],
            params=dict(info.get("params", {})),
            needs_outcomes=bool(info.get("needs_outcomes", False)),
            encoder=info.get("encoder"),
            choices=choices,
            scores=matrix("score:"),
            cost_estimate=matrix("cost_estimate:"),
        )
        predictions.append(pred)
        rows += [
            _row(
                pred.router,
                pred.params,
                test,
                c,
                lam,
                scale,
                missing=policy,
                n_missing=int(_count_at(counts.get(pred.router, {}), lam)),
            )
            for lam, c in pred.choices.items()
        ]
    seed_protocol, seed_meta = _saved_seed_protocol(folder / LEADERBOARD_JSON)
    run_meta.pop("seed_protocol", None)  # the rows and their description live in leaderboard.json
    if seed_protocol and seed_meta is not None:
        run_meta["seed_protocol"] = seed_meta
    return Leaderboard.on_test(
        test,
        dataset=str(meta["dataset"]),
        split=str(meta["split"]),
        cost_scale=(scale.lo, scale.hi),
        rows=_sorted(rows),
        meta=run_meta,
        seed_protocol=seed_protocol,
        predictions=tuple(predictions),
    )


def _saved_seed_protocol(path: Path) -> tuple[tuple[SeedProtocolRow, ...], dict[str, Any] | None]:
    """The seed-protocol rows (and their ``meta`` entry) of ``leaderboard.json``; none when it has none.

    The rows of the other routers are recomputed from the Parquet files, so a missing file, a file of
    schema version 1 (which has no seed-protocol rows) or one this routerlab cannot read costs only
    these rows (the last with a warning).
    """
    if not path.is_file():
        return (), None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise TypeError(f"the file holds a {type(doc).__name__}, not an object")
        if doc.get("schema_version") not in _LEADERBOARD_VERSIONS:
            raise ValueError(
                f"schema_version {doc.get('schema_version')!r}; this routerlab reads "
                f"{', '.join(map(str, _LEADERBOARD_VERSIONS))}"
            )
        rows = _seed_rows(doc.get("seed_protocol", []))
        info = (doc.get("meta") or {}).get("seed_protocol")
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        log.warning("%s: seed-protocol rows not read (%s); re-run routerlab evaluate to rewrite it", path, exc)
        return (), None
    return rows, dict(info) if isinstance(info, dict) else None


def _count_at(counts: Mapping[str, Any], lam: float) -> int:
    """A per-λ count from ``meta.missing.decisions``, keyed by :func:`lam_key` (or ``repr`` in older files)."""
    return int(counts.get(lam_key(lam), counts.get(repr(float(lam)), 0)))
