"""Discrete cosine transform bases for cepstra (scipy.fft.dct conventions), and liftering.

An MFCC keeps only the first ``n_mfcc`` of ``n_mels`` DCT outputs, so a ``(n_mfcc, n_mels)``
basis applied as one matrix product (:func:`apply_basis`) is cheaper than a full fast
transform and equal to it.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def dct_basis(n_out: int, n_in: int, dct_type: int = 2, norm: str | None = "ortho") -> np.ndarray:
    """Matrix ``B`` with ``B @ x == scipy.fft.dct(x, type=dct_type, norm=norm)[:n_out]``.

    Parameters
    ----------
    n_out : int, 0 < n_out <= n_in
    n_in : int > 0 (> 1 for type 1)
    dct_type : {1, 2, 3}
    norm : {None, 'ortho'}

    Returns
    -------
    np.ndarray [shape=(n_out, n_in), dtype=float64]
    """
    k = np.arange(n_out, dtype=np.float64)[:, np.newaxis]
    n = np.arange(n_in, dtype=np.float64)[np.newaxis, :]
    if dct_type == 2:
        basis = 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in))
        if norm == "ortho":
            basis[0] *= np.sqrt(1.0 / (4 * n_in))
            basis[1:] *= np.sqrt(1.0 / (2 * n_in))
    elif dct_type == 3:
        basis = 2.0 * np.cos(np.pi * n * (2 * k + 1) / (2 * n_in))
        basis[:, 0] = 1.0
        if norm == "ortho":
            basis[:, 0] = 1.0 / np.sqrt(n_in)
            basis[:, 1:] *= np.sqrt(1.0 / (2 * n_in))
    elif dct_type == 1:
        basis = 2.0 * np.cos(np.pi * k * n / (n_in - 1))
        basis[:, 0] = 1.0
        basis[:, -1] = (-1.0) ** k[:, 0]
        if norm == "ortho":
            basis[:, 0] *= np.sqrt(2.0)
            basis[:, -1] *= np.sqrt(2.0)
            basis /= np.sqrt(2.0 * (n_in - 1))
            basis[0] /= np.sqrt(2.0)
            if n_out == n_in:
                basis[-1] /= np.sqrt(2.0)
    else:
        raise ValueError(f"unsupported dct_type {dct_type!r}; use 1, 2 or 3")
    return basis


def lifter_weights(n_mfcc: int, lifter: float) -> np.ndarray:
    """Cepstral lifter ``1 + (L / 2) sin(pi (n + 1) / L)`` for coefficients ``n < n_mfcc``.

    ``lifter = 0`` gives ones. Liftering re-weights higher coefficients, which otherwise are
    numerically much smaller, so that distances between cepstra weight them comparably.
    """
    if lifter <= 0:
        return np.ones(n_mfcc)
    return 1 + (lifter / 2) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter)


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def apply_basis(basis, values, out):
    """``out[b, c, t] = sum_m basis[c, m] values[b, m, t]``, summed in float64.

    A fixed loop rather than BLAS (whose rounding depends on its thread count), vectorised
    over frames.

    Parameters
    ----------
    basis : np.ndarray [shape=(c, m)]
    values : np.ndarray [shape=(b, m, t)]
    out : np.ndarray [shape=(b, c, t)]
    """
    n_b, n_m, n_t = values.shape
    acc = np.empty(n_t)
    for b in range(n_b):
        for c in range(basis.shape[0]):
            acc[:] = 0.0
            for m in range(n_m):
                weight = basis[c, m]
                row = values[b, m]
                for t in range(n_t):
                    acc[t] += weight * row[t]
            for t in range(n_t):
                out[b, c, t] = acc[t]
