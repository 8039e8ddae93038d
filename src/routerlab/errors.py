"""The exceptions routerlab raises.

Every error message says what is wrong, where, and how to fix it, e.g.
``cost[12, 'gpt-4o'] must be >= 0. Got -0.3.``
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence


class RouterlabError(Exception):
    """Base class of every error raised on purpose by routerlab."""


class SchemaError(RouterlabError, ValueError):
    """Data does not satisfy the RoutingData schema (wrong shape, range, ids, ...)."""


class DataNotFoundError(RouterlabError, FileNotFoundError):
    """A dataset's files are not where the loader looked, and no download was allowed."""


class NotFittedError(RouterlabError, AttributeError):
    """A router was used before ``fit`` was called."""


class InvalidParameterError(RouterlabError, ValueError, TypeError):
    """A router's hyper-parameter breaks its declared constraints (``Router._parameter_constraints``)."""


class PrerequisiteError(RouterlabError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` to run."""


class UnknownNameError(RouterlabError, LookupError):
    """A registry was asked for a name it does not know; the message suggests close names."""

    def __str__(self) -> str:  # LookupError would otherwise quote the message like a key
        return str(self.args[0]) if self.args else ""


def check_choice(value: str, choices: Sequence[str], meaning: Mapping[str, str], *, where: str) -> str:
    """``value`` if it is one of ``choices``; else a :class:`SchemaError` naming the closest choice.

    The message names ``where`` and lists every choice with its ``meaning`` (encoder options such as
    ``?long=`` and ``?backend=``).
    """
    if value in choices:
        return value
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = "; ".join(f"{c} ({meaning[c]})" for c in choices)
    raise SchemaError(f"{where}={value!r} is not a choice.{hint} Choices: {listed}.")
