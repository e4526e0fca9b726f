"""Choose the float32 FFTW plans SonicSep ships, and write them to kernels/fft_wisdom.py.

FFTW's measuring planners (MEASURE, PATIENT) pick an algorithm by timing candidates, so two
processes may pick different plans and compute different bits. SonicSep therefore never
measures at run time: it loads the wisdom this script wrote (``kernels/fft_wisdom.py``) and
plans float32 FFTs from it alone (``FFTW_WISDOM_ONLY``), falling back to the estimator,
which involves no timing, for sizes the wisdom lacks or a machine it does not fit.

For each shipped ``n_fft`` (the frame blocks ``kernels.fft.block_rows`` gives float32), each
candidate plan is made by MEASURE or PATIENT in a fresh process; every distinct candidate is
then timed, in a fresh process with only that wisdom loaded, over the frames of a 30 s clip
(best of ``--repeats`` passes, the candidates taking turns ``--rounds`` times so that load on
the machine hits them alike), and the fastest is kept. Run it on an idle machine:

    .venv/bin/python benchmarks/fftw_wisdom.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from sonicsep.kernels import fft_wisdom
from sonicsep.kernels.fft import block_rows

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "kernels" / "fft_wisdom.py"
N_FFTS = (256, 512, 1024, 2048, 4096)
PLANNERS = ("FFTW_MEASURE",) * 4 + ("FFTW_PATIENT",) * 2
FRAMES = 1293  # a 30 s clip at 22,050 Hz, hop 512
NOQA = "# ruff: noqa: E501  (wisdom lines are FFTW's own)"

# Run in a child: make a plan (argv: "plan", flag, n, rows) and print its float32 wisdom, or
# time one (argv: "time", wisdom file, n, rows, repeats) and print the best ms per FRAMES rows.
CHILD = f"""
import sys, time
import numpy as np, pyfftw
mode, arg, n, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
inp = pyfftw.empty_aligned((rows, n), dtype=np.float32, n=64)
inp[:] = 0
out = pyfftw.empty_aligned((rows, n // 2 + 1), dtype=np.complex64, n=64)
if mode == "plan":
    pyfftw.FFTW(inp, out, axes=(-1,), flags=(arg,), threads=1)
    sys.stdout.write(pyfftw.export_wisdom()[1].decode())
    raise SystemExit
assert pyfftw.import_wisdom((b"", open(arg, "rb").read(), b""))[1]
plan = pyfftw.FFTW(inp, out, axes=(-1,), flags=("FFTW_MEASURE", "FFTW_WISDOM_ONLY"), threads=1)
inp[:] = np.random.default_rng(0).standard_normal(inp.shape)
blocks = -(-{FRAMES} // rows)
best = float("inf")
for _ in range(int(sys.argv[5])):
    start = time.perf_counter()
    for _ in range(blocks):
        plan.execute()
    best = min(best, time.perf_counter() - start)
print(1e3 * best)
"""


def child(*args) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed passes per process")
    parser.add_argument("--rounds", type=int, default=3, help="turns each candidate gets")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/sonicsep-fftw-wisdom"))
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    chosen = {}
    for n in N_FFTS:
        rows = block_rows(n, np.float32)
        candidates = sorted({child("plan", flag, n, rows) for flag in PLANNERS})
        files = []
        for i, wisdom in enumerate(candidates):
            files.append(args.scratch / f"n{n}_{i}.txt")
            files[-1].write_text(wisdom)
        times = [float("inf")] * len(files)
        for _ in range(args.rounds):
            for i, path in enumerate(files):
                times[i] = min(times[i], float(child("time", path, n, rows, args.repeats)))
        best = int(np.argmin(times))
        print(f"n_fft {n}, {rows} rows: " + ", ".join(f"{t:.2f}" for t in times) + " ms")
        chosen[n] = candidates[best]
    body = "\n".join(
        f"    {n}: (\n{textwrap.indent(repr_lines(w), ' ' * 8)}\n    )," for n, w in chosen.items()
    )
    # The module's docstring (what the wisdom is and where it came from) is kept as it is.
    header = f'{NOQA}\n"""{fft_wisdom.__doc__}"""\n\n'
    TARGET.write_text(header + "WISDOM = {\n" + body + "\n}\n")
    print(f"wrote {TARGET.relative_to(ROOT)}")


def repr_lines(wisdom: str) -> str:
    return "\n".join(repr(line + "\n") for line in wisdom.rstrip("\n").split("\n"))




if __name__ == "__main__":
    main()
