"""Unit tests of the deep-model building blocks: input pipeline, input map, models, helpers.

Models are built on tiny inputs so JAX compile time stays small.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import threading
import tomllib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sonicsep import metrics
from sonicsep.config import FeatureConfig
from sonicsep.errors import ConfigError, ModelError
from sonicsep.nn.config import ModelConfig, TrainConfig, default_config, with_overrides
from sonicsep.nn.input_map import InputMap, plan_input_map
from sonicsep.nn.input_pipeline import (
    InputPipeline,
    compute_norm_stats,
    epoch_order,
    fixed_size_batches,
    normalize_echonest,
    prefetch,
)
from sonicsep.nn.models import create_model, model_inputs, spectrogram_to_image
from sonicsep.nn.train import data_mesh, head_labels, l2_penalty, split_metrics
from sonicsep.nn.trained import load_backbone, with_backbone
from tests.synthetic_store import TINY_CONFIG, make_synthetic_store

TINY_RESNET = ModelConfig(kind="resnet50", resnet_stages=(1, 1), resnet_width=2, image_size=16)
REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The first jax release with jax.sharding.AxisType and make_mesh(axis_types=...), which
# data_mesh uses (0.5.0 to 0.5.2 spell it AxisTypes and take auto_axes=/explicit_axes=).
JAX_API_FLOOR = "0.5.3"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_synthetic_store(tmp_path_factory.mktemp("nn") / "store.zarr")


@pytest.fixture(scope="module")
def stats(store):
    return compute_norm_stats(store, "mel")


# ---------------------------------------------------------------------- config
def test_presets_and_overrides():
    mlp = default_config("mlp")
    assert (mlp.feature, mlp.l2, mlp.model.mlp_hidden) == ("summary", 1e-3, (64, 32, 16))
    cnn = with_overrides(default_config("cnn", "mfcc"), {"model": {"cnn_dense": 8}, "epochs": 2})
    assert (cnn.feature, cnn.model.cnn_dense, cnn.model.dropout, cnn.epochs) == ("mfcc", 8, 0.3, 2)
    assert TrainConfig.from_dict(cnn.to_dict()) == cnn
    assert default_config("resnet50").model.resnet_stages == (3, 4, 6, 3)


@pytest.mark.parametrize(
    "overrides, parameter",
    [({"feature": "mel"}, "feature"), ({"epochs": 0}, "epochs"), ({"bogus": 1}, "bogus")],
)
def test_bad_config_names_the_parameter(overrides, parameter):
    with pytest.raises(ConfigError, match=parameter):
        with_overrides(default_config("mlp"), overrides)


# ---------------------------------------------------------------------- input pipeline
def test_epoch_order_depends_on_seed_and_epoch_only():
    chunks = np.repeat(np.arange(10), 7)
    a = epoch_order(chunks, seed=3, epoch=1, buffer=16)
    assert np.array_equal(a, epoch_order(chunks, seed=3, epoch=1, buffer=16))
    assert not np.array_equal(a, epoch_order(chunks, seed=3, epoch=2, buffer=16))
    assert not np.array_equal(a, epoch_order(chunks, seed=4, epoch=1, buffer=16))
    assert sorted(a) == list(range(len(chunks)))
    # Chunk-local: each window of 16 draws from at most ceil(16 / 7) + 1 chunks.
    assert all(len(set(chunks[a[i : i + 16]])) <= 4 for i in range(0, len(a), 16))


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_batches_respect_the_split_and_pad_the_last(store, stats, split):
    pipeline = InputPipeline(store, "mel", stats, batch_size=8, seed=0, shuffle_buffer=16)
    batches = list(pipeline.epoch(split, epoch=1, shuffle=True))
    assert len(batches) == pipeline.steps(split)
    assert all(b["x"].shape == (8, 16, TINY_CONFIG.frames_per_segment) for b in batches)
    weight = np.concatenate([b["weight"] for b in batches])
    tracks = np.concatenate([b["track"] for b in batches])
    assert weight.sum() == pipeline.n_segments(split)
    assert (tracks[weight == 0] == -1).all()
    table = store.tracks()
    assert set(table["split"].to_numpy()[tracks[weight > 0]]) == {split}
    rows, segments = store.segment_index(split)
    labels = np.concatenate([b["label"] for b in batches])
    seen = sorted(zip(tracks[weight > 0], labels[weight > 0], strict=True))
    assert seen == sorted(zip(rows, table["label"].to_numpy()[rows], strict=True))
    assert len(set(zip(rows, segments, strict=True))) == weight.sum()


def test_shuffled_batches_are_reproducible_and_normalised(store, stats):
    pipeline = InputPipeline(store, "mel", stats, batch_size=8, seed=5, shuffle_buffer=16)
    first = [b["track"] for b in pipeline.epoch("train", 2, shuffle=True)]
    again = [b["track"] for b in pipeline.epoch("train", 2, shuffle=True)]
    other = [b["track"] for b in pipeline.epoch("train", 3, shuffle=True)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    x = np.concatenate([b["x"][b["weight"] > 0] for b in pipeline.epoch("train")])
    np.testing.assert_allclose(x.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=(0, 2)), 1, atol=1e-3)


def test_norm_stats_come_from_the_training_split_only(store, stats):
    rows, segments = store.segment_index("train")
    mel = store.array("mel_db")[:][rows, segments].astype(np.float64)
    np.testing.assert_allclose(stats.feature_mean, mel.mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(stats.feature_std, mel.std(axis=(0, 2)), rtol=1e-4)
    echonest = store.array("echonest")[:][np.unique(rows)]
    np.testing.assert_allclose(stats.echonest_mean, np.nanmean(echonest, axis=0), rtol=1e-5)
    assert compute_norm_stats(store, "mel", standardize=False).feature_mean is None


def test_missing_echonest_is_zero_and_masked(stats):
    values = np.array([[np.nan] * 8, stats.echonest_mean + stats.echonest_std])
    scaled, present = normalize_echonest(values, stats)
    assert np.array_equal(present, [[0] * 8, [1] * 8])
    np.testing.assert_allclose(scaled, [[0] * 8, [1] * 8], atol=1e-5)


def test_fixed_size_batches_copy_only_the_remainder():
    windows = ({"weight": np.ones(n, np.float32), "track": np.arange(n)} for n in (5, 2, 6))
    batches = list(fixed_size_batches(windows, 4))
    assert [len(b["weight"]) for b in batches] == [4, 4, 4, 4]
    assert [b["weight"].sum() for b in batches] == [4, 4, 4, 1]
    assert list(batches[-1]["track"]) == [5, -1, -1, -1]


def test_prefetch_reraises_and_stops_on_close():
    def failing():
        yield 1
        raise ValueError("boom")

    it = prefetch(failing(), 2)
    assert next(it) == 1
    with pytest.raises(ValueError, match="boom"):
        next(it)
    before = threading.active_count()
    endless = prefetch(iter(range(10**9)), 2)
    assert next(endless) == 0
    endless.close()
    for _ in range(50):
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.05)
    assert threading.active_count() <= before


# ---------------------------------------------------------------------- input map
def test_input_map_identity_crop_and_resample():
    assert plan_input_map(TINY_CONFIG, TINY_CONFIG, "mel") is None
    longer = TINY_CONFIG.replace(segment_seconds=2.0, n_mels=32)
    plan = plan_input_map(TINY_CONFIG, longer, "mel")
    assert (plan.bands, plan.frames, plan.mel_bands_in) == (16, TINY_CONFIG.frames_per_segment, 32)
    x = np.broadcast_to(
        np.arange(32, dtype=np.float32)[:, None], (2, 32, longer.frames_per_segment)
    )
    out = plan(x)
    assert out.shape == (2, 16, TINY_CONFIG.frames_per_segment)
    assert np.all(np.diff(out[0, :, 0]) > 0)  # bands stay ordered low to high
    faster = TINY_CONFIG.replace(hop_length=128, segment_seconds=1.0)
    plan = plan_input_map(TINY_CONFIG, faster, "mfcc")
    assert plan.time_scale == pytest.approx(0.5) and plan.mel_bands_in is None
    ramp = np.broadcast_to(np.arange(faster.frames_per_segment, dtype=np.float32), (1, 8, 173))
    np.testing.assert_allclose(plan(ramp)[0, 0, :4], [0, 2, 4, 6])
    assert InputMap.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize(
    "change, message",
    [
        ({"n_fft": 1024}, "n_fft"),
        ({"segment_seconds": 0.5}, "shorter"),
        ({"fmin": 30.0}, "fmin"),
    ],
)
def test_input_map_refuses_what_it_cannot_map(change, message):
    with pytest.raises(ModelError, match=message):
        plan_input_map(TINY_CONFIG, TINY_CONFIG.replace(**change), "mel")
    with pytest.raises(ModelError, match="n_mfcc"):
        plan_input_map(TINY_CONFIG, TINY_CONFIG.replace(n_mfcc=4), "mfcc")


def test_summary_transfer_needs_identical_summaries():
    names = ("a_mean", "b_mean")
    assert (
        plan_input_map(
            TINY_CONFIG, TINY_CONFIG, "summary", source_summary=names, target_summary=names
        )
        is None
    )
    with pytest.raises(ModelError, match="summary"):
        plan_input_map(
            TINY_CONFIG, FeatureConfig(), "summary", source_summary=names, target_summary=names
        )


# ---------------------------------------------------------------------- models
def _batch(n=4, bands=8, frames=12, n_echonest=8):
    rng = np.random.default_rng(0)
    return {
        "x": jnp.asarray(rng.normal(size=(n, bands, frames)), jnp.float32),
        "echonest": jnp.zeros((n, n_echonest)),
        "echonest_mask": jnp.ones((n, n_echonest)),
    }


@pytest.mark.parametrize(
    "config, embedding",
    [
        (ModelConfig(kind="cnn", cnn_features=(4, 4), cnn_kernels=(3, 2), cnn_dense=6), 6),
        (ModelConfig(kind="fusion", cnn_features=(4,), cnn_kernels=(3,), cnn_dense=6), 6 + 16),
        (TINY_RESNET, 2 * 2 * 4),
        (TINY_RESNET.__class__(**{**TINY_RESNET.__dict__, "resnet_bottleneck": False}), 4),
    ],
    ids=["cnn", "fusion", "resnet-bottleneck", "resnet-basic"],
)
def test_models_give_logits_and_embeddings(config, embedding):
    model = create_model(config, 3)
    inputs = model_inputs(config, _batch())
    # Jitted: one compilation is faster than running the layers op by op.
    variables = jax.jit(lambda key: model.init(key, *inputs))(jax.random.key(0))
    assert set(variables["params"]) == {"backbone", "head"}
    logits, embedded = jax.jit(
        lambda v: (model.apply(v, *inputs), model.apply(v, *inputs, method="embed"))
    )(variables)
    assert logits.shape == (4, 3) and embedded.shape == (4, embedding)


def test_mlp_is_64_32_16():
    model = create_model(ModelConfig(kind="mlp"), 5)
    variables = model.init(jax.random.key(0), jnp.zeros((2, 10)))
    shapes = [variables["params"]["backbone"][f"Dense_{i}"]["kernel"].shape for i in range(3)]
    assert shapes == [(10, 64), (64, 32), (32, 16)]
    assert variables["params"]["head"]["kernel"].shape == (16, 5)
    # Keras-style L2 covers kernels only.
    expected = sum(
        float(jnp.sum(v["kernel"] ** 2)) for v in variables["params"]["backbone"].values()
    )
    expected += float(jnp.sum(variables["params"]["head"]["kernel"] ** 2))
    assert float(l2_penalty(variables["params"])) == pytest.approx(expected, rel=1e-5)
    assert head_labels(variables["params"]) == {"backbone": "frozen", "head": "head"}


def test_padding_rows_do_not_touch_batch_statistics():
    config = ModelConfig(kind="cnn", cnn_features=(4,), cnn_kernels=(3,), cnn_dense=6)
    model = create_model(config, 3)
    batch = _batch(n=4)
    variables = model.init(jax.random.key(0), batch["x"])
    padded = batch["x"].at[2:].set(100.0)

    def stats(x, mask):
        _, updates = model.apply(
            variables,
            x,
            train=True,
            mask=mask,
            rngs={"dropout": jax.random.key(1)},
            mutable=["batch_stats"],
        )
        return updates["batch_stats"]

    masked = stats(padded, jnp.array([1.0, 1.0, 0.0, 0.0]))
    real_only = stats(batch["x"][:2], None)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), masked, real_only
    )


def test_spectrogram_to_image_is_imagenet_scaled_grayscale():
    x = jnp.asarray(np.random.default_rng(0).uniform(-80, 0, (2, 8, 12)), jnp.float32)
    image = spectrogram_to_image(x, 16)
    assert image.shape == (2, 16, 16, 3)
    gray = image * jnp.asarray([0.229, 0.224, 0.225]) + jnp.asarray([0.485, 0.456, 0.406])
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-5)
    assert float(gray.min()) >= -1e-5 and float(gray.max()) <= 1 + 1e-5


def test_pretrained_backbone_loads_from_a_local_file(tmp_path):
    import flax.serialization

    model = create_model(TINY_RESNET, 3)
    x = _batch()["x"]
    init = jax.jit(lambda key: model.init(key, x))
    source, fresh = init(jax.random.key(1)), init(jax.random.key(2))
    # Layers at the top level, classifier Dense_0; the real example's names are checked below.
    imagenet_style = {
        c: {**jax.device_get(source[c]["backbone"]), "Dense_0": {"kernel": np.zeros((4, 1000))}}
        for c in ("params", "batch_stats")
    }
    path = tmp_path / "resnet.msgpack"
    path.write_bytes(flax.serialization.to_bytes(imagenet_style))
    loaded = with_backbone(fresh, load_backbone(path))
    jax.tree.map(
        np.testing.assert_array_equal, loaded["params"]["backbone"], source["params"]["backbone"]
    )
    jax.tree.map(np.testing.assert_array_equal, loaded["params"]["head"], fresh["params"]["head"])
    wider = create_model(ModelConfig(**{**TINY_RESNET.__dict__, "resnet_width": 4}), 3)
    wider_variables = jax.eval_shape(lambda: wider.init(jax.random.key(0), x))
    with pytest.raises(ModelError, match="shape"):
        with_backbone(wider_variables, load_backbone(path))
    (tmp_path / "junk.msgpack").write_bytes(b"not msgpack")
    with pytest.raises(ModelError, match="msgpack"):
        load_backbone(tmp_path / "junk.msgpack")


def test_the_flax_imagenet_examples_resnet50_loads_as_the_backbone(tmp_path):
    import flax.serialization

    # Paths and shapes derived from google/flax examples/imagenet/models.py, not from our code.
    listed = json.loads((FIXTURES / "flax_imagenet_resnet50_params.json").read_text())
    # Each leaf filled with its own index, so a value landing on another path is caught;
    # float16 halves the file (with_backbone casts to the model's float32).
    trees, fill = {}, {}
    for collection in ("params", "batch_stats"):
        for path, shape in listed[collection]:
            fill[collection, path] = len(fill) + 1
            node = trees.setdefault(collection, {})
            *parents, leaf = path.split("/")
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = np.full(shape, fill[collection, path], np.float16)
    # The example's TrainState as flax.serialization.to_bytes writes it (a legacy checkpoint).
    train_state = {
        "step": 1000,
        "params": trees["params"],
        "opt_state": {"0": {"trace": trees["params"]}, "1": {}},
        "batch_stats": trees["batch_stats"],
        "dynamic_scale": None,
    }
    path = tmp_path / "imagenet_resnet50.msgpack"
    path.write_bytes(flax.serialization.to_bytes(train_state))
    del trees, train_state

    model = create_model(ModelConfig(kind="resnet50"), 10)
    ours = jax.eval_shape(lambda: model.init(jax.random.key(0), _batch(n=1)["x"]))
    loaded = with_backbone(ours, load_backbone(path))
    for collection in ("params", "batch_stats"):
        backbone = {
            "/".join(k.key for k in keys): leaf
            for keys, leaf in jax.tree_util.tree_leaves_with_path(loaded[collection]["backbone"])
        }
        expected = {p for c, p in fill if c == collection and not p.startswith("Dense_0/")}
        assert set(backbone) == expected
        for name, leaf in backbone.items():
            assert leaf.dtype == jnp.float32
            assert bool(jnp.all(leaf == fill[collection, name])), name
    assert len(fill) == 161 + 106  # ResNet-50: 161 parameter and 106 statistics arrays


# ---------------------------------------------------------------------- dependencies
def _dependency_floors() -> dict[str, str]:
    """``name -> lowest allowed version`` of pyproject's ``name>=version`` dependencies."""
    floors = {}
    for line in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, _, version = line.partition(">=")
        floors[name.split("[")[0].strip()] = version.split(",")[0].strip()
    return floors


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


def test_the_jax_floor_has_the_sharding_api_the_code_uses():
    floors = _dependency_floors()
    assert _version(floors["jax"]) >= _version(JAX_API_FLOOR)
    for name in ("jax", "flax", "optax", "orbax-checkpoint"):
        installed = importlib.metadata.version(name)
        assert _version(installed) >= _version(floors[name]), (name, installed, floors[name])
    assert "axis_types" in inspect.signature(jax.make_mesh).parameters
    mesh = data_mesh()
    assert mesh.axis_names == ("data",) and mesh.axis_types == (jax.sharding.AxisType.Auto,)


# ---------------------------------------------------------------------- metrics
def test_split_metrics_adds_the_mean_loss_to_the_shared_scores():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    labels, tracks = np.array([0, 0, 1, 1]), np.array([7, 7, 9, 9])
    m = split_metrics(probs, np.array([0.1, 1.6, 0.4, 0.9]), labels, tracks)
    assert m == {"loss": pytest.approx(0.75), **metrics.split_scores(probs, labels, tracks)}
