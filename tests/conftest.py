"""Shared fixtures: the real sample data, and small generated signals.

The real samples are read from ``$SONICSEP_SHARED_DATA`` (default: ``../shared/data`` beside
the repository, where the project's CI keeps them). Tests that need them skip with a stated
reason where they are absent (a user's clone).
In CI (.ci/run sets SONICSEP_REQUIRE_SHARED_DATA=1) its absence is an error instead, so the
real-data tests can never silently stop running.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Locks Numba's on-disk cache in every test process (sonicsep/kernels/_cache_lock.py).
import sonicsep.kernels  # noqa: F401

from sonicsep.nn import compile_cache

# JAX's compilation cache (sonicsep/nn/compile_cache.py), in a folder of its own shared by every
# test process and every command they start, keeping even quick compilations: the suite compiles
# the same tiny models dozens of times, in and out of process (a cached command trains its tiny
# CNN in 20 s instead of 54). Set before any test imports JAX, which reads these at import.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    str(Path(tempfile.gettempdir()) / f"sonicsep-tests-jax-cache-{os.getuid()}"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(compile_cache.MAX_BYTES))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SONICSEP_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


# The modules with the longest tests, longest first (clean-clone run of 2026-12-01). pytest-xdist
# deals the first quarter of the collected tests to its workers in turn, then one at a time to
# whichever is free: with these at the front their minutes overlap on the two workers instead of
# leaving one worker alone with an end-to-end test at the end of the run.
LONG_MODULES = (
    "test_benchmark_cluster.py", "test_scripts.py", "test_multihost.py", "test_cqt.py",
    "test_datasets_demo.py", "test_featurize.py", "test_benchmark_cli.py",
    "test_featurize_cluster.py", "test_input_pipeline.py", "test_contrast_kernel.py",
    "test_train.py", "test_readme.py", "test_serve.py", "test_report.py",
)


def pytest_collection_modifyitems(items):
    """Run :data:`LONG_MODULES` first, in that order; the rest and each module's own order stay."""
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_configure(config):
    """Fill librosa's Numba cache in the controller, alone, before pytest-xdist starts workers.

    librosa's ``@guvectorize`` kernels (zero_crossings, localmax/localmin, peak_pick, piptrack's
    interpolation, beat tracking) compile every signature when their module is imported and
    cache each in two files. Two processes compiling them at once can leave the two files
    with different ABI tags (numba/numba#10128, not fixed by the lock on the index), and every
    later process that loads them crashes: a clean clone's CI run lost three workers in
    ``librosa.zero_crossings`` that way. Imported here first, the workers only load them.
    """
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has done it
        return
    import librosa.beat
    import librosa.core.audio
    import librosa.core.pitch
    import librosa.util.utils  # noqa: F401


def _require_shared(relpath: str = "") -> Path:
    path = SHARED_DATA / relpath
    if path.exists():
        return path
    reason = (
        f"real sample data not found at {path}: set SONICSEP_SHARED_DATA to a folder holding "
        "gtzan/, fma/ and bad/ (see README, 'Tests')"
    )
    if os.environ.get("SONICSEP_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(reason + "; SONICSEP_REQUIRE_SHARED_DATA=1 demands it")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _require_shared()


@pytest.fixture(scope="session")
def gtzan_root() -> Path:
    return _require_shared("gtzan")


@pytest.fixture(scope="session")
def gtzan_wav() -> Path:
    return _require_shared("gtzan/genres/blues/blues.00000.wav")


@pytest.fixture(scope="session")
def fma_root() -> Path:
    return _require_shared("fma")


@pytest.fixture(scope="session")
def fma_mp3() -> Path:
    return _require_shared("fma/fma_small/000/000002.mp3")


@pytest.fixture(scope="session")
def bad_wav() -> Path:
    return _require_shared("bad/jazz.00054.wav")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
