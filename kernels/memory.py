"""Recycled, aligned memory for large arrays.

A fresh multi-megabyte allocation makes the operating system zero-fill every page on first
touch (with transparent huge pages it may compact memory first): for a 30 s STFT that costs
about as much as the FFT itself. So large arrays are cut from a small per-thread pool of
buffers, and a buffer is handed out again only once nothing refers to it any more: every
NumPy view of a buffer keeps a reference to it, so a reference count of one (the pool's own)
proves it is free. Small arrays come straight from NumPy.
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

ALIGNMENT = 64  # bytes; covers SSE/AVX/AVX-512 loads and FFTW's SIMD alignment
_MIN_POOLED_BYTES = 1 << 20
_MAX_FREE_BYTES = 1 << 26  # idle memory a thread may keep
_local = threading.local()


def _pool() -> list[np.ndarray]:
    pool = getattr(_local, "buffers", None)
    if pool is None:
        pool = _local.buffers = []
    return pool


def _aligned_view(buffer: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    offset = (-buffer.__array_interface__["data"][0]) % ALIGNMENT
    nbytes = math.prod(shape) * dtype.itemsize
    return buffer[offset : offset + nbytes].view(dtype).reshape(shape)


def _take_free(pool: list[np.ndarray], nbytes: int) -> np.ndarray | None:
    """A free pooled buffer that fits ``nbytes`` without wasting more than half of itself."""
    for i in range(len(pool)):
        # 2 = the list's reference + getrefcount's argument: no array views it any more.
        if sys.getrefcount(pool[i]) == 2 and nbytes + ALIGNMENT <= pool[i].nbytes <= 2 * nbytes:
            return pool[i]
    return None


def _trim(pool: list[np.ndarray]) -> None:
    """Drop free buffers, oldest first, until the idle ones fit the per-thread budget."""
    free = [i for i in range(len(pool)) if sys.getrefcount(pool[i]) == 2]
    idle = sum(pool[i].nbytes for i in free)
    for i in free:
        if idle <= _MAX_FREE_BYTES:
            break
        idle -= pool[i].nbytes
        pool[i] = None
    pool[:] = [b for b in pool if b is not None]


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised, 64-byte aligned C-contiguous array (like ``np.empty``).

    Arrays from 1 MiB to 64 MiB reuse memory whose previous arrays have all been released;
    at most 64 MiB of released memory stays in a thread's pool.
    """
    shape = tuple(int(s) for s in shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if not _MIN_POOLED_BYTES <= nbytes <= _MAX_FREE_BYTES:
        return _aligned_view(np.empty(nbytes + ALIGNMENT, np.uint8), shape, dtype)
    pool = _pool()
    buffer = _take_free(pool, nbytes)
    if buffer is None:
        buffer = np.empty(nbytes + ALIGNMENT, np.uint8)
        pool.append(buffer)
    _trim(pool)  # ``buffer`` is referenced here, so it is not free and stays
    return _aligned_view(buffer, shape, dtype)
