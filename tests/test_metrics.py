"""sonicsep.metrics: the one definition of track-level scores, confusion matrices and tables."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix

from sonicsep import metrics


def test_mean_by_track_means_per_track_in_row_order():
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.4, 0.6], [1.0, 0.0], [0.0, 1.0]], np.float32)
    tracks, mean = metrics.mean_by_track(np.array([7, 3, 7, 3, 9]), proba)
    np.testing.assert_array_equal(tracks, [3, 7, 9])
    assert mean.dtype == np.float64
    np.testing.assert_allclose(mean, [[0.8, 0.2], [0.3, 0.7], [0.0, 1.0]], rtol=1e-7)


@given(st.lists(st.integers(0, 5), min_size=1, max_size=40), st.integers(1, 4))
def test_mean_by_track_equals_a_loop_over_tracks(rows, width):
    rows = np.array(rows)
    values = np.arange(len(rows) * width, dtype=np.float64).reshape(len(rows), width) ** 1.5
    tracks, mean = metrics.mean_by_track(rows, values)
    np.testing.assert_array_equal(tracks, sorted(set(rows.tolist())))
    for track, row_mean in zip(tracks, mean, strict=True):
        np.testing.assert_allclose(row_mean, values[rows == track].mean(axis=0), rtol=1e-12)


def test_mean_by_track_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"rows \[n\] and values \[n, d\]"):
        metrics.mean_by_track(np.zeros(3), np.zeros((4, 2)))


def test_track_prediction_is_mean_probability_not_majority_vote():
    # Two barely-class-0 segments and one certain class-1 segment: the vote says 0, the mean 1.
    proba = np.array([[0.51, 0.49], [0.51, 0.49], [0.0, 1.0], [0.9, 0.1]])
    labels = np.array([1, 1, 1, 0])
    rows = np.array([4, 4, 4, 2])
    y_track, pred_track = metrics.track_predictions(proba, labels, rows)
    np.testing.assert_array_equal(y_track, [0, 1])  # tracks in row order: 2, then 4
    np.testing.assert_array_equal(pred_track, [0, 1])
    assert metrics.track_accuracy(proba, labels, rows) == 1.0
    assert metrics.accuracy(labels, proba.argmax(1)) == 0.5


def test_split_scores_segment_and_track_level():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    scores = metrics.split_scores(proba, np.array([0, 0, 1, 1]), np.array([7, 7, 9, 9]))
    assert scores["segment_accuracy"] == 0.5  # segments 0 and 2 right
    assert scores["track_accuracy"] == 1.0  # track 7 averages to [0.55, 0.45], 9 to [0.45, 0.55]
    assert scores["segment_confusion"] == [[1, 1], [1, 1]]
    assert scores["track_confusion"] == [[1, 0], [0, 1]]
    assert (scores["n_segments"], scores["n_tracks"]) == (4, 2)


def test_confusion_matrix_has_a_row_and_column_for_absent_classes():
    matrix = metrics.confusion_matrix(np.array([0, 0, 2]), np.array([0, 2, 2]), 4)
    np.testing.assert_array_equal(
        matrix, [[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    )


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1,
                                   max_size=40))
def test_accuracy_and_confusion_equal_scikit_learn_s(n_classes, pairs):
    labels, predicted = (np.array(column) % n_classes for column in zip(*pairs, strict=True))
    assert metrics.accuracy(labels, predicted) == accuracy_score(labels, predicted)
    np.testing.assert_array_equal(
        metrics.confusion_matrix(labels, predicted, n_classes),
        confusion_matrix(labels, predicted, labels=np.arange(n_classes)),
    )


def test_accuracy_of_nothing_or_of_unequal_arrays_is_an_error():
    with pytest.raises(ValueError, match="non-empty"):
        metrics.accuracy(np.array([], int), np.array([], int))
    with pytest.raises(ValueError, match="equal"):
        metrics.accuracy(np.array([1, 2]), np.array([1]))


def test_tables():
    assert metrics.percent(None) == "—"
    assert metrics.percent(0.8766) == "87.7"
    assert metrics.markdown_table(["a", "b"], [[1, "x"], [2.5, None]]) == (
        "| a | b |\n|---|---|\n| 1 | x |\n| 2.5 | None |"
    )
    assert metrics.html_table(["<h>"], [["a&b"]], "t") == (
        '<table id="t"><thead><tr><th>&lt;h&gt;</th></tr></thead>'
        "<tbody><tr><td>a&amp;b</td></tr></tbody></table>"
    )
