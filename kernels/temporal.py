"""Frame-wise time-domain descriptors and the filters of onset strength.

RMS and zero-crossing rate frame the raw signal exactly as librosa does (centre padding with
zeros for RMS, with the edge sample for the zero-crossing rate); padding is virtual, through
:func:`kernels.framing.padded_index`, so only frames that overlap an edge pay for it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .framing import padded_index


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def rms(signals, frame_length, hop_length, offset, mode, out):
    """Root-mean-square of each frame: ``sqrt(mean(frame ** 2))``, squares in the signal's
    dtype (as librosa) and their sum in float64.

    Parameters
    ----------
    signals : np.ndarray [shape=(b, n)]
    offset : int
        Samples of padding before the first sample (``frame_length // 2`` when centred).
    mode : int
        A ``framing.PAD_*`` code for samples outside the signal.
    out : np.ndarray [shape=(b, 1, t)]
    """
    n_b, n = signals.shape
    for b in range(n_b):
        for t in range(out.shape[2]):
            start = t * hop_length - offset
            acc = 0.0
            if start >= 0 and start + frame_length <= n:
                frame = signals[b, start : start + frame_length]  # provably non-negative indices
                for j in range(frame_length):
                    v = frame[j]
                    acc += v * v
            else:
                for j in range(frame_length):
                    idx = padded_index(start + j, n, mode)
                    if idx >= 0:
                        v = signals[b, idx]
                        acc += v * v
            out[b, 0, t] = np.sqrt(acc / frame_length)


@njit(cache=True, nogil=True)
def amplitude_envelope(signals, frame_length, hop_length, offset, mode, out):
    """Amplitude envelope: the largest absolute sample of each frame.

    A cheap loudness contour that, unlike RMS, follows transients (onsets, clipping) sample
    exactly. Framing and padding as :func:`rms`.

    Parameters
    ----------
    signals : np.ndarray [shape=(b, n)]
    out : np.ndarray [shape=(b, 1, t)]
    """
    n_b, n = signals.shape
    for b in range(n_b):
        for t in range(out.shape[2]):
            start = t * hop_length - offset
            peak = 0.0
            if start >= 0 and start + frame_length <= n:
                frame = signals[b, start : start + frame_length]  # provably non-negative indices
                for j in range(frame_length):
                    peak = max(peak, abs(frame[j]))
            else:
                for j in range(frame_length):
                    idx = padded_index(start + j, n, mode)
                    if idx >= 0:
                        peak = max(peak, abs(signals[b, idx]))
            out[b, 0, t] = peak


@njit(cache=True, nogil=True, inline="always")
def _sign_class(x, threshold, zero_pos):
    """Sign class of one sample, branch-free: values within ``threshold`` of zero count as
    zero; with ``zero_pos`` zero is positive (``signbit``: classes 0, 1), otherwise a class of
    its own (-1, 0, 1)."""
    if zero_pos:
        return np.int64(x < -threshold)
    return np.int64(x > threshold) - np.int64(x < -threshold)


@njit(cache=True, nogil=True)
def zero_crossing_rate(
    signals, frame_length, hop_length, offset, mode, threshold, zero_pos, count_first, out
):
    """Fraction of sample pairs in each frame whose signs differ.

    A frame's crossings are counted between its consecutive samples (``frame_length - 1``
    pairs) plus, with ``count_first``, one for its first sample (librosa's ``pad=True``), and
    divided by ``frame_length``. Frames inside the signal count with a branch-free,
    vectorised loop; frames over the padded edges go through the padding map.

    Parameters
    ----------
    signals : np.ndarray [shape=(b, n)]
    threshold : scalar of the signals' dtype
    out : np.ndarray [shape=(b, 1, t)]
    """
    n_b, n = signals.shape
    first = 1 if count_first else 0
    for b in range(n_b):
        for t in range(out.shape[2]):
            start = t * hop_length - offset
            changes = 0
            if start >= 0 and start + frame_length <= n:
                frame = signals[b, start : start + frame_length]  # provably non-negative indices
                for j in range(1, frame_length):
                    changes += _sign_class(frame[j], threshold, zero_pos) != _sign_class(
                        frame[j - 1], threshold, zero_pos
                    )
            else:
                prev = 0
                for j in range(frame_length):
                    idx = padded_index(start + j, n, mode)
                    x = signals[b, idx] if idx >= 0 else signals.dtype.type(0)
                    sign = _sign_class(x, threshold, zero_pos)
                    if j > 0 and sign != prev:
                        changes += 1
                    prev = sign
            out[b, 0, t] = (changes + first) / frame_length


@njit(cache=True, nogil=True)
def max_filter_bands(spec, size, out):
    """Maximum over ``size`` neighbouring bands (``scipy.ndimage.maximum_filter1d`` on axis -2).

    Band ``m`` takes the maximum over bands ``m - size // 2`` to ``m - size // 2 + size - 1``
    that exist (the mirrored bands of scipy's default 'reflect' mode lie inside that span, so
    clipping the window gives the same maximum). Onset strength uses it as the reference
    spectrum that suppresses vibrato (Böck & Widmer's SuperFlux).

    Parameters
    ----------
    spec, out : np.ndarray [shape=(b, m, t)]
    """
    n_b, n_m, n_t = spec.shape
    half = size // 2
    for b in range(n_b):
        for m in range(n_m):
            lo = max(0, m - half)
            hi = min(n_m, m - half + size)
            for t in range(n_t):
                peak = spec[b, lo, t]
                for j in range(lo + 1, hi):
                    peak = max(peak, spec[b, j, t])
                out[b, m, t] = peak


@njit(cache=True, nogil=True)
def detrend(onset, out):
    """Remove the DC component: the IIR filter ``y[n] = x[n] - x[n-1] + 0.99 y[n-1]``
    (``scipy.signal.lfilter([1, -1], [1, -0.99])`` from rest), along the last axis."""
    n_b, n_t = onset.shape
    for b in range(n_b):
        x_prev = 0.0
        y_prev = 0.0
        for t in range(n_t):
            x = onset[b, t]
            y_prev = x - x_prev + 0.99 * y_prev
            x_prev = x
            out[b, t] = y_prev
