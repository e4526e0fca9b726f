"""Input pipeline vs train step: which one bounds deep-model training on this machine.

Three rates over the training split of a local store, in segments/s:

- input: :class:`sonicsep.nn.input_pipeline.InputPipeline` alone (chunk-shuffled Zarr reads,
  shuffle buffer, normalisation, background prefetch), consumed as fast as possible;
- compute: the CNN's jitted train step on device-resident batches of the same shape
  (``bench_train.time_train_step``);
- end to end: real training epochs, the pipeline feeding the step.

input / compute above 1 means the pipeline keeps up and compute bounds training. The store is
``--store`` (default: the demo store ``sonicsep-demo.zarr``); when it does not exist a synthetic
store of the default feature config's shape (128 mel bands x 216 frames, 6 segments per track)
is written to a temporary folder::

    .venv/bin/python benchmarks/bench_input.py --store sonicsep-demo.zarr --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from bench_train import time_train_step  # noqa: E402

from sonicsep.config import FeatureConfig  # noqa: E402
from sonicsep.nn.config import default_config, with_overrides  # noqa: E402
from sonicsep.nn.input_pipeline import compute_norm_stats  # noqa: E402
from sonicsep.nn.train import train_and_evaluate, training_pipeline  # noqa: E402
from sonicsep.store import FeatureStore  # noqa: E402
from tests.synthetic_store import make_synthetic_store  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def open_or_make_store(url: str, tracks_per_genre: int, scratch: Path) -> FeatureStore:
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


def time_input(store: FeatureStore, config, stats, passes: int) -> dict:
    """Segments/s of shuffled training passes through the pipeline, nothing consuming them."""
    pipeline = training_pipeline(store, config, stats)
    start = time.perf_counter()
    batches = 0
    for epoch in range(1, passes + 1):
        for _ in pipeline.epoch("train", epoch, shuffle=True):
            batches += 1
    seconds = time.perf_counter() - start
    segments = passes * pipeline.n_segments("train")
    return {
        "segments": segments,
        "batches": batches,
        "seconds": round(seconds, 3),
        "segments_per_s": round(segments / seconds, 1),
    }


def time_end_to_end(store: FeatureStore, config, workdir: Path) -> dict:
    """Training segments/s of real epochs, the pipeline feeding the step (first epoch skipped:
    it includes compilation)."""
    rows = []
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
    p.add_argument("--epochs", type=int, default=2, help="end-to-end training epochs")
    p.add_argument("--steps", type=int, default=20, help="timed steps of the compute test")
    p.add_argument("--tracks-per-genre", type=int, default=24, help="synthetic store size")
    p.add_argument("--out", default=str(RESULTS / "bench_input.json"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        store = open_or_make_store(args.store, args.tracks_per_genre, scratch)
        config = with_overrides(
            default_config("cnn", args.feature),
            {"batch_size": args.batch_size, "epochs": args.epochs},
        )
        start = time.perf_counter()
        stats = compute_norm_stats(store, config.feature)
        stats_s = time.perf_counter() - start
        read = time_input(store, config, stats, args.passes)
        shape = (store.config.n_mels if args.feature == "mel" else store.config.n_mfcc,)
        compute = time_train_step(config, shape + (store.config.frames_per_segment,), args.steps)
        end_to_end = time_end_to_end(store, config, scratch / "run")
        n_train = len(store.segment_index("train")[0])
    result = {
        "store": store.url,
        "train_segments": n_train,
        "norm_stats_s": round(stats_s, 3),
        "input": read,
        "compute": compute,
        "end_to_end": end_to_end,
        "input_over_compute": round(read["segments_per_s"] / compute["segments_per_s"], 2),
    }
    bound = "compute" if result["input_over_compute"] > 1 else "input"
    print(
        f"input {read['segments_per_s']:.0f} segments/s | train step "
        f"{compute['segments_per_s']:.0f} segments/s ({compute['steps_per_s']:.2f} steps/s, "
        f"{compute['devices']} x {compute['device_kind']}) | end to end "
        f"{end_to_end['segments_per_s']:.0f} segments/s | input/compute "
        f"{result['input_over_compute']:.1f}: {bound} bounds training"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
