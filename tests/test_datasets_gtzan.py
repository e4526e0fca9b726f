"""GTZAN reader: layouts, the real 20-clip sample, split files, and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonicsep.datasets import TRACK_COLUMNS, DatasetWarning, load_dataset
from sonicsep.datasets.gtzan import find_genres_dir, load_gtzan, read_split_files
from sonicsep.errors import DatasetError, ParameterError

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
                "reggae", "rock")


def _clip(path: Path, n=220) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(n, dtype=np.int16), 22050)
    return path


def _corpus(root: Path, genres=("blues", "rock"), per_genre=3, folder="genres") -> Path:
    for genre in genres:
        for i in range(per_genre):
            _clip(root / folder / genre / f"{genre}.{i:05d}.wav")
    return root


def _split_files(folder: Path, variant: str, train=(), valid=(), test=()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, names in (("train", train), ("valid", valid), ("test", test)):
        lines = [f"{n.split('.')[0]}/{n}.wav" for n in names]
        (folder / f"{stem}_{variant}.txt").write_text("\n".join(lines) + "\n")
    return folder


# ---------------------------------------------------------------------------- real sample
def test_real_gtzan_sample(gtzan_root):
    dataset = load_dataset("gtzan", root=gtzan_root)
    tracks = dataset.tracks
    assert dataset.name == "gtzan" and dataset.genres == GTZAN_GENRES
    assert tuple(tracks.columns) == TRACK_COLUMNS and len(tracks) == 20
    assert tracks["track_id"].is_unique and list(tracks["track_id"]) == sorted(tracks["track_id"])
    assert (tracks["genre"].map(GTZAN_GENRES.index) == tracks["label"]).all()
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in tracks["path"])
    blues = tracks.set_index("track_id").loc["blues.00000"]
    assert blues["duration"] == pytest.approx(661794 / 22050)
    assert tracks["duration"].between(661504 / 22050, 666160 / 22050).all()
    assert tracks[["acousticness", "valence"]].isna().all().all()
    # Two clips per genre: the random split puts one in train and one in test.
    assert (tracks.groupby("genre")["split"].apply(sorted) == [["test", "train"]] * 10).all()


def test_root_may_be_the_genres_folder(gtzan_root):
    a = load_gtzan(gtzan_root)
    b = load_gtzan(gtzan_root / "genres")
    assert a.root == b.root and a.tracks.equals(b.tracks)


def test_random_split_is_seeded(gtzan_root):
    a, b = load_gtzan(gtzan_root, seed=3), load_gtzan(gtzan_root, seed=3)
    assert a.tracks["split"].equals(b.tracks["split"])


def test_real_filtered_split(gtzan_root):
    with pytest.warns(DatasetWarning) as caught:
        dataset = load_gtzan(gtzan_root, split="filtered")
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("911 tracks named in the filtered split files") for m in messages)
    assert any("hiphop.00001" in m and "dropped" in m for m in messages)
    splits = dataset.tracks.set_index("track_id")["split"]
    assert len(splits) == 19 and "hiphop.00001" not in splits
    assert (splits["blues.00000"], splits["jazz.00000"], splits["pop.00000"]) == \
        ("val", "train", "test")
    assert dataset.split("val").shape[0] == 9
    assert dataset.genres == GTZAN_GENRES  # genres come from the folders


def test_real_split_file_sizes(gtzan_root):
    assignment = read_split_files(gtzan_root / "splits_fault_filtered", "filtered")
    counts = {name: list(assignment.values()).count(name) for name in ("train", "val", "test")}
    assert counts == {"train": 443, "val": 197, "test": 290}
    with pytest.warns(DatasetWarning, match="980 tracks named in the stratified"):
        dataset = load_gtzan(gtzan_root, split="stratified")
    assert len(dataset.tracks) == 20


def test_undecodable_clip_is_still_a_track(tmp_path, bad_wav):
    root = _corpus(tmp_path, genres=("jazz",))
    os.symlink(bad_wav, root / "genres" / "jazz" / "jazz.00054.wav")
    tracks = load_gtzan(root).tracks.set_index("track_id")
    assert "jazz.00054" in tracks.index and np.isnan(tracks.loc["jazz.00054", "duration"])


# ---------------------------------------------------------------------------- layouts
def test_genres_original_and_audio_extensions(tmp_path):
    root = _corpus(tmp_path, folder="genres_original")
    folder = root / "genres_original" / "rock"
    _clip(folder / "rock.00010.WAV")
    _clip(folder / "rock.00011.au")
    (folder / "notes.txt").write_text("not audio")
    (folder / "rock.m3u").write_text("rock.00000.wav\n")
    (root / "genres_original" / "empty").mkdir()
    dataset = load_gtzan(root)
    assert dataset.genres == ("blues", "rock")  # a folder without audio is not a genre
    assert sorted(dataset.tracks["track_id"])[-2:] == ["rock.00010", "rock.00011"]
    assert len(dataset.tracks) == 8


def test_kaggle_layout(tmp_path):
    root = _corpus(tmp_path / "Data", folder="genres_original").parent
    assert find_genres_dir(root) == (root / "Data" / "genres_original").resolve()


def test_split_files_found_beside_genres(tmp_path):
    root = _corpus(tmp_path)
    _split_files(root / "splits_fault_filtered", "filtered",
                 train=["blues.00000", "rock.00000"], valid=["blues.00001", "rock.00001"],
                 test=["blues.00002", "rock.00002"])
    tracks = load_gtzan(root / "genres", split="filtered").tracks
    assert list(tracks["split"]) == ["train", "val", "test"] * 2


# ---------------------------------------------------------------------------- bad input
def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        load_gtzan(tmp_path / "nowhere")


def test_folder_without_audio(tmp_path):
    (tmp_path / "genres" / "blues").mkdir(parents=True)
    (tmp_path / "genres" / "blues" / "readme.txt").write_text("no audio here")
    with pytest.raises(DatasetError, match="no genre folders with audio files"):
        load_gtzan(tmp_path)


def test_missing_split_files(tmp_path):
    root = _corpus(tmp_path)
    with pytest.raises(DatasetError, match="splits_fault_filtered"):
        load_gtzan(root, split="filtered")
    _split_files(tmp_path / "mine", "filtered", train=["blues.00000"])
    (tmp_path / "mine" / "test_filtered.txt").unlink()
    with pytest.raises(DatasetError, match="test_filtered.txt"):
        load_gtzan(root, split="filtered", split_dir=tmp_path / "mine")


def test_split_file_naming_absent_tracks_warns(tmp_path):
    root = _corpus(tmp_path, genres=("blues",))
    names = ["blues.00000", "blues.00001", "blues.00002"]
    _split_files(tmp_path / "s", "stratified", train=names + ["blues.00099"])
    with pytest.warns(DatasetWarning, match=r"^1 tracks named .* skipped: blues.00099$"):
        tracks = load_gtzan(root, split="stratified", split_dir=tmp_path / "s").tracks
    assert list(tracks["track_id"]) == names


def test_track_in_two_split_files(tmp_path):
    root = _corpus(tmp_path, genres=("blues",))
    _split_files(tmp_path / "s", "filtered", train=["blues.00000"], test=["blues.00000"])
    with pytest.raises(DatasetError, match="blues.00000 is in two GTZAN split files"):
        load_gtzan(root, split="filtered", split_dir=tmp_path / "s")


def test_duplicate_track_ids(tmp_path):
    root = _corpus(tmp_path, genres=("blues",))
    _clip(root / "genres" / "blues" / "blues.00000.flac")
    with pytest.raises(DatasetError, match="share a track id"):
        load_gtzan(root)


def test_unknown_split_mode(tmp_path):
    with pytest.raises(ParameterError, match="unknown GTZAN split 'official'"):
        load_gtzan(_corpus(tmp_path), split="official")
