"""Store -> host batches: the only place the deep models read the feature store.

A batch is a dict of fixed-shape numpy arrays (the last one of an epoch is padded, with
``weight`` 0 on the padding, so the jitted step never sees a new shape)::

    x              (B, bands, time) mel_db or mfcc segment, or (B, n_summary) summary vector,
                   standardised per band / column with training-split statistics
    label          (B,)  int32 genre index into the store's genres
    echonest       (B, E) float32 standardised Echonest features, 0 where absent
    echonest_mask  (B, E) float32 1 where the track has that Echonest feature
    weight         (B,)  float32 1 for real segments, 0 for padding
    track          (B,)  int32 track row in the store (-1 on padding), for track-level scores

The store is never loaded whole by the streaming path. An epoch's order is a pure function of
``(seed, epoch)``: the store's track chunks are shuffled, then segments are shuffled within
windows of ``shuffle_buffer`` consecutive segments. A window is read one stored chunk per task
on a pool of ``workers`` threads (:meth:`FeatureStore.iter_segment_blocks` with one chunk a
block; the store's direct reader (:mod:`sonicsep.store_reader`) reads each chunk's segments with
``pread`` or decodes a compressed chunk, releasing the GIL, so the tasks read on every core),
each task normalising its segments straight into the window's rows in one fused pass; the next
window's reads are in flight while the current one is cut into
batches (views, no per-segment Python loop). A background thread keeps ``prefetch`` batches
ready. :meth:`InputPipeline.read_split` reads a whole split the same way, for the caches of
:mod:`sonicsep.nn.cache`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from sonicsep.errors import ParameterError, StoreError
from sonicsep.kernels import stats as stats_kernels
from sonicsep.store import FeatureStore

STORE_ARRAY = {"mel": "mel_db", "mfcc": "mfcc", "summary": "summary"}
BATCH_KEYS = ("x", "label", "echonest", "echonest_mask", "weight", "track")
MIN_STD = 1e-6  # a constant band or column is centred, not blown up


@dataclass(frozen=True)
class NormStats:
    """Per-band (or per-column) mean and std of the input, and of each Echonest feature.

    Computed on the training split only and saved with the model, so prediction normalises
    exactly as training did. ``feature_mean``/``feature_std`` are None for models that take the
    raw dB spectrogram (ResNet's image conversion).
    """

    feature_mean: np.ndarray | None
    feature_std: np.ndarray | None
    echonest_mean: np.ndarray
    echonest_std: np.ndarray

    def to_dict(self) -> dict:
        return {k: None if v is None else np.asarray(v).tolist() for k, v in self._items()}

    @classmethod
    def from_dict(cls, data: dict) -> NormStats:
        return cls(**{k: None if v is None else np.asarray(v, np.float32) for k, v in data.items()})

    def _items(self):
        return ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))


def normalize_features(x: np.ndarray, stats: NormStats, *, in_place: bool = False) -> np.ndarray:
    """Standardise ``x`` [shape=(n, bands, ...)] along axis 1 with ``stats`` (float32).

    ``in_place`` overwrites a float32 ``x`` (no temporaries: two passes over memory instead of
    four); the values are those of ``(x - mean) / std`` either way.
    """
    x = np.asarray(x, np.float32) if in_place else np.array(x, np.float32)
    if stats.feature_mean is None:
        return x
    shape = (1, -1) + (1,) * (x.ndim - 2)
    np.subtract(x, stats.feature_mean.reshape(shape), out=x)
    np.divide(x, stats.feature_std.reshape(shape), out=x)
    return x


def _normalize_into(x: np.ndarray, rows: np.ndarray, values: np.ndarray, stats: NormStats) -> None:
    """``x[rows] = normalize_features(values, stats)``: one fused pass (a Numba kernel, the same
    bits) when everything is float32 and 3-D, else NumPy (e.g. into a bfloat16 cache)."""
    mean, std = stats.feature_mean, stats.feature_std
    fused = (
        mean is not None
        and x.dtype == values.dtype == mean.dtype == std.dtype == np.float32
        and values.ndim == x.ndim == 3
    )
    if fused:
        stats_kernels.standardize_into(values, mean, std, np.asarray(rows, np.int64), x)
    else:
        x[rows] = normalize_features(values, stats, in_place=True)


def normalize_echonest(values: np.ndarray, stats: NormStats) -> tuple[np.ndarray, np.ndarray]:
    """(standardised values with 0 where absent, presence mask) of Echonest rows [shape=(n, E)].

    Absent features become 0, the training mean, and the mask tells the model they are absent.
    """
    values = np.asarray(values, np.float32)
    present = np.isfinite(values)
    scaled = (np.where(present, values, 0) - stats.echonest_mean) / stats.echonest_std
    return np.where(present, scaled, 0).astype(np.float32), present.astype(np.float32)


def store_array(feature: str) -> str:
    """The store array a model ``feature`` reads ('mel' -> 'mel_db')."""
    if feature not in STORE_ARRAY:
        raise ParameterError(f"invalid feature={feature!r}: must be one of {tuple(STORE_ARRAY)}")
    return STORE_ARRAY[feature]


def compute_norm_stats(store: FeatureStore, feature: str, *, standardize: bool = True) -> NormStats:
    """Normalisation statistics from the training split, streamed a block of chunks at a time.

    Sums run in float64 so millions of segments do not lose precision.
    """
    name = store_array(feature)
    rows, segments = store.segment_index("train")
    if len(rows) == 0:
        raise StoreError(f"{store.url}: no valid training segments to compute statistics from")
    feature_mean = feature_std = None
    if standardize:
        total = total_sq = 0.0
        count = 0
        for _, values in store.iter_segment_blocks(name, rows, segments):
            x = values.astype(np.float64)
            axes = tuple(i for i in range(x.ndim) if i != 1)
            total = total + x.sum(axis=axes)
            total_sq = total_sq + np.square(x).sum(axis=axes)
            count += x.size // x.shape[1]
        mean = total / count
        feature_mean = mean.astype(np.float32)
        feature_std = _safe_std(total_sq / count - mean**2)
    train_tracks = np.unique(rows)
    echonest = np.asarray(store.array("echonest")[:], np.float64)[train_tracks]
    present = np.isfinite(echonest)
    n_present = present.sum(axis=0)
    echonest_mean = np.where(present, echonest, 0).sum(axis=0) / np.maximum(n_present, 1)
    echonest_var = (np.where(present, echonest - echonest_mean, 0) ** 2).sum(axis=0) / np.maximum(
        n_present, 1
    )
    return NormStats(
        feature_mean=feature_mean,
        feature_std=feature_std,
        echonest_mean=echonest_mean.astype(np.float32),
        echonest_std=_safe_std(np.where(n_present > 0, echonest_var, 1.0)),
    )


def _safe_std(variance: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(variance, MIN_STD**2)).astype(np.float32)


def epoch_order(chunk_of_segment: np.ndarray, *, seed: int, epoch: int, buffer: int) -> np.ndarray:
    """A permutation of segments that depends on ``(seed, epoch)`` only.

    Chunks of tracks are visited in a random order (so reads stay chunk-local) and segments are
    shuffled within consecutive windows of ``buffer`` segments (so a batch mixes many tracks).
    """
    rng = np.random.default_rng((seed, epoch))
    chunks = np.unique(chunk_of_segment)
    rank = np.zeros(int(chunks.max()) + 1 if len(chunks) else 0, np.int64)
    rank[rng.permutation(chunks)] = np.arange(len(chunks))
    order = np.argsort(rank[chunk_of_segment], kind="stable")
    for start in range(0, len(order), buffer):
        order[start : start + buffer] = rng.permutation(order[start : start + buffer])
    return order


class InputPipeline:
    """Batches of one split of a store, for one feature, normalised with training statistics.

    ``input_map`` (transfer learning) maps the store's raw feature values to a pretrained
    model's input layout before normalisation. ``share`` (``(start, stop)``, default the whole
    batch) makes :meth:`epoch` read and yield only those rows of every batch of
    ``batch_size``: one process's part of a global batch in a multi-host run
    (:mod:`sonicsep.nn.distributed`). The global batches, their order and padding do not
    depend on it.
    """

    def __init__(
        self,
        store: FeatureStore,
        feature: str,
        stats: NormStats,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle_buffer: int = 1024,
        prefetch: int = 2,
        input_map: Callable[[np.ndarray], np.ndarray] | None = None,
        workers: int | None = None,
        share: tuple[int, int] | None = None,
    ):
        if batch_size < 1:
            raise ParameterError(f"invalid batch_size={batch_size}: must be >= 1")
        share = (0, batch_size) if share is None else tuple(share)
        if not 0 <= share[0] < share[1] <= batch_size:
            raise ParameterError(f"invalid share={share}: must be rows within [0, {batch_size}]")
        self.store = store
        self.array_name = store_array(feature)
        self.stats = stats
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        self.prefetch = prefetch
        self.input_map = input_map
        self.share = share
        # Threads reading chunks: decoding releases the GIL, so one per core keeps all busy.
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.labels = store.tracks()["label"].to_numpy(np.int32)
        self.echonest, self.echonest_mask = normalize_echonest(store.array("echonest")[:], stats)
        self._index = {}

    def index(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(track rows, segments) of the split's valid segments, cached."""
        if split not in self._index:
            self._index[split] = self.store.segment_index(split)
        return self._index[split]

    @functools.cached_property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one model input (a segment after the input map)."""
        raw = np.zeros((1, *self.store.segment_shape(self.array_name)), np.float32)
        return (raw if self.input_map is None else self.input_map(raw)).shape[1:]

    def n_segments(self, split: str) -> int:
        return len(self.index(split)[0])

    def steps(self, split: str) -> int:
        """Batches per pass over ``split`` (the last one padded)."""
        return -(-self.n_segments(split) // self.batch_size)

    @property
    def share_size(self) -> int:
        """Rows of each batch :meth:`epoch` yields (``batch_size`` unless ``share`` is set)."""
        return self.share[1] - self.share[0]

    def epoch(self, split: str, epoch: int = 0, *, shuffle: bool = False) -> Iterator[dict]:
        """The split's batches (their ``share`` rows), read ahead in a background thread.

        With ``shuffle`` the order is :func:`epoch_order` of ``(seed, epoch)``; without it,
        store order (for evaluation).
        """
        return prefetch(self._batches(split, epoch, shuffle), self.prefetch)

    def epoch_positions(self, split: str, epoch: int = 0, *, shuffle: bool = False) -> np.ndarray:
        """Positions into :meth:`index` in the order an epoch visits them.

        With ``shuffle``, :func:`epoch_order` of ``(seed, epoch)``, else store order. The
        streaming batches and the caches (:mod:`sonicsep.nn.cache`) both follow it, so the two
        give the same batches.
        """
        rows, _ = self.index(split)
        if not shuffle:
            return np.arange(len(rows))
        chunk = self.store.chunk_of(self.array_name, rows)
        return epoch_order(chunk, seed=self.seed, epoch=epoch, buffer=self.shuffle_buffer)

    def share_rows(self, order: np.ndarray, steps: int) -> np.ndarray:
        """The ``share`` rows of each of ``steps`` batches of ``order`` padded with -1
        [shape=(steps, share_size)]: row ``i`` holds batch ``i``'s part, -1 on padding."""
        padded = np.full(steps * self.batch_size, -1, np.int64)
        padded[: len(order)] = order
        start, stop = self.share
        return padded.reshape(steps, self.batch_size)[:, start:stop]

    def _batches(self, split, epoch, shuffle):
        rows, segments = self.index(split)
        order = self.epoch_positions(split, epoch, shuffle=shuffle)
        if self.share_size < self.batch_size:
            # Padding is only at the end of the padded order, so it ends each share too.
            picked = self.share_rows(order, self.steps(split)).ravel()
            order = picked[picked >= 0]
        step = self.shuffle_buffer
        windows = ((rows[order[i : i + step]], segments[order[i : i + step]])
                   for i in range(0, len(order), step))
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sonicsep-read") as pool:
            try:
                batches = fixed_size_batches(self._read_ahead(pool, windows), self.share_size)
                yield from self._all_steps(batches, self.steps(split))
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _all_steps(self, batches: Iterable[dict], steps: int) -> Iterator[dict]:
        """``batches``, then all-padding batches up to ``steps`` (a share of the last global
        batch may hold no segment; with the whole batch as the share there are none to add)."""
        done = 0
        for batch in batches:
            done += 1
            yield batch
        if done < steps:
            empty = self.empty_window()
            for _ in range(steps - done):
                yield pad_batch(empty, self.share_size)

    def empty_window(self) -> dict:
        """A window dict of no segments (the keys, dtypes and row shapes of a batch)."""
        nothing = np.zeros(0, np.int64)
        return self._submit_window(None, nothing, nothing)[0]  # no read to submit

    def _read_ahead(self, pool, windows, ahead: int = 1) -> Iterator[dict]:
        """Window dicts in order, the reads of the next ``ahead`` windows already running."""
        pending: collections.deque = collections.deque()
        for rows, segments in windows:
            pending.append(self._submit_window(pool, rows, segments))
            if len(pending) > ahead:
                yield _finish_window(*pending.popleft())
        while pending:
            yield _finish_window(*pending.popleft())

    def _submit_window(self, pool, rows, segments, x=None) -> tuple[dict, list[Future]]:
        """Start reading the segments ``(rows[i], segments[i])`` into a new window dict.

        One task per stored chunk (found with :meth:`FeatureStore.chunk_of`): it reads the
        chunk's requested segments, maps and normalises them, and scatters them to their rows
        of ``x`` (default: a new float32 array; any dtype numpy casts float32 to).
        """
        if x is None:
            x = np.empty((len(rows), *self.input_shape), np.float32)
        chunks = self.store.chunk_of(self.array_name, rows)
        by_chunk = np.argsort(chunks, kind="stable")
        starts = np.flatnonzero(np.diff(chunks[by_chunk])) + 1
        futures = [
            pool.submit(self._read_into, x, picks, rows[picks], segments[picks])
            for picks in np.split(by_chunk, starts)
            if len(picks)
        ]
        window = {
            "x": x,
            "label": self.labels[rows],
            "echonest": self.echonest[rows],
            "echonest_mask": self.echonest_mask[rows],
            "weight": np.ones(len(rows), np.float32),
            "track": rows.astype(np.int32),
        }
        return window, futures

    def _read_into(self, x, picks, rows, segments) -> None:
        # max_block_bytes=1: one stored chunk a block, so a task decodes exactly its chunk.
        for got, values in self.store.iter_segment_blocks(
            self.array_name, rows, segments, max_block_bytes=1
        ):
            values = np.asarray(values, np.float32)
            if self.input_map is not None:
                values = self.input_map(values)
            _normalize_into(x, picks[got], values, self.stats)

    def read_split(
        self, split: str, x: np.ndarray | None = None, positions: np.ndarray | None = None
    ) -> dict:
        """The whole split (or its ``positions``) as one window dict in :meth:`index` order.

        For the caches: read chunk by chunk on the worker threads, like the streaming batches,
        each chunk's segments written into ``x`` [shape=(n, *input_shape)] (default: a new
        float32 array), so a bfloat16 cache is never held in float32 whole. ``positions``
        (into :meth:`index`) reads only those segments: one process's rows of a sharded cache.
        """
        rows, segments = self.index(split)
        if positions is not None:
            rows, segments = rows[positions], segments[positions]
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sonicsep-read") as pool:
            return _finish_window(*self._submit_window(pool, rows, segments, x))


def _finish_window(window: dict, futures: list[Future]) -> dict:
    """``window`` once its reads are done (a read's exception is raised here)."""
    for future in futures:
        future.result()
    return window


def fixed_size_batches(windows: Iterable[dict], batch_size: int) -> Iterator[dict]:
    """Cut a stream of example windows into batches of exactly ``batch_size``.

    Only the remainder (< batch_size examples) is copied between windows; the final partial
    batch is padded with zeros, ``weight`` 0 and ``track`` -1.
    """
    carry = None
    for window in windows:
        carry = (
            window if carry is None else {k: np.concatenate([carry[k], window[k]]) for k in carry}
        )
        n = len(carry["weight"])
        stop = n - n % batch_size
        for start in range(0, stop, batch_size):
            yield {k: v[start : start + batch_size] for k, v in carry.items()}
        carry = {k: v[stop:] for k, v in carry.items()}
    if carry is not None and len(carry["weight"]):
        yield pad_batch(carry, batch_size)


def pad_batch(batch: dict, batch_size: int) -> dict:
    """``batch`` padded to ``batch_size`` rows: zeros, ``weight`` 0, ``track`` -1."""
    missing = batch_size - len(batch["weight"])
    out = {
        k: np.concatenate([v, np.zeros((missing, *v.shape[1:]), v.dtype)]) for k, v in batch.items()
    }
    if "track" in out:
        out["track"][batch_size - missing :] = -1
    return out


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


_END = object()


def prefetch(iterator: Iterable, size: int) -> Iterator:
    """Iterate ``iterator`` in a daemon thread, ``size`` items ahead of the consumer.

    Zarr decoding and numpy gathers release the GIL, so reading overlaps the train step. An
    exception in the reader is re-raised in the consumer; closing the generator (an early
    ``break``) stops the thread.
    """
    items: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Raised(exc))

    threading.Thread(target=work, daemon=True, name="sonicsep-prefetch").start()
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
