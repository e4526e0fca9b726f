"""A small, learnable feature store made without audio, for the model tests.

Each genre has its own mean summary vector and its own mel/MFCC pattern, plus noise, so a
classifier trained on it must reach well above chance; tracks without Echonest features exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sonicsep.config import FeatureConfig
from sonicsep.datasets.base import ECHONEST_FEATURES
from sonicsep.datasets.splits import stratified_split
from sonicsep.features.fma import N_FMA
from sonicsep.store import OK, FeatureStore, ShardResult

TINY_CONFIG = FeatureConfig(
    n_mels=16, n_mfcc=8, segment_seconds=1.0, max_segments=3, n_fft=512, hop_length=256
)


def make_synthetic_store(
    url, genres=("ambient", "jazz", "rock"), tracks_per_genre=12, seed=0, config=TINY_CONFIG,
    tracks_per_shard=8, n_summary=10,
) -> FeatureStore:
    rng = np.random.default_rng(seed)
    n = len(genres) * tracks_per_genre
    labels = np.repeat(np.arange(len(genres)), tracks_per_genre)
    tracks = pd.DataFrame(
        {
            "track_id": [f"{genres[g]}.{i:05d}" for i, g in enumerate(labels)],
            "path": [f"/nonexistent/{genres[g]}.{i:05d}.wav" for i, g in enumerate(labels)],
            "label": labels,
            "split": stratified_split(labels, seed=seed),
            "duration": np.full(n, 3.0),
        }
    )
    echonest = rng.uniform(0, 1, (n, len(ECHONEST_FEATURES))) + labels[:, None] * 0.3
    echonest[::4] = np.nan  # every fourth track has no Echonest features
    for j, name in enumerate(ECHONEST_FEATURES):
        tracks[name] = echonest[:, j]
    store = FeatureStore.create(
        str(url), dataset="synthetic", genres=genres, tracks=tracks, config=config,
        summary_names=[f"f{j:02d}_mean" for j in range(n_summary)],
        echonest_names=ECHONEST_FEATURES, tracks_per_shard=tracks_per_shard,
    )
    seg, frames = config.max_segments, config.frames_per_segment
    class_summary = rng.normal(0, 1, (len(genres), n_summary))
    class_mel = rng.normal(-40, 10, (len(genres), config.n_mels, 1))
    class_fma = rng.normal(0, 1, (len(genres), N_FMA))
    for shard in range(store.n_shards):
        sl = store.shard_slice(shard)
        k = sl.stop - sl.start
        res = ShardResult.empty(k, config, n_summary)
        lab = labels[sl]
        res.summary[:] = class_summary[lab][:, None, :] + rng.normal(0, 0.5, (k, seg, n_summary))
        res.mel_db[:] = class_mel[lab][:, None] + rng.normal(0, 5, (k, seg, config.n_mels, frames))
        res.mfcc[:] = res.mel_db[:, :, : config.n_mfcc] / 10
        res.mask[:] = True
        res.n_segments[:] = seg
        res.status[:] = OK
        if config.fma_features:  # FMA's per-track vectors (featurize --fma)
            res.fma_features[:] = class_fma[lab] + rng.normal(0, 0.5, (k, N_FMA))
        store.write_shard(shard, res)
    return store
