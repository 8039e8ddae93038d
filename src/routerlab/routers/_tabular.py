"""Helpers shared by the feature-based router families (kNN, KMeans, classifiers, trees, LinUCB, BT).

Kept private: they encode conventions that every feature router must follow in the same way —
features as float64, a clear error when the feature width differs from training, missing outcomes
masked out of every target, and oracle labels computed by the shared selection policy.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from routerlab._random import rng
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError
from routerlab.routers.baselines import oracle_choice


def as_features(X: np.ndarray | None, owner: Any, *, fitting: bool) -> np.ndarray:
    """``X`` as a float64 matrix; at fit time record its width, at predict time check it.

    The base class has already checked the row count and finiteness; here the column count must
    match the training features, or the router would silently mis-read the query embeddings.
    """
    if X is None:  # the base class raises first for routers with requires_features = True
        raise SchemaError(f"{type(owner).__name__} needs query features X.")
    feats = np.asarray(X, dtype=np.float64)
    if fitting:
        owner.n_features_in_ = int(feats.shape[1])
    elif feats.shape[1] != owner.n_features_in_:
        raise SchemaError(
            f"{type(owner).__name__} was fitted on {owner.n_features_in_} features but X has {feats.shape[1]}; "
            "encode the queries with the same encoder as the training split."
        )
    return feats


def masked_model_means(train: RoutingData) -> np.ndarray:
    """Per-model mean observed quality; a model never observed in training gets 0.0 (as BestSingle does)."""
    mean_q = train.mean_quality()
    return np.where(np.isfinite(mean_q), mean_q, 0.0)


def oracle_candidates(train: RoutingData, model_cost: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Oracle labels with their *candidate sets* under missing outcomes.

    Returns ``rows`` (queries with at least one outcome), ``labels`` (their observed oracle label,
    :func:`~routerlab.routers.baselines.oracle_choice`) and ``candidates``, a boolean (len(rows),
    n_models) matrix of the models that are the oracle label under *some* completion of the query's
    missing outcomes: the observed label ``ℓ`` (best observed value ``v``), plus every unobserved
    model ``m`` that could beat it —
    any of them when ``v < 1``; when ``v = 1``, those that win the policy's tie-break against ``ℓ``
    (cheaper, or as cheap and in a lower column; an unknown cost counts as ``model_cost[m]``).
    A fully observed query has the single candidate ``ℓ``. Treating ``ℓ`` alone as the label of a
    query whose cheap model was not run would teach "the cheap model is not the one" from a missing
    cell; the candidate set keeps exactly what the data say.
    """
    labels = oracle_choice(train)
    rows = np.flatnonzero(labels >= 0)
    labels = labels[rows]
    observed = train.observed[rows]
    Y = np.where(observed, train.Y[rows], -1.0)
    cost = np.where(np.isfinite(train.cost[rows]), train.cost[rows], model_cost[None, :])
    idx = np.arange(len(rows))
    best = Y[idx, labels]
    label_cost = cost[idx, labels]
    cols = np.arange(train.n_models)[None, :]
    wins_tie = (cost < label_cost[:, None]) | ((cost == label_cost[:, None]) & (cols < labels[:, None]))
    could_take = ~observed & ((best[:, None] < 1.0) | wins_tie)
    candidates = could_take.copy()
    candidates[idx, labels] = True
    return rows, labels, candidates


def soft_binary_targets(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices, 0/1 labels and weights that turn outcomes in [0, 1] into a weighted binary problem.

    A graded outcome ``y`` becomes two rows, (label 1, weight ``y``) and (label 0, weight ``1 − y``);
    the weighted log-loss of a binary classifier on them equals the soft-label cross-entropy, and for
    0/1 outcomes (zero-weight rows dropped) it is the ordinary binary problem, one row per query.
    """
    idx = np.arange(len(y))
    pos, neg = y > 0, y < 1
    rows = np.concatenate([idx[pos], idx[neg]])
    labels = np.concatenate([np.ones(int(pos.sum()), dtype=np.int64), np.zeros(int(neg.sum()), dtype=np.int64)])
    weights = np.concatenate([y[pos], 1.0 - y[neg]])
    return rows, labels, weights


def model_seeds(random_state: int | None, n_models: int) -> list[int]:
    """One seed per model column, all drawn from ``random_state`` through :func:`routerlab._random.rng`."""
    return [int(s) for s in rng(random_state).integers(0, 2**31 - 1, size=n_models)]


def openmp_threads(n_jobs: int | None) -> AbstractContextManager[Any]:
    """Limit scikit-learn's OpenMP threads (KMeans, HistGradientBoosting) to ``n_jobs``; None means one.

    OpenMP workers busy-wait: on a machine whose cores are already busy (parallel tests, a sweep
    running several fits) an unlimited fit on a small problem ran 20–400× slower in our timings. One
    thread is the predictable default; ``n_jobs=-1`` uses every core. Results do not depend on it.
    """
    from threadpoolctl import threadpool_limits

    limit = None if n_jobs == -1 else (1 if n_jobs is None else int(n_jobs))
    limiter: AbstractContextManager[Any] = threadpool_limits(limits=limit, user_api="openmp")
    return limiter
