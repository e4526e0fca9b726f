"""GTZAN reader: layouts, the real 20-clip sample, the shipped split files, and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synthetic_store import TINY_CONFIG

from sonicsep.datasets import TRACK_COLUMNS, DatasetWarning, load_dataset
from sonicsep.datasets.gtzan import (
    find_genres_dir,
    load_gtzan,
    load_layout,
    packaged_split_dir,
    read_split_files,
)
from sonicsep.errors import DatasetError, ParameterError
from sonicsep.featurize import featurize_shard, prepare_store

# Tests of other things than the split read GTZAN with its warnings about the split.
quiet = pytest.mark.filterwarnings("ignore::sonicsep.datasets.DatasetWarning")

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
def test_real_gtzan_sample_random_split_warns(gtzan_root):
    with pytest.warns(DatasetWarning) as caught:
        dataset = load_dataset("gtzan", root=gtzan_root, split="random")
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("the random GTZAN split puts clips of one artist")
    assert "inflates accuracy" in message and "split='filtered'" in message
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


@quiet
def test_root_may_be_the_genres_folder(gtzan_root):
    a = load_gtzan(gtzan_root)
    b = load_gtzan(gtzan_root / "genres")
    assert a.root == b.root and a.tracks.equals(b.tracks)


@quiet
def test_random_split_is_seeded(gtzan_root):
    a, b = load_gtzan(gtzan_root, "random", seed=3), load_gtzan(gtzan_root, "random", seed=3)
    assert a.tracks["split"].equals(b.tracks["split"])


def test_real_filtered_split_is_the_default(gtzan_root):
    with pytest.warns(DatasetWarning) as caught:
        dataset = load_dataset("gtzan", root=gtzan_root)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert messages[0].startswith("911 tracks named in the filtered split files under "
                                  f"{packaged_split_dir()} are not on disk")
    assert messages[1].endswith("are dropped, not featurized: hiphop.00001")
    splits = dataset.tracks.set_index("track_id")["split"]
    assert len(splits) == 19 and "hiphop.00001" not in splits
    assert (splits["blues.00000"], splits["jazz.00000"], splits["pop.00000"]) == \
        ("val", "train", "test")
    assert dataset.split("val").shape[0] == 9
    assert dataset.genres == GTZAN_GENRES  # genres come from the folders


def _split_sizes(assignment: dict) -> dict:
    return {name: list(assignment.values()).count(name) for name in ("train", "val", "test")}


def test_shipped_split_files_are_kereliuk_sturm_larsen_2015(gtzan_root):
    assert _split_sizes(read_split_files(packaged_split_dir(), "filtered")) == \
        {"train": 443, "val": 197, "test": 290}
    assert _split_sizes(read_split_files(packaged_split_dir(), "stratified")) == \
        {"train": 500, "val": 250, "test": 250}
    for path in sorted((gtzan_root / "splits_fault_filtered").glob("*.txt")):
        assert (packaged_split_dir() / path.name).read_bytes() == path.read_bytes(), path.name
    with pytest.warns(DatasetWarning, match="980 tracks named in the stratified"):
        dataset = load_gtzan(gtzan_root, split="stratified")
    assert len(dataset.tracks) == 20


@pytest.fixture(scope="module")
def full_gtzan(tmp_path_factory) -> Path:
    """GTZAN's 1000 file names, 100 per genre, as tiny WAVs."""
    root = tmp_path_factory.mktemp("gtzan1000")
    for genre in GTZAN_GENRES:
        for i in range(100):
            _clip(root / "genres" / genre / f"{genre}.{i:05d}.wav", n=8)
    return root


def test_full_gtzan_filtered_default_is_443_197_290_and_drops_70(full_gtzan):
    with pytest.warns(DatasetWarning) as caught:
        dataset = load_dataset("gtzan", root=full_gtzan)
    (message,) = [str(w.message) for w in caught]
    assert message.startswith(f"70 tracks under {full_gtzan / 'genres'} are in no filtered "
                              "split file")
    assert message.endswith("dropped, not featurized: classical.00042, country.00008, "
                            "country.00052, disco.00038, disco.00050 and 65 more")
    assert dataset.tracks["split"].value_counts().to_dict() == \
        {"train": 443, "test": 290, "val": 197}
    assert dataset.genres == GTZAN_GENRES and len(dataset.tracks) == 930


def test_full_gtzan_random_split_warns_and_keeps_all(full_gtzan):
    with pytest.warns(DatasetWarning, match="random GTZAN split .* inflates accuracy"):
        dataset = load_dataset("gtzan", root=full_gtzan, split="random", seed=0)
    assert dataset.tracks["split"].value_counts().to_dict() == \
        {"train": 490, "test": 300, "val": 210}


@quiet
def test_undecodable_clip_is_still_a_track(tmp_path, bad_wav):
    root = _corpus(tmp_path, genres=("jazz",))
    os.symlink(bad_wav, root / "genres" / "jazz" / "jazz.00054.wav")
    tracks = load_gtzan(root).tracks.set_index("track_id")  # all four in the filtered split
    assert "jazz.00054" in tracks.index and np.isnan(tracks.loc["jazz.00054", "duration"])


@quiet
def test_link_to_a_missing_file_is_a_track_that_fails_saying_so(tmp_path):
    root = _corpus(tmp_path, genres=("jazz",))
    missing = tmp_path / "elsewhere" / "jazz.00054.wav"
    os.symlink(missing, root / "genres" / "jazz" / "jazz.00054.wav")
    dataset = load_dataset("gtzan", root=root)
    row = dataset.tracks.set_index("track_id").loc["jazz.00054"]
    assert row["path"] == str(missing) and np.isnan(row["duration"])
    store = prepare_store(str(tmp_path / "s.zarr"), dataset, TINY_CONFIG, 1, overwrite=False)
    for shard in range(store.n_shards):
        featurize_shard(store.url, shard)
    failed = store.tracks().set_index("track_id").loc["jazz.00054"]
    assert failed["status"] == "failed"
    assert failed["error"] == f"cannot decode audio file {str(missing)!r}: the file does not exist"


# ---------------------------------------------------------------------------- layouts
def test_genres_original_and_audio_extensions(tmp_path):
    root = _corpus(tmp_path, folder="genres_original")
    folder = root / "genres_original" / "rock"
    _clip(folder / "rock.00010.WAV")
    _clip(folder / "rock.00011.au")
    (folder / "notes.txt").write_text("not audio")
    (folder / "rock.m3u").write_text("rock.00000.wav\n")
    (root / "genres_original" / "empty").mkdir()
    dataset = load_layout(root)
    assert dataset.genres == ("blues", "rock")  # a folder without audio is not a genre
    assert sorted(dataset.tracks["track_id"])[-2:] == ["rock.00010", "rock.00011"]
    assert len(dataset.tracks) == 8


def test_kaggle_layout(tmp_path):
    root = _corpus(tmp_path / "Data", folder="genres_original").parent
    assert find_genres_dir(root) == (root / "Data" / "genres_original").resolve()


def test_split_dir_overrides_the_shipped_split_files(tmp_path):
    root = _corpus(tmp_path)
    _split_files(tmp_path / "mine", "filtered",
                 train=["blues.00000", "rock.00000"], valid=["blues.00001", "rock.00001"],
                 test=["blues.00002", "rock.00002"])
    tracks = load_dataset("gtzan", root=root / "genres", split_dir=tmp_path / "mine").tracks
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


def test_corpus_outside_the_split_files_points_at_the_random_split(tmp_path):
    root = _corpus(tmp_path, genres=("polka",))
    with pytest.raises(DatasetError, match=r"none of the 3 tracks .* use split='random'"):
        load_gtzan(root)


def test_missing_split_files(tmp_path):
    root = _corpus(tmp_path)
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
