"""Deterministic splits: group_folds, the k-fold partition of cross-validated selection."""

from __future__ import annotations

import numpy as np
import pytest

from routerlab.data.splits import group_folds


def test_group_folds_is_a_partition_stable_under_order_and_subsets() -> None:
    ids = np.array([f"q{i}" for i in range(500)], dtype=object)
    folds = group_folds(ids, 5)
    assert folds.shape == (500,) and set(folds.tolist()) == {0, 1, 2, 3, 4}  # one fold each, every fold used
    assert 60 < np.bincount(folds).min() <= np.bincount(folds).max() < 140  # about 100 each
    perm = np.random.default_rng(0).permutation(500)
    assert np.array_equal(group_folds(ids[perm], 5), folds[perm])  # the order of the ids does not matter
    assert np.array_equal(group_folds(ids[:50], 5), folds[:50])  # nor which other ids are there
    assert not np.array_equal(group_folds(ids, 5, seed=1), folds)


def test_group_folds_keeps_a_group_in_one_fold_whatever_comes_first() -> None:
    ids = np.array([f"q{i}" for i in range(300)], dtype=object)
    groups = np.array([f"text {i % 40}" for i in range(300)], dtype=object)  # 40 texts, each ~7 times
    folds = group_folds(ids, 4, groups=groups)
    for g in set(groups.tolist()):
        assert len(set(folds[groups == g].tolist())) == 1
    # the group is hashed by its smallest id, not by its first row: reversing the rows changes nothing
    assert np.array_equal(group_folds(ids[::-1], 4, groups=groups[::-1]), folds[::-1])
    # a query alone in its group lands where its id alone would
    single = np.array([f"only {i}" for i in range(300)], dtype=object)
    assert np.array_equal(group_folds(ids, 4, groups=single), group_folds(ids, 4))


@pytest.mark.parametrize("bad", [1, 0, -3, 2.0, True])
def test_group_folds_refuses_fewer_than_two_folds(bad: object) -> None:
    with pytest.raises(ValueError, match=r"n_folds must be an int >= 2"):
        group_folds(["a", "b", "c"], bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one label per id"):
        group_folds(["a", "b", "c"], 2, groups=["x"])
