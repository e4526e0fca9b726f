"""``python -m sonicsep.benchmark --scheduler`` against real ``dask scheduler`` and ``dask
worker`` processes on loopback: the CLI as a subprocess, whose results equal a local run's, and
whose XGBoost refit trains one model across both workers with ``xgboost.dask``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from synthetic_store import make_synthetic_store

# The module-scoped loopback cluster (a scheduler and two single-threaded workers) of the
# featurize cluster tests, used as a fixture here too.
from test_featurize_cluster import STARTUP_S, cluster  # noqa: F401 - a pytest fixture

from sonicsep import benchmark, classical, classical_features

TUNING = ("method", "feature_set", "variant", "params", "grid", "tuned_on")
REFIT = ("val_accuracy", "test_segment_accuracy", "test_track_accuracy", "confusion")


def _comparable(report: dict) -> list[dict]:
    """Every result's tuning, and its refitted model's scores except XGBoost's: its refit
    trained across the workers (xgboost.dask), whose distributed histograms need not equal
    one process's."""
    return [{k: r[k] for k in TUNING + (REFIT if r["method"] != "xgboost" else ())}
            for r in report["results"]]


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
         "--scheduler", loopback.address, "--dask-xgboost-above", "0"],
        capture_output=True, text=True, timeout=STARTUP_S + 240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    local = json.loads((tmp_path / "local" / "results.json").read_text())
    remote = json.loads((tmp_path / "cluster" / "results.json").read_text())
    assert _comparable(remote) == _comparable(local)
    assert all(r["tuned_on"]["subsample"] for r in remote["results"])
    assert any("across 2 workers with xgboost.dask" in note for note in remote["notes"])
    remote_xgb = classical.load_classical_model(remote["models"]["xgboost"])
    local_xgb = classical.load_classical_model(local["models"]["xgboost"])
    assert remote_xgb.params == local_xgb.params
    X_test = classical_features.load_feature_set(
        benchmark.FeatureStore.open(str(url)), "echonest").part("test")[0]
    np.testing.assert_allclose(remote_xgb.predict_proba(X_test), local_xgb.predict_proba(X_test),
                               atol=1e-5)
    from dask.distributed import Client

    with Client(loopback.address) as client:  # the grid ran on this cluster's workers
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: {k: dict(p.state_counts)
                                    for k, p in dask_scheduler.task_prefixes.items()})
    assert {"score_group", "refit_task"} <= set(prefixes)
    # xgboost.dask's training runs as one task per worker, named "fn" (its wrapper of do_train)
    assert prefixes["fn"].get("memory", 0) >= 2, prefixes
