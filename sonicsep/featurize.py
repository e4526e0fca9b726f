"""``python -m sonicsep.featurize``: featurize a whole dataset into a chunked Zarr store with Dask.

One Dask task per store shard: the task streams the audio of its tracks, computes every feature
of every segment from one STFT (:class:`sonicsep.features.FeatureExtractor`), and writes its shard
whole (:meth:`sonicsep.store.FeatureStore.write_shard`). Status lives in the store, so a rerun
skips finished tracks and a killed run loses at most the shards in flight. A track that cannot be
decoded, is empty, or is too short is recorded as failed with its cause; the job carries on.

With ``--scheduler`` the shards run on an existing cluster (:mod:`sonicsep.dask_cluster` holds
the client's lifecycle); :mod:`sonicsep.pipeline` holds what its workers import. A shard whose
worker dies is run again on another worker; a run with no worker for ``--worker-timeout``
seconds stops and leaves its unfinished shards pending.

Exit codes: 0 every track succeeded, 2 usage error, 3 some tracks failed or some shards could
not be saved or were left pending for want of workers (the rest was saved), 130 interrupted by
Ctrl-C (what was saved stays saved).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from sonicsep.config import FeatureConfig
from sonicsep.dask_cluster import (
    DEFAULT_WORKER_TIMEOUT_S,
    WorkerWatch,
    cluster_client,
    finished,
)
from sonicsep.datasets import DATASETS, DatasetWarning, dataset_spec, load_dataset
from sonicsep.datasets.base import ECHONEST_FEATURES
from sonicsep.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    ParameterError,
    SonicSepError,
    StoreError,
    deaf_to_ctrl_c,
)
from sonicsep.lease import StoreLease
from sonicsep.pipeline import cached_extractor, failure_cause, featurize_shard, featurize_track
from sonicsep.store import DEFAULT_STORE, OK, FeatureStore, default_tracks_per_shard


def warm_kernels(config: FeatureConfig, notice_after: float = 1.0, file=None) -> float:
    """Featurize a one-segment noise WAV here, so Numba compiles every kernel before the run.

    The kernels are ``cache=True``: compiling them once in this process writes Numba's cache,
    which the local workers then load in about a second each instead of all compiling at once,
    and the progress bar's rate, hence its ETA, no longer includes a compile. Measured on the
    40-track demo corpus, 2 workers on 2 busy cores, empty NUMBA_CACHE_DIR: warm-up 19 s, first
    shard 2 s later, 36 s in all; without it the first shard took 106 s (ETA shown: 16 min) and
    the run 152 s. Prints a "compiling kernels" line when the warm-up outlasts ``notice_after``
    seconds (a first run; with the cache it takes ~1 s and prints nothing) to ``file``
    (default stderr). Returns its seconds.
    """
    file = file or sys.stderr
    announced = threading.Event()

    def announce():
        print("compiling kernels (first run only, ~20-40 s)...", file=file, flush=True)
        announced.set()

    notice = threading.Timer(notice_after, announce)
    start = time.perf_counter()
    notice.start()
    try:
        with tempfile.TemporaryDirectory(prefix="sonicsep-warm-") as folder:
            path = Path(folder) / "noise.wav"
            noise = np.random.default_rng(0).uniform(-0.1, 0.1, config.segment_samples)
            _write_wav(path, noise, config.sr)
            featurize_track(str(path), config)
    finally:
        notice.cancel()
        notice.join()
    seconds = time.perf_counter() - start
    if announced.is_set():
        print(f"kernels ready in {seconds:.0f} s", file=file, flush=True)
    return seconds


def _write_wav(path: Path, y: np.ndarray, sr: int) -> None:
    import soundfile

    soundfile.write(path, y, sr, subtype="PCM_16")


# ---------------------------------------------------------------------- driver
def _store_url(out: str) -> str:
    """Local paths become absolute (workers may run elsewhere); URLs pass through."""
    return out if "://" in out else str(Path(out).resolve())


def prepare_store(
    url: str, dataset, config: FeatureConfig, workers: int, overwrite: bool
) -> FeatureStore:
    """Open a compatible existing store (to resume) or lay out a new one."""
    tracks = dataset.tracks
    if not overwrite:
        try:
            store = FeatureStore.open(url, mode="r+")
        except StoreError:
            store = None
        if store is not None:
            _check_compatible(store, dataset, config)
            return store
    return FeatureStore.create(
        url,
        dataset=dataset.name,
        genres=dataset.genres,
        tracks=tracks,
        config=config,
        summary_names=cached_extractor(config).summary_names,
        echonest_names=ECHONEST_FEATURES,
        tracks_per_shard=default_tracks_per_shard(len(tracks), workers, config),
        overwrite=overwrite,
    )


def _check_compatible(store: FeatureStore, dataset, config: FeatureConfig) -> None:
    hint = "pass --overwrite to rebuild it, or choose another --out"
    if store.config != config:
        raise StoreError(f"{store.url} was made with a different feature config; {hint}")
    if store.dataset != dataset.name or tuple(store.genres) != tuple(dataset.genres):
        raise StoreError(
            f"{store.url} holds dataset {store.dataset!r} with genres {list(store.genres)}, "
            f"not {dataset.name!r} with {list(dataset.genres)}; {hint}"
        )
    if list(store.strings("track")) != list(dataset.tracks["track_id"].astype(str)):
        raise StoreError(f"{store.url} holds a different list of tracks (see --limit); {hint}")


@dataclasses.dataclass
class RunCounts:
    """What one run did: tracks featurized ok and failed, and shards it could not finish.

    A shard whose task raised (its store write failed; its worker died more often than the
    scheduler's ``distributed.scheduler.allowed-failures``, default 3, allows) keeps its tracks
    pending in the store; ``shard_errors`` maps the shard to the cause. ``stopped`` says why
    the run gave up on the shards it had not finished (no worker for too long), or is empty.
    """

    ok: int = 0
    failed: int = 0
    shard_errors: dict[int, str] = dataclasses.field(default_factory=dict)
    stopped: str = ""


def run_featurize(
    store: FeatureStore,
    client,
    retry_failed: bool = False,
    progress: bool = True,
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT_S,
) -> RunCounts:
    """Submit one task per unfinished shard and gather their outcomes.

    A shard that fails as a whole is recorded and the others carry on. With no worker
    connected for ``worker_timeout`` seconds the run stops, its unfinished shards pending.
    """
    from tqdm import tqdm

    shards = store.shards_to_do(retry_failed)
    todo = store.tracks_to_do(retry_failed)
    counts = RunCounts()
    start = time.perf_counter()
    futures = client.map(
        featurize_shard, [store.url] * len(shards), shards, retry_failed=retry_failed, pure=False
    )
    pending = dict(zip(futures, shards, strict=True))
    del futures  # pending holds the only references, so a read result is released
    watch = WorkerWatch(worker_timeout)
    with tqdm(total=int(todo.sum()), unit="track", disable=not progress, file=sys.stderr) as bar:

        def say(line):
            bar.write(line, file=sys.stderr)

        for shard, outcomes in finished(pending, client, watch, say):
            if isinstance(outcomes, BaseException):  # one shard's failure never stops the run
                counts.shard_errors[shard] = cause = failure_cause(outcomes)
                say(f"shard {shard} not saved, its tracks stay pending: {cause}")
                continue
            for _, status in outcomes:
                if status == OK:
                    counts.ok += 1
                else:
                    counts.failed += 1
            bar.update(len(outcomes))
            rate = (counts.ok + counts.failed) / max(1e-9, time.perf_counter() - start)
            bar.set_postfix(done=counts.ok, failed=counts.failed, tracks_s=f"{rate:.2f}")
    if pending:  # finished() gave up on them
        counts.stopped = (f"no workers connected to the scheduler for {worker_timeout:g} s "
                          "(--worker-timeout)")
    return counts


def _ordered_union(groups) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for group in groups for value in group))


def _per_dataset(choices_of) -> str:
    """``"name: a (default), b; ..."`` for the datasets that have such choices."""
    parts = []
    for name, spec in DATASETS.items():
        choices, default = choices_of(spec)
        if choices:
            marked = [f"{c} (default)" if c == default else c for c in choices]
            parts.append(f"{name}: {', '.join(marked)}")
    return "; ".join(parts)


def build_parser() -> argparse.ArgumentParser:
    """The CLI; the datasets, their subsets, split modes and reader flags come from
    :data:`sonicsep.datasets.DATASETS`."""
    p = argparse.ArgumentParser(
        prog="python -m sonicsep.featurize",
        description="Featurize a dataset into a chunked Zarr feature store with Dask.",
    )
    specs = DATASETS.values()
    p.add_argument("--dataset", choices=tuple(DATASETS), default="demo",
                   help="dataset to featurize (default: demo, the built-in synthetic corpus)")
    p.add_argument("--root", help="dataset folder (default for demo: a generated corpus)")
    p.add_argument("--subset", choices=_ordered_union(s.subsets for s in specs),
                   help=_per_dataset(lambda s: (s.subsets, s.subsets[0] if s.subsets else None)))
    p.add_argument("--split", choices=_ordered_union(s.split_modes for s in specs),
                   help="split mode, " + _per_dataset(lambda s: (s.split_modes, s.default_split))
                   + ". GTZAN's filtered split leaves out its 70 faulty clips (they are not "
                   "featurized); its random split leaks artists across splits")
    for option in _cli_options():
        p.add_argument(option.flag, help=option.cli_help)
    p.add_argument("--out", default=DEFAULT_STORE,
                   help=f"store path or fsspec URL (default: {DEFAULT_STORE})")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                   help="local worker processes (default: the CPU count, at most 4); with "
                   "--scheduler, the cluster's worker count, which sizes a new store's shards")
    p.add_argument("--scheduler",
                   help="address of a running dask.distributed scheduler (e.g. "
                   "tcp://10.0.0.5:8786) whose workers can import this SonicSep version and "
                   "reach --out")
    p.add_argument("--worker-timeout", type=float, default=DEFAULT_WORKER_TIMEOUT_S,
                   metavar="SECONDS",
                   help="give up when no worker is connected for this long; unfinished shards "
                   f"stay pending for a rerun (default: {DEFAULT_WORKER_TIMEOUT_S:g})")
    p.add_argument("--config", help="feature config JSON (FeatureConfig fields)")
    p.add_argument("--fma", action="store_true",
                   help="also compute FMA's 518 per-track features (fma_metadata/features.csv) "
                   "of each whole file at its native rate, into the store's fma_features")
    p.add_argument("--limit", type=int, help="featurize only the first N tracks")
    p.add_argument("--overwrite", action="store_true", help="rebuild the store from scratch")
    p.add_argument("--retry-failed", action="store_true", help="retry tracks that failed before")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (the summary is still printed)")
    return p


def _cli_options() -> list:
    """Every reader option that is a flag, by name (the first dataset's help wins)."""
    options = {}
    for spec in DATASETS.values():
        for option in spec.options:
            if option.cli_help is not None:
                options.setdefault(option.name, option)
    return list(options.values())


def _dataset_kwargs(args) -> dict:
    """The load_dataset arguments of the command line, checked against the chosen dataset's
    registry entry; :class:`ParameterError` in the CLI's words (flags, not parameters)."""
    spec = dataset_spec(args.dataset)
    where = f"--dataset {args.dataset}"
    if spec.needs_root and args.root is None:
        raise ParameterError(f"{where} needs --root, the folder of the dataset")
    if args.subset is not None and args.subset not in spec.subsets:
        valid = ", ".join(spec.subsets) if spec.subsets else "none"
        raise ParameterError(f"--subset {args.subset} does not apply to {where} "
                             f"(its subsets: {valid})")
    if args.split is not None and args.split not in spec.split_modes:
        raise ParameterError(f"--split {args.split} does not apply to {where} "
                             f"(its split modes: {', '.join(spec.split_modes)})")
    given = {option.name: getattr(args, option.name) for option in _cli_options()
             if getattr(args, option.name) is not None}
    foreign = [name for name in given if name not in spec.option_names]
    if foreign:
        flags = ", ".join("--" + name.replace("_", "-") for name in foreign)
        raise ParameterError(f"{flags} only apply to --dataset "
                             f"{'/'.join(_datasets_taking(foreign))}, not {args.dataset!r}")
    return {"root": args.root, "subset": args.subset, "split": args.split, **given}


def _datasets_taking(option_names) -> list[str]:
    return [name for name, spec in DATASETS.items()
            if set(option_names) & set(spec.option_names)]


@contextlib.contextmanager
def _dataset_warnings_as_lines() -> Iterator[None]:
    """Show each :class:`DatasetWarning` as one ``warning: ...`` line on stderr, not as a
    source location and line of code."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DatasetWarning):
            print(f"warning: {message}", file=sys.stderr, flush=True)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        print("error: --workers must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    if args.worker_timeout <= 0:
        print("error: --worker-timeout must be > 0 seconds", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = FeatureConfig.from_file(args.config) if args.config else FeatureConfig()
        if args.fma:
            config = config.replace(fma_features=True)
        with _dataset_warnings_as_lines():
            dataset = load_dataset(args.dataset, **_dataset_kwargs(args))
        if args.limit is not None:
            dataset = dataclasses.replace(dataset, tracks=dataset.tracks.head(args.limit))
        url = _store_url(args.out)
        # Before prepare_store: --overwrite must never delete a store another run is writing.
        lease = StoreLease(url).acquire()
    except SonicSepError as exc:  # a busy store (StoreBusyError) is a usage error too
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with lease:  # released on return, on exceptions and on Ctrl-C
        try:
            store = prepare_store(url, dataset, config, args.workers, args.overwrite)
        except SonicSepError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        code = _featurize_store(store, config, args)
        if lease.lost:
            print("warning: another run took over this store's lease while this one ran",
                  file=sys.stderr)
        return code


def _featurize_store(store: FeatureStore, config: FeatureConfig, args) -> int:
    """Warm the kernels, run every pending shard on the cluster, report; the exit code.

    On Ctrl-C the count is read once the run's client (and a local cluster with its workers)
    has closed, so it is what the store holds; on an external cluster, shards its workers had
    started still finish and are saved.
    """
    warm_kernels(config)
    before = store.counts()
    try:
        with cluster_client(args.workers, args.scheduler) as client:
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
            counts = run_featurize(store, client, args.retry_failed,
                                   progress=not args.no_progress,
                                   worker_timeout=args.worker_timeout)
    except KeyboardInterrupt:
        with deaf_to_ctrl_c():  # a second Ctrl-C must not cut the message short
            after = store.counts()
            saved = after["ok"] + after["failed"] - before["ok"] - before["failed"]
            running = (" (shards the cluster's workers had started finish and are saved too)"
                       if args.scheduler else "")
            print(f"interrupted: {saved} tracks were saved by this run, {after['pending']} are "
                  f"pending in {store.url}{running}; run the same command again to resume",
                  file=sys.stderr)
        return EXIT_INTERRUPTED
    return report(store, before, counts)


def report(store: FeatureStore, before: dict[str, int], counts: RunCounts) -> int:
    """Print the outcome and return the exit code."""
    after = store.counts()
    print(
        f"{store.url}: {after['ok']} ok, {after['failed']} failed, {after['pending']} pending "
        f"(this run: {counts.ok} ok, {counts.failed} failed; "
        f"{before['ok']} were already done)"
    )
    for shard, error in sorted(counts.shard_errors.items()):
        print(f"shard {shard} was not saved ({error}); rerun to featurize its tracks")
    if counts.stopped:
        print(f"stopped: {counts.stopped}; {after['pending']} tracks are pending: start workers "
              "and rerun the same command to featurize them")
    tracks = store.tracks()
    failed = tracks[tracks["status"] == "failed"]
    if len(failed):
        _list_tracks(failed, "error", "failed tracks (kept in the store's status/error arrays)")
        print("rerun with --retry-failed to try them again")
    warned = tracks[tracks["warning"] != ""]
    if len(warned):
        _list_tracks(warned, "warning", "tracks featurized with a warning (the warning array)")
    return EXIT_PARTIAL if after["failed"] or after["pending"] else EXIT_OK


def _list_tracks(rows, column: str, title: str, shown: int = 20) -> None:
    """Print ``title`` with the count, then the first ``shown`` tracks' ``column`` text."""
    print(f"{len(rows)} {title}:")
    for track_id, text in zip(rows["track_id"].head(shown), rows[column].head(shown), strict=True):
        print(f"  {track_id}: {text}")
    if len(rows) > shown:
        print(f"  ... and {len(rows) - shown} more")


if __name__ == "__main__":
    sys.exit(main())
