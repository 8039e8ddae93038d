"""Off-policy estimators: hand-computed values, and simulated logs whose true value is known."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from routerlab.metrics.ope import (
    dm_value,
    dr_value,
    importance_weights,
    ips_value,
    off_policy_value,
    snips_value,
)

# 4 records, 3 models. The target agrees with the log on records 0 and 1 (w = 1/0.5 = 2, 1/0.25 = 4).
A = np.array([0, 1, 2, 0])
P = np.array([0.5, 0.25, 1.0, 0.8])
R = np.array([1.0, 0.5, 0.0, 1.0])
T = np.array([0, 1, 0, 1])
Q = np.array([[0.6, 0.2, 0.1], [0.3, 0.5, 0.4], [0.9, 0.1, 0.2], [0.4, 0.7, 0.3]])
KW = {"actions": A, "propensities": P, "rewards": R, "target_actions": T}


def test_hand_computed_values() -> None:
    np.testing.assert_array_equal(importance_weights(actions=A, propensities=P, target_actions=T), [2, 4, 0, 0])
    assert ips_value(**KW) == pytest.approx((2 * 1.0 + 4 * 0.5) / 4)  # 1.0
    assert snips_value(**KW) == pytest.approx((2 * 1.0 + 4 * 0.5) / (2 + 4))  # 0.6667
    # q̂(x, π(x)) = 0.6, 0.5, 0.9, 0.7; corrections 2·(1 − 0.6) and 4·(0.5 − 0.5)
    assert dr_value(**KW, reward_model=Q) == pytest.approx((0.6 + 0.8 + 0.5 + 0.0 + 0.9 + 0.7) / 4)  # 0.875
    assert dm_value(target_actions=T, reward_model=Q) == pytest.approx((0.6 + 0.5 + 0.9 + 0.7) / 4)  # 0.675


def test_result_carries_the_same_values_and_diagnostics() -> None:
    out = off_policy_value(**KW, reward_model=Q, target_propensities=np.array([0.5, 0.25, 0.0, 0.1]))
    assert [out.estimates[k].estimate for k in ("ips", "snips", "dr", "dm")] == pytest.approx(
        [1.0, 4 / 6, 0.875, 0.675]
    )
    assert out.logged.estimate == pytest.approx(R.mean())
    d = out.diagnostics
    assert (d.n, d.n_matched, d.match_rate, d.max_weight) == (4, 2, 0.5, 4.0)
    assert d.ess == pytest.approx(36 / 20)  # (Σw)² / Σw² = 6² / (4 + 16)
    assert d.n_unsupported == 1
    unknown = off_policy_value(**KW, target_propensities=np.array([0.5, np.nan, np.nan, 0.0]))
    assert unknown.diagnostics.n_unsupported == 1  # NaN: not known, not counted as unsupported
    assert any("never tries" in w for w in d.warnings) and any("effective sample size" in w for w in d.warnings)
    for iv in out.estimates.values():
        assert iv.low <= iv.estimate <= iv.high or np.isclose(iv.low, iv.estimate)


def test_no_reward_model_leaves_dr_out_and_seed_reproduces() -> None:
    gen = np.random.default_rng(0)
    kw = {
        "actions": gen.integers(0, 2, 60),
        "propensities": gen.uniform(0.2, 1.0, 60),
        "rewards": gen.random(60),
        "target_actions": np.zeros(60, dtype=int),
    }
    a = off_policy_value(**kw, seed=3)
    assert set(a.estimates) == {"ips", "snips"} and a.diagnostics.n_unsupported is None
    assert a == off_policy_value(**kw, seed=3)
    assert a.estimates["ips"] != off_policy_value(**kw, seed=4).estimates["ips"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"propensities": np.array([0.5, 0.0, 1.0, 0.8])}, ["propensities[1]", "0.0", "(0, 1]"]),
        ({"propensities": np.array([0.5, 1.5, 1.0, 0.8])}, ["propensities[1]", "1.5"]),
        ({"rewards": np.array([1.0, np.nan, 0.0, 1.0])}, ["rewards[1]", "nan", "[0, 1]"]),
        ({"rewards": np.array([1.0, 2.0, 0.0, 1.0])}, ["rewards[1]", "2.0", "rescale"]),
        ({"target_actions": np.array([0, 1, 0])}, ["target_actions", "3 entries", "actions has 4"]),
        ({"actions": np.array([0.0, 1.0, 2.0, 0.0])}, ["actions", "integer"]),
    ],
)
def test_bad_inputs_name_the_field_value_and_fix(change: dict[str, np.ndarray], words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        off_policy_value(**{**KW, **change}, reward_model=Q)
    for word in words:
        assert word in str(info.value)


def test_bad_reward_model_and_inconsistent_target_propensities() -> None:
    with pytest.raises(ValueError, match=r"reward_model must be an \(n_records, n_models\)"):
        off_policy_value(**KW, reward_model=Q[:3])
    with pytest.raises(ValueError, match=r"target_actions\[0\] = 5 is not a column of reward_model"):
        dr_value(**{**KW, "target_actions": np.array([5, 1, 0, 1])}, reward_model=Q)
    with pytest.raises(ValueError, match=r"target_propensities\[0\] = 0.9 differs from propensities\[0\] = 0.5"):
        off_policy_value(**KW, target_propensities=np.array([0.9, 0.25, 0.0, 0.1]))


def test_on_policy_log_gives_the_plain_mean() -> None:
    """ε = 0 and target = the logging policy's greedy choice: every weight is 1, IPS = SNIPS = DR = mean reward."""
    gen = np.random.default_rng(5)
    greedy = gen.integers(0, 3, 50)
    rewards = (gen.random(50) < 0.7).astype(float)
    q = gen.random((50, 3))
    out = off_policy_value(
        actions=greedy, propensities=np.ones(50), rewards=rewards, target_actions=greedy, reward_model=q
    )
    for key in ("ips", "snips", "dr"):
        assert out.estimates[key].estimate == pytest.approx(rewards.mean())
    assert out.estimates["ips"].low == pytest.approx(out.logged.low)
    assert out.diagnostics.ess == pytest.approx(50) and out.diagnostics.match_rate == 1.0


# ---------------------------------------------------------------------- simulated logs, truth known
@dataclass(frozen=True)
class World:
    """``n`` fixed queries, ``m`` models, true success probability ``mu``; a target policy and a good q̂."""

    mu: np.ndarray
    greedy: np.ndarray  # the noisy logging router's first choice
    target: np.ndarray
    q_good: np.ndarray

    @property
    def truth(self) -> float:
        return float(self.mu[np.arange(len(self.target)), self.target].mean())


def _world(n: int = 400, m: int = 3, seed: int = 0) -> World:
    gen = np.random.default_rng(seed)
    mu = np.clip(gen.beta(2, 2, (n, m)), 0.05, 0.95)
    greedy = np.argmax(mu + gen.normal(0, 0.3, (n, m)), axis=1)  # a noisy logging router
    target = np.argmax(mu + gen.normal(0, 0.15, (n, m)), axis=1)  # a better, different router
    q_good = np.clip(mu + gen.normal(0, 0.05, (n, m)), 0, 1)
    return World(mu, greedy, target, q_good)


def _log(world: World, eps: float, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ε-greedy logging with exact propensities, Bernoulli rewards."""
    n, m = world.mu.shape
    explore = gen.random(n) < eps
    actions = np.where(explore, gen.integers(0, m, n), world.greedy)
    props = (1 - eps) * (actions == world.greedy) + eps / m
    rewards = (gen.random(n) < world.mu[np.arange(n), actions]).astype(float)
    return actions, props, rewards


def test_simulated_logs_estimators_are_unbiased_and_cis_cover_the_truth() -> None:
    world = _world()
    sims, eps = 200, 0.3
    gen = np.random.default_rng(1)
    est: dict[str, list[float]] = {"ips": [], "snips": [], "dr": []}
    covered = dict.fromkeys(est, 0)
    for s in range(sims):
        actions, props, rewards = _log(world, eps, gen)
        out = off_policy_value(
            actions=actions,
            propensities=props,
            rewards=rewards,
            target_actions=world.target,
            reward_model=world.q_good,
            n_resamples=400,
            seed=s,
        )
        for key in est:
            iv = out.estimates[key]
            est[key].append(iv.estimate)
            covered[key] += iv.low <= world.truth <= iv.high
    for key, values in est.items():
        arr = np.array(values)
        se = arr.std(ddof=1) / np.sqrt(sims)
        # IPS and DR are unbiased; SNIPS's O(1/n) bias is far below 4 standard errors at n = 400
        assert abs(arr.mean() - world.truth) < 4 * se, (key, arr.mean(), world.truth, se)
        assert covered[key] / sims >= 0.88, (key, covered[key])
    # with a q̂ close to μ, DR's variance is far below IPS's (and SNIPS's)
    assert np.var(est["dr"]) < 0.5 * np.var(est["ips"])
    assert np.var(est["snips"]) < np.var(est["ips"])


def test_zero_exploration_with_another_target_is_flagged_and_biased() -> None:
    world = _world(seed=2)
    actions, props, rewards = _log(world, 0.0, np.random.default_rng(0))
    tp = (world.target == world.greedy).astype(float)  # ε = 0: only the greedy model is ever tried
    out = off_policy_value(
        actions=actions,
        propensities=props,
        rewards=rewards,
        target_actions=world.target,
        reward_model=world.q_good,
        target_propensities=tp,
    )
    assert out.diagnostics.n_unsupported == int((world.target != world.greedy).sum()) > 0
    assert any("never tries" in w for w in out.diagnostics.warnings)
    # IPS only sees the records where both agree: it misses the rest of the value
    assert out.estimates["ips"].high < world.truth
