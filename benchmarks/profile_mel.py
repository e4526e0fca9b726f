"""Where a mel spectrogram, MFCC and STFT spend their time: thread CPU time, stage by stage.

One process, one thread (pinned before any import), the 30 s clip of ``bench_kernels.py``.
Every call below takes its turn in each of ``--rounds`` rounds, so that load from other work
on the machine hits them alike; the best and the median thread CPU time of each are printed
(``time.thread_time``: time this thread ran, not time it waited for a core, so figures on a
loaded machine stay comparable; cache pollution by other processes still inflates them).

- the stages of ``melspectrogram(y=clip)``: validation and window, frames + FFT of every
  block (the shipped float32 FFTW plan), magnitudes + mel product of every block in cache
  (``kernels.fft.banded_magnitude_rows``), and the whole call;
- the stages ``mfcc`` adds: decibels in place, the DCT (``_cepstra``), and the whole call;
- librosa's ``melspectrogram`` and ``mfcc``, and the ratios;
- ``stft`` against the best float32 FFT of the clip's frames windowed in memory (FFTW
  MEASURE and scipy.fft, as in the floor table of ``bench_kernels.py``); its frames + FFT
  writing the whole complex spectrum (``kernels.fft.stft_frames``); and the block FFT alone
  with the shipped plan and with FFTW's own float32 estimator (its plan made with the
  wisdom forgotten: with the wisdom held, FFTW_ESTIMATE returns the shipped plan).

    .venv/bin/python benchmarks/profile_mel.py --rounds 30
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import pyfftw  # noqa: E402
from bench_kernels import (  # noqa: E402  (beside this)
    HOP,
    N_FFT,
    SR,
    fft_floors,
    load_clip,
    timed_together,
)
from sonicsep.kernels import fft as fft_kernels  # noqa: E402
from sonicsep.kernels import framing  # noqa: E402

from sonicsep import features  # noqa: E402
from sonicsep.features import filters, spectral, spectrum  # noqa: E402


def block_calls(y: np.ndarray) -> dict:
    """The mel spectrogram's block loop split in two: frames + FFT, and the product."""
    signals = y[np.newaxis]
    window = spectrum._fft_window("hann", N_FFT, None).astype(np.float32)
    bands = filters._mel_bands(
        *filters._check_mel_args(SR, N_FFT, 128, 0.0, None, False, "slaney", np.float32)
    )
    frames = framing.n_frames(y.size, N_FFT, HOP, True)
    rows = fft_kernels.block_rows(N_FFT, np.float32)
    shipped = fft_kernels.rfft_plan(N_FFT, rows, np.float32)
    pyfftw.forget_wisdom()
    inp = pyfftw.empty_aligned(shipped.input.shape, dtype=np.float32, n=64)
    inp[:] = shipped.input
    out = pyfftw.empty_aligned(shipped.output.shape, dtype=np.complex64, n=64)
    estimator = pyfftw.FFTW(inp, out, axes=(-1,), flags=("FFTW_ESTIMATE",), threads=1)
    assert fft_kernels.load_wisdom()
    mel = np.empty((1, 128, frames), np.float32)

    def frames_fft():
        for row0 in range(0, frames, rows):
            framing.fill_windowed_frames(
                signals, window, HOP, N_FFT // 2, 0, frames, row0, shipped.input
            )
            shipped.execute()

    def fft(plan):
        def run():
            for _ in range(0, frames, rows):
                plan.execute()

        return run

    def product():
        for row0 in range(0, frames, rows):
            fft_kernels.banded_magnitude_rows(shipped.output, 2.0, *bands, row0, mel)

    return {
        "mel: validation + window": lambda: spectrum._framed_input(
            y, N_FFT, HOP, None, "hann", True, "constant"
        ),
        "mel: frames + FFT, all blocks": frames_fft,
        "mel: |X|^2 + mel product, all blocks": product,
        "stft: frames + FFT into the stored spectrum": lambda: fft_kernels.stft_frames(
            signals, window, HOP, True, "constant"
        ),
        "block FFT alone, shipped float32 plan": fft(shipped.fftw),
        "block FFT alone, FFTW float32 estimator": fft(estimator),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="turns of every call")
    args = parser.parse_args()
    y, source = load_clip()
    print(f"clip: {source}, {y.size / SR:.1f} s at {SR} Hz; one thread, thread CPU time")
    print(f"load average before: {os.getloadavg()}")
    mel = features.melspectrogram(y=y, sr=SR)
    mel_db = features.power_to_db(mel)
    basis = spectral._cepstrum_basis(20, 128, 2, "ortho", 0.0)
    work = np.empty_like(mel)

    def db_in_place():
        work[...] = mel  # the copy is timed too: ~0.05 ms
        spectrum._power_to_db(work, 1.0, 1e-10, 80.0, out=work)

    calls = {
        **block_calls(y),
        "sonicsep melspectrogram": lambda: features.melspectrogram(y=y, sr=SR),
        "mfcc: dB in place": db_in_place,
        "mfcc: DCT (20 x 128 basis)": lambda: spectral._cepstra(basis, mel_db),
        "sonicsep mfcc": lambda: features.mfcc(y=y, sr=SR),
        "librosa melspectrogram": lambda: librosa.feature.melspectrogram(y=y, sr=SR),
        "librosa mfcc": lambda: librosa.feature.mfcc(y=y, sr=SR),
        "sonicsep stft": lambda: features.stft(y, n_fft=N_FFT, hop_length=HOP),
        **{
            f"floor: {name}": fn
            for name, fn in fft_floors(y).items()
            if name in ("FFTW f32 MEASURE", "scipy.fft f32 workers=1")
        },
    }
    timings = timed_together(calls, args.rounds, clock=time.thread_time)
    best = {name: t["best_ms"] for name, t in timings.items()}
    median = {name: t["median_ms"] for name, t in timings.items()}
    print(f"load average after: {os.getloadavg()}\n")
    print(f"{'call':<42}{'best ms':>9}{'median ms':>11}")
    for name in calls:
        print(f"{name:<42}{best[name]:>9.2f}{median[name]:>11.2f}")
    floor = min(value for name, value in best.items() if name.startswith("floor: "))
    floor_median = min(value for name, value in median.items() if name.startswith("floor: "))
    print()
    for ours, theirs in (("melspectrogram", "melspectrogram"), ("mfcc", "mfcc")):
        print(
            f"{ours}: {best[f'librosa {theirs}'] / best[f'sonicsep {ours}']:.2f}x faster than "
            f"librosa (medians {median[f'librosa {theirs}'] / median[f'sonicsep {ours}']:.2f}x)"
        )
    print(
        f"stft: {best['sonicsep stft'] / floor:.2f}x the best float32 floor "
        f"(medians {median['sonicsep stft'] / floor_median:.2f}x)"
    )
    shipped = best["block FFT alone, shipped float32 plan"]
    estimator = best["block FFT alone, FFTW float32 estimator"]
    print(f"block FFT: FFTW's float32 estimator {estimator / shipped:.2f}x the shipped plan")


if __name__ == "__main__":
    main()
