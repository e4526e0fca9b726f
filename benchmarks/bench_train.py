"""Training-step throughput of the deep models on this machine's devices, per input mode.

Times the jitted, data-parallel ``train_step`` of :mod:`sonicsep.nn.train` (the very function
training runs) on batches of the default feature config's shape (128 mel bands x 216 frames for
5 s segments), fed four ways:

- ``compute``: one random batch already on the devices (compute alone, the ceiling);
- ``device``: the training split cached on the devices, batches gathered there
  (:mod:`sonicsep.nn.cache`, ``--cache device``);
- ``host``: the split cached in host memory (``--cache host``);
- ``streaming``: read from the store every step (``--cache none``).

With ``--processes 1 2`` each mode is also timed as a two-process run: the script starts two
copies of itself on loopback, joined by ``jax.distributed`` (one JAX process each, as the
processes of a multi-host run, here on CPU devices with Gloo collectives), each reading only
its half of every global batch; process 0 reports.

For each: compile time, steps/s, segments/s, and the fraction of the step time spent waiting
for input, measured, not estimated: each step first takes its batch and waits for it on the
device (``jax.block_until_ready``), then runs the step and waits for the new state; the wait
fraction is the first wait over both. The store is ``--store`` or, when absent, a synthetic
store of the default shape written to a temporary folder (as ``bench_input.py`` does). Runs on
CPU here and on every local GPU where there is one (the batch is split over all local
devices)::

    .venv/bin/python benchmarks/bench_train.py --model cnn --batch-size 32 --steps 30
    .venv/bin/python benchmarks/bench_train.py --modes device streaming --processes 1 2
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from sonicsep.config import FeatureConfig  # noqa: E402
from sonicsep.nn import distributed  # noqa: E402
from sonicsep.nn.cache import Batches  # noqa: E402
from sonicsep.nn.config import default_config, with_overrides  # noqa: E402
from sonicsep.nn.input_pipeline import compute_norm_stats  # noqa: E402
from sonicsep.nn.models import create_model  # noqa: E402
from sonicsep.nn.train import (  # noqa: E402
    create_train_state,
    data_mesh,
    jit_steps,
    learning_rate_schedule,
    make_optimizer,
    training_pipeline,
)
from sonicsep.store import FeatureStore  # noqa: E402
from tests.synthetic_store import make_synthetic_store  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("compute", "device", "host", "streaming")
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


def open_or_make_store(url: str, tracks_per_genre: int, scratch: Path) -> FeatureStore:
    """The store at ``url``, or a synthetic one of the default feature shape under ``scratch``."""
    if Path(url).exists():
        return FeatureStore.open(url)
    print(f"{url} not found: writing a synthetic store of the default feature shape", flush=True)
    return make_synthetic_store(
        scratch / "synthetic.zarr",
        genres=("a", "b", "c", "d"),
        tracks_per_genre=tracks_per_genre,
        config=FeatureConfig(),
        tracks_per_shard=16,
    )


def time_train_step(config, input_shape: tuple[int, ...], steps: int, warmup: int = 3) -> dict:
    """Compile time, steps/s and segments/s of ``config``'s train step on all local devices."""
    mesh = data_mesh()
    replicated, data = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    model = create_model(config.model, N_GENRES, dtype=config.dtype)
    tx = make_optimizer(config, learning_rate_schedule(config, steps + warmup + 1))
    key = jax.random.key(0)
    state = create_train_state(model, config, tx, input_shape, N_ECHONEST, key, replicated)
    start, stop = distributed.batch_share(data, config.batch_size)
    local = {k: v[start:stop] for k, v in random_batch(config.batch_size, input_shape).items()}
    batch = distributed.global_batch(local, data, config.batch_size, local)
    dropout_key = distributed.replicated(key, replicated)
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
        "devices": len(jax.devices()),
        "processes": jax.process_count(),
        "device_kind": jax.devices()[0].device_kind,
        "platform": jax.devices()[0].platform,
        "compile_s": round(compile_s, 3),
        "steps": steps,
        "steps_per_s": round(steps / seconds, 3),
        "segments_per_s": round(steps * config.batch_size / seconds, 1),
        "compilations": dict(compiles),
    }


def time_fed_steps(config, store: FeatureStore, mode: str, steps: int, warmup: int = 2) -> dict:
    """Steps fed by ``mode`` (device, host, streaming): rates, compile time, input-wait fraction.

    Each step waits for its batch on the devices (``block_until_ready``; for ``device`` that is
    the on-device gather) and then for the step's state, so the two waits split the step time.
    """
    mesh = data_mesh()
    replicated = NamedSharding(mesh, P())
    stats = compute_norm_stats(store, config.feature)
    share = distributed.batch_share(NamedSharding(mesh, P("data")), config.batch_size)
    pipeline = training_pipeline(store, config, stats, share=share)
    compiles = collections.Counter()
    start = time.perf_counter()
    batches = Batches(pipeline, {"streaming": "none"}.get(mode, mode), mesh, config.dtype)
    load_s = time.perf_counter() - start
    model = create_model(config.model, len(store.genres), dtype=config.dtype)
    tx = make_optimizer(config, learning_rate_schedule(config, pipeline.steps("train")))
    key = jax.random.key(0)
    state = create_train_state(
        model, config, tx, pipeline.input_shape, len(store.echonest_names), key, replicated
    )
    dropout_key = distributed.replicated(key, replicated)
    train_fn, _ = jit_steps(config, mesh, compiles)

    def endless():
        epoch = 0
        while True:
            epoch += 1
            yield from batches.epoch("train", epoch, shuffle=True)

    feed = endless()
    compile_s = None
    wait_s = step_s = 0.0
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        batch = jax.block_until_ready(next(feed))
        t1 = time.perf_counter()
        state, _ = train_fn(state, batch, dropout_key)
        jax.block_until_ready(state.params)
        t2 = time.perf_counter()
        if i == 0:
            compile_s = t2 - t1
        if i >= warmup:
            wait_s, step_s = wait_s + (t1 - t0), step_s + (t2 - t1)
    feed.close()
    seconds = wait_s + step_s
    return {
        "mode": mode,
        "processes": jax.process_count(),
        "devices": mesh.size,
        "dtype": config.dtype,
        "cache_load_s": round(load_s, 3),
        "compile_s": round(compile_s, 3),
        "steps": steps,
        "steps_per_s": round(steps / seconds, 3),
        "segments_per_s": round(steps * config.batch_size / seconds, 1),
        "input_wait_fraction": round(wait_s / seconds, 4),
        "compilations": dict(compiles),
    }


def input_shape_for(feature: str, feature_config: FeatureConfig) -> tuple[int, int]:
    bands = feature_config.n_mels if feature == "mel" else feature_config.n_mfcc
    return bands, feature_config.frames_per_segment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_processes(n: int, argv: list[str], store_url: str, scratch: Path) -> dict:
    """This benchmark run as ``n`` local processes joined by ``jax.distributed``: process 0's
    results (each process reads its share of every batch from ``store_url``)."""
    out = scratch / f"processes{n}.json"
    coordinator = f"127.0.0.1:{free_port()}"
    workers = [
        subprocess.Popen(
            [
                sys.executable, __file__, *argv, "--store", store_url, "--out", str(out),
                "--processes", str(n), "--coordinator-address", coordinator,
                "--process-id", str(rank),
            ],
            cwd=REPO,
            env={k: v for k, v in os.environ.items() if k != "XLA_FLAGS"},
        )
        for rank in range(n)
    ]
    codes = [worker.wait() for worker in workers]
    if any(codes):
        raise RuntimeError(f"the {n} benchmark processes exited with {codes}")
    return json.loads(out.read_text())


def report(mode: str, result: dict, args) -> None:
    processes = result.get("processes", 1)
    print(
        f"{mode:9s} {args.model} on {args.feature}, batch {args.batch_size}, {args.dtype}, "
        f"{processes} process{'es' if processes > 1 else ''}, {result['devices']} x "
        f"{result.get('device_kind', jax.devices()[0].device_kind)}: compile "
        f"{result['compile_s']:.1f} s, {result['steps_per_s']:.2f} steps/s, "
        f"{result['segments_per_s']:.0f} segments/s, waiting for input "
        f"{100 * result['input_wait_fraction']:.1f}% of the step",
        flush=True,
    )


def time_modes(args, config, store_url: str, scratch: Path) -> dict:
    """{mode: result} for every ``--modes`` entry, in this process (of a run of any count)."""
    results = {}
    store = None
    for mode in args.modes:
        if mode == "compute":
            shape = input_shape_for(args.feature, FeatureConfig())
            result = time_train_step(config, shape, args.steps)
            result["input_wait_fraction"] = 0.0
            if result["compilations"] != {"train_step": 1}:
                print("WARNING: the train step recompiled")
        else:
            if store is None:
                store = open_or_make_store(store_url, args.tracks_per_genre, scratch)
            result = time_fed_steps(config, store, mode, args.steps)
        results[mode] = result
        if distributed.is_writer():
            report(mode, result, args)
    return results


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("cnn", "fusion", "resnet50"), default="cnn")
    p.add_argument("--feature", choices=("mel", "mfcc"), default="mel")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--store", default=str(REPO / "sonicsep-demo.zarr"))
    p.add_argument("--tracks-per-genre", type=int, default=24, help="synthetic store size")
    p.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1],
        help="process counts to time: each count above 1 starts that many local processes "
        "joined by jax.distributed (CPU devices: one each)",
    )
    p.add_argument("--out", default=str(RESULTS / "bench_train.json"))
    # Set by the parent for each process of a multi-process count (not for users).
    p.add_argument("--coordinator-address", help=argparse.SUPPRESS)
    p.add_argument("--process-id", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    config = with_overrides(
        default_config(args.model, args.feature),
        {"batch_size": args.batch_size, "dtype": args.dtype},
    )
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.process_id is not None:  # one process of a multi-process count
            options = distributed.DistributedOptions(
                args.coordinator_address, args.processes[0], args.process_id
            )
            distributed.initialize(options)
            results = time_modes(args, config, args.store, scratch)
            if distributed.is_writer():
                Path(args.out).write_text(json.dumps(results, indent=2))
            return 0
        results = {"processes": {}}
        store_url = args.store
        if any(n > 1 for n in args.processes) and not Path(store_url).exists():
            # One store for every count, written before the processes start.
            store_url = open_or_make_store(store_url, args.tracks_per_genre, scratch).url
        for n in args.processes:
            if n == 1:
                results["processes"][1] = time_modes(args, config, store_url, scratch)
                continue
            keep = ["--model", args.model, "--feature", args.feature, "--batch-size",
                    str(args.batch_size), "--steps", str(args.steps), "--dtype", args.dtype,
                    "--tracks-per-genre", str(args.tracks_per_genre), "--modes", *args.modes]
            results["processes"][n] = run_processes(n, keep, store_url, scratch)
    results["device_kind"] = jax.devices()[0].device_kind
    # Earlier readers of the JSON find the one-process rows at the top level, as before.
    results.update(results["processes"].get(1, {}))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
