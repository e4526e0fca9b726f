"""GTZAN reader: ``genres/<genre>/<genre>.000NN.wav`` folders to the Track table.

Layouts found under ``root`` (the first that holds genre folders wins): ``root/genres``,
``root/genres_original``, ``root/Data/genres_original`` (the Kaggle copy) or ``root`` itself.
The genre list is the sorted list of genre folder names. Every file with an audio extension
(``.wav .mp3 .ogg .flac .au``, any case) in a genre folder is a track, whether or not it decodes
(featurize records failures, so nothing vanishes silently); other files are ignored. The track
id is the file name without extension, e.g. ``blues.00000``.

Splits:

* ``"filtered"`` (default): the fault-filtered split of Kereliuk, Sturm & Larsen (2015),
  443 train / 197 valid / 290 test tracks, artist-disjoint and without the duplicates,
  distortions and mislabellings Sturm (2013) found. Its 70 excluded clips are in no split: they
  are dropped from the table (so never featurized) with a :class:`DatasetWarning` that counts
  and names them.
* ``"stratified"``: the same authors' artist-filtered split of all 1000 tracks (500/250/250).
* ``"random"``: :func:`~sonicsep.datasets.splits.stratified_split`, 49/21/30 by genre, seeded.
  It puts clips of one artist, and GTZAN's repeated clips, on both sides of a split, which
  inflates accuracy; it warns (:class:`DatasetWarning`) and is for comparison with papers only.

The split files ``{train,valid,test}_{filtered,stratified}.txt``, lines
``genre/genre.000NN.wav``, ship with sonicsep (``sonicsep/datasets/gtzan_splits/``);
``split_dir`` reads them from another folder instead. Tracks named in a split file but absent on
disk are skipped with a :class:`DatasetWarning`; a folder none of whose tracks is named there
(not GTZAN) is an error that points at ``split="random"``.
"""

from __future__ import annotations

import os
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sonicsep import audio
from sonicsep.datasets.base import Dataset, DatasetWarning, track_table, warn_listing
from sonicsep.datasets.splits import RANDOM_SPLIT, stratified_split
from sonicsep.errors import DatasetError, DecodeError, ParameterError

SPLIT_MODES = ("filtered", "stratified", RANDOM_SPLIT)
DEFAULT_SPLIT = "filtered"
# Split file stem -> our split name.
_SPLIT_FILES = {"train": "train", "valid": "val", "test": "test"}
RANDOM_SPLIT_WARNING = (
    "the random GTZAN split puts clips of one artist, and GTZAN's repeated clips, in both "
    "training and test, which inflates accuracy; use the fault-filtered split (split='filtered', "
    "the default; --split filtered on the command line) for results you report"
)


def is_audio_file(path: Path) -> bool:
    """An audio file name that is not a folder: a link to a missing file is one too (a track
    that fails with "the file does not exist" rather than one that vanishes)."""
    return path.suffix.lower() in audio.AUDIO_EXTENSIONS and not path.is_dir()


def _genre_dirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that hold at least one audio file, sorted by name."""
    return sorted(d for d in folder.iterdir()
                  if d.is_dir() and any(is_audio_file(f) for f in d.iterdir()))


def find_genres_dir(root) -> Path:
    """The folder whose sub-folders are the genres (see the module docstring for layouts)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"GTZAN root {str(root)!r} is not a folder; pass the folder that "
                           "holds genres/ (or genres/ itself)")
    for candidate in (root / "genres", root / "genres_original",
                      root / "Data" / "genres_original", root):
        if candidate.is_dir() and _genre_dirs(candidate):
            return candidate.resolve()
    raise DatasetError(
        f"no genre folders with audio files under {str(root)!r}: expected "
        f"genres/<genre>/<genre>.000NN.wav (audio extensions {audio.AUDIO_EXTENSIONS})"
    )


def list_tracks(genres_dir: Path) -> pd.DataFrame:
    """One row per audio file: ``track_id, path, genre, duration`` (NaN if the header fails)."""
    rows = []
    for genre_dir in _genre_dirs(genres_dir):
        for path in sorted(filter(is_audio_file, genre_dir.iterdir())):
            rows.append({"track_id": path.stem, "path": str(path.resolve()),
                         "genre": genre_dir.name, "duration": _duration(path)})
    tracks = pd.DataFrame(rows)
    clashes = tracks[tracks["track_id"].duplicated(keep=False)]
    if len(clashes):
        raise DatasetError(f"two audio files share a track id (file name without extension): "
                           f"{clashes['path'].tolist()[:4]}; rename or remove one")
    return tracks


def _duration(path: Path) -> float:
    try:
        return audio.info(path).duration
    except DecodeError:
        return np.nan


def packaged_split_dir():
    """The folder of the split files that ship with sonicsep (a path-like Traversable)."""
    return resources.files("sonicsep.datasets") / "gtzan_splits"


def read_split_files(split_dir, variant: str) -> dict[str, str]:
    """Map track id -> split from ``{train,valid,test}_<variant>.txt`` in ``split_dir``.

    ``split_dir`` is a path or a :mod:`importlib.resources` Traversable (see
    :func:`packaged_split_dir`).
    """
    if isinstance(split_dir, str | os.PathLike):
        split_dir = Path(split_dir)
    assignment: dict[str, str] = {}
    for stem, split in _SPLIT_FILES.items():
        path = split_dir / f"{stem}_{variant}.txt"
        if not path.is_file():
            raise DatasetError(f"GTZAN split file {str(path)!r} not found; pass split_dir= the "
                               f"folder of {stem}_{variant}.txt, or use split='random'")
        for line in path.read_text().split():
            track_id = Path(line).stem
            if assignment.get(track_id, split) != split:
                raise DatasetError(f"{track_id} is in two GTZAN split files "
                                   f"({assignment[track_id]} and {split}) under {split_dir}")
            assignment[track_id] = split
    return assignment


def _file_split(tracks: pd.DataFrame, genres_dir: Path, split: str, split_dir) -> pd.DataFrame:
    """Keep the tracks named in the split files of ``split``, each with its split."""
    split_dir = split_dir if split_dir is not None else packaged_split_dir()
    assignment = read_split_files(split_dir, split)
    on_disk = set(tracks["track_id"])
    if not on_disk & set(assignment):
        raise DatasetError(
            f"none of the {len(on_disk)} tracks under {str(genres_dir)!r} is named in the GTZAN "
            f"{split} split files under {split_dir}; for another corpus in the GTZAN layout use "
            "split='random' (--split random)"
        )
    absent = set(assignment) - on_disk
    if absent:
        warn_listing(f"tracks named in the {split} split files under {split_dir} are not on "
                     f"disk under {genres_dir} and are skipped", absent, stacklevel=5)
    unlisted = on_disk - set(assignment)
    if unlisted:
        warn_listing(f"tracks under {genres_dir} are in no {split} split file (the filtered "
                     "split leaves out GTZAN's faulty clips) and are dropped, not featurized",
                     unlisted, stacklevel=5)
    tracks = tracks[tracks["track_id"].isin(assignment.keys())].copy()
    tracks["split"] = tracks["track_id"].map(assignment)
    return tracks


def load_layout(root, seed: int = 0, name: str = "gtzan") -> Dataset:
    """Any corpus in the GTZAN layout with the seeded random split (e.g. the demo corpus).

    Parameters
    ----------
    root : path
        As in :func:`load_gtzan`.
    seed : int
        Seed of :func:`~sonicsep.datasets.splits.stratified_split`.
    name : str
        The dataset's name.
    """
    genres_dir = find_genres_dir(root)
    tracks = list_tracks(genres_dir)
    tracks["split"] = stratified_split(tracks["genre"].to_numpy(), seed=seed)
    return _dataset(name, genres_dir, tracks, tuple(sorted(tracks["genre"].unique())))


def _dataset(name: str, genres_dir: Path, tracks: pd.DataFrame, genres) -> Dataset:
    return Dataset(name=name, root=genres_dir.parent, genres=genres,
                   tracks=track_table(tracks, genres))


def load_gtzan(root, split: str | None = DEFAULT_SPLIT, seed: int = 0,
               split_dir=None) -> Dataset:
    """Read GTZAN into a :class:`Dataset` (see the module docstring).

    Parameters
    ----------
    root : path
        The folder holding ``genres/`` (or ``genres_original/``), or that folder itself.
    split : {"filtered", "stratified", "random"} or None (= "filtered")
        "random" warns with :data:`RANDOM_SPLIT_WARNING`.
    seed : int
        Seed of the random split.
    split_dir : path or None
        Folder of the split files for "filtered" / "stratified"; None reads the ones that ship
        with sonicsep.
    """
    split = split or DEFAULT_SPLIT
    if split not in SPLIT_MODES:
        raise ParameterError(f"unknown GTZAN split {split!r}; valid: {SPLIT_MODES}")
    if split == RANDOM_SPLIT:
        warnings.warn(RANDOM_SPLIT_WARNING, DatasetWarning, stacklevel=2)
        return load_layout(root, seed=seed)
    genres_dir = find_genres_dir(root)
    tracks = list_tracks(genres_dir)
    genres = tuple(sorted(tracks["genre"].unique()))  # from the folders, before any is dropped
    return _dataset("gtzan", genres_dir, _file_split(tracks, genres_dir, split, split_dir),
                    genres)
