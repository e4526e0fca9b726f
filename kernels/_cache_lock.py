"""One writer at a time for Numba's on-disk cache, so processes compiling at once cannot corrupt it.

Numba saves a compiled overload by reading the cache index, picking the first free data file
name, rewriting the index and writing the data file, with no lock between the read and the
writes (numba/numba#4807, open; seen in numba 0.59-0.68). Two processes that compile *different*
signatures of one kernel at the same moment (the float32 and float64 tests of two pytest-xdist
workers, or Dask workers of a fresh install featurizing different dtypes) can both pick
``<kernel>.1.nbc``: the index then names one signature's machine code for the other's, and every
later process that loads it crashes with a segmentation fault until the cache is deleted.

:func:`install` wraps ``IndexDataCacheFile.save`` in an exclusive ``flock`` and ``load`` in a
shared one, on a ``<index>.lock`` file beside the index, so the read-pick-write is atomic across
processes and a load never sees an index whose data file is being replaced. Where the lock file
cannot be opened (a read-only cache directory) or ``fcntl`` does not exist (Windows), Numba's
own behaviour is kept.
"""

from __future__ import annotations

import contextlib
import functools
import os

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from numba.core import caching

_INSTALLED = "_sonicsep_cache_lock"


@contextlib.contextmanager
def _locked(index_path: str, exclusive: bool):
    """Hold ``flock`` on ``index_path + '.lock'`` (exclusive or shared), or nothing if we cannot."""
    try:
        fd = os.open(index_path + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _wrap(method, exclusive: bool):
    @functools.wraps(method)
    def locked_method(self, *args, **kwargs):
        with _locked(self._index_path, exclusive):
            return method(self, *args, **kwargs)

    return locked_method


def install() -> None:
    """Lock Numba's cache files for this process (idempotent)."""
    cache_file = caching.IndexDataCacheFile
    if fcntl is None or getattr(cache_file, _INSTALLED, False):
        return
    cache_file.save = _wrap(cache_file.save, exclusive=True)
    cache_file.load = _wrap(cache_file.load, exclusive=False)
    setattr(cache_file, _INSTALLED, True)
