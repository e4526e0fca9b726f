"""Leakage checks printed with the classical baselines' table.

* every split's tracks are disjoint (by track id, and each sample's track in its own split);
* FMA: the official split puts each artist in one split only, verified from ``tracks.csv``'s
  ``('artist', 'id')`` (found next to the audio, as FMA lays it out, or passed explicitly);
* a feature set that scores at least :data:`SUSPICIOUS_ACCURACY` on test gets a warning: the
  study's Echonest-only 99.7% is the case in point.

Each check gives a :class:`Check`: ``"ok"``, ``"fail"``, ``"warning"`` or ``"skipped"`` and a
line that says what was checked on how many tracks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from sonicsep.errors import DatasetError
from sonicsep.store import SPLITS, FeatureStore

SUSPICIOUS_ACCURACY = 0.99
_EXAMPLES = 5


@dataclasses.dataclass(frozen=True)
class Check:
    status: str
    text: str

    def line(self) -> str:
        return f"leakage check {self.status.upper()}: {self.text}"


def disjoint_tracks(store: FeatureStore, feature_sets: Iterable = ()) -> Check:
    """No track id in two splits, and every loaded sample in its track's split."""
    tracks = store.tracks()
    split_of = tracks.groupby("track_id")["split"].nunique()
    shared = split_of.index[split_of > 1].tolist()
    if shared:
        return Check("fail", f"{len(shared)} track ids are in more than one split, e.g. "
                             f"{shared[:_EXAMPLES]}")
    store_split = tracks["split"].to_numpy()
    for fs in feature_sets:
        wrong = np.flatnonzero(store_split[fs.track_row] != fs.split)
        if wrong.size:
            return Check("fail", f"{wrong.size} '{fs.name}' samples are not in their track's "
                                 "split")
    counts = ", ".join(f"{s} {int((store_split == s).sum())}" for s in SPLITS)
    return Check("ok", f"the splits' {len(tracks)} tracks are disjoint ({counts}).")


def fma_tracks_csv(store: FeatureStore, tracks_csv=None) -> Path | None:
    """The FMA ``tracks.csv`` that describes ``store``: ``tracks_csv`` if given, else
    ``<root>/fma_metadata/tracks.csv`` of the audio's ``<root>/fma_<subset>/xxx/id.mp3``."""
    if tracks_csv is not None:
        return Path(tracks_csv)
    paths = store.strings("path", slice(0, 1))
    if not len(paths):
        return None
    candidate = Path(paths[0]).parents[2] / "fma_metadata" / "tracks.csv"
    return candidate if candidate.is_file() else None


def artist_split(store: FeatureStore, tracks_csv=None) -> Check:
    """FMA only: every artist's tracks of the store lie in one split."""
    from sonicsep.datasets.fma import read_artists

    if store.dataset != "fma":
        return Check("skipped", f"artist-level split: the {store.dataset!r} store has no "
                                "artist ids (only FMA's metadata has them).")
    path = fma_tracks_csv(store, tracks_csv)
    if path is None:
        return Check("skipped", "artist-level split: FMA's tracks.csv not found next to the "
                                "audio; pass --fma-metadata PATH to check it.")
    try:
        artists = read_artists(path)
    except DatasetError as exc:
        return Check("skipped", f"artist-level split: {exc}")
    tracks = store.tracks()
    ids = tracks["track_id"].astype(int)
    known = ids.isin(artists.index).to_numpy()
    frame = tracks.loc[known, ["split"]].assign(artist=artists.loc[ids[known]].to_numpy())
    n_splits = frame.groupby("artist")["split"].nunique()
    crossing = n_splits.index[n_splits > 1].tolist()
    where = f"{known.sum()} of {len(tracks)} tracks, {len(n_splits)} artists ({path})"
    if crossing:
        return Check("fail", f"{len(crossing)} artists have tracks in more than one split, "
                             f"e.g. artist ids {crossing[:_EXAMPLES]}; {where}.")
    return Check("ok", f"every artist is in one split only: {where}.")


def suspicious_scores(results: Iterable[Mapping]) -> list[Check]:
    """A warning for every feature set whose best test accuracy is >= SUSPICIOUS_ACCURACY."""
    best: dict[str, tuple[float, str]] = {}
    for r in results:
        for key in ("test_track_accuracy", "test_segment_accuracy"):
            score = r.get(key)
            if score is not None and score > best.get(r["feature_set"], (-1.0, ""))[0]:
                best[r["feature_set"]] = (score, f"{r['method']}, {key.split('_')[1]} level")
    return [
        Check("warning", f"'{name}' scores {100 * score:.1f}% on test ({how}), at least "
                         f"{100 * SUSPICIOUS_ACCURACY:.0f}%: check it for leakage (features "
                         "that identify the track or artist, a split that is not by artist).")
        for name, (score, how) in best.items()
        if score >= SUSPICIOUS_ACCURACY
    ]


def run_checks(store: FeatureStore, feature_sets, results, tracks_csv=None) -> list[Check]:
    """Every check, in the order they are printed."""
    return [disjoint_tracks(store, feature_sets), artist_split(store, tracks_csv),
            *suspicious_scores(results)]
