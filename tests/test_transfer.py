"""Transfer learning between two synthetic stores with different genre lists."""

from __future__ import annotations

import json

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from sonicsep.errors import ModelError
from sonicsep.nn.cli import transfer_main
from sonicsep.nn.config import default_config, with_overrides
from sonicsep.nn.train import train_and_evaluate
from sonicsep.nn.trained import load_trained
from sonicsep.nn.transfer import transfer_and_evaluate
from tests.synthetic_store import TINY_CONFIG, make_synthetic_store

TINY = with_overrides(
    default_config("cnn"),
    {
        "epochs": 2,
        "batch_size": 8,
        "shuffle_buffer": 16,
        "learning_rate": 1e-2,
        "model": {"cnn_features": [4, 4], "cnn_kernels": [3, 2], "cnn_dense": 16},
    },
)
TARGET_GENRES = ("blues", "metal", "pop", "reggae")


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("stores")
    source = make_synthetic_store(root / "source.zarr")
    target = make_synthetic_store(root / "target.zarr", genres=TARGET_GENRES, seed=1)
    return source, target


@pytest.fixture(scope="module")
def pretrained(stores, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pretrained")
    train_and_evaluate(TINY, workdir, stores[0].url)
    return workdir


def _equal(a, b) -> bool:
    leaves = jax.tree.leaves(jax.tree.map(np.array_equal, jax.device_get(a), jax.device_get(b)))
    return all(leaves)


def test_head_mode_trains_only_a_new_head(stores, pretrained, tmp_path):
    source = load_trained(pretrained).variables
    state = transfer_and_evaluate(pretrained, stores[1].url, "head", tmp_path)
    # Frozen backbone: parameters and batch statistics bit-identical after training.
    assert _equal(state.params["backbone"], source["params"]["backbone"])
    assert _equal(state.batch_stats["backbone"], source["batch_stats"]["backbone"])
    exported = load_trained(tmp_path)
    assert exported.genres == TARGET_GENRES
    assert _equal(exported.variables["params"]["backbone"], source["params"]["backbone"])
    assert exported.variables["params"]["head"]["kernel"].shape == (16, len(TARGET_GENRES))
    # The head did train: it moved between the epoch-1 checkpoint and the end.
    epoch_1 = ocp.StandardCheckpointer().restore(
        (tmp_path / "checkpoints" / "1" / "state").resolve()
    )
    assert not _equal(epoch_1["state"]["params"]["head"], state.params["head"])
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["transfer"] == {"mode": "head", "pretrained_genres": ["ambient", "jazz", "rock"]}
    assert meta["train_config"]["learning_rate"] == TINY.learning_rate
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["jit_compilations"] == {"train_step": 1, "eval_step": 1, "cache_gather": 1}


def test_full_mode_fine_tunes_everything_slower(stores, pretrained, tmp_path, capsys):
    argv = [
        "--pretrained",
        str(pretrained),
        "--store",
        stores[1].url,
        "--mode",
        "full",
        "--workdir",
        str(tmp_path),
        "--epochs",
        "1",
    ]
    assert transfer_main(argv) == 0
    assert "test: segment accuracy" in capsys.readouterr().out
    source = load_trained(pretrained).variables
    tuned = load_trained(tmp_path)
    assert not _equal(tuned.variables["params"]["backbone"], source["params"]["backbone"])
    assert not _equal(tuned.variables["batch_stats"]["backbone"], source["batch_stats"]["backbone"])
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["transfer_mode"] == "full"
    assert config["learning_rate"] == pytest.approx(TINY.learning_rate / 10)


def test_incompatible_store_is_a_clear_error(pretrained, tmp_path):
    other = make_synthetic_store(tmp_path / "other.zarr", config=TINY_CONFIG.replace(n_fft=1024))
    with pytest.raises(ModelError, match="n_fft"):
        transfer_and_evaluate(pretrained, other.url, "head", tmp_path / "run")
    argv = [
        "--pretrained",
        str(tmp_path / "nothing"),
        "--store",
        other.url,
        "--workdir",
        str(tmp_path / "run2"),
    ]
    assert transfer_main(argv) == 2
