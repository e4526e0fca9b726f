"""A trained model on disk: what it is, how its input was made, and its weights.

``WORKDIR/model/`` holds ``model.json`` (model kind and hyperparameters, input feature, genre
list, normalisation statistics, the store's feature config, the transfer input map if any) and
``variables.msgpack`` (Flax-serialised ``params`` and ``batch_stats``). That is everything a
later predict or similarity job needs; :func:`load_trained` turns it back into a
:class:`TrainedModel`. ``variables.msgpack`` is also the format :func:`load_backbone` reads to
initialise a backbone from pretrained weights.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from sonicsep import __version__
from sonicsep.config import FeatureConfig
from sonicsep.errors import ModelError, ParameterError
from sonicsep.nn.config import ModelConfig, TrainConfig
from sonicsep.nn.input_map import InputMap
from sonicsep.nn.input_pipeline import NormStats, normalize_echonest, normalize_features
from sonicsep.nn.models import create_model, model_inputs

MODEL_DIR = "model"
META_FILE = "model.json"
VARIABLES_FILE = "variables.msgpack"
FORMAT_VERSION = 1
# Head names of our models and of the Flax ImageNet example's ResNet: never part of a backbone.
HEAD_NAMES = ("head", "Dense_0")


def export_model(workdir: str | Path, *, config: TrainConfig, variables: dict, meta: dict) -> Path:
    """Write ``WORKDIR/model/``; ``meta`` carries genres, feature_config, norm_stats, etc."""
    folder = Path(workdir) / MODEL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VARIABLES_FILE).write_bytes(flax.serialization.to_bytes(jax.device_get(variables)))
    document = {
        "format": FORMAT_VERSION,
        "sonicsep_version": __version__,
        "model": config.to_dict()["model"],
        "feature": config.feature,
        "train_config": config.to_dict(),
        **meta,
    }
    (folder / META_FILE).write_text(json.dumps(document, indent=2))
    return folder


def read_variables(path: str | Path) -> dict:
    """Flax-msgpack variables (``params`` and optionally ``batch_stats``) as numpy trees."""
    path = Path(path)
    try:
        variables = flax.serialization.msgpack_restore(path.read_bytes())
    except OSError as exc:
        raise ModelError(f"cannot read weights file {str(path)!r}: {exc.strerror}") from exc
    except Exception as exc:  # msgpack raises several unrelated types on corrupt input
        raise ModelError(f"{str(path)!r} is not a Flax msgpack weights file: {exc}") from exc
    if not isinstance(variables, dict) or "params" not in variables:
        raise ModelError(f"{str(path)!r} has no 'params' collection")
    return variables


def load_backbone(path: str | Path) -> dict:
    """Backbone variables from a local weights file, for initialising a model before training.

    Reads a Flax msgpack file holding ``params`` (and ``batch_stats``) trees, either

    * a SonicSep ``variables.msgpack`` (layers under ``params['backbone']``), or
    * the Flax ImageNet example's ResNet (google/flax ``examples/imagenet``; layers at the top
      level, classifier ``Dense_0``): ``{'params': ..., 'batch_stats': ...}`` or the example's
      whole ``TrainState`` as ``flax.serialization.to_bytes`` writes it (its ``step``,
      ``opt_state`` and ``dynamic_scale`` are ignored), which is what a legacy (pre-Orbax)
      ``checkpoint_<step>`` file of the example holds.

    The classifier is dropped either way. Nothing is downloaded. The example's ``ResNet50``
    matches ``ModelConfig(kind="resnet50")`` layer for layer. An Orbax checkpoint directory of
    the example is converted once to the file this reads::

        import flax.serialization
        from flax.training import checkpoints

        state = checkpoints.restore_checkpoint("EXAMPLE_WORKDIR", target=None)  # plain dicts
        variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
        with open("resnet50.msgpack", "wb") as f:
            f.write(flax.serialization.to_bytes(variables))
    """
    variables = read_variables(path)
    out = {}
    for collection in ("params", "batch_stats"):
        tree = variables.get(collection, {})
        tree = tree.get("backbone", tree)
        out[collection] = {k: v for k, v in tree.items() if k not in HEAD_NAMES}
    return out


def with_backbone(variables: dict, backbone: dict, *, source: str = "pretrained weights") -> dict:
    """``variables`` with ``params/batch_stats['backbone']`` replaced by ``backbone``'s.

    Raises :class:`ModelError` naming the first layers whose names or shapes disagree.
    """
    out = dict(variables)
    for collection in ("params", "batch_stats"):
        if collection not in variables:
            continue
        ours = variables[collection]["backbone"]
        theirs = backbone.get(collection, {})
        problems = _tree_mismatches(ours, theirs)
        if problems:
            raise ModelError(
                f"{source} do not fit this model's backbone ({collection}): "
                + "; ".join(problems[:5])
                + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            )
        placed = jax.tree.map(lambda mine, new: jnp.asarray(new, mine.dtype), ours, theirs)
        out[collection] = {**variables[collection], "backbone": placed}
    return out


def _tree_mismatches(ours: dict, theirs: dict) -> list[str]:
    mine = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_leaves_with_path(ours)}
    new = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_leaves_with_path(theirs)}
    problems = [f"missing {k}" for k in sorted(set(mine) - set(new))]
    problems += [f"unexpected {k}" for k in sorted(set(new) - set(mine))]
    problems += [
        f"{k} has shape {np.shape(new[k])}, expected {np.shape(mine[k])}"
        for k in sorted(set(mine) & set(new))
        if np.shape(new[k]) != np.shape(mine[k])
    ]
    return problems


class TrainedModel:
    """A trained classifier ready to predict from raw store-format segments.

    ``segments`` are what the store holds for the model's feature (``mel_db`` or ``mfcc``
    segments [shape=(n, bands, time)], or summary vectors [shape=(n, n_summary)]) under
    ``feature_config``; this class applies the saved input map and normalisation, so callers
    never standardise anything. ``echonest`` [shape=(n, E)] is used by the fusion model; NaN or
    None means absent. ``dtype`` is the computation dtype (default: the one the model was trained
    in); the weights are float32 whatever the dtype, so either runs any model.
    """

    def __init__(self, meta: dict, variables: dict, dtype: str | None = None):
        self.meta = meta
        self.model_config = ModelConfig(**meta["model"])
        self.feature: str = meta["feature"]
        self.genres: tuple[str, ...] = tuple(meta["genres"])
        self.feature_config = FeatureConfig.from_dict(meta["feature_config"])
        self.echonest_names: tuple[str, ...] = tuple(meta["echonest_names"])
        self.stats = NormStats.from_dict(meta["norm_stats"])
        self.input_map = InputMap.from_dict(meta["input_map"]) if meta.get("input_map") else None
        self.batch_size = int(meta["train_config"]["batch_size"])
        self.variables = jax.device_put(variables)
        self.dtype = dtype or meta["train_config"].get("dtype", "float32")
        self.model = create_model(self.model_config, len(self.genres), dtype=self.dtype)

    @property
    def kind(self) -> str:
        return self.model_config.kind

    def predict_proba(self, segments: np.ndarray, echonest: np.ndarray | None = None) -> np.ndarray:
        """Genre probabilities [shape=(n, n_genres)], columns in ``genres`` order."""
        return self._run(self._probabilities, segments, echonest)

    def embed(self, segments: np.ndarray, echonest: np.ndarray | None = None) -> np.ndarray:
        """Penultimate-layer embeddings [shape=(n, d)], for similarity search."""
        return self._run(self._embedding, segments, echonest)

    def _inputs(self, segments, echonest) -> dict:
        x = np.asarray(segments, np.float32)
        if self.input_map is not None:
            x = self.input_map(x)
        n = len(x)
        if echonest is None:
            echonest = np.full((n, len(self.echonest_names)), np.nan, np.float32)
        values, mask = normalize_echonest(echonest, self.stats)
        return {"x": normalize_features(x, self.stats), "echonest": values, "echonest_mask": mask}

    def _run(self, fn, segments, echonest) -> np.ndarray:
        if len(segments) == 0:
            raise ParameterError("segments is empty: predict_proba/embed need at least one")
        batch = self._inputs(segments, echonest)
        n = len(batch["x"])
        outputs = []
        # Fixed-size chunks: one compilation whatever n is.
        for start in range(0, n, self.batch_size):
            chunk = {k: v[start : start + self.batch_size] for k, v in batch.items()}
            size = len(chunk["x"])
            padded = {
                k: np.concatenate([v, np.zeros((self.batch_size - size, *v.shape[1:]), v.dtype)])
                for k, v in chunk.items()
            }
            out = fn(self.variables, *model_inputs(self.model_config, padded))
            outputs.append(np.asarray(out)[:size])
        return np.concatenate(outputs)

    @functools.cached_property
    def _probabilities(self):
        return jax.jit(lambda v, *xs: jax.nn.softmax(self.model.apply(v, *xs, train=False)))

    @functools.cached_property
    def _embedding(self):
        return jax.jit(
            lambda v, *xs: self.model.apply(v, *xs, train=False, method="embed").astype(
                jnp.float32
            )
        )


def load_trained(workdir: str | Path, *, dtype: str | None = None) -> TrainedModel:
    """The model a finished ``python -m sonicsep.train`` (or transfer) run left in ``workdir``,
    computing in ``dtype`` (default: its training dtype)."""
    folder = Path(workdir) / MODEL_DIR
    meta_path, variables_path = folder / META_FILE, folder / VARIABLES_FILE
    if not meta_path.exists() or not variables_path.exists():
        raise ModelError(
            f"no trained model in {str(workdir)!r} (expected {MODEL_DIR}/{META_FILE} and "
            f"{MODEL_DIR}/{VARIABLES_FILE}); train one with `python -m sonicsep.train`, or rerun "
            "the same command to resume a run that stopped"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{meta_path} is not valid JSON: {exc}") from exc
    if meta.get("format") != FORMAT_VERSION:
        raise ModelError(
            f"{meta_path} has format {meta.get('format')!r}; this SonicSep reads format "
            f"{FORMAT_VERSION}: retrain the model"
        )
    return TrainedModel(meta, read_variables(variables_path), dtype)
