"""Batched real FFTs of frames through cached pyFFTW plans, and the STFT built on them.

Frames are windowed and transformed a block of rows at a time: the block's input (a few hundred
KiB) stays in cache between the Numba fill, the FFTW execute and, for magnitude spectra, the
reduction to magnitudes. That keeps a full STFT close to a bare FFT of frames already windowed
in memory: ``benchmarks/bench_kernels.py`` measured ``sonicsep.features.stft`` of a 30 s float32
clip (n_fft 2048, hop 512) at 1.16x that floor, 3.11 ms against 2.69 ms, best of 20 on the
2-core development VM (README, Performance). FFTW plans (with their input buffer) are
created once per ``(n_fft, block rows, dtype)`` and per thread, since a plan's input buffer
must never be shared by two threads; single-threaded, so that parallelism is left to the caller
(one Dask task per core).

Float64 plans, which feed every feature, are chosen by FFTW's estimator: a measured plan
depends on timings, so two processes could pick different algorithms and store features that
differ in the last bit; estimated plans are the same everywhere, and at the usual n_fft = 2048
as fast. Float32 plans serve only ``stft`` of float32 audio, where measuring is worth 1.5x.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyfftw
from numba import njit

from . import memory
from .framing import PAD_MODES, fill_windowed_frames, n_frames

# Input bytes per FFT block: small enough to stay in L2 between fill and FFT.
_BLOCK_BYTES = 1 << 18
# Rows per block are a multiple of this, so every block of an aligned output stays aligned.
_ROW_QUANTUM = 8
_local = threading.local()


def complex_dtype(real_dtype) -> np.dtype:
    """complex64 for float32, complex128 for float64."""
    return np.result_type(real_dtype, np.complex64)


def block_rows(n_fft: int, dtype) -> int:
    """Rows per FFT block for frames of ``n_fft`` samples of ``dtype``."""
    rows = _BLOCK_BYTES // (n_fft * np.dtype(dtype).itemsize)
    return int(min(512, max(_ROW_QUANTUM, rows // _ROW_QUANTUM * _ROW_QUANTUM)))


@dataclass(frozen=True)
class RfftPlan:
    """An FFTW plan with the input and output buffers it was planned on."""

    fftw: pyfftw.FFTW
    input: np.ndarray
    output: np.ndarray

    def execute_into(self, out: np.ndarray) -> None:
        """Transform ``self.input`` into ``out`` (aligned, same shape as ``self.output``)."""
        self.fftw.update_arrays(self.input, out)
        self.fftw.execute()

    def release(self) -> None:
        """Point the plan back at its own output, so it holds no reference to a caller's."""
        self.fftw.update_arrays(self.input, self.output)


def rfft_plan(n_fft: int, n_rows: int, dtype) -> RfftPlan:
    """An FFTW plan for the real FFT of ``n_rows`` frames of ``n_fft`` samples.

    Cached per thread by ``(n_fft, n_rows, dtype)``; the caller fills ``plan.input`` and
    passes an output per call.
    """
    dtype = np.dtype(dtype)
    cache = getattr(_local, "plans", None)
    if cache is None:
        cache = _local.plans = {}
    key = (n_fft, n_rows, dtype.str)
    plan = cache.get(key)
    if plan is None:
        inp = pyfftw.empty_aligned((n_rows, n_fft), dtype=dtype, n=memory.ALIGNMENT)
        inp[:] = 0
        out = pyfftw.empty_aligned(
            (n_rows, n_fft // 2 + 1), dtype=complex_dtype(dtype), n=memory.ALIGNMENT
        )
        planner = "FFTW_ESTIMATE" if dtype == np.float64 else "FFTW_MEASURE"
        fftw = pyfftw.FFTW(inp, out, axes=(-1,), flags=(planner,), threads=1)
        plan = cache[key] = RfftPlan(fftw, inp, out)
    return plan


def rfft_rows(frames: np.ndarray) -> np.ndarray:
    """Real FFT of each row of ``frames`` (already windowed), a cached plan's block at a time.

    Parameters
    ----------
    frames : np.ndarray [shape=(n_rows, n_fft), dtype=float32 or float64]

    Returns
    -------
    np.ndarray [shape=(n_rows, n_fft // 2 + 1), dtype=complex64 or complex128]
    """
    n_rows, n_fft = frames.shape
    plan = rfft_plan(n_fft, block_rows(n_fft, frames.dtype), frames.dtype)
    rows = plan.input.shape[0]
    out = memory.empty((-(-n_rows // rows) * rows, n_fft // 2 + 1), complex_dtype(frames.dtype))
    for row0 in range(0, n_rows, rows):
        block = frames[row0 : row0 + rows]
        plan.input[: block.shape[0]] = block
        plan.input[block.shape[0] :] = 0
        plan.execute_into(out[row0 : row0 + rows])
    plan.release()
    return out[:n_rows]


def _run_blocks(signals, window, hop_length, center, pad_mode, fft_dtype, consume) -> int:
    """Window and FFT all frames of ``signals`` a block at a time; returns the frame count.

    After each block's frames are written into the plan's input, ``consume(plan, row0)``
    must transform them (``plan.execute_into``) and keep what it needs.
    """
    n_signals, n = signals.shape
    n_fft = window.shape[0]
    frames_per_signal = n_frames(n, n_fft, hop_length, center)
    plan = rfft_plan(n_fft, block_rows(n_fft, fft_dtype), fft_dtype)
    window = window.astype(fft_dtype, copy=False)
    offset = n_fft // 2 if center else 0
    mode = PAD_MODES[pad_mode]
    for row0 in range(0, n_signals * frames_per_signal, plan.input.shape[0]):
        fill_windowed_frames(
            signals, window, hop_length, offset, mode, frames_per_signal, row0, plan.input
        )
        consume(plan, row0)
    plan.release()
    return frames_per_signal


def _padded_rows(n_signals, n, window, hop_length, center, fft_dtype) -> tuple[int, int]:
    """Frames in all, and that rounded up to whole FFT blocks (the output's allocated rows)."""
    n_fft = window.shape[0]
    total = n_signals * n_frames(n, n_fft, hop_length, center)
    rows = block_rows(n_fft, fft_dtype)
    return total, -(-total // rows) * rows


def stft_frames(
    signals: np.ndarray,
    window: np.ndarray,
    hop_length: int,
    center: bool,
    pad_mode: str,
) -> np.ndarray:
    """Short-time Fourier transform of a batch of equal-length signals, frames-major.

    The FFT runs in the signals' precision and writes straight into the result.

    Parameters
    ----------
    signals : np.ndarray [shape=(n_signals, n), dtype=float32 or float64]
    window : np.ndarray [shape=(n_fft,)]
        The analysis window, already centred in ``n_fft`` samples.
    hop_length : int > 0
    center : bool
        Pad ``n_fft // 2`` samples at both ends (``pad_mode``) so frame ``t`` is centred on
        sample ``t * hop_length``.
    pad_mode : {'constant', 'reflect', 'edge'}

    Returns
    -------
    np.ndarray [shape=(n_signals, n_frames, n_fft // 2 + 1), dtype=complex]
        ``X[s, t, k] = sum_n signals[s, t * hop + n - pad] * window[n] * exp(-2j pi k n / n_fft)``.
        Its ``swapaxes(-1, -2)`` is librosa's (Fortran-ordered) ``(.., 1 + n_fft // 2, t)``.
    """
    n_signals, n = signals.shape
    n_bins = window.shape[0] // 2 + 1
    total, padded = _padded_rows(n_signals, n, window, hop_length, center, signals.dtype)
    out = memory.empty((padded, n_bins), complex_dtype(signals.dtype))

    def consume(plan, row0):
        plan.execute_into(out[row0 : row0 + plan.output.shape[0]])

    frames = _run_blocks(signals, window, hop_length, center, pad_mode, signals.dtype, consume)
    return out[:total].reshape(n_signals, frames, n_bins)


def stft_magnitude(
    signals: np.ndarray,
    window: np.ndarray,
    hop_length: int,
    center: bool,
    pad_mode: str,
    exponent: float = 1.0,
) -> np.ndarray:
    """``|STFT| ** exponent`` of a batch of signals, frames-major, in the signals' dtype.

    The FFT runs in float64 whatever the input, as librosa's does (its float32 window product
    promotes to float64), and each block is reduced to magnitudes while still in cache, so
    the complex spectrum is never stored. Float32 magnitudes are then the float64 ones rounded
    (to within an ulp): quiet bins keep their relative precision, which spectral flatness,
    the valleys of spectral contrast and the roll-off threshold depend on (with a float32
    FFT about 1 frame in 10,000 of real music gets a different roll-off bin than librosa).

    Parameters
    ----------
    signals, window, hop_length, center, pad_mode
        As :func:`stft_frames`.
    exponent : float > 0
        1 for magnitudes, 2 for power.

    Returns
    -------
    np.ndarray [shape=(n_signals, n_frames, n_fft // 2 + 1), dtype=signals.dtype]
    """
    n_signals, n = signals.shape
    n_bins = window.shape[0] // 2 + 1
    total, padded = _padded_rows(n_signals, n, window, hop_length, center, np.float64)
    out = memory.empty((padded, n_bins), signals.dtype)

    def consume(plan, row0):
        plan.execute_into(plan.output)
        magnitude_rows(plan.output, exponent, out[row0 : row0 + plan.output.shape[0]])

    frames = _run_blocks(signals, window, hop_length, center, pad_mode, np.float64, consume)
    return out[:total].reshape(n_signals, frames, n_bins)


@njit(cache=True, nogil=True)
def magnitude_rows(spec, exponent, out):
    """``out = |spec| ** exponent`` for complex rows, from ``re^2 + im^2`` in float64.

    The square root is taken in ``out``'s dtype: a float32 root of the rounded energy is
    within an ulp of the rounded float64 root, and three times faster.

    Parameters
    ----------
    spec : np.ndarray [shape=(rows, k), complex]
    exponent : float > 0
    out : np.ndarray [shape=(rows, k), real]
    """
    for r in range(spec.shape[0]):
        if exponent == 1.0:
            for k in range(spec.shape[1]):
                out[r, k] = np.sqrt(out.dtype.type(_energy(spec[r, k])))
        elif exponent == 2.0:
            for k in range(spec.shape[1]):
                out[r, k] = _energy(spec[r, k])
        else:
            for k in range(spec.shape[1]):
                out[r, k] = _energy(spec[r, k]) ** (0.5 * exponent)


@njit(cache=True, nogil=True, inline="always")
def _energy(value):
    re = np.float64(value.real)
    im = np.float64(value.imag)
    return re * re + im * im
