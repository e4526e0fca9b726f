"""Where a run keeps its inputs between epochs: on the devices, in host memory, or nowhere.

``--cache`` (:attr:`TrainConfig.cache`) chooses:

* ``device``: the train, val and test splits are read once (chunk by chunk on all cores,
  :meth:`InputPipeline.read_split`), normalised, and put on the devices in the run's ``dtype``,
  sharded over the ``data`` axis. An epoch is then one permutation (``epoch_order`` of
  ``(seed, epoch)``, as streamed) put on the devices once, and each step gathers its batch on
  device with a jitted gather that advances its own on-device counter: no per-step host work
  and no host-to-device copy.
* ``host``: the same arrays in host memory; each batch is one vectorised ``np.take``.
* ``none``: every epoch streams from the store (:class:`InputPipeline`).
* ``auto`` (default): ``device`` when the splits fit the device budget, else ``host`` when they
  fit the host budget, else ``none``.

The budget is ``cache_gib`` (per device for ``device``, for the host for ``host``) or, by
default, a fraction of the memory measured free now: :data:`DEVICE_FRACTION` of the smallest
``bytes_limit - bytes_in_use`` over the local accelerators (what XLA's allocator reports), and
:data:`HOST_FRACTION` of ``psutil``'s available host memory for ``host``. JAX's CPU devices
report no allocator figures; their memory is the host's, which holds the split twice while it
is being loaded (the read copy and the device copy), so a CPU device budget is
:data:`CPU_DEVICE_FRACTION` of available host memory.

Every mode yields the same batches as streaming, bit for bit (same order, same padding, same
normalised values; ``x`` is cast to ``dtype`` on the device either way), so the choice changes
speed and memory, never results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import psutil
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from sonicsep.errors import ParameterError
from sonicsep.nn import distributed
from sonicsep.nn.input_pipeline import InputPipeline, prefetch

SPLITS = ("train", "val", "test")
# What the cache keeps of a batch: the model's part (track rows come from the split's index).
DEVICE_KEYS = ("x", "label", "echonest", "echonest_mask", "weight")
DEVICE_FRACTION = 0.6  # the rest: parameters, optimizer state, activations, XLA workspace
HOST_FRACTION = 0.6
CPU_DEVICE_FRACTION = 0.3  # host memory holds the split twice while loading
GIB = 2**30


def cache_dtype(dtype: str):
    """The numpy dtype ``x`` is cached in: the run's computation dtype (bfloat16 halves it)."""
    return np.dtype(jnp.dtype(dtype))


def cache_bytes(pipeline: InputPipeline, dtype: str) -> int:
    """Bytes of every cached array for the three splits (before padding to the devices)."""
    n = sum(pipeline.n_segments(split) for split in SPLITS)
    per_row = int(np.prod(pipeline.input_shape)) * cache_dtype(dtype).itemsize
    per_row += 4 * (3 + 2 * len(pipeline.store.echonest_names))  # label, weight, track, echonest
    return n * per_row


def free_device_bytes(devices) -> int:
    """Smallest free memory over ``devices`` as their allocators report it; on CPU devices
    (no report) :data:`CPU_DEVICE_FRACTION` / :data:`DEVICE_FRACTION` of available host memory,
    so that the budget below is :data:`CPU_DEVICE_FRACTION` of it."""
    free = []
    for device in devices:
        stats = device.memory_stats() if device.platform != "cpu" else None
        if stats and "bytes_limit" in stats:
            free.append(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
        else:
            host = psutil.virtual_memory().available
            free.append(int(host * CPU_DEVICE_FRACTION / DEVICE_FRACTION))
    return min(free)


def choose_cache(
    mode: str, need: int, devices, budget_gib: float | None, n_shards: int | None = None
) -> tuple[str, str]:
    """(``device``, ``host`` or ``none``, why) for a cache of ``need`` bytes over ``devices``.

    ``device`` needs ``need / n_shards`` (default ``len(devices)``) per device within the
    device budget; ``host`` needs ``need`` within the host budget. An explicit mode that does
    not fit raises :class:`ParameterError` with the figures. In a multi-host run ``devices``
    are this process's (the ones whose memory it can measure), ``n_shards`` all of them.
    """
    n_shards = len(devices) if n_shards is None else n_shards
    per_device = -(-need // n_shards)
    if budget_gib is not None:
        device_budget = host_budget = int(budget_gib * GIB)
    else:
        device_budget = int(free_device_bytes(devices) * DEVICE_FRACTION)
        host_budget = int(psutil.virtual_memory().available * HOST_FRACTION)
    fits = {"device": per_device <= device_budget, "host": need <= host_budget}
    figures = (
        f"the splits take {need / GIB:.2f} GiB ({per_device / GIB:.2f} GiB per device over "
        f"{n_shards}); budget {device_budget / GIB:.2f} GiB per device, "
        f"{host_budget / GIB:.2f} GiB on the host"
    )
    if mode == "none":
        return "none", "streaming from the store (--cache none)"
    if mode in ("device", "host"):
        if not fits[mode]:
            raise ParameterError(
                f"invalid cache={mode!r}: {figures}; raise --cache-gib, use bfloat16, or pass "
                "--cache auto"
            )
        return mode, figures
    for candidate in ("device", "host"):
        if fits[candidate]:
            return candidate, figures
    return "none", figures


@dataclasses.dataclass
class SplitCache:
    """The three splits' batch arrays, concatenated (train, val, test), in host memory.

    ``offsets[split]`` is where the split's rows start; row ``offsets[split] + i`` is position
    ``i`` of :meth:`InputPipeline.index`. ``positions`` turns an epoch's order into padded
    index blocks, which :func:`gather_host` and the device gather read.
    """

    arrays: dict
    offsets: dict
    sizes: dict

    @classmethod
    def load(
        cls,
        pipeline: InputPipeline,
        dtype: str,
        *,
        n_rows: int | None = None,
        span: tuple[int, int] | None = None,
    ) -> SplitCache:
        """Read the three splits into one preallocated ``x`` of the cache dtype (host memory
        peaks at the cache's size, plus one chunk per reader thread).

        ``n_rows`` pads the cache (zeros, weight 0) to that many rows (for sharding);
        ``span`` (``(start, stop)`` of those rows) reads and keeps only those: one process's
        shard of a device cache in a multi-host run.
        """
        sizes = {split: pipeline.n_segments(split) for split in SPLITS}
        starts = np.cumsum([0, *sizes.values()])
        offsets = dict(zip(SPLITS, starts[:-1].tolist(), strict=True))
        n_rows = int(starts[-1]) if n_rows is None else n_rows
        lo, hi = (0, n_rows) if span is None else span
        x = np.empty((hi - lo, *pipeline.input_shape), cache_dtype(dtype))
        empty = pipeline.empty_window()
        arrays = {
            k: x if k == "x" else np.zeros((hi - lo, *empty[k].shape[1:]), empty[k].dtype)
            for k in DEVICE_KEYS
        }
        for split in SPLITS:
            first, last = max(lo, offsets[split]), min(hi, offsets[split] + sizes[split])
            if first >= last:
                continue
            positions = np.arange(first - offsets[split], last - offsets[split])
            if len(positions) == sizes[split]:
                positions = None  # the whole split, in index order
            part = pipeline.read_split(split, x[first - lo : last - lo], positions)
            for key in DEVICE_KEYS[1:]:
                arrays[key][first - lo : last - lo] = part[key]
        x[max(0, int(starts[-1]) - lo) :] = 0  # padding rows
        return cls(arrays, offsets, sizes)

    def positions(self, split: str, order: np.ndarray, length: int) -> np.ndarray:
        """Cache rows of ``order`` (positions in the split), padded with -1 to ``length``."""
        rows = np.full(length, -1, np.int32)
        rows[: len(order)] = self.offsets[split] + order
        return rows

    @property
    def n_rows(self) -> int:
        return len(self.arrays["weight"])

    def padded_for(self, n_devices: int) -> SplitCache:
        """Rows padded (zeros, weight 0) to a multiple of ``n_devices`` for sharding."""
        missing = -self.n_rows % n_devices
        if not missing:
            return self
        arrays = {
            k: np.concatenate([v, np.zeros((missing, *v.shape[1:]), v.dtype)])
            for k, v in self.arrays.items()
        }
        return SplitCache(arrays, self.offsets, self.sizes)


def gather_host(arrays: dict, rows: np.ndarray) -> dict:
    """The batch of cache ``rows`` (-1: padding, all zeros)."""
    valid = rows >= 0
    safe = np.where(valid, rows, 0)
    batch = {}
    for key, values in arrays.items():
        picked = np.take(values, safe, axis=0)
        picked[~valid] = 0
        batch[key] = picked
    return batch


def gather_device(arrays: dict, rows, counter, batch_size: int):
    """Batch ``counter`` of the padded row list ``rows`` from device ``arrays``, and
    ``counter + 1``: the jitted body of the device cache's per-step gather."""
    block = jax.lax.dynamic_slice_in_dim(rows, counter * batch_size, batch_size)
    valid = block >= 0
    safe = jnp.where(valid, block, 0)
    batch = {}
    for key, values in arrays.items():
        picked = jnp.take(values, safe, axis=0)
        keep = valid.reshape((-1,) + (1,) * (values.ndim - 1))
        batch[key] = jnp.where(keep, picked, jnp.zeros((), values.dtype))
    return batch, counter + 1


class Batches:
    """Device batches of every split for one run, from the cache mode chosen for it.

    :meth:`epoch` yields per step the global batch dict (on the devices, sharded over
    ``data``). Streaming and host batches are put on the devices one step ahead (the next
    batch's copy overlaps the current step); device batches are gathered there.

    In a multi-host run (:mod:`sonicsep.nn.distributed`) each process streams, or takes from
    its host cache, only its ``pipeline.share`` rows of every batch, and loads only its own
    devices' rows of a device cache; the global batches are the same as with one process.
    """

    def __init__(self, pipeline: InputPipeline, mode: str, mesh, dtype: str, count=None):
        self.pipeline = pipeline
        self.mode = mode
        self.batch_size = pipeline.batch_size
        self.data = NamedSharding(mesh, P("data"))
        self.replicated = NamedSharding(mesh, P())
        self.cache = None
        self.device_arrays = None
        # One row-list length for every split, so the device gather compiles once.
        self.length = max(pipeline.steps(split) for split in SPLITS) * self.batch_size
        if mode == "host":
            self.cache = SplitCache.load(pipeline, dtype)
        if mode == "device":
            n_rows = sum(pipeline.n_segments(split) for split in SPLITS)
            n_rows += -n_rows % mesh.size  # padded to shard evenly
            span = distributed.batch_share(self.data, n_rows)  # this process's shard
            self.cache = SplitCache.load(pipeline, dtype, n_rows=n_rows, span=span)
            self.device_arrays = {
                k: distributed.global_array(v, self.data, n_rows)
                for k, v in self.cache.arrays.items()
            }
            self.cache.arrays = None  # the devices hold it now

            def gather(arrays, rows, counter):
                return gather_device(arrays, rows, counter, self.batch_size)

            # ``count`` wraps the traced function (the run's compile counter).
            self._gather = jax.jit(
                gather if count is None else count(gather),
                out_shardings=(self.data, self.replicated),
            )

    def epoch(self, split: str, epoch: int = 0, *, shuffle: bool = False) -> Iterator[dict]:
        order = self.pipeline.epoch_positions(split, epoch, shuffle=shuffle)
        steps = self.pipeline.steps(split)
        if self.mode == "device":
            positions = self.cache.positions(split, order, self.length)
            rows = distributed.replicated(positions, self.replicated)
            counter = distributed.replicated(np.int32(0), self.replicated)
            for _ in range(steps):
                batch, counter = self._gather(self.device_arrays, rows, counter)
                yield batch
            return
        if self.mode == "host":
            rows = self.cache.positions(split, order, steps * self.batch_size)
            start, stop = self.pipeline.share
            rows = rows.reshape(steps, self.batch_size)[:, start:stop]
            host = (gather_host(self.cache.arrays, share) for share in rows)
            host = prefetch(host, self.pipeline.prefetch)
        else:
            host = self.pipeline.epoch(split, epoch, shuffle=shuffle)
        yield from device_ahead(host, self.data, self.batch_size)


def to_devices(batch: dict, sharding, batch_size: int | None = None) -> dict:
    """The model's part of a host batch, split along the batch axis over the mesh.

    In a multi-host run ``batch`` holds this process's rows of a global batch of
    ``batch_size`` (:func:`sonicsep.nn.distributed.global_batch`).
    """
    batch_size = len(batch["weight"]) if batch_size is None else batch_size
    return distributed.global_batch(batch, sharding, batch_size, DEVICE_KEYS)


def device_ahead(host_batches, sharding, batch_size=None, ahead: int = 1) -> Iterator[dict]:
    """``host_batches`` put on the devices ``ahead`` batches before they are consumed.

    ``jax.device_put`` is asynchronous: the next batch's copy runs while the current step
    computes (double buffering).
    """
    pending = []
    for batch in host_batches:
        pending.append(to_devices(batch, sharding, batch_size))
        if len(pending) > ahead:
            yield pending.pop(0)
    yield from pending
