"""Moved to :mod:`routerlab.decisions.policy` (issue 12); kept so that old imports keep working."""

from routerlab.decisions.policy import (
    Argmax,
    Budget,
    CostScale,
    CostUtility,
    Policy,
    policy_for,
    select,
    utility_terms,
)

__all__ = ["Argmax", "Budget", "CostScale", "CostUtility", "Policy", "policy_for", "select", "utility_terms"]
