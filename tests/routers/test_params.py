"""Declared parameter constraints (routerlab.routers._params) and router tags (routerlab.routers._tags)."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pytest

from routerlab.errors import InvalidParameterError, PrerequisiteError
from routerlab.routers._params import (
    Interval,
    SequenceOf,
    StrOptions,
    describe_constraint,
    invalid_values,
    is_satisfied,
    validate_params,
)
from routerlab.routers._tags import Tags, install_command, missing_requirements, requirements_error

POSITIVE_INT = Interval(numbers.Integral, 1, None, closed="left")


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        (POSITIVE_INT, [1, 7, np.int64(3)], [0, -1, 1.0, 2.5, True, "3", None]),
        (Interval(numbers.Real, 0, None, closed="neither"), [1e-9, 1, 2.5, math.inf], [0, -1.0, math.nan, False]),
        (Interval(numbers.Real, 0, math.inf, closed="left"), [0, 0.0, 1e300], [math.inf, -1e-9, math.nan]),
        (Interval(numbers.Real, 0, 1, closed="left"), [0, 0.5, np.float32(0.99)], [1, 1.0, -0.1]),
        (StrOptions({"uniform", "distance"}), ["uniform", "distance"], ["cosine", 1, None]),
        (SequenceOf(POSITIVE_INT), [(1,), [4, 5], (np.int64(2), 3)], [(), (0,), (1.5,), 3, "ab"]),
        ("boolean", [True, False, np.bool_(True)], [0, 1, "yes", None]),
        (None, [None], [0, "", False]),
        (int, [0, -3, np.int32(5)], [True, 1.0]),
        (float, [0, 1.5, -math.inf], [math.nan, True, "1"]),
        (str, ["", "x"], [1, None]),
    ],
    ids=repr,
)
def test_constraint_membership(constraint, good, bad) -> None:
    for value in good:
        assert is_satisfied(constraint, value), value
    for value in bad:
        assert not is_satisfied(constraint, value), value


@pytest.mark.parametrize(
    ("constraint", "text"),
    [
        (POSITIVE_INT, "an int >= 1"),
        (Interval(numbers.Integral, 0, None, closed="left"), "an int >= 0"),
        (Interval(numbers.Real, 0, None, closed="neither"), "a number > 0"),
        (Interval(numbers.Real, 0, math.inf, closed="left"), "a finite number >= 0"),
        (Interval(numbers.Real, 0, 1, closed="left"), "a number in [0, 1)"),
        (Interval(numbers.Real, 0, 1, closed="right"), "a number in (0, 1]"),
        (StrOptions({"uniform", "distance"}), "'distance' or 'uniform'"),
        (SequenceOf(POSITIVE_INT), "a non-empty tuple whose items are each an int >= 1"),
        (None, "None"),
        ("boolean", "a boolean"),
    ],
)
def test_constraint_descriptions(constraint, text) -> None:
    assert describe_constraint(constraint) == text


def test_validate_params_message_names_router_parameter_value_and_allowed() -> None:
    constraints = {"k": [POSITIVE_INT], "weights": [StrOptions({"uniform", "distance"})]}
    validate_params("KNNRouter", {"k": 3, "weights": "uniform"}, constraints)
    with pytest.raises(InvalidParameterError, match=r"^KNNRouter: k must be an int >= 1\. Got 0\.$"):
        validate_params("KNNRouter", {"k": 0, "weights": "uniform"}, constraints)
    with pytest.raises(InvalidParameterError, match=r"weights must be 'distance' or 'uniform'\. Got 'cosine'\."):
        validate_params("KNNRouter", {"k": 3, "weights": "cosine"}, constraints)


def test_validate_params_lists_string_options_first_and_none_last() -> None:
    constraints = {"class_weight": [None, StrOptions({"balanced"})], "depth": [None, POSITIVE_INT]}
    with pytest.raises(InvalidParameterError, match=r"class_weight must be 'balanced' or None\. Got 'x'\."):
        validate_params("R", {"class_weight": "x"}, constraints)
    with pytest.raises(InvalidParameterError, match=r"depth must be an int >= 1 or None\. Got 0\."):
        validate_params("R", {"depth": 0}, constraints)


def test_invalid_parameter_error_is_a_value_and_type_error() -> None:
    assert issubclass(InvalidParameterError, ValueError) and issubclass(InvalidParameterError, TypeError)


@pytest.mark.parametrize(
    "constraints",
    [
        [POSITIVE_INT],
        [POSITIVE_INT, None],
        [Interval(numbers.Real, 0, 1, closed="left")],
        [Interval(numbers.Real, 0, None, closed="neither"), Interval(numbers.Integral, 1, None, closed="left")],
        [StrOptions({"sqrt", "log2"}), Interval(numbers.Real, 0, 1, closed="right"), POSITIVE_INT, None],
        [SequenceOf(POSITIVE_INT)],
        ["boolean"],
        [str],
    ],
    ids=repr,
)
def test_invalid_values_break_every_constraint(constraints) -> None:
    bad = invalid_values(constraints)
    assert len(bad) >= 1
    for value in bad:
        assert not any(is_satisfied(c, value) for c in constraints), value


def test_interval_rejects_inverted_bounds_and_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="below its left bound"):
        Interval(numbers.Real, 1, 0)
    with pytest.raises(TypeError, match=r"numbers\.Integral or numbers\.Real"):
        Interval(int, 0, 1)


def test_tags_requirements_and_install_command() -> None:
    assert missing_requirements(Tags(requires=("numpy",))) == ()
    assert missing_requirements(Tags(requires=("numpy", "routerlab_no_such_package"))) == ("routerlab_no_such_package",)
    assert install_command(["torch"]) == "pip install 'routerlab[embed]'"
    assert install_command(["torch", "skops", "foo"]) == "pip install 'routerlab[embed,persist]' foo"
    assert requirements_error("X", Tags(requires=("numpy",))) is None
    err = requirements_error("MyRouter", Tags(requires=("routerlab_no_such_package",)))
    assert isinstance(err, PrerequisiteError)
    assert "MyRouter needs routerlab_no_such_package" in str(err)
    assert "pip install routerlab_no_such_package" in str(err)


def test_a_blocked_import_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "json", None)  # how Python marks a module that must not be imported
    assert missing_requirements(Tags(requires=("json",))) == ("json",)
