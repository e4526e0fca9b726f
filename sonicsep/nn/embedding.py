"""A trained deep model as an embedder of store tracks and audio files, for similarity search.

:class:`ModelEmbedder` gives :mod:`sonicsep.similar` one vector per track: the model's
penultimate-layer embedding (:meth:`TrainedModel.embed`) averaged over the track's valid
segments. A store track and its own audio file get the same vector, because the file is
featurized with the store's config (which must be the model's) and embedded the same way.

Echonest features are never fed to a fusion model here: a query file has none, so store tracks
are embedded without theirs too, and similarity rests on the audio alone.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from sonicsep import metrics
from sonicsep.errors import ModelError
from sonicsep.nn.input_pipeline import STORE_ARRAY
from sonicsep.nn.trained import META_FILE, MODEL_DIR, VARIABLES_FILE, TrainedModel, load_trained
from sonicsep.store import FeatureStore


def model_fingerprint(workdir: str | Path) -> str:
    """A short hash of the exported model (metadata and weights); changes when it is retrained.

    It names the model's similarity index, so an index built with old weights is never reused.
    """
    folder = Path(workdir) / MODEL_DIR
    digest = hashlib.sha256()
    for name in (META_FILE, VARIABLES_FILE):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


def config_differences(model_config: dict, store_config: dict) -> list[str]:
    """``field (model vs store)`` for every feature-config field on which the two disagree."""
    return [
        f"{name} ({model_config.get(name)!r} vs {store_config.get(name)!r})"
        for name in sorted(set(model_config) | set(store_config))
        if model_config.get(name) != store_config.get(name)
    ]


class ModelEmbedder:
    """Embeds store tracks and featurized files with a trained model.

    ``index_name`` names the model's similarity index and its folder
    (``model-<hash of its weights and metadata>``).
    """

    def __init__(self, model: TrainedModel, index_name: str):
        self.model = model
        self.index_name = index_name
        self.array_name = STORE_ARRAY[model.feature]

    @classmethod
    def load(cls, workdir: str | Path, store: FeatureStore) -> ModelEmbedder:
        """The model of a training workdir, checked to read ``store``'s features as they are.

        Raises :class:`ModelError` when the model was trained on another feature config: its
        embedding of this store's segments would be meaningless.
        """
        model = load_trained(workdir)
        differing = config_differences(model.feature_config.to_dict(), store.config.to_dict())
        if differing:
            raise ModelError(
                f"the model in {str(workdir)!r} was trained on another feature config than the "
                f"store {store.url!r}: {', '.join(differing)} (model vs store); use a model "
                "trained on this store's features, or featurize the collection with the "
                "model's config (model/model.json: feature_config)"
            )
        return cls(model, f"model-{model_fingerprint(workdir)}")

    def track_vectors(self, store: FeatureStore) -> tuple[np.ndarray, np.ndarray]:
        """(store rows of ok tracks, mean embedding of each over its valid segments).

        Streams the model's feature array a block of chunks at a time
        (:meth:`FeatureStore.iter_segment_blocks`; a whole mel_db of fma_large is ~70 GB).
        A block holds whole tracks, so each track's mean comes from one block.
        """
        rows, segments = store.segment_index()
        out_rows, out_vectors = [], []
        for picks, values in store.iter_segment_blocks(self.array_name, rows, segments):
            block_rows, means = metrics.mean_by_track(rows[picks], self.model.embed(values))
            out_rows.append(block_rows)
            out_vectors.append(means)
        if not out_rows:
            return np.zeros(0, np.int64), np.zeros((0, 0))
        return np.concatenate(out_rows), np.concatenate(out_vectors)

    def file_vector(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Mean embedding over the segments of one file's :func:`featurize_track` output."""
        embedded = self.model.embed(features[self.array_name])
        # The same mean as track_vectors takes over a store track's segments.
        _, (vector,) = metrics.mean_by_track(np.zeros(len(embedded)), embedded)
        return vector
