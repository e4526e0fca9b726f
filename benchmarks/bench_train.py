"""Training-step throughput of the deep models on this machine's devices.

Times the jitted, data-parallel ``train_step`` of :mod:`sonicsep.nn.train` (the very function
training runs) on random batches of the default feature config's shape (128 mel bands x 216
frames for 5 s segments), already on the devices, so it measures compute alone;
``bench_input.py`` measures the input side. Reports compile time, steps/s and segments/s, and
checks that the step compiled exactly once. Runs on CPU here and on every local GPU where
there is one (the batch is split over all local devices)::

    .venv/bin/python benchmarks/bench_train.py --model cnn --batch-size 32 --steps 50
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from sonicsep.config import FeatureConfig
from sonicsep.nn.config import default_config, with_overrides
from sonicsep.nn.models import create_model
from sonicsep.nn.train import (
    create_train_state,
    data_mesh,
    jit_steps,
    learning_rate_schedule,
    make_optimizer,
)

RESULTS = Path(__file__).resolve().parent / "results"
N_GENRES = 10
N_ECHONEST = 8


def random_batch(batch_size: int, input_shape: tuple[int, ...], seed: int = 0) -> dict:
    """A host batch of the pipeline's layout with dB-like standardised values."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(batch_size, *input_shape)).astype(np.float32),
        "label": rng.integers(0, N_GENRES, batch_size).astype(np.int32),
        "echonest": rng.normal(size=(batch_size, N_ECHONEST)).astype(np.float32),
        "echonest_mask": np.ones((batch_size, N_ECHONEST), np.float32),
        "weight": np.ones(batch_size, np.float32),
    }


def time_train_step(config, input_shape: tuple[int, ...], steps: int, warmup: int = 3) -> dict:
    """Compile time, steps/s and segments/s of ``config``'s train step on all local devices."""
    mesh = data_mesh()
    replicated, data = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    model = create_model(config.model, N_GENRES)
    tx = make_optimizer(config, learning_rate_schedule(config, steps + warmup + 1))
    key = jax.random.key(0)
    state = create_train_state(model, config, tx, input_shape, N_ECHONEST, key, replicated)
    batch = jax.device_put(random_batch(config.batch_size, input_shape), data)
    dropout_key = jax.device_put(key, replicated)
    compiles = collections.Counter()
    train_fn, _ = jit_steps(config, mesh, compiles)
    start = time.perf_counter()
    state, _ = train_fn(state, batch, dropout_key)
    jax.block_until_ready(state.params)
    compile_s = time.perf_counter() - start
    for _ in range(warmup):
        state, _ = train_fn(state, batch, dropout_key)
    jax.block_until_ready(state.params)
    start = time.perf_counter()
    for _ in range(steps):
        state, _ = train_fn(state, batch, dropout_key)
    jax.block_until_ready(state.params)
    seconds = time.perf_counter() - start
    return {
        "model": config.model.kind,
        "feature": config.feature,
        "batch_size": config.batch_size,
        "input_shape": list(input_shape),
        "devices": len(jax.local_devices()),
        "device_kind": jax.devices()[0].device_kind,
        "platform": jax.devices()[0].platform,
        "compile_s": round(compile_s, 3),
        "steps": steps,
        "steps_per_s": round(steps / seconds, 3),
        "segments_per_s": round(steps * config.batch_size / seconds, 1),
        "compilations": dict(compiles),
    }


def input_shape_for(feature: str, feature_config: FeatureConfig) -> tuple[int, int]:
    bands = feature_config.n_mels if feature == "mel" else feature_config.n_mfcc
    return bands, feature_config.frames_per_segment


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("cnn", "fusion", "resnet50"), default="cnn")
    p.add_argument("--feature", choices=("mel", "mfcc"), default="mel")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--out", default=str(RESULTS / "bench_train.json"))
    args = p.parse_args(argv)
    config = with_overrides(
        default_config(args.model, args.feature), {"batch_size": args.batch_size}
    )
    result = time_train_step(config, input_shape_for(args.feature, FeatureConfig()), args.steps)
    print(
        f"{result['model']} on {result['feature']} {tuple(result['input_shape'])}, batch "
        f"{result['batch_size']}, {result['devices']} x {result['device_kind']}: "
        f"compile {result['compile_s']:.1f} s, {result['steps_per_s']:.2f} steps/s, "
        f"{result['segments_per_s']:.0f} segments/s, compilations {result['compilations']}"
    )
    if result["compilations"] != {"train_step": 1}:
        print("WARNING: the train step recompiled")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
