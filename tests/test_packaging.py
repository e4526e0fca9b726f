"""kernels/ ships as sonicsep.kernels, and GTZAN's split files as package data: in the editable
install and in a built wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_editable_install_maps_kernels_folder():
    import sonicsep.kernels
    import sonicsep.kernels.fft

    assert Path(sonicsep.kernels.__file__).parent == REPO / "kernels"
    assert callable(sonicsep.kernels.fft.rfft_rows)


@pytest.mark.slow
def test_wheel_contains_and_imports_sonicsep_kernels(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("sonicsep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"sonicsep/kernels/__init__.py", "sonicsep/kernels/fft.py",
            "sonicsep/features/__init__.py", "sonicsep/nn/train.py"} <= names
    assert {f"sonicsep/datasets/gtzan_splits/{stem}_{variant}.txt"
            for stem in ("train", "valid", "test")
            for variant in ("filtered", "stratified")} <= names
    assert not any(n.startswith("kernels/") for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Import from the unpacked wheel only (not the source tree) and compute a feature.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import numpy as np, sonicsep, sonicsep.kernels, sonicsep.features as f;"
        "assert sonicsep.kernels.__file__.startswith(sys.argv[1]), sonicsep.kernels.__file__;"
        "print(f.mfcc(y=np.sin(np.arange(4096) / 9.0), sr=22050).shape);"
        "from sonicsep.datasets.gtzan import packaged_split_dir, read_split_files;"
        "assert str(packaged_split_dir()).startswith(sys.argv[1]), packaged_split_dir();"
        "print(len(read_split_files(packaged_split_dir(), 'filtered')))"
    )
    run = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["(20,", "9)", "930"]
