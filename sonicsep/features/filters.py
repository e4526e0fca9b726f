"""Filterbanks (librosa.filters): mel and chroma, built once per parameter set and cached.

The module itself is the ``filters`` namespace of :mod:`sonicsep.features`, so
``features.filters.mel(sr=, n_fft=, ...)`` reads like ``librosa.filters.mel``.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from sonicsep.features._validation import (
    _fail,
    _frequency_range,
    _positive_int,
    _positive_number,
)
from sonicsep.kernels import filterbanks

__all__ = ["chroma", "mel"]

# chroma_stft's **kwargs: the chroma filterbank parameters it passes on.
_CHROMA_STFT_KWARGS = ("ctroct", "octwidth", "base_c", "dtype")


@functools.lru_cache(maxsize=32)
def _mel_basis(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype) -> np.ndarray:
    basis = filterbanks.mel_filterbank(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype)
    basis.setflags(write=False)
    return basis


@functools.lru_cache(maxsize=32)
def _mel_bands(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype):
    bands = filterbanks.band_rows(_mel_basis(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype))
    for array in bands:
        array.setflags(write=False)  # shared by every caller with these parameters
    return bands


def _check_mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype):
    sr, fmin, fmax = _frequency_range(sr, fmin, fmax)
    n_fft = _positive_int(n_fft, "n_fft")
    n_mels = _positive_int(n_mels, "n_mels")
    if not (norm is None or norm == "slaney" or isinstance(norm, (int, float))):
        _fail("norm", norm, "must be 'slaney', a number (an L-p norm) or None")
    return sr, n_fft, n_mels, fmin, fmax, bool(htk), norm, np.dtype(dtype).str


def mel(
    *,
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm="slaney",
    dtype=np.float32,
) -> np.ndarray:
    """Mel filterbank (``librosa.filters.mel``), available as ``features.filters.mel``.

    Triangles evenly spaced on the mel scale between ``fmin`` and ``fmax``: HTK
    (``2595 log10(1 + f / 700)``, i.e. ``1127 ln(1 + f / 700)``) when ``htk``, else Slaney's
    (linear to 1 kHz, logarithmic above). ``norm='slaney'`` divides each triangle by half its
    width in Hz (equal area); a number normalises each to that L-p norm; None leaves peaks at 1.

    Parameters
    ----------
    sr : float > 0
    n_fft : int > 0
    n_mels : int > 0
    fmin, fmax : float, 0 <= fmin < fmax <= sr / 2 (None: sr / 2)
    htk : bool
    norm : {'slaney', None} or float
    dtype : np.dtype
        Weights dtype; float32, librosa's default, rounds them as librosa does.

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n_fft // 2)]
    """
    args = _check_mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype)
    return _mel_basis(*args).copy()


@functools.lru_cache(maxsize=32)
def _chroma_basis(sr, n_fft, n_chroma, tuning, ctroct, octwidth, norm, base_c, dtype):
    basis = filterbanks.chroma_filterbank(
        sr, n_fft, n_chroma, tuning, ctroct, octwidth, norm, base_c, dtype
    )
    basis.setflags(write=False)
    return basis


def chroma(
    *,
    sr: float,
    n_fft: int,
    n_chroma: int = 12,
    tuning: float = 0.0,
    ctroct: float = 5.0,
    octwidth: float | None = 2,
    norm: float | None = 2,
    base_c: bool = True,
    dtype=np.float32,
) -> np.ndarray:
    """Chroma filterbank (``librosa.filters.chroma``), available as ``features.filters.chroma``.

    Parameters
    ----------
    sr : float > 0
    n_fft : int > 0
    n_chroma : int > 0
        Pitch classes per octave.
    tuning : float
        Deviation from A440 in fractions of a chroma bin.
    ctroct, octwidth : float
        Centre and width (octaves) of the Gaussian octave weighting; ``octwidth=None`` for
        none.
    norm : float or None
        Norm each FFT bin's column is scaled to.
    base_c : bool
        Start at C (True) or A (False).
    dtype : np.dtype

    Returns
    -------
    np.ndarray [shape=(n_chroma, 1 + n_fft // 2)]
    """
    args = _check_chroma_args(sr, n_fft, n_chroma, tuning, ctroct, octwidth, norm, base_c, dtype)
    return _chroma_basis(*args).copy()


def _check_chroma_args(sr, n_fft, n_chroma, tuning, ctroct, octwidth, norm, base_c, dtype):
    sr = _positive_number(sr, "sr")
    if not np.isfinite(tuning):
        _fail("tuning", tuning, "must be a finite number of chroma bins")
    return (
        sr,
        _positive_int(n_fft, "n_fft"),
        _positive_int(n_chroma, "n_chroma"),
        float(tuning),
        float(ctroct),
        None if octwidth is None else float(octwidth),
        norm,
        bool(base_c),
        np.dtype(dtype).str,
    )


def _chroma_kwargs(kwargs: dict) -> dict:
    """chroma_stft's filterbank ``kwargs`` completed with :func:`chroma`'s defaults."""
    parameters = inspect.signature(chroma).parameters
    known = {name: parameters[name].default for name in _CHROMA_STFT_KWARGS}
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise TypeError(f"chroma_stft() got unexpected keyword arguments {unknown}")
    return {**known, **kwargs}
