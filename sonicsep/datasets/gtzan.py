"""GTZAN reader: ``genres/<genre>/<genre>.000NN.wav`` folders to the Track table.

Layouts found under ``root`` (the first that holds genre folders wins): ``root/genres``,
``root/genres_original``, ``root/Data/genres_original`` (the Kaggle copy) or ``root`` itself.
The genre list is the sorted list of genre folder names. Every file with an audio extension
(``.wav .mp3 .ogg .flac .au``, any case) in a genre folder is a track, whether or not it decodes
(featurize records failures, so nothing vanishes silently); other files are ignored. The track
id is the file name without extension, e.g. ``blues.00000``.

Splits:

* ``"random"`` (default): :func:`~sonicsep.datasets.splits.stratified_split`, 49/21/30 by
  genre, seeded.
* ``"filtered"`` / ``"stratified"``: the split files of Kereliuk, Sturm & Larsen (2015),
  ``{train,valid,test}_{filtered,stratified}.txt`` with lines ``genre/genre.000NN.wav``, looked
  for in ``split_dir`` or ``splits_fault_filtered/`` beside the genres folder. Tracks named in a
  split file but absent on disk are skipped with a :class:`DatasetWarning`; tracks on disk but in
  no split file (the faults the filtered split removes, e.g. ``jazz.00054``) are dropped from the
  table with a :class:`DatasetWarning`, since they belong to no split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sonicsep import audio
from sonicsep.datasets.base import Dataset, track_table, warn_listing
from sonicsep.datasets.splits import stratified_split
from sonicsep.errors import DatasetError, DecodeError, ParameterError

SPLIT_MODES = ("random", "filtered", "stratified")
# Split file stem -> our split name.
_SPLIT_FILES = {"train": "train", "valid": "val", "test": "test"}
_SPLIT_DIR_NAME = "splits_fault_filtered"


def is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in audio.AUDIO_EXTENSIONS


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


def read_split_files(split_dir, variant: str) -> dict[str, str]:
    """Map track id -> split from ``{train,valid,test}_<variant>.txt`` in ``split_dir``."""
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
    split_dir = Path(split_dir) if split_dir is not None else _default_split_dir(genres_dir)
    assignment = read_split_files(split_dir, split)
    on_disk = set(tracks["track_id"])
    absent = set(assignment) - on_disk
    if absent:
        warn_listing(f"tracks named in the {split} split files under {split_dir} are not on "
                     f"disk under {genres_dir} and are skipped", absent, stacklevel=4)
    unlisted = on_disk - set(assignment)
    if unlisted:
        warn_listing(f"tracks under {genres_dir} are in no {split} split file and are dropped",
                     unlisted, stacklevel=4)
    tracks = tracks[tracks["track_id"].isin(assignment.keys())].copy()
    tracks["split"] = tracks["track_id"].map(assignment)
    return tracks


def _default_split_dir(genres_dir: Path) -> Path:
    for folder in (genres_dir.parent, genres_dir.parent.parent):
        if (folder / _SPLIT_DIR_NAME).is_dir():
            return folder / _SPLIT_DIR_NAME
    raise DatasetError(f"no {_SPLIT_DIR_NAME}/ folder beside {str(genres_dir)!r}; pass "
                       "split_dir=, or use split='random'")


def load_gtzan(root, split: str | None = "random", seed: int = 0, split_dir=None,
               name: str = "gtzan") -> Dataset:
    """Read a GTZAN-layout corpus into a :class:`Dataset` (see the module docstring).

    Parameters
    ----------
    root : path
        The folder holding ``genres/`` (or ``genres_original/``), or that folder itself.
    split : {"random", "filtered", "stratified"} or None (= "random")
    seed : int
        Seed of the random split.
    split_dir : path or None
        Folder of the split files for "filtered" / "stratified".
    name : str
        The dataset's name (the demo corpus reuses this reader).
    """
    split = split or "random"
    if split not in SPLIT_MODES:
        raise ParameterError(f"unknown GTZAN split {split!r}; valid: {SPLIT_MODES}")
    genres_dir = find_genres_dir(root)
    tracks = list_tracks(genres_dir)
    genres = tuple(sorted(tracks["genre"].unique()))
    if split == "random":
        tracks["split"] = stratified_split(tracks["genre"].to_numpy(), seed=seed)
    else:
        tracks = _file_split(tracks, genres_dir, split, split_dir)
    return Dataset(name=name, root=genres_dir.parent, genres=genres,
                   tracks=track_table(tracks, genres))
