"""One generic registry for routers, datasets and metrics.

Modelled on inspect_ai's registries: entries may be objects or lazy ``"module:attr"``
strings (imported on first use, so optional dependencies stay optional), third-party
packages add entries through the ``routerlab.<kind>`` entry-point group, and an unknown
name gets a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Generic, TypeVar

from routerlab.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → object map with lazy entries, plug-ins and helpful lookup errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._plugins_loaded = False

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | None:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator.

        ``obj`` may be a ``"package.module:attr"`` string, resolved on first lookup.
        """
        if obj is None:

            def decorator(target: T) -> T:
                self._add(name, target)
                return target

            return decorator
        self._add(name, obj)
        return None

    def _add(self, name: str, obj: T | str) -> None:
        if not name or name != name.strip():
            raise ValueError(f"A {self.kind} name must be a non-empty string without surrounding spaces. Got {name!r}.")
        existing = self._entries.get(name)
        if existing is not None and existing is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered; pick another name or unregister it first.")
        self._entries[name] = obj

    def unregister(self, name: str) -> None:
        """Remove ``name`` (used by tests and by plug-ins that replace an entry)."""
        self._entries.pop(name, None)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in metadata.entry_points(group=f"routerlab.{self.kind}s"):
            self._entries.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load_plugins()
        return sorted(self._entries)

    def names_in_order(self) -> list[str]:
        """All registered names in the order they were registered (built-ins first, then plug-ins)."""
        self._load_plugins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """Return the entry for ``name``, importing it if it was registered lazily."""
        self._load_plugins()
        try:
            entry = self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None
        if isinstance(entry, str):
            module_name, _, attr = entry.partition(":")
            resolved: T = getattr(importlib.import_module(module_name), attr)
            self._entries[name] = resolved
            return resolved
        return entry

    def unknown_message(self, name: str) -> str:
        """The error text for an unknown ``name``, with close matches when there are any."""
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"Unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(known) or '(none)'}."
