"""The seed protocol of `routing-plateau.txt` (arXiv:2606.07587) App. E.4 as a resumable, parallel sweep.

For every (dataset, router, encoder):

* **Stage 1.** Enumerate the router's ``param_grid`` (or the config's override) with
  :func:`itertools.product`, in the grid's key order (the last key varies fastest). When the grid
  holds more than ``max_configs`` points, :data:`SAMPLE_SEED` (42) draws ``max_configs`` of them
  without replacement, kept in enumeration order. Each configuration is fitted on the ``"train"``
  split with ``random_state = seeds[0]`` (42; only for routers that have a ``random_state``
  parameter) and scored on ``"val"`` by routing accuracy at λ = 0.
* **Stage 2** (stochastic routers only: ``stochastic = True`` *and* a ``random_state``
  parameter). The ``top_k`` stage-1 configurations (ties → earlier configuration) are re-fitted
  with the remaining seeds ``seeds[1:]`` (1337, 2026, 7, 99). The selected configuration is the
  one with the best mean validation accuracy over those stage-2 seeds — the four runs that played
  no part in the stage-1 ranking, so a lucky seed-42 run cannot win twice (ties → earlier
  configuration). Stage 2 of a (dataset, router, encoder) starts only once all its stage-1
  records exist.
* **Headline.** Mean ± std test accuracy of the selected configuration over *all* seeds
  (42, 1337, 2026, 7, 99), with ``std`` the population standard deviation (``ddof = 0``,
  :data:`STD_DDOF`). Deterministic routers report the single test accuracy of the selected
  variant (std 0, one seed). The cost-utility sweep U(λ) for each λ in ``lams`` is applied post
  hoc to the same predictions: scores are predicted once per run and the shared selection policy
  (``router.decide(...).choose(lam=λ)``, exactly what :meth:`Router.route` does) is applied at
  every λ.

**Cross-validated selection** (``selection: cv``, ``cv_folds: k``; a protocol option beside the
paper's split, for validation splits too small to rank routers). The queries of train ∪ val are
cut into k folds by a hash of the query id (:func:`routerlab.data.splits.group_folds`; queries
whose texts are equal after :func:`routerlab.audit.duplicates.normalise_text` share a fold, so a
duplicate is never scored on what the router was fitted on). Stage 1 fits each configuration at
``seeds[0]`` on k - 1 folds and scores routing accuracy at λ = 0 on the held-out one; the selection
score is the mean over folds (ties → earlier configuration; ``top_k`` is not used). Stage 2 refits
the selected configuration on all of train ∪ val with every seed (one for deterministic routers)
and scores it on test, which no selection step reads. The summary row keeps the per-fold scores
and their std (``cv``), its ``val_acc_mean`` is the selection score and ``n_train`` is
|train| + |val|. A dataset without a val split is accepted.

Routers are fitted on ``"train"``, selected on ``"val"`` and scored on ``"test"``; a model with no
recorded outcome on a query is not offered for it (``available = observed``) and val/test queries
nobody answered are dropped, as in :func:`routerlab.experiments.evaluate.evaluate`. Routers with
``requires_features = False`` run once per dataset under the encoder name ``"none"`` (no ``X``).

The runs file and how a sweep resumes are described in :mod:`routerlab.experiments.sweep.records`.

One idea a module: :mod:`~routerlab.experiments.sweep.config` (what to sweep),
:mod:`~routerlab.experiments.sweep.keys` (config ids, run keys, grid points),
:mod:`~routerlab.experiments.sweep.data` (splits, features, data fingerprint),
:mod:`~routerlab.experiments.sweep.run` (one run), :mod:`~routerlab.experiments.sweep.records`
(the runs file), :mod:`~routerlab.experiments.sweep.stages` (the runs each stage asks for),
:mod:`~routerlab.experiments.sweep.summary` (the headline rows and summary files),
:mod:`~routerlab.experiments.sweep.backends` (where runs execute: this process, loky processes or a
Ray cluster; ``backend: ray``) and :mod:`~routerlab.experiments.sweep.scheduler` (:func:`run_sweep`).
"""

from __future__ import annotations

from routerlab.experiments.sweep.config import DEFAULT_LAMS as DEFAULT_LAMS
from routerlab.experiments.sweep.config import DEFAULT_SEEDS as DEFAULT_SEEDS
from routerlab.experiments.sweep.config import NO_ENCODER, DatasetRef, SweepConfig
from routerlab.experiments.sweep.data import SplitData
from routerlab.experiments.sweep.data import data_fingerprint as data_fingerprint
from routerlab.experiments.sweep.data import load_datasets as load_datasets
from routerlab.experiments.sweep.data import split_rows as split_rows
from routerlab.experiments.sweep.keys import SAMPLE_SEED, config_id, enumerate_configs, run_key
from routerlab.experiments.sweep.keys import canonical_json as canonical_json
from routerlab.experiments.sweep.keys import lam_key as lam_key
from routerlab.experiments.sweep.records import RUNS_FILE as RUNS_FILE
from routerlab.experiments.sweep.records import SCHEMA_VERSION as SCHEMA_VERSION
from routerlab.experiments.sweep.records import read_records
from routerlab.experiments.sweep.run import RunSpec, execute_run
from routerlab.experiments.sweep.scheduler import SweepProgress, run_sweep
from routerlab.experiments.sweep.summary import STD_DDOF, SummaryRow, SweepResult, write_summary
from routerlab.experiments.sweep.summary import SUMMARY_JSON as SUMMARY_JSON
from routerlab.experiments.sweep.summary import SUMMARY_PARQUET as SUMMARY_PARQUET

__all__ = [
    "NO_ENCODER",
    "SAMPLE_SEED",
    "STD_DDOF",
    "DatasetRef",
    "RunSpec",
    "SplitData",
    "SummaryRow",
    "SweepConfig",
    "SweepProgress",
    "SweepResult",
    "config_id",
    "enumerate_configs",
    "execute_run",
    "read_records",
    "run_key",
    "run_sweep",
    "write_summary",
]
