"""Similarity index at scale: build time, query latency and exactness on 100k tracks.

Two measurements, printed and written as JSON:

1. A synthetic 100k x d index (d = 74, the default summary vector, and 64, the CNN embedding):
   build (standardise), save, load, and the latency of one query. The index is EXACT (a float32
   screen with a proven error bound, then float64 re-ranking), so its top 10 must equal a
   brute-force float64 sort of all distances (ties by row), in order, on every sampled query;
   the benchmark checks it instead of assuming it.
2. A 100k-track feature store (summaries only, tiny spectrogram config): what a CLI query costs
   besides featurizing the query file, i.e. opening the store, checking the saved index's
   fingerprint, loading the index and searching, next to the one-off index build.

    .venv/bin/python benchmarks/bench_similar.py [--tracks 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sonicsep.config import FeatureConfig
from sonicsep.similar import (
    SimilarityIndex,
    build_index,
    index_folder,
    load_or_build_index,
    standardiser,
)
from sonicsep.store import OK, FeatureStore

K = 10
SUMMARY_DIM, EMBEDDING_DIM = 74, 64
STORE_CONFIG = FeatureConfig(
    n_mels=8, n_mfcc=4, n_fft=256, hop_length=128, segment_seconds=0.1, max_segments=6
)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def synthetic_index(raw: np.ndarray, genres: np.ndarray) -> SimilarityIndex:
    mean, scale = standardiser(raw)
    return SimilarityIndex(
        index_name="bench",
        vectors=((raw - mean) / scale).astype(np.float32),
        track_ids=np.array([f"{i:06d}" for i in range(len(raw))]),
        genres=genres,
        mean=mean,
        scale=scale,
        fingerprint="bench",
    )


def brute_force_top(index: SimilarityIndex, query: np.ndarray, k: int) -> list[str]:
    """The reference answer: every distance in float64, fully sorted (ties by row)."""
    d = np.sqrt(((index.vectors.astype(np.float64) - query.astype(np.float64)) ** 2).sum(axis=1))
    return list(index.track_ids[np.argsort(d, kind="stable")[:k]])


def latency_ms(index: SimilarityIndex, queries: np.ndarray) -> dict:
    times = []
    for q in queries:
        _, seconds = timed(index.query, q, K)
        times.append(1000 * seconds)
    return {"median": float(np.median(times)), "p95": float(np.percentile(times, 95))}


def bench_vectors(n_tracks: int, dim: int, n_queries: int, folder: Path) -> dict:
    rng = np.random.default_rng(dim)
    # Clustered like genres, with columns on very different scales like raw summaries.
    centres = rng.normal(0, 3, (16, dim))
    labels = rng.integers(0, 16, n_tracks)
    raw = (centres[labels] + rng.normal(0, 1, (n_tracks, dim))) * rng.uniform(0.01, 1000, dim)
    index, build_s = timed(synthetic_index, raw, np.array([f"g{g}" for g in labels]))
    _, save_s = timed(index.save, folder)
    loaded, load_s = timed(SimilarityIndex.load, folder)
    picks = rng.choice(n_tracks, n_queries, replace=False)
    # Queries near stored tracks (a song and its neighbours), in the standardised space.
    queries = loaded.vectors[picks] + rng.normal(0, 0.1, (n_queries, dim)).astype(np.float32)
    same = [
        [t for t, _, _ in loaded.query(q, K)] == brute_force_top(loaded, q, K)
        for q in queries[: min(100, n_queries)]
    ]
    return {
        "tracks": n_tracks,
        "dim": dim,
        "build_s": build_s,
        "save_s": save_s,
        "load_s": load_s,
        "query_ms": latency_ms(loaded, queries),
        "top10_equal_to_brute_force": float(np.mean(same)),
        "queries_checked": len(same),
    }


def synthetic_store(url: str, n_tracks: int) -> FeatureStore:
    """A store of ``n_tracks`` finished tracks with summaries (spectrogram arrays left empty).

    Written array by array, not shard by shard: a benchmark fixture, not a featurize run.
    """
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 16, n_tracks)
    tracks = pd.DataFrame(
        {
            "track_id": [f"{i:06d}" for i in range(n_tracks)],
            "path": [f"/nowhere/{i:06d}.mp3" for i in range(n_tracks)],
            "label": labels,
            "split": rng.choice(["train", "val", "test"], n_tracks),
            "duration": np.full(n_tracks, 30.0),
        }
    )
    names = [f"f{j:02d}_mean" for j in range(SUMMARY_DIM)]
    store = FeatureStore.create(
        url, dataset="bench", genres=[f"g{g}" for g in range(16)], tracks=tracks,
        config=STORE_CONFIG, summary_names=names, echonest_names=(), tracks_per_shard=64,
    )
    seg = STORE_CONFIG.max_segments
    centres = rng.normal(0, 3, (16, SUMMARY_DIM))
    summary = centres[labels][:, None] + rng.normal(0, 1, (n_tracks, seg, SUMMARY_DIM))
    store.group["summary"][:] = summary.astype(np.float32)
    store.group["mask"][:] = np.ones((n_tracks, seg), bool)
    store.group["n_segments"][:] = np.full(n_tracks, seg, np.int16)
    store.group["status"][:] = np.full(n_tracks, OK, np.int8)
    return store


def bench_store(n_tracks: int, n_queries: int, work: Path) -> dict:
    url = str(work / "bench.zarr")
    _, create_s = timed(synthetic_store, url, n_tracks)
    store = FeatureStore.open(url)
    index, build_s = timed(build_index, store)
    index.save(index_folder(url, "summary"))

    def cli_query(vector):
        opened = FeatureStore.open(url)
        return load_or_build_index(opened).query(vector, K)

    rng = np.random.default_rng(1)
    vectors = index.vectors[rng.choice(len(index.vectors), n_queries // 10 or 1)]
    times = [timed(cli_query, v)[1] for v in vectors]
    return {
        "tracks": n_tracks,
        "fixture_create_s": create_s,
        "index_build_s": build_s,
        "open_check_load_query_s": {"median": float(np.median(times)), "max": float(max(times))},
    }


def main():
    parser = argparse.ArgumentParser(description="similarity index build time and query latency")
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/bench_similar.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sonicsep-bench-similar-"))
    try:
        vectors = [
            bench_vectors(args.tracks, dim, args.queries, work / f"index-{dim}")
            for dim in (SUMMARY_DIM, EMBEDDING_DIM)
        ]
        store = bench_store(args.tracks, args.queries, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("index: exact Euclidean search (a float32 matrix-vector product with a proven error "
          "bound, float64 re-ranking), no approximation")
    print(f"{'tracks':>8s} {'dim':>4s} {'build s':>8s} {'save s':>7s} {'load s':>7s} "
          f"{'query ms (median/p95)':>22s} {'exact top10':>11s}")
    for r in vectors:
        print(f"{r['tracks']:8d} {r['dim']:4d} {r['build_s']:8.3f} {r['save_s']:7.3f} "
              f"{r['load_s']:7.3f} {r['query_ms']['median']:10.2f} / {r['query_ms']['p95']:<9.2f} "
              f"{r['top10_equal_to_brute_force']:11.3f}")
    cli = store["open_check_load_query_s"]
    print(f"store of {store['tracks']} tracks: index build {store['index_build_s']:.2f} s once; "
          "then open store + fingerprint check + load index + query: "
          f"median {cli['median']:.3f} s, max {cli['max']:.3f} s "
          "(query file featurization not included)")
    checks = {
        "exact: every top 10 equals the float64 brute force, in order": all(
            r["top10_equal_to_brute_force"] == 1.0 for r in vectors
        ),
        f"a query on a saved {store['tracks']}-track index answers in < 1 s": cli["max"] < 1.0,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"vectors": vectors, "store": store, "checks": checks}, indent=2)
    )


if __name__ == "__main__":
    main()
