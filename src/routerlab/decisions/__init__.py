"""The decision path: a router's :class:`Decisions` and the one selection policy that turns them into choices.

This package sits below :mod:`routerlab.routers`, :mod:`routerlab.metrics`, :mod:`routerlab.audit`
and :mod:`routerlab.report`: they all import the policy from here, and it imports only
:mod:`routerlab.errors` and numpy.
"""

from routerlab.decisions.policy import (
    Argmax,
    Budget,
    CostScale,
    CostUtility,
    Policy,
    lam_key,
    policy_for,
    select,
    utility_terms,
)
from routerlab.decisions.value import Decisions

__all__ = [
    "Argmax",
    "Budget",
    "CostScale",
    "CostUtility",
    "Decisions",
    "Policy",
    "lam_key",
    "policy_for",
    "select",
    "utility_terms",
]
