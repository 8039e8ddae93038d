"""The whole evaluation of ``routerlab evaluate`` as one library call.

Baselines are fitted once, learned routers go through the seed protocol, and one leaderboard holds
every router.

:func:`evaluate_protocol` encodes the queries once (when a learned router reads features), runs
the seed protocol of :mod:`routerlab.experiments.sweep` for the learned routers (stage 1 at seed 42
selected on validation, stage 2 with four more seeds), fits the selected configuration of each
once more at seed 42 beside the baselines with :func:`routerlab.experiments.evaluate.evaluate`
(same features, so the encoder is recorded with the decisions), and attaches the seed-protocol
figures (:func:`~routerlab.experiments.evaluate.attach_sweep`). The CLI only loads the data,
calls this, prints and saves.

:func:`save_selected` writes each learned router's validation-selected configuration, fitted on
the training split exactly as the leaderboard fitted it (same seed, same features), as a saved
router folder (``router.save``) that ``routerlab serve`` loads: the router that is served is the
router that was evaluated. A router that reads features is saved as a
:class:`~routerlab.routers.FeatureRouter` over the evaluation's encoder, so it routes raw text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from routerlab.data.features.long_text import TruncationReport, truncation_report
from routerlab.data.features.value import Features, featurize
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError
from routerlab.experiments.evaluate import Leaderboard, attach_sweep, evaluate
from routerlab.experiments.sweep import SweepConfig, SweepResult, run_sweep
from routerlab.metrics.core import DEFAULT_MISSING, check_missing_policy
from routerlab.routers import ROUTERS, Router, clone, make_router, router_tags
from routerlab.routers.pipeline import FeatureRouter
from routerlab.routers.probe import with_encoder_layout

log = logging.getLogger(__name__)

#: ``progress(done, total, message)``, as :func:`run_sweep` calls it
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What :func:`evaluate_protocol` did.

    The leaderboard (None when nothing could be fitted), the sweep of the learned routers (None
    without any), which routers were baselines and which were learned, and the warnings (the CLI
    prints them).
    """

    board: Leaderboard | None
    sweep: SweepResult | None
    baselines: tuple[str, ...]
    learned: tuple[str, ...]
    warnings: tuple[str, ...]
    features: Features | None = None
    #: each learned router's validation-selected configuration (unfitted), as the leaderboard fitted it
    selected: tuple[Router, ...] = ()
    #: the encoder the learned routers read
    encoder: str = "hashing"
    #: the splits every router of the leaderboard was fitted on: train, or train and val under ``selection="cv"``
    train_splits: tuple[str, ...] = ("train",)
    #: how many query texts the encoder cut (None: no router read features, or the encoder cannot tell)
    truncation: TruncationReport | None = None


def has_val(data: RoutingData) -> bool:
    """Whether some ``val`` query has an outcome (what the seed protocol selects on)."""
    return bool(((data.splits == "val") & data.observed.any(axis=1)).any())


def evaluate_protocol(
    data: RoutingData,
    routers: Sequence[str],
    *,
    lams: Sequence[float] = (0.0,),
    encoder: str = "hashing",
    sweep_dir: str | Path,
    dataset_ref: dict[str, object] | None = None,
    n_jobs: int = 1,
    missing: str = DEFAULT_MISSING,
    optional_learned: Sequence[str] = (),
    encode_progress: Callable[[int, int], None] | None = None,
    sweep_progress: Progress | None = None,
    selection: str = "val",
    cv_folds: int = 5,
    features: Features | None = None,
) -> Evaluation:
    """Evaluate ``routers`` (registered names) on ``data``: baselines fitted once, the others by the seed protocol.

    ``dataset_ref`` is the sweep's record of where the data came from (``{"name": ..., "path": ...}``;
    default ``{"name": data.name}``); ``sweep_dir`` receives the sweep's ``runs.jsonl`` and summary,
    so an interrupted evaluation resumes. Learned routers named in ``optional_learned`` are dropped
    with a warning instead of an error when ``data`` has no validation split (a default, not a
    choice of the user's). The seed protocol scores with ``missing="reroute"``; another policy is an
    error when a learned router is asked for.

    ``selection="cv"`` selects the learned routers' configurations by ``cv_folds``-fold
    cross-validation on train ∪ val (:mod:`routerlab.experiments.sweep`); no val split is needed,
    and every router of the leaderboard, baselines included, is then fitted on train ∪ val, as the
    sweep refits the selected configurations.

    ``features`` are precomputed query vectors aligned with ``data``'s rows (e.g.
    :func:`routerlab.data.io.read_features` of a ``.npy`` file): they replace ``encoder``, and their
    identity names the encoder in the sweep's records and the leaderboard.
    """
    for name in routers:
        ROUTERS.get(name)  # an unknown name fails before any work, with a suggestion
    policy = check_missing_policy(missing)
    # a router's tags say whether it is a baseline (fitted once), so a plug-in baseline is one too
    baselines = tuple(n for n in routers if router_tags(n).baseline)
    learned = [n for n in routers if n not in baselines]
    warnings: list[str] = []
    if learned and policy != "reroute":
        raise ValueError(
            f"missing={policy!r} (--missing {policy}) applies to routers fitted once; the seed protocol of "
            f"{', '.join(learned)} scores with missing='reroute' (--missing reroute). Drop it, or evaluate the "
            "learned routers in a separate run."
        )
    if selection not in ("val", "cv"):
        raise SchemaError(f"selection must be 'val' or 'cv' (--selection cv); got {selection!r}.")
    cv = selection == "cv"
    train_splits = ("train", "val") if cv else ("train",)
    if learned and not cv and not has_val(data):
        dropped = [n for n in learned if n in optional_learned]
        if dropped and len(dropped) == len(learned):
            warnings.append(
                f"{', '.join(dropped)} skipped: {data.name!r} has no 'val' queries with an outcome to select "
                "hyper-parameters on; pass --val-fraction 0.1 to carve one from train, or --router to choose routers."
            )
            log.warning(warnings[-1])
            learned = []
        else:
            raise SchemaError(
                f"{data.name!r} has no 'val' queries with an outcome (splits {data.split_sizes()}); learned routers "
                "select their hyper-parameters on validation. Pass --val-fraction 0.1 to carve one from train "
                "(hash of the query id; test untouched)."
            )
    given_features = features
    if given_features is not None:
        encoder = given_features.encoder
    features = None
    truncation = None
    sweep = None
    selected: list[Router] = []
    if learned:
        if given_features is not None:
            given_features.for_data(data, encoder=encoder, owner="evaluate_protocol")  # same queries, same order
            features = given_features
        elif any(ROUTERS.get(n).requires_features for n in learned):  # once, for the sweep and the final fit
            features = featurize(data, encoder, cache=True, progress=encode_progress)
            truncation = _truncation(data, encoder)
        ref = dataset_ref if dataset_ref is not None else {"name": data.name}
        config = SweepConfig.build(
            datasets=[ref],
            routers=learned,
            encoders=[encoder],
            lams=sorted({float(v) for v in lams}),
            out_dir=Path(sweep_dir),
            n_jobs=n_jobs,
            selection=selection,
            cv_folds=cv_folds,
        )
        key = str(ref["name"])
        given = None if features is None else {(key, encoder): features.matrix}
        sweep = run_sweep(config, data={key: data}, progress=sweep_progress, features=given)
        for s in sweep.summary:
            if s.status == "ok":
                chosen = make_router(s.router, **s.params)
                with_encoder_layout(chosen, features.encoder if features is not None else encoder)
                if "random_state" in chosen.get_params():
                    chosen.set_params(random_state=config.seeds[0])  # the stage-1 seed, as the protocol fits it
                selected.append(chosen)
    board = None
    if baselines or selected:
        board = evaluate(
            data, [*baselines, *selected], lams=lams, train_splits=train_splits, features=features, missing=policy
        )
        warnings += [*board.meta.get("data_warnings", []), *board.meta.get("missing", {}).get("warnings", [])]
        if sweep is not None:
            board = attach_sweep(board, sweep)  # the learned routers' rows, computed once
        if truncation is not None:  # saved with the leaderboard: what the features never saw
            board = replace(board, meta={**board.meta, "encoder_truncation": truncation.to_dict()})
    else:
        from routerlab.audit import data_warnings  # the audit imports routers: kept out of module import

        warnings += data_warnings(data)
    return Evaluation(
        board,
        sweep,
        baselines,
        tuple(learned),
        tuple(warnings),
        features,
        tuple(selected),
        encoder,
        train_splits,
        truncation,
    )


def _truncation(data: RoutingData, encoder: str) -> TruncationReport | None:
    """How many of ``data``'s query texts ``encoder`` cut (per split too), from its tokenizer alone."""
    if data.texts is None:
        return None
    report = truncation_report(encoder, [str(t) for t in data.texts], splits=data.splits, label=encoder)
    if report is not None:
        log.info("%s", report.sentence())
    return report


def serving_name(router: Router) -> str:
    """A folder name for a saved router: its label with the encoder, e.g. ``knn-hashing``."""
    label = router.label if isinstance(router, FeatureRouter) else router.name
    return "-".join("".join(c if c.isalnum() or c in "._" else " " for c in label).split())


def save_selected(
    evaluation: Evaluation,
    data: RoutingData,
    out_dir: str | Path,
    *,
    train_splits: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Fit each selected learned router on ``train_splits`` and save it under ``out_dir``; label -> folder.

    ``train_splits`` defaults to the splits the evaluation fitted on (train, or train and val under
    cross-validated selection).

    The fit repeats the leaderboard's (same configuration, seed and features), so the saved router
    decides the test queries as the leaderboard recorded. Raises a ValueError when the evaluation
    selected no learned router (baselines are not saved: ``oracle`` needs the outcomes, and the
    others are one-liners).
    """
    if not evaluation.selected:
        raise ValueError(
            "No learned router was selected, so there is nothing to save: name one with --router (e.g. knn), "
            "and give the data a 'val' split (--val-fraction 0.1) to select it on."
        )
    fit_on = evaluation.train_splits if train_splits is None else train_splits
    train_mask = np.isin(data.splits, list(fit_on))
    train = data.subset(train_mask)
    out = Path(out_dir)
    saved: dict[str, Path] = {}
    for chosen in evaluation.selected:
        if chosen.requires_features:
            pipeline = FeatureRouter(encoder=evaluation.encoder, router=clone(chosen))
            feats = evaluation.features if evaluation.features is not None else featurize(data, evaluation.encoder)
            pipeline.fit(train, feats.subset(train_mask))  # it checks the features' encoder
            router: Router = pipeline
        else:
            router = clone(chosen)
            router.fit(train)
        folder = out / serving_name(router)
        router.save(folder)
        log.info("saved %s to %s", serving_name(router), folder)
        saved[str(getattr(router, "label", router.name))] = folder
    return saved
