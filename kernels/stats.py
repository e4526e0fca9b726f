"""Summary statistics over time of each feature row (FMA's and GTZAN's summaries).

Definitions follow ``numpy`` / ``scipy.stats`` with their defaults: population variance
(``ddof=0``), biased skewness ``m3 / m2 ** 1.5`` and Fisher's excess kurtosis
``m4 / m2 ** 2 - 3`` from central moments, and the median averaging the two middle values.
A row too flat for its moments to mean anything (``m2 <= (resolution * mean) ** 2`` with the
input dtype's resolution, scipy's own test) has skewness and kurtosis 0 rather than NaN, so a
silent segment summarises cleanly. Moments are accumulated in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

STAT_CODES = {
    "mean": 0,
    "var": 1,
    "std": 2,
    "skew": 3,
    "kurtosis": 4,
    "median": 5,
    "min": 6,
    "max": 7,
}


@njit(cache=True, nogil=True)
def summarize_rows(values, codes, resolution, out):
    """Apply the statistics ``codes`` (``STAT_CODES`` values) over the last axis of each row.

    Parameters
    ----------
    values : np.ndarray [shape=(rows, t)], t >= 1
    codes : np.ndarray [shape=(n_stats,), dtype=int64]
    resolution : float
        ``np.finfo(values.dtype).resolution``, the flatness test's relative scale.
    out : np.ndarray [shape=(rows, n_stats)]
    """
    n_rows, n_t = values.shape
    wants_median = False
    for s in range(codes.shape[0]):
        wants_median |= codes[s] == 5
    scratch = np.empty(n_t, dtype=np.float64)
    for r in range(n_rows):
        total = 0.0
        low = np.inf
        high = -np.inf
        for i in range(n_t):
            v = np.float64(values[r, i])
            scratch[i] = v
            total += v
            low = min(low, v)
            high = max(high, v)
        mean = total / n_t
        m2 = 0.0
        m3 = 0.0
        m4 = 0.0
        for i in range(n_t):
            d = scratch[i] - mean
            d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
        m2 /= n_t
        m3 /= n_t
        m4 /= n_t
        flat = m2 <= (resolution * mean) ** 2
        median = np.median(scratch) if wants_median else 0.0
        for s in range(codes.shape[0]):
            code = codes[s]
            if code == 0:
                stat = mean
            elif code == 1:
                stat = m2
            elif code == 2:
                stat = np.sqrt(m2)
            elif code == 3:
                stat = 0.0 if flat else m3 / m2**1.5
            elif code == 4:
                stat = 0.0 if flat else m4 / (m2 * m2) - 3.0
            elif code == 5:
                stat = median
            elif code == 6:
                stat = low
            else:
                stat = high
            out[r, s] = stat


@njit(cache=True, nogil=True)
def standardize_into(values, mean, std, rows, out):
    """``out[rows[i]] = (values[i] - mean[:, None]) / std[:, None]`` in one pass.

    The input pipeline's normalise-and-scatter of a chunk's segments: the same float32
    subtraction and division as NumPy's (so the same bits), without its two passes over the
    chunk and the scatter's third.

    Parameters
    ----------
    values : np.ndarray [shape=(n, bands, t), dtype=float32]
    mean, std : np.ndarray [shape=(bands,), dtype=float32]
    rows : np.ndarray [shape=(n,), dtype=int]
        Output row of each segment.
    out : np.ndarray [shape=(N, bands, t), dtype=float32]
    """
    for i in range(values.shape[0]):
        target = out[rows[i]]
        for b in range(values.shape[1]):
            m = mean[b]
            s = std[b]
            for j in range(values.shape[2]):
                target[b, j] = (values[i, b, j] - m) / s
