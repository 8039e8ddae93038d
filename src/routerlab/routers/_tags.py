"""Router tags, after scikit-learn's ``__sklearn_tags__``: what a router class is, in one value.

:meth:`Router.tags` (``Router.__routerlab_tags__``) builds a :class:`Tags` from the class attributes
(``baseline``, ``needs_outcomes``, ``stochastic``, ``uses_labels``, ``requires_features``,
``requires``, ``features``), so code that must tell routers apart — the baselines of a leaderboard, the routers a
conformance run can fit, the ones a sweep seeds — reads the tags instead of a hand-kept list of
names, and a plug-in router is classified by what it declares.

``requires`` names the optional packages the router imports (``("torch",)`` for the neural
routers); :func:`missing_requirements` says which are not installed and :func:`install_command`
the ``pip install 'routerlab[...]'`` that adds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from routerlab._optional import installed
from routerlab.errors import PrerequisiteError

__all__ = ["EXTRAS", "Tags", "install_command", "missing_requirements", "requirements_error"]

#: the routerlab extra that installs each optional package a router may require
EXTRAS: dict[str, str] = {"torch": "embed", "skops": "persist", "sentence_transformers": "embed"}


@dataclass(frozen=True, slots=True)
class Tags:
    """What a router class is: the facts code may branch on instead of the router's name."""

    #: a reference router every benchmark reports (the bounds and the trivial policies)
    baseline: bool = False
    #: reads the true outcomes at prediction time (only the oracle: an upper bound, not a competitor)
    needs_outcomes: bool = False
    #: the result depends on ``random_state``
    stochastic: bool = False
    #: learns from the outcomes (False for random and cheapest)
    uses_labels: bool = True
    #: needs the query feature matrix ``X``
    requires_features: bool = False
    #: optional packages the router imports (top-level module names), e.g. ``("torch",)``
    requires: tuple[str, ...] = ()
    #: the features the router reads when they are not just any query embedding: ``"hidden_states"``
    #: (a small model's stacked per-layer hidden states, the probe routers), ``"logit_signals"`` (its
    #: max-prob / entropy / margin columns) or ``"verbal_signals"`` (its P(True) / semantic-entropy columns,
    #: the ``verbal:`` encoder's) or ``"texts"`` (the query texts themselves, ``data.texts``, with no ``X``: the
    #: fine-tuned encoder router); None for routers that work on any encoder's embeddings. A
    #: benchmark that runs every learned router over one text encoder keeps those whose value is None.
    features: str | None = None


def missing_requirements(tags: Tags) -> tuple[str, ...]:
    """The packages of ``tags.requires`` that cannot be imported here (nothing is imported to find out)."""
    return tuple(p for p in tags.requires if not installed(p))


def install_command(packages: tuple[str, ...] | list[str]) -> str:
    """``pip install 'routerlab[embed]'``: the command that installs ``packages`` (extras where known)."""
    extras = sorted({EXTRAS[p] for p in packages if p in EXTRAS})
    others = sorted(p for p in packages if p not in EXTRAS)
    parts = [f"'routerlab[{','.join(extras)}]'"] if extras else []
    return "pip install " + " ".join([*parts, *others])


def requirements_error(owner: str, tags: Tags) -> PrerequisiteError | None:
    """A :class:`PrerequisiteError` naming the missing packages and their install command; None if none is missing."""
    missing = missing_requirements(tags)
    if not missing:
        return None
    what = " and ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    return PrerequisiteError(
        f"{owner} needs {what}, an optional dependency of routerlab that {verb} not installed; "
        f"install it with: {install_command(missing)}"
    )
