"""Classical baselines at FMA scale: fit and predict time and peak RSS of every method, run as
users run it (``python -m sonicsep.benchmark`` in its own process), locally and on an external
``dask scheduler`` + ``dask worker`` cluster on loopback.

The store is synthetic, shaped like an FMA subset: ``--shape small`` 8,000 tracks, ``--shape
large`` 106,574 tracks; 16 genres, 6 segments of 74 summary features a track, FMA's 80/10/10
split proportions. Genres overlap (a genre mean, a per-track offset and per-segment noise), so
trees grow as on real features rather than stopping at a few pure leaves.

    python benchmarks/bench_classical.py --shape small                  # every method, local
    python benchmarks/bench_classical.py --shape small --cluster 1,2    # + 1- and 2-worker runs
    python benchmarks/bench_classical.py --shape large --methods knn    # one method
    python benchmarks/bench_classical.py --crossover 2000,8000,16000    # SVC vs its scaled variant

Peak RSS is the largest sum of RSS over the CLI's process tree (joblib workers included),
sampled every 0.2 s; on a cluster, the workers' peak is reported beside it. The machine's load
average is printed, since other jobs share its cores. Timings are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from sonicsep import classical, classical_features
from sonicsep.config import FeatureConfig
from sonicsep.datasets.splits import stratified_split
from sonicsep.store import OK, FeatureStore, ShardResult

SHAPES = {"small": 8_000, "large": 106_574}
N_GENRES = 16
N_SUMMARY = 74
N_SEGMENTS = 6
FMA_FRACTIONS = (0.8, 0.1, 0.1)  # FMA's official split: 80/10/10 of the tracks
# Tiny spectrograms: only the summaries are benchmarked, and the store should take seconds.
CONFIG = FeatureConfig(n_mels=4, n_mfcc=2, segment_seconds=0.1, max_segments=N_SEGMENTS,
                       n_fft=512, hop_length=512)
# Genre means this far apart against per-track (1.0) and per-segment (1.5) spread give
# FMA-like accuracies (tens of percent, not 100%), so models work as hard as on real features.
GENRE_SPREAD = 0.2
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"


def make_store(url: Path, n_tracks: int, seed: int = 0) -> FeatureStore:
    """A summaries store of ``n_tracks`` tracks shaped like FMA (see the module docstring)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_GENRES, n_tracks)
    tracks = pd.DataFrame({
        "track_id": [f"{i:06d}" for i in range(n_tracks)],
        "path": [f"/nonexistent/{i:06d}.mp3" for i in range(n_tracks)],
        "label": labels,
        "split": stratified_split(labels, seed=seed, fractions=FMA_FRACTIONS),
        "duration": np.full(n_tracks, 30.0),
    })
    store = FeatureStore.create(
        str(url), dataset="synthetic-fma", genres=[f"genre{g:02d}" for g in range(N_GENRES)],
        tracks=tracks, config=CONFIG,
        summary_names=[f"f{j:02d}_{s}" for j in range(N_SUMMARY // 2) for s in ("mean", "var")],
        echonest_names=[], tracks_per_shard=4096, overwrite=True,
    )
    genre_mean = rng.normal(0, GENRE_SPREAD, (N_GENRES, N_SUMMARY))
    for shard in range(store.n_shards):
        rows = store.shard_slice(shard)
        k = rows.stop - rows.start
        result = ShardResult.empty(k, CONFIG, N_SUMMARY)
        track_offset = rng.normal(0, 1.0, (k, 1, N_SUMMARY))
        noise = rng.normal(0, 1.5, (k, N_SEGMENTS, N_SUMMARY))
        result.summary[:] = genre_mean[labels[rows]][:, None] + track_offset + noise
        result.mel_db[:] = 0
        result.mfcc[:] = 0
        result.mask[:] = True
        result.n_segments[:] = N_SEGMENTS
        result.status[:] = OK
        store.write_shard(shard, result)
    return store


class PeakRSS:
    """The largest total RSS of some processes and all their children, sampled in a thread,
    and the CPU seconds (user + system) each of them was last seen to have used: CPU time
    does not grow with the machine's load as wall time does."""

    def __init__(self, pids):
        self.roots = [psutil.Process(pid) for pid in pids]
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop.is_set():
            total = 0
            for root in self.roots:
                try:
                    for p in [root, *root.children(recursive=True)]:
                        total += p.memory_info().rss
                        times = p.cpu_times()
                        self.cpu[p.pid] = times.user + times.system
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_cli(store_url, methods, out: Path, scheduler=None, worker_pids=(), extra=()) -> dict:
    """One ``python -m sonicsep.benchmark`` run: wall time, peak RSS and its results.json."""
    cmd = [sys.executable, "-m", "sonicsep.benchmark", "--store", str(store_url),
           "--features", "summary", "--methods", ",".join(methods), "--out", str(out), *extra]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cli_peak, worker_peak = PeakRSS([proc.pid]), PeakRSS(worker_pids) if worker_pids else None
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"benchmark failed ({proc.returncode}):\n{stdout}\n{stderr}")
    report = json.loads((out / "results.json").read_text())
    worker_cpu = None
    if worker_peak:
        worker_peak.stop()
        worker_cpu = sum(worker_peak.cpu.values())
    return {"wall_s": wall, "cli_peak_rss_mb": cli_peak.stop() / 2**20,
            "worker_peak_rss_mb": worker_peak.peak / 2**20 if worker_peak else None,
            "cli_cpu_s": sum(cli_peak.cpu.values()), "worker_cpu_s": worker_cpu,
            "report": report, "printed": stdout, "uptime": uptime()}


def uptime() -> str:
    """`uptime`'s line: the load average other jobs put on the shared machine."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


class Cluster:
    """``dask scheduler`` and ``n`` single-threaded ``dask worker`` processes on loopback."""

    def __init__(self, folder: Path, n_workers: int):
        scheduler_file = folder / "scheduler.json"
        scheduler_file.unlink(missing_ok=True)  # a previous cluster's file names a dead address
        log = open(folder / "cluster.log", "ab")  # noqa: SIM115 - the processes own it
        self.processes = [subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)], stdout=log, stderr=log,
            start_new_session=True)]
        while not scheduler_file.exists():
            time.sleep(0.1)
        time.sleep(0.5)
        self.address = json.loads(scheduler_file.read_text())["address"]
        self.workers = [subprocess.Popen(
            [DASK, "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
             "--no-dashboard", "--memory-limit", "0"], stdout=log, stderr=log,
            start_new_session=True) for _ in range(n_workers)]
        self.processes += self.workers
        from dask.distributed import Client

        try:
            with Client(self.address) as client:
                client.wait_for_workers(n_workers, timeout=120)
        except BaseException:
            self.close()
            raise

    def close(self):
        for p in self.processes:
            p.kill()
            p.wait()


def method_rows(run: dict) -> list[dict]:
    return [{"method": r["method"], "variant": r["variant"], "tuned_on": r["tuned_on"],
             "tune_s": r["tune_seconds"], "refit_s": r["fit_seconds"],
             "predict_s": r["predict_seconds"], "test_track_accuracy": r["test_track_accuracy"]}
            for r in run["report"]["results"]]


def crossover(sizes, seed=0) -> list[dict]:
    """Fit time of the study's calibrated SVC against its scaled variant, per kernel and size,
    on the large shape's features (a stratified draw of segments)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        store = make_store(Path(folder) / "s.zarr", max(sizes) // 4 + 2000, seed)
        fs = classical_features.load_feature_set(store, "summary")
        X_train, y_train, _ = fs.part("train")
        X_val, y_val, _ = fs.part("val")
        for n in sizes:
            X, y = X_train[:n], y_train[:n]
            for kernel in ("linear", "poly", "rbf"):
                row = {"n_train": n, "kernel": kernel}
                for variant in ("exact", "scaled"):
                    start = time.perf_counter()
                    model = classical.make_pipeline(
                        "svm", {"kernel": kernel}, variant=variant, n_train=n
                    ).fit(X, y)
                    row[f"{variant}_fit_s"] = time.perf_counter() - start
                    row[f"{variant}_val_accuracy"] = float(
                        (model.predict_proba(X_val).argmax(1) == y_val).mean())
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="small")
    p.add_argument("--tracks", type=int, help="override the shape's track count (smoke runs)")
    p.add_argument("--methods", default=",".join(classical.METHODS))
    p.add_argument("--cluster", default="", help="worker counts to run on, e.g. 1,2")
    p.add_argument("--no-local", action="store_true", help="skip the local all-methods run")
    p.add_argument("--per-method", action="store_true",
                   help="also run each method in its own process (its own peak RSS)")
    p.add_argument("--crossover", default="", help="SVC crossover sizes, e.g. 2000,8000")
    p.add_argument("--store", help="reuse (or keep) the synthetic store at this path")
    p.add_argument("--json", default="benchmarks/results/bench_classical.json")
    args = p.parse_args(argv)
    # A SIGTERM (`timeout`, a job scheduler) unwinds through the `finally`s below, so the
    # cluster's processes (their own sessions, out of reach of the group's signal) are killed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    load = {"before": os.getloadavg(), "cpus": os.cpu_count()}
    n_tracks = args.tracks or SHAPES[args.shape]
    out: dict = {"shape": args.shape, "n_tracks": n_tracks}
    if args.crossover:
        out["crossover"] = crossover([int(n) for n in args.crossover.split(",")])
    folder = Path(tempfile.mkdtemp(prefix="bench_classical_"))
    try:
        url = Path(args.store) if args.store else folder / "store.zarr"
        start = time.perf_counter()
        if not (url / "zarr.json").exists():
            make_store(url, n_tracks)
            out["store_seconds"] = time.perf_counter() - start
        methods = [m for m in args.methods.split(",") if m]
        if not args.no_local:  # all methods in one run, as a user runs it
            before = uptime()
            run = run_cli(url, methods, folder / "local")
            out["local"] = {"wall_s": run["wall_s"], "peak_rss_mb": run["cli_peak_rss_mb"],
                            "cpu_s": run["cli_cpu_s"], "uptime_before": before,
                            "uptime_after": run["uptime"], "methods": method_rows(run)}
            print(run["printed"], flush=True)
            print(json.dumps({k: v for k, v in out["local"].items()}, indent=1), flush=True)
        if args.per_method:  # each method in its own run: its own peak RSS
            out["per_method"] = {}
            for method in methods:
                run = run_cli(url, [method], folder / f"local_{method}")
                (row,) = method_rows(run)
                row.update(wall_s=run["wall_s"], peak_rss_mb=run["cli_peak_rss_mb"],
                           cpu_s=run["cli_cpu_s"], uptime_after=run["uptime"])
                out["per_method"][method] = row
                print(json.dumps(row), flush=True)
        for n_workers in [int(n) for n in args.cluster.split(",") if n]:
            cluster = Cluster(folder, n_workers)
            before = uptime()
            try:
                run = run_cli(url, methods, folder / f"cluster{n_workers}", cluster.address,
                              [w.pid for w in cluster.workers])
            finally:
                cluster.close()
            row = {"workers": n_workers, "wall_s": run["wall_s"],
                   "cli_peak_rss_mb": run["cli_peak_rss_mb"],
                   "worker_peak_rss_mb": run["worker_peak_rss_mb"],
                   "cli_cpu_s": run["cli_cpu_s"], "worker_cpu_s": run["worker_cpu_s"],
                   "uptime_before": before, "uptime_after": run["uptime"],
                   "methods": method_rows(run)}
            out.setdefault("cluster", []).append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "methods"}), flush=True)
        if len(out.get("cluster", [])) >= 2:
            one, two = out["cluster"][0], out["cluster"][1]
            out["cluster_speedup"] = one["wall_s"] / two["wall_s"]
            print(f"cluster speed-up {one['workers']} -> {two['workers']} workers: "
                  f"{out['cluster_speedup']:.2f}x", flush=True)
    finally:  # the outputs and cluster logs; a --store store lives outside the folder
        shutil.rmtree(folder, ignore_errors=True)
    load["after"] = os.getloadavg()
    out["load_average"] = load
    if "local" in out:
        print(f"local: {out['local']['wall_s']:.0f} s for {len(methods)} methods; "
              f"peak RSS {out['local']['peak_rss_mb']:.0f} MB")
    print(f"load average before {load['before']}, after {load['after']} on {load['cpus']} CPUs")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
