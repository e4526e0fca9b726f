"""Numba's on-disk cache stays sound when processes compile at once (numba/numba#4807).

Two processes compile different signatures of one cached function and are held inside Numba's
save, after each has read the cache index and before either writes it: the interleaving that
made both pick ``<function>.1.nbc`` and crashed later pytest-xdist workers with a segmentation
fault. With ``sonicsep.kernels`` imported, the saves take turns; a third process then loads
both signatures from the cache and gets right answers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

MODULE = """
from numba import njit

@njit(cache=True)
def double(x):
    return x * 2
"""

# argv: folder, dtype, lock (0/1). Each writer marks that it has read the index and waits
# (at most WAIT s) for the other to have read it too before it writes.
WRITER = """
import os, sys, time
folder, dtype, lock = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
sys.path.insert(0, folder)
if lock:
    import sonicsep.kernels  # noqa: F401  (installs the lock)
from numba.core import caching
import numpy as np

WAIT = 3.0
save_index = caching.IndexDataCacheFile._save_index

def held_save_index(self, overloads):
    open(os.path.join(folder, "read." + dtype), "w").close()
    other = "float64" if dtype == "float32" else "float32"
    deadline = time.monotonic() + WAIT
    while not os.path.exists(os.path.join(folder, "read." + other)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    save_index(self, overloads)

caching.IndexDataCacheFile._save_index = held_save_index
import racy
assert racy.double(np.arange(3, dtype=dtype)).tolist() == [0, 2, 4]
"""

READER = """
import sys
sys.path.insert(0, sys.argv[1])
import sonicsep.kernels  # noqa: F401
import numpy as np
import racy
for dtype in ("float32", "float64"):
    x = np.arange(5, dtype=dtype) + 0.5
    assert racy.double(x).dtype == x.dtype and racy.double(x).tolist() == (x * 2).tolist(), dtype
print(sorted(str(sig) for sig in racy.double.stats.cache_hits))
"""


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="the cache lock uses fcntl.flock")
def test_concurrent_compiles_of_two_signatures_leave_a_sound_cache(tmp_path):
    (tmp_path / "racy.py").write_text(MODULE)
    writers = [_python(WRITER, str(tmp_path), dtype, "1") for dtype in ("float32", "float64")]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    reader = _python(READER, str(tmp_path))
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, f"exit {reader.returncode}: {err}"
    # Both signatures were saved under their own data file and loaded back from it.
    assert "Array(float32" in out and "Array(float64" in out, out
    assert len(list(tmp_path.glob("__pycache__/racy.double-*.nbc"))) == 2
