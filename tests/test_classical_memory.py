"""Memory of the classical baselines, scaled down: loading a summary feature set allocates a
small multiple of the array it returns, which is what keeps an fma_large-sized run (640k x 74
segments; ``benchmarks/bench_classical.py --shape large``) within its memory budget."""

from __future__ import annotations

import tracemalloc

from synthetic_store import make_synthetic_store

from sonicsep import classical_features
from sonicsep.config import FeatureConfig

# Six segments of 74 summary features as in fma_large; spectrograms tiny (never read here).
CONFIG = FeatureConfig(n_mels=4, n_mfcc=2, segment_seconds=0.1, max_segments=6, n_fft=512,
                       hop_length=512)


def test_summary_set_loads_within_a_small_multiple_of_its_size(tmp_path):
    store = make_synthetic_store(tmp_path / "s.zarr", tracks_per_genre=1000, config=CONFIG,
                                 tracks_per_shard=512, n_summary=74)
    tracemalloc.start()
    try:
        fs = classical_features.load_feature_set(store, "summary")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fs.X.shape == (3000 * 6, 74)
    # Measured 4.2x: FeatureStore.load_summary's Zarr read of the whole summary array (3.95x
    # the result alone), its valid segments gathered, and the finite mask. On fma_large's
    # 640k x 74 float32 (190 MB) that is ~0.8 GB of the 4 GB budget.
    assert peak < 5 * fs.X.nbytes, (peak, fs.X.nbytes)
