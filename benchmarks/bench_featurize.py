"""Featurization throughput: SonicSep end to end vs a librosa baseline, the decode floor, scaling.

On real audio (the WAV and MP3 clips of ../shared/data, linked N times into a GTZAN-style
layout) it measures, per format:

- SonicSep end to end (decode, resample, features, write the Zarr store) with a LocalCluster of
  1 and of 2 single-threaded workers: tracks/s per worker and the 1 -> 2 scaling efficiency;
- the librosa baseline: ``librosa.load`` then the same features one call at a time, per
  segment, in one thread (on a subset of the tracks: it is slow);
- the floor: decoding and resampling alone, streamed as the featurizer reads a file
  (``sonicsep.audio.stream``), in one thread.

Each is timed in every one of ``--repeats`` rounds and its best rate counts. It prints a
table with the ratios against the targets, projects the time for fma_large
(106,574 tracks) on 32 workers, and writes JSON. Run it on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_featurize.py --tracks 200

With ``--scheduler ADDRESS`` it instead times the same tracks through that running cluster of
N workers and through a LocalCluster of N workers, round by round, and prints both rates and
their ratio (target: the external cluster within 10% of the local one). Start the workers as
the README says (``dask worker ADDRESS --nthreads 1`` with the environment of
:func:`sonicsep.dask_cluster.dask_worker_environ`), on the same machine for a like-for-like ratio:

    .venv/bin/python benchmarks/bench_featurize.py --scheduler tcp://127.0.0.1:8786 --tracks 64

With ``--config fma`` it times featurize with FMA's 518 per-track features (``--fma``: the
native-rate decode, FMA's features, and the segment features from the resampled decode), one
worker, on the real FMA MP3, against FMA's own pipeline run with librosa (``fma_librosa.py``:
``librosa.load(sr=None)`` and its features.py calls) in one thread (target: at least 8x), and
prints the profile of one track in ms: decode, resample, CQT (with its tuning estimate), the
STFT features, statistics, segment features, and the rest (the store write and Dask):

    .venv/bin/python benchmarks/bench_featurize.py --config fma --tracks 64
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")


from sonicsep.audio import segment, stream  # noqa: E402
from sonicsep.config import FeatureConfig  # noqa: E402
from sonicsep.dask_cluster import cluster_client  # noqa: E402
from sonicsep.datasets import DatasetWarning, load_dataset  # noqa: E402
from sonicsep.featurize import prepare_store, run_featurize  # noqa: E402
from sonicsep.pipeline import featurize_track  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = {
    "mp3": SHARED / "fma/fma_small/000/000002.mp3",
    "wav": SHARED / "gtzan/genres/blues/blues.00000.wav",
}
FMA_LARGE_TRACKS = 106_574
TARGETS = {"vs_librosa_mp3": 5.5, "vs_decode": 1.35, "scaling": 0.85, "external_vs_local": 0.9,
           "fma_vs_fma_pipeline": 8.0}


def make_layout(root: Path, source: Path, n_tracks: int) -> Path:
    """A GTZAN-style folder of ``n_tracks`` links to one real file, in two genres."""
    for i in range(n_tracks):
        genre = ("a", "b")[i % 2]
        folder = root / "genres" / genre
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{genre}.{i:05d}{source.suffix}").symlink_to(source)
    return root


def time_sonicsep(
    root: Path, out: Path, workers: int, config: FeatureConfig, scheduler: str | None = None
) -> float:
    """Tracks/s of a whole run on a LocalCluster of ``workers``, or on the cluster at
    ``scheduler`` (shards sized for ``workers`` either way)."""
    # random: the layout is links to one clip, named in no GTZAN split file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        dataset = load_dataset("gtzan", root=root, split="random")
    store = prepare_store(str(out), dataset, config, workers, overwrite=True)
    with cluster_client(workers, scheduler) as client:
        # Warm every worker (imports, Numba cache, FFT plans) on one track, as librosa's
        # baseline gets a warm-up call: the rate measured is the steady state.
        client.run(featurize_track, str(dataset.tracks["path"].iloc[0]), config)
        t0 = time.perf_counter()
        counts = run_featurize(store, client, progress=False)
        elapsed = time.perf_counter() - t0
    assert counts.failed == 0 and not counts.shard_errors, counts
    return len(dataset.tracks) / elapsed


def time_decode(paths: list[Path], config: FeatureConfig) -> float:
    """The floor: decoding and resampling alone, streamed as the featurizer reads a file."""

    def drain(path):
        for _ in stream(path, sr=config.sr, block_samples=config.segment_samples):
            pass

    drain(paths[0])  # warm-up (imports, the Numba downmix kernel)
    t0 = time.perf_counter()
    for path in paths:
        drain(path)
    return len(paths) / (time.perf_counter() - t0)


def librosa_track(path: Path, config: FeatureConfig) -> None:
    """What a librosa user writes: load, then each feature one call at a time per segment."""
    import librosa

    y, sr = librosa.load(path, sr=config.sr)
    kw = dict(n_fft=config.n_fft, hop_length=config.hop_length)
    for seg in segment(y, config):
        mel = librosa.feature.melspectrogram(y=seg, sr=sr, n_mels=config.n_mels, **kw)
        librosa.power_to_db(mel, top_db=config.top_db)
        features = [
            librosa.feature.chroma_stft(y=seg, sr=sr, **kw),
            librosa.feature.rms(y=seg, frame_length=config.n_fft, hop_length=config.hop_length),
            librosa.feature.spectral_centroid(y=seg, sr=sr, **kw),
            librosa.feature.spectral_bandwidth(y=seg, sr=sr, **kw),
            librosa.feature.spectral_rolloff(y=seg, sr=sr, **kw),
            librosa.feature.zero_crossing_rate(seg, frame_length=config.n_fft,
                                               hop_length=config.hop_length),
            librosa.feature.mfcc(y=seg, sr=sr, n_mfcc=config.n_mfcc, n_mels=config.n_mels, **kw),
        ]
        [(f.mean(axis=-1), f.var(axis=-1)) for f in features]


def time_librosa(paths: list[Path], config: FeatureConfig) -> float:
    librosa_track(paths[0], config)  # warm-up (numba JIT in librosa)
    t0 = time.perf_counter()
    for path in paths:
        librosa_track(path, config)
    return len(paths) / (time.perf_counter() - t0)


def bench_format(
    fmt: str, source: Path, n_tracks: int, n_librosa: int, repeats: int, work: Path
) -> dict:
    """Best rate of ``repeats`` rounds; each round times all four, so that a slow spell of
    a shared machine does not fall on one side of a ratio only."""
    config = FeatureConfig()
    root = make_layout(work / fmt, source, n_tracks)
    paths = sorted(root.glob("genres/*/*"))
    rounds = [
        (
            time_decode(paths[: max(n_librosa, 64)], config),
            time_librosa(paths[:n_librosa], config),
            time_sonicsep(root, work / f"{fmt}-1.zarr", 1, config),
            time_sonicsep(root, work / f"{fmt}-2.zarr", 2, config),
        )
        for _ in range(repeats)
    ]
    decode, librosa_rate, one, two = (max(rates) for rates in zip(*rounds, strict=True))
    return {
        "rounds_decode_librosa_1_2_tracks_s": rounds,
        "tracks": n_tracks,
        "sonicsep_1_worker_tracks_s": one,
        "sonicsep_2_workers_tracks_s": two,
        "librosa_tracks_s": librosa_rate,
        "decode_only_tracks_s": decode,
        "speedup_vs_librosa": one / librosa_rate,
        "time_vs_decode": decode / one,
        "scaling_1_to_2": two / (2 * one),
        "fma_large_32_workers_s": FMA_LARGE_TRACKS / (one * 32),
    }


def fma_profile(path: Path, config: FeatureConfig, repeats: int) -> dict:
    """Best ms of each stage of one ``--fma`` track, in the pipeline's order."""
    import numpy as np

    from sonicsep import audio
    from sonicsep.features import spectral_contrast, stft
    from sonicsep.features.fma import fma_series, fma_statistics
    from sonicsep.pipeline import cached_extractor

    best: dict[str, float] = {}

    def stage(name, fn, *args, **kwargs):
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        best[name] = min(best.get(name, np.inf), 1e3 * (time.perf_counter() - start))
        return value

    extractor = cached_extractor(config)
    for _ in range(repeats + 1):  # the first round warms up
        y, sr = stage("decode", audio.load, path, sr=None)
        resampled = stage("resample", audio.resample, y, sr, config.sr)
        magnitude = np.abs(stage("stft", stft, y, n_fft=2048, hop_length=512))
        stage("spectral_contrast", spectral_contrast, S=magnitude, n_bands=6)
        series = stage("fma_series (all 11 features)", fma_series, y, sr=sr)
        stage("statistics", fma_statistics, series)
        segments = audio.segment(resampled, config)
        stage("segment features", extractor.segment_features, segments)
        stage("featurize_track (all of it)", featurize_track, str(path), config)
    return best


def bench_fma(n_tracks: int, n_reference: int, repeats: int, work: Path) -> dict:
    """featurize --fma (one worker) against FMA's own pipeline with librosa, best of rounds."""
    import fma_librosa

    config = FeatureConfig(fma_features=True)
    source = SOURCES["mp3"]
    root = make_layout(work / "fma", source, n_tracks)
    paths = sorted(root.glob("genres/*/*"))

    def reference_rate() -> float:
        fma_librosa.fma_track(paths[0])  # warm-up (librosa's Numba JIT)
        t0 = time.perf_counter()
        for path in paths[:n_reference]:
            fma_librosa.fma_track(path)
        return n_reference / (time.perf_counter() - t0)

    rounds = [(time_sonicsep(root, work / "fma.zarr", 1, config), reference_rate())
              for _ in range(repeats)]
    ours, reference = (max(rates) for rates in zip(*rounds, strict=True))
    return {
        "rounds_sonicsep_fma_pipeline_tracks_s": rounds,
        "tracks": n_tracks,
        "sonicsep_1_worker_tracks_s": ours,
        "fma_pipeline_tracks_s": reference,
        "speedup_vs_fma_pipeline": ours / reference,
        "fma_large_32_workers_s": FMA_LARGE_TRACKS / (ours * 32),
        "profile_ms": fma_profile(source, config, repeats),
    }


def report_fma(result: dict, repeats: int, out: str) -> None:
    print(f"featurize --fma, 1 worker: {result['sonicsep_1_worker_tracks_s']:.2f} tracks/s; "
          f"FMA's pipeline with librosa: {result['fma_pipeline_tracks_s']:.2f} tracks/s; "
          f"{result['speedup_vs_fma_pipeline']:.2f}x (best of {repeats} rounds)")
    print("profile of one track (best ms):")
    for stage, ms in result["profile_ms"].items():
        print(f"  {stage:32s} {ms:8.1f}")
    target = TARGETS["fma_vs_fma_pipeline"]
    checks = {f"featurize --fma >= {target}x FMA's pipeline (MP3, decode included)":
              result["speedup_vs_fma_pipeline"] >= target}
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(f"projected fma_large ({FMA_LARGE_TRACKS} tracks) with --fma on 32 workers: "
          f"{result['fma_large_32_workers_s']:.0f} s")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"results": result, "targets": TARGETS, "checks": checks},
                                    indent=2))


def cluster_workers(scheduler: str) -> int:
    """The worker count of the cluster at ``scheduler``; warns (stdout) about workers that
    are not started as featurize starts its local ones, as that skews the ratio."""
    from dask.distributed import Client

    with Client(scheduler) as client:
        threads = client.nthreads()
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    if not threads:
        raise SystemExit(f"no workers connected to {scheduler}")
    if set(threads.values()) != {1} or any(value is not None for value in trim.values()):
        print(f"note: workers are not all --nthreads 1 without MALLOC_TRIM_THRESHOLD_ "
              f"(threads {sorted(threads.values())}, MALLOC_TRIM_THRESHOLD_ {set(trim.values())})")
    return len(threads)


def bench_cluster(scheduler: str, n_tracks: int, repeats: int, work: Path) -> dict:
    """External cluster vs a LocalCluster of as many workers, per format, best of rounds."""
    config = FeatureConfig()
    workers = cluster_workers(scheduler)
    results = {}
    for fmt, source in SOURCES.items():
        root = make_layout(work / fmt, source, n_tracks)
        rounds = [
            (
                time_sonicsep(root, work / f"{fmt}-local.zarr", workers, config),
                time_sonicsep(root, work / f"{fmt}-external.zarr", workers, config, scheduler),
            )
            for _ in range(repeats)
        ]
        local, external = (max(rates) for rates in zip(*rounds, strict=True))
        results[fmt] = {"rounds_local_external_tracks_s": rounds, "tracks": n_tracks,
                        "workers": workers, "local_tracks_s": local,
                        "external_tracks_s": external, "external_vs_local": external / local}
    return results


def report_cluster(results: dict, repeats: int, out: str) -> None:
    workers = next(iter(results.values()))["workers"]
    print(f"{'':8s} {'local':>9s} {'external':>9s} {'ratio':>6s}"
          f"   (tracks/s on {workers} workers each, best of {repeats} rounds)")
    for fmt, r in results.items():
        print(f"{fmt:8s} {r['local_tracks_s']:9.2f} {r['external_tracks_s']:9.2f} "
              f"{r['external_vs_local']:6.2f}")
    target = TARGETS["external_vs_local"]
    checks = {f"external cluster >= {target:.0%} of local, {fmt}":
              r["external_vs_local"] >= target for fmt, r in results.items()}
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"results": results, "targets": TARGETS, "checks": checks},
                                    indent=2))


def main():
    parser = argparse.ArgumentParser(description="featurize throughput vs librosa and decode")
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--librosa-tracks", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best rate counts")
    parser.add_argument("--formats", default="mp3,wav",
                        help="comma-separated formats to time (default: mp3,wav; the targets "
                        "are judged on mp3)")
    parser.add_argument("--scheduler",
                        help="time this running cluster against a LocalCluster of as many "
                        "workers, instead of the comparison with librosa")
    parser.add_argument("--config", choices=("gtzan", "fma"), default="gtzan",
                        help="fma: featurize --fma against FMA's own pipeline (see above)")
    parser.add_argument("--out", help="JSON results (default: benchmarks/results/"
                        "bench_featurize.json, bench_featurize_cluster.json with --scheduler, "
                        "bench_featurize_fma.json with --config fma)")
    args = parser.parse_args()
    missing = [str(p) for p in SOURCES.values() if not p.exists()]
    if missing:
        raise SystemExit(f"real sample audio not found: {missing} (expected ../shared/data)")
    if args.config == "fma":
        work = Path(tempfile.mkdtemp(prefix="sonicsep-bench-"))
        try:
            result = bench_fma(args.tracks, args.librosa_tracks, args.repeats, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        report_fma(result, args.repeats, args.out or "benchmarks/results/bench_featurize_fma.json")
        return
    if args.scheduler:
        work = Path(tempfile.mkdtemp(prefix="sonicsep-bench-"))
        try:
            results = bench_cluster(args.scheduler, args.tracks, args.repeats, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        report_cluster(results, args.repeats,
                       args.out or "benchmarks/results/bench_featurize_cluster.json")
        return
    if "mp3" not in args.formats.split(","):
        parser.error("--formats must include mp3 (the targets are judged on it)")
    args.out = args.out or "benchmarks/results/bench_featurize.json"
    work = Path(tempfile.mkdtemp(prefix="sonicsep-bench-"))
    try:
        results = {
            fmt: bench_format(fmt, src, args.tracks, args.librosa_tracks, args.repeats, work)
            for fmt, src in SOURCES.items()
            if fmt in args.formats.split(",")
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average: {os.getloadavg()}")
    print(f"{'':8s} {'1 worker':>9s} {'2 workers':>9s} {'librosa':>8s} {'decode':>8s}"
          f" {'x librosa':>9s} {'t/decode':>8s} {'scaling':>8s}"
          f"   (tracks/s, best of {args.repeats} rounds)")
    for fmt, r in results.items():
        print(f"{fmt:8s} {r['sonicsep_1_worker_tracks_s']:9.2f} "
              f"{r['sonicsep_2_workers_tracks_s']:9.2f} {r['librosa_tracks_s']:8.2f} "
              f"{r['decode_only_tracks_s']:8.2f} {r['speedup_vs_librosa']:9.2f} "
              f"{r['time_vs_decode']:8.2f} {r['scaling_1_to_2']:8.2f}")
    mp3 = results["mp3"]
    checks = {
        f"MP3 speed-up vs librosa >= {TARGETS['vs_librosa_mp3']}x":
            mp3["speedup_vs_librosa"] >= TARGETS["vs_librosa_mp3"],
        f"MP3 time per track <= {TARGETS['vs_decode']}x decode alone":
            mp3["time_vs_decode"] <= TARGETS["vs_decode"],
        f"scaling 1->2 workers >= {TARGETS['scaling']:.0%} (MP3)":
            mp3["scaling_1_to_2"] >= TARGETS["scaling"],
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(f"projected fma_large ({FMA_LARGE_TRACKS} tracks) on 32 workers at the measured MP3 "
          f"rate per worker: {mp3['fma_large_32_workers_s']:.0f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"results": results, "targets": TARGETS,
                                          "checks": checks}, indent=2))


if __name__ == "__main__":
    main()
