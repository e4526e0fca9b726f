"""``python -m sonicsep.benchmark --scheduler`` against real ``dask scheduler`` and ``dask
worker`` processes on loopback: the CLI as a subprocess, whose results equal a local run's."""

from __future__ import annotations

import json
import subprocess
import sys

from synthetic_store import make_synthetic_store

# The module-scoped loopback cluster (a scheduler and two single-threaded workers) of the
# featurize cluster tests, used as a fixture here too.
from test_featurize_cluster import STARTUP_S, cluster  # noqa: F401 - a pytest fixture

from sonicsep import benchmark


def _comparable(report: dict) -> list[dict]:
    keep = ("method", "feature_set", "variant", "params", "grid", "val_accuracy",
            "test_segment_accuracy", "test_track_accuracy", "confusion", "tuned_on")
    return [{k: r[k] for k in keep} for r in report["results"]]


def test_python_m_benchmark_on_a_loopback_cluster_equals_a_local_run(request, tmp_path):
    loopback = request.getfixturevalue("cluster")
    url = tmp_path / "store.zarr"
    make_synthetic_store(url, n_summary=6)
    # The study's grids on the noisy Echonest set of a tiny store, tuned on a subsample of
    # whole tracks (about 10 of ~14 samples) and refitted on all of train, on both runs.
    args = ["--store", str(url), "--features", "echonest", "--tune-samples", "10"]
    assert benchmark.main([*args, "--out", str(tmp_path / "local"), "--jobs", "1"]) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "sonicsep.benchmark", *args, "--out", str(tmp_path / "cluster"),
         "--scheduler", loopback.address],
        capture_output=True, text=True, timeout=STARTUP_S + 240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    local = json.loads((tmp_path / "local" / "results.json").read_text())
    remote = json.loads((tmp_path / "cluster" / "results.json").read_text())
    assert _comparable(remote) == _comparable(local)
    assert all(r["tuned_on"]["subsample"] for r in remote["results"])
    from dask.distributed import Client

    with Client(loopback.address) as client:  # the grid ran on this cluster's workers
        prefixes = client.run_on_scheduler(lambda dask_scheduler: set(dask_scheduler.task_prefixes))
    assert {"score_group", "refit_task"} <= prefixes
