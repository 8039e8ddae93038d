"""One run of the sweep: fit one configuration with one seed and score it at every λ."""

from __future__ import annotations

import datetime as _dt
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerlab.data.schema import RoutingData
from routerlab.experiments.evaluate import score_choice
from routerlab.experiments.sweep.data import SplitData
from routerlab.experiments.sweep.keys import _jsonable, lam_key, run_key
from routerlab.experiments.sweep.records import SCHEMA_VERSION
from routerlab.metrics import core as M
from routerlab.routers.base import Router
from routerlab.routers.probe import with_encoder_layout


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One fit-and-score job of the sweep."""

    dataset: str
    router: str
    encoder: str
    config_id: str
    config_index: int
    params: dict[str, Any]
    seed: int
    stage: int
    #: cross-validated selection: the held-out fold of a stage-1 run (None otherwise) and the number of folds
    fold: int | None = None
    n_folds: int | None = None
    #: cross-validated selection: a hash of the partition (which query is in which fold)
    folds_id: str | None = None
    #: cross-validated selection: a refit of the selected configuration on all of train ∪ val
    refit: bool = False

    @property
    def key(self) -> str:
        """The run key (see :func:`run_key`)."""
        return run_key(
            self.dataset,
            self.router,
            self.encoder,
            self.params,
            self.seed,
            fold=self.fold,
            n_folds=self.n_folds,
            folds_id=self.folds_id,
            refit=self.refit,
        )

    def cv_fields(self) -> dict[str, Any]:
        """What a record of a cross-validated run adds: its fold, or that it was fitted on train ∪ val."""
        if self.fold is not None:
            return {"selection": "cv", "fold": self.fold, "n_folds": self.n_folds, "folds_id": self.folds_id}
        return {"selection": "cv", "fold": None, "fit_on": "train+val"} if self.refit else {}


def _has_random_state(cls: type[Router]) -> bool:
    return "random_state" in cls._param_names()


def execute_run(spec: RunSpec, cls: type[Router], split: SplitData, lams: Sequence[float]) -> dict[str, Any]:
    """Fit one configuration with one seed and score it; returns the run's record (never raises).

    Runs in a worker process. A failure is returned as a record with ``status = "error"``.
    """
    base: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_key": spec.key,
        "dataset": spec.dataset,
        "router": spec.router,
        "encoder": spec.encoder,
        "config_id": spec.config_id,
        "config_index": spec.config_index,
        "params": _jsonable(spec.params),
        "seed": spec.seed,
        "stage": spec.stage,
        **spec.cv_fields(),
    }
    t0 = time.perf_counter()
    fit_s = 0.0
    try:
        # a hidden-state probe without n_layers reads it from the encoder (hidden:...:shape=31x576)
        router = with_encoder_layout(cls(**spec.params), spec.encoder)
        if _has_random_state(cls):
            router.set_params(random_state=spec.seed)
        router.fit(split.train, split.X_train)
        fit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        scores: dict[str, Any] = {}
        if split.val is not None:
            on_val = router.decide(split.val, split.X_val, available=split.val.observed)
            scores["val_acc"] = M.routing_accuracy_score(Y=split.val.Y, choice=on_val.choose())
        if split.test is not None:  # a cross-validation fold has no test: selection never reads it
            scores.update(_test_figures(spec.router, router, split.test, split.X_test, lams))
        predict_s = time.perf_counter() - t1
    except Exception as exc:  # recorded, and retried on the next start
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        return {
            **base,
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": tail,
            "fit_s": round(fit_s, 6),
            "timestamp": _now(),
        }
    return {
        **base,
        "status": "ok",
        "router_params": _jsonable(router.get_params()),
        **scores,
        "n_train": split.train.n_queries,
        "n_val": 0 if split.val is None else split.val.n_queries,
        **({} if split.test is None else {"n_test": split.test.n_queries}),
        "fit_s": round(fit_s, 6),
        "predict_s": round(predict_s, 6),
        "timestamp": _now(),
    }


def _test_figures(
    name: str, router: Router, test: RoutingData, X: np.ndarray | None, lams: Sequence[float]
) -> dict[str, Any]:
    """Test accuracy and, at every λ, quality, utility, mean cost and call rates (one decision, many λ)."""
    on_test = router.decide(test, X, available=test.observed)
    quality, utility, cost, rates = {}, {}, {}, {}
    for lam in sorted({0.0, *map(float, lams)}):
        row = score_choice(name, router, test, on_test.choose(lam=lam), lam, on_test.scale)
        k = lam_key(lam)
        quality[k], utility[k], cost[k], rates[k] = row.quality, row.utility, row.mean_cost, row.call_rate
    return {
        "test_acc": quality["0"],
        "test_quality": quality,
        "test_utility": utility,
        "test_mean_cost": cost,
        "call_rate": rates,
    }


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
