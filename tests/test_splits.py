"""Track-level stratified splits: every track in exactly one split, seeded, stratified."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sonicsep.datasets import SPLITS
from sonicsep.datasets.splits import split_counts, stratified_split
from sonicsep.errors import ParameterError


def test_gtzan_sized_split_is_49_21_30():
    labels = np.repeat(np.arange(10), 100)
    splits = stratified_split(labels, seed=0)
    for label in range(10):
        counts = [np.sum(splits[labels == label] == name) for name in SPLITS]
        assert counts == [49, 21, 30]


@settings(max_examples=100, deadline=None)
@given(class_sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8),
       seed=st.integers(0, 2**32 - 1))
def test_split_properties(class_sizes, seed):
    labels = np.repeat([f"genre{i}" for i in range(len(class_sizes))], class_sizes)
    labels = np.random.default_rng(seed).permutation(labels)  # order must not matter
    splits = stratified_split(labels, seed=seed)
    assert splits.shape == labels.shape and set(splits) <= set(SPLITS)  # one split per track
    np.testing.assert_array_equal(splits, stratified_split(labels, seed=seed))  # deterministic
    for i, size in enumerate(class_sizes):
        mine = splits[labels == f"genre{i}"]
        counts = tuple(int(np.sum(mine == name)) for name in SPLITS)
        assert counts == split_counts(size)  # stratified: per-genre counts
        if size >= 3:
            assert min(counts) >= 1
        expected = size * np.array([0.49, 0.21, 0.30])
        assert np.all(np.abs(np.array(counts) - expected) <= 1.0 + (size < 5))


def test_seed_changes_the_assignment():
    labels = np.repeat(np.arange(5), 20)
    assert not np.array_equal(stratified_split(labels, seed=0), stratified_split(labels, seed=1))


def test_custom_fractions():
    assert split_counts(10, (0.8, 0.1, 0.1)) == (8, 1, 1)
    assert split_counts(3, (0.8, 0.2, 0.0)) == (2, 1, 0)  # a zero fraction stays empty


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.6, 0.3, 0.3), (1.2, -0.1, -0.1)])
def test_bad_fractions(fractions):
    with pytest.raises(ParameterError, match="fractions"):
        stratified_split([0, 1, 2], fractions=fractions)
