"""End-to-end training on a small synthetic store: metrics, resume, compile count, devices, CLI.

Every run uses a tiny model and one batch shape, so the whole file stays within a minute or two
on a laptop CPU; the uninterrupted 4-epoch CNN run is shared by several tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from sonicsep.errors import ParameterError
from sonicsep.nn.checkpoints import checkpoint_manager
from sonicsep.nn.cli import train_main
from sonicsep.nn.config import default_config, with_overrides
from sonicsep.nn.train import train_and_evaluate
from sonicsep.nn.trained import load_trained
from tests.synthetic_store import make_synthetic_store

REPO = Path(__file__).resolve().parents[1]
TINY_CNN = {"cnn_features": [4, 4], "cnn_kernels": [3, 2], "cnn_dense": 16}
TINY = with_overrides(
    default_config("cnn"),
    {"epochs": 4, "batch_size": 8, "shuffle_buffer": 16, "learning_rate": 1e-2, "model": TINY_CNN},
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_synthetic_store(tmp_path_factory.mktemp("train") / "store.zarr")


@pytest.fixture(scope="module")
def straight(store, tmp_path_factory):
    """An uninterrupted 4-epoch CNN run: (workdir, final state)."""
    workdir = tmp_path_factory.mktemp("straight")
    return workdir, train_and_evaluate(TINY, workdir, store.url)


# On CPU the tiny store fits the devices: --cache auto caches it there (one gather compile).
CACHED_COMPILES = {"train_step": 1, "eval_step": 1, "cache_gather": 1}


def _assert_trees_equal(a, b):
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(a), jax.device_get(b))


def test_metrics_curve_and_model_are_written(straight, store):
    workdir, _ = straight
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["history"]] == [1, 2, 3, 4]
    assert metrics["genres"] == list(store.genres)
    test = metrics["test"]
    n_test_tracks = int((store.tracks()["split"] == "test").sum())
    assert test["n_tracks"] == n_test_tracks == np.sum(test["track_confusion"])
    assert test["n_segments"] == len(store.segment_index("test")[0])
    assert test["track_accuracy"] >= 0.75  # 3 learnable genres: chance is 1/3
    assert 0 < metrics["best_epoch"] <= 4
    for name in ("training_curve.png", "confusion_matrix.png", "model/model.json"):
        assert (workdir / name).stat().st_size > 0


def test_the_jitted_steps_compile_once(straight, store):
    # 54 training and 18/36 evaluation segments in batches of 8: every pass ends padded.
    assert len(store.segment_index("train")[0]) % TINY.batch_size
    metrics = json.loads((straight[0] / "metrics.json").read_text())
    assert metrics["input_cache"] == "device"
    assert metrics["jit_compilations"] == CACHED_COMPILES


def test_streaming_trains_to_the_cached_parameters(straight, store, tmp_path):
    # The same batches from the store every epoch as from the device cache: the same run.
    streamed = train_and_evaluate(TINY.replace(cache="none"), tmp_path, store.url)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["input_cache"] == "none"
    assert metrics["jit_compilations"] == {"train_step": 1, "eval_step": 1}
    _assert_trees_equal(streamed.params, straight[1].params)
    _assert_trees_equal(streamed.batch_stats, straight[1].batch_stats)


def test_load_trained_predicts_and_embeds_raw_segments(straight, store):
    workdir, _ = straight
    model = load_trained(workdir)
    assert model.genres == store.genres and model.feature_config == store.config
    rows, segments = store.segment_index("test")
    mel = store.array("mel_db")[:][rows, segments]
    probs = model.predict_proba(mel)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    labels = store.tracks()["label"].to_numpy()[rows]
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert np.mean(probs.argmax(1) == labels) == pytest.approx(metrics["test"]["segment_accuracy"])
    assert model.embed(mel[:3]).shape == (3, TINY.model.cnn_dense)
    np.testing.assert_allclose(model.predict_proba(mel[:1]), probs[:1], rtol=1e-5, atol=1e-6)


def test_a_killed_run_resumes_to_the_same_parameters(straight, store, tmp_path):
    def kill_after_epoch_2(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(TINY, tmp_path, store.url, on_epoch_end=kill_after_epoch_2)
    assert checkpoint_manager(tmp_path).all_steps() == [1, 2]
    assert not (tmp_path / "model").exists()
    resumed = train_and_evaluate(TINY, tmp_path, store.url)
    _, uninterrupted = straight
    _assert_trees_equal(resumed.params, uninterrupted.params)
    _assert_trees_equal(resumed.batch_stats, uninterrupted.batch_stats)
    _assert_trees_equal(resumed.opt_state, uninterrupted.opt_state)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["history"]] == [1, 2, 3, 4]
    assert metrics["jit_compilations"] == CACHED_COMPILES

    def no_training(row):
        raise AssertionError(f"a finished run trained epoch {row['epoch']}")

    # Finished: a rerun trains and evaluates nothing, and says so.
    finished, written = [], (tmp_path / "metrics.json").stat().st_mtime_ns
    again = train_and_evaluate(
        TINY, tmp_path, store.url, on_epoch_end=no_training, on_finished=finished.append
    )
    assert [m["epochs_run"] for m in finished] == [4]
    assert (tmp_path / "metrics.json").stat().st_mtime_ns == written
    _assert_trees_equal(again.params, resumed.params)
    # A larger budget trains the extra epoch from the last checkpoint.
    rows = []
    longer = train_and_evaluate(
        TINY.replace(epochs=5), tmp_path, store.url, on_epoch_end=rows.append
    )
    assert [row["epoch"] for row in rows] == [5]
    steps_per_epoch = -(-len(store.segment_index("train")[0]) // TINY.batch_size)
    assert int(longer.step) == int(resumed.step) + steps_per_epoch == 5 * steps_per_epoch
    extended = json.loads((tmp_path / "metrics.json").read_text())
    assert extended["epochs_run"] == 5 and extended["history"][:4] == metrics["history"]
    assert checkpoint_manager(tmp_path).all_steps() == [4, 5]
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 5
    # Any other change, or a smaller budget, is another experiment.
    with pytest.raises(ParameterError, match="epochs: 5 -> 4"):
        train_and_evaluate(TINY, tmp_path, store.url)
    with pytest.raises(ParameterError, match=r"learning_rate: 0.01 -> 0.001\)"):
        train_and_evaluate(TINY.replace(epochs=6, learning_rate=1e-3), tmp_path, store.url)


def test_data_parallel_over_two_cpu_devices(straight, store, tmp_path):
    code = (
        "import jax, sys\n"
        "from sonicsep.nn.config import TrainConfig\n"
        "from sonicsep.nn.train import train_and_evaluate\n"
        "assert jax.device_count() == 2, jax.devices()\n"
        f"config = TrainConfig.from_dict({TINY.to_dict()!r})\n"
        f"train_and_evaluate(config, {str(tmp_path)!r}, {store.url!r})\n"
    )
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads((tmp_path / "metrics.json").read_text())
    one = json.loads((straight[0] / "metrics.json").read_text())
    # The device cache is sharded over both devices and each batch gathered across them.
    assert two["devices"] == 2 and two["jit_compilations"] == CACHED_COMPILES
    # Same data, keys and global batch statistics: only the summation order differs.
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(
            [r[key] for r in two["history"]], [r[key] for r in one["history"]], rtol=2e-3
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"model": {"kind": "mlp"}, "feature": "summary", "l2": 1e-3, "epochs": 4},
        {"model": {"kind": "fusion", **TINY_CNN}},
        {
            "model": {
                "kind": "resnet50",
                "resnet_stages": [1, 1],
                "resnet_width": 2,
                "image_size": 16,
            },
        },
    ],
    ids=["mlp", "fusion", "resnet"],
)
def test_each_model_kind_trains_and_predicts(store, tmp_path, overrides):
    config = with_overrides(TINY, {"epochs": 2, **overrides})
    train_and_evaluate(config, tmp_path, store.url)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == config.model.kind and len(metrics["history"]) == config.epochs
    model = load_trained(tmp_path)
    rows, segments = store.segment_index("test")
    feature = {"summary": "summary", "mel": "mel_db"}[config.feature]
    segments_in = store.array(feature)[:][rows[:5], segments[:5]]
    echonest = store.array("echonest")[:][rows[:5]]
    probs = model.predict_proba(segments_in, echonest)
    assert probs.shape == (5, len(store.genres))
    assert model.embed(segments_in, echonest).ndim == 2
    if config.model.kind == "mlp":
        assert metrics["test"]["track_accuracy"] >= 0.75
    if config.model.kind == "fusion":
        without = model.predict_proba(segments_in)  # Echonest absent: still a prediction
        assert np.isfinite(without).all() and not np.allclose(without, probs)


def test_cli_trains_and_reports(store, tmp_path, capsys):
    overrides = tmp_path / "tiny.json"
    overrides.write_text(json.dumps({"shuffle_buffer": 16}))
    workdir = tmp_path / "run"
    argv = [
        "--store",
        store.url,
        "--model",
        "mlp",
        "--workdir",
        str(workdir),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--config",
        str(overrides),
        "--cache",
        "host",
    ]
    assert train_main(argv) == 0
    out = capsys.readouterr().out
    assert "epoch   1" in out and "test: segment accuracy" in out
    assert f"results in {workdir / 'metrics.json'} and {workdir / 'model'}/" in out
    saved = json.loads((workdir / "config.json").read_text())
    assert (saved["l2"], saved["feature"], saved["shuffle_buffer"]) == (1e-3, "summary", 16)
    assert json.loads((workdir / "metrics.json").read_text())["input_cache"] == "host"
    # The same command again: finished, nothing trained, exit 0.
    written = (workdir / "metrics.json").stat().st_mtime_ns
    assert train_main(argv) == 0
    out = capsys.readouterr().out
    assert "already finished: the run used its epoch budget after 1 epochs" in out
    assert "epoch   1" not in out and "test: segment accuracy" in out
    assert (workdir / "metrics.json").stat().st_mtime_ns == written
    # A larger --epochs trains on from the last checkpoint.
    argv[argv.index("--epochs") + 1] = "2"
    assert train_main(argv) == 0
    out = capsys.readouterr().out
    assert "epoch   2" in out and "epoch   1" not in out and "already finished" not in out
    assert json.loads((workdir / "metrics.json").read_text())["epochs_run"] == 2


def test_cli_usage_errors_exit_2_without_traceback(store, tmp_path, capsys):
    assert (
        train_main(["--store", str(tmp_path / "none.zarr"), "--workdir", str(tmp_path / "w")]) == 2
    )
    assert "no feature store" in capsys.readouterr().err
    argv = ["--store", store.url, "--workdir", str(tmp_path / "w"), "--model", "mlp"]
    assert train_main([*argv, "--feature", "mel"]) == 2
    assert "feature" in capsys.readouterr().err
    assert train_main([*argv, "--batch-size", "0"]) == 2
    with pytest.raises(SystemExit) as exc:
        train_main([*argv, "--model", "transformer"])
    assert exc.value.code == 2
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sonicsep.train",
            "--store",
            str(tmp_path / "none.zarr"),
            "--workdir",
            str(tmp_path / "w2"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "error: no feature store" in done.stderr and "Traceback" not in done.stderr
