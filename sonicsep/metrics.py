"""Scores and tables: one definition of every number a SonicSep job reports.

A track's prediction is the argmax of the mean of its segments' probabilities
(:func:`mean_by_track`); averaging probabilities rather than voting lets confident segments
outweigh unsure ones. The benchmark, training, predict, similar and the report all score with
these functions, so a "track accuracy" means the same thing in every file SonicSep writes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

__all__ = [
    "accuracy",
    "confusion_matrix",
    "html_table",
    "markdown_table",
    "mean_by_track",
    "percent",
    "split_scores",
    "track_accuracy",
    "track_predictions",
]


# ---------------------------------------------------------------------- track level
def mean_by_track(rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over the entries of each track, in float64.

    Parameters
    ----------
    rows : np.ndarray [shape=(n,)]
        The track (store row) of each entry, in any order.
    values : np.ndarray [shape=(n, d)]
        One vector per entry: segment probabilities, summaries or embeddings.

    Returns
    -------
    tracks : np.ndarray [shape=(n_tracks,)]
        The sorted unique ``rows``.
    means : np.ndarray [shape=(n_tracks, d)], float64
        ``means[i]`` is the mean of ``values[rows == tracks[i]]``.
    """
    rows = np.asarray(rows)
    values = np.asarray(values)
    if rows.ndim != 1 or values.ndim != 2 or len(rows) != len(values):
        raise ValueError(
            f"mean_by_track needs rows [n] and values [n, d]; got {rows.shape} and {values.shape}"
        )
    tracks, inverse = np.unique(rows, return_inverse=True)
    sums = np.zeros((len(tracks), values.shape[1]), np.float64)
    np.add.at(sums, inverse, values)
    return tracks, sums / np.bincount(inverse)[:, None]


def track_predictions(
    proba: np.ndarray, labels: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(true class, predicted class) per track, tracks in the order of their sorted rows.

    A track's prediction is the argmax of its mean segment probability; its true class is the
    label of its segments (all segments of a track share it).
    """
    _, mean_proba = mean_by_track(rows, proba)
    _, first = np.unique(rows, return_index=True)
    return np.asarray(labels)[first], mean_proba.argmax(axis=1)


# ---------------------------------------------------------------------- scores
def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of entries whose prediction equals the label (NumPy: importing scikit-learn
    costs a deep-model command 3 s)."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if labels.shape != predicted.shape or labels.ndim != 1 or not labels.size:
        raise ValueError(f"labels {labels.shape} and predictions {predicted.shape}: need two "
                         "equal, non-empty 1-d arrays")
    return float(np.mean(labels == predicted))


def track_accuracy(proba: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> float:
    """Accuracy of the argmax of each track's mean segment probability."""
    return accuracy(*track_predictions(proba, labels, rows))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts [shape=(n_classes, n_classes)]: rows true class, columns predicted.

    Every class gets a row and a column, also those absent from this split.
    """
    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    cells = np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes)


def split_scores(proba: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> dict:
    """Segment- and track-level accuracy and confusion matrices of one split.

    ``proba`` [shape=(n, n_classes)], ``labels``/``rows`` [shape=(n,)].
    """
    n_classes = proba.shape[1]
    segment_pred = proba.argmax(axis=1)
    track_labels, track_pred = track_predictions(proba, labels, rows)
    return {
        "segment_accuracy": accuracy(labels, segment_pred),
        "track_accuracy": accuracy(track_labels, track_pred),
        "n_segments": int(len(labels)),
        "n_tracks": int(len(track_labels)),
        "segment_confusion": confusion_matrix(labels, segment_pred, n_classes).tolist(),
        "track_confusion": confusion_matrix(track_labels, track_pred, n_classes).tolist(),
    }


# ---------------------------------------------------------------------- tables
def percent(value: float | None) -> str:
    """An accuracy in percent with one decimal; "—" where there is none."""
    return "—" if value is None else f"{100 * value:.1f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub-flavoured Markdown table; cells are written with ``str``."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def html_table(header: Sequence[str], rows: Sequence[Sequence], table_id: str) -> str:
    """An HTML table with escaped cells and the given ``id``."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
