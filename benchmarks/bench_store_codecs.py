"""Choose the store's compressor by measurement: size and write/read speed per codec.

Data: log-mel segments (float32, the store's largest array) of the real GTZAN and FMA clips in
../shared/data (or generated noise+tones where absent), laid out exactly as the store does
(track, segment, mel, time) with the store's chunking. Per codec: the compression ratio, the
best of ``--repeats`` whole-array writes and reads through Zarr (all cores), and the segments
per CPU-second one thread reads with the store's direct reader (:mod:`sonicsep.store_reader`: a
compressed chunk is decoded whole into scratch and its segments gathered out, an uncompressed
segment is one ``pread``), which bounds streaming training at cores x that rate when an epoch
needs every segment of the chunks it reads (divided by the decoded segments per training
segment when it does not, see benchmarks/bench_input.py). ``memcpy`` of the same bytes (CPU time
too) is the memory floor. The load average is printed: the machine may be shared.

    .venv/bin/python benchmarks/bench_store_codecs.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr
from numcodecs import blosc
from zarr.codecs import BloscCodec, ZstdCodec

from sonicsep.audio import segment
from sonicsep.config import FeatureConfig
from sonicsep.features import FeatureExtractor
from sonicsep.store import _chunk_tracks
from sonicsep.store_reader import ChunkReader

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CODECS = {
    "none": None,
    "zstd-3 (no shuffle)": ZstdCodec(level=3),
    "blosc-lz4-5-shuffle": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
    "blosc-lz4-1-shuffle": BloscCodec(cname="lz4", clevel=1, shuffle="shuffle"),
    "blosc-zstd-1-shuffle": BloscCodec(cname="zstd", clevel=1, shuffle="shuffle"),
    "blosc-zstd-1-shuffle-256K": BloscCodec(cname="zstd", clevel=1, shuffle="shuffle",
                                            blocksize=1 << 18),
    "blosc-zstd-1-shuffle-1M": BloscCodec(cname="zstd", clevel=1, shuffle="shuffle",
                                          blocksize=1 << 20),
    "blosc-zstd-1-shuffle-4M": BloscCodec(cname="zstd", clevel=1, shuffle="shuffle",
                                          blocksize=1 << 22),
    "blosc-zstd-3-shuffle-4M": BloscCodec(cname="zstd", clevel=3, shuffle="shuffle",
                                          blocksize=1 << 22),
    "blosc-zstd-1-bitshuffle": BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle"),
    "blosc-zstd-3-shuffle": BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),
    "blosc-zstd-3-bitshuffle": BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),
    "blosc-zstd-5-shuffle": BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"),
}


def real_mel(config: FeatureConfig) -> np.ndarray:
    from sonicsep.audio import load

    files = sorted(SHARED.glob("gtzan/genres/*/*.wav")) + sorted(
        SHARED.glob("fma/fma_small/*/*.mp3")
    )
    if not files:
        rng = np.random.default_rng(0)
        t = np.arange(30 * config.sr) / config.sr
        signals = [
            np.sin(2 * np.pi * f * t) * 0.3 + rng.normal(0, 0.05, t.size) for f in (110, 440)
        ]
    else:
        signals = [load(f, sr=config.sr)[0] for f in files]
    fx = FeatureExtractor(config)
    mels = []
    for y in signals:
        segs = segment(y, config)
        if len(segs) == 0:  # the 2 s excerpt is shorter than one segment
            continue
        out = np.full(
            (config.max_segments, config.n_mels, config.frames_per_segment), np.nan, np.float32
        )
        out[: len(segs)] = fx.segment_features(segs)["mel_db"]
        mels.append(out)
    return np.stack(mels)


def direct_seconds(array: zarr.Array) -> float:
    """CPU seconds one thread takes to read every segment of ``array`` with its direct reader,
    a chunk at a time, into a preallocated output (CPU time: on a shared machine the wall time
    follows the other jobs)."""
    reader = ChunkReader.open(array)
    # Decode in this thread as the pipeline's reader threads do (numcodecs would hand a main
    # thread's Blosc call to Blosc's own threads, whose CPU time thread_time misses).
    blosc.use_threads = False
    n_tracks, n_segments = array.shape[:2]
    out = np.empty((reader.chunk_tracks * n_segments, *array.shape[2:]), array.dtype)
    start = time.thread_time()
    for first in range(0, n_tracks, reader.chunk_tracks):
        rows = np.repeat(np.arange(first, first + reader.chunk_tracks), n_segments)
        reader.read_segments(out, rows, np.tile(np.arange(n_segments), reader.chunk_tracks))
    return time.thread_time() - start


def memcpy_seconds(data: np.ndarray, repeats: int) -> float:
    out = np.empty_like(data)
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        np.copyto(out, data)
        best = min(best, time.thread_time() - start)
    return best


def measure(data: np.ndarray, codec, chunk_tracks: int, repeats: int = 3) -> dict:
    root = Path(tempfile.mkdtemp())
    try:
        best_w = best_r = best_d = float("inf")
        for _ in range(repeats):
            shutil.rmtree(root / "a.zarr", ignore_errors=True)
            arr = zarr.create_array(
                str(root / "a.zarr"),
                shape=data.shape,
                chunks=(chunk_tracks, *data.shape[1:]),
                shards=(data.shape[0], *data.shape[1:]),
                dtype=data.dtype,
                compressors=codec if codec is not None else None,
                fill_value=np.nan,
            )
            t0 = time.perf_counter()
            arr[:] = data
            best_w = min(best_w, time.perf_counter() - t0)
            t0 = time.perf_counter()
            back = zarr.open_array(str(root / "a.zarr"))[:]
            best_r = min(best_r, time.perf_counter() - t0)
            best_d = min(best_d, direct_seconds(zarr.open_array(str(root / "a.zarr"))))
        assert np.array_equal(back, data, equal_nan=True)
        size = sum(p.stat().st_size for p in (root / "a.zarr").rglob("*") if p.is_file())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    mb = data.nbytes / 2**20
    return {
        "ratio": data.nbytes / size,
        "write_MB_s": mb / best_w,
        "read_MB_s": mb / best_r,
        "direct_segments_per_cpu_s": data.shape[0] * data.shape[1] / best_d,
        "bytes": size,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/bench_store_codecs.json")
    parser.add_argument("--repeats", type=int, default=5, help="best of this many timings")
    args = parser.parse_args()
    config = FeatureConfig()
    data = real_mel(config)
    chunk_tracks = _chunk_tracks(data[0].nbytes, 64)  # the store's own chunking rule
    data = data[: len(data) - len(data) % chunk_tracks]  # whole chunks in one shard
    rows = {}
    for name, codec in CODECS.items():
        rows[name] = measure(data, codec, chunk_tracks, args.repeats)
        rows[name]["load_average"] = round(os.getloadavg()[0], 2)
    segments = data.shape[0] * data.shape[1]
    memcpy = segments / memcpy_seconds(data, args.repeats)
    print(
        f"log-mel of {data.shape[0]} tracks, {data.nbytes / 2**20:.1f} MiB raw, "
        f"chunk {chunk_tracks} tracks; memcpy {memcpy:.0f} segments/cpu-s"
    )
    print(f"{'codec':28s} {'ratio':>6s} {'write MB/s':>11s} {'read MB/s':>10s} "
          f"{'direct seg/cpu-s':>22s} {'load':>5s}")
    for name, r in rows.items():
        print(f"{name:28s} {r['ratio']:6.3f} {r['write_MB_s']:11.0f} {r['read_MB_s']:10.0f} "
              f"{r['direct_segments_per_cpu_s']:22.0f} {r['load_average']:5.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(
        {"shape": data.shape, "memcpy_segments_per_cpu_s": memcpy, "codecs": rows},
        indent=2,
    ))


if __name__ == "__main__":
    main()
