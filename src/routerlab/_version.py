"""The version of routerlab, in a module of its own so that subpackages need not import the package root.

Kept in sync with ``version`` in ``pyproject.toml`` (``tests/test_layers.py`` checks both agree).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
