"""Optional dependencies, imported lazily: a missing one is a :class:`~routerlab.errors.PrerequisiteError`.

Every import of an optional package (an extra such as ``embed``, ``plots``, ``serve``, ``collect``)
goes through this module, so the error always says what needs the package and the ``pip install``
that fixes it. In a message, ``{exc}`` stands for the text of the original :class:`ImportError`.

* :func:`optional_dependency` wraps ``import`` statements (typed names, several imports at once).
* :func:`require` imports one module by name and returns it.
* :func:`require_installed` checks that a package is installed without running its code (for heavy
  packages imported later, on first use); :func:`installed` answers the same question with a bool.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from routerlab.errors import PrerequisiteError

__all__ = ["installed", "optional_dependency", "require", "require_installed"]


@contextmanager
def optional_dependency(message: str) -> Iterator[None]:
    """Turn an :class:`ImportError` raised by the imports in the block into a PrerequisiteError(``message``)."""
    try:
        yield
    except ImportError as exc:
        raise PrerequisiteError(message.replace("{exc}", str(exc))) from None


def require(module: str, message: str) -> Any:
    """Import and return ``module`` (a dotted name); a PrerequisiteError(``message``) when it is missing."""
    with optional_dependency(message):
        return importlib.import_module(module)


def installed(module: str) -> bool:
    """Whether the top-level package ``module`` can be imported here (found without running its code)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked import, or a module in sys.modules without a spec
        return False


def require_installed(module: str, message: str) -> None:
    """Raise PrerequisiteError(``message``) unless the top-level package ``module`` is :func:`installed`."""
    if not installed(module):
        raise PrerequisiteError(message.replace("{exc}", f"No module named {module!r}"))
