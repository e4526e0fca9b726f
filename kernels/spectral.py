"""Per-frame spectral kernels: filterbank products and spectral descriptors.

Spectra are real and frames-major, ``spec[b, t, k]`` (batch, frame, frequency bin): one frame
is a contiguous row, as the FFT writes it. Outputs are librosa-shaped, ``out[b, c, t]``. Sums
over a frame's bins run in float64 (the filterbank products: in the output's dtype, as
librosa's matrix products) and may be reassociated (``fastmath`` reassoc/contract) so they
vectorise; results are rounded once into ``out``. Float64 even for float32 spectra: the
order is not NumPy's pairwise one, and in float64 the difference stays far below float32
resolution. The exception is :func:`rolloff`, which accumulates in the spectrum's own dtype
and in bin order, because it compares a running sum against a threshold exactly as
librosa's ``np.cumsum`` does, and a differently rounded sum could cross it one bin
early. All loops have a fixed order (no BLAS, no threads), so a frame's features are the same
bits in any batch, thread or process on the same CPU family with the same numba and llvmlite
(LLVM) versions. Across CPU types or compiler versions they may differ in the last bits: the
reassociated sums are vectorised for the vector width LLVM targets on the machine at hand,
and ``contract`` lets it fuse multiply-adds where the CPU has FMA, both of which change the
order and rounding of the sum.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_REDUCTION = {"reassoc", "contract"}


@njit(cache=True, nogil=True, inline="always")
def _raise_row(spec_row, exponent, row):
    """``row = spec_row ** exponent`` in the spectrum's dtype (librosa's ``S ** power``),
    stored in ``row``'s; the exponent test sits outside the loops so they vectorise."""
    if exponent == 1.0:
        for k in range(row.shape[0]):
            row[k] = spec_row[k]
    elif exponent == 2.0:
        for k in range(row.shape[0]):
            row[k] = spec_row[k] * spec_row[k]
    else:
        for k in range(row.shape[0]):
            row[k] = spec_row[k] ** exponent


@njit(cache=True, nogil=True, fastmath=_REDUCTION)
def banded_product(spec, exponent, starts, lengths, weights, out):
    """``out[b, m, t] = sum_k W[m, k] spec[b, t, k] ** exponent`` for filters that are
    non-zero on one span of bins each (mel filters: ~50x less work than a dense product).

    Frames go in pairs, so each filter's weights are loaded once for two frames (1.25x
    faster than one frame at a time); an odd last frame is paired with itself. The powers
    and sums are in ``out``'s dtype (promoted by the weights'), as librosa's einsum of the
    spectrum and its float32 mel basis: float32 sums of float32 weights run twice as wide.

    Parameters
    ----------
    spec : np.ndarray [shape=(b, t, k)]
    exponent : float
        Applied to ``spec`` first, in its dtype: 2 turns magnitudes into power.
    starts, lengths : np.ndarray [shape=(m,)]
        First bin and number of bins of each filter's non-zero span.
    weights : np.ndarray [shape=(m, max(lengths))]
        Packed weights, ``weights[m, j]`` for bin ``starts[m] + j``.
    out : np.ndarray [shape=(b, m, t)]
    """
    n_b, n_t, n_k = spec.shape
    row0 = np.empty(n_k, dtype=out.dtype)
    row1 = np.empty(n_k, dtype=out.dtype)
    zero = out.dtype.type(0)
    for b in range(n_b):
        for t0 in range(0, n_t, 2):
            t1 = min(t0 + 1, n_t - 1)
            _raise_row(spec[b, t0], exponent, row0)
            _raise_row(spec[b, t1], exponent, row1)
            for m in range(starts.shape[0]):
                # Slices keep indices provably non-negative, so the dot products vectorise.
                weight = weights[m, : lengths[m]]
                span0 = row0[starts[m] : starts[m] + lengths[m]]
                span1 = row1[starts[m] : starts[m] + lengths[m]]
                acc0 = zero
                acc1 = zero
                for j in range(weight.shape[0]):
                    acc0 += weight[j] * span0[j]
                    acc1 += weight[j] * span1[j]
                out[b, m, t0] = acc0
                out[b, m, t1] = acc1


@njit(cache=True, nogil=True, fastmath=_REDUCTION)
def dense_product(spec, exponent, weights, out):
    """``out[b, c, t] = sum_k weights[c, k] spec[b, t, k] ** exponent`` for filters that are
    non-zero everywhere (chroma), summed in ``out``'s dtype as librosa's einsum does.

    A fixed loop rather than BLAS: a BLAS product's rounding depends on its thread count,
    and features must come out bit-identical in any worker. Four filters by two frames go
    through one pass over the bins, each load feeding eight sums (1.8x faster than one
    filter and frame at a time); the filter and frame past an odd end repeat the last one.

    Parameters
    ----------
    spec : np.ndarray [shape=(b, t, k)]
    weights : np.ndarray [shape=(c, k)], of ``out``'s dtype
    out : np.ndarray [shape=(b, c, t)]
    """
    n_b, n_t, n_k = spec.shape
    n_c = weights.shape[0]
    row0 = np.empty(n_k, dtype=out.dtype)
    row1 = np.empty(n_k, dtype=out.dtype)
    zero = out.dtype.type(0)
    for b in range(n_b):
        for t0 in range(0, n_t, 2):
            t1 = min(t0 + 1, n_t - 1)
            _raise_row(spec[b, t0], exponent, row0)
            _raise_row(spec[b, t1], exponent, row1)
            for c0 in range(0, n_c, 4):
                c1 = min(c0 + 1, n_c - 1)
                c2 = min(c0 + 2, n_c - 1)
                c3 = min(c0 + 3, n_c - 1)
                f0, f1, f2, f3 = weights[c0], weights[c1], weights[c2], weights[c3]
                a0 = a1 = a2 = a3 = zero  # frame t0
                b0 = b1 = b2 = b3 = zero  # frame t1
                for k in range(n_k):
                    r = row0[k]
                    q = row1[k]
                    a0 += f0[k] * r
                    a1 += f1[k] * r
                    a2 += f2[k] * r
                    a3 += f3[k] * r
                    b0 += f0[k] * q
                    b1 += f1[k] * q
                    b2 += f2[k] * q
                    b3 += f3[k] * q
                # A repeated filter or frame writes the same sum twice.
                out[b, c0, t0] = a0
                out[b, c1, t0] = a1
                out[b, c2, t0] = a2
                out[b, c3, t0] = a3
                out[b, c0, t1] = b0
                out[b, c1, t1] = b1
                out[b, c2, t1] = b2
                out[b, c3, t1] = b3


def normalize(values: np.ndarray, norm, axis: int) -> np.ndarray:
    """Scale ``values`` to unit ``norm`` along ``axis`` (``librosa.util.normalize``, no fill).

    Norms are computed in float64 and slices whose norm is below the dtype's smallest normal
    number are left as they are, which keeps silent frames at zero instead of NaN.

    Parameters
    ----------
    norm : {np.inf, -np.inf, 0, float > 0, None}
    """
    if norm is None:
        return values
    mag = np.abs(values).astype(float)
    if norm == np.inf:
        length = np.max(mag, axis=axis, keepdims=True)
    elif norm == -np.inf:
        length = np.min(mag, axis=axis, keepdims=True)
    elif norm == 0:
        length = np.sum(mag > 0, axis=axis, keepdims=True, dtype=mag.dtype)
    elif norm > 0:
        length = np.sum(mag**norm, axis=axis, keepdims=True) ** (1.0 / norm)
    else:
        raise ValueError(f"unsupported norm {norm!r}")
    length[length < np.finfo(values.dtype).tiny] = 1.0
    return (values / length).astype(values.dtype)


@njit(cache=True, nogil=True, fastmath=_REDUCTION)
def centroid(mag, freq, tiny, out):
    """Spectral centroid: the magnitude-weighted mean frequency of each frame.

    ``out[b, 0, t] = sum_k f_k S[b, t, k] / sum_k S[b, t, k]``; a frame whose total is below
    ``tiny`` is not normalised (librosa.util.normalize), which makes silence 0 Hz.
    """
    n_b, n_t, n_k = mag.shape
    for b in range(n_b):
        for t in range(n_t):
            total = 0.0
            weighted = 0.0
            for k in range(n_k):
                total += mag[b, t, k]
                weighted += freq[k] * mag[b, t, k]
            out[b, 0, t] = weighted / (total if total >= tiny else 1.0)


@njit(cache=True, nogil=True, fastmath=_REDUCTION)
def bandwidth(mag, freq, centroids, normalize, p, tiny, out):
    """Spectral bandwidth: ``(sum_k S_k |f_k - centroid| ** p) ** (1 / p)`` per frame.

    With ``normalize`` the weights ``S_k`` are first divided by their sum (below ``tiny``:
    left as they are), as librosa does by default.
    """
    n_b, n_t, n_k = mag.shape
    for b in range(n_b):
        for t in range(n_t):
            c = centroids[b, 0, t]
            total = 0.0
            acc = 0.0
            if p == 2.0:
                for k in range(n_k):
                    deviation = freq[k] - c
                    acc += mag[b, t, k] * (deviation * deviation)
                    total += mag[b, t, k]
            else:
                for k in range(n_k):
                    acc += mag[b, t, k] * abs(freq[k] - c) ** p
                    total += mag[b, t, k]
            if normalize and total >= tiny:
                acc /= total
            out[b, 0, t] = np.sqrt(acc) if p == 2.0 else acc ** (1.0 / p)


@njit(cache=True, nogil=True, fastmath=_REDUCTION)
def spectrum_rms(mag, frame_length, out):
    """librosa's ``rms(S=mag, frame_length)``: ``sqrt(2 sum_k w_k S_k ** 2) / frame_length``
    per frame, ``w_k = 1/2`` at bin 0 and (even ``frame_length``) at the last bin, else 1.

    In one pass over the magnitudes, without librosa's squared copy; the sum in float64
    (librosa's is NumPy's pairwise float32 sum: the two differ by float32 round-off).

    Parameters
    ----------
    mag : np.ndarray [shape=(b, t, k)]
    out : np.ndarray [shape=(b, 1, t)]
    """
    n_b, n_t, n_k = mag.shape
    last_weight = 0.5 if frame_length % 2 == 0 else 1.0
    for b in range(n_b):
        for t in range(n_t):
            total = 0.0
            for k in range(1, n_k - 1):
                value = np.float64(mag[b, t, k])
                total += value * value
            if n_k > 0:
                first = np.float64(mag[b, t, 0])
                if n_k == 1:  # both edges: halved twice for an even frame, as librosa
                    total += 0.5 * last_weight * first * first
                else:
                    final = np.float64(mag[b, t, n_k - 1])
                    total += 0.5 * first * first + last_weight * final * final
            out[b, 0, t] = np.sqrt(2.0 * total / (frame_length * frame_length))


@njit(cache=True, nogil=True)
def rolloff(mag, freq, roll_percent, out):
    """Roll-off frequency: the lowest frequency among the bins whose cumulative magnitude
    reaches ``roll_percent`` of the frame total (for FFT bins, the first such bin's).

    The running sum and the threshold are in ``mag``'s dtype (pass ``roll_percent`` as that
    dtype) and in bin order, matching ``np.cumsum`` in librosa bit for bit on equal input.
    A running sum is a chain of dependent additions, so four frames' chains are interleaved
    in one loop over the bins (1.6x faster); past an odd end the last frame repeats.
    """
    n_b, n_t, n_k = mag.shape
    # Magnitudes are non-negative, so once reached the threshold stays reached: the answer
    # is the minimum frequency from the first qualifying bin on.
    suffix_min = freq.copy()
    for k in range(n_k - 2, -1, -1):
        suffix_min[k] = min(suffix_min[k], suffix_min[k + 1])
    r0 = np.empty(n_k, dtype=mag.dtype)
    r1 = np.empty(n_k, dtype=mag.dtype)
    r2 = np.empty(n_k, dtype=mag.dtype)
    r3 = np.empty(n_k, dtype=mag.dtype)
    for b in range(n_b):
        for t0 in range(0, n_t, 4):
            t1 = min(t0 + 1, n_t - 1)
            t2 = min(t0 + 2, n_t - 1)
            t3 = min(t0 + 3, n_t - 1)
            f0, f1, f2, f3 = mag[b, t0], mag[b, t1], mag[b, t2], mag[b, t3]
            a0, a1, a2, a3 = f0[0], f1[0], f2[0], f3[0]
            r0[0], r1[0], r2[0], r3[0] = a0, a1, a2, a3
            for k in range(1, n_k):
                a0 += f0[k]
                a1 += f1[k]
                a2 += f2[k]
                a3 += f3[k]
                r0[k] = a0
                r1[k] = a1
                r2[k] = a2
                r3[k] = a3
            out[b, 0, t0] = suffix_min[_first_reaching(r0, roll_percent * a0)]
            out[b, 0, t1] = suffix_min[_first_reaching(r1, roll_percent * a1)]
            out[b, 0, t2] = suffix_min[_first_reaching(r2, roll_percent * a2)]
            out[b, 0, t3] = suffix_min[_first_reaching(r3, roll_percent * a3)]


@njit(cache=True, nogil=True, inline="always")
def _first_reaching(running, threshold):
    """The first index of a non-decreasing ``running`` whose value is not below ``threshold``
    (the last index if none is), by bisection."""
    lo = 0
    hi = running.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if running[mid] < threshold:
            lo = mid + 1
        else:
            hi = mid
    return lo


def flatness(mag: np.ndarray, power: float, amin: float) -> np.ndarray:
    """Spectral flatness: geometric over arithmetic mean of ``max(amin, S ** power)``.

    NumPy rather than Numba for its vectorised logarithm; the same operations as librosa in
    the same dtype.

    Parameters
    ----------
    mag : np.ndarray [shape=(b, t, k)]
    power : float > 0
    amin : float > 0

    Returns
    -------
    np.ndarray [shape=(b, 1, t), dtype=mag.dtype]
    """
    thresholded = np.maximum(amin, mag**power)
    geometric = np.exp(np.mean(np.log(thresholded), axis=-1))
    arithmetic = np.mean(thresholded, axis=-1)
    return (geometric / arithmetic)[:, np.newaxis, :]


@njit(cache=True, nogil=True, inline="always")
def _smallest(values, guess, lowest):
    """The ``k = len(lowest)`` smallest of the ``values`` below ``guess``, sorted ascending,
    by insertion; returns how many values entered (at least ``k``: they are the ``k``
    smallest of all ``values``; fewer: too few lie below ``guess``, the result is not that).

    ``guess`` fills the set to begin with, so a value enters only below it and below the
    current ``k``-th: a guess close above the answer (the previous frame's, see
    :func:`contrast_peaks`) spares the insertions of the values that would only have been
    pushed out again. Spectra mostly fall with frequency: scanned downwards, a band's values
    mostly rise, so few enter."""
    k = lowest.shape[0]
    lowest[:] = guess
    entered = 0
    for j in range(values.shape[0] - 1, -1, -1):
        v = values[j]
        if v < lowest[k - 1]:
            m = k - 1
            while m > 0 and lowest[m - 1] > v:
                lowest[m] = lowest[m - 1]
                m -= 1
            lowest[m] = v
            entered += 1
    return entered


@njit(cache=True, nogil=True, inline="always")
def _largest(values, guess, highest):
    """:func:`_smallest`'s mirror: the ``len(highest)`` largest values above ``guess``, sorted
    ascending, scanned upwards (few enter)."""
    k = highest.shape[0]
    highest[:] = guess
    entered = 0
    for j in range(values.shape[0]):
        v = values[j]
        if v > highest[0]:
            m = 0
            while m < k - 1 and highest[m + 1] < v:
                highest[m] = highest[m + 1]
                m += 1
            highest[m] = v
            entered += 1
    return entered


@njit(cache=True, nogil=True, inline="always")
def _mean(values):
    total = 0.0
    for m in range(values.shape[0]):
        total += values[m]
    return total / values.shape[0]


# Frames handled together by contrast_peaks: their running extremes stay in L1.
_CONTRAST_BLOCK = 64
# How far beyond the previous frame's k-th value contrast_peaks guesses a frame's: a band's
# extremes move little from frame to frame, and a guess twice as loose held for about 95% of
# the frames of the FMA clip's top band (1.0: 50%; 4.0: 99.5%, but twice the insertions).
_CONTRAST_SLACK = 2.0


@njit(cache=True, nogil=True)
def contrast_peaks(mag, band_starts, band_stops, band_counts, quantile, peak, valley):
    """Mean of the top and bottom ``quantile`` of each octave sub-band of each frame.

    Band ``i`` covers bins ``band_starts[i]:band_stops[i]``; the number of values averaged is
    ``max(1, rint(quantile * band_counts[i]))`` (librosa counts bins before dropping a
    band's last, shared, bin), at most the band's width. The ``n_avg`` smallest and largest
    values of each frame are kept sorted by insertion while the band's bins stream by: a 2%
    quantile is a few values, so nearly every bin is rejected by one comparison, where a sort
    per band and frame cost 10x more. With contiguous frames, each frame's insertion starts
    from the previous frame's extremes loosened by ``_CONTRAST_SLACK`` (see :func:`_smallest`;
    where fewer than ``n_avg`` values pass that guess the frame is scanned again without it),
    which spares most insertions (on FMA's clip ``000002.mp3`` the kernel took 28.7 ms of
    thread CPU time before, 22.7 with contiguous sets alone, 19.5 with the guess: best of 15,
    load 3 on 2 cores); the values and their order, hence the means, are the same bits.
    Strided frames (librosa's ``(k, t)`` layout) go a block of frames at a time, reading
    along time.

    Parameters
    ----------
    mag : np.ndarray [shape=(b, t, k)]
    peak, valley : np.ndarray [shape=(b, n_bands + 1, t), dtype=float64]
    """
    n_b, n_t, _ = mag.shape
    block = min(n_t, _CONTRAST_BLOCK)
    for i in range(band_starts.shape[0]):
        lo = band_starts[i]
        width = band_stops[i] - lo
        k = min(width, max(1, int(np.rint(quantile * band_counts[i]))))
        lowest = np.empty((k, block), dtype=mag.dtype)
        highest = np.empty((k, block), dtype=mag.dtype)
        for b in range(n_b):
            if mag.strides[2] == mag.itemsize:  # bins contiguous: one frame at a time
                low = np.empty(k, dtype=mag.dtype)  # not lowest[:, 0]: strided, 2x slower
                high = np.empty(k, dtype=mag.dtype)
                low_guess, high_guess = np.inf, -np.inf
                for t in range(n_t):
                    frame = mag[b, t, lo : lo + width]
                    if _smallest(frame, low_guess, low) < k:
                        _smallest(frame, np.inf, low)
                    if _largest(frame, high_guess, high) < k:
                        _largest(frame, -np.inf, high)
                    low_guess = low[k - 1] * _CONTRAST_SLACK
                    high_guess = high[0] / _CONTRAST_SLACK
                    valley[b, i, t] = _mean(low)
                    peak[b, i, t] = _mean(high)
                continue
            for t0 in range(0, n_t, block):
                n = min(block, n_t - t0)
                lowest[:, :n] = np.inf
                highest[:, :n] = -np.inf
                for j in range(width):
                    for u in range(n):
                        v = mag[b, t0 + u, lo + j]
                        if v < lowest[k - 1, u]:
                            m = k - 1
                            while m > 0 and lowest[m - 1, u] > v:
                                lowest[m, u] = lowest[m - 1, u]
                                m -= 1
                            lowest[m, u] = v
                        if v > highest[0, u]:
                            m = 0
                            while m < k - 1 and highest[m + 1, u] < v:
                                highest[m, u] = highest[m + 1, u]
                                m += 1
                            highest[m, u] = v
                for u in range(n):
                    low = 0.0
                    high = 0.0
                    for m in range(k):
                        low += lowest[m, u]
                        high += highest[m, u]
                    valley[b, i, t0 + u] = low / k
                    peak[b, i, t0 + u] = high / k
