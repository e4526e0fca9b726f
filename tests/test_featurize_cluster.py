"""``python -m sonicsep.featurize --scheduler`` against a real cluster: a ``dask scheduler`` and
``dask worker`` processes on loopback, started the way a user starts them, and SIGKILLed the way
a machine dies.

The cluster is module-scoped (its start is the slow part); a test that kills workers starts new
ones for the next. Every run featurizes the same corpus, and its store must equal, array by
array, the store of a ``--workers 1`` local run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_featurize import _assert_same_store, _store_arrays

from sonicsep import dask_cluster
from sonicsep.config import FeatureConfig
from sonicsep.dask_cluster import dask_worker_environ
from sonicsep.featurize import main
from sonicsep.store import FeatureStore

# Ten 2 s segments a track and eight tracks a shard: a shard takes long enough (~0.5 s) that
# a worker killed once the first shard is saved is killed in the middle of one.
CONFIG = FeatureConfig(segment_seconds=2.0, max_segments=10)
N_TRACKS = 64
N_WORKERS = 2
STARTUP_S = 90  # a process start on two busy cores, imports included
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"


class LoopbackCluster:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, each in its own process
    group so that a SIGKILL takes a worker's nanny and its worker process together."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
        self.env.update(dask_worker_environ())
        scheduler_file = folder / "scheduler.json"
        self.scheduler = self._start(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(scheduler_file),
        )
        deadline = time.monotonic() + STARTUP_S
        while not scheduler_file.exists():
            assert time.monotonic() < deadline and self.scheduler.poll() is None, self._log(
                "scheduler")
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written whole, but give the writer its close
        self.address = json.loads(scheduler_file.read_text())["address"]
        self.workers: list[subprocess.Popen] = []

    def _start(self, name: str, command: str, *args: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        return subprocess.Popen([DASK, command, *args], env=self.env, stdout=log, stderr=log,
                                start_new_session=True)

    def _log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-4000:]

    def n_connected(self) -> int:
        from dask.distributed import Client

        with Client(self.address, timeout=STARTUP_S) as client:
            return len(client.nthreads())

    def ensure_workers(self, n: int) -> None:
        """Start workers until ``n`` are alive, and wait until the scheduler has exactly ``n``."""
        self.workers = [w for w in self.workers if w.poll() is None]
        while len(self.workers) < n:
            self.workers.append(self._start(
                f"worker{len(self.workers)}", "worker", self.address, "--host", "127.0.0.1",
                "--nthreads", "1", "--no-dashboard",
            ))
        deadline = time.monotonic() + STARTUP_S
        while self.n_connected() != n:
            assert time.monotonic() < deadline, self._log("scheduler")
            time.sleep(0.2)

    def kill(self, worker: subprocess.Popen) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LoopbackCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.ensure_workers(N_WORKERS)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared_data) -> Path:
    """A GTZAN layout of links to three real clips (two WAVs, one MP3), in two genres."""
    sources = [shared_data / "gtzan/genres/blues/blues.00000.wav",
               shared_data / "gtzan/genres/jazz/jazz.00001.wav",
               shared_data / "fma/fma_small/000/000002.mp3"]
    root = tmp_path_factory.mktemp("corpus")
    for i in range(N_TRACKS):
        source = sources[i % len(sources)]
        genre = ("a", "b")[i % 2]
        folder = root / "genres" / genre
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{genre}.{i:05d}{source.suffix}").symlink_to(source)
    (root / "features.json").write_text(CONFIG.to_json())
    return root


def _args(corpus: Path, out: Path) -> list[str]:
    return ["--dataset", "gtzan", "--root", str(corpus), "--split", "random",
            "--config", str(corpus / "features.json"), "--out", str(out), "--no-progress"]


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference") / "local.zarr"
    assert main([*_args(corpus, out), "--workers", "1"]) == 0
    return _store_arrays(out)


def _featurize(cluster, corpus, out, *extra) -> subprocess.Popen:
    """``python -m sonicsep.featurize --scheduler`` as a user types it, in its own process."""
    cmd = [sys.executable, "-m", "sonicsep.featurize", *_args(corpus, out),
           "--scheduler", cluster.address, "--workers", str(N_WORKERS), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outcome(proc, timeout: float) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of a run; a run still going after ``timeout`` s is killed
    and fails the test with what it printed."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError(f"still running after {timeout} s:\n{stdout}\n{stderr}") from None
    return proc.returncode, stdout, stderr


def _wait_for_first_shard(proc, out) -> dict:
    """The store's counts once a shard is saved (the run is under way), or fail."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            counts = FeatureStore.open(str(out)).counts()
        except Exception:  # noqa: BLE001 - store not laid out yet
            counts = {"ok": 0}
        if counts["ok"]:
            return counts
        time.sleep(0.02)
    raise AssertionError(f"no shard saved (exit {proc.poll()}): {proc.communicate()}")


def test_python_m_featurize_on_a_loopback_cluster_equals_a_local_run(
    cluster, corpus, reference, tmp_path
):
    """The task functions pickle by reference to an importable module, not ``__main__``."""
    cluster.ensure_workers(N_WORKERS)
    out = tmp_path / "cluster.zarr"
    proc = _featurize(cluster, corpus, out)
    code, stdout, stderr = _outcome(proc, STARTUP_S + 60)
    assert code == 0, stdout + stderr
    assert f"{N_TRACKS} ok, 0 failed, 0 pending" in stdout
    _assert_same_store(reference, _store_arrays(out))
    from dask.distributed import Client

    with Client(cluster.address) as client:  # the work ran on this cluster's workers
        prefixes = client.run_on_scheduler(lambda dask_scheduler: set(dask_scheduler.task_prefixes))
        environs = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert "featurize_shard" in prefixes
    assert list(environs.values()) == [None] * N_WORKERS  # dask_worker_environ took effect


def test_a_killed_worker_s_shard_runs_again_on_the_other(cluster, corpus, reference, tmp_path):
    cluster.ensure_workers(N_WORKERS)
    out = tmp_path / "killed-worker.zarr"
    proc = _featurize(cluster, corpus, out)
    counts = _wait_for_first_shard(proc, out)
    cluster.kill(cluster.workers[0])
    code, stdout, stderr = _outcome(proc, STARTUP_S + 60)
    assert counts["pending"] > 2 * N_TRACKS // 8, counts  # the kill landed mid-run
    assert code == 0, stdout + stderr
    assert "not saved" not in stderr
    _assert_same_store(reference, _store_arrays(out))


def test_no_worker_left_stops_after_worker_timeout_and_a_rerun_completes(
    cluster, corpus, reference, tmp_path, capsys
):
    cluster.ensure_workers(N_WORKERS)
    out = tmp_path / "no-workers.zarr"
    proc = _featurize(cluster, corpus, out, "--worker-timeout", "5")
    counts = _wait_for_first_shard(proc, out)
    for worker in list(cluster.workers):
        cluster.kill(worker)
    killed_at = time.monotonic()
    code, stdout, stderr = _outcome(proc, 60)
    waited = time.monotonic() - killed_at
    assert counts["pending"] > 2 * N_TRACKS // 8, counts
    assert code == 3, stdout + stderr
    assert 5 <= waited < 5 + 20, waited
    assert re.search(r"no workers for \d s; waiting for workers to join, giving up after "
                     r"--worker-timeout 5 s", stderr), stderr
    pending = FeatureStore.open(str(out)).counts()["pending"]
    assert pending > 0
    assert (f"stopped: no workers connected to the scheduler for 5 s (--worker-timeout); "
            f"{pending} tracks are pending") in stdout
    assert "Traceback" not in stderr

    cluster.ensure_workers(N_WORKERS)  # in-process this time: the CLI seam was crossed above
    assert main([*_args(corpus, out), "--scheduler", cluster.address]) == 0
    assert f"{N_TRACKS - pending} were already done" in capsys.readouterr().out
    _assert_same_store(reference, _store_arrays(out))


def test_tornado_is_silenced_only_until_the_client_closes():
    # A run that gives up silences the gathers that closing its client fails; the rest of the
    # process (another run, the user's own code) gets tornado's errors logged again.
    logger = logging.getLogger(dask_cluster.TORNADO_LOGGER)
    logger.setLevel(logging.WARNING)
    try:
        with dask_cluster._tornado_level_kept():
            dask_cluster._gathers_fail_quietly()
            assert logger.level == logging.CRITICAL
        assert logger.level == logging.WARNING
    finally:
        logger.setLevel(logging.NOTSET)
