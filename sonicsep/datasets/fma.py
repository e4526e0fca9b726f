"""FMA reader: ``fma_metadata/tracks.csv`` (+ optional ``echonest.csv``) to the Track table.

Follows mdeff/fma's ``utils.load``: ``tracks.csv`` has two header rows, ``echonest.csv`` three.

* Subsets are nested (small < medium < large): a track is in ``subset`` when its
  ``('set', 'subset')`` is at most ``subset``.
* The split is FMA's official artist-filtered one, ``('set', 'split')``: training -> train,
  validation -> val, test -> test. FMA is never re-split at random.
* The label is ``('track', 'genre_top')``; tracks without one are dropped. The genre list is the
  sorted top genres of the selected tracks.
* Audio: ``<audio_dir>/<first 3 digits>/<6-digit id>.mp3``, ``audio_dir`` by default
  ``root/fma_<subset>``. Files missing on disk stay in the table (featurize records them as
  failed) and are reported in one :class:`DatasetWarning`.
* Only Echonest's 8 ``audio_features`` are joined (the other Echonest groups describe the artist
  and would leak its identity); tracks without an Echonest row get NaN.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sonicsep.datasets.base import ECHONEST_FEATURES, Dataset, track_table, warn_listing
from sonicsep.errors import DatasetError, ParameterError

SUBSETS = ("small", "medium", "large")
# FMA is never re-split: its official split is artist-filtered.
SPLIT_MODES = ("official",)
DEFAULT_SPLIT = "official"
OFFICIAL_SPLITS = {"training": "train", "validation": "val", "test": "test"}
_REQUIRED = (("set", "subset"), ("set", "split"), ("track", "genre_top"), ("track", "duration"))


def _read_csv(path: Path, n_header_rows: int, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"FMA {what} {str(path)!r} not found; download fma_metadata.zip "
                           "and unzip it under root, or pass its path")
    try:
        return pd.read_csv(path, index_col=0, header=list(range(n_header_rows)),
                           low_memory=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"cannot parse FMA {what} {str(path)!r} (expected "
                           f"{n_header_rows} header rows as in fma_metadata): {exc}") from exc


def _check_columns(frame: pd.DataFrame, required, path: Path, what: str):
    missing = [col for col in required if col not in frame.columns]
    if missing:
        raise DatasetError(f"FMA {what} {str(path)!r} lacks the columns {missing}; is it FMA's "
                           f"{what} with its header rows?")
    if not pd.api.types.is_integer_dtype(frame.index):
        raise DatasetError(f"FMA {what} {str(path)!r}: the first column must hold integer "
                           "track ids")


def read_tracks(path) -> pd.DataFrame:
    """``tracks.csv`` -> a frame indexed by integer track id with ``subset, split, genre,
    duration`` columns (subset an ordered categorical small < medium < large)."""
    path = Path(path)
    raw = _read_csv(path, 2, "tracks.csv")
    _check_columns(raw, _REQUIRED, path, "tracks.csv")
    tracks = pd.DataFrame({
        "subset": pd.Categorical(raw[("set", "subset")], categories=SUBSETS, ordered=True),
        "split": raw[("set", "split")],
        "genre": raw[("track", "genre_top")],
        "duration": pd.to_numeric(raw[("track", "duration")], errors="coerce"),
    }, index=raw.index)
    unknown_splits = sorted(set(tracks["split"].fillna("<empty>")) - set(OFFICIAL_SPLITS))
    if unknown_splits:
        raise DatasetError(f"FMA tracks.csv {str(path)!r} has unknown ('set', 'split') values "
                           f"{unknown_splits}; expected {tuple(OFFICIAL_SPLITS)}")
    return tracks


def read_echonest(path) -> pd.DataFrame:
    """``echonest.csv`` -> a frame indexed by integer track id with the 8 audio features."""
    path = Path(path)
    raw = _read_csv(path, 3, "echonest.csv")
    required = [("echonest", "audio_features", name) for name in ECHONEST_FEATURES]
    _check_columns(raw, required, path, "echonest.csv")
    features = raw[required].apply(pd.to_numeric, errors="coerce")
    features.columns = list(ECHONEST_FEATURES)
    return features


def audio_path(audio_dir, track_id: int) -> Path:
    """Where FMA keeps a track's MP3: ``<audio_dir>/<first 3 digits>/<6 digits>.mp3``."""
    tid = f"{track_id:06d}"
    return Path(audio_dir) / tid[:3] / f"{tid}.mp3"


def load_fma(root, subset: str = "small", split: str | None = None, tracks_csv=None,
             echonest_csv=None, audio_dir=None) -> Dataset:
    """Read an FMA subset into a :class:`Dataset` (see the module docstring).

    Parameters
    ----------
    root : path
        The folder holding ``fma_metadata/`` and ``fma_<subset>/``.
    subset : {"small", "medium", "large"}
    split : None or "official"
        FMA has only its official split.
    tracks_csv, echonest_csv : path or None
        Overrides of ``root/fma_metadata/tracks.csv`` and ``echonest.csv``; the Echonest file
        is optional (all features NaN when it is absent).
    audio_dir : path or None
        Override of ``root/fma_<subset>``.
    """
    if subset not in SUBSETS:
        raise DatasetError(f"unknown FMA subset {subset!r}; valid subsets: {SUBSETS}")
    if split not in (None, *SPLIT_MODES):
        raise ParameterError(f"FMA has only its official split; got split={split!r} "
                             f"(pass None or {DEFAULT_SPLIT!r})")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"FMA root {str(root)!r} is not a folder; pass the folder that holds "
                           "fma_metadata/ and fma_<subset>/")
    metadata = root / "fma_metadata"
    tracks = read_tracks(tracks_csv if tracks_csv is not None else metadata / "tracks.csv")
    tracks = tracks[(tracks["subset"] <= subset) & tracks["genre"].notna()]
    if not len(tracks):
        raise DatasetError(f"no FMA tracks with a genre_top in subset {subset!r}")
    echonest_path = Path(echonest_csv) if echonest_csv is not None else metadata / "echonest.csv"
    if echonest_csv is not None or echonest_path.is_file():
        tracks = tracks.join(read_echonest(echonest_path), how="left")
    audio_dir = Path(audio_dir if audio_dir is not None else root / f"fma_{subset}")
    if not audio_dir.is_dir():
        raise DatasetError(f"FMA audio folder {str(audio_dir)!r} not found; unzip "
                           f"fma_{subset}.zip under root or pass audio_dir=")
    table = tracks.reset_index(names="tid")
    table["track_id"] = table["tid"].map("{:06d}".format)
    table["path"] = [str(audio_path(audio_dir.resolve(), tid)) for tid in table["tid"]]
    table["split"] = table["split"].map(OFFICIAL_SPLITS)
    missing = [tid for tid, path in zip(table["track_id"], table["path"], strict=True)
               if not Path(path).is_file()]
    if missing:
        warn_listing(f"of {len(table)} FMA {subset} audio files are missing under {audio_dir} "
                     "(featurize will record them as failed)", missing)
    genres = tuple(sorted(table["genre"].unique()))
    return Dataset(name="fma", root=root.resolve(), genres=genres,
                   tracks=track_table(table.drop(columns=["tid", "subset"]), genres))


def read_artists(path) -> pd.Series:
    """``tracks.csv`` -> the artist id of every track (``('artist', 'id')``), indexed by
    integer track id: what the official artist-filtered split is checked against."""
    path = Path(path)
    raw = _read_csv(path, 2, "tracks.csv")
    _check_columns(raw, [("artist", "id")], path, "tracks.csv")
    return raw[("artist", "id")].rename("artist_id")
