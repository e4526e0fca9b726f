"""The feature sets a classical baseline learns from, read from a feature store.

``summary``   every per-segment summary column of the store
``mfcc``      the summary columns whose name starts with ``mfcc``
``mel``       per-band mean and variance over time of each segment's log-mel spectrogram
``echonest``  the Echonest ("Spotify") features, one sample per TRACK; tracks with NaN left out
``fma``       FMA's 518 features of each whole file (stores featurized with ``--fma``), one
              sample per TRACK
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from sonicsep.errors import ParameterError
from sonicsep.features.fma import FMA_COLUMN_NAMES
from sonicsep.store import SPLITS, FeatureStore

FEATURE_SETS = ("summary", "mfcc", "mel", "echonest", "fma")
# Feature sets that `predict` can recompute from audio; Echonest comes from metadata only.
AUDIO_FEATURE_SETS = ("summary", "mfcc", "mel", "fma")
# Below this many training tracks the results carry a warning that the figures are noisy.
MIN_TRAIN_TRACKS = 50


@dataclasses.dataclass(frozen=True)
class FeatureSet:
    """Samples of one feature set: a segment each (``level='segment'``) or a track each.

    ``track_row`` is the store row of each sample's track; ``split`` its split name. Samples
    with non-finite values are left out and counted in ``n_dropped``, with ``drop_reason``.
    """

    name: str
    level: str
    columns: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray
    track_row: np.ndarray
    split: np.ndarray
    n_dropped: int = 0
    drop_reason: str = ""

    def part(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, y, track_row) of one split."""
        keep = self.split == split
        return self.X[keep], self.y[keep], self.track_row[keep]

    def n_tracks(self, split: str) -> int:
        return len(np.unique(self.track_row[self.split == split]))


def summary_columns(names: Sequence[str], feature_set: str) -> list[int]:
    """Indices of the summary columns that make up ``feature_set`` ('summary' or 'mfcc')."""
    if feature_set == "summary":
        return list(range(len(names)))
    if feature_set == "mfcc":
        return [i for i, name in enumerate(names) if name.startswith("mfcc")]
    raise ParameterError(f"feature_set={feature_set!r} is not made of summary columns")


def mel_band_columns(n_mels: int) -> tuple[str, ...]:
    """Column names of :func:`mel_band_stats` output: every band's mean, then every variance."""
    return tuple(f"mel{b:03d}_{stat}" for stat in ("mean", "var") for b in range(n_mels))


def mel_band_stats(mel_db: np.ndarray) -> np.ndarray:
    """Mean and variance over time of every mel band.

    Parameters
    ----------
    mel_db : np.ndarray [shape=(..., n_mels, time)]

    Returns
    -------
    np.ndarray [shape=(..., 2 * n_mels), dtype=float32]
        ``[mean_0 .. mean_{n-1}, var_0 .. var_{n-1}]``; accumulated in float64 because dB values
        around -80 lose digits in a float32 variance.
    """
    mel = np.asarray(mel_db, dtype=np.float64)
    stats = np.concatenate([mel.mean(axis=-1), mel.var(axis=-1)], axis=-1)
    return stats.astype(np.float32)


def load_mel_stats(store: FeatureStore, rows: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """:func:`mel_band_stats` of segment ``segments[i]`` of track row ``rows[i]``, for every i.

    Streams ``mel_db`` a block of chunks at a time (:meth:`FeatureStore.iter_segment_blocks`)
    and keeps only the statistics: the full array of an fma_large store (~70 GB) would not fit
    in memory.
    """
    out = np.empty((len(rows), 2 * store.config.n_mels), np.float32)
    for picks, mel_db in store.iter_segment_blocks("mel_db", rows, segments):
        out[picks] = mel_band_stats(mel_db)
    return out


def _finite(name, level, columns, X, y, track_row, split, reason) -> FeatureSet:
    """A FeatureSet of the samples whose features are all finite (no copy when all are)."""
    keep = np.isfinite(X).all(axis=1)
    if keep.all():
        keep = slice(None)
    return FeatureSet(
        name=name,
        level=level,
        columns=tuple(columns),
        X=X[keep],
        y=y[keep],
        track_row=track_row[keep],
        split=split[keep],
        n_dropped=len(y) - len(y[keep]),
        drop_reason=reason,
    )


def load_feature_set(store: FeatureStore, name: str) -> FeatureSet:
    """Load feature set ``name`` (see the module docstring) from ``store``, every split.

    'summary' and 'mfcc' read only the summary array, never the spectrograms; 'mel' streams
    ``mel_db`` in blocks of chunks; 'echonest' reads only the per-track table. Echonest samples
    do not depend on featurization, so tracks whose audio failed still count there.
    """
    if name not in FEATURE_SETS:
        raise ParameterError(f"unknown feature set {name!r}; expected one of {FEATURE_SETS}")
    tracks = store.tracks()
    labels = tracks["label"].to_numpy(np.int64)
    track_split = tracks["split"].to_numpy()
    if name == "echonest":
        echonest = tracks[list(store.echonest_names)].to_numpy(np.float32)
        return _finite(
            name,
            "track",
            store.echonest_names,
            echonest,
            labels,
            np.arange(len(tracks)),
            track_split,
            "tracks without (complete) Echonest features",
        )
    if name == "fma":
        ok = np.flatnonzero(tracks["status"].to_numpy() == "ok")
        return _finite(
            name,
            "track",
            FMA_COLUMN_NAMES,
            store.fma_features()[ok],
            labels[ok],
            ok,
            track_split[ok],
            "tracks with non-finite FMA features",
        )
    if name == "mel":
        rows, segments = store.segment_index()
        return _finite(
            name,
            "segment",
            mel_band_columns(store.config.n_mels),
            load_mel_stats(store, rows, segments),
            labels[rows],
            rows,
            track_split[rows],
            "segments with non-finite mel values",
        )
    cols = summary_columns(store.summary_names, name)
    X, y, rows = store.load_summary()
    if len(cols) < X.shape[1]:  # a column subset costs a copy; the full set needs none
        X = X[:, cols]
    return _finite(
        name,
        "segment",
        [store.summary_names[i] for i in cols],
        X,
        y,
        rows,
        track_split[rows],
        "segments with non-finite summary values",
    )


def supported_feature_sets(store: FeatureStore) -> tuple[str, ...]:
    """The feature sets ``store`` has the columns or arrays for (whether or not it has data)."""
    supported = []
    if store.summary_names:
        supported.append("summary")
    if summary_columns(store.summary_names, "mfcc"):
        supported.append("mfcc")
    try:
        store.array("mel_db")
        supported.append("mel")
    except KeyError:  # a summaries-only store (or one whose spectrograms were deleted)
        pass
    if store.echonest_names:
        supported.append("echonest")
    if store.config.fma_features:
        supported.append("fma")
    return tuple(supported)


def check_feature_set(fs: FeatureSet) -> tuple[bool, list[str]]:
    """Whether ``fs`` can be benchmarked, and notes for the results (why not, or caveats).

    A split without samples or a training split with a single genre cannot be tuned or scored,
    so it is skipped with a note instead of crashing; a small training split only gets a warning.
    """
    notes = []
    if fs.n_dropped:
        notes.append(f"{fs.name}: {fs.n_dropped} {fs.drop_reason} left out.")
    empty = [s for s in SPLITS if not (fs.split == s).any()]
    if empty:
        notes.append(f"{fs.name}: no samples in split(s) {', '.join(empty)}; skipped.")
        return False, notes
    n_genres = len(np.unique(fs.part("train")[1]))
    if n_genres < 2:
        notes.append(f"{fs.name}: the train split holds {n_genres} genre; skipped.")
        return False, notes
    n_train = fs.n_tracks("train")
    if n_train < MIN_TRAIN_TRACKS:
        notes.append(
            f"{fs.name}: only {n_train} training tracks (< {MIN_TRAIN_TRACKS}); "
            "accuracies are noisy."
        )
    return True, notes
