"""Input pipeline vs train step: which one bounds deep-model training on this machine.

Rates over the training split of a local store, in segments/s:

- input (streaming): :class:`sonicsep.nn.input_pipeline.InputPipeline` alone (chunk-shuffled
  Zarr reads decoded on ``--workers`` threads, shuffle buffer, normalisation, background
  prefetch) into host batches, consumed as fast as possible; ``--repeats`` timings of
  ``--passes`` epochs each, reported as median and range (the machine may be shared);
- input (host cache): the same batches gathered from the split held in host memory
  (:mod:`sonicsep.nn.cache`, ``--cache host``), after loading it once (load time reported);
- compute: the CNN's jitted train step on device-resident batches of the same shape
  (``bench_train.time_train_step``);
- end to end: real training epochs, the streaming pipeline feeding the step (``--cache none``).

input / compute above 1 means the pipeline keeps up and compute bounds training. The store is
``--store`` (default: the demo store ``sonicsep-demo.zarr``); when it does not exist a synthetic
store of the default feature config's shape (128 mel bands x 216 frames, 6 segments per track)
is written to a temporary folder. A training epoch decodes every chunk holding one of its
segments, and the splits are interleaved in the store, so the decoded volume is about
``total / train`` times the training segments (reported as ``decoded_per_train_segment``)::

    .venv/bin/python benchmarks/bench_input.py --store sonicsep-demo.zarr --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from bench_train import open_or_make_store, time_train_step  # noqa: E402

from sonicsep.nn.cache import SplitCache, gather_host  # noqa: E402
from sonicsep.nn.config import default_config, with_overrides  # noqa: E402
from sonicsep.nn.input_pipeline import InputPipeline, compute_norm_stats  # noqa: E402
from sonicsep.nn.train import train_and_evaluate, training_pipeline  # noqa: E402
from sonicsep.store import FeatureStore  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _rates(run, segments: int, repeats: int) -> dict:
    """``run()`` timed ``repeats`` times: median, min and max segments/s of ``segments``."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(segments / (time.perf_counter() - start))
    return {
        "segments": segments,
        "segments_per_s": round(statistics.median(rates), 1),
        "min": round(min(rates), 1),
        "max": round(max(rates), 1),
        "all": [round(r, 1) for r in rates],
    }


def time_input(pipeline: InputPipeline, passes: int, repeats: int) -> dict:
    """Segments/s of shuffled training passes through the pipeline, nothing consuming them."""

    def run():
        for epoch in range(1, passes + 1):
            for _ in pipeline.epoch("train", epoch, shuffle=True):
                pass

    return {"workers": pipeline.workers, **_rates(run, passes * pipeline.n_segments("train"),
                                                   repeats)}


def time_host_cache(pipeline: InputPipeline, passes: int, repeats: int) -> dict:
    """Load the splits into host memory once, then segments/s of shuffled training batches."""
    start = time.perf_counter()
    cache = SplitCache.load(pipeline, "float32")
    load_s = time.perf_counter() - start
    size = pipeline.batch_size

    def run():
        for epoch in range(1, passes + 1):
            order = pipeline.epoch_positions("train", epoch, shuffle=True)
            rows = cache.positions("train", order, pipeline.steps("train") * size)
            for i in range(0, len(rows), size):
                gather_host(cache.arrays, rows[i : i + size])

    rates = _rates(run, passes * pipeline.n_segments("train"), repeats)
    return {"load_s": round(load_s, 3), **rates}


def time_end_to_end(store: FeatureStore, config, workdir: Path) -> dict:
    """Training segments/s of real epochs, the pipeline feeding the step (first epoch skipped:
    it includes compilation)."""
    rows = []
    config = config.replace(cache="none")
    train_and_evaluate(config, workdir, store.url, on_epoch_end=rows.append)
    timed = rows[1:] or rows
    segments = len(timed) * len(store.segment_index("train")[0])
    return {
        "epochs_timed": len(timed),
        "segments_per_s": round(segments / sum(r["train_seconds"] for r in timed), 1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default=str(REPO / "sonicsep-demo.zarr"))
    p.add_argument("--feature", choices=("mel", "mfcc"), default="mel")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--passes", type=int, default=2, help="input-only passes over train")
    p.add_argument("--repeats", type=int, default=3, help="timings of the input passes")
    p.add_argument("--workers", type=int, help="reader threads (default: one per core)")
    p.add_argument("--epochs", type=int, default=2, help="end-to-end training epochs (0: skip)")
    p.add_argument("--steps", type=int, default=20, help="timed steps of the compute test")
    p.add_argument("--tracks-per-genre", type=int, default=64, help="synthetic store size")
    p.add_argument("--out", default=str(RESULTS / "bench_input.json"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        store = open_or_make_store(args.store, args.tracks_per_genre, scratch)
        config = with_overrides(
            default_config("cnn", args.feature),
            {"batch_size": args.batch_size, "epochs": max(1, args.epochs)},
        )
        start = time.perf_counter()
        stats = compute_norm_stats(store, config.feature)
        stats_s = time.perf_counter() - start
        pipeline = training_pipeline(store, config, stats)
        if args.workers:
            pipeline.workers = args.workers
        read = time_input(pipeline, args.passes, args.repeats)
        host = time_host_cache(pipeline, args.passes, args.repeats)
        shape = (store.config.n_mels if args.feature == "mel" else store.config.n_mfcc,)
        compute = time_train_step(config, shape + (store.config.frames_per_segment,), args.steps)
        end_to_end = (
            time_end_to_end(store, config, scratch / "run") if args.epochs > 0 else None
        )
        rows, all_rows = store.segment_index("train")[0], store.segment_index()[0]
        name = pipeline.array_name
        touched = np.isin(store.chunk_of(name, all_rows), store.chunk_of(name, rows))
    result = {
        "store": store.url,
        "train_segments": len(rows),
        # Segments decoded per training segment: the other splits' share of the chunks read.
        "decoded_per_train_segment": round(int(touched.sum()) / len(rows), 2),
        "norm_stats_s": round(stats_s, 3),
        "input": read,
        "host_cache": host,
        "compute": compute,
        "end_to_end": end_to_end,
        "input_over_compute": round(read["segments_per_s"] / compute["segments_per_s"], 2),
    }
    bound = "compute" if result["input_over_compute"] > 1 else "input"
    print(
        f"input {read['segments_per_s']:.0f} segments/s streaming (median of {args.repeats}, "
        f"{read['min']:.0f}-{read['max']:.0f}, {read['workers']} reader threads) | host cache "
        f"{host['segments_per_s']:.0f} segments/s ({host['min']:.0f}-{host['max']:.0f}; load "
        f"{host['load_s']:.1f} s) | train step {compute['segments_per_s']:.0f} segments/s "
        f"({compute['steps_per_s']:.2f} steps/s, {compute['devices']} x "
        f"{compute['device_kind']})"
        + (f" | end to end {end_to_end['segments_per_s']:.0f} segments/s" if end_to_end else "")
        + f" | input/compute {result['input_over_compute']:.1f}: {bound} bounds training"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
