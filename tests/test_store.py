"""The Zarr schema: layout, chunk/shard alignment, status bookkeeping, readers."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from sonicsep import store as store_module
from sonicsep.config import FeatureConfig
from sonicsep.errors import StoreError
from sonicsep.objects import create_object, read_object, remove_object
from sonicsep.store import (
    ABSENT,
    COMPLETE,
    FAILED,
    FOREIGN,
    INCOMPLETE,
    LEASE_KEY,
    OK,
    PENDING,
    FeatureStore,
    ShardResult,
    default_tracks_per_shard,
    store_state,
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
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w").attrs["owner"] = "another tool"
    with pytest.raises(StoreError, match="schema"):
        FeatureStore.open(str(tmp_path / "other.zarr"))


# ---------------------------------------------------------------------- interrupted creation
def _fail_attributes(monkeypatch):
    """Make the store's final attribute write fail: a create stopped after its arrays."""

    def fail(self, attrs):
        raise RuntimeError("killed")

    monkeypatch.setattr(zarr.core.attributes.Attributes, "put", fail)


def test_create_interrupted_before_attributes_is_rebuilt_without_overwrite(tmp_path, monkeypatch):
    url = str(tmp_path / "s.zarr")
    with monkeypatch.context() as patch:
        _fail_attributes(patch)
        with pytest.raises(RuntimeError, match="killed"):
            _create(url)
    assert store_state(url) == INCOMPLETE
    with pytest.raises(StoreError, match="incomplete feature store .* run the same"):
        FeatureStore.open(url)
    store = _create(url, n=6)  # no overwrite needed
    assert store_state(url) == COMPLETE
    reopened = FeatureStore.open(url)
    assert reopened.n_tracks == 6 and reopened.counts() == {"pending": 6, "ok": 0, "failed": 0}
    assert "sonicsep_creating" not in reopened.attrs
    assert reopened.attrs["store_id"] == store.attrs["store_id"]


def test_store_state_tells_absent_complete_foreign_and_legacy_incomplete(tmp_path):
    assert store_state(str(tmp_path / "none.zarr")) == ABSENT
    _create(tmp_path / "s.zarr")
    assert store_state(str(tmp_path / "s.zarr")) == COMPLETE
    # Killed during an old create: arrays of ours, no attributes at all.
    legacy = zarr.open_group(str(tmp_path / "legacy.zarr"), mode="w")
    legacy.create_array("status", shape=(3,), dtype=np.int8)
    assert store_state(str(tmp_path / "legacy.zarr")) == INCOMPLETE
    assert _create(tmp_path / "legacy.zarr").n_tracks == 10
    # Someone else's data is never deleted without overwrite.
    foreign = zarr.open_group(str(tmp_path / "foreign.zarr"), mode="w")
    foreign.create_array("weights", shape=(3,), dtype=np.int8)
    assert store_state(str(tmp_path / "foreign.zarr")) == FOREIGN
    with pytest.raises(StoreError, match="already exists; pass overwrite"):
        _create(tmp_path / "foreign.zarr")
    (tmp_path / "garbled.zarr").mkdir()
    (tmp_path / "garbled.zarr" / "zarr.json").write_text("{not json")
    assert store_state(str(tmp_path / "garbled.zarr")) == FOREIGN


KILL_DURING_CREATE = """
import os, signal, sys, zarr
sys.path.insert(0, sys.argv[2])
import test_store
zarr.core.attributes.Attributes.put = lambda self, attrs: os.kill(os.getpid(), signal.SIGKILL)
test_store._create(sys.argv[1])
"""


def test_sigkill_between_arrays_and_attributes_leaves_a_store_rerun_rebuilds(tmp_path):
    url = str(tmp_path / "s.zarr")
    tests_dir = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, "-c", KILL_DURING_CREATE, url, tests_dir], timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert (tmp_path / "s.zarr" / "mel_db" / "zarr.json").exists()
    assert store_state(url) == INCOMPLETE
    assert _create(url).counts() == {"pending": 10, "ok": 0, "failed": 0}


def test_overwrite_keeps_the_lease_of_the_run_that_rebuilds(tmp_path):
    url = str(tmp_path / "s.zarr")
    _create(url)
    assert create_object(url, LEASE_KEY, b"held")
    store = FeatureStore.create(
        url, dataset="unit", genres=("a",), tracks=_tracks(3), config=CONFIG,
        summary_names=["x_mean"], echonest_names=ECHONEST, tracks_per_shard=2, overwrite=True,
    )
    assert store.n_tracks == 3 and read_object(url, LEASE_KEY) == b"held"
    assert not create_object(url, LEASE_KEY, b"second")  # exclusive
    assert not remove_object(url, LEASE_KEY, expected=b"other")  # compare-and-delete
    assert read_object(url, LEASE_KEY) == b"held"
    assert remove_object(url, LEASE_KEY, expected=b"held")
    assert read_object(url, LEASE_KEY) is None
    assert sorted(p.name for p in (tmp_path / "s.zarr").iterdir() if "lease" in p.name) == []


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
    train, val, test = (set(store.load_summary(s)[2]) for s in ("train", "val", "test"))
    assert len(train) + len(val) + len(test) == 10
    assert not (train & val or val & test or train & test)


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


# ---------------------------------------------------------------------- segment readers
@pytest.fixture
def coded(tmp_path, monkeypatch):
    """10 tracks in shards of 4 and mel_db chunks of 2; value = 10 * row + segment."""
    monkeypatch.setattr(store_module, "TARGET_CHUNK_BYTES", 2 * store_module.track_bytes(CONFIG))
    store = _create(tmp_path / "s.zarr")
    for shard in range(store.n_shards):
        sl = store.shard_slice(shard)
        res = _result(store, shard, 0.0)
        code = 10.0 * np.arange(sl.start, sl.stop)[:, None] + np.arange(CONFIG.max_segments)
        res.mel_db[:] = code[:, :, None, None]
        res.summary[:] = code[:, :, None]
        store.write_shard(shard, res)
    assert store.group["mel_db"].chunks[0] == 2 and store.group["mel_db"].shards[0] == 4
    return store


# A subset of rows, some with both segments, across all three shards.
ROWS = np.array([0, 1, 1, 3, 4, 5, 5, 6, 8, 9])
SEGMENTS = np.array([1, 0, 1, 0, 1, 0, 1, 1, 0, 1])


def _codes(values):
    return values.reshape(len(values), -1)[:, 0]


@pytest.mark.parametrize("chunks_per_block,expected_blocks", [(1, 5), (3, 2), (100, 1)])
def test_iter_segment_blocks_yields_each_segment_once_in_store_order(
    coded, chunks_per_block, expected_blocks
):
    chunk_bytes = 2 * CONFIG.max_segments * CONFIG.n_mels * CONFIG.frames_per_segment * 4
    blocks = list(
        coded.iter_segment_blocks(
            "mel_db", ROWS, SEGMENTS, max_block_bytes=chunks_per_block * chunk_bytes
        )
    )
    assert len(blocks) == expected_blocks
    picks = np.concatenate([p for p, _ in blocks])
    assert list(picks) == list(range(len(ROWS)))  # every segment once, in the order asked
    for p, values in blocks:
        assert values.shape == (len(p), CONFIG.n_mels, CONFIG.frames_per_segment)
        assert list(_codes(values)) == list(10 * ROWS[p] + SEGMENTS[p])
        # a block is a run of whole chunks: no chunk is split between two blocks
        assert len(np.unique(ROWS[p] // (2 * chunks_per_block))) == 1


def test_iter_segment_blocks_skips_unrequested_chunks_and_keeps_input_order(coded):
    rows, segments = np.array([9, 0, 8, 1]), np.array([0, 1, 1, 0])
    blocks = list(coded.iter_segment_blocks("mel_db", rows, segments, max_block_bytes=1))
    assert [list(p) for p, _ in blocks] == [[1, 3], [0, 2]]  # chunk of rows 0-1, then 8-9
    assert [list(_codes(v)) for _, v in blocks] == [[1.0, 10.0], [90.0, 81.0]]
    assert list(coded.iter_segment_blocks("mel_db", [], [])) == []


def test_read_segments_and_read_tracks_equal_the_stream(coded):
    streamed = np.empty((len(ROWS), CONFIG.n_mels, CONFIG.frames_per_segment), np.float32)
    for p, values in coded.iter_segment_blocks("mel_db", ROWS, SEGMENTS, max_block_bytes=1):
        streamed[p] = values
    shuffled = np.random.default_rng(0).permutation(len(ROWS))
    np.testing.assert_array_equal(
        coded.read_segments("mel_db", ROWS[shuffled], SEGMENTS[shuffled]), streamed[shuffled]
    )
    tracks = coded.read_tracks("mel_db", [9, 2, 2, 5])
    assert tracks.shape == (4, CONFIG.max_segments, CONFIG.n_mels, CONFIG.frames_per_segment)
    assert _codes(tracks.reshape(8, CONFIG.n_mels, -1)).tolist() == [90, 91, 20, 21, 20, 21, 50, 51]
    assert coded.read_segments("mel_db", [], []).shape == (0, *coded.segment_shape("mel_db"))
    assert coded.segment_shape("summary") == (3,)
    assert list(coded.chunk_of("mel_db", [0, 1, 2, 9])) == [0, 0, 1, 4]


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s: s.read_segments("mask", [0], [0]), "unknown segment array 'mask'"),
        (lambda s: s.read_segments("mel_db", [10], [0]), r"track rows must lie in \[0, 10\)"),
        (lambda s: s.read_tracks("mfcc", [-1]), "track rows"),
        (lambda s: list(s.iter_segment_blocks("mel_db", [0, 1], [0])), "must pair up"),
    ],
)
def test_segment_readers_reject_bad_requests(coded, call, match):
    with pytest.raises(StoreError, match=match):
        call(coded)


def test_fingerprint_follows_statuses_and_attributes(tmp_path):
    store = _create(tmp_path / "s.zarr")
    before = store.fingerprint()
    assert FeatureStore.open(store.url).fingerprint() == before
    assert _create(tmp_path / "t.zarr").fingerprint() != before  # same tracks, new store_id
    store.write_shard(2, _result(store, 2, 1.0, status=FAILED))
    assert store.fingerprint() != before
