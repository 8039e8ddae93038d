"""Audit checks on a routing dataset: ceilings, specialists, dominance, redundancy, label sanity, artifacts.

Every check is a function ``(data: RoutingData, **options) -> list[Finding]`` registered in
:data:`routerlab.audit.AUDIT_CHECKS`; each option is keyword-only with a documented default, and
each check's docstring gives the formula and the paper section it implements. Duplicate detection
lives in :mod:`routerlab.audit.duplicates`.

"Full quality" means ``Y >= solved_threshold`` (default 1.0, i.e. a correct answer or a top judge
score); only observed cells count anywhere (NaN = no outcome is never read as 0).

One check a module: :mod:`.ceiling` (``oracle_ceiling``), :mod:`.specialists` (``specialist_score``),
:mod:`.dominance` (``model_dominance``), :mod:`.redundancy` (``model_redundancy``), :mod:`.labels`
(``label_sanity``), :mod:`.scoring_artifacts` (``artifacts``), :mod:`.zero_cost` (``zero_cost_tokens``),
:mod:`.constant_tokens`, :mod:`.prices` (``missing_prices``) and :mod:`.aliases` (``model_aliases``);
helpers they share are in :mod:`routerlab.audit._common` and :mod:`._shared`. The registry names each
check as ``routerlab.audit.checks:<name>``, which this package re-exports.
"""

from __future__ import annotations

from routerlab.audit.checks.aliases import model_aliases
from routerlab.audit.checks.ceiling import oracle_ceiling
from routerlab.audit.checks.constant_tokens import constant_tokens
from routerlab.audit.checks.dominance import model_dominance
from routerlab.audit.checks.labels import PER_MODEL_COST_UNITS, label_sanity
from routerlab.audit.checks.prices import missing_prices
from routerlab.audit.checks.redundancy import jaccard_similarity, model_redundancy, prune_models
from routerlab.audit.checks.scoring_artifacts import artifacts
from routerlab.audit.checks.specialists import specialist_score
from routerlab.audit.checks.zero_cost import N_EXAMPLES, zero_cost_tokens

__all__ = [
    "N_EXAMPLES",
    "PER_MODEL_COST_UNITS",
    "artifacts",
    "constant_tokens",
    "jaccard_similarity",
    "label_sanity",
    "missing_prices",
    "model_aliases",
    "model_dominance",
    "model_redundancy",
    "oracle_ceiling",
    "prune_models",
    "specialist_score",
    "zero_cost_tokens",
]
