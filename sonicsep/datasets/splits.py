"""Track-level train/val/test assignment.

Splits are decided per track, never per segment, so all segments of a track share its split.
FMA's official split and GTZAN's fault-filtered split come from files (see ``fma.py`` and
``gtzan.py``); :func:`stratified_split` makes the seeded split used everywhere else.
"""

from __future__ import annotations

import numpy as np

from sonicsep.datasets.base import SPLITS
from sonicsep.errors import ParameterError

# The split mode name of :func:`stratified_split` in every reader that offers it.
RANDOM_SPLIT = "random"
DEFAULT_FRACTIONS = (0.49, 0.21, 0.30)


def split_counts(n: int, fractions=DEFAULT_FRACTIONS) -> tuple[int, int, int]:
    """How many of ``n`` tracks of one class go to train, val and test.

    Largest-remainder rounding of ``n * fractions`` (ties to the earlier split), then, when
    ``n >= 3``, every split with a positive fraction gets at least one track, taken from the
    largest split.
    """
    exact = n * np.asarray(fractions, dtype=float)
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    if n >= len(SPLITS):
        for empty in np.flatnonzero((counts == 0) & (np.asarray(fractions) > 0)):
            counts[np.argmax(counts)] -= 1
            counts[empty] += 1
    return tuple(int(c) for c in counts)


def stratified_split(labels, seed: int = 0, fractions=DEFAULT_FRACTIONS) -> np.ndarray:
    """Assign each track to "train", "val" or "test", stratified by label and seeded.

    Parameters
    ----------
    labels : array-like [shape=(n_tracks,)]
        One class label per track (any hashable, sortable values).
    seed : int
        The same labels and seed always give the same assignment.
    fractions : (train, val, test)
        Non-negative, summing to 1; per class, counts follow :func:`split_counts`.

    Returns
    -------
    np.ndarray [shape=(n_tracks,), dtype=object]
        The split name of each track, aligned with ``labels``.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != len(SPLITS) or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ParameterError(
            f"fractions must be three non-negative numbers (train, val, test) summing to 1, "
            f"got {fractions}"
        )
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.cumsum(split_counts(len(members), fractions))[:-1]
        for name, chunk in zip(SPLITS, np.split(members, bounds), strict=True):
            out[chunk] = name
    return out
