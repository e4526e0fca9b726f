"""Shared test helpers: the tiny demo store of real (synthetic-music) audio and a tiny CNN.

The demo store is featurized in-process with a small config, so a test can go back from a store
row to the audio file it came from. The predict, similar, report and scripts tests share them;
import them as ``from helpers import ...`` (pytest puts ``tests/`` on ``sys.path``, as for
``synthetic_store``).
"""

from __future__ import annotations

from pathlib import Path

from synthetic_store import TINY_CONFIG

from sonicsep.datasets import load_dataset
from sonicsep.featurize import featurize_shard, prepare_store
from sonicsep.store import FeatureStore

# 1 s segments, at most 3 of them: a 3.5 s clip gives 3 stored segments and a 4th, padded one
# when a whole file is read. The synthetic store's config, so models can move between the two.
TINY_FEATURES = TINY_CONFIG
CLIP_SECONDS = 3.5
TINY_CNN = {
    "epochs": 2,
    "batch_size": 8,
    "shuffle_buffer": 16,
    "learning_rate": 1e-2,
    "model": {"cnn_features": [4, 4], "cnn_kernels": [3, 2], "cnn_dense": 16},
}
ONE_POINT_GRIDS = {"knn": {"n_neighbors": (3,), "leaf_size": (30,)}, "svm": {"kernel": ("rbf",)}}


def make_demo_store(folder: Path, n_per_genre: int = 4, config=TINY_FEATURES) -> FeatureStore:
    """The demo corpus (5 genres, ``n_per_genre`` clips each) featurized without Dask."""
    dataset = load_dataset(
        "demo", root=folder / "corpus", n_per_genre=n_per_genre, clip_seconds=CLIP_SECONDS
    )
    store = prepare_store(str(folder / "demo.zarr"), dataset, config, workers=1, overwrite=False)
    for shard in range(store.n_shards):
        featurize_shard(store.url, shard)
    return FeatureStore.open(store.url)


def train_tiny_cnn(store: FeatureStore, workdir: Path, feature: str = "mel") -> Path:
    """:data:`TINY_CNN` trained on ``store`` into ``workdir`` (returned)."""
    from sonicsep.nn.config import default_config, with_overrides
    from sonicsep.nn.train import train_and_evaluate

    config = with_overrides(default_config("cnn", feature), TINY_CNN)
    train_and_evaluate(config, workdir, store.url)
    return workdir


def track_path(store: FeatureStore, row: int) -> str:
    """The audio file of store row ``row``."""
    return str(store.strings("path")[row])
