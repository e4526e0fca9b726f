"""The feature store's Zarr v3 schema: the only module that knows array paths and chunking.

Layout of a store (a Zarr v3 group, local path or fsspec URL)::

    attrs: schema_version, store_id, sonicsep_version, dataset, genres, splits, statuses,
           feature_config (FeatureConfig.to_dict()), tracks_per_shard, summary_names,
           echonest_names
    track            (track,)                          str    track id (xarray coordinate)
    path             (track,)                          str    audio path as the dataset gave it
    label            (track,)                          int16  index into attrs.genres
    split            (track,)                          int8   index into attrs.splits
    duration         (track,)                          float32 seconds of audio, NaN where unknown:
                                                               the dataset's figure, then the file's
                                                               own once featurized
    echonest         (track, echonest_feature)         float32 NaN where absent
    status           (track,)                          int8   index into attrs.statuses
    error            (track,)                          str    cause of failure, '' otherwise
    warning          (track,)                          str    what was wrong with a file that was
                                                              featurized anyway (truncated), or ''
    n_segments       (track,)                          int16  valid segments of the track
    mask             (track, segment)                  bool   segment holds real data
    mel_db           (track, segment, mel_band, time)  float32 log-mel spectrogram
    mfcc             (track, segment, mfcc_coef, time) float32
    summary          (track, segment, summary_feature) float32 per-segment summary vector
    fma_features     (track, fma_feature)              float32 FMA's 518 features of the whole
                                                               file at its native rate (only in
                                                               stores whose config asks for them)
    summary_feature  (summary_feature,)                str    column names (coordinate)
    echonest_feature (echonest_feature,)               str    column names (coordinate)
    fma_feature      (fma_feature,)                    str    'feature.statistics.number', in
                                                              features.csv's column order

A run holds the store's lease while it writes (:mod:`sonicsep.lease`): the Zarr group
``sonicsep_lease`` whose attributes name the holder (a group, so Zarr and xarray list it without a
warning). Creation is atomic from a user's view: the group is made with the ``sonicsep_creating``
attribute alone and the schema attributes replace it in one write, last; a store still carrying
it was killed while being laid out and :meth:`FeatureStore.create` rebuilds it without
``overwrite`` (:func:`store_state`).

Writing is by shard: shard ``k`` holds tracks ``[k*T, (k+1)*T)`` with ``T = tracks_per_shard``
in every per-track array (one chunk for the small arrays, one Zarr shard for the big ones), so a
task that owns shard ``k`` writes whole chunks/shards and no two writers ever touch the same
object. ``status`` is written last, so a shard killed mid-write stays ``pending`` and is redone.

The spectrograms (``mel_db``, ``mfcc``) are stored uncompressed and every other array with
Blosc/Zstd (see :data:`SPECTROGRAM_COMPRESSORS`). Segment reads of a local store bypass Zarr
(:mod:`sonicsep.store_reader`); other URLs are read through Zarr, with the same values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import posixpath
import uuid
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import zarr
from zarr.codecs import BloscCodec

from sonicsep import __version__
from sonicsep.config import FeatureConfig
from sonicsep.datasets.base import SPLITS
from sonicsep.errors import StoreError
from sonicsep.objects import object_path, read_object
from sonicsep.store_reader import ChunkReader, read_pairs

# 2: the warning array; duration is rewritten with each shard.
SCHEMA_VERSION = 2
# Where featurize writes the demo corpus and where benchmark/similar look by default.
DEFAULT_STORE = "sonicsep-demo.zarr"
STATUSES = ("pending", "ok", "failed")
PENDING, OK, FAILED = range(3)

# Chosen by benchmarks/bench_store_codecs.py on the real clips' log-mel: Blosc/Zstd level 1
# with byte shuffle in 1 MiB blocks compresses 1.25x at ~610 MB/s write, ~1040 MB/s read
# through Zarr. Blosc's default blocks (tens of KiB at level 1) pay Zstd's per-block setup
# (1.22x at ~440 MB/s); level 3 gains 1% in size at 60% of the write speed, LZ4 loses 5%.
# float32 dB values leave little to gain.
COMPRESSOR = BloscCodec(cname="zstd", clevel=1, shuffle="shuffle", blocksize=1 << 20)
# The spectrogram arrays (nearly all of a store's bytes) are stored uncompressed, for
# streaming training (issue 14): a compressed chunk is decoded whole however few of its
# segments an epoch needs (1.97 segments per training segment, the splits being interleaved
# within chunks), and the direct reader decodes COMPRESSOR's chunks at 6,100-6,600 segments
# per CPU-second against 24,500-30,700 for uncompressed ones, each one ``pread`` into its
# output row (sonicsep.store_reader; bench_store_codecs.py). A streaming epoch then costs
# 185-212 CPU-us a segment, against 540-640 for compressed chunks read directly and
# 910-1,110 through Zarr, the layout and reader before (bench_input.py, shared 2-core
# machine), at the price of 1.25x the bytes. Stores with compressed spectrograms read as
# before.
SPECTROGRAM_ARRAYS = ("mel_db", "mfcc")
SPECTROGRAM_COMPRESSORS = None
TARGET_CHUNK_BYTES = 4 * 2**20
MAX_SHARD_BYTES = 256 * 2**20
# One streaming read (:meth:`FeatureStore.iter_segment_blocks`) spans whole chunks up to this
# size: Zarr's per-call overhead (~1 ms) would dominate reads of single 4 MiB chunks on stores
# of 100k tracks, and 64 MiB keeps a reader's memory a quarter of a shard's.
READ_BLOCK_BYTES = 64 * 2**20

TRACK_ARRAYS = ("track", "path", "label", "split", "echonest")
# Arrays with one value block per (track, segment): what the segment readers read.
SEGMENT_ARRAYS = ("mel_db", "mfcc", "summary")
# What a shard write replaces; status last (see write_shard).
RESULT_ARRAYS = (
    "mel_db", "mfcc", "summary", "mask", "n_segments", "duration", "error", "warning", "status"
)
STRING_RESULTS = ("error", "warning")
LABEL_ARRAYS = ("summary_feature", "echonest_feature")
# Present where the store's config asks for FMA's per-track features.
FMA_ARRAYS = ("fma_features", "fma_feature")

# The lease group's metadata object; its attributes are the lease record (sonicsep.lease).
LEASE_KEY = "sonicsep_lease/zarr.json"
# The only attribute of a group being laid out; the schema attributes replace it, last.
CREATING_ATTR = "sonicsep_creating"
# What a URL holds (store_state): nothing, a store killed while being created, a SonicSep store
# (of any schema version), or something else that is never deleted without overwrite.
ABSENT, INCOMPLETE, COMPLETE, FOREIGN = "absent", "incomplete", "complete", "foreign"


@dataclasses.dataclass
class ShardResult:
    """Everything featurization produces for the tracks of one shard (row i = i-th track)."""

    mel_db: np.ndarray  # (n, max_segments, n_mels, frames)
    mfcc: np.ndarray  # (n, max_segments, n_mfcc, frames)
    summary: np.ndarray  # (n, max_segments, n_summary)
    mask: np.ndarray  # (n, max_segments) bool
    n_segments: np.ndarray  # (n,)
    duration: np.ndarray  # (n,) float32 seconds
    status: np.ndarray  # (n,)
    error: np.ndarray  # (n,) str
    warning: np.ndarray  # (n,) str
    fma_features: np.ndarray | None = None  # (n, 518) where the config asks for them

    @classmethod
    def empty(
        cls, n_tracks: int, config: FeatureConfig, n_summary: int, duration=None
    ) -> ShardResult:
        """Nothing featurized yet; ``duration`` as the store has it (default NaN: unknown)."""
        # sonicsep.features is imported where FMA's vector is needed: reading a store (to train,
        # predict, report) needs none of the feature kernels, which take seconds to import.
        from sonicsep.features import fma

        seg, frames = config.max_segments, config.frames_per_segment
        return cls(
            mel_db=np.full((n_tracks, seg, config.n_mels, frames), np.nan, np.float32),
            mfcc=np.full((n_tracks, seg, config.n_mfcc, frames), np.nan, np.float32),
            summary=np.full((n_tracks, seg, n_summary), np.nan, np.float32),
            mask=np.zeros((n_tracks, seg), bool),
            n_segments=np.zeros(n_tracks, np.int16),
            duration=np.full(n_tracks, np.nan, np.float32) if duration is None
            else np.asarray(duration, np.float32),
            status=np.full(n_tracks, PENDING, np.int8),
            error=np.array([""] * n_tracks, dtype=object),
            warning=np.array([""] * n_tracks, dtype=object),
            fma_features=np.full((n_tracks, fma.N_FMA), np.nan, np.float32)
            if config.fma_features else None,
        )


def needs_work(status: np.ndarray, retry_failed: bool) -> np.ndarray:
    """Which tracks a run featurizes: pending ones, and failed ones when ``retry_failed``."""
    return (status == PENDING) | (retry_failed & (status == FAILED))


def _power_of_two_floor(x: float) -> int:
    return 1 << max(0, int(math.floor(math.log2(max(x, 1)))))


def track_bytes(config: FeatureConfig) -> int:
    """Bytes one track occupies in the big arrays (mel_db + mfcc), before compression."""
    frames = config.max_segments * config.frames_per_segment
    return 4 * frames * (config.n_mels + config.n_mfcc)


def default_tracks_per_shard(n_tracks: int, workers: int, config: FeatureConfig) -> int:
    """A power of two giving every worker several shards, at most 64 tracks and ~256 MB a shard.

    The byte cap bounds a task's memory when a config keeps many segments of long tracks.
    """
    per_task = n_tracks / max(1, 4 * workers)
    by_memory = MAX_SHARD_BYTES / track_bytes(config)
    return max(1, min(64, _power_of_two_floor(per_task), _power_of_two_floor(by_memory)))


def _chunk_tracks(bytes_per_track: int, tracks_per_shard: int) -> int:
    """Tracks per inner chunk: a power of two dividing the shard, near TARGET_CHUNK_BYTES."""
    return max(1, min(tracks_per_shard, _power_of_two_floor(TARGET_CHUNK_BYTES / bytes_per_track)))


def _storage_options(url: str) -> dict:
    # fsspec's local filesystem does not create parent folders on write unless asked to.
    return {"storage_options": {"auto_mkdir": True}} if url.startswith("file://") else {}


def _open_group(url: str, mode: str) -> zarr.Group:
    return zarr.open_group(url, mode=mode, **_storage_options(url))


def _create_group(url: str, attributes: dict) -> zarr.Group:
    """A new root group with ``attributes`` in its first metadata write; fails where a group
    or array exists (other objects, the lease among them, may)."""
    return zarr.create_group(url, attributes=attributes, overwrite=False, **_storage_options(url))


def store_state(url: str) -> str:
    """What ``url`` holds: :data:`ABSENT`, :data:`INCOMPLETE`, :data:`COMPLETE` or
    :data:`FOREIGN`.

    Incomplete: a group that still carries :data:`CREATING_ATTR` (killed during
    :meth:`FeatureStore.create`), or one with no attributes whose members are all SonicSep
    arrays (killed during a create of SonicSep 0.x, which wrote the attributes last without a
    marker). Reads the root metadata and one listing, never an array.
    """
    raw = read_object(url, "zarr.json")
    if raw is None:
        return ABSENT
    try:
        meta = json.loads(raw)
    except ValueError:
        return FOREIGN  # metadata is written atomically: unreadable JSON was not ours
    if not isinstance(meta, dict) or meta.get("node_type") != "group":
        return FOREIGN
    attrs = meta.get("attributes") or {}
    if "schema_version" in attrs:
        return COMPLETE
    if CREATING_ATTR in attrs:
        return INCOMPLETE
    ours = {*TRACK_ARRAYS, *RESULT_ARRAYS, *LABEL_ARRAYS, *FMA_ARRAYS}
    return INCOMPLETE if not attrs and set(_member_names(url)) <= ours else FOREIGN


def _member_names(url: str) -> list[str]:
    """Names at the root of the store other than its metadata, the lease and temporary files."""
    fs, root = object_path(url, "")
    lease = LEASE_KEY.split("/")[0]
    names = [posixpath.basename(p.rstrip("/")) for p in fs.ls(root, detail=False)]
    return [n for n in names if n not in ("zarr.json", lease) and not n.endswith(".partial")]


def _clear(url: str) -> None:
    """Delete everything in the store but its lease (held by the run that clears it)."""
    fs, root = object_path(url, "")
    for name in _member_names(url):
        fs.rm(posixpath.join(root, name), recursive=True)
    fs.rm_file(posixpath.join(root, "zarr.json"))


class FeatureStore:
    """A handle on a feature store; create with :meth:`create`, open with :meth:`open`."""

    def __init__(self, group: zarr.Group, url: str):
        self.group = group
        self.url = url
        attrs = group.attrs.asdict()
        if "schema_version" not in attrs and store_state(url) == INCOMPLETE:
            raise StoreError(
                f"{url!r} is an incomplete feature store (its creation was interrupted); "
                "run the same `python -m sonicsep.featurize` command again to rebuild it"
            )
        if attrs.get("schema_version") != SCHEMA_VERSION:
            raise StoreError(
                f"{url!r} is not a SonicSep feature store of schema {SCHEMA_VERSION} "
                f"(found schema_version={attrs.get('schema_version')!r}); "
                "re-featurize it with `python -m sonicsep.featurize --overwrite`"
            )
        self.attrs = attrs
        self.config = FeatureConfig.from_dict(attrs["feature_config"])
        self.genres: tuple[str, ...] = tuple(attrs["genres"])
        self.dataset: str = attrs["dataset"]
        self.tracks_per_shard: int = int(attrs["tracks_per_shard"])
        self.summary_names: tuple[str, ...] = tuple(attrs["summary_names"])
        self.echonest_names: tuple[str, ...] = tuple(attrs["echonest_names"])
        self.n_tracks: int = int(group["track"].shape[0])
        self._segment_arrays: dict[str, zarr.Array] = {}
        self._layouts: dict[str, tuple[tuple[int, ...], int, np.dtype]] = {}
        # Segment reads of a local store bypass Zarr's read path (sonicsep.store_reader);
        # False reads everything through Zarr (the benchmark compares the two).
        self.direct_reads = True
        self._readers: dict[str, ChunkReader | None] = {}

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str, mode: str = "r") -> FeatureStore:
        try:
            group = _open_group(str(url), mode)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as exc:
            raise StoreError(
                f"no feature store at {str(url)!r}; create one with `python -m sonicsep.featurize`"
            ) from exc
        return cls(group, str(url))

    @classmethod
    def create(
        cls,
        url: str,
        *,
        dataset: str,
        genres: Sequence[str],
        tracks: pd.DataFrame,
        config: FeatureConfig,
        summary_names: Sequence[str],
        echonest_names: Sequence[str],
        tracks_per_shard: int,
        overwrite: bool = False,
    ) -> FeatureStore:
        """Lay out an empty store for ``tracks`` (every track pending) and return it.

        ``tracks`` needs columns track_id, path, label, split, duration and ``echonest_names``.
        An incomplete store at ``url`` (see :func:`store_state`) is rebuilt as if absent; a
        complete or foreign one only with ``overwrite``. The store's lease survives, so the run
        holding it keeps it; the caller holds the lease (:mod:`sonicsep.lease`), since two
        creates of one URL at once would interleave.
        """
        if tracks_per_shard < 1 or tracks_per_shard & (tracks_per_shard - 1):
            raise StoreError(f"tracks_per_shard={tracks_per_shard} must be a power of two")
        n = len(tracks)
        if n == 0:
            raise StoreError(f"refusing to create {url!r}: the dataset has no tracks")
        bad_splits = sorted(set(tracks["split"]) - set(SPLITS))
        if bad_splits:
            raise StoreError(f"unknown split values {bad_splits}; expected {SPLITS}")
        state = store_state(url)
        if state in (COMPLETE, FOREIGN) and not overwrite:
            raise StoreError(f"{url!r} already exists; pass overwrite (--overwrite) to replace it")
        if state != ABSENT:
            _clear(url)
        store_id = uuid.uuid4().hex
        try:
            group = _create_group(str(url), {CREATING_ATTR: store_id})
        except (FileExistsError, zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError):
            raise StoreError(
                f"{url!r} appeared while being created: another run is writing it; "
                "hold the store's lease (sonicsep.lease) before creating"
            ) from None
        seg, frames = config.max_segments, config.frames_per_segment
        T = tracks_per_shard

        def small(name, dims, dtype, fill, extra_shape=()):
            return group.create_array(
                name,
                shape=(n, *extra_shape),
                chunks=(T, *extra_shape),
                dtype=dtype,
                fill_value=fill,
                compressors=COMPRESSOR,
                dimension_names=dims,
            )

        def big(name, dims, inner_shape, dtype=np.float32, fill=np.nan):
            per_track = int(np.prod(inner_shape)) * np.dtype(dtype).itemsize
            c = _chunk_tracks(per_track, T)
            spectrogram = name in SPECTROGRAM_ARRAYS
            return group.create_array(
                name,
                shape=(n, *inner_shape),
                chunks=(c, *inner_shape),
                shards=(T, *inner_shape),
                dtype=dtype,
                fill_value=fill,
                compressors=SPECTROGRAM_COMPRESSORS if spectrogram else COMPRESSOR,
                dimension_names=dims,
            )

        small("track", ("track",), str, "")[:] = tracks["track_id"].astype(str).to_numpy()
        small("path", ("track",), str, "")[:] = tracks["path"].astype(str).to_numpy()
        small("label", ("track",), np.int16, -1)[:] = tracks["label"].to_numpy(np.int16)
        split_codes = np.array([SPLITS.index(s) for s in tracks["split"]], np.int8)
        small("split", ("track",), np.int8, -1)[:] = split_codes
        durations = tracks["duration"].to_numpy(np.float32)
        small("duration", ("track",), np.float32, np.nan)[:] = durations
        echonest = tracks[list(echonest_names)].to_numpy(np.float32)
        echonest_dims = ("track", "echonest_feature")
        small("echonest", echonest_dims, np.float32, np.nan, (len(echonest_names),))[:] = echonest
        small("status", ("track",), np.int8, PENDING)
        small("error", ("track",), str, "")
        small("warning", ("track",), str, "")
        small("n_segments", ("track",), np.int16, 0)
        small("mask", ("track", "segment"), bool, False, (seg,))
        big("mel_db", ("track", "segment", "mel_band", "time"), (seg, config.n_mels, frames))
        big("mfcc", ("track", "segment", "mfcc_coef", "time"), (seg, config.n_mfcc, frames))
        big("summary", ("track", "segment", "summary_feature"), (seg, len(summary_names)))
        labels = [("summary_feature", summary_names), ("echonest_feature", echonest_names)]
        if config.fma_features:
            from sonicsep.features import fma  # see ShardResult.empty

            small("fma_features", ("track", "fma_feature"), np.float32, np.nan, (fma.N_FMA,))
            labels.append(("fma_feature", fma.FMA_COLUMN_NAMES))
        for name, values in labels:
            arr = group.create_array(
                name, shape=(len(values),), dtype=str, fill_value="", dimension_names=(name,)
            )
            if len(values):
                arr[:] = np.array(values, dtype=str)
        # Attributes last, replacing the creating marker in one atomic metadata write: a store
        # killed before this is recognisably incomplete rather than half-described.
        group.attrs.put(
            {
                "schema_version": SCHEMA_VERSION,
                # New on every create, so caches keyed on a store (the similarity index)
                # notice a store rebuilt in place with --overwrite.
                "store_id": store_id,
                "sonicsep_version": __version__,
                "dataset": dataset,
                "genres": list(genres),
                "splits": list(SPLITS),
                "statuses": list(STATUSES),
                "feature_config": config.to_dict(),
                "tracks_per_shard": T,
                "summary_names": list(summary_names),
                "echonest_names": list(echonest_names),
            }
        )
        return cls(group, str(url))

    # ------------------------------------------------------------------ shards
    @property
    def n_shards(self) -> int:
        return math.ceil(self.n_tracks / self.tracks_per_shard)

    def shard_slice(self, shard: int) -> slice:
        if not 0 <= shard < self.n_shards:
            raise StoreError(f"shard={shard} out of range [0, {self.n_shards})")
        start = shard * self.tracks_per_shard
        return slice(start, min(self.n_tracks, start + self.tracks_per_shard))

    def tracks_to_do(self, retry_failed: bool = False) -> np.ndarray:
        """Boolean mask of the tracks a run must featurize (see :func:`needs_work`)."""
        return needs_work(self.statuses(), retry_failed)

    def shards_to_do(self, retry_failed: bool = False) -> list[int]:
        """Shards with a track to featurize."""
        T = self.tracks_per_shard
        return sorted({int(i) // T for i in np.flatnonzero(self.tracks_to_do(retry_failed))})

    def read_shard(self, shard: int) -> ShardResult:
        """The current contents of a shard (to keep its finished tracks on a partial redo).

        A shard whose tracks are all pending has nothing to keep: it comes back as
        :meth:`ShardResult.empty` without reading (and decompressing) the feature arrays.
        """
        sl = self.shard_slice(shard)
        g = self.group
        status, duration = g["status"][sl], g["duration"][sl]
        if (status == PENDING).all():
            return ShardResult.empty(len(status), self.config, len(self.summary_names), duration)
        return ShardResult(
            mel_db=g["mel_db"][sl],
            mfcc=g["mfcc"][sl],
            summary=g["summary"][sl],
            mask=g["mask"][sl],
            n_segments=g["n_segments"][sl],
            duration=duration,
            status=status,
            error=self.strings("error", sl),
            warning=self.strings("warning", sl),
            fma_features=g["fma_features"][sl] if self.config.fma_features else None,
        )

    def write_shard(self, shard: int, result: ShardResult) -> None:
        """Write one shard whole; ``status`` goes last so a killed write leaves it pending."""
        sl = self.shard_slice(shard)
        n = sl.stop - sl.start
        names = self._result_arrays()
        for name in names:
            value = getattr(result, name)
            if value is None or value.shape[0] != n:
                rows = "no" if value is None else value.shape[0]
                raise StoreError(f"shard {shard}: {name} has {rows} rows, expected {n}")
        g = self.group
        for name in names[:-1]:
            value = getattr(result, name)
            g[name][sl] = value.astype(str) if name in STRING_RESULTS else value
        g["status"][sl] = result.status

    def _result_arrays(self) -> tuple[str, ...]:
        """The arrays a shard write replaces in this store, ``status`` last."""
        if self.config.fma_features:
            return ("fma_features", *RESULT_ARRAYS)
        return RESULT_ARRAYS

    # ------------------------------------------------------------------ reading
    def fma_frame(self):
        """FMA's 518 features of every track as ``fma_metadata/features.csv`` lays them out:
        indexed by ``track_id``, columns (feature, statistics, number); NaN for tracks not
        featurized. ``frame.to_csv(path)`` writes FMA's three header rows."""
        from sonicsep.features import fma  # see ShardResult.empty

        return fma.fma_frame(self.fma_features(), self.strings("track"))

    def fma_features(self) -> np.ndarray:
        """FMA's 518 features of every track [shape=(n_tracks, 518)], NaN where not computed;
        the column order is :data:`sonicsep.features.fma.FMA_COLUMNS` (``fma_feature``)."""
        if not self.config.fma_features:
            raise StoreError(
                f"{self.url!r} has no FMA features: featurize with --fma (or a config with "
                '"fma_features": true)'
            )
        return self.group["fma_features"][:]

    def tracks(self) -> pd.DataFrame:
        """One row per track: ids, labels, split and status names, error text, Echonest."""
        g = self.group
        frame = pd.DataFrame(
            {
                "track_id": self.strings("track"),
                "path": self.strings("path"),
                "label": g["label"][:].astype(int),
                "split": np.array(SPLITS)[g["split"][:]],
                "duration": g["duration"][:],
                "status": np.array(STATUSES)[g["status"][:]],
                "error": self.strings("error"),
                "warning": self.strings("warning"),
                "n_segments": g["n_segments"][:].astype(int),
            }
        )
        frame.insert(3, "genre", np.array(self.genres)[frame["label"]])
        echonest = g["echonest"][:]
        for j, name in enumerate(self.echonest_names):
            frame[name] = echonest[:, j]
        return frame

    def strings(self, name: str, rows: slice = slice(None)) -> np.ndarray:
        """A string array (track ids, paths, errors, warnings) as a NumPy object array."""
        return np.array(self.group[name][rows].tolist(), dtype=object)

    def array(self, name: str) -> zarr.Array:
        """A feature array, for whole reads of small stores (tests, reports); stream big ones
        with :meth:`iter_segment_blocks` or :meth:`read_segments`."""
        if name not in (*SEGMENT_ARRAYS, "mask", "echonest"):
            raise StoreError(f"unknown feature array {name!r}")
        return self.group[name]

    def statuses(self) -> np.ndarray:
        """Status code of every track (an index into :data:`STATUSES`)."""
        return self.group["status"][:]

    def fingerprint(self) -> str:
        """A short hash of the attributes and track statuses: it changes when the content can.

        Featurizing changes statuses (pending -> ok or failed; ok tracks are never redone), and
        a store remade with another config, dataset or genre list changes its attributes (and
        ``store_id``). Only the small ``status`` array is read, so a cache (the similarity index)
        can check it on every use; that read is one small chunk per shard, 1.4 s on a
        100k-track store on a shared 2-core machine (``benchmarks/bench_similar.py``), and
        every further per-track array would cost as much again.
        """
        digest = hashlib.sha256(json.dumps(self.attrs, sort_keys=True).encode())
        digest.update(np.ascontiguousarray(self.statuses()).tobytes())
        return digest.hexdigest()[:16]

    def segment_index(self, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(track row, segment) of every valid segment of ok tracks, optionally in one split.

        Rows come in ascending order (segments ascending within a row): store order.
        """
        status = self.statuses()
        keep = status == OK
        if split is not None:
            if split not in SPLITS:
                raise StoreError(f"unknown split {split!r}; expected one of {SPLITS}")
            keep &= self.group["split"][:] == SPLITS.index(split)
        mask = self.group["mask"][:] & keep[:, None]
        rows, segs = np.nonzero(mask)
        return rows, segs

    def load_summary(self, split: str | None = None):
        """Summary vectors of valid segments: (X [n, f], y [n], track_row [n]).

        Reads only the small ``summary``, ``mask``, ``status``, ``split`` and ``label`` arrays,
        never the spectrograms, so it fits in memory for fma_large-sized stores.
        """
        rows, segs = self.segment_index(split)
        summary = self.group["summary"][:]
        labels = self.group["label"][:].astype(np.int64)
        return summary[rows, segs], labels[rows], rows

    def counts(self) -> dict[str, int]:
        status = self.statuses()
        return {name: int((status == i).sum()) for i, name in enumerate(STATUSES)}

    # ------------------------------------------------------------------ segment readers
    def _segment_array(self, name: str) -> zarr.Array:
        if name not in SEGMENT_ARRAYS:
            raise StoreError(f"unknown segment array {name!r}; expected one of {SEGMENT_ARRAYS}")
        # Opening an array reads and parses its metadata (~1 ms); the pipeline reads a window
        # every few batches, and an array's layout never changes after create.
        if name not in self._segment_arrays:
            array = self.group[name]
            self._segment_arrays[name] = array
            # Zarr's shape/chunks properties rebuild from metadata on every access; the
            # readers consult them once a chunk.
            self._layouts[name] = (tuple(array.shape), int(array.chunks[0]), np.dtype(array.dtype))
        return self._segment_arrays[name]

    def _layout(self, name: str) -> tuple[tuple[int, ...], int, np.dtype]:
        """(shape, tracks per stored chunk, dtype) of the segment array ``name``."""
        self._segment_array(name)
        return self._layouts[name]

    def _reader(self, name: str) -> ChunkReader | None:
        """The direct reader of ``name``, or None where reads go through Zarr."""
        array = self._segment_array(name)
        if not self.direct_reads:
            return None
        if name not in self._readers:
            self._readers[name] = ChunkReader.open(array)
        return self._readers[name]

    def segment_shape(self, name: str) -> tuple[int, ...]:
        """Shape of one segment's values in ``name``: (n_mels, frames) for ``mel_db``."""
        return self._layout(name)[0][2:]

    def read_tracks(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Every segment of the tracks ``rows``, in the order given.

        Returns
        -------
        np.ndarray [shape=(len(rows), max_segments, ...)]
            ``name``'s values; each stored chunk is read once (see :meth:`read_segments`).
        """
        shape, _, dtype = self._layout(name)
        rows = _row_array(rows, shape[0])
        if len(rows) == 0:
            return np.zeros((0, *shape[1:]), dtype)
        reader = self._reader(name)
        if reader is not None:
            every = np.tile(np.arange(shape[1]), len(rows))
            values = read_pairs(reader, np.repeat(rows, shape[1]), every)
            return values.reshape(len(rows), *shape[1:])
        unique_rows, position = np.unique(rows, return_inverse=True)
        return self._segment_array(name).oindex[unique_rows][position]

    def read_segments(self, name: str, rows: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """Segment ``segments[i]`` of track ``rows[i]`` for every i, in the order given.

        Returns
        -------
        np.ndarray [shape=(len(rows), ...)]
            ``name``'s values. A local store is read by :mod:`sonicsep.store_reader`, one task
            per stored chunk on all cores (an uncompressed segment is one ``pread``, a
            compressed chunk is decoded once); other URLs by one orthogonal Zarr selection.
        """
        shape, _, dtype = self._layout(name)
        rows, segments = _row_array(rows, shape[0]), np.asarray(segments, np.int64)
        _check_pairs(rows, segments)
        if len(rows) == 0:
            return np.zeros((0, *shape[2:]), dtype)
        reader = self._reader(name)
        if reader is not None:
            return read_pairs(reader, rows, segments)
        unique_rows, position = np.unique(rows, return_inverse=True)
        return self._segment_array(name).oindex[unique_rows][position, segments]

    def chunk_of(self, name: str, rows: np.ndarray) -> np.ndarray:
        """The stored chunk of ``name`` holding each track row.

        Reads that stay within one chunk decode it once: the input pipeline shuffles chunks,
        not tracks, to keep its reads chunk-local.
        """
        shape, chunk_tracks, _ = self._layout(name)
        return _row_array(rows, shape[0]) // chunk_tracks

    def iter_segment_blocks(
        self,
        name: str,
        rows: np.ndarray,
        segments: np.ndarray,
        *,
        max_block_bytes: int = READ_BLOCK_BYTES,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stream segments ``(rows[i], segments[i])`` of ``name`` a block of chunks at a time.

        A block is a run of whole stored chunks of tracks (at most ``max_block_bytes``, at
        least one chunk), read with one call (:meth:`read_segments`' reader: its chunks read
        in parallel on a local store); blocks come in store order and blocks holding no
        requested segment are not read, so memory stays bounded by one block however big the
        array (a whole ``mel_db`` of fma_large is ~70 GB).

        Yields
        ------
        picks : np.ndarray [shape=(m,), dtype=int64]
            Positions in ``rows``/``segments`` served by this block, ascending; every position
            is yielded exactly once over the whole iteration.
        values : np.ndarray [shape=(m, ...)]
            ``name``'s values of those segments, equal to ``read_segments(name, rows[picks],
            segments[picks])``.
        """
        shape, chunk_tracks, dtype = self._layout(name)
        rows, segments = _row_array(rows, shape[0]), np.asarray(segments, np.int64)
        _check_pairs(rows, segments)
        if len(rows) == 0:
            return
        chunk_bytes = chunk_tracks * math.prod(shape[1:]) * dtype.itemsize
        block_tracks = chunk_tracks * max(1, max_block_bytes // chunk_bytes)
        block_of = rows // block_tracks
        if block_of.min() == block_of.max():  # one block: the pipeline's one-chunk reads
            blocks = [np.arange(len(rows))]
        else:
            order = np.argsort(block_of, kind="stable")
            _, starts = np.unique(block_of[order], return_index=True)
            blocks = np.split(order, starts[1:])
        reader = self._reader(name)
        for picks in blocks:
            if reader is not None:
                yield picks, read_pairs(reader, rows[picks], segments[picks])
                continue
            # Only the span of requested tracks: the chunks it touches are decoded either way.
            first, last = int(rows[picks].min()), int(rows[picks].max())
            data = self._segment_array(name)[first : last + 1]
            yield picks, data[rows[picks] - first, segments[picks]]


def _row_array(rows: np.ndarray, n_tracks: int) -> np.ndarray:
    """``rows`` as int64 track rows, checked to lie in ``[0, n_tracks)``."""
    rows = np.asarray(rows, np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= n_tracks):
        raise StoreError(f"track rows must lie in [0, {n_tracks}); got {rows.min()}..{rows.max()}")
    return rows


def _check_pairs(rows: np.ndarray, segments: np.ndarray) -> None:
    if rows.shape != segments.shape:
        raise StoreError(
            f"rows and segments must pair up: shapes {rows.shape} and {segments.shape} differ"
        )
