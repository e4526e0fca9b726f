"""Ctrl-C in every command line but featurize (tested with its Dask run): one line, exit 130.

The in-process check covers each ``main``; the subprocess one sends SIGINT to a benchmark's
whole process group, as a terminal does, while its joblib workers are running.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys

import pytest
from synthetic_store import make_synthetic_store

from sonicsep.errors import EXIT_INTERRUPTED

# module of ``python -m``, where its main and parser live, the parser builder, what is kept
CLIS = [
    ("train", "sonicsep.nn.cli", "train_main", "build_train_parser", "the last checkpoint"),
    ("transfer", "sonicsep.nn.cli", "transfer_main", "build_transfer_parser",
     "the last checkpoint"),
    ("benchmark", "sonicsep.benchmark", "main", "build_parser", "the figures drawn so far"),
    ("similar", "sonicsep.similar", "main", "build_parser", "the store is unchanged"),
    ("predict", "sonicsep.predict", "main", "build_parser", "predict writes no file"),
    ("report", "sonicsep.report", "main", "build_parser", "index.html is replaced only"),
    ("serve", "sonicsep.serve", "main", "build_parser", "the server is stopped"),
]


@pytest.mark.parametrize(("name", "module", "main", "parser", "kept"), CLIS,
                         ids=[c[0] for c in CLIS])
def test_ctrl_c_in_main_is_one_line_and_exit_130(name, module, main, parser, kept, monkeypatch,
                                                  capsys):
    mod = importlib.import_module(module)

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(mod, parser, interrupted)
    assert getattr(mod, main)([]) == EXIT_INTERRUPTED
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"interrupted; {kept}") and err.count("\n") == 1


def test_ctrl_c_to_a_benchmark_and_its_workers(tmp_path):
    store = make_synthetic_store(tmp_path / "s.zarr")
    run = subprocess.Popen(
        [sys.executable, "-m", "sonicsep.benchmark", "--store", store.url, "--out",
         str(tmp_path / "out"), "--features", "echonest", "--methods", "svm", "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    log = [run.stderr.readline() for _ in range(2)]  # loading ..., then the grid search
    assert "svm on echonest" in log[1], log
    # Past the instant joblib starts its workers (SIGINT is ignored while it does).
    try:
        run.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = run.communicate(timeout=60)
    assert run.returncode == EXIT_INTERRUPTED, "".join(log) + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.splitlines()[-1].startswith("interrupted; the figures drawn so far are kept")
    assert not (tmp_path / "out" / "results.json").exists()
