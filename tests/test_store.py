"""The Zarr schema: layout, chunk/shard alignment, status bookkeeping, readers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import zarr

from sonicsep.config import FeatureConfig
from sonicsep.errors import StoreError
from sonicsep.store import (
    FAILED,
    OK,
    PENDING,
    FeatureStore,
    ShardResult,
    default_tracks_per_shard,
    track_bytes,
)

CONFIG = FeatureConfig(
    n_mels=8, n_mfcc=4, segment_seconds=0.5, max_segments=2, n_fft=256, hop_length=128
)
ECHONEST = ("energy", "tempo")


def _tracks(n):
    return pd.DataFrame(
        {
            "track_id": [f"t{i:03d}" for i in range(n)],
            "path": [f"/audio/t{i:03d}.wav" for i in range(n)],
            "label": np.arange(n) % 2,
            "split": (["train", "val", "test"] * n)[:n],
            "duration": np.full(n, 30.0),
            "energy": np.where(np.arange(n) % 3 == 0, np.nan, 0.5),
            "tempo": np.full(n, 120.0),
        }
    )


def _create(url, n=10, tps=4):
    return FeatureStore.create(
        str(url),
        dataset="unit",
        genres=("a", "b"),
        tracks=_tracks(n),
        config=CONFIG,
        summary_names=["x_mean", "x_var", "y_mean"],
        echonest_names=ECHONEST,
        tracks_per_shard=tps,
    )


def _result(store, shard, value, status=OK):
    sl = store.shard_slice(shard)
    res = ShardResult.empty(sl.stop - sl.start, store.config, len(store.summary_names))
    res.mel_db[:] = value
    res.mfcc[:] = value
    res.summary[:] = value
    res.mask[:, 0] = True
    res.n_segments[:] = 1
    res.status[:] = status
    res.error[:] = "" if status == OK else "boom"
    return res


def test_create_lays_out_schema_and_attrs(tmp_path):
    store = _create(tmp_path / "s.zarr")
    reopened = FeatureStore.open(str(tmp_path / "s.zarr"))
    assert reopened.config == CONFIG
    assert reopened.genres == ("a", "b")
    assert reopened.n_shards == 3
    assert reopened.counts() == {"pending": 10, "ok": 0, "failed": 0}
    mel = store.group["mel_db"]
    assert mel.shape == (10, 2, 8, CONFIG.frames_per_segment)
    assert mel.shards[0] == 4 and 4 % mel.chunks[0] == 0
    assert mel.metadata.dimension_names == ("track", "segment", "mel_band", "time")
    tracks = reopened.tracks()
    assert list(tracks["track_id"]) == [f"t{i:03d}" for i in range(10)]
    assert list(tracks["genre"][:2]) == ["a", "b"]
    assert np.isnan(tracks["energy"][0]) and tracks["tempo"][5] == 120.0
    assert reopened.attrs["sonicsep_version"]


def test_create_refuses_existing_without_overwrite(tmp_path):
    _create(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match="already exists"):
        _create(tmp_path / "s.zarr")


def test_open_missing_or_foreign_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no feature store"):
        FeatureStore.open(str(tmp_path / "absent.zarr"))
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    with pytest.raises(StoreError, match="schema"):
        FeatureStore.open(str(tmp_path / "other.zarr"))


def test_shards_to_do_tracks_status(tmp_path):
    store = _create(tmp_path / "s.zarr")
    assert store.shards_to_do() == [0, 1, 2]
    store.write_shard(0, _result(store, 0, 1.0))
    store.write_shard(1, _result(store, 1, 2.0, status=FAILED))
    assert store.shards_to_do() == [2]
    assert store.shards_to_do(retry_failed=True) == [1, 2]
    tracks = store.tracks()
    assert set(tracks["status"][:4]) == {"ok"} and set(tracks["error"][4:8]) == {"boom"}
    assert store.read_shard(0).summary[0, 0, 0] == 1.0


def test_write_shard_rejects_wrong_row_count(tmp_path):
    store = _create(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match="rows"):
        store.write_shard(2, _result(store, 0, 1.0))  # shard 2 has 2 tracks, not 4
    assert store.group["status"][8] == PENDING


def test_load_summary_reads_valid_segments_of_ok_tracks_per_split(tmp_path):
    store = _create(tmp_path / "s.zarr")
    for shard in range(3):
        store.write_shard(shard, _result(store, shard, float(shard)))
    X, y, rows = store.load_summary("train")
    assert list(rows) == [0, 3, 6, 9]  # one valid segment each
    assert X.shape == (4, 3) and list(X[:, 0]) == [0.0, 0.0, 1.0, 2.0]
    assert list(y) == [0, 1, 0, 1]
    # splits partition the segments: no track in two splits
    parts = [set(store.load_summary(s)[2]) for s in ("train", "val", "test")]
    assert sum(map(len, parts)) == 10 and not (parts[0] & parts[1] or parts[1] & parts[2])


def test_xarray_sees_labelled_dimensions(tmp_path):
    xr = pytest.importorskip("xarray")
    _create(tmp_path / "s.zarr")
    ds = xr.open_zarr(str(tmp_path / "s.zarr"), consolidated=False)
    assert ds["mel_db"].dims == ("track", "segment", "mel_band", "time")
    assert list(ds["summary_feature"].values) == ["x_mean", "x_var", "y_mean"]
    assert ds["track"].values[3] == "t003"


@pytest.mark.parametrize("n,workers,expected", [(1, 1, 1), (40, 2, 4), (10_000, 32, 64)])
def test_default_tracks_per_shard_is_power_of_two(n, workers, expected):
    assert default_tracks_per_shard(n, workers, FeatureConfig()) == expected


def test_tracks_per_shard_bounds_shard_memory_for_long_tracks():
    hour = FeatureConfig(max_segments=720)  # a 60-minute track kept whole
    tps = default_tracks_per_shard(10_000, 1, hour)
    assert tps == 2 and tps * track_bytes(hour) <= 256 * 2**20
