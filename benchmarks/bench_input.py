"""Input pipeline vs train step: which one bounds deep-model training on this machine.

Rates over the training split of a local store, in segments/s:

- input (streaming): :class:`sonicsep.nn.input_pipeline.InputPipeline` alone (chunk-shuffled
  reads on ``--workers`` threads, shuffle buffer, normalisation, background prefetch) into
  host batches, consumed as fast as possible; ``--repeats`` timings of ``--passes`` epochs
  each, reported as median and range with the load average, and the process's CPU time per
  segment (user + system, all threads). On a shared machine the wall rate follows the other
  jobs; ``2e6 / cpu_us_per_segment`` is what two idle cores would give at that cost if the
  reads kept both busy (an estimate: reported beside the wall rate, never instead of it).
  Each repeat times, interleaved: the store read directly (:mod:`sonicsep.store_reader`, the
  default), read through Zarr (``direct_reads=False``), and the pipeline with its reads
  replaced by values already in memory (its own floor: normalisation, scatter, batching).
  With a synthetic store, a second one whose spectrograms are compressed as stores were
  before (Blosc/Zstd-1, ``store.COMPRESSOR``) is timed the same way (``--no-compressed``
  skips it);
- input (host cache): the same batches gathered from the split held in host memory
  (:mod:`sonicsep.nn.cache`, ``--cache host``), after loading it once (load time reported);
- compute: the CNN's jitted train step on device-resident batches of the same shape
  (``bench_train.time_train_step``; ``--steps 0`` skips it);
- end to end: real training epochs, the streaming pipeline feeding the step (``--cache none``).

input / compute above 1 means the pipeline keeps up and compute bounds training. The store is
``--store`` (default: the demo store ``sonicsep-demo.zarr``); when it does not exist a synthetic
store of the default feature config's shape (128 mel bands x 216 frames, 6 segments per track)
is written to a temporary folder. A training epoch needs every chunk holding one of its
segments, and the splits are interleaved in the store, so a compressed layout decodes about
``total / train`` times the training segments (reported as ``decoded_per_train_segment``); an
uncompressed one reads only the training segments::

    .venv/bin/python benchmarks/bench_input.py --repeats 5 --epochs 0 --steps 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from bench_train import open_or_make_store, time_train_step  # noqa: E402

from sonicsep import store as store_module  # noqa: E402
from sonicsep.nn.cache import SplitCache, gather_host  # noqa: E402
from sonicsep.nn.config import default_config, with_overrides  # noqa: E402
from sonicsep.nn.input_pipeline import InputPipeline, compute_norm_stats  # noqa: E402
from sonicsep.nn.train import train_and_evaluate, training_pipeline  # noqa: E402
from sonicsep.store import FeatureStore  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
READS = ("direct", "zarr", "in memory")


def _summary(rates: list[float], segments: int) -> dict:
    return {
        "segments": segments,
        "segments_per_s": round(statistics.median(rates), 1),
        "min": round(min(rates), 1),
        "max": round(max(rates), 1),
        "all": [round(r, 1) for r in rates],
    }


def _rates(run, segments: int, repeats: int) -> dict:
    """``run()`` timed ``repeats`` times: median, min and max segments/s of ``segments``."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(segments / (time.perf_counter() - start))
    return _summary(rates, segments)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _in_memory_reads(store: FeatureStore):
    """``store.iter_segment_blocks`` replaced by one block of values already in memory."""
    cached: dict[int, np.ndarray] = {}

    def blocks(name, rows, segments, **_):
        if len(rows) not in cached:
            cached[len(rows)] = np.zeros((len(rows), *store.segment_shape(name)), np.float32)
        yield np.arange(len(rows)), cached[len(rows)]

    return mock.patch.object(store, "iter_segment_blocks", blocks)


def _reads(store: FeatureStore, reads: str):
    """The context in which ``store`` is read the ``reads`` way."""
    if reads == "in memory":
        return _in_memory_reads(store)
    return mock.patch.object(store, "direct_reads", reads == "direct")


def time_input(pipelines: dict[str, InputPipeline], passes: int, repeats: int) -> dict:
    """Segments/s of shuffled training passes, nothing consuming them, for every layout's
    pipeline and way of reading (:data:`READS`; the in-memory floor for the first layout
    only), their repeats interleaved so that a change of load hits all alike."""
    first = next(iter(pipelines))  # the floor does not depend on the layout: timed once
    keys = [(layout, reads) for layout in pipelines for reads in READS
            if reads != "in memory" or layout == first]
    wall, cpu, load = ({key: [] for key in keys} for _ in range(3))
    for _ in range(repeats):
        for layout, reads in keys:
            pipeline = pipelines[layout]
            segments = passes * pipeline.n_segments("train")
            with _reads(pipeline.store, reads):
                cpu_start, start = _cpu_seconds(), time.perf_counter()
                for epoch in range(1, passes + 1):
                    for _ in pipeline.epoch("train", epoch, shuffle=True):
                        pass
                seconds = time.perf_counter() - start
            wall[layout, reads].append(segments / seconds)
            cpu[layout, reads].append((_cpu_seconds() - cpu_start) / segments)
            load[layout, reads].append(round(os.getloadavg()[0], 2))
    rows = {}
    for layout, reads in keys:
        pipeline = pipelines[layout]
        cpu_us = statistics.median(cpu[layout, reads]) * 1e6
        rows[f"{layout} / {reads}"] = {
            "workers": pipeline.workers,
            **_summary(wall[layout, reads], passes * pipeline.n_segments("train")),
            "load_average": load[layout, reads],
            "cpu_us_per_segment": round(cpu_us, 1),
            "segments_per_s_on_2_idle_cores": round(2e6 / cpu_us, 1),
        }
    return rows


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


def _layout(store: FeatureStore, name: str) -> str:
    array = store.group[name]
    codecs = ", ".join(type(c).__name__ for c in array.compressors) or "uncompressed"
    return f"{codecs}, {array.chunks[0]}-track chunks"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default=str(REPO / "sonicsep-demo.zarr"))
    p.add_argument("--feature", choices=("mel", "mfcc"), default="mel")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--passes", type=int, default=2, help="input-only passes over train")
    p.add_argument("--repeats", type=int, default=3, help="timings of the input passes")
    p.add_argument("--workers", type=int, help="reader threads (default: one per core)")
    p.add_argument("--epochs", type=int, default=2, help="end-to-end training epochs (0: skip)")
    p.add_argument("--steps", type=int, default=20, help="timed compute steps (0: skip)")
    p.add_argument("--tracks-per-genre", type=int, default=64, help="synthetic store size")
    p.add_argument("--no-compressed", action="store_true",
                   help="skip the synthetic store with compressed spectrograms")
    p.add_argument("--out", default=str(RESULTS / "bench_input.json"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        synthetic = not Path(args.store).exists()
        store = open_or_make_store(args.store, args.tracks_per_genre, scratch)
        config = with_overrides(
            default_config("cnn", args.feature),
            {"batch_size": args.batch_size, "epochs": max(1, args.epochs)},
        )
        start = time.perf_counter()
        stats = compute_norm_stats(store, config.feature)
        stats_s = time.perf_counter() - start
        pipeline = training_pipeline(store, config, stats)
        name = pipeline.array_name
        pipelines = {_layout(store, name): pipeline}
        if synthetic and not args.no_compressed:
            with mock.patch.object(
                store_module, "SPECTROGRAM_COMPRESSORS", store_module.COMPRESSOR
            ):
                compressed = open_or_make_store(
                    str(scratch / "compressed.zarr"), args.tracks_per_genre, scratch / "c"
                )
            pipelines[_layout(compressed, name)] = training_pipeline(compressed, config, stats)
        for each in pipelines.values():
            each.workers = args.workers or each.workers
        read = time_input(pipelines, args.passes, args.repeats)
        host = time_host_cache(pipeline, args.passes, args.repeats)
        shape = (store.config.n_mels if args.feature == "mel" else store.config.n_mfcc,)
        compute = (
            time_train_step(config, shape + (store.config.frames_per_segment,), args.steps)
            if args.steps > 0 else None
        )
        end_to_end = (
            time_end_to_end(store, config, scratch / "run") if args.epochs > 0 else None
        )
        rows, all_rows = store.segment_index("train")[0], store.segment_index()[0]
        touched = np.isin(store.chunk_of(name, all_rows), store.chunk_of(name, rows))
    direct = read[f"{next(iter(pipelines))} / direct"]
    result = {
        "store": store.url,
        "train_segments": len(rows),
        # Segments in the chunks an epoch needs, per training segment: what a compressed
        # layout decodes (chunks are decoded whole); an uncompressed one reads 1.
        "decoded_per_train_segment": round(int(touched.sum()) / len(rows), 2),
        "norm_stats_s": round(stats_s, 3),
        "input": read,
        "host_cache": host,
        "compute": compute,
        "end_to_end": end_to_end,
        "input_over_compute": (
            round(direct["segments_per_s"] / compute["segments_per_s"], 2) if compute else None
        ),
    }
    print(f"{'streaming input (train split)':58s} {'seg/s median':>12s} {'range':>13s} "
          f"{'load avg':>9s} {'cpu us/seg':>10s} {'2 idle cores':>12s}")
    for key, r in read.items():
        print(f"{key:58s} {r['segments_per_s']:12.0f} {r['min']:6.0f}-{r['max']:<6.0f} "
              f"{statistics.median(r['load_average']):9.2f} {r['cpu_us_per_segment']:10.0f} "
              f"{r['segments_per_s_on_2_idle_cores']:12.0f}")
    print(
        f"decoded per training segment in chunked layouts: "
        f"{result['decoded_per_train_segment']} | host cache {host['segments_per_s']:.0f} "
        f"segments/s ({host['min']:.0f}-{host['max']:.0f}; load {host['load_s']:.1f} s)"
    )
    if compute:
        bound = "compute" if result["input_over_compute"] > 1 else "input"
        print(
            f"train step {compute['segments_per_s']:.0f} segments/s ({compute['steps_per_s']:.2f}"
            f" steps/s, {compute['devices']} x {compute['device_kind']})"
            + (f" | end to end {end_to_end['segments_per_s']:.0f} segments/s"
               if end_to_end else "")
            + f" | input/compute {result['input_over_compute']:.1f}: {bound} bounds training"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
