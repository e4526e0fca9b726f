"""Direct chunk reads (sonicsep.store_reader) give exactly Zarr's arrays, and fall back to Zarr."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import zarr
from test_store import CONFIG, _create, _result
from zarr.codecs import BloscCodec, ZstdCodec

from sonicsep import store as store_module
from sonicsep.errors import StoreError
from sonicsep.store import PENDING, SEGMENT_ARRAYS, FeatureStore
from sonicsep.store_reader import ChunkReader, read_pairs

CODECS = {
    "uncompressed": None,
    "blosc-zstd": store_module.COMPRESSOR,
    "blosc-lz4": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
    "zstd": ZstdCodec(level=1),
}


def _random_store(url, monkeypatch, codec) -> FeatureStore:
    """10 tracks, shards of 4, 2-track chunks; random values; shard 1 never written (NaN)."""
    monkeypatch.setattr(store_module, "TARGET_CHUNK_BYTES", 2 * store_module.track_bytes(CONFIG))
    monkeypatch.setattr(store_module, "SPECTROGRAM_COMPRESSORS", codec)
    store = _create(url)
    rng = np.random.default_rng(0)
    for shard in (0, 2):
        res = _result(store, shard, 0.0)
        for name in SEGMENT_ARRAYS:
            values = getattr(res, name)
            values[:] = rng.normal(-40, 10, values.shape)
        store.write_shard(shard, res)
    assert store.statuses()[4:8].tolist() == [PENDING] * 4
    return store


def _pairs(seed: int, n_tracks: int = 10, n: int = 25):
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_tracks, n), rng.integers(0, CONFIG.max_segments, n)


def _through_zarr(store: FeatureStore):
    fallback = FeatureStore.open(store.url)
    fallback.direct_reads = False
    return fallback


@pytest.mark.parametrize("codec", list(CODECS))
def test_direct_reads_equal_zarr_for_every_segment_array(tmp_path, monkeypatch, codec):
    store = _random_store(tmp_path / "s.zarr", monkeypatch, CODECS[codec])
    zarr_store = _through_zarr(store)
    rows, segments = _pairs(1)  # duplicates, every shard, the unwritten one included
    for name in SEGMENT_ARRAYS:
        assert store._reader(name) is not None, name
        expect = zarr_store.read_segments(name, rows, segments)
        assert np.isnan(expect[(rows >= 4) & (rows < 8)]).all()
        got = store.read_segments(name, rows, segments)
        np.testing.assert_array_equal(got, expect, err_msg=name)
        assert got.dtype == expect.dtype
        np.testing.assert_array_equal(
            store.read_tracks(name, [9, 0, 5, 0]), zarr_store.read_tracks(name, [9, 0, 5, 0])
        )
        for block_bytes in (1, 3 * store.group[name].nbytes // 5, 2**40):
            direct = list(store.iter_segment_blocks(name, rows, segments,
                                                    max_block_bytes=block_bytes))
            through = list(zarr_store.iter_segment_blocks(name, rows, segments,
                                                          max_block_bytes=block_bytes))
            assert len(direct) == len(through)
            for (p, v), (q, w) in zip(direct, through, strict=True):
                np.testing.assert_array_equal(p, q)
                np.testing.assert_array_equal(v, w, err_msg=f"{name} block {block_bytes}")


def test_spectrograms_are_stored_uncompressed_and_read_by_pread(tmp_path):
    store = _create(tmp_path / "s.zarr")
    assert store.group["mel_db"].compressors == () and store.group["mfcc"].compressors == ()
    assert store.group["summary"].compressors  # small arrays keep the store's compressor
    reader = store._reader("mel_db")
    assert reader is not None and reader._decode is None


def test_fsspec_urls_read_through_zarr_with_the_same_values(tmp_path, monkeypatch):
    store = _random_store(tmp_path / "s.zarr", monkeypatch, store_module.COMPRESSOR)
    remote = FeatureStore.open(f"file://{tmp_path / 's.zarr'}")
    rows, segments = _pairs(2)
    for name in SEGMENT_ARRAYS:
        assert remote._reader(name) is None  # fsspec: Zarr's own read path
        np.testing.assert_array_equal(
            remote.read_segments(name, rows, segments), store.read_segments(name, rows, segments)
        )
        blocks = list(remote.iter_segment_blocks(name, rows, segments, max_block_bytes=1))
        direct = list(store.iter_segment_blocks(name, rows, segments, max_block_bytes=1))
        for (p, v), (q, w) in zip(blocks, direct, strict=True):
            np.testing.assert_array_equal(p, q)
            np.testing.assert_array_equal(v, w)


@pytest.mark.parametrize("codec", [None, ZstdCodec(level=1)])
def test_unsharded_arrays_and_edge_chunks(tmp_path, codec):
    values = np.random.default_rng(3).normal(size=(7, 3, 4, 5)).astype(np.float32)
    array = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=values.shape, chunks=(2, 3, 4, 5), dtype=np.float32,
        fill_value=np.nan, compressors=codec,
    )
    array[:2] = values[:2]
    array[4:] = values[4:]  # rows 2-3 never written (fill value); row 6 fills half a chunk
    reader = ChunkReader.open(array)
    assert reader is not None
    rows, segments = np.array([6, 0, 5, 3, 3, 1, 6]), np.array([2, 0, 1, 2, 2, 0, 0])
    got = read_pairs(reader, rows, segments)
    np.testing.assert_array_equal(got, array.oindex[rows][np.arange(7), segments])
    np.testing.assert_array_equal(got[0], values[6, 2])
    assert np.isnan(got[3:5]).all()
    single = read_pairs(reader, np.array([6, 6]), np.array([1, 0]))  # one chunk, this thread
    np.testing.assert_array_equal(single, values[6, [1, 0]])


def test_layouts_the_reader_does_not_decode_get_none(tmp_path):
    split_segments = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=(4, 3, 4), chunks=(2, 3, 2), dtype=np.float32
    )
    assert ChunkReader.open(split_segments) is None
    gzip = zarr.create_array(
        str(tmp_path / "b.zarr"), shape=(4, 3, 4), chunks=(2, 3, 4), dtype=np.float32,
        compressors=zarr.codecs.GzipCodec(),
    )
    assert ChunkReader.open(gzip) is None


def test_a_corrupt_shard_index_is_an_error_not_wrong_values(tmp_path, monkeypatch):
    store = _random_store(tmp_path / "s.zarr", monkeypatch, None)
    shard = next((tmp_path / "s.zarr" / "mel_db").rglob("c/0/*/*/*"))
    raw = bytearray(shard.read_bytes())
    raw[-10] ^= 0xFF  # inside the index, before its checksum
    shard.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match=r"mel_db.*checksum"):  # names the shard file
        store.read_segments("mel_db", [0], [0])
    shard.write_bytes(b"not a shard")  # shorter than its own index
    with pytest.raises(StoreError, match=r"mel_db.*shard index truncated"):
        store.read_segments("mel_db", [0], [0])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_reads_with_its_own_pool(tmp_path, monkeypatch):
    store = _random_store(tmp_path / "s.zarr", monkeypatch, None)
    rows, segments = _pairs(4)
    expect = store.read_segments("mel_db", rows, segments)  # the parent's pool now exists
    pid = os.fork()
    if pid == 0:  # the parent's pool threads do not exist here: reusing it would hang
        got = store.read_segments("mel_db", rows, segments)
        os._exit(0 if np.array_equal(got, expect, equal_nan=True) else 1)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's read hung")
    assert os.waitstatus_to_exitcode(done[1]) == 0
