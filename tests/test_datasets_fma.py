"""FMA reader: the real tracks_head682.csv, an Echonest fixture in the real format, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sonicsep.datasets import ECHONEST_FEATURES, TRACK_COLUMNS, DatasetWarning, load_dataset
from sonicsep.datasets.fma import audio_path, load_fma, read_echonest, read_tracks
from sonicsep.errors import DatasetError, ParameterError

TRACK2 = {"acousticness": 0.416675, "danceability": 0.675894, "energy": 0.634476,
          "instrumentalness": 0.010628, "liveness": 0.177647, "speechiness": 0.15931,
          "tempo": 165.922, "valence": 0.576661}


@pytest.fixture(scope="session")
def tracks_csv(fma_root):
    return fma_root / "fma_metadata" / "tracks_head682.csv"


@pytest.fixture
def echonest_csv(tmp_path):
    """echonest.csv in FMA's three-header-row layout, with the groups models must not use."""
    columns = ([("echonest", "audio_features", f) for f in ECHONEST_FEATURES]
               + [("echonest", "metadata", "artist_name"),
                  ("echonest", "social_features", "artist_hotttnesss"),
                  ("echonest", "temporal_features", "000")])
    rows = {2: [*TRACK2.values(), "AWOL", 0.388, 0.8],
            3: [0.374408, 0.528643, 0.817461, 0.001851, 0.105880, 0.461818, 126.957, 0.269240,
                "AWOL", 0.388, 0.5]}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=pd.MultiIndex.from_tuples(
        columns))
    frame.index.name = "track_id"
    path = tmp_path / "echonest.csv"
    frame.to_csv(path)
    return path


def _load(fma_root, tracks_csv, **kwargs):
    with pytest.warns(DatasetWarning, match="audio files are missing"):
        return load_fma(fma_root, tracks_csv=tracks_csv, **kwargs)


def test_real_tracks_csv_facts(tracks_csv):
    raw = pd.read_csv(tracks_csv, index_col=0, header=[0, 1])
    assert raw.shape == (682, 52)
    tracks = read_tracks(tracks_csv)
    assert [(tracks["subset"] <= s).sum() for s in ("small", "medium", "large")] == [58, 194, 682]
    assert tracks["split"].value_counts().to_dict() == {"training": 563, "test": 71,
                                                       "validation": 48}
    assert tracks["genre"].isna().sum() == 51


def test_small_subset(fma_root, tracks_csv, fma_mp3):
    dataset = _load(fma_root, tracks_csv)
    tracks = dataset.tracks
    assert dataset.name == "fma" and tuple(tracks.columns) == TRACK_COLUMNS
    assert len(tracks) == 58 and tracks["track_id"].is_unique
    assert dataset.genres == ("Experimental", "Folk", "Hip-Hop", "International", "Pop", "Rock")
    assert tracks["split"].value_counts().to_dict() == {"train": 45, "test": 9, "val": 4}
    first = tracks.iloc[0]
    assert (first["track_id"], first["genre"], first["split"]) == ("000002", "Hip-Hop", "train")
    assert first["path"] == str(fma_mp3.resolve()) and first["duration"] == 168.0
    assert dataset.genres[first["label"]] == "Hip-Hop"
    assert tracks[list(ECHONEST_FEATURES)].isna().all().all()  # no echonest.csv here


@pytest.mark.parametrize(("subset", "n_tracks", "n_genres"),
                         [("medium", 194, 9), ("large", 631, 10)])
def test_subsets_are_nested(fma_root, tracks_csv, tmp_path, subset, n_tracks, n_genres):
    dataset = _load(fma_root, tracks_csv, subset=subset, audio_dir=tmp_path)
    assert len(dataset.tracks) == n_tracks and len(dataset.genres) == n_genres
    assert {"000002", "000003"} <= set(dataset.tracks["track_id"])
    assert dataset.tracks["path"].str.startswith(str(tmp_path.resolve())).all()


def test_echonest_features_joined(fma_root, tracks_csv, echonest_csv):
    features = read_echonest(echonest_csv)
    assert list(features.columns) == list(ECHONEST_FEATURES) and list(features.index) == [2, 3]
    tracks = _load(fma_root, tracks_csv, echonest_csv=echonest_csv).tracks.set_index("track_id")
    for name, value in TRACK2.items():
        assert tracks.loc["000002", name] == pytest.approx(value)
    assert "000003" not in tracks.index  # track 3 is in medium, not small
    assert tracks.drop(index="000002")[list(ECHONEST_FEATURES)].isna().all().all()


def test_echonest_found_under_root(tmp_path, tracks_csv, echonest_csv):
    (tmp_path / "fma_metadata").mkdir()
    (tmp_path / "fma_metadata" / "tracks.csv").write_bytes(tracks_csv.read_bytes())
    (tmp_path / "fma_metadata" / "echonest.csv").write_bytes(echonest_csv.read_bytes())
    (tmp_path / "fma_small").mkdir()
    with pytest.warns(DatasetWarning, match="58 of 58 FMA small audio files are missing"):
        tracks = load_dataset("fma", root=tmp_path).tracks
    assert tracks.loc[0, "energy"] == pytest.approx(0.634476)


def test_audio_path():
    assert audio_path("/a", 2).as_posix() == "/a/000/000002.mp3"
    assert audio_path("/a", 155066).as_posix() == "/a/155/155066.mp3"


# ---------------------------------------------------------------------------- bad input
def test_unknown_subset(fma_root, tracks_csv):
    with pytest.raises(DatasetError, match=r"unknown FMA subset 'tiny'.*'small', 'medium'"):
        load_fma(fma_root, subset="tiny", tracks_csv=tracks_csv)


def test_fma_has_only_the_official_split(fma_root, tracks_csv):
    with pytest.raises(ParameterError, match="official"):
        load_dataset("fma", root=fma_root, split="random", tracks_csv=tracks_csv)


def test_missing_tracks_csv(fma_root):
    with pytest.raises(DatasetError, match=r"tracks.csv .*not found"):
        load_fma(fma_root)


def test_missing_audio_dir(fma_root, tracks_csv):
    with pytest.raises(DatasetError, match="fma_medium"):
        load_fma(fma_root, subset="medium", tracks_csv=tracks_csv)


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        load_fma(tmp_path / "nowhere")


def test_csv_missing_required_columns(tmp_path, tracks_csv, fma_root):
    raw = pd.read_csv(tracks_csv, index_col=0, header=[0, 1])
    broken = tmp_path / "tracks.csv"
    raw.drop(columns=[("track", "genre_top")]).to_csv(broken)
    with pytest.raises(DatasetError, match=r"lacks the columns \[\('track', 'genre_top'\)\]"):
        load_fma(fma_root, tracks_csv=broken)


def test_csv_with_one_header_row(tmp_path, fma_root):
    flat = tmp_path / "tracks.csv"
    pd.DataFrame({"track_id": [2], "genre_top": ["Rock"]}).to_csv(flat, index=False)
    with pytest.raises(DatasetError, match="tracks.csv"):
        load_fma(fma_root, tracks_csv=flat)


def test_echonest_missing_audio_features(tmp_path, fma_root, tracks_csv):
    path = tmp_path / "echonest.csv"
    frame = pd.DataFrame([[1.0]], index=pd.Index([2], name="track_id"),
                         columns=pd.MultiIndex.from_tuples([("echonest", "ranks", "x")]))
    frame.to_csv(path)
    with pytest.raises(DatasetError, match="echonest.csv .*acousticness"):
        load_fma(fma_root, tracks_csv=tracks_csv, echonest_csv=path)


def test_unknown_split_value(tmp_path, fma_root, tracks_csv):
    raw = pd.read_csv(tracks_csv, index_col=0, header=[0, 1])
    raw.loc[2, ("set", "split")] = "holdout"
    odd = tmp_path / "tracks.csv"
    raw.to_csv(odd)
    with pytest.raises(DatasetError, match="holdout"):
        load_fma(fma_root, tracks_csv=odd)


def test_label_matches_genre(fma_root, tracks_csv):
    dataset = _load(fma_root, tracks_csv, subset="large", audio_dir=fma_root)
    genres = np.array(dataset.genres)
    assert (genres[dataset.tracks["label"]] == dataset.tracks["genre"]).all()
