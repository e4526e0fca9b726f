"""What a featurize worker runs: the features of one track, and one store shard written whole.

These are the functions :mod:`sonicsep.featurize` ships to Dask workers. They live apart from
the command-line module because a task pickles its function by reference, as module and name:
under ``python -m sonicsep.featurize`` that module is ``__main__``, which a worker of an
external cluster cannot import (the task graph fails to deserialize on the scheduler). An
importable module of its own also says which code runs on workers: no CLI, no client, no
progress bar.

A shard task is a pure function of the store URL and the shard index: it reads the shard's
status, featurizes the unfinished tracks, and writes the shard whole, so running it again
(after its worker died, or in a rerun) gives the same shard.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from sonicsep import audio
from sonicsep.audio import iter_segments
from sonicsep.config import FeatureConfig
from sonicsep.errors import ParameterError, SonicSepError
from sonicsep.features import FeatureExtractor
from sonicsep.features.fma import fma_features
from sonicsep.store import FAILED, OK, FeatureStore, needs_work

SEGMENT_BATCH = 32


@functools.lru_cache(maxsize=4)
def cached_extractor(config: FeatureConfig) -> FeatureExtractor:
    """One extractor (filterbanks, FFT plans) per config per worker process."""
    return FeatureExtractor(config)


def featurize_track(path: str, config: FeatureConfig) -> dict[str, np.ndarray]:
    """Features of every segment of one audio file: mel_db, mfcc and summary, one row a segment;
    with ``config.fma_features``, also ``fma_features``: FMA's 518 of the whole file.

    Segments stream from the decoder and are featurized SEGMENT_BATCH at a time, so memory is
    bounded by the batch and the outputs, never by the length of the file. FMA's features are
    of the whole file at its native rate (as FMA computes them): that file is decoded once,
    whole, and resampled for the segments. Raises :class:`SonicSepError` (decode failure, or a
    file too short for one segment).
    """
    extractor = cached_extractor(config)
    whole = None
    try:
        if config.fma_features:
            y, native_sr = audio.load(path, sr=None)
            y_config = audio.resample(y, native_sr, config.sr)
            # A 44.1 kHz file's 22,050 Hz resample is also the CQT's first halving.
            half_rate = y_config if 2 * config.sr == native_sr else None
            whole = {"fma_features": fma_features(y, sr=native_sr, half_rate=half_rate)}
            segments = iter(audio.segment(y_config, config))
        else:
            segments = iter_segments(path, config)
        parts = [
            extractor.segment_features(np.stack(batch))
            for batch in _batches(segments, SEGMENT_BATCH)
        ]
    except ParameterError as exc:  # the audio broke the features (samples far outside [-1, 1])
        raise SonicSepError(f"{path}: {exc}") from exc
    if not parts:
        shortest = config.min_last_segment_fraction * config.segment_seconds
        raise SonicSepError(f"{path}: too short: no segment of at least {shortest:g} s of audio")
    if len(parts) > 1:
        parts = [{name: np.concatenate([p[name] for p in parts]) for name in parts[0]}]
    return {**parts[0], **(whole or {})}


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def featurize_shard(url: str, shard: int, retry_failed: bool = False) -> list[tuple[str, int]]:
    """Featurize the unfinished tracks of one shard and write the shard whole.

    A featurized track's ``duration`` becomes its file's (the header's, which counts the
    samples the file holds) and its ``warning`` says what was wrong with a file that decoded
    anyway; a failed track keeps the duration it had. Returns (track_id, status) for every
    track this call attempted.
    """
    store = FeatureStore.open(url, mode="r+")
    config = store.config
    sl = store.shard_slice(shard)
    result = store.read_shard(shard)
    track_ids = store.strings("track", sl)
    paths = store.strings("path", sl)
    attempted = []
    todo = needs_work(result.status, retry_failed)
    for i, (track_id, path) in enumerate(zip(track_ids, paths, strict=True)):
        if not todo[i]:
            continue
        result.mel_db[i] = np.nan
        result.mfcc[i] = np.nan
        result.summary[i] = np.nan
        result.mask[i] = False
        result.n_segments[i] = 0
        result.warning[i] = ""
        if result.fma_features is not None:
            result.fma_features[i] = np.nan
        try:
            header = audio.info(str(path))
            features = featurize_track(str(path), config)
        except Exception as exc:  # noqa: BLE001 - any per-track failure is recorded, never fatal
            result.status[i], result.error[i] = FAILED, failure_cause(exc)
        else:
            k = features["summary"].shape[0]
            result.mel_db[i, :k] = features["mel_db"]
            result.mfcc[i, :k] = features["mfcc"]
            result.summary[i, :k] = features["summary"]
            result.mask[i, :k] = True
            result.n_segments[i] = k
            if result.fma_features is not None:
                result.fma_features[i] = features["fma_features"]
            result.duration[i], result.warning[i] = header.duration, header.warning
            result.status[i], result.error[i] = OK, ""
        attempted.append((str(track_id), int(result.status[i])))
    store.write_shard(shard, result)
    return attempted


def failure_cause(exc: BaseException) -> str:
    """The error text a failed track or shard records: our messages as they are."""
    if isinstance(exc, SonicSepError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
