"""Chroma and tonal features from the constant-Q transform (librosa.feature.spectral):
:func:`chroma_cqt`, :func:`chroma_cens` and :func:`tonnetz`.

Deliberate difference from librosa: outputs keep the input's float dtype (librosa's tonnetz
returns float64 for float32 chroma).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.signal

from sonicsep.errors import ParameterError
from sonicsep.features._validation import _fail, _positive_int, _real_float_array
from sonicsep.features.constantq import _check_norm, cqt
from sonicsep.features.filters import cq_to_chroma
from sonicsep.kernels.spectral import normalize

__all__ = ["chroma_cens", "chroma_cqt", "tonnetz"]

# chroma_cens' quantisation of L1-normalised chroma: thresholds and their weights.
_CENS_STEPS = (0.4, 0.2, 0.1, 0.05)
_CENS_WEIGHTS = (0.25, 0.25, 0.25, 0.25)


def _cqt_magnitude(y, sr, C, hop_length, fmin, tuning, n_octaves, bins_per_octave, cqt_mode):
    """The given ``C`` (validated) or ``|cqt(y)|`` over ``n_octaves`` octaves."""
    if cqt_mode != "full":
        _fail("cqt_mode", cqt_mode, "only 'full' is supported")
    if C is not None:
        return _real_float_array(C, "C", min_ndim=2)
    if y is None:
        raise ParameterError("at least one of C or y must be provided to compute chroma")
    n_octaves = _positive_int(n_octaves, "n_octaves")
    return np.abs(
        cqt(
            y,
            sr=sr,
            hop_length=hop_length,
            fmin=fmin,
            n_bins=n_octaves * bins_per_octave,
            bins_per_octave=bins_per_octave,
            tuning=tuning,
        )
    )


def chroma_cqt(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    C: np.ndarray | None = None,
    hop_length: int = 512,
    fmin: float | None = None,
    norm: float | None = np.inf,
    threshold: float = 0.0,
    tuning: float | None = None,
    n_chroma: int = 12,
    n_octaves: int = 7,
    window: np.ndarray | None = None,
    bins_per_octave: int | None = 36,
    cqt_mode: str = "full",
) -> np.ndarray:
    """Chromagram from a constant-Q transform (``librosa.feature.chroma_cqt``).

    ``normalize(cq_to_chroma @ |cqt(y)|)`` per frame, values below ``threshold`` zeroed first.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)] or None
    sr : float > 0
    C : np.ndarray [shape=(..., n_bins, t)] or None
        A constant-Q magnitude spectrogram used instead of ``y``.
    hop_length : int > 0
    fmin : float > 0 or None
        Lowest CQ bin (Hz); None is C1.
    norm : {None, np.inf, -np.inf, 0, float > 0}
        Per-frame normalisation (``librosa.util.normalize``).
    threshold : float or None
    tuning : float or None
        Deviation from A440 in fractions of a CQ bin; None estimates it from ``y``.
    n_chroma : int > 0
    n_octaves : int > 0
    window : np.ndarray or None
        Convolved with the CQ-to-chroma map (see ``filters.cq_to_chroma``).
    bins_per_octave : int or None
        A multiple of ``n_chroma``; None means ``n_chroma``.
    cqt_mode : {'full'}
        librosa's 'hybrid' is not supported (ParameterError).

    Returns
    -------
    np.ndarray [shape=(..., n_chroma, t), dtype=that of y or C]
    """
    n_chroma = _positive_int(n_chroma, "n_chroma")
    if bins_per_octave is None:
        bins_per_octave = n_chroma
    bins_per_octave = _positive_int(bins_per_octave, "bins_per_octave")
    if bins_per_octave % n_chroma != 0:
        _fail("bins_per_octave", bins_per_octave, f"must be a multiple of n_chroma={n_chroma}")
    C = _cqt_magnitude(y, sr, C, hop_length, fmin, tuning, n_octaves, bins_per_octave, cqt_mode)
    basis = cq_to_chroma(
        C.shape[-2], bins_per_octave=bins_per_octave, n_chroma=n_chroma, fmin=fmin, window=window
    )
    chroma = np.matmul(basis.astype(C.dtype), C)
    if threshold is not None:
        chroma[chroma < threshold] = 0.0
    return normalize(chroma, _check_norm(norm), axis=-2)


# chroma_cens' defaults (librosa's), also those of FMA's features, which compute it by _cens.
CENS_NORM = 2
CENS_WIN_LEN_SMOOTH = 41
CENS_WINDOW = "hann"


def chroma_cens(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    C: np.ndarray | None = None,
    hop_length: int = 512,
    fmin: float | None = None,
    tuning: float | None = None,
    n_chroma: int = 12,
    n_octaves: int = 7,
    bins_per_octave: int = 36,
    cqt_mode: str = "full",
    window: np.ndarray | None = None,
    norm: float | None = CENS_NORM,
    win_len_smooth: int | None = CENS_WIN_LEN_SMOOTH,
    smoothing_window=CENS_WINDOW,
) -> np.ndarray:
    """Chroma Energy Normalized Statistics (``librosa.feature.chroma_cens``).

    L1-normalised :func:`chroma_cqt` quantised to ``sum_i 0.25 [chroma > s_i]`` for
    ``s = (0.4, 0.2, 0.1, 0.05)``, smoothed over time by a normalised
    ``smoothing_window`` of ``win_len_smooth`` frames (zero-padded at the ends, as
    ``scipy.ndimage.convolve(mode='constant')``), then normalised per frame by ``norm``.

    Parameters
    ----------
    y, sr, C, hop_length, fmin, tuning, n_chroma, n_octaves, bins_per_octave, cqt_mode, window
        As :func:`chroma_cqt`.
    norm : {None, np.inf, -np.inf, 0, float > 0}
    win_len_smooth : int > 0 or None
        Smoothing length in frames; None for no smoothing.
    smoothing_window : str or tuple
        Any ``scipy.signal.get_window`` window (symmetric, ``win_len_smooth + 2`` points).

    Returns
    -------
    np.ndarray [shape=(..., n_chroma, t), dtype=that of y or C]
    """
    if not (
        win_len_smooth is None
        or (
            isinstance(win_len_smooth, (int, np.integer))
            and not isinstance(win_len_smooth, bool)
            and win_len_smooth > 0
        )
    ):
        _fail("win_len_smooth", win_len_smooth, "must be a positive integer or None")
    chroma = chroma_cqt(
        y=y,
        C=C,
        sr=sr,
        hop_length=hop_length,
        fmin=fmin,
        bins_per_octave=bins_per_octave,
        tuning=tuning,
        norm=None,
        n_chroma=n_chroma,
        n_octaves=n_octaves,
        cqt_mode=cqt_mode,
        window=window,
    )
    return _cens(chroma, _check_norm(norm), win_len_smooth, smoothing_window)


def _cens(
    chroma: np.ndarray,
    norm=CENS_NORM,
    win_len_smooth=CENS_WIN_LEN_SMOOTH,
    smoothing_window=CENS_WINDOW,
) -> np.ndarray:
    """chroma_cens from its un-normalised ``chroma_cqt(..., norm=None)`` (validated
    arguments; chroma_cens' defaults): FMA's features take chroma_cqt and chroma_cens of one
    CQT, one product."""
    chroma = normalize(chroma, 1, axis=-2)
    chroma_quant = np.zeros_like(chroma)
    for step, weight in zip(_CENS_STEPS, _CENS_WEIGHTS, strict=True):
        chroma_quant += (chroma > step) * weight
    if win_len_smooth:
        win = scipy.signal.get_window(smoothing_window, win_len_smooth + 2, fftbins=False)
        win /= np.sum(win)
        win = win.reshape((1,) * (chroma_quant.ndim - 1) + (-1,))
        cens = scipy.ndimage.convolve(chroma_quant, win, mode="constant")
    else:
        cens = chroma_quant
    return normalize(cens, norm, axis=-2)


def tonnetz(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    chroma: np.ndarray | None = None,
    **kwargs,
) -> np.ndarray:
    """Tonal centroid features (``librosa.feature.tonnetz``, Harte et al. 2006).

    The L1-normalised chroma projected onto three pairs of circles: fifths (radius 1), minor
    thirds (1) and major thirds (0.5), as (sin, cos) of each pitch class's angle.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)] or None
    sr : float > 0
    chroma : np.ndarray [shape=(..., n_chroma, t)] or None
        Used instead of ``y``.
    **kwargs
        Passed to :func:`chroma_cqt` when ``chroma`` is None.

    Returns
    -------
    np.ndarray [shape=(..., 6, t), dtype=that of y or chroma]
        Rows: fifth (x, y), minor third (x, y), major third (x, y).
    """
    if y is None and chroma is None:
        raise ParameterError("either the audio samples y or the chromagram must be given")
    if chroma is None:
        chroma = chroma_cqt(y=y, sr=sr, **kwargs)
    chroma = _real_float_array(chroma, "chroma", min_ndim=2)
    dim_map = np.linspace(0, 12, num=chroma.shape[-2], endpoint=False)
    scale = np.asarray([7.0 / 6, 7.0 / 6, 3.0 / 2, 3.0 / 2, 2.0 / 3, 2.0 / 3])
    V = np.multiply.outer(scale, dim_map)
    V[::2] -= 0.5
    R = np.array([1, 1, 1, 1, 0.5, 0.5])
    phi = R[:, np.newaxis] * np.cos(np.pi * V)
    ton = np.matmul(phi, normalize(chroma, 1, axis=-2))
    return ton.astype(chroma.dtype)
