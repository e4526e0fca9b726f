"""The accelerator data path: parallel streaming reads, the host and device caches, bfloat16.

Every cache mode must give the very batches streaming gives (same order for a seed and epoch,
same padding, same values), so the choice of mode changes speed and memory, never results.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from helpers import TINY_CNN, make_demo_store

from sonicsep import store as store_module
from sonicsep.errors import ParameterError
from sonicsep.nn.cache import GIB, Batches, SplitCache, cache_bytes, choose_cache
from sonicsep.nn.config import default_config, with_overrides
from sonicsep.nn.input_pipeline import (
    InputPipeline,
    NormStats,
    _normalize_into,
    compute_norm_stats,
    normalize_features,
)
from sonicsep.nn.train import data_mesh, train_and_evaluate
from sonicsep.nn.trained import load_trained
from sonicsep.store import FeatureStore
from tests.synthetic_store import make_synthetic_store

KEYS = ("x", "label", "echonest", "echonest_mask", "weight")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # 4-track chunks (tracks_per_shard 4): a window spans several chunks read in parallel.
    return make_synthetic_store(tmp_path_factory.mktemp("pipe") / "s.zarr", tracks_per_shard=4)


@pytest.fixture(scope="module")
def pipeline(store):
    stats = compute_norm_stats(store, "mel")
    return InputPipeline(store, "mel", stats, batch_size=8, seed=7, shuffle_buffer=10, workers=3)


def _host(pipeline, split, epoch, shuffle):
    return [{k: b[k] for k in KEYS} for b in pipeline.epoch(split, epoch, shuffle=shuffle)]


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for key in KEYS:
            np.testing.assert_array_equal(np.asarray(x[key]), np.asarray(y[key]), err_msg=key)


def test_parallel_reads_give_the_serial_batches_in_a_pure_order(store, pipeline):
    serial = InputPipeline(
        store, "mel", pipeline.stats, batch_size=8, seed=7, shuffle_buffer=10, workers=1
    )
    first = _host(pipeline, "train", 3, True)
    _assert_same_batches(first, _host(serial, "train", 3, True))
    _assert_same_batches(first, _host(pipeline, "train", 3, True))
    other = _host(pipeline, "train", 4, True)
    assert not all(np.array_equal(a["x"], b["x"]) for a, b in zip(first, other, strict=True))
    # The values are the store's segments, in epoch_positions order, normalised.
    rows, segments = pipeline.index("train")
    order = pipeline.epoch_positions("train", 3, shuffle=True)
    raw = store.array("mel_db")[:][rows[order], segments[order]]
    expected = (raw - pipeline.stats.feature_mean[:, None]) / pipeline.stats.feature_std[:, None]
    x = np.concatenate([b["x"] for b in first])[: len(order)]
    np.testing.assert_array_equal(x, expected.astype(np.float32))


def test_batches_do_not_depend_on_how_the_store_is_read(store, pipeline, tmp_path, monkeypatch):
    """Direct reads (the default for a local store), Zarr's (a file:// URL) and a store written
    with compressed spectrograms (the layout before issue 14) give the same batches."""
    monkeypatch.setattr(store_module, "SPECTROGRAM_COMPRESSORS", store_module.COMPRESSOR)
    compressed = make_synthetic_store(tmp_path / "c.zarr", tracks_per_shard=4)
    assert compressed.group["mel_db"].compressors and not store.group["mel_db"].compressors
    expected = _host(pipeline, "train", 5, True)
    for other in (FeatureStore.open(f"file://{store.url}"), compressed):
        same = InputPipeline(other, "mel", pipeline.stats, batch_size=8, seed=7,
                             shuffle_buffer=10, workers=2)
        _assert_same_batches(expected, _host(same, "train", 5, True))


@pytest.mark.parametrize("split, shuffle", [("train", True), ("val", False), ("test", False)])
def test_cached_batches_equal_streamed_ones(pipeline, split, shuffle):
    mesh = data_mesh()
    streamed = _host(pipeline, split, 2, shuffle)
    for mode in ("host", "device"):
        cached = list(Batches(pipeline, mode, mesh, "float32").epoch(split, 2, shuffle=shuffle))
        _assert_same_batches(streamed, jax.device_get(cached))


def test_cache_modes_follow_the_budget(pipeline):
    devices = jax.local_devices()
    need = cache_bytes(pipeline, "float32")
    assert cache_bytes(pipeline, "bfloat16") < need
    assert choose_cache("auto", need, devices, None)[0] == "device"
    assert choose_cache("auto", need, devices, need / GIB / 2)[0] == "none"
    assert choose_cache("none", need, devices, None)[0] == "none"
    assert choose_cache("host", need, devices, need / GIB)[0] == "host"
    with pytest.raises(ParameterError, match="cache='device'.*GiB"):
        choose_cache("device", need, devices, need / GIB / 2)


def test_split_cache_pads_rows_for_the_devices(pipeline):
    cache = SplitCache.load(pipeline, "bfloat16")
    assert cache.arrays["x"].dtype == jax.numpy.bfloat16
    padded = cache.padded_for(cache.n_rows + 3)
    assert padded.n_rows == cache.n_rows + 3 and padded.arrays["weight"][-3:].sum() == 0


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_store(tmp_path_factory.mktemp("demo"), n_per_genre=4)


def test_bfloat16_reaches_the_float32_accuracy_and_models_cross_dtypes(demo, tmp_path):
    # Mixed precision: bfloat16 activations, float32 parameters, optimizer state, batch-norm
    # statistics and loss. Tolerance: 0.15 of validation accuracy on the demo store's 5 genres.
    config = with_overrides(default_config("cnn"), {**TINY_CNN, "epochs": 3})
    scores, states = {}, {}
    for dtype in ("float32", "bfloat16"):
        states[dtype] = train_and_evaluate(config.replace(dtype=dtype), tmp_path / dtype, demo.url)
        metrics = json.loads((tmp_path / dtype / "metrics.json").read_text())
        assert metrics["dtype"] == dtype
        scores[dtype] = metrics["val"]["segment_accuracy"]
    assert scores["float32"] > 0.3  # 5 genres: chance is 0.2
    assert abs(scores["bfloat16"] - scores["float32"]) <= 0.15, scores
    for tree in (states["bfloat16"].params, states["bfloat16"].batch_stats,
                 states["bfloat16"].opt_state):
        assert {leaf.dtype for leaf in jax.tree.leaves(tree) if hasattr(leaf, "dtype")} <= {
            np.dtype("float32"), np.dtype("int32")
        }
    # A model runs in either dtype: the weights are float32 arrays either way.
    rows, segments = demo.segment_index("val")
    mel = demo.array("mel_db")[:][rows, segments]
    f32 = load_trained(tmp_path / "float32")
    as_bf16 = load_trained(tmp_path / "float32", dtype="bfloat16")
    np.testing.assert_allclose(as_bf16.predict_proba(mel), f32.predict_proba(mel), atol=0.05)
    assert load_trained(tmp_path / "bfloat16").embed(mel[:2]).dtype == np.float32
    # A float32 run resumes and grows in bfloat16 from its checkpoint.
    grown = train_and_evaluate(
        config.replace(dtype="bfloat16", epochs=4), tmp_path / "float32", demo.url
    )
    assert int(grown.step) == int(states["float32"].step) * 4 // 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_normalize_scatter_equals_numpy_bit_for_bit(dtype):
    """The readers' one-pass normalise-and-scatter gives NumPy's bits (float32 throughout), and
    any other dtype takes NumPy's path."""
    rng = np.random.default_rng(3)
    values = (rng.normal(-30, 20, size=(5, 16, 40))).astype(np.float32)
    stats = NormStats(
        feature_mean=rng.normal(-30, 5, 16).astype(np.float32),
        feature_std=rng.uniform(0.5, 20, 16).astype(np.float32),
        echonest_mean=np.zeros(8, np.float32),
        echonest_std=np.ones(8, np.float32),
    )
    rows = np.array([7, 0, 3, 9, 4])
    x = np.full((10, 16, 40), np.nan, dtype)
    expected = x.copy()
    expected[rows] = normalize_features(values.copy(), stats)
    _normalize_into(x, rows, values, stats)
    np.testing.assert_array_equal(x, expected)
    assert np.isnan(x[[1, 2, 5, 6, 8]]).all()
