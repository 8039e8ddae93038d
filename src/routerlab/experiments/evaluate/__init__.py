"""Fit routers on a benchmark's training split and score them on its test split: the leaderboard.

:func:`evaluate` fits every router once on the training split and routes each test query by the
shared policy at each requested λ; it returns a :class:`Leaderboard` (the figures, the evaluated
queries and every router's decisions), which :meth:`Leaderboard.save_results` writes to a results
directory and :func:`load_results` reads back.

One idea a module: :mod:`~routerlab.experiments.evaluate.run` (:func:`evaluate`, its protocol
and the missing-outcome record), :mod:`~routerlab.experiments.evaluate.leaderboard` (the values:
:class:`LeaderboardRow`, :class:`RouterPredictions`, :class:`Leaderboard` and its JSON and
Markdown forms), :mod:`~routerlab.experiments.evaluate.figures` (the figures of one router's
choices, :func:`score_choice`), :mod:`~routerlab.experiments.evaluate.results` (the results
directory and its format), :mod:`~routerlab.experiments.evaluate.seed_protocol` (learned routers'
seed-protocol rows, :func:`attach_sweep`) and :mod:`~routerlab.experiments.evaluate.deltas` (the
paired Δ quality vs ``best_single``, :func:`quality_deltas`).
"""

from __future__ import annotations

from routerlab.experiments.evaluate.deltas import (
    DELTA_REFERENCE,
    DELTA_RESAMPLES,
    QualityDelta,
    delta_note,
    quality_deltas,
)
from routerlab.experiments.evaluate.figures import score_choice
from routerlab.experiments.evaluate.leaderboard import (
    LEADERBOARD_JSON,
    LEADERBOARD_MD,
    LEADERBOARD_SCHEMA_VERSION,
    Leaderboard,
    LeaderboardRow,
    RouterPredictions,
)
from routerlab.experiments.evaluate.results import (
    PREDICTIONS_PARQUET,
    RESULTS_SCHEMA_VERSION,
    TEST_PARQUET,
    load_results,
)
from routerlab.experiments.evaluate.run import evaluate
from routerlab.experiments.evaluate.seed_protocol import (
    SWEEP_SUMMARY,
    SeedProtocolRow,
    attach_sweep,
    format_mean_std,
)

__all__ = [
    "DELTA_REFERENCE",
    "DELTA_RESAMPLES",
    "LEADERBOARD_JSON",
    "LEADERBOARD_MD",
    "LEADERBOARD_SCHEMA_VERSION",
    "PREDICTIONS_PARQUET",
    "RESULTS_SCHEMA_VERSION",
    "SWEEP_SUMMARY",
    "TEST_PARQUET",
    "Leaderboard",
    "LeaderboardRow",
    "QualityDelta",
    "RouterPredictions",
    "SeedProtocolRow",
    "attach_sweep",
    "delta_note",
    "evaluate",
    "format_mean_std",
    "load_results",
    "quality_deltas",
    "score_choice",
]
