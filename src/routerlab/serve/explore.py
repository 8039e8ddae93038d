"""ε-greedy exploration over the router's admissible models, with the propensity of each logged choice.

Off-policy evaluation of another router on the gateway's logged traffic (IPS, self-normalised IPS,
doubly robust: Dudík, Langford & Li, "Doubly Robust Policy Evaluation and Learning", ICML 2011,
§2) needs, for each logged request, the probability that the *logging* policy took the action it
took. This module is that logging policy. For a routed request the router's ranking (from
:meth:`routerlab.serve.routing.RequestRouter.rank`) is the admissible set, of size ``K``; its
first model is the greedy choice. With probability ε the first model tried is drawn uniformly
from the ``K`` admissible models, otherwise it is the greedy one (ε-greedy; Sutton & Barto,
*Reinforcement Learning*, 2nd ed., §2.2), so the chosen model's propensity is exactly

    propensity = (1 − ε)·[chosen = greedy] + ε / K

(the greedy model can also be drawn by the uniform branch). Every model in the admissible set has a
propensity ≥ ε / K > 0 when ε > 0, which IPS needs. With ε = 0 the propensity is 1 and the policy is
the router's.

Randomness comes from one seed through :func:`routerlab._random.rng`. With several workers each
process draws its own stream (the factory mixes the process id into the seed, see
:mod:`routerlab.serve.workers`), so a run is reproducible per process only with one worker; the
logged propensities are exact either way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from routerlab._random import Seed, rng

__all__ = ["Choice", "Explorer", "propensity"]


def propensity(*, chosen: str, greedy: str, epsilon: float, k: int) -> float:
    """``(1 − ε)·[chosen = greedy] + ε / K``: the ε-greedy logging policy's probability of ``chosen``."""
    return (1.0 - epsilon) * (chosen == greedy) + epsilon / k


@dataclass(frozen=True, slots=True)
class Choice:
    """The first model to try, the router's own first choice, and the logging policy's probability of it."""

    chosen: str
    greedy: str
    epsilon: float
    propensity: float
    #: whether the uniform branch was taken (the ``x-routerlab-explored`` header)
    explored: bool

    def order(self, ranking: Sequence[str]) -> list[str]:
        """The models to try: ``chosen`` first, then the router's ranking without it."""
        return [self.chosen, *(m for m in ranking if m != self.chosen)]


class Explorer:
    """ε-greedy over a ranking (see the module doc); ε = 0 always takes the router's first model."""

    def __init__(self, epsilon: float = 0.0, *, seed: Seed = None) -> None:
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not math.isfinite(epsilon):
            raise ValueError(f"explore (ε) must be a number in [0, 1]; got {epsilon!r}.")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"explore (ε) must be in [0, 1] (the share of requests explored); got {epsilon:g}.")
        self.epsilon = float(epsilon)
        self._rng = rng(seed)

    def choose(self, ranking: Sequence[str]) -> Choice:
        """Draw the first model to try from the non-empty ``ranking`` (its first model is the greedy one)."""
        if not ranking:
            raise ValueError("an empty ranking has no model to choose")
        greedy, k = ranking[0], len(ranking)
        explored = self.epsilon > 0.0 and bool(self._rng.random() < self.epsilon)
        chosen = ranking[int(self._rng.integers(k))] if explored else greedy
        return Choice(
            chosen, greedy, self.epsilon, propensity(chosen=chosen, greedy=greedy, epsilon=self.epsilon, k=k), explored
        )
