"""librosa-compatible feature functions, and :class:`FeatureExtractor` (one STFT, every feature).

The functions carry librosa 0.11's names, keyword arguments and defaults, so
``librosa.feature.mfcc(y=y, sr=sr)`` becomes ``sonicsep.features.mfcc(y=y, sr=sr)`` with the
same numbers (float64 to ~1e-12 of the largest value, float32 to ~1e-6). Deliberate
differences: outputs keep the input's float dtype (librosa returns float64 for some float32
descriptors and float32 RMS for float64 input); ``chroma_stft`` does not estimate tuning (see
its docstring); windows are named ones (hann, hamming, blackman, bartlett, boxcar and their
scipy aliases), arrays or callables, not scipy's parametrised tuples; ``pad_mode`` is
'constant', 'reflect' or 'edge'; ``freq`` arrays are 1-D; and integer, complex or non-finite
input is refused rather than cast. Invalid input raises
:class:`sonicsep.errors.ParameterError` naming the parameter and its value.

:class:`FeatureExtractor` computes a whole configured feature set from one STFT per signal or
batch of segments, with filterbanks, DCT basis and FFT plans built once per configuration.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np

from sonicsep.config import FeatureConfig
from sonicsep.errors import ParameterError
from sonicsep.kernels import db as db_kernels
from sonicsep.kernels import dct as dct_kernels
from sonicsep.kernels import fft as fft_kernels
from sonicsep.kernels import filterbanks, framing, spectral, stats, temporal, windows

__all__ = [
    "FeatureExtractor",
    "amplitude_envelope",
    "chroma_stft",
    "filters",
    "melspectrogram",
    "mfcc",
    "onset_strength",
    "power_to_db",
    "rms",
    "spectral_bandwidth",
    "spectral_centroid",
    "spectral_contrast",
    "spectral_flatness",
    "spectral_rolloff",
    "stft",
    "zero_crossing_rate",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_STFT_PAD_MODES = ("constant", "reflect", "edge")


# --------------------------------------------------------------------------- validation
def _fail(param: str, value, why: str):
    raise ParameterError(f"invalid {param}={_describe(value)}: {why}")


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"<array shape={value.shape} dtype={value.dtype}>"
    return repr(value)


def _real_float_array(x, param: str, min_ndim: int = 1) -> np.ndarray:
    """``x`` as a finite float32/float64 array of at least ``min_ndim`` dimensions."""
    if not isinstance(x, np.ndarray):
        _fail(param, x, f"must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        _fail(param, x, "must be real floating point (float32 or float64)")
    if x.ndim < min_ndim:
        _fail(param, x, f"must have at least {min_ndim} dimension(s)")
    if not np.isfinite(x).all():
        _fail(param, x, "contains NaN or infinite values")
    return x


def _audio(y, param: str = "y") -> np.ndarray:
    y = _real_float_array(y, param)
    if y.shape[-1] == 0:
        _fail(param, y, "is empty")
    return y


def _spectrogram_input(S) -> np.ndarray:
    S = _real_float_array(S, "S", min_ndim=2)
    if (S < 0).any():
        _fail("S", S, "must be non-negative (a magnitude or power spectrogram)")
    return S


def _positive_int(value, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        _fail(param, value, "must be a positive integer")
    return int(value)


def _positive_number(value, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        _fail(param, value, "must be a positive number")
    if not np.isfinite(value) or value <= 0:
        _fail(param, value, "must be a positive number")
    return float(value)


def _frequency_range(sr, fmin, fmax) -> tuple[float, float, float]:
    sr = _positive_number(sr, "sr")
    fmax = sr / 2 if fmax is None else fmax
    if not np.isfinite(fmin) or fmin < 0:
        _fail("fmin", fmin, "must be >= 0 Hz")
    if not np.isfinite(fmax) or fmax > sr / 2:
        _fail("fmax", fmax, f"must be at most the Nyquist frequency sr/2 = {sr / 2} Hz")
    if fmin >= fmax:
        _fail("fmin", fmin, f"must be below fmax = {fmax} Hz")
    return sr, float(fmin), float(fmax)


def _fft_window(window, n_fft: int, win_length: int | None) -> np.ndarray:
    """The analysis window for ``window`` (name, array or callable), centred in ``n_fft``."""
    n_fft = _positive_int(n_fft, "n_fft")
    win_length = n_fft if win_length is None else _positive_int(win_length, "win_length")
    if win_length > n_fft:
        _fail("win_length", win_length, f"must be <= n_fft = {n_fft}")
    if isinstance(window, str):
        if windows.canonical_window_name(window) is None:
            _fail("window", window, f"unsupported; use one of {sorted(windows.WINDOW_ALIASES)}")
        values = windows.get_window(window, win_length)
    elif callable(window):
        values = np.asarray(window(win_length), dtype=np.float64)
    elif isinstance(window, (np.ndarray, list)):
        values = np.asarray(window, dtype=np.float64)
    else:
        _fail("window", window, "must be a window name, an array or a callable")
    if values.shape != (win_length,):
        _fail("window", window, f"must have win_length = {win_length} samples")
    return windows.pad_center(values, n_fft)


def _batch(x: np.ndarray, core_ndim: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` with its leading axes flattened into one batch axis, and those axes' shape."""
    lead = x.shape[: x.ndim - core_ndim]
    return x.reshape((-1,) + x.shape[x.ndim - core_ndim :]), lead


# --------------------------------------------------------------------------- spectrograms
def _framed_input(y, n_fft, hop_length, win_length, window, center, pad_mode):
    """Validated STFT inputs: ``(signals (batch, n), leading axes of y, window (n_fft,))``."""
    y = _audio(y)
    window_values = _fft_window(window, n_fft, win_length)
    hop_length = _positive_int(hop_length, "hop_length")
    if pad_mode not in _STFT_PAD_MODES:
        _fail("pad_mode", pad_mode, f"must be one of {_STFT_PAD_MODES}")
    if not center and n_fft > y.shape[-1]:
        _fail(
            "n_fft", n_fft, f"is longer than the signal ({y.shape[-1]} samples) with center=False"
        )
    signals, lead = _batch(np.ascontiguousarray(y), 1)
    return signals, lead, window_values


def _frames_major(S: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """A librosa-layout spectrogram ``(.., k, t)`` as ``(batch, t, k)`` (a view when possible)."""
    batch, lead = _batch(S, 2)
    return batch.swapaxes(1, 2), lead


def _spectrogram(y, S, n_fft, hop_length, power, win_length, window, center, pad_mode):
    """``|STFT(y)| ** power`` frames-major, or the given ``S``; with the inferred ``n_fft``.

    Returns ``(spec, lead, n_fft)``: ``spec`` is ``(batch, t, k)`` real, ``lead`` the leading
    axes of the input. As in librosa, a given ``S`` fixes ``n_fft = 2 (k - 1)`` unless the
    given ``n_fft`` already matches it.
    """
    if S is not None:
        S = _spectrogram_input(S)
        if n_fft is None or n_fft // 2 + 1 != S.shape[-2]:
            n_fft = 2 * (S.shape[-2] - 1)
        spec, lead = _frames_major(S)
        return spec, lead, n_fft
    if y is None:
        raise ParameterError("either y (audio) or S (a spectrogram) must be given")
    signals, lead, window_values = _framed_input(
        y, n_fft, hop_length, win_length, window, center, pad_mode
    )
    spec = fft_kernels.stft_magnitude(
        signals, window_values, hop_length, bool(center), pad_mode, float(power)
    )
    return spec, lead, n_fft


def _librosa_layout(out: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """``(batch, c, t)`` back to the input's leading axes: ``(.., c, t)``."""
    return out.reshape(lead + out.shape[1:])


def _frequencies(freq, sr, n_fft, n_bins) -> np.ndarray:
    if freq is None:
        return filterbanks.fft_frequencies(_positive_number(sr, "sr"), n_fft)
    freq = np.asarray(freq, dtype=np.float64)
    if freq.shape != (n_bins,):
        _fail("freq", freq, f"must be a 1-D array of {n_bins} bin frequencies")
    return freq


def stft(
    y: np.ndarray,
    *,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    dtype=None,
    pad_mode: str = "constant",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Short-time Fourier transform (``librosa.stft``).

    ``D[.., k, t] = sum_n y[.., t * hop_length + n - pad] w[n] exp(-2j pi k n / n_fft)``, with
    ``pad = n_fft // 2`` when ``center`` (the signal padded by ``pad_mode``) and 0 otherwise.
    Frames are windowed and transformed a cache-sized block at a time through a planned FFTW
    real FFT, in the input's precision: float32 input gets a float32 FFT (librosa runs a
    float64 FFT and rounds), so values differ from librosa's by ~1e-7 of a frame's peak.
    The feature functions below compute their spectra in float64 whatever the input.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n), dtype=float32 or float64]
        Audio, finite; leading axes (channels, segments) are transformed independently.
    n_fft : int > 0
        FFT size (frame length).
    hop_length : int > 0 or None
        Samples between frames; None means ``win_length // 4``.
    win_length : int <= n_fft or None
        Window length (centred, zero-padded to ``n_fft``); None means ``n_fft``.
    window : str, np.ndarray [shape=(win_length,)] or callable
        'hann' (periodic, default), 'hamming', 'blackman', 'bartlett', 'boxcar' (aliases
        'rect', 'rectangular', 'ones') or scipy's other aliases of those; or the window
        values; or a function of the window length.
    center : bool
        Pad so that frame ``t`` is centred on sample ``t * hop_length``.
    dtype : complex dtype or None
        Output dtype; None gives complex64 for float32 input, complex128 for float64.
    pad_mode : {'constant', 'reflect', 'edge'}
        Padding for ``center``.
    out : np.ndarray [shape=(..., 1 + n_fft // 2, >= t), complex] or None
        Array to write into (librosa's ``out``); the result is its first ``t`` columns.

    Returns
    -------
    np.ndarray [shape=(..., 1 + n_fft // 2, t), dtype=complex]
        Fortran-ordered in its last two axes, like librosa's.
    """
    if hop_length is None:
        hop_length = (n_fft if win_length is None else win_length) // 4
    signals, lead, window_values = _framed_input(
        y, n_fft, hop_length, win_length, window, center, pad_mode
    )
    spec = fft_kernels.stft_frames(signals, window_values, hop_length, bool(center), pad_mode)
    result = _librosa_layout(spec.swapaxes(1, 2), lead)
    if dtype is not None:
        result = result.astype(dtype)
    if out is None:
        return result
    if (
        not np.iscomplexobj(out)
        or out.shape[:-1] != result.shape[:-1]
        or (out.shape[-1] < result.shape[-1])
    ):
        _fail(
            "out",
            out,
            f"must be a complex array of shape {result.shape[:-1]} + (>= {result.shape[-1]},)",
        )
    out[..., : result.shape[-1]] = result
    return out[..., : result.shape[-1]]


# --------------------------------------------------------------------------- filterbanks
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


filters = SimpleNamespace(mel=mel, chroma=chroma)
"""librosa.filters look-alike: ``filters.mel(sr=, n_fft=, ...)``, ``filters.chroma(...)``."""


# --------------------------------------------------------------------------- mel, dB, MFCC
def melspectrogram(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm="slaney",
    dtype=np.float32,
) -> np.ndarray:
    """Mel-scaled spectrogram (``librosa.feature.melspectrogram``).

    ``M = mel_basis @ |STFT(y)| ** power``, or ``mel_basis @ S`` for a given spectrogram.
    Each mel filter is non-zero on a few dozen bins only, so the product runs over those
    spans (identical sums, a fraction of the work of a dense product).

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)] or None
        Audio (float32 or float64).
    sr : float > 0
    S : np.ndarray [shape=(..., 1 + n_fft // 2, t)] or None
        A spectrogram used instead of ``y`` (already raised to ``power``).
    n_fft, hop_length, win_length, window, center, pad_mode
        STFT parameters, see :func:`stft`.
    power : float > 0
        Exponent of the magnitude: 1 energy, 2 power.
    n_mels, fmin, fmax, htk, norm, dtype
        Mel filterbank parameters, see :func:`mel` (``dtype`` is the filterbank's).

    Returns
    -------
    np.ndarray [shape=(..., n_mels, t), dtype=that of y or S]
    """
    power = _positive_number(power, "power")
    spec, lead, n_fft = _spectrogram(
        y, S, n_fft, hop_length, power, win_length, window, center, pad_mode
    )
    bands = _mel_bands(*_check_mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype))
    out = np.empty((spec.shape[0], n_mels, spec.shape[1]), dtype=spec.dtype)
    spectral.banded_product(spec, 1.0, *bands, out)
    return _librosa_layout(out, lead)


def power_to_db(S: np.ndarray, *, ref=1.0, amin: float = 1e-10, top_db: float | None = 80.0):
    """Power spectrogram to decibels (``librosa.power_to_db``).

    ``10 log10(max(amin, S)) - 10 log10(max(amin, |ref|))``, then, with ``top_db``, raised to
    at least ``max - top_db`` where the maximum is over the whole of ``S`` (as librosa; a batch
    of segments therefore shares one floor, see :class:`FeatureExtractor` for one floor per
    segment).

    Parameters
    ----------
    S : np.ndarray [shape=(...), dtype=float32 or float64]
        Power (non-negative), e.g. ``np.abs(D) ** 2``.
    ref : float or callable
        Reference power, or a function of ``S`` returning it (e.g. ``np.max``).
    amin : float > 0
        Floor on the power, avoiding log(0).
    top_db : float >= 0 or None
        Dynamic range kept below the peak.

    Returns
    -------
    np.ndarray [shape=S.shape, dtype=S.dtype]
    """
    S = _real_float_array(S, "S", min_ndim=0)
    amin = _positive_number(amin, "amin")
    if top_db is not None and (not np.isfinite(top_db) or top_db < 0):
        _fail("top_db", top_db, "must be >= 0 or None")
    ref_value = ref(S) if callable(ref) else np.abs(ref)
    # The same NumPy expression as librosa, so the offset has librosa's dtype and rounding.
    ref_db = 10.0 * np.log10(np.maximum(amin, ref_value))
    return db_kernels.power_to_db(S, ref_db, amin, top_db)


def _cepstrum_basis(n_mfcc: int, n_mels: int, dct_type: int, norm, lifter: float) -> np.ndarray:
    """DCT rows ``0 .. n_mfcc - 1`` with the lifter folded in: one matrix for all of MFCC."""
    if dct_type not in (1, 2, 3):
        _fail("dct_type", dct_type, "must be 1, 2 or 3")
    if norm not in (None, "ortho"):
        _fail("norm", norm, "must be 'ortho' or None")
    if dct_type == 1 and n_mels < 2:
        _fail("n_mels", n_mels, "must be >= 2 for a type-1 DCT")
    if lifter < 0 or not np.isfinite(lifter):
        _fail("lifter", lifter, "must be >= 0")
    basis = dct_kernels.dct_basis(n_mfcc, n_mels, dct_type, norm)
    return basis * dct_kernels.lifter_weights(n_mfcc, lifter)[:, np.newaxis]


def mfcc(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    n_mfcc: int = 20,
    dct_type: int = 2,
    norm: str | None = "ortho",
    lifter: float = 0,
    mel_norm="slaney",
    **kwargs,
) -> np.ndarray:
    """Mel-frequency cepstral coefficients (``librosa.feature.mfcc``).

    ``M = DCT(power_to_db(melspectrogram(y)))[:n_mfcc]``, each coefficient ``n`` then scaled by
    ``1 + (lifter / 2) sin(pi (n + 1) / lifter)`` when ``lifter > 0``. The truncated DCT is
    one ``(n_mfcc, n_mels)`` matrix product. As in librosa, the dB floor (``top_db=80``) is
    relative to the peak of the whole input, channels included.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)] or None
    sr : float > 0
    S : np.ndarray [shape=(..., n_mels, t)] or None
        A log-power mel spectrogram used instead of ``y``.
    n_mfcc : int, 0 < n_mfcc <= n_mels
    dct_type : {1, 2, 3}
    norm : {'ortho', None}
        DCT normalisation (orthonormal by default).
    lifter : float >= 0
    mel_norm : {'slaney', None} or float
        ``norm`` of the mel filterbank.
    **kwargs
        Further :func:`melspectrogram` parameters (n_fft, hop_length, n_mels, fmin, ...).

    Returns
    -------
    np.ndarray [shape=(..., n_mfcc, t), dtype=that of y or S]
    """
    if S is None:
        S = power_to_db(melspectrogram(y=y, sr=sr, norm=mel_norm, **kwargs))
    S = _real_float_array(S, "S", min_ndim=2)
    n_mfcc = _positive_int(n_mfcc, "n_mfcc")
    if n_mfcc > S.shape[-2]:
        _fail("n_mfcc", n_mfcc, f"must be <= the number of mel bands ({S.shape[-2]})")
    basis = _cepstrum_basis(n_mfcc, S.shape[-2], dct_type, norm, lifter)
    return _cepstra(basis, S)


def _cepstra(basis: np.ndarray, spec_db: np.ndarray) -> np.ndarray:
    """``basis @ spec_db`` over the band axis of ``(.., m, t)``, in ``spec_db``'s dtype."""
    values, lead = _batch(np.ascontiguousarray(spec_db), 2)
    out = np.empty((values.shape[0], basis.shape[0], values.shape[2]), dtype=values.dtype)
    dct_kernels.apply_basis(basis, values, out)
    return _librosa_layout(out, lead)


# --------------------------------------------------------------------------- time domain
def rms(
    *,
    y: np.ndarray | None = None,
    S: np.ndarray | None = None,
    frame_length: int = 2048,
    hop_length: int = 512,
    center: bool = True,
    pad_mode: str = "constant",
    dtype=None,
) -> np.ndarray:
    """Root-mean-square energy of each frame (``librosa.feature.rms``).

    From ``y``: ``sqrt(mean(frame ** 2))`` over raw (unwindowed) frames of ``frame_length``,
    padded by ``frame_length // 2`` (``pad_mode``) when ``center``. From an STFT ``S``:
    Parseval's ``sqrt(2 sum_k |S_k| ** 2 / frame_length ** 2)`` with the DC (and, for even
    ``frame_length``, Nyquist) bins counted half, which includes the analysis window.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)] or None
    S : np.ndarray [shape=(..., 1 + frame_length // 2, t)] or None
        STFT magnitudes or complex values.
    frame_length, hop_length : int > 0
    center : bool
    pad_mode : {'constant', 'reflect', 'edge'}
    dtype : np.dtype or None
        Output dtype; None (unlike librosa's float32 default) keeps the input's precision.

    Returns
    -------
    np.ndarray [shape=(..., 1, t)]
    """
    frame_length = _positive_int(frame_length, "frame_length")
    if y is not None:
        signals, lead, out, offset, mode = _time_frames(
            y, frame_length, hop_length, center, pad_mode
        )
        temporal.rms(signals, frame_length, hop_length, offset, mode, out)
        result = _librosa_layout(out, lead)
    elif S is not None:
        if (
            not isinstance(S, np.ndarray)
            or S.ndim < 2
            or not (np.iscomplexobj(S) or S.dtype in _FLOATS)
        ):
            _fail("S", S, "must be a real or complex float array of at least 2 dimensions")
        if not np.isfinite(S).all():
            _fail("S", S, "contains NaN or infinite values")
        if S.shape[-2] != frame_length // 2 + 1:
            _fail("frame_length", frame_length, f"does not match S.shape[-2] = {S.shape[-2]}")
        power_spec = np.abs(S) ** 2
        power_spec[..., 0, :] *= 0.5
        if frame_length % 2 == 0:
            power_spec[..., -1, :] *= 0.5
        result = np.sqrt(2 * np.sum(power_spec, axis=-2, keepdims=True) / frame_length**2)
    else:
        raise ParameterError("either y (audio) or S (an STFT) must be given")
    return result if dtype is None else result.astype(dtype)


def _time_frames(y, frame_length, hop_length, center, pad_mode):
    """Validated framing of raw samples: ``(signals (b, n), leading axes, out (b, 1, t),
    offset of the first frame, padding code)``."""
    y = _audio(y)
    frame_length = _positive_int(frame_length, "frame_length")
    hop_length = _positive_int(hop_length, "hop_length")
    if pad_mode not in framing.PAD_MODES:
        _fail("pad_mode", pad_mode, f"must be one of {tuple(framing.PAD_MODES)}")
    signals, lead = _batch(np.ascontiguousarray(y), 1)
    n_out = framing.n_frames(signals.shape[1], frame_length, hop_length, bool(center))
    if n_out == 0:
        _fail(
            "frame_length", frame_length, f"is longer than the signal ({signals.shape[1]} samples)"
        )
    out = np.empty((signals.shape[0], 1, n_out), dtype=signals.dtype)
    offset = frame_length // 2 if center else 0
    return signals, lead, out, offset, framing.PAD_MODES[pad_mode]


def amplitude_envelope(
    y: np.ndarray,
    *,
    frame_length: int = 2048,
    hop_length: int = 512,
    center: bool = True,
    pad_mode: str = "constant",
) -> np.ndarray:
    """Amplitude envelope: the largest absolute sample of each frame (no librosa namesake).

    Frames as :func:`rms` from ``y``: ``frame_length`` raw samples every ``hop_length``,
    padded by ``frame_length // 2`` (``pad_mode``) when ``center``.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)]
    frame_length, hop_length : int > 0
    center : bool
    pad_mode : {'constant', 'reflect', 'edge'}

    Returns
    -------
    np.ndarray [shape=(..., 1, t), dtype=y.dtype]
    """
    signals, lead, out, offset, mode = _time_frames(y, frame_length, hop_length, center, pad_mode)
    temporal.amplitude_envelope(signals, frame_length, hop_length, offset, mode, out)
    return _librosa_layout(out, lead)


def zero_crossing_rate(
    y: np.ndarray,
    *,
    frame_length: int = 2048,
    hop_length: int = 512,
    center: bool = True,
    threshold: float = 1e-10,
    ref_magnitude=None,
    pad: bool = False,
    zero_pos: bool = True,
) -> np.ndarray:
    """Zero-crossing rate of each frame (``librosa.feature.zero_crossing_rate``).

    Samples within ``threshold`` of zero count as zero; a crossing is a change of sign
    between consecutive samples of a frame (zero is positive when ``zero_pos``, a sign of its
    own otherwise); the rate is crossings over ``frame_length``. With ``center`` the signal is
    padded by repeating its edge samples (librosa's ``mode='edge'``), which adds no crossing.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)]
    frame_length, hop_length : int > 0
    center : bool
    threshold : float >= 0
    ref_magnitude : float, callable or None
        Scales ``threshold``; a callable gets the absolute values of all frames.
    pad : bool
        Count each frame's first sample as a crossing (librosa's ``pad``).
    zero_pos : bool

    Returns
    -------
    np.ndarray [shape=(..., 1, t), dtype=y.dtype]
    """
    signals, lead, out, offset, edge = _time_frames(y, frame_length, hop_length, center, "edge")
    if callable(ref_magnitude):
        frames = _edge_padded_frames(y, frame_length, hop_length, center)
        threshold = threshold * ref_magnitude(np.abs(frames))
    elif ref_magnitude is not None:
        threshold = threshold * ref_magnitude
    if np.ndim(threshold) != 0 or not np.isfinite(threshold) or threshold < 0:
        _fail("threshold", threshold, "must be one finite number >= 0 (after ref_magnitude)")
    temporal.zero_crossing_rate(
        signals,
        frame_length,
        hop_length,
        offset,
        edge,
        signals.dtype.type(threshold),
        bool(zero_pos),
        bool(pad),
        out,
    )
    return _librosa_layout(out, lead)


def _edge_padded_frames(y, frame_length, hop_length, center) -> np.ndarray:
    """The frames librosa's zero_crossing_rate sees, for a callable ``ref_magnitude``."""
    if center:
        pad = [(0, 0)] * (y.ndim - 1) + [(frame_length // 2, frame_length // 2)]
        y = np.pad(y, pad, mode="edge")
    frames = np.lib.stride_tricks.sliding_window_view(y, frame_length, axis=-1)[
        ..., ::hop_length, :
    ]
    return frames.swapaxes(-1, -2)


# --------------------------------------------------------------------------- descriptors
def _magnitude(y, S, n_fft, hop_length, win_length, window, center, pad_mode):
    return _spectrogram(y, S, n_fft, hop_length, 1.0, win_length, window, center, pad_mode)


def spectral_centroid(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    n_fft: int = 2048,
    hop_length: int = 512,
    freq: np.ndarray | None = None,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
) -> np.ndarray:
    """Spectral centroid (``librosa.feature.spectral_centroid``).

    ``sum_k f_k S_k / sum_k S_k`` for each frame of the magnitude spectrogram; a silent frame
    gives 0 Hz.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)] or None
    sr : float > 0
    S : np.ndarray [shape=(..., 1 + n_fft // 2, t)] or None
        Magnitude spectrogram (non-negative) used instead of ``y``.
    freq : np.ndarray [shape=(1 + n_fft // 2,)] or None
        Bin frequencies; None for the FFT bins' centres.
    n_fft, hop_length, win_length, window, center, pad_mode
        STFT parameters, see :func:`stft`.

    Returns
    -------
    np.ndarray [shape=(..., 1, t), dtype=that of y or S]
    """
    mag, lead, n_fft = _magnitude(y, S, n_fft, hop_length, win_length, window, center, pad_mode)
    freq = _frequencies(freq, sr, n_fft, mag.shape[2])
    out = np.empty((mag.shape[0], 1, mag.shape[1]), dtype=mag.dtype)
    spectral.centroid(mag, freq, np.finfo(mag.dtype).tiny, out)
    return _librosa_layout(out, lead)


def spectral_bandwidth(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    freq: np.ndarray | None = None,
    centroid: np.ndarray | None = None,
    norm: bool = True,
    p: float = 2,
) -> np.ndarray:
    """p-th order spectral bandwidth (``librosa.feature.spectral_bandwidth``).

    ``(sum_k S_k |f_k - centroid| ** p) ** (1 / p)``, with ``S`` normalised to sum 1 per frame
    when ``norm``.

    Parameters
    ----------
    y, sr, S, n_fft, hop_length, win_length, window, center, pad_mode, freq
        As :func:`spectral_centroid`.
    centroid : np.ndarray [shape=(..., 1, t)] or None
        Precomputed centroids; None computes them (in float64) from ``S``.
    norm : bool
    p : float > 0

    Returns
    -------
    np.ndarray [shape=(..., 1, t), dtype=that of y or S]
    """
    p = _positive_number(p, "p")
    mag, lead, n_fft = _magnitude(y, S, n_fft, hop_length, win_length, window, center, pad_mode)
    freq = _frequencies(freq, sr, n_fft, mag.shape[2])
    tiny = np.finfo(mag.dtype).tiny
    shape = (mag.shape[0], 1, mag.shape[1])
    if centroid is None:
        centroids = np.empty(shape, dtype=np.float64)
        spectral.centroid(mag, freq, tiny, centroids)
    else:
        centroids = np.asarray(centroid, dtype=np.float64)
        if centroids.shape != lead + shape[1:]:
            _fail("centroid", centroid, f"must have shape {lead + shape[1:]}")
        centroids = centroids.reshape(shape)
    out = np.empty(shape, dtype=mag.dtype)
    spectral.bandwidth(mag, freq, centroids, bool(norm), p, tiny, out)
    return _librosa_layout(out, lead)


def spectral_rolloff(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    freq: np.ndarray | None = None,
    roll_percent: float = 0.85,
) -> np.ndarray:
    """Roll-off frequency (``librosa.feature.spectral_rolloff``).

    The centre frequency of the first bin at which the cumulative magnitude reaches
    ``roll_percent`` of the frame's total.

    Parameters
    ----------
    y, sr, S, n_fft, hop_length, win_length, window, center, pad_mode, freq
        As :func:`spectral_centroid`.
    roll_percent : float, 0 < roll_percent < 1

    Returns
    -------
    np.ndarray [shape=(..., 1, t), dtype=that of y or S]
    """
    if not 0.0 < roll_percent < 1.0:
        _fail("roll_percent", roll_percent, "must lie in (0, 1)")
    mag, lead, n_fft = _magnitude(y, S, n_fft, hop_length, win_length, window, center, pad_mode)
    freq = _frequencies(freq, sr, n_fft, mag.shape[2])
    out = np.empty((mag.shape[0], 1, mag.shape[1]), dtype=mag.dtype)
    spectral.rolloff(mag, freq, mag.dtype.type(roll_percent), out)
    return _librosa_layout(out, lead)


def spectral_flatness(
    *,
    y: np.ndarray | None = None,
    S: np.ndarray | None = None,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    amin: float = 1e-10,
    power: float = 2.0,
) -> np.ndarray:
    """Spectral flatness (``librosa.feature.spectral_flatness``), Dubnov's tonality measure.

    Geometric over arithmetic mean of ``max(amin, S ** power)`` across bins: near 1 for
    white noise, near 0 for a pure tone.

    Parameters
    ----------
    y, S, n_fft, hop_length, win_length, window, center, pad_mode
        As :func:`spectral_centroid` (``S`` a magnitude spectrogram).
    amin : float > 0
    power : float > 0

    Returns
    -------
    np.ndarray [shape=(..., 1, t), dtype=that of y or S]
    """
    amin = _positive_number(amin, "amin")
    power = _positive_number(power, "power")
    mag, lead, _ = _magnitude(y, S, n_fft, hop_length, win_length, window, center, pad_mode)
    return _librosa_layout(spectral.flatness(mag, power, amin), lead)


def _contrast_bands(freq: np.ndarray, sr: float, fmin: float, n_bands: int):
    """Bin spans of the octave sub-bands of spectral contrast, exactly as librosa cuts them.

    Band ``k`` holds the bins in ``[fmin 2**(k-1), fmin 2**k]`` (band 0: ``[0, fmin]``) plus
    the bin just below (k > 0); the top band also takes every bin above. All but the top band
    then drop their last bin, but the count behind the quantile is taken before that.
    """
    if np.any(np.diff(freq) <= 0):
        _fail("freq", freq, "must increase strictly for spectral contrast's octave bands")
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    if np.any(octa[:-1] >= 0.5 * sr):
        _fail("n_bands", n_bands, f"with fmin={fmin} puts a band edge above sr/2 = {sr / 2} Hz")
    starts, stops, counts = [], [], []
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:], strict=True)):
        idx = np.flatnonzero((freq >= f_low) & (freq <= f_high))
        if idx.size == 0:
            _fail(
                "n_fft",
                2 * (freq.size - 1),
                f"leaves contrast band {k} ({f_low}-{f_high} Hz) without bins",
            )
        start = idx[0] - 1 if k > 0 else idx[0]
        stop = freq.size if k == n_bands else idx[-1] + 1
        starts.append(start)
        counts.append(stop - start)
        stops.append(stop if k == n_bands else stop - 1)
    return np.array(starts), np.array(stops), np.array(counts)


def _contrast_db(peak: np.ndarray, valley: np.ndarray, floor_axes) -> np.ndarray:
    """``power_to_db(peak) - power_to_db(valley)`` with librosa's defaults, floored over
    ``floor_axes`` (None: the whole batch, as librosa; ``(-2, -1)``: each segment)."""
    ref_db = 10.0 * np.log10(np.maximum(1e-10, np.abs(1.0)))
    return db_kernels.power_to_db(peak, ref_db, 1e-10, 80.0, floor_axes) - db_kernels.power_to_db(
        valley, ref_db, 1e-10, 80.0, floor_axes
    )


def spectral_contrast(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    freq: np.ndarray | None = None,
    fmin: float = 200.0,
    n_bands: int = 6,
    quantile: float = 0.02,
    linear: bool = False,
) -> np.ndarray:
    """Spectral contrast (``librosa.feature.spectral_contrast``; Jiang et al., 2002).

    In each octave sub-band, the mean of the top ``quantile`` of magnitudes (peak) against
    the mean of the bottom ``quantile`` (valley): ``power_to_db(peak) - power_to_db(valley)``
    (the dB floor at 80 dB below the peak of the whole input), or ``peak - valley`` when
    ``linear``.

    Parameters
    ----------
    y, sr, S, n_fft, hop_length, win_length, window, center, pad_mode, freq
        As :func:`spectral_centroid`.
    fmin : float > 0
        Upper edge of the lowest band.
    n_bands : int > 0
        Octave bands above the lowest.
    quantile : float, 0 < quantile < 1
    linear : bool

    Returns
    -------
    np.ndarray [shape=(..., n_bands + 1, t), dtype=that of y or S]
    """
    sr = _positive_number(sr, "sr")
    fmin = _positive_number(fmin, "fmin")
    n_bands = _positive_int(n_bands, "n_bands")
    if not 0.0 < quantile < 1.0:
        _fail("quantile", quantile, "must lie in (0, 1)")
    mag, lead, n_fft = _magnitude(y, S, n_fft, hop_length, win_length, window, center, pad_mode)
    freq = _frequencies(freq, sr, n_fft, mag.shape[2])
    starts, stops, counts = _contrast_bands(freq, sr, fmin, n_bands)
    shape = (mag.shape[0], n_bands + 1, mag.shape[1])
    peak = np.empty(shape)
    valley = np.empty(shape)
    spectral.contrast_peaks(mag, starts, stops, counts, float(quantile), peak, valley)
    contrast = peak - valley if linear else _contrast_db(peak, valley, None)
    return _librosa_layout(contrast.astype(mag.dtype), lead)


def chroma_stft(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    norm: float | None = np.inf,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    tuning: float | None = None,
    n_chroma: int = 12,
    **kwargs,
) -> np.ndarray:
    """Chromagram from a power spectrogram (``librosa.feature.chroma_stft``).

    ``normalize(chroma_basis @ |STFT(y)| ** 2)`` per frame (max-normalised by default).

    Tuning: this function never estimates tuning; ``tuning=None`` means A440 (0.0).
    librosa's default ``tuning=None`` instead estimates the deviation from A440 from the
    signal itself (``librosa.estimate_tuning``: pitch tracking, then a histogram of the pitch
    deviations, in 1/100 of a chroma bin), which shifts every filter by that amount.
    Results are therefore identical to ``librosa.feature.chroma_stft(..., tuning=0.0)`` and to
    librosa's default whenever the estimate is 0; for recordings tuned away from A440 they
    differ by a fraction of a chroma bin. Pass the tuning explicitly to match any librosa
    call.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)] or None
    sr : float > 0
    S : np.ndarray [shape=(..., 1 + n_fft // 2, t)] or None
        Power spectrogram used instead of ``y``.
    norm : float or None
        Per-frame normalisation (see ``librosa.util.normalize``); ``np.inf`` by default.
    n_fft, hop_length, win_length, window, center, pad_mode
        STFT parameters, see :func:`stft`.
    tuning : float or None
        Deviation from A440 in fractions of a chroma bin; None means 0.0 (see above).
    n_chroma : int > 0
    **kwargs
        Chroma filterbank parameters: ctroct, octwidth, base_c, dtype (see :func:`chroma`).

    Returns
    -------
    np.ndarray [shape=(..., n_chroma, t), dtype=that of y or S]
    """
    spec, lead, n_fft = _spectrogram(
        y, S, n_fft, hop_length, 2.0, win_length, window, center, pad_mode
    )
    tuning = 0.0 if tuning is None else tuning
    basis = _chroma_basis(
        *_check_chroma_args(sr, n_fft, n_chroma, tuning, norm=2, **_chroma_kwargs(kwargs))
    )
    return _librosa_layout(_chroma(spec, 1.0, basis, norm), lead)


def _chroma(spec: np.ndarray, exponent: float, basis: np.ndarray, norm) -> np.ndarray:
    """Normalised chroma ``(b, c, t)`` of ``spec ** exponent``, ``spec`` frames-major."""
    raw = np.empty((spec.shape[0], basis.shape[0], spec.shape[1]), dtype=spec.dtype)
    spectral.dense_product(spec, exponent, basis.astype(spec.dtype), raw)
    return spectral.normalize(raw, norm, axis=-2)


def _chroma_kwargs(kwargs: dict) -> dict:
    known = {"ctroct": 5.0, "octwidth": 2, "base_c": True, "dtype": np.float32}
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise TypeError(f"chroma_stft() got unexpected keyword arguments {unknown}")
    return {**known, **kwargs}


# --------------------------------------------------------------------------- onsets
def _onset_envelope(spec_db: np.ndarray, lag, max_size, ref, aggregate, center, n_fft, hop_length):
    """Spectral flux of a batched dB spectrogram ``(b, m, t)``: ``(b, t_out)``, padded and
    trimmed like librosa's onset_strength_multi with one channel."""
    if ref is None:
        if max_size == 1:
            ref = spec_db
        else:
            ref = np.empty_like(spec_db)
            temporal.max_filter_bands(spec_db, max_size, ref)
    flux = np.maximum(0.0, spec_db[..., lag:] - ref[..., :-lag])
    onset = aggregate(flux, axis=-2)
    pad_width = lag + (n_fft // (2 * hop_length) if center else 0)
    onset = np.pad(onset, [(0, 0), (pad_width, 0)], mode="constant")
    return onset[:, : spec_db.shape[-1]] if center else onset


def onset_strength(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    lag: int = 1,
    max_size: int = 1,
    ref: np.ndarray | None = None,
    detrend: bool = False,
    center: bool = True,
    feature=None,
    aggregate=None,
    n_fft: int = 2048,
    hop_length: int = 512,
    **kwargs,
) -> np.ndarray:
    """Onset strength envelope by spectral flux (``librosa.onset.onset_strength``).

    On a dB mel spectrogram ``S`` (``power_to_db(melspectrogram(y))`` with ``fmax = sr / 2``
    by default): ``aggregate_m max(0, S[m, t] - ref[m, t - lag])`` with ``ref`` = ``S``
    max-filtered over ``max_size`` bands; shifted right by ``lag`` (plus ``n_fft // (2 hop)``
    when ``center``, undoing the framing delay) and cut to ``S``'s length.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)] or None
    sr : float > 0
    S : np.ndarray [shape=(..., d, t)] or None
        A (dB) spectrogram used instead of ``y``.
    lag : int > 0
    max_size : int > 0
    ref : np.ndarray [shape=S.shape] or None
        Reference spectrum instead of the max-filtered ``S``.
    detrend : bool
        Remove the DC component with the filter ``(1 - z^-1) / (1 - 0.99 z^-1)``.
    center : bool
    feature : callable or None
        Spectrogram function of ``y`` (default :func:`melspectrogram`).
    aggregate : callable or None
        Reduction over bands taking ``axis=-2`` (default ``np.mean``).
    n_fft, hop_length : int > 0
    **kwargs
        Passed to ``feature``.

    Returns
    -------
    np.ndarray [shape=(..., t)]
    """
    if aggregate is False:
        raise ParameterError("invalid aggregate=False: onset_strength needs an aggregation")
    lag = _positive_int(lag, "lag")
    max_size = _positive_int(max_size, "max_size")
    n_fft = _positive_int(n_fft, "n_fft")
    hop_length = _positive_int(hop_length, "hop_length")
    if S is None:
        if feature is None:
            feature = melspectrogram
            kwargs.setdefault("fmax", 0.5 * sr)
        S = power_to_db(np.abs(feature(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, **kwargs)))
    S = np.atleast_2d(_real_float_array(S, "S"))
    spec_db, lead = _batch(S, 2)
    if ref is not None:
        if np.shape(ref) != S.shape:
            _fail("ref", ref, f"must have the shape of S, {S.shape}")
        ref = np.asarray(ref).reshape(spec_db.shape)
    onset = _onset_envelope(
        spec_db, lag, max_size, ref, aggregate or np.mean, center, n_fft, hop_length
    )
    if detrend:
        filtered = np.empty(onset.shape, dtype=np.float64)
        temporal.detrend(onset, filtered)
        onset = filtered.astype(onset.dtype)
    return onset.reshape(lead + onset.shape[1:])


# --------------------------------------------------------------------------- the extractor
class _Frames(NamedTuple):
    """What every feature of one :meth:`FeatureExtractor.compute` call is derived from."""

    signals: np.ndarray  # (b, n) samples, config dtype
    mag: np.ndarray  # (b, t, k) STFT magnitudes, frames-major
    mel_power: np.ndarray  # (b, n_mels, t)
    mel_db: np.ndarray  # (b, n_mels, t)
    cache: dict  # intermediate results shared by several features


class FeatureExtractor:
    """Every configured feature of a signal, or of a batch of segments, from one STFT.

    Built once per :class:`~sonicsep.config.FeatureConfig`: the window, mel and chroma
    filterbanks, DCT basis (lifter folded in), contrast bands and this thread's FFTW plan are
    prepared here (filterbanks and plans are also cached across extractors); :meth:`compute`
    then runs one STFT for the whole batch and derives every feature from its magnitudes (RMS
    and zero-crossing rate from the samples). The STFT is computed in float64 and its
    magnitudes rounded to ``config.dtype``, as librosa effectively does for float32 audio.
    Instances hold no mutable state, so one may serve several threads.

    Each feature equals the librosa function called on one segment alone with the config's
    parameters (``sr, n_fft, hop_length, win_length, window, center, pad_mode``):

    - ``mel_db``: ``power_to_db(melspectrogram(y=seg, power, n_mels, fmin, fmax, htk,
      norm=mel_norm), ref=db_ref, amin=amin, top_db=top_db)``, floored per segment;
    - ``mfcc``: ``mfcc(S=mel_db, n_mfcc, dct_type, norm=dct_norm, lifter)``;
    - ``chroma_stft``: ``chroma_stft(y=seg, sr, ..., tuning=0.0, n_chroma)``;
    - ``rms``: ``rms(y=seg, frame_length=n_fft, hop_length, center)`` (zero padding, raw
      frames: librosa's ``y=`` semantics, not its windowed ``S=`` semantics);
    - ``spectral_centroid``, ``spectral_bandwidth``, ``spectral_flatness``: librosa defaults;
      ``spectral_rolloff``: ``roll_percent``; ``spectral_contrast``: ``fmin=contrast_fmin,
      n_bands``;
    - ``zero_crossing_rate``: ``zero_crossing_rate(seg, frame_length=n_fft, hop_length,
      center, threshold=zcr_threshold)``;
    - ``onset_strength``: ``onset_strength(S=power_to_db(mel power), n_fft, hop_length,
      center)`` with librosa's default dB parameters, i.e. ``onset_strength(y=seg, ...mel
      parameters...)`` when ``center`` is True; shaped ``(.., 1, t)`` so it summarises like
      the other one-row features.

    Parameters
    ----------
    config : FeatureConfig
    """

    def __init__(self, config: FeatureConfig):
        if not isinstance(config, FeatureConfig):
            _fail("config", config, "must be a sonicsep.config.FeatureConfig")
        self.config = config
        self.dtype = np.dtype(config.dtype)
        c = config
        self._window = _fft_window(c.window, c.n_fft, c.win_length)
        self._freq = filterbanks.fft_frequencies(c.sr, c.n_fft)
        self._mel_bands = _mel_bands(
            *_check_mel_args(c.sr, c.n_fft, c.n_mels, c.fmin, c.fmax, c.htk, c.mel_norm, np.float32)
        )
        self._cepstrum = _cepstrum_basis(c.n_mfcc, c.n_mels, c.dct_type, c.dct_norm, c.lifter)
        if "chroma_stft" in c.features:
            args = _check_chroma_args(c.sr, c.n_fft, c.n_chroma, 0.0, **_chroma_kwargs({}), norm=2)
            self._chroma_basis = _chroma_basis(*args)
        if "spectral_contrast" in c.features:
            self._contrast = _contrast_bands(self._freq, c.sr, c.contrast_fmin, c.n_bands)
        self._stat_codes = np.array([stats.STAT_CODES[s] for s in c.stats], dtype=np.int64)
        self.summary_names = self._summary_names()
        # Plan this thread's FFT now rather than in the first compute.
        fft_kernels.rfft_plan(c.n_fft, fft_kernels.block_rows(c.n_fft, np.float64), np.float64)

    # ------------------------------------------------------------------ shapes and names
    def n_frames(self, n_samples: int) -> int:
        """Frames of a ``n_samples`` signal (the ``t`` of every feature)."""
        c = self.config
        return framing.n_frames(int(n_samples), c.n_fft, c.hop_length, c.center)

    def _rows(self, name: str) -> int:
        c = self.config
        return {
            "mfcc": c.n_mfcc,
            "chroma_stft": c.n_chroma,
            "spectral_contrast": c.n_bands + 1,
        }.get(name, 1)

    def _summary_names(self) -> list[str]:
        names = []
        for feature in self.config.features:
            rows = self._rows(feature)
            for stat in self.config.stats:
                if rows == 1:
                    names.append(f"{feature}_{stat}")
                else:
                    names.extend(f"{feature}_{r:02d}_{stat}" for r in range(rows))
        return names

    # ------------------------------------------------------------------ computing
    def _signals(self, y) -> tuple[np.ndarray, tuple[int, ...]]:
        y = _audio(y)
        if y.ndim > 2:
            _fail("y", y, "must be one signal (n,) or a batch of segments (n_segments, n)")
        c = self.config
        if not c.center and y.shape[-1] < c.n_fft:
            _fail(
                "n_fft",
                c.n_fft,
                f"is longer than the signal ({y.shape[-1]} samples) with center=False",
            )
        signals, lead = _batch(np.ascontiguousarray(y, dtype=self.dtype), 1)
        return signals, lead

    def compute(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """All configured features of ``y``, from one STFT.

        Parameters
        ----------
        y : np.ndarray [shape=(n,) or (n_segments, n), dtype=float32 or float64]

        Returns
        -------
        dict[str, np.ndarray]
            ``'mel_db'`` (.., n_mels, t), ``'mfcc'`` (.., n_mfcc, t) and one entry per name in
            ``config.features`` (``'chroma_stft'`` (.., n_chroma, t), ``'rms'`` (.., 1, t),
            ``'spectral_contrast'`` (.., n_bands + 1, t), ...), with the leading axes of ``y``
            and ``config.dtype``.
        """
        c = self.config
        signals, lead = self._signals(y)
        mag = fft_kernels.stft_magnitude(signals, self._window, c.hop_length, c.center, c.pad_mode)
        mel_power = np.empty((mag.shape[0], c.n_mels, mag.shape[1]), dtype=self.dtype)
        spectral.banded_product(mag, float(c.power), *self._mel_bands, mel_power)
        mel_db = self._segment_db(mel_power, c.db_ref, c.amin, c.top_db)
        out = {"mel_db": mel_db, "mfcc": _cepstra(self._cepstrum, mel_db)}
        frames = _Frames(signals, mag, mel_power, mel_db, {})
        for name in c.features:
            if name not in out:
                out[name] = getattr(self, "_" + name)(frames)
        return {name: _librosa_layout(values, lead) for name, values in out.items()}

    @staticmethod
    def _segment_db(power, ref, amin, top_db) -> np.ndarray:
        """power_to_db of ``(segments, bands, t)`` with each segment floored at its own peak."""
        ref_db = 10.0 * np.log10(np.maximum(amin, np.abs(ref)))
        return db_kernels.power_to_db(power, ref_db, amin, top_db, floor_axes=(-2, -1))

    # One method per name in config.KNOWN_FEATURES (but mfcc): (b, rows, t) in config.dtype.
    def _row_shape(self, frames: _Frames) -> tuple[int, int, int]:
        return (frames.mag.shape[0], 1, frames.mag.shape[1])

    def _chroma_stft(self, frames: _Frames) -> np.ndarray:
        return _chroma(frames.mag, 2.0, self._chroma_basis, np.inf)

    def _rms(self, frames: _Frames) -> np.ndarray:
        c = self.config
        out = np.empty(self._row_shape(frames), dtype=self.dtype)
        offset = c.n_fft // 2 if c.center else 0
        temporal.rms(frames.signals, c.n_fft, c.hop_length, offset, framing.PAD_CONSTANT, out)
        return out

    def _zero_crossing_rate(self, frames: _Frames) -> np.ndarray:
        c = self.config
        out = np.empty(self._row_shape(frames), dtype=self.dtype)
        offset = c.n_fft // 2 if c.center else 0
        threshold = self.dtype.type(c.zcr_threshold)
        edge = framing.PAD_EDGE
        temporal.zero_crossing_rate(
            frames.signals, c.n_fft, c.hop_length, offset, edge, threshold, True, False, out
        )
        return out

    def _centroids(self, frames: _Frames) -> np.ndarray:
        """Float64 centroids, computed once for both centroid and bandwidth."""
        if "centroid" not in frames.cache:
            centroids = np.empty(self._row_shape(frames))
            spectral.centroid(frames.mag, self._freq, np.finfo(self.dtype).tiny, centroids)
            frames.cache["centroid"] = centroids
        return frames.cache["centroid"]

    def _spectral_centroid(self, frames: _Frames) -> np.ndarray:
        return self._centroids(frames).astype(self.dtype)

    def _spectral_bandwidth(self, frames: _Frames) -> np.ndarray:
        out = np.empty(self._row_shape(frames), dtype=self.dtype)
        tiny = np.finfo(self.dtype).tiny
        spectral.bandwidth(frames.mag, self._freq, self._centroids(frames), True, 2.0, tiny, out)
        return out

    def _spectral_rolloff(self, frames: _Frames) -> np.ndarray:
        out = np.empty(self._row_shape(frames), dtype=self.dtype)
        spectral.rolloff(frames.mag, self._freq, self.dtype.type(self.config.roll_percent), out)
        return out

    def _spectral_flatness(self, frames: _Frames) -> np.ndarray:
        return spectral.flatness(frames.mag, 2.0, 1e-10)

    def _spectral_contrast(self, frames: _Frames) -> np.ndarray:
        shape = (frames.mag.shape[0], self.config.n_bands + 1, frames.mag.shape[1])
        peak, valley = np.empty(shape), np.empty(shape)
        spectral.contrast_peaks(frames.mag, *self._contrast, 0.02, peak, valley)
        return _contrast_db(peak, valley, (-2, -1)).astype(self.dtype)

    def _onset_strength(self, frames: _Frames) -> np.ndarray:
        c = self.config
        # librosa's own dB parameters; they are usually the config's, so mel_db is reused.
        if (c.db_ref, c.amin, c.top_db) == (1.0, 1e-10, 80.0):
            onset_db = frames.mel_db
        else:
            onset_db = self._segment_db(frames.mel_power, 1.0, 1e-10, 80.0)
        onset = _onset_envelope(onset_db, 1, 1, None, np.mean, c.center, c.n_fft, c.hop_length)
        return onset[:, np.newaxis, :]

    # ------------------------------------------------------------------ summaries
    def summarize(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Statistics over time of each feature row, in :attr:`summary_names` order.

        For each feature of ``config.features`` (in order), for each statistic of
        ``config.stats`` (in order), one column per feature row (coefficient).

        Parameters
        ----------
        features : dict[str, np.ndarray]
            As returned by :meth:`compute`: each ``(.., rows, t)`` with ``t >= 1``.

        Returns
        -------
        np.ndarray [shape=(.., n_summary), dtype=config.dtype]
        """
        columns = []
        lead = None
        for name in self.config.features:
            if name not in features:
                _fail("features", sorted(features), f"has no {name!r} entry")
            values = _real_float_array(np.asarray(features[name]), f"features[{name!r}]", 2)
            if values.shape[-1] == 0:
                _fail(f"features[{name!r}]", values, "has no frames to summarise")
            if lead is not None and values.shape[:-2] != lead:
                _fail(f"features[{name!r}]", values, f"has leading axes other than {lead}")
            lead = values.shape[:-2]
            rows = np.ascontiguousarray(values.reshape(-1, values.shape[-1]))
            out = np.empty((rows.shape[0], self._stat_codes.size))
            stats.summarize_rows(rows, self._stat_codes, np.finfo(values.dtype).resolution, out)
            per_item = out.reshape(-1, values.shape[-2], self._stat_codes.size)
            columns.append(per_item.transpose(0, 2, 1).reshape(per_item.shape[0], -1))
        if not columns:  # a config may ask for the log-mel and MFCC sequences only
            return np.empty(np.shape(features["mel_db"])[:-2] + (0,), dtype=self.dtype)
        summary = np.concatenate(columns, axis=-1).astype(self.dtype)
        return summary.reshape(lead + (summary.shape[-1],))

    def segment_features(self, segments: np.ndarray) -> dict[str, np.ndarray]:
        """Log-mel, MFCC and summary vector of each segment, from one STFT for all.

        Parameters
        ----------
        segments : np.ndarray [shape=(n_segments, segment_length)]

        Returns
        -------
        dict
            ``'mel_db'`` (n_segments, n_mels, t), ``'mfcc'`` (n_segments, n_mfcc, t) and
            ``'summary'`` (n_segments, len(summary_names)).
        """
        if not isinstance(segments, np.ndarray) or segments.ndim != 2:
            _fail("segments", segments, "must be a 2-D array (n_segments, segment_length)")
        features = self.compute(segments)
        return {
            "mel_db": features["mel_db"],
            "mfcc": features["mfcc"],
            "summary": self.summarize(features),
        }
