"""Leakage checks of the classical baselines: disjoint splits, FMA's artist-level split (on the
real metadata sample), and the warning for a feature set that scores >= 99% on test."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
from synthetic_store import make_synthetic_store

from sonicsep import classical_features, classical_leakage
from sonicsep.datasets.fma import OFFICIAL_SPLITS, read_artists, read_tracks


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_synthetic_store(tmp_path_factory.mktemp("leak") / "s.zarr")


def test_disjoint_splits_pass_and_a_shared_track_fails(store):
    fs = classical_features.load_feature_set(store, "summary")
    check = classical_leakage.disjoint_tracks(store, [fs])
    assert check.status == "ok" and "36 tracks are disjoint" in check.text
    tracks = store.tracks()
    tracks.loc[1, "track_id"] = tracks.loc[tracks["split"] != tracks.loc[1, "split"]].iloc[0][
        "track_id"]
    shared = types.SimpleNamespace(tracks=lambda: tracks)
    assert classical_leakage.disjoint_tracks(shared).status == "fail"
    moved = classical_features.FeatureSet(**{**fs.__dict__, "split": np.roll(fs.split, 1)})
    check = classical_leakage.disjoint_tracks(store, [moved])
    assert check.status == "fail" and "not in their track's split" in check.text


def test_fma_artist_split_is_verified_from_the_metadata(shared_data):
    tracks_csv = shared_data / "fma/fma_metadata/tracks_head682.csv"
    meta = read_tracks(tracks_csv).join(read_artists(tracks_csv)).dropna(subset=["split"])
    frame = pd.DataFrame({"track_id": meta.index.map("{:06d}".format),
                          "split": meta["split"].map(OFFICIAL_SPLITS).to_numpy()})
    fake = types.SimpleNamespace(dataset="fma", tracks=lambda: frame)
    check = classical_leakage.artist_split(fake, tracks_csv)
    assert check.status == "ok", check.text
    assert f"{len(frame)} of {len(frame)} tracks" in check.text
    # Move one track of an artist with several tracks to another split: the check fails.
    artist = meta["artist_id"].value_counts().index[0]
    row = np.flatnonzero(meta["artist_id"].to_numpy() == artist)[0]
    frame.loc[row, "split"] = "test" if frame.loc[row, "split"] != "test" else "train"
    check = classical_leakage.artist_split(fake, tracks_csv)
    assert check.status == "fail" and str(artist) in check.text


def test_artist_split_is_skipped_without_artist_ids(store, tmp_path):
    assert classical_leakage.artist_split(store).status == "skipped"
    fake = types.SimpleNamespace(dataset="fma", strings=lambda *a: np.array(["/x/a/b/1.mp3"]))
    check = classical_leakage.artist_split(fake)
    assert check.status == "skipped" and "--fma-metadata" in check.text


def test_a_feature_set_at_99_percent_gets_a_warning():
    results = [
        {"method": "knn", "feature_set": "echonest", "test_track_accuracy": 0.997,
         "test_segment_accuracy": None},
        {"method": "svm", "feature_set": "summary", "test_track_accuracy": 0.6,
         "test_segment_accuracy": 0.55},
    ]
    (warning,) = classical_leakage.suspicious_scores(results)
    assert warning.status == "warning" and "'echonest' scores 99.7%" in warning.line()
    assert "check it for leakage" in warning.text
