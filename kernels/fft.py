"""Batched real FFTs of frames through cached pyFFTW plans, and the STFT built on them.

Frames are windowed and transformed a block of rows at a time: the block's input (a few hundred
KiB) stays in cache between the Numba fill, the FFTW execute and, for magnitude spectra, the
reduction to magnitudes (and, for a mel spectrogram, the filterbank product:
:func:`stft_filterbank` never stores the spectrogram). That keeps a full STFT close to a
bare FFT of frames already windowed in memory (``benchmarks/bench_kernels.py`` reports the
ratio, README, Performance). FFTW plans (with their input buffer) are created once per
``(n_fft, block rows, dtype)`` and per thread, since a plan's input buffer must never be
shared by two threads; single-threaded, so that parallelism is left to the caller (one Dask
task per core).

By default every transform runs in the signal's precision: float32 audio is framed,
windowed, transformed and reduced to magnitudes in float32, float64 audio in float64.
:func:`stft_magnitude` can instead run librosa's float64 FFT on float32 audio, for the
features whose parity needs it.

Plans are deterministic: the same input gives the same bits in every process on a machine with
the same library versions. FFTW's measuring planner picks an algorithm by timing candidates, so
two processes may pick differently and compute different last bits (it once moved
``chroma_stft``'s estimated tuning by a step between two runs); SonicSep never measures at run
time. Float64 plans come from FFTW's estimator, which involves no timing and at n_fft = 2048
is as fast as a measured plan. Float32 plans come from wisdom shipped with the package
(:mod:`.fft_wisdom`: one plan per common ``n_fft``, chosen once by
``benchmarks/fftw_wisdom.py``), loaded into FFTW when this module is imported and used alone
(``FFTW_WISDOM_ONLY``); sizes it lacks, or an FFTW build or CPU it does not fit, get the
estimator. Being loaded at import, before any plan is made, the wisdom is the same in every
process whatever it plans first (unless the process loads or measures FFTW wisdom of its own).
On a whole 30 s clip of frames in memory a measured float32 plan is about 1.4x faster than
the estimator's (the floor table of ``benchmarks/bench_kernels.py``). On the cache-sized
blocks the STFT transforms, a 30 s clip's worth of them, the shipped plans are 1.6-2.0x
faster than FFTW's own float32 estimator at every shipped size (1.59-1.68x at n_fft = 2048,
medians 1.36-1.38x) and as fast as the float64 estimator at 2048 and 4096 (0.99-1.13x), 1.1-1.8x
faster at 256-1024 (thread CPU time, best of 200 passes, the plans taking turns, two fresh
processes, 2-core VM under load 5-7). Such a comparison must make the estimator's plan
with FFTW's wisdom forgotten: FFTW_ESTIMATE plans from wisdom it holds, so with SonicSep's
loaded it returns the shipped plan itself, bit for bit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyfftw
from numba import njit

from . import memory
from .fft_wisdom import WISDOM
from .framing import PAD_MODES, fill_windowed_frames, n_frames

# Input bytes per FFT block: small enough to stay in L2 between fill and FFT.
_BLOCK_BYTES = 1 << 18
# Rows per block are a multiple of this, so every block of an aligned output stays aligned.
_ROW_QUANTUM = 8
_local = threading.local()
_planning = threading.Lock()
# Single-precision wisdom only: float64 plans stay the estimator's whatever this holds.


def load_wisdom() -> bool:
    """Load the shipped float32 wisdom into FFTW; True when every entry was accepted.

    Done once when this module is imported. A caller that made FFTW forget its wisdom
    (``pyfftw.forget_wisdom()``, as a benchmark timing measured plans does) calls it again
    before SonicSep plans anything else.
    """
    # One import per entry: FFTW reads one wisdom block per import.
    texts = [text.encode("ascii") for text in WISDOM.values()]
    return all([pyfftw.import_wisdom((b"", text, b""))[1] for text in texts])


_WISDOM_LOADED = load_wisdom()


def complex_dtype(real_dtype) -> np.dtype:
    """complex64 for float32, complex128 for float64."""
    return np.result_type(real_dtype, np.complex64)


def block_rows(n_fft: int, dtype) -> int:
    """Rows per FFT block for frames of ``n_fft`` samples of ``dtype``."""
    rows = _BLOCK_BYTES // (n_fft * np.dtype(dtype).itemsize)
    return int(min(512, max(_ROW_QUANTUM, rows // _ROW_QUANTUM * _ROW_QUANTUM)))


@dataclass(frozen=True)
class RfftPlan:
    """An FFTW plan with the input and output buffers it was planned on.

    Results are copied out of ``output`` rather than transformed straight into a caller's
    array: FFTW's codelets write a block's output in strided passes, which on memory not in
    cache costs more than one sequential copy from the cache-resident ``output`` (a 30 s
    STFT: 4.7 against 3.8 ms with the caches flushed between calls, README, Performance).
    """

    fftw: pyfftw.FFTW
    input: np.ndarray
    output: np.ndarray

    def execute(self) -> None:
        """Transform ``self.input`` into ``self.output``."""
        self.fftw.execute()


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
        plan = cache[key] = RfftPlan(_fftw(inp, out), inp, out)
    return plan


def _fftw(inp: np.ndarray, out: np.ndarray) -> pyfftw.FFTW:
    """A deterministic plan: from the shipped wisdom alone (float32 sizes it covers), else
    from FFTW's estimator; never from timings (see the module docstring)."""
    with _planning:
        if inp.dtype == np.float32 and _WISDOM_LOADED and inp.shape[-1] in WISDOM:
            try:
                return pyfftw.FFTW(
                    inp, out, axes=(-1,), flags=("FFTW_MEASURE", "FFTW_WISDOM_ONLY"), threads=1
                )
            except RuntimeError:  # no wisdom for this block shape: the estimator's plan
                pass
        return pyfftw.FFTW(inp, out, axes=(-1,), flags=("FFTW_ESTIMATE",), threads=1)


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
        plan.execute()
        out[row0 : row0 + rows] = plan.output
    return out[:n_rows]


def _run_blocks(signals, window, hop_length, center, pad_mode, fft_dtype, consume) -> int:
    """Window and FFT all frames of ``signals`` a block at a time; returns the frame count.

    After each block's frames are written into the plan's input, ``consume(plan, row0)``
    must transform them (``plan.execute``) and keep what it needs of ``plan.output``.
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

    The FFT runs in the signals' precision; each block is copied into the result from the
    plan's output (see :class:`RfftPlan`).

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
        plan.execute()
        out[row0 : row0 + plan.output.shape[0]] = plan.output

    frames = _run_blocks(signals, window, hop_length, center, pad_mode, signals.dtype, consume)
    return out[:total].reshape(n_signals, frames, n_bins)


def stft_magnitude(
    signals: np.ndarray,
    window: np.ndarray,
    hop_length: int,
    center: bool,
    pad_mode: str,
    exponent: float = 1.0,
    fft_dtype=None,
) -> np.ndarray:
    """``|STFT| ** exponent`` of a batch of signals, frames-major, in the signals' dtype.

    Each block is reduced to magnitudes while still in cache, so the complex spectrum is never
    stored. By default the FFT runs in the signals' precision. librosa runs a float64 FFT for
    float32 audio (its float64 window promotes the frames) and rounds the result: a float32
    FFT differs from that by about 1e-7 of a frame's peak, which is also its noise floor.
    Features that look at quiet bins or compare a running sum with a threshold (flatness,
    the valleys of spectral contrast, roll-off, the tuning estimate) need librosa's float64
    FFT to stay within the parity tolerance: pass ``fft_dtype=np.float64`` for those, and
    float32 magnitudes are then the float64 ones rounded.

    Parameters
    ----------
    signals, window, hop_length, center, pad_mode
        As :func:`stft_frames`.
    exponent : float > 0
        1 for magnitudes, 2 for power.
    fft_dtype : float32, float64 or None
        Precision of the frames, window and FFT; None: the signals'.

    Returns
    -------
    np.ndarray [shape=(n_signals, n_frames, n_fft // 2 + 1), dtype=signals.dtype]
    """
    n_signals, n = signals.shape
    n_bins = window.shape[0] // 2 + 1
    fft_dtype = signals.dtype if fft_dtype is None else np.dtype(fft_dtype)
    total, padded = _padded_rows(n_signals, n, window, hop_length, center, fft_dtype)
    out = memory.empty((padded, n_bins), signals.dtype)

    def consume(plan, row0):
        plan.execute()
        magnitude_rows(plan.output, exponent, out[row0 : row0 + plan.output.shape[0]])

    frames = _run_blocks(signals, window, hop_length, center, pad_mode, fft_dtype, consume)
    return out[:total].reshape(n_signals, frames, n_bins)


def stft_filterbank(
    signals: np.ndarray,
    window: np.ndarray,
    hop_length: int,
    center: bool,
    pad_mode: str,
    exponent: float,
    starts: np.ndarray,
    lengths: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """A banded filterbank (mel) applied to ``|STFT| ** exponent``, in the signals' dtype.

    Each FFT block is reduced to magnitudes and projected onto the filters while it is still
    in cache, so neither the complex spectrum nor the magnitude spectrogram is ever stored:
    the same values as :func:`stft_magnitude` followed by
    ``sonicsep.kernels.spectral.banded_product``, summed in another order (see
    :func:`banded_magnitude_rows`).

    Parameters
    ----------
    signals, window, hop_length, center, pad_mode
        As :func:`stft_frames`; the FFT runs in the signals' precision.
    exponent : float > 0
        1 for magnitudes, 2 for power.
    starts, lengths : np.ndarray [shape=(m,), dtype=int64]
        First bin and number of bins of each filter's non-zero span
        (``sonicsep.kernels.filterbanks.band_rows``).
    weights : np.ndarray [shape=(m, max(lengths))]
        Packed weights, ``weights[f, j]`` for bin ``starts[f] + j``.

    Returns
    -------
    np.ndarray [shape=(n_signals, m, n_frames), dtype=signals.dtype]
        ``out[s, f, t] = sum_j weights[f, j] |X[s, t, starts[f] + j]| ** exponent``.
    """
    n_signals, n = signals.shape
    frames = n_frames(n, window.shape[0], hop_length, center)
    out = np.empty((n_signals, starts.shape[0], frames), dtype=signals.dtype)

    def consume(plan, row0):
        plan.execute()
        banded_magnitude_rows(plan.output, exponent, starts, lengths, weights, row0, out)

    _run_blocks(signals, window, hop_length, center, pad_mode, signals.dtype, consume)
    return out


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def banded_magnitude_rows(spec, exponent, starts, lengths, weights, row0, out):
    """``out[s, f, t] = sum_j weights[f, j] |spec[r, starts[f] + j]| ** exponent`` for the
    block rows ``r`` that are frames ``row0 + r`` of the batch (signal-major; rows past the
    last frame are skipped).

    Magnitudes are rounded to ``out``'s dtype first, as :func:`magnitude_rows` stores them;
    sums are in ``out``'s dtype (promoted by the weights'), as librosa's product with its
    float32 mel basis, and reassociated so that they vectorise (the order, and so the bits,
    are fixed by the compiled loop: the same in every process on the same CPU family and
    library versions). Frames go four at a time, so each filter's weights are loaded once
    for four frames: on a 30 s clip's blocks about 1.4x faster than two or eight at a time
    (best thread CPU time of 30 calls each, on the 2-core VM under load 3-4).

    Parameters
    ----------
    spec : np.ndarray [shape=(rows, k), complex]
        One FFT block.
    exponent : float > 0
    starts, lengths, weights
        The filters' spans, as :func:`stft_filterbank`.
    row0 : int
        Batch frame of the block's first row.
    out : np.ndarray [shape=(n_signals, m, n_frames), real]
    """
    frames_per_signal = out.shape[2]
    n_rows = min(spec.shape[0], out.shape[0] * frames_per_signal - row0)
    quad = np.empty((4, spec.shape[1]), dtype=out.dtype)
    zero = out.dtype.type(0)
    for r0 in range(0, n_rows, 4):
        # Past an odd end the last row is repeated (computed again and stored again).
        last = n_rows - 1
        r1, r2, r3 = min(r0 + 1, last), min(r0 + 2, last), min(r0 + 3, last)
        _magnitude_row(spec[r0], exponent, quad[0])
        _magnitude_row(spec[r1], exponent, quad[1])
        _magnitude_row(spec[r2], exponent, quad[2])
        _magnitude_row(spec[r3], exponent, quad[3])
        # Batch frame -> (signal, frame); scalars, not arrays, so they stay in registers.
        s0, t0 = divmod(row0 + r0, frames_per_signal)
        s1, t1 = divmod(row0 + r1, frames_per_signal)
        s2, t2 = divmod(row0 + r2, frames_per_signal)
        s3, t3 = divmod(row0 + r3, frames_per_signal)
        for f in range(starts.shape[0]):
            # Slices keep indices provably non-negative, so the dot products vectorise.
            weight = weights[f, : lengths[f]]
            span0 = quad[0, starts[f] : starts[f] + lengths[f]]
            span1 = quad[1, starts[f] : starts[f] + lengths[f]]
            span2 = quad[2, starts[f] : starts[f] + lengths[f]]
            span3 = quad[3, starts[f] : starts[f] + lengths[f]]
            acc0 = acc1 = acc2 = acc3 = zero
            for j in range(weight.shape[0]):
                acc0 += weight[j] * span0[j]
                acc1 += weight[j] * span1[j]
                acc2 += weight[j] * span2[j]
                acc3 += weight[j] * span3[j]
            out[s0, f, t0] = acc0
            out[s1, f, t1] = acc1
            out[s2, f, t2] = acc2
            out[s3, f, t3] = acc3


@njit(cache=True, nogil=True)
def magnitude_rows(spec, exponent, out):
    """``out = |spec| ** exponent`` for complex rows, from ``re^2 + im^2``.

    The energy is summed in the spectrum's precision (float64 for a complex128 spectrum,
    whatever ``out``: float32 magnitudes of a float64 FFT are then its own rounded, within
    an ulp, so quiet bins keep their relative precision) and the root taken in ``out``'s
    dtype (a float32 root of the rounded energy is within an ulp of the float64 root, and
    three times faster). Within 2 ulp of librosa's ``np.abs(D) ** exponent`` for the same
    ``D``.

    Parameters
    ----------
    spec : np.ndarray [shape=(rows, k), complex]
    exponent : float > 0
    out : np.ndarray [shape=(rows, k), real]
    """
    for r in range(spec.shape[0]):
        _magnitude_row(spec[r], exponent, out[r])


@njit(cache=True, nogil=True, inline="always")
def _magnitude_row(row, exponent, dst):
    """``dst = |row| ** exponent`` (see :func:`magnitude_rows`); the exponent test sits outside
    the loops so that they vectorise."""
    if exponent == 1.0:
        for k in range(row.shape[0]):
            dst[k] = np.sqrt(dst.dtype.type(_energy(row[k])))
    elif exponent == 2.0:
        for k in range(row.shape[0]):
            dst[k] = _energy(row[k])
    else:
        for k in range(row.shape[0]):
            dst[k] = _energy(row[k]) ** (0.5 * exponent)


@njit(cache=True, nogil=True, inline="always")
def _energy(value):
    """``re^2 + im^2`` in the precision of the complex ``value``."""
    return value.real * value.real + value.imag * value.imag
