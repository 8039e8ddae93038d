"""Off-policy evaluation of a deterministic routing policy on logged bandit feedback.

A gateway that explores logs, per request ``i``, the model it tried (``a_i``), the probability
``p_i`` that its (logging) policy tried that model, and a reward ``r_i`` in [0, 1] (user feedback).
A *target* policy — another router — would have picked ``π(x_i)``. Its value
``V(π) = E_x[μ(x, π(x))]`` (``μ`` the expected reward of a model on a query) is estimated without
deploying it, from the logged records alone:

* **IPS** (inverse propensity scoring, Horvitz & Thompson 1952): ``V̂ = mean_i w_i r_i`` with
  ``w_i = 1[a_i = π(x_i)] / p_i``. Unbiased when every ``p_i`` is the true logging probability and
  the logging policy gives the target's choice a positive probability on every query.
* **SNIPS** (self-normalised IPS; Swaminathan & Joachims 2015, "The Self-Normalized Estimator for
  Counterfactual Learning", NeurIPS, §3): ``V̂ = Σ w_i r_i / Σ w_i``. Biased by O(1/n) but
  consistent, with a lower variance than IPS, and it stays in [0, 1].
* **DR** (doubly robust; Dudík, Langford & Li 2011, "Doubly Robust Policy Evaluation and
  Learning", ICML, §2 eq. (3) for a deterministic policy): ``V̂ = mean_i [q̂(x_i, π(x_i)) +
  w_i (r_i − q̂(x_i, a_i))]`` with ``q̂`` a reward model. Unbiased when the propensities are exact
  whatever ``q̂`` (as long as ``q̂`` was not fitted on these rewards), and its variance shrinks as
  ``q̂`` nears ``μ``.
* **DM** (direct method): ``mean_i q̂(x_i, π(x_i))``, for reference: as good as ``q̂`` only.

Confidence intervals are percentile bootstrap intervals over records, all estimators resampled
with the same indices (:func:`routerlab.metrics.bootstrap.bootstrap_means`): SNIPS is the ratio of
the resampled means of ``w·r`` and ``w``.

Diagnostics say how far to trust the figures: the match rate (share of records where the target
agrees with the logged action: only those carry IPS weight), the effective sample size of the
weights ``(Σ w)² / Σ w²`` (Kong 1992; Owen 2013, *Monte Carlo theory*, §9.3), the largest weight,
and — when the logging probability of the target's action is known — the records where it is 0:
there the logging policy never tries the target's model, IPS and SNIPS cannot see its reward and
are biased (no exploration: ε = 0 logging).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from routerlab.metrics.bootstrap import Interval, bootstrap_means

__all__ = [
    "ESTIMATORS",
    "OffPolicyDiagnostics",
    "OffPolicyValue",
    "dm_value",
    "dr_value",
    "importance_weights",
    "ips_value",
    "off_policy_value",
    "snips_value",
]

#: the estimators :func:`off_policy_value` reports, in display order (DR and DM need a reward model)
ESTIMATORS = ("ips", "snips", "dr", "dm")
#: an effective sample size below this share of the records draws a warning
LOW_ESS_SHARE = 0.1


# ---------------------------------------------------------------------- validation
def _vector(value: object, name: str, n: int | None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array with one entry per logged record. Got shape {arr.shape}.")
    if n is not None and len(arr) != n:
        raise ValueError(
            f"{name} has {len(arr)} entries but actions has {n}; give one entry per logged record, in the same order."
        )
    return arr


def _int_vector(value: object, name: str, n: int | None) -> np.ndarray:
    arr = _vector(value, name, n)
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must hold integer model indices (the column of the model in the pool). Got dtype {arr.dtype}."
        )
    return arr.astype(np.intp)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_propensities(value: object, n: int, name: str = "propensities", *, zero_ok: bool = False) -> np.ndarray:
    """Probabilities in (0, 1]; with ``zero_ok`` (a target's action) in [0, 1] or NaN for unknown."""
    p = _vector(value, name, n).astype(np.float64)
    known = ~np.isnan(p) if zero_ok else np.ones(len(p), dtype=bool)
    bad = known & (~np.isfinite(p) | (p < 0 if zero_ok else p <= 0) | (p > 1))
    if bad.any():
        i = _first_bad(bad)
        span = "[0, 1]" if zero_ok else "(0, 1]"
        raise ValueError(
            f"{name}[{i}] = {float(p[i])!r} must be in {span}: the logging policy's probability of the action. "
            "Give the exact probability the logging policy had (1 without exploration); a record without it "
            "(a pass-through or refused request) cannot be used for off-policy evaluation: drop it."
        )
    return p


def _check_rewards(value: object, n: int) -> np.ndarray:
    r = _vector(value, "rewards", n).astype(np.float64)
    bad = np.isnan(r) | (r < 0) | (r > 1)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(
            f"rewards[{i}] = {float(r[i])!r} must be a number in [0, 1]; rescale the feedback to [0, 1] and drop the "
            "records that have none."
        )
    return r


def _check_reward_model(value: object, n: int, actions: np.ndarray, target: np.ndarray) -> np.ndarray:
    q = np.asarray(value, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != n:
        raise ValueError(
            f"reward_model must be an (n_records, n_models) matrix with n_records = {n}. Got shape {q.shape}."
        )
    bad = ~np.isfinite(q)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"reward_model[{i}, {j}] = {float(q[i, j])!r} is not finite; every (record, model) cell needs an "
            "estimated reward."
        )
    m = q.shape[1]
    for name, arr in (("actions", actions), ("target_actions", target)):
        out = (arr < 0) | (arr >= m)
        if out.any():
            i = _first_bad(out)
            raise ValueError(
                f"{name}[{i}] = {int(arr[i])} is not a column of reward_model (it has {m} models: 0..{m - 1}); "
                "index the models in the reward model's column order."
            )
    return q


# ---------------------------------------------------------------------- point estimates
def importance_weights(*, actions: np.ndarray, propensities: np.ndarray, target_actions: np.ndarray) -> np.ndarray:
    """``w_i = 1[a_i = π(x_i)] / p_i``: the importance weight of each logged record for a deterministic target."""
    a = _int_vector(actions, "actions", None)
    n = len(a)
    if n == 0:
        raise ValueError("actions is empty: off-policy evaluation needs at least one logged record.")
    target = _int_vector(target_actions, "target_actions", n)
    p = _check_propensities(propensities, n)
    return np.where(a == target, 1.0 / p, 0.0)


def ips_value(
    *, actions: np.ndarray, propensities: np.ndarray, rewards: np.ndarray, target_actions: np.ndarray
) -> float:
    """IPS estimate ``mean_i w_i r_i`` of the target's value (Horvitz & Thompson 1952; see the module doc)."""
    w = importance_weights(actions=actions, propensities=propensities, target_actions=target_actions)
    r = _check_rewards(rewards, len(w))
    return float(np.mean(w * r))


def snips_value(
    *, actions: np.ndarray, propensities: np.ndarray, rewards: np.ndarray, target_actions: np.ndarray
) -> float:
    """Self-normalised IPS ``Σ w r / Σ w`` (Swaminathan & Joachims 2015, §3); NaN when no record matches."""
    w = importance_weights(actions=actions, propensities=propensities, target_actions=target_actions)
    r = _check_rewards(rewards, len(w))
    total = float(w.sum())
    return float(np.dot(w, r) / total) if total > 0 else float("nan")


def dr_value(
    *,
    actions: np.ndarray,
    propensities: np.ndarray,
    rewards: np.ndarray,
    target_actions: np.ndarray,
    reward_model: np.ndarray,
) -> float:
    """Doubly robust ``mean_i [q̂(x_i, π(x_i)) + w_i (r_i − q̂(x_i, a_i))]`` (Dudík, Langford & Li 2011, eq. 3)."""
    return float(np.mean(_dr_terms(actions, propensities, rewards, target_actions, reward_model)))


def dm_value(*, target_actions: np.ndarray, reward_model: np.ndarray) -> float:
    """Direct method ``mean_i q̂(x_i, π(x_i))``: the reward model's own estimate of the target's value."""
    target = _int_vector(target_actions, "target_actions", None)
    q = _check_reward_model(reward_model, len(target), target, target)
    return float(np.mean(q[np.arange(len(target)), target]))


def _dr_terms(
    actions: np.ndarray, propensities: np.ndarray, rewards: np.ndarray, target_actions: np.ndarray, reward_model: object
) -> np.ndarray:
    w = importance_weights(actions=actions, propensities=propensities, target_actions=target_actions)
    a = np.asarray(actions, dtype=np.intp)
    target = np.asarray(target_actions, dtype=np.intp)
    r = _check_rewards(rewards, len(w))
    q = _check_reward_model(reward_model, len(w), a, target)
    rows = np.arange(len(w))
    terms: np.ndarray = q[rows, target] + w * (r - q[rows, a])
    return terms


# ---------------------------------------------------------------------- with intervals and diagnostics
@dataclass(frozen=True, slots=True)
class OffPolicyDiagnostics:
    """How much the logged records say about the target policy.

    ``n_unsupported`` counts the records where the logging policy's probability of the target's
    action was 0 (None when those probabilities were not given); ``warnings`` are sentences for a user.
    """

    n: int
    n_matched: int
    match_rate: float
    ess: float
    max_weight: float
    n_unsupported: int | None
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OffPolicyValue:
    """A target policy's estimated value, the logging policy's own mean reward, each with an interval; diagnostics.

    ``estimates`` holds ``ips``, ``snips`` and, with a reward model, ``dr`` and ``dm``; ``logged`` is
    the mean logged reward (the logging policy's on-policy value).
    """

    estimates: Mapping[str, Interval]
    logged: Interval
    diagnostics: OffPolicyDiagnostics
    n_resamples: int
    seed: int


def _percentile(estimate: float, draws: np.ndarray, level: float) -> Interval:
    finite = draws[np.isfinite(draws)]
    if not np.isfinite(estimate) or finite.size == 0:
        return Interval(estimate, float("nan"), float("nan"), level)
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return Interval(float(estimate), float(low), float(high), level)


def _warnings(n: int, n_matched: int, ess: float, n_unsupported: int | None, snips_undefined: float) -> list[str]:
    out = []
    if n_matched == 0:
        out.append(
            f"the target never picks the logged model (0 of {n} records match): IPS is 0 and SNIPS undefined; "
            "collect traffic with ε-exploration so every model is tried on every kind of query."
        )
    if n_unsupported:
        out.append(
            f"on {n_unsupported} of {n} records the target picks a model the logging policy never tries for that "
            "query (logging probability 0): IPS and SNIPS cannot see those rewards and are biased, DR rests on the "
            "reward model there. Run the gateway with ε-exploration (ε > 0) to cover every model."
        )
    if n_matched and ess < max(LOW_ESS_SHARE * n, 10.0):
        out.append(
            f"the effective sample size of the weights is {ess:.1f} of {n} records: a few records carry the "
            "estimate and the intervals are unreliable; log more traffic or explore more."
        )
    if snips_undefined > 0.01:
        out.append(
            f"{snips_undefined:.0%} of the bootstrap resamples hold no matching record (SNIPS undefined there); "
            "its interval is over the others only."
        )
    return out


def off_policy_value(
    *,
    actions: np.ndarray,
    propensities: np.ndarray,
    rewards: np.ndarray,
    target_actions: np.ndarray,
    reward_model: np.ndarray | None = None,
    target_propensities: np.ndarray | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> OffPolicyValue:
    """IPS, SNIPS, DR and DM estimates of a deterministic target policy's value, with bootstrap CIs and diagnostics.

    ``actions`` (the logged model index per record), ``propensities`` (the logging policy's
    probability of it, in (0, 1]), ``rewards`` (in [0, 1]) and ``target_actions`` (the target's
    model index) are one entry per record; ``reward_model`` (n, m) is ``q̂``, the estimated reward of
    every model on every record (DR and DM are left out without it); ``target_propensities`` is the
    logging policy's probability of the *target's* action (0 flags an unsupported record, NaN: unknown).
    Intervals: percentile bootstrap over records, ``n_resamples`` resamples from ``seed``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95 for a 95 % interval. Got {level!r}.")
    w = importance_weights(actions=actions, propensities=propensities, target_actions=target_actions)
    n = len(w)
    a = np.asarray(actions, dtype=np.intp)
    target = np.asarray(target_actions, dtype=np.intp)
    r = _check_rewards(rewards, n)
    matched = a == target
    n_unsupported = None
    if target_propensities is not None:
        tp = _check_propensities(target_propensities, n, "target_propensities", zero_ok=True)
        p = np.asarray(propensities, dtype=np.float64)
        off = matched & ~np.isnan(tp) & ~np.isclose(tp, p)
        if off.any():
            i = _first_bad(off)
            raise ValueError(
                f"target_propensities[{i}] = {float(tp[i])!r} differs from propensities[{i}] = {float(p[i])!r} "
                "although the target's action is the logged one there; both must be the logging policy's "
                "probability of it."
            )
        n_unsupported = int(np.sum(tp == 0))
    rows = [r, w * r, w]
    if reward_model is not None:
        rows.append(_dr_terms(a, propensities, r, target, reward_model))
        q = np.asarray(reward_model, dtype=np.float64)
        rows.append(q[np.arange(n), target])
    values = np.vstack(rows)
    means = values.mean(axis=1)
    draws = bootstrap_means(values, n_resamples=n_resamples, seed=seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        snips_draws = np.where(draws[:, 2] > 0, draws[:, 1] / draws[:, 2], np.nan)
    snips = float(means[1] / means[2]) if means[2] > 0 else float("nan")
    estimates = {
        "ips": _percentile(float(means[1]), draws[:, 1], level),
        "snips": _percentile(snips, snips_draws, level),
    }
    if reward_model is not None:
        estimates["dr"] = _percentile(float(means[3]), draws[:, 3], level)
        estimates["dm"] = _percentile(float(means[4]), draws[:, 4], level)
    sum_w2 = float(np.dot(w, w))
    ess = float(w.sum()) ** 2 / sum_w2 if sum_w2 > 0 else 0.0
    n_matched = int(matched.sum())
    diagnostics = OffPolicyDiagnostics(
        n=n,
        n_matched=n_matched,
        match_rate=n_matched / n,
        ess=ess,
        max_weight=float(w.max()),
        n_unsupported=n_unsupported,
        warnings=tuple(_warnings(n, n_matched, ess, n_unsupported, float(np.mean(np.isnan(snips_draws))))),
    )
    return OffPolicyValue(
        estimates=estimates,
        logged=_percentile(float(means[0]), draws[:, 0], level),
        diagnostics=diagnostics,
        n_resamples=n_resamples,
        seed=seed,
    )
