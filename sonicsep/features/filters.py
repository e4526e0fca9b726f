"""Filterbanks (librosa.filters): mel and chroma, built once per parameter set and cached; the
constant-Q side's wavelet filters (``wavelet_lengths``, ``wavelet``) and ``cq_to_chroma``.

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
from sonicsep.kernels import cqt as cqt_kernels
from sonicsep.kernels import filterbanks, windows

__all__ = ["chroma", "cq_to_chroma", "mel", "wavelet", "wavelet_lengths"]

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
    known = _chroma_defaults()
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise TypeError(f"chroma_stft() got unexpected keyword arguments {unknown}")
    return {**known, **kwargs}


@functools.cache
def _chroma_defaults() -> dict:
    """:func:`chroma`'s defaults of the keywords chroma_stft passes on, read once (reading a
    signature costs ~0.1 ms, and a batch of segments asks for them once a segment)."""
    parameters = inspect.signature(chroma).parameters
    return {name: parameters[name].default for name in _CHROMA_STFT_KWARGS}


def _wavelet_args(freqs, sr, window, filter_scale, gamma, alpha):
    freqs = np.asarray(freqs, dtype=np.float64)
    if freqs.ndim != 1 or freqs.size == 0:
        _fail("freqs", freqs, "must be a non-empty 1-D array of frequencies")
    if not np.all(np.isfinite(freqs)) or np.any(freqs <= 0):
        _fail("freqs", freqs, "must be finite and strictly positive")
    if np.any(freqs[:-1] > freqs[1:]):
        _fail("freqs", freqs, "must be in ascending order")
    sr = _positive_number(sr, "sr")
    if windows.canonical_window_name(window) is None:
        _fail("window", window, f"unsupported; use one of {windows.WINDOW_NAMES}")
    filter_scale = _positive_number(filter_scale, "filter_scale")
    if gamma is not None and not (np.isfinite(gamma) and gamma >= 0):
        _fail("gamma", gamma, "must be a non-negative number or None")
    if alpha is None:
        if freqs.size < 2:
            _fail("freqs", freqs, "needs 2 or more frequencies to infer the bandwidths (alpha)")
        alpha = cqt_kernels.relative_bandwidth(freqs, 12)
    alpha = np.asarray(alpha, dtype=np.float64)
    return freqs, sr, window, filter_scale, gamma, alpha


def wavelet_lengths(
    *,
    freqs,
    sr: float = 22050,
    window="hann",
    filter_scale: float = 1,
    gamma: float | None = 0,
    alpha=None,
) -> tuple[np.ndarray, float]:
    """Wavelet filter lengths and cutoff (``librosa.filters.wavelet_lengths``).

    ``Q = filter_scale / alpha``; ``length = Q sr / (f + gamma / alpha)`` samples, and the
    cutoff is ``max(f (1 + B / (2 Q)) + gamma / 2)`` Hz with ``B`` the window's equivalent
    noise bandwidth (librosa's table).

    Parameters
    ----------
    freqs : np.ndarray [shape=(n,)]
        Centre frequencies (Hz), positive and ascending.
    sr : float > 0
    window : str
        One of ``sonicsep.kernels.windows.WINDOW_NAMES``.
    filter_scale : float > 0
    gamma : float >= 0 or None
        Bandwidth offset (0: constant-Q); None: librosa's ERB-derived offset.
    alpha : float, np.ndarray [shape=(n,)] or None
        Relative bandwidths; None derives them from the spacing of ``freqs`` (2 or more).

    Returns
    -------
    lengths : np.ndarray [shape=(n,)]
        Filter lengths in (fractional) samples.
    f_cutoff : float
        The highest frequency (Hz) any filter passes.
    """
    return cqt_kernels.wavelet_lengths(
        *_wavelet_args(freqs, sr, window, filter_scale, gamma, alpha)
    )


def wavelet(
    *,
    freqs,
    sr: float = 22050,
    window="hann",
    filter_scale: float = 1,
    pad_fft: bool = True,
    norm: float | None = 1,
    dtype=np.complex64,
    gamma: float = 0,
    alpha=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Windowed complex sinusoids at ``freqs`` (``librosa.filters.wavelet``).

    Filter ``i`` is ``exp(2j pi f_i n / sr) w(n)``, ``n`` over its length (centred), scaled to
    unit ``norm`` and centred in the common length.

    Parameters
    ----------
    freqs, sr, window, filter_scale, gamma, alpha
        As :func:`wavelet_lengths`.
    pad_fft : bool
        Round the common length up to a power of two.
    norm : {None, np.inf, -np.inf, 0, float > 0}
    dtype : complex dtype

    Returns
    -------
    filters : np.ndarray [shape=(n, length), dtype=dtype]
    lengths : np.ndarray [shape=(n,)]
    """
    freqs, sr, window, filter_scale, gamma, alpha = _wavelet_args(
        freqs, sr, window, filter_scale, gamma, alpha
    )
    lengths, _ = cqt_kernels.wavelet_lengths(freqs, sr, window, filter_scale, gamma, alpha)
    filters = cqt_kernels.wavelet_filters(freqs, lengths, sr, window, norm, pad_fft, dtype)
    return filters, lengths


@functools.lru_cache(maxsize=32)
def _cq_to_chroma_basis(n_input, bins_per_octave, n_chroma, fmin, base_c, dtype) -> np.ndarray:
    n_merge = float(bins_per_octave) / n_chroma
    cq_to_ch = np.repeat(np.eye(n_chroma), int(n_merge), axis=1)
    cq_to_ch = np.roll(cq_to_ch, -int(n_merge // 2), axis=1)
    n_octaves = np.ceil(float(n_input) / bins_per_octave)
    cq_to_ch = np.tile(cq_to_ch, int(n_octaves))[:, :n_input]
    midi_0 = np.mod(12 * (np.log2(fmin) - np.log2(440.0)) + 69, 12)
    roll = midi_0 if base_c else midi_0 - 9
    roll = int(np.round(roll * (n_chroma / 12.0)))
    basis = np.roll(cq_to_ch, roll, axis=0).astype(dtype)
    basis.setflags(write=False)
    return basis


def cq_to_chroma(
    n_input: int,
    *,
    bins_per_octave: int = 12,
    n_chroma: int = 12,
    fmin: float | None = None,
    window: np.ndarray | None = None,
    base_c: bool = True,
    dtype=np.float32,
) -> np.ndarray:
    """Matrix folding constant-Q bins onto chroma bins (``librosa.filters.cq_to_chroma``).

    Each chroma bin sums the ``bins_per_octave / n_chroma`` CQ bins around it in every
    octave; the rows are rolled so that row 0 is C (``base_c``) or A, given the first CQ
    bin's frequency ``fmin``.

    Parameters
    ----------
    n_input : int > 0
        Number of constant-Q bins.
    bins_per_octave : int > 0
        A multiple of ``n_chroma``.
    n_chroma : int > 0
    fmin : float > 0 or None
        Frequency of the first CQ bin; None is C1.
    window : np.ndarray or None
        Convolved with each row (``scipy.signal.convolve(..., mode='same')``), as librosa.
    base_c : bool
    dtype : np.dtype

    Returns
    -------
    np.ndarray [shape=(n_chroma, n_input), dtype=dtype]
    """
    n_input = _positive_int(n_input, "n_input")
    bins_per_octave = _positive_int(bins_per_octave, "bins_per_octave")
    n_chroma = _positive_int(n_chroma, "n_chroma")
    if bins_per_octave % n_chroma != 0:
        _fail(
            "bins_per_octave",
            bins_per_octave,
            f"must be an integer multiple of n_chroma={n_chroma} (incompatible CQ merge)",
        )
    fmin = cqt_kernels.C1_HZ if fmin is None else _positive_number(fmin, "fmin")
    basis = _cq_to_chroma_basis(
        n_input, bins_per_octave, n_chroma, fmin, bool(base_c), np.dtype(dtype).str
    )
    if window is None:
        return basis.copy()
    import scipy.signal  # imported on use: the rarely given window is all that needs it

    return scipy.signal.convolve(basis, np.atleast_2d(window), mode="same")
