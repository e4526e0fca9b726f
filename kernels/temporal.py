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

    When frames are whole hops long and start on hop boundaries (``frame_length`` and
    ``offset`` multiples of ``hop_length``, as librosa's defaults 2048 / 512), a frame inside
    the signal adds up the sums of its hops, so each sample is squared once rather than once
    per overlapping frame (2x faster).

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
    aligned = _hop_aligned(frame_length, hop_length, offset)
    hops_per_frame = frame_length // hop_length
    lead = offset // hop_length
    hop_sums = np.empty(n // hop_length if aligned else 0)
    for b in range(n_b):
        signal = signals[b]
        for i in range(hop_sums.shape[0]):
            hop = signal[i * hop_length : (i + 1) * hop_length]
            acc = 0.0
            for j in range(hop_length):
                v = hop[j]
                acc += v * v
            hop_sums[i] = acc
        for t in range(out.shape[2]):
            start = t * hop_length - offset
            acc = 0.0
            if start >= 0 and start + frame_length <= n:
                if aligned:
                    for i in range(t - lead, t - lead + hops_per_frame):
                        acc += hop_sums[i]
                else:
                    frame = signal[start : start + frame_length]  # provably non-negative
                    for j in range(frame_length):
                        v = frame[j]
                        acc += v * v
            else:
                for j in range(frame_length):
                    idx = padded_index(start + j, n, mode)
                    if idx >= 0:
                        v = signal[idx]
                        acc += v * v
            out[b, 0, t] = np.sqrt(acc / frame_length)


@njit(cache=True, nogil=True, inline="always")
def _hop_aligned(frame_length, hop_length, offset):
    """Whether every frame is a run of whole hops starting on a hop boundary."""
    return frame_length % hop_length == 0 and offset % hop_length == 0


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
    vectorised loop, or, when frames are runs of whole hops (see :func:`rms`), from each
    hop's count, exact integers that classify each sample once (2x faster); frames over the
    padded edges go through the padding map.

    Parameters
    ----------
    signals : np.ndarray [shape=(b, n)]
    threshold : scalar of the signals' dtype
    out : np.ndarray [shape=(b, 1, t)]
    """
    n_b, n = signals.shape
    first = 1 if count_first else 0
    aligned = _hop_aligned(frame_length, hop_length, offset)
    hops_per_frame = frame_length // hop_length
    lead = offset // hop_length
    # Changes within hop i, plus (entering[i]) the one from its previous sample into it.
    hop_changes = np.zeros(n // hop_length if aligned else 0, dtype=np.int64)
    entering = np.zeros_like(hop_changes)
    for b in range(n_b):
        signal = signals[b]
        for i in range(hop_changes.shape[0]):
            lo = i * hop_length
            entering[i] = 0 if i == 0 else _changes(signal[lo - 1 : lo + 1], threshold, zero_pos)
            hop_changes[i] = entering[i] + _changes(
                signal[lo : lo + hop_length], threshold, zero_pos
            )
        for t in range(out.shape[2]):
            start = t * hop_length - offset
            changes = 0
            if start >= 0 and start + frame_length <= n:
                if aligned:
                    # The frame's first hop contributes its inner changes only.
                    first_hop = t - lead
                    changes = -entering[first_hop]
                    for i in range(first_hop, first_hop + hops_per_frame):
                        changes += hop_changes[i]
                else:
                    changes = _changes(signal[start : start + frame_length], threshold, zero_pos)
            else:
                prev = 0
                for j in range(frame_length):
                    idx = padded_index(start + j, n, mode)
                    x = signal[idx] if idx >= 0 else signals.dtype.type(0)
                    sign = _sign_class(x, threshold, zero_pos)
                    if j > 0 and sign != prev:
                        changes += 1
                    prev = sign
            out[b, 0, t] = (changes + first) / frame_length


@njit(cache=True, nogil=True, inline="always")
def _changes(samples, threshold, zero_pos):
    """Sign changes between consecutive samples (a branch-free, vectorised count)."""
    changes = 0
    for j in range(1, samples.shape[0]):
        changes += _sign_class(samples[j], threshold, zero_pos) != _sign_class(
            samples[j - 1], threshold, zero_pos
        )
    return changes


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
