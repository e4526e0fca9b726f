"""Direct segment reads of a local store's chunk files, for the readers of :mod:`sonicsep.store`.

Zarr's read path (async codec pipeline, selection indexing, a full copy out of each decoded
chunk) costs more than decoding itself when a training epoch asks for a few segments from
each of thousands of chunks: an instrumented streaming epoch spent 91% of its reader time
there. For arrays of a local store (a plain path, Zarr's ``LocalStore``) whose layout this
module understands, :class:`ChunkReader` reads the chunk bytes from the shard files itself
and decodes them with the codecs the array's metadata names:

- uncompressed chunks (``bytes`` codec alone): each requested segment is read with one
  ``pread`` straight into its row of the output, so nothing else of the chunk is touched;
- Blosc or Zstd chunks: the chunk's bytes are decoded whole (the codecs cannot decode a part)
  into a per-thread scratch buffer, and the requested segments gathered into the output.

The decoders (numcodecs) and ``pread`` release the GIL, so chunks decode on every core when
several threads read (:func:`read_pairs` runs one task per chunk on a shared pool). Any other
layout (a remote fsspec URL, a ``file://`` URL, a codec not listed above, a chunk that splits
the inner dimensions) gets no reader and :mod:`sonicsep.store` reads through Zarr, which gives
the same arrays. The layout is read from the array's own metadata, so this module knows no
SonicSep array names or chunk sizes.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import google_crc32c  # what Zarr's own Crc32cCodec checks shard indexes with
import numpy as np
import zarr
from numcodecs import blosc
from numcodecs.zstd import Zstd
from zarr.codecs import (
    BloscCodec,
    BytesCodec,
    Crc32cCodec,
    ShardingCodec,
    ShardingCodecIndexLocation,
    ZstdCodec,
)
from zarr.storage import LocalStore

from sonicsep.errors import StoreError

# A shard index entry (offset, nbytes) of a chunk that was never written (all fill value).
_MISSING = np.uint64(2**64 - 1)
_CRC_BYTES = 4


def _blosc_decode(source: bytes, out: np.ndarray) -> None:
    blosc.decompress(source, out)


def _zstd_decode(source: bytes, out: np.ndarray) -> None:
    Zstd().decode(source, out)


_DECODERS = {BloscCodec: _blosc_decode, ZstdCodec: _zstd_decode}


class ChunkReader:
    """Segment reads of one array chunked along its first (track) axis only.

    Build with :meth:`open`, which returns None where the array's layout is not one this
    reader decodes (the caller then reads through Zarr).
    """

    def __init__(self, array: zarr.Array, folder: str):
        self.folder = folder
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.fill_value = array.metadata.fill_value
        self._key = array.metadata.chunk_key_encoding.encode_chunk_key
        sharding = _sharding(array)
        outer = tuple(array.metadata.chunk_grid.chunk_shape)
        if sharding is None:
            self.chunk_tracks, self.chunks_per_shard = outer[0], 1
            codecs = array.metadata.codecs
            self._index = None
        else:
            self.chunk_tracks = sharding.chunk_shape[0]
            self.chunks_per_shard = outer[0] // self.chunk_tracks
            codecs = sharding.codecs
            self._index = _IndexLayout(sharding, self.chunks_per_shard)
        self.segments = self.shape[1]
        self.segment_bytes = int(np.prod(self.shape[2:], dtype=np.int64)) * self.dtype.itemsize
        self.track_bytes = self.segments * self.segment_bytes
        self.chunk_bytes = self.chunk_tracks * self.track_bytes
        self._decode = _DECODERS[type(codecs[1])] if len(codecs) == 2 else None
        self._scratch = threading.local()
        self._paths: dict[int, str] = {}

    @classmethod
    def open(cls, array: zarr.Array) -> ChunkReader | None:
        """A reader of ``array``, or None where it must be read through Zarr."""
        if not isinstance(array.store, LocalStore) or array.ndim < 2:
            return None
        sharding = _sharding(array)
        outer = tuple(array.metadata.chunk_grid.chunk_shape)
        if sharding is None:
            inner, codecs = outer, array.metadata.codecs
        else:
            inner, codecs = tuple(sharding.chunk_shape), sharding.codecs
            if outer[0] % inner[0] or not _IndexLayout.supported(sharding):
                return None
        if inner[1:] != tuple(array.shape[1:]) or outer[1:] != tuple(array.shape[1:]):
            return None  # chunks split a segment: not a layout SonicSep writes
        if not _plain_bytes(codecs[0], np.dtype(array.dtype)):
            return None
        if len(codecs) > 2 or (len(codecs) == 2 and type(codecs[1]) not in _DECODERS):
            return None
        return cls(array, os.path.join(array.store.root, array.path))

    # ------------------------------------------------------------------ reading
    def read_segments(
        self,
        out: np.ndarray,
        rows: np.ndarray,
        segments: np.ndarray,
        targets: np.ndarray | None = None,
    ) -> None:
        """Write segment ``segments[i]`` of track ``rows[i]`` into ``out[targets[i]]`` (default:
        ``out[i]``); the rows must all lie in one stored chunk (the unit one task decodes)."""
        chunk = int(rows[0]) // self.chunk_tracks
        first = chunk * self.chunk_tracks
        position = (rows - first) * self.segments + segments
        if self._decode is None:
            every = np.arange(len(rows)) if targets is None else targets
            self._pread_segments(out, every, chunk, position)
            return
        raw = self._chunk_bytes(chunk)
        if raw is None:
            out[slice(None) if targets is None else targets] = self.fill_value
            return
        decoded = self._scratch_buffer()
        self._decode(raw, decoded)
        values = decoded.view(self.dtype).reshape(-1, *self.shape[2:])
        if targets is None:
            # mode="clip": the positions lie in the chunk, and "raise" would buffer ``out``.
            np.take(values, position, axis=0, out=out, mode="clip")
        else:
            out[targets] = values[position]

    def _scratch_buffer(self) -> np.ndarray:
        # Reused per thread: a fresh buffer would page-fault in its whole size on every chunk.
        buffer = getattr(self._scratch, "buffer", None)
        if buffer is None:
            buffer = self._scratch.buffer = np.empty(self.chunk_bytes, np.uint8)
        return buffer

    def _shard_path(self, chunk: int) -> str:
        shard = chunk // self.chunks_per_shard
        path = self._paths.get(shard)
        if path is None:
            key = self._key((shard,) + (0,) * (len(self.shape) - 1))
            path = self._paths[shard] = os.path.join(self.folder, key)
        return path

    def _chunk_span(self, fd: int, chunk: int) -> tuple[int, int] | None:
        """(offset, nbytes) of ``chunk`` in its open object, None where it was never written."""
        if self._index is None:
            return 0, os.fstat(fd).st_size
        try:
            return self._index.span(fd, chunk % self.chunks_per_shard)
        except StoreError as exc:
            raise StoreError(f"{self._shard_path(chunk)}: {exc}") from None

    def _open(self, chunk: int) -> int | None:
        try:
            return os.open(self._shard_path(chunk), os.O_RDONLY)
        except FileNotFoundError:
            return None

    def _chunk_bytes(self, chunk: int) -> bytes | None:
        fd = self._open(chunk)
        if fd is None:
            return None
        try:
            span = self._chunk_span(fd, chunk)
            if span is None:
                return None
            data = os.pread(fd, span[1], span[0])
            if len(data) != span[1]:
                raise StoreError(f"{self._shard_path(chunk)}: chunk {chunk} is truncated")
            return data
        finally:
            os.close(fd)

    def _pread_segments(
        self, out: np.ndarray, targets: np.ndarray, chunk: int, position: np.ndarray
    ) -> None:
        fd = self._open(chunk)
        span = None if fd is None else self._chunk_span(fd, chunk)
        if span is None:
            out[targets] = self.fill_value
            if fd is not None:
                os.close(fd)
            return
        try:
            if span[1] != self.chunk_bytes:
                raise StoreError(f"{self._shard_path(chunk)}: chunk {chunk} has {span[1]} bytes")
            # One preadv per run of consecutive stored segments, each into its own output row
            # (a training epoch asks for whole tracks: runs of max_segments).
            by_position = np.argsort(position, kind="stable")
            ordered = position[by_position]
            runs = np.flatnonzero(np.diff(ordered) != 1) + 1
            for run in np.split(np.arange(len(ordered)), runs):
                rows_out = targets[by_position[run]].tolist()
                views = [memoryview(out[i]).cast("B") for i in rows_out]
                offset = span[0] + int(ordered[run[0]]) * self.segment_bytes
                if os.preadv(fd, views, offset) != len(views) * self.segment_bytes:
                    raise StoreError(f"{self._shard_path(chunk)}: chunk {chunk} is truncated")
        finally:
            os.close(fd)


class _IndexLayout:
    """Where a shard keeps its chunk index and how to check it (Zarr v3 sharding)."""

    def __init__(self, sharding: ShardingCodec, n_chunks: int):
        self.n_chunks = n_chunks
        self.checked = any(isinstance(c, Crc32cCodec) for c in sharding.index_codecs)
        self.nbytes = 16 * n_chunks + (_CRC_BYTES if self.checked else 0)
        self.at_end = sharding.index_location == ShardingCodecIndexLocation.end

    @staticmethod
    def supported(sharding: ShardingCodec) -> bool:
        """The index is little-endian (offset, nbytes) pairs, optionally CRC32C-checked."""
        first, *rest = sharding.index_codecs
        return (
            isinstance(first, BytesCodec)
            and _endian(first) == "little"
            and len(rest) <= 1
            and all(isinstance(c, Crc32cCodec) for c in rest)
        )

    def span(self, fd: int, inner: int) -> tuple[int, int] | None:
        size = os.fstat(fd).st_size
        if size < self.nbytes:
            raise StoreError(f"shard index truncated (the file has {size} of {self.nbytes} bytes)")
        raw = os.pread(fd, self.nbytes, size - self.nbytes if self.at_end else 0)
        if len(raw) != self.nbytes:
            raise StoreError(f"shard index truncated ({len(raw)} of {self.nbytes} bytes)")
        body = raw[: 16 * self.n_chunks]
        stored_crc = int.from_bytes(raw[-_CRC_BYTES:], "little")
        if self.checked and google_crc32c.value(body) != stored_crc:
            raise StoreError("shard index checksum mismatch: the shard file is corrupt")
        offset, nbytes = np.frombuffer(body, "<u8").reshape(-1, 2)[inner]
        if offset == _MISSING and nbytes == _MISSING:
            return None
        return int(offset), int(nbytes)


def _sharding(array: zarr.Array) -> ShardingCodec | None:
    codecs = array.metadata.codecs
    return codecs[0] if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec) else None


def _plain_bytes(codec, dtype: np.dtype) -> bool:
    """``codec`` writes the values' own bytes in this machine's byte order."""
    if not isinstance(codec, BytesCodec):
        return False
    return dtype.itemsize == 1 or _endian(codec) == sys.byteorder


def _endian(codec: BytesCodec) -> str | None:
    return getattr(codec.endian, "value", codec.endian)


# ---------------------------------------------------------------------- parallel plans
_POOL: tuple[int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The shared chunk-reading pool of this process (a forked child makes its own: the
    parent's threads do not exist there)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="sonicsep-chunk")
            _POOL = (os.getpid(), pool)
        return _POOL[1]


def read_pairs(
    reader: ChunkReader, rows: np.ndarray, segments: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Segments ``(rows[i], segments[i])`` into ``out[i]`` (default: a new array).

    One task per stored chunk: a single chunk is read in the calling thread (the input
    pipeline already reads one chunk per task on its own threads), several on the shared pool
    with one thread per core.
    """
    if out is None:
        out = np.empty((len(rows), *reader.shape[2:]), reader.dtype)
    if len(rows) == 0:
        return out
    chunk = rows // reader.chunk_tracks
    if chunk.min() == chunk.max():
        reader.read_segments(out, rows, segments)
        return out
    by_chunk = np.argsort(chunk, kind="stable")
    groups = np.split(by_chunk, np.flatnonzero(np.diff(chunk[by_chunk])) + 1)

    def task(picks: np.ndarray) -> None:
        reader.read_segments(out, rows[picks], segments[picks], targets=picks)

    for future in [_pool().submit(task, picks) for picks in groups]:
        future.result()
    return out
