"""The one Track table every dataset reader returns, and the Dataset that carries it.

A track table is a :class:`pandas.DataFrame` with one row per track, sorted by ``track_id``:

============  =======  =========================================================
column        dtype    meaning
============  =======  =========================================================
track_id      str      unique id ("blues.00000" for GTZAN, "000002" for FMA)
path          str      absolute path of the audio file (which may not decode)
label         int64    index into ``Dataset.genres``
genre         str      ``genres[label]``
split         str      one of :data:`SPLITS`
duration      float64  seconds; NaN where unknown
acousticness  float64  the 8 Echonest audio features (:data:`ECHONEST_FEATURES`);
...                    NaN where absent (every non-FMA track)
============  =======  =========================================================
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sonicsep.errors import DatasetError

ECHONEST_FEATURES = (
    "acousticness",
    "danceability",
    "energy",
    "instrumentalness",
    "liveness",
    "speechiness",
    "tempo",
    "valence",
)
SPLITS = ("train", "val", "test")
TRACK_COLUMNS = ("track_id", "path", "label", "genre", "split", "duration", *ECHONEST_FEATURES)


class DatasetWarning(UserWarning):
    """Something in a dataset was skipped or is missing, but the dataset is still usable."""


@dataclass(frozen=True)
class Dataset:
    """A named corpus: where it lives, its ordered genre list and its track table."""

    name: str
    root: Path
    genres: tuple[str, ...]
    tracks: pd.DataFrame

    def split(self, name: str) -> pd.DataFrame:
        """The rows of one split ("train", "val" or "test")."""
        if name not in SPLITS:
            raise DatasetError(f"unknown split {name!r}; valid splits: {SPLITS}")
        return self.tracks[self.tracks["split"] == name]


def track_table(frame: pd.DataFrame, genres: tuple[str, ...]) -> pd.DataFrame:
    """Complete and check a reader's table: labels from ``genres``, missing columns as NaN.

    ``frame`` needs ``track_id, path, genre, split``; ``duration`` and the Echonest columns are
    filled with NaN when absent. Returns the columns of :data:`TRACK_COLUMNS` in that order,
    rows sorted by ``track_id`` with a fresh index.
    """
    table = frame.copy()
    for column in ("duration", *ECHONEST_FEATURES):
        if column not in table:
            table[column] = np.nan
    unknown_genres = sorted(set(table["genre"]) - set(genres))
    bad_splits = sorted(set(table["split"]) - set(SPLITS))
    duplicates = table["track_id"][table["track_id"].duplicated()].tolist()
    if unknown_genres or bad_splits or duplicates:
        raise DatasetError(
            f"malformed track table: genres not in the genre list {unknown_genres}, "
            f"splits not in {SPLITS} {bad_splits}, duplicate track ids {duplicates[:5]}"
        )
    table["label"] = table["genre"].map({g: i for i, g in enumerate(genres)}).astype("int64")
    for column in ("track_id", "path", "genre", "split"):
        table[column] = table[column].astype(str)
    for column in ("duration", *ECHONEST_FEATURES):
        table[column] = table[column].astype("float64")
    table = table.sort_values("track_id", kind="stable").reset_index(drop=True)
    return table[list(TRACK_COLUMNS)]


def warn_listing(what: str, names, stacklevel: int = 3) -> None:
    """Report ``len(names)`` skipped or missing things with the first few of them."""
    names = sorted(names)
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    warnings.warn(f"{len(names)} {what}: {', '.join(names[:5])}{more}",
                  DatasetWarning, stacklevel=stacklevel)
