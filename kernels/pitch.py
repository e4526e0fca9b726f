"""Pitch tracking kernels: librosa's ``piptrack`` (thresholded local maxima of a magnitude
spectrum, refined by parabolic interpolation) in one pass over each frame.

Spectra are real and frames-major, ``spec[b, t, k]``. The arithmetic repeats librosa's
operation by operation in the spectrum's dtype, so float32 spectra give librosa's float32
bits: the interpolation stencil is librosa's own expression (Numba types it the same way:
float64 where an integer literal meets float32), the gradient and the peak correction run in
the spectrum's dtype (``half`` carries that dtype), and the shift is rounded to it, as
librosa's stored shift array is, before it enters the pitch and the magnitude.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _at(frame, k, squared):
    """Bin ``k`` of the frame, or its square in the frame's dtype (librosa's ``S ** 2``)."""
    return frame[k] * frame[k] if squared else frame[k]


@njit(cache=True, nogil=True, inline="always")
def _shift(frame, k, squared, rounded):
    """librosa's ``_parabolic_interpolation`` at bin ``0 < k < len - 1``: the vertex offset
    of the parabola through bins ``k - 1..k + 1``, 0 when it lies more than one bin away;
    rounded to the spectrum's dtype through ``rounded`` (one element), as librosa stores it."""
    left = _at(frame, k - 1, squared)
    centre = _at(frame, k, squared)
    right = _at(frame, k + 1, squared)
    a = right + left - 2 * centre
    b = (right - left) / 2
    rounded[0] = 0 if abs(b) >= abs(a) else -b / a
    return rounded[0]


@njit(cache=True, nogil=True, inline="always")
def _is_peak(frame, ref, k, n_k, squared):
    """librosa's ``localmax(S * (S > ref))`` at bin ``0 < k``: strictly above its left
    neighbour, at least its right one (the last bin: above its left one), after the bins at
    or below ``ref`` are zeroed. For a bin above ``ref`` (> 0) a zeroed neighbour is below
    it either way, so the zeroing drops out: no branch on the neighbours."""
    value = _at(frame, k, squared)
    above_left = (value > ref) & (value > _at(frame, k - 1, squared))
    if k == n_k - 1:
        return above_left
    return above_left & (value >= _at(frame, k + 1, squared))


@njit(cache=True, nogil=True, inline="always")
def _peak_flags(frame, squared, ref, first, flags):
    """:func:`_is_peak` of bins ``first .. first + len(flags) - 1`` (each with a right
    neighbour) into ``flags``: one loop per case with no branch in it, which vectorises
    (the per-bin branch on ``squared`` and on the peak test did not, and cost 2x)."""
    if squared:
        for j in range(flags.shape[0]):
            k = first + j
            value = frame[k] * frame[k]
            flags[j] = (
                (value > ref)
                & (value > frame[k - 1] * frame[k - 1])
                & (value >= frame[k + 1] * frame[k + 1])
            )
    else:
        for j in range(flags.shape[0]):
            k = first + j
            value = frame[k]
            flags[j] = (value > ref) & (value > frame[k - 1]) & (value >= frame[k + 1])


@njit(cache=True, nogil=True, inline="always")
def _frame_peaks(
    frame, squared, ref, lo, hi, half, sr, n_fft, rounded, flags, bins, pitches, mags, start
):
    """The peaks of one frame written from ``start`` on (bins, interpolated pitches and
    magnitudes, librosa's ``(k + shift) * sr / n_fft`` and ``S + 0.5 * gradient(S) * shift``);
    returns the index after the last. Only peaks are interpolated (librosa interpolates
    every bin, then picks). ``flags``: scratch, at least ``hi - lo`` long."""
    n_k = frame.shape[0]
    first = max(lo, 1)  # bin 0 is never a peak (librosa's stencil edge)
    stop = min(hi, n_k - 1)  # the last bin, without a right neighbour, is tested apart
    n_inner = max(stop - first, 0)
    _peak_flags(frame, squared, ref, first, flags[:n_inner])
    end = start
    for j in range(n_inner):
        if not flags[j]:
            continue
        k = first + j
        shift = _shift(frame, k, squared, rounded)
        gradient = (_at(frame, k + 1, squared) - _at(frame, k - 1, squared)) * half
        bins[end] = k
        pitches[end] = (k + shift) * sr / n_fft
        mags[end] = _at(frame, k, squared) + half * gradient * shift
        end += 1
    last = n_k - 1
    if hi == n_k and last >= first and _is_peak(frame, ref, last, n_k, squared):
        # librosa's shift is 0 at the last bin, so is the correction
        bins[end] = last
        pitches[end] = last * sr / n_fft
        mags[end] = _at(frame, last, squared)
        end += 1
    return end


@njit(cache=True, nogil=True)
def piptrack(spec, squared, ref, lo, hi, half, sr, n_fft, pitches, mags):
    """Pitches and magnitudes at the thresholded spectral peaks, zero elsewhere.

    Parameters
    ----------
    spec : np.ndarray [shape=(b, t, k), dtype=float32 or float64]
        Magnitude spectrogram, frames-major.
    squared : bool
        Track ``spec ** 2`` (squared bin by bin in spec's dtype) instead of ``spec``.
    ref : np.ndarray [shape=(b, t), dtype=float64]
        Per-frame threshold: a bin counts only where ``spec > ref``.
    lo, hi : int
        Bins ``lo <= k < hi`` may hold a pitch (librosa's ``fmin <= f < fmax``).
    half : scalar of spec's dtype
        0.5.
    sr : float
    n_fft : int
    pitches, mags : np.ndarray [shape=(b, k, t), dtype=spec.dtype]
        Outputs, zeroed here; librosa's layout.
    """
    n_b, n_t, n_k = spec.shape
    rounded = np.empty(1, dtype=spec.dtype)
    flags = np.empty(n_k, dtype=np.bool_)
    bins = np.empty(n_k, dtype=np.int64)
    frame_pitches = np.empty(n_k, dtype=spec.dtype)
    frame_mags = np.empty(n_k, dtype=spec.dtype)
    pitches[:] = 0
    mags[:] = 0
    for b in range(n_b):
        for t in range(n_t):
            n_peaks = _frame_peaks(
                spec[b, t], squared, ref[b, t], lo, hi, half, sr, n_fft, rounded, flags, bins,
                frame_pitches, frame_mags, 0,
            )  # fmt: skip
            for j in range(n_peaks):
                pitches[b, bins[j], t] = frame_pitches[j]
                mags[b, bins[j], t] = frame_mags[j]


@njit(cache=True, nogil=True)
def peak_list(spec, squared, ref, lo, hi, half, sr, n_fft, pitches, mags):
    """The non-zero entries of :func:`piptrack`, as two flat lists; returns how many.

    ``pitches`` and ``mags`` (1-D, spec's dtype) need room for every peak: at most
    ``b * t * ((hi - lo + 1) // 2)``, since two neighbouring bins are never both peaks.
    The order (frame by frame) differs from librosa's, which no order-free statistic of
    them (median, histogram) sees.
    """
    n_b, n_t, n_k = spec.shape
    rounded = np.empty(1, dtype=spec.dtype)
    flags = np.empty(n_k, dtype=np.bool_)
    bins = np.empty(pitches.shape[0], dtype=np.int64)
    count = 0
    for b in range(n_b):
        for t in range(n_t):
            count = _frame_peaks(
                spec[b, t], squared, ref[b, t], lo, hi, half, sr, n_fft, rounded, flags, bins,
                pitches, mags, count,
            )  # fmt: skip
    return count


@njit(cache=True, nogil=True)
def tuning_counts(octaves, bins_per_octave, edges, counts):
    """librosa's ``pitch_tuning`` histogram: each pitch's offset from the nearest bin,
    ``np.mod(bins_per_octave * octaves, 1.0)`` folded into [-0.5, 0.5), counted into the bins
    of ``edges`` as ``np.histogram(residual, edges)`` counts (left-closed bins, the last one
    closed on both sides, values outside left out); ``counts`` is added to.

    Every step runs in the octaves' dtype, as NumPy's float32 arrays do (``bins_per_octave``:
    a scalar of that dtype, as NumPy casts the integer): the product, NumPy's ``divmod``
    remainder (``fmod``, plus the divisor for a negative one; ``x - trunc(x)`` is ``fmod(x,
    1)`` exactly, the difference being representable) and the fold.
    """
    one = bins_per_octave / bins_per_octave  # 1 in the octaves' dtype
    half = one / (one + one)
    n_bins = edges.shape[0] - 1
    first, last = edges[0], edges[n_bins]
    per_bin = n_bins / (last - first)
    for i in range(octaves.shape[0]):
        x = bins_per_octave * octaves[i]
        x = x - np.trunc(x)
        if x < 0:
            x = x + one
        if x >= half:
            x = x - one
        residual = np.float64(x)
        if not first <= residual <= last:
            continue
        j = min(max(int((residual - first) * per_bin), 0), n_bins - 1)
        while j > 0 and residual < edges[j]:
            j -= 1
        while j < n_bins - 1 and residual >= edges[j + 1]:
            j += 1
        counts[j] += 1


@njit(cache=True, nogil=True)
def loud_pitches(pitches, mags, half, out):
    """librosa estimate_tuning's selection: the ``pitches > 0`` whose magnitude is at least
    the median magnitude of those pitches, written to ``out``; returns how many.

    The median is NumPy's: the middle value, or for an even count the mean of the two middle
    values, summed in the magnitudes' dtype (``np.mean`` of two float32 values) and halved
    (``half``: 0.5 in that dtype).
    """
    n = 0
    voiced = np.empty(pitches.shape[0], dtype=mags.dtype)
    for i in range(pitches.shape[0]):
        if pitches[i] > 0:
            voiced[n] = mags[i]
            n += 1
    if n == 0:
        return 0
    ordered = np.partition(voiced[:n], n // 2)
    upper = ordered[n // 2]
    if n % 2:
        threshold = upper
    else:
        lower = ordered[0]
        for i in range(1, n // 2):
            lower = max(lower, ordered[i])
        threshold = (lower + upper) * half
    count = 0
    for i in range(pitches.shape[0]):
        if pitches[i] > 0 and mags[i] >= threshold:
            out[count] = pitches[i]
            count += 1
    return count
