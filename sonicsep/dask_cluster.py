"""The Dask cluster of a featurize run: the local workers' environment, a client of a
``LocalCluster`` or of an existing scheduler, a shutdown that leaves only the run's own summary
on screen, and the shards' outcomes as they finish while workers come and go.

:mod:`sonicsep.featurize` submits the shards and reports; this module knows Dask's lifecycle
and logging, nothing of the store or the features.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterator

from sonicsep.errors import deaf_to_ctrl_c

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
def cluster_client(workers: int, scheduler: str | None) -> Iterator:
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


def finished(pending: dict, client, watch: WorkerWatch, say) -> Iterator[tuple]:
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
    :func:`cluster_client` has closed it (:func:`_tornado_level_kept` then restores the level).

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
