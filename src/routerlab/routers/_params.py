"""Declared parameter constraints, after scikit-learn's ``_parameter_constraints``.

Each router class declares ``_parameter_constraints``: a dict from a hyper-parameter's name to the
list of constraints its value may satisfy (any one is enough). :meth:`Router.fit` validates them
with :func:`validate_params` before ``_fit``, so a bad value fails early with one message naming the
router, the parameter, the value and what is allowed::

    KNNRouter: k must be an int >= 1. Got 0.

A constraint is one of

* :class:`Interval` — a number of a given kind (``numbers.Integral`` or ``numbers.Real``) between
  bounds, open or closed on each side (``None``: unbounded); NaN and booleans never satisfy it;
* :class:`StrOptions` — one of a set of strings;
* :class:`SequenceOf` — a non-empty list or tuple whose items each satisfy a constraint;
* ``None`` — the value ``None``;
* ``"boolean"`` — ``True`` or ``False`` (also numpy booleans);
* a type — any instance of it (``str``, a :class:`Router` class, ...); ``int`` and ``float`` follow
  :class:`Interval`'s rules (no booleans, no NaN), as ``Interval(Integral, None, None)`` would.

:func:`invalid_values` gives, for every constrained parameter, values that break all its
constraints: the conformance check uses them to confirm that each declared constraint is enforced.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from routerlab.errors import InvalidParameterError

__all__ = [
    "Constraint",
    "Interval",
    "SequenceOf",
    "StrOptions",
    "describe_constraint",
    "invalid_values",
    "is_satisfied",
    "validate_params",
]

Closed = Literal["left", "right", "both", "neither"]


@dataclass(frozen=True, slots=True)
class Interval:
    """A number of kind ``type`` (``numbers.Integral`` or ``numbers.Real``) within ``[left, right]``.

    ``closed`` says which bounds belong to the interval; a bound of ``None`` means unbounded on that
    side (and then ±inf is allowed for reals). Booleans and NaN are never in an interval.
    """

    type: type
    left: float | None
    right: float | None
    closed: Closed = "both"

    def __post_init__(self) -> None:
        if self.type not in (numbers.Integral, numbers.Real):
            raise TypeError(f"Interval type must be numbers.Integral or numbers.Real. Got {self.type!r}.")
        if self.closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"Interval closed must be 'left', 'right', 'both' or 'neither'. Got {self.closed!r}.")
        if self.left is not None and self.right is not None and self.right < self.left:
            raise ValueError(f"Interval right bound {self.right} is below its left bound {self.left}.")

    @property
    def _left_closed(self) -> bool:
        return self.closed in ("left", "both")

    @property
    def _right_closed(self) -> bool:
        return self.closed in ("right", "both")

    def is_satisfied_by(self, value: Any) -> bool:
        """True when ``value`` is a number of this kind inside the bounds."""
        if not _is_number(value, integral=self.type is numbers.Integral):
            return False
        if self.left is not None and (value < self.left or (value == self.left and not self._left_closed)):
            return False
        return not (self.right is not None and (value > self.right or (value == self.right and not self._right_closed)))

    def __str__(self) -> str:
        kind = "an int" if self.type is numbers.Integral else "a number"
        if kind == "a number" and self.right == math.inf and not self._right_closed:
            kind = "a finite number"
        finite_right = self.right is not None and math.isfinite(self.right)
        if self.left is not None and finite_right:
            lb, rb = "[" if self._left_closed else "(", "]" if self._right_closed else ")"
            return f"{kind} in {lb}{_num(self.left)}, {_num(self.right)}{rb}"  # type: ignore[arg-type]
        if self.left is not None:
            return f"{kind} {'>=' if self._left_closed else '>'} {_num(self.left)}"
        if finite_right:
            return f"{kind} {'<=' if self._right_closed else '<'} {_num(self.right)}"  # type: ignore[arg-type]
        return kind

    def _invalid(self) -> Iterator[Any]:
        step = 1 if self.type is numbers.Integral else 1e-3
        if self.left is not None:
            yield self.left if not self._left_closed else self.left - step
        if self.right is not None:
            yield self.right if not self._right_closed and math.isfinite(self.right) else self.right + step
        if self.type is numbers.Integral:
            yield 1.5  # a float is not an int, even between the bounds
        else:
            yield float("nan")


@dataclass(frozen=True, slots=True, repr=False)
class StrOptions:
    """One of the strings in ``options``."""

    options: frozenset[str]

    def __init__(self, options: set[str] | frozenset[str]) -> None:
        object.__setattr__(self, "options", frozenset(options))

    def is_satisfied_by(self, value: Any) -> bool:
        """True when ``value`` is one of the options."""
        return isinstance(value, str) and value in self.options

    def __str__(self) -> str:
        return _one_of([repr(o) for o in sorted(self.options)])

    def __repr__(self) -> str:  # sorted: the same text in every process (test ids, messages)
        return f"StrOptions({{{', '.join(repr(o) for o in sorted(self.options))}}})"

    def _invalid(self) -> Iterator[Any]:
        yield "not-an-option"


@dataclass(frozen=True, slots=True)
class SequenceOf:
    """A list or tuple of at least ``min_length`` items, each satisfying ``item``."""

    item: Interval | StrOptions
    min_length: int = 1

    def is_satisfied_by(self, value: Any) -> bool:
        """True when ``value`` is a list/tuple of valid items, long enough."""
        return (
            isinstance(value, (list, tuple))
            and len(value) >= self.min_length
            and all(self.item.is_satisfied_by(v) for v in value)
        )

    def __str__(self) -> str:
        size = "a non-empty" if self.min_length == 1 else f"a (length >= {self.min_length})"
        return f"{size} tuple whose items are each {self.item}"

    def _invalid(self) -> Iterator[Any]:
        if self.min_length > 0:
            yield ()
        for bad in self.item._invalid():
            yield (bad,) * max(self.min_length, 1)


#: one allowed form of a value: see the module docstring
Constraint = Interval | StrOptions | SequenceOf | type | Literal["boolean"] | None


def _is_number(value: Any, *, integral: bool) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if integral:
        return isinstance(value, numbers.Integral)
    return isinstance(value, numbers.Real) and not (isinstance(value, float | np.floating) and math.isnan(value))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _one_of(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" or {items[-1]}"


def is_satisfied(constraint: Constraint, value: Any) -> bool:
    """True when ``value`` satisfies ``constraint``."""
    if constraint is None:
        return value is None
    if isinstance(constraint, str):
        if constraint == "boolean":
            return isinstance(value, (bool, np.bool_))
        raise ValueError(f"Unknown constraint {constraint!r}; the only string constraint is 'boolean'.")
    if isinstance(constraint, type):
        if constraint is int:
            return _is_number(value, integral=True)
        if constraint is float:
            return _is_number(value, integral=False)
        return isinstance(value, constraint)
    return constraint.is_satisfied_by(value)


def describe_constraint(constraint: Constraint) -> str:
    """``constraint`` in words: "an int >= 1", "'uniform' or 'distance'", "None", ..."""
    if constraint is None:
        return "None"
    if isinstance(constraint, str):
        return "a boolean"
    if isinstance(constraint, type):
        names = {int: "an int", float: "a number", str: "a string"}
        return names.get(constraint, f"a {constraint.__name__}")
    return str(constraint)


def _allowed(constraints: list[Constraint]) -> str:
    # the string options first, then the rest, and None last: "'uniform' or 'distance'", "an int >= 1 or None"
    ordered = sorted(constraints, key=lambda c: (c is None, not isinstance(c, StrOptions)))
    return _one_of([describe_constraint(c) for c in ordered])


def validate_params(owner: str, params: Mapping[str, Any], constraints: Mapping[str, list[Constraint]]) -> None:
    """Raise :class:`InvalidParameterError` for the first parameter in ``params`` that breaks its constraints.

    ``owner`` (the router's class name) starts the message; parameters without a declared
    constraint are not checked.
    """
    for name, allowed in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if not any(is_satisfied(c, value) for c in allowed):
            raise InvalidParameterError(f"{owner}: {name} must be {_allowed(allowed)}. Got {value!r}.")


class _NotAParameter:
    """A value of a type no constraint accepts."""

    def __repr__(self) -> str:
        return "<not a parameter>"


def invalid_values(constraints: list[Constraint]) -> list[Any]:
    """Values that break every constraint in ``constraints`` (a bad type first, then near-miss values)."""
    candidates: list[Any] = [_NotAParameter()]
    for c in constraints:
        if isinstance(c, (Interval, StrOptions, SequenceOf)):
            candidates.extend(c._invalid())
        elif c is int:
            candidates.append(1.5)
        elif c == "boolean":
            candidates.append("yes")
    out: list[Any] = []
    for value in candidates:
        if not any(is_satisfied(c, value) for c in constraints) and not any(value is v for v in out):
            out.append(value)
    return out
