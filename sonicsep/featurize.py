"""``python -m sonicsep.featurize``: featurize a whole dataset into a chunked Zarr store with Dask.

One Dask task per store shard: the task streams the audio of its tracks, computes every feature
of every segment from one STFT (:class:`sonicsep.features.FeatureExtractor`), and writes its shard
whole (:meth:`sonicsep.store.FeatureStore.write_shard`). Status lives in the store, so a rerun
skips finished tracks and a killed run loses at most the shards in flight. A track that cannot be
decoded, is empty, or is too short is recorded as failed with its cause; the job carries on.

With ``--scheduler`` the shards run on an existing cluster; :mod:`sonicsep.pipeline` holds what
its workers import. A shard whose worker dies is run again on another worker; a run with no
worker for ``--worker-timeout`` seconds stops and leaves its unfinished shards pending.

Exit codes: 0 every track succeeded, 2 usage error, 3 some tracks failed or some shards could
not be saved or were left pending for want of workers (the rest was saved), 130 interrupted by
Ctrl-C (what was saved stays saved).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
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


# Environment of local workers: one thread each (a worker is a core), and no
# MALLOC_TRIM_THRESHOLD_, which Dask sets by default: it switches off glibc's adaptive mmap
# threshold, so every multi-megabyte buffer is mapped, page-faulted and unmapped again, which
# costs ~7 ms of a 30 s MP3 track's ~44 (50 ms with it; featurize_shard timed in one process).
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
# A run with no worker connected says so after this long, then waits up to --worker-timeout.
NO_WORKER_NOTICE_S = 30.0
DEFAULT_WORKER_TIMEOUT_S = 300.0
# How often a run that is waiting on its shards asks the scheduler how many workers it has.
WORKER_POLL_S = 1.0


def dask_worker_environ() -> dict[str, str]:
    """Environment variables that make ``dask worker`` processes (with their nanny, the default)
    start their workers as featurize starts its local ones: :data:`WORKER_ENV`, and no
    ``MALLOC_TRIM_THRESHOLD_`` (a ``None`` in ``distributed.nanny.pre-spawn-environ`` unsets
    Dask's default; an empty dict would merge with it and keep it)."""
    spawn = {"MALLOC_TRIM_THRESHOLD_": None, **WORKER_ENV}
    return {"DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": repr(spawn)}


def _closing_quietly(logging_config: dict) -> dict[str, str]:
    """Environment that keeps a local worker quiet when its run stops it mid-task (Ctrl-C).

    Closing a worker cancels the task it runs, and Dask's worker state machine then logs
    "Async instruction ... ended with CancelledError", its only warning, which its own comment
    says happens exclusively in ``Worker.close()``. The worker reads ``DASK_LOGGING`` when it
    imports distributed, so the level is set for that logger only, beside the user's levels;
    a ``logging.config``-style configuration (with ``version``) is left as it is.
    """
    if "version" in logging_config:
        return {}
    quiet = {**logging_config, "distributed.worker.state_machine": "error"}
    return {"DASK_LOGGING": repr(quiet)}


@contextlib.contextmanager
def _client(workers: int, scheduler: str | None) -> Iterator:
    """A client of the cluster at ``scheduler``, or of a LocalCluster of ``workers``
    single-threaded processes that is shut down on exit (closing a client leaves a cluster
    it was handed running, with its worker processes).

    The local workers start deaf to Ctrl-C (:func:`~sonicsep.errors.deaf_to_ctrl_c`): the run
    stops them. On Ctrl-C, Dask's own shutdown notices (a worker busy with a shard is killed
    after a few seconds; the shard stays pending) are not logged: the run says what happened.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with _tornado_level_kept(), Client(scheduler) as client, _quiet_when_interrupted():
            yield client
        return
    spawn = {**WORKER_ENV, **_closing_quietly(dask.config.get("logging", {}))}
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": spawn}),
        deaf_to_ctrl_c(),
        _semaphore_leaks_unreported(),
    ):
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
    with _tornado_level_kept(), cluster, Client(cluster) as client, _quiet_when_interrupted():
        yield client


@contextlib.contextmanager
def _semaphore_leaks_unreported() -> Iterator[None]:
    """Start multiprocessing's resource tracker (if the cluster starts it) with its leak report
    off. A worker killed mid-shard on Ctrl-C (after Dask's close timeout) leaves its nanny's
    queue semaphores behind; the tracker cleans them up anyway and would print a UserWarning
    saying so after the run's own last line. The variable is set only while the cluster
    starts, which is when the tracker process is spawned and reads it."""
    leak_report = "ignore::UserWarning:multiprocessing.resource_tracker"
    previous = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, (previous, leak_report)))
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = previous


@contextlib.contextmanager
def _quiet_when_interrupted() -> Iterator[None]:
    """On KeyboardInterrupt, log only Dask's errors in this process from then on."""
    try:
        yield
    except KeyboardInterrupt:
        logging.getLogger("distributed").setLevel(logging.ERROR)
        raise


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


@dataclasses.dataclass
class WorkerWatch:
    """How long the cluster has had no worker, and what a run should say and do about it.

    Fed the worker count now and then (:meth:`observe`); a pure clock-driven state, so that the
    messages and the give-up time are tested without a cluster.
    """

    timeout: float
    notice_after: float = NO_WORKER_NOTICE_S
    since: float | None = None
    noticed: bool = False

    def observe(self, n_workers: int, now: float) -> str:
        """The line to print for this observation ("" for none)."""
        if n_workers:
            back = self.noticed
            self.since, self.noticed = None, False
            return f"{n_workers} workers connected; carrying on" if back else ""
        if self.since is None:
            self.since = now
        waited = now - self.since
        if self.expired(now):
            return f"no workers for {waited:.0f} s (--worker-timeout {self.timeout:g})"
        if not self.noticed and waited >= min(self.notice_after, self.timeout / 2):
            self.noticed = True
            return (f"no workers for {waited:.0f} s; waiting for workers to join, "
                    f"giving up after --worker-timeout {self.timeout:g} s")
        return ""

    def expired(self, now: float) -> bool:
        return self.since is not None and now - self.since >= self.timeout


def _finished(pending: dict, client, watch: WorkerWatch, say) -> Iterator[tuple]:
    """(shard, outcomes or the exception it raised) for each future of ``pending``
    (future -> shard) as it finishes, taken out of ``pending``, while the cluster keeps a worker.

    Results are gathered in the background (``as_completed(with_results=True)``): a result
    held on a worker that dies before it is read is computed again, and a blocking
    ``future.result()`` would wait for that without end when no worker is left. The futures
    leave ``pending``, so the scheduler forgets a result once read. While the cluster has no
    worker, ``watch`` says what to print through ``say``; when it expires, the futures left in
    ``pending`` are cancelled (so no task of this run starts later, beside a rerun) and the
    iteration ends. A worker that dies is not the end of its task: the scheduler runs the task
    again on another worker (up to its ``allowed-failures``).
    """
    from dask.distributed import as_completed

    finishing = as_completed(list(pending), with_results=True, raise_errors=False)
    next_check = 0.0
    while not finishing.is_empty():
        batch = finishing.next_batch(block=False)
        for future, result in batch:
            # An erred future's result is its (type, exception, traceback).
            yield pending.pop(future), (result[1] if future.status == "error" else result)
        now = time.monotonic()
        if batch or now < next_check:
            time.sleep(0 if batch else 0.1)  # as_completed's own wait polls every 0.1 s too
            continue
        next_check = now + WORKER_POLL_S
        line = watch.observe(len(client.nthreads()), now)
        if line:
            say(line)
        if watch.expired(now):
            client.cancel(list(pending))
            _gathers_fail_quietly()
            return


TORNADO_LOGGER = "tornado.application"


def _gathers_fail_quietly() -> None:
    """Stop tornado logging the background gathers that closing the client fails, until
    :func:`_client` has closed it (:func:`_tornado_level_kept` then restores the level).

    as_completed may be reading a result whose worker died with the cluster's last one; the
    gather then waits on the scheduler until the client closes, and fails inside tornado's
    loop, which logs "Exception in callback ... CommClosedError" with a traceback after the
    run's own summary. The run has already said what happened and keeps those shards pending.
    """
    logging.getLogger(TORNADO_LOGGER).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def _tornado_level_kept() -> Iterator[None]:
    """Tornado's application logger has its level back once the client inside has closed."""
    logger = logging.getLogger(TORNADO_LOGGER)
    level = logger.level
    try:
        yield
    finally:
        logger.setLevel(level)


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

        for shard, outcomes in _finished(pending, client, watch, say):
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
    if pending:  # _finished gave up on them
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
        with _client(args.workers, args.scheduler) as client:
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
