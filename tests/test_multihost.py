"""Many hosts, tested the way a cluster runs it: two ``python -m sonicsep.train`` processes.

The two processes meet on loopback (``jax.distributed`` with JAX's Gloo CPU collectives), one
CPU device each, so the ``data`` mesh spans two processes and each process reads only its half
of every global batch. Their run must end where one process with the same global batch ends
(within float tolerance: only the order of the gradient and batch-norm sums differs). One
process is killed with a real SIGKILL after the first checkpoint; both are rerun with the same
command and resume from the last checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from sonicsep.nn import distributed
from sonicsep.nn.cache import DEVICE_KEYS, Batches
from sonicsep.nn.checkpoints import checkpoint_manager, restore_checkpoint
from sonicsep.nn.config import default_config, with_overrides
from sonicsep.nn.input_pipeline import compute_norm_stats
from sonicsep.nn.train import _variables, data_mesh, train_and_evaluate, training_pipeline
from tests.synthetic_store import make_synthetic_store

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "epochs": 4,
    "batch_size": 8,
    "shuffle_buffer": 16,
    "learning_rate": 1e-2,
    "cache": "none",
    "model": {"cnn_features": [4, 4], "cnn_kernels": [3, 2], "cnn_dense": 16},
}
CONFIG = with_overrides(default_config("cnn"), TINY)
# One process or two: the same data, keys and global batches, sums in another order.
RTOL, ATOL = 1e-3, 1e-5


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_synthetic_store(tmp_path_factory.mktemp("multihost") / "store.zarr")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(store, workdir: Path, config_file: Path, logs: Path, *extra) -> list[subprocess.Popen]:
    """Two processes of one run, as ``srun`` would start them (here with flags and env)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update({"JAX_PLATFORMS": "cpu", "JAX_NUM_PROCESSES": "2"})
    processes = []
    for rank in range(2):
        argv = [
            sys.executable, "-m", "sonicsep.train", "--store", store.url,
            "--workdir", str(workdir), "--model", "cnn", "--config", str(config_file),
            "--coordinator-address", f"127.0.0.1:{port}", *extra,
        ]
        # Process 0 gets its id from a flag, process 1 from the environment.
        argv += ["--process-id", "0"] if rank == 0 else []
        out = open(logs / f"rank{rank}.log", "w")  # noqa: SIM115 (closed with the process)
        processes.append(
            subprocess.Popen(
                argv, cwd=REPO, env={**env, "JAX_PROCESS_ID": str(rank)}, stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    return processes


def wait_all(processes, timeout=240) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            raise
    return codes


def test_options_come_from_flags_then_environment():
    env = {"JAX_COORDINATOR_ADDRESS": "h:1234", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"}
    assert distributed.DistributedOptions.from_env(environ=env) == (
        distributed.DistributedOptions("h:1234", 4, 3)
    )
    flags = distributed.DistributedOptions.from_env("x:1", 2, 1, environ=env)
    assert flags == distributed.DistributedOptions("x:1", 2, 1)
    # A Kubernetes Indexed Job names the pod's index; SLURM's variables are JAX's to read.
    k8s = distributed.DistributedOptions.from_env(environ={"JOB_COMPLETION_INDEX": "2"})
    assert k8s == distributed.DistributedOptions(None, None, 2)
    with pytest.raises(Exception, match="process_id=4"):
        distributed.DistributedOptions.from_env(environ=env, process_id=4)


@pytest.mark.parametrize("mode", ["none", "host"])
def test_the_shares_of_a_batch_make_up_the_global_batch(store, mode):
    # Rows 0-4 for one process, 5-7 for the other: the last validation batch (2 real
    # segments of 18) leaves the second share nothing but padding.
    stats = compute_norm_stats(store, CONFIG.feature)
    mesh = data_mesh()

    def batches(share):
        pipeline = training_pipeline(store, CONFIG, stats, share=share)
        return Batches(pipeline, mode, mesh, CONFIG.dtype)

    whole, first, second = batches(None), batches((0, 5)), batches((5, 8))
    assert len(store.segment_index("val")[0]) % CONFIG.batch_size == 2
    for split, shuffle in (("train", True), ("val", False)):
        parts = [list(b.epoch(split, 3, shuffle=shuffle)) for b in (whole, first, second)]
        assert len(parts[0]) == len(parts[1]) == len(parts[2]) == whole.pipeline.steps(split)
        for batch, a, b in zip(*jax.device_get(parts), strict=True):
            assert len(a["weight"]) == 5 and len(b["weight"]) == 3
            for key in DEVICE_KEYS:
                np.testing.assert_array_equal(np.concatenate([a[key], b[key]]), batch[key])
    assert not parts[2][-1]["weight"].any()


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume_after_a_kill(store, tmp_path):
    reference_dir, workdir, logs = tmp_path / "one", tmp_path / "two", tmp_path / "logs"
    logs.mkdir()
    config_file = tmp_path / "tiny.json"
    config_file.write_text(json.dumps(TINY))
    processes = launch(store, workdir, config_file, logs)

    # Kill process 1 with a real signal once the first checkpoint is committed; a launcher
    # (srun, a Kubernetes Job) then stops the rest of the job, here process 0.
    first = workdir / "checkpoints" / "1"
    while not first.is_dir() and processes[1].poll() is None:
        time.sleep(0.02)
    processes[1].send_signal(signal.SIGKILL)
    assert processes[1].wait(30) == -signal.SIGKILL, (logs / "rank1.log").read_text()[-3000:]
    processes[0].send_signal(signal.SIGKILL)
    processes[0].wait(30)
    killed_at = checkpoint_manager(workdir).latest_step()
    assert killed_at is not None and killed_at < CONFIG.epochs
    assert not (workdir / "metrics.json").exists()

    # The same command again: both resume from the last checkpoint and finish. The cache mode
    # may change on resuming: here the splits are sharded over the two processes' devices.
    processes = launch(store, workdir, config_file, logs, "--cache", "device")
    reference = train_and_evaluate(CONFIG, reference_dir, store.url)  # meanwhile, one process
    codes = wait_all(processes)
    out = [(logs / f"rank{rank}.log").read_text() for rank in range(2)]
    assert codes == [0, 0], out[0][-3000:] + out[1][-3000:]
    trained = [int(line.split()[1]) for line in out[0].splitlines() if line.startswith("epoch")]
    assert trained == list(range(killed_at + 1, CONFIG.epochs + 1))
    assert "epoch" not in out[1]  # only process 0 prints and writes reports

    two = json.loads((workdir / "metrics.json").read_text())
    one = json.loads((reference_dir / "metrics.json").read_text())
    assert two["devices"] == 2 and two["input_cache"] == "device"
    assert two["test"]["n_segments"] == one["test"]["n_segments"]
    state, best, progress = restore_checkpoint(
        checkpoint_manager(workdir), reference, _variables(reference)
    )
    assert progress.epoch == CONFIG.epochs and int(state.step) == int(reference.step)
    for a, b in ((state.params, reference.params), (state.batch_stats, reference.batch_stats)):
        jax.tree.map(
            lambda x, y: np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL),
            jax.device_get(a),
            jax.device_get(b),
        )
    np.testing.assert_allclose(
        [r["train_loss"] for r in two["history"]],
        [r["train_loss"] for r in one["history"]],
        rtol=RTOL,
    )
