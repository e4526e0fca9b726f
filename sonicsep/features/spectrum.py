"""The STFT and decibels (librosa.core.spectrum): :func:`stft`, :func:`power_to_db`, and the
magnitude spectrogram every spectral feature starts from."""

from __future__ import annotations

import functools

import numpy as np

from sonicsep.errors import ParameterError
from sonicsep.features._layout import _batch, _frames_major, _librosa_layout
from sonicsep.features._validation import (
    _audio,
    _fail,
    _positive_int,
    _positive_number,
    _real_float_array,
    _spectrogram_input,
)
from sonicsep.kernels import db as db_kernels
from sonicsep.kernels import fft as fft_kernels
from sonicsep.kernels import framing, windows
from sonicsep.kernels import spectral as spectral_kernels


def _fft_window(window, n_fft: int, win_length: int | None) -> np.ndarray:
    """The analysis window for ``window`` (name, array or callable), centred in ``n_fft``."""
    n_fft = _positive_int(n_fft, "n_fft")
    win_length = n_fft if win_length is None else _positive_int(win_length, "win_length")
    if win_length > n_fft:
        _fail("win_length", win_length, f"must be <= n_fft = {n_fft}")
    if isinstance(window, str):
        if windows.canonical_window_name(window) is None:
            _fail("window", window, f"unsupported; use one of {windows.WINDOW_NAMES}")
        return _named_window(window, n_fft, win_length)
    if callable(window):
        values = np.asarray(window(win_length), dtype=np.float64)
    elif isinstance(window, (np.ndarray, list)):
        values = np.asarray(window, dtype=np.float64)
    else:
        _fail("window", window, "must be a window name, an array or a callable")
    if values.shape != (win_length,):
        _fail("window", window, f"must have win_length = {win_length} samples")
    return windows.pad_center(values, n_fft)


@functools.lru_cache(maxsize=32)
def _named_window(name: str, n_fft: int, win_length: int) -> np.ndarray:
    """A named window centred in ``n_fft`` (read-only: shared by every call that asks for it;
    computing a 2048-point window costs ~1% of a 30 s mel spectrogram)."""
    values = windows.pad_center(windows.get_window(name, win_length), n_fft)
    values.setflags(write=False)
    return values


def _framed_input(y, n_fft, hop_length, win_length, window, center, pad_mode):
    """Validated STFT inputs: ``(signals (batch, n), leading axes of y, window (n_fft,))``."""
    y = _audio(y)
    window_values = _fft_window(window, n_fft, win_length)
    hop_length = _positive_int(hop_length, "hop_length")
    if pad_mode not in framing.PAD_MODES:
        _fail("pad_mode", pad_mode, f"must be one of {tuple(framing.PAD_MODES)}")
    if not center and n_fft > y.shape[-1]:
        _fail(
            "n_fft", n_fft, f"is longer than the signal ({y.shape[-1]} samples) with center=False"
        )
    signals, lead = _batch(np.ascontiguousarray(y), 1)
    return signals, lead, window_values


def _spectrogram(
    y, S, n_fft, hop_length, power, win_length, window, center, pad_mode, *, librosa_fft=True
):
    """``|STFT(y)| ** power`` frames-major, or the given ``S``; with the inferred ``n_fft``.

    Returns ``(spec, lead, n_fft)``: ``spec`` is ``(batch, t, k)`` real, ``lead`` the leading
    axes of the input. As in librosa, a given ``S`` fixes ``n_fft = 2 (k - 1)`` unless the
    given ``n_fft`` already matches it. ``librosa_fft``: the FFT in float64 whatever the
    input, as librosa's, for features that need its quiet bins or exact threshold crossings
    (see :func:`sonicsep.kernels.fft.stft_magnitude`); else in the input's precision.
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
    fft_dtype = np.float64 if librosa_fft else signals.dtype
    spec = fft_kernels.stft_magnitude(
        signals, window_values, hop_length, bool(center), pad_mode, float(power), fft_dtype
    )
    return spec, lead, n_fft


def _filterbank_spectrogram(
    y, S, n_fft, hop_length, power, win_length, window, center, pad_mode, filterbank
):
    """A banded filterbank applied to ``|STFT(y)| ** power``, or to the given ``S``.

    ``filterbank(n_fft)`` returns the filters' ``(starts, lengths, weights)``
    (:func:`sonicsep.kernels.filterbanks.band_rows`), called once ``n_fft`` is known (a given
    ``S`` fixes it, see :func:`_spectrogram`). From audio, each FFT block is projected while
    in cache (:func:`sonicsep.kernels.fft.stft_filterbank`), in the audio's precision.

    Returns ``(out, lead)``: ``out`` is ``(batch, m, t)`` in the spectrum's dtype, ``lead`` the
    leading axes of the input.
    """
    if S is None and y is not None:
        signals, lead, window_values = _framed_input(
            y, n_fft, hop_length, win_length, window, center, pad_mode
        )
        starts, lengths, weights = filterbank(n_fft)
        out = fft_kernels.stft_filterbank(
            signals, window_values, hop_length, bool(center), pad_mode, float(power),
            starts, lengths, weights,
        )  # fmt: skip
        return out, lead
    spec, lead, n_fft = _spectrogram(
        y, S, n_fft, hop_length, power, win_length, window, center, pad_mode, librosa_fft=False
    )
    starts, lengths, weights = filterbank(n_fft)
    out = np.empty((spec.shape[0], starts.shape[0], spec.shape[1]), dtype=spec.dtype)
    spectral_kernels.banded_product(spec, 1.0, starts, lengths, weights, out)
    return out, lead


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
    float64 FFT and rounds), so values differ from librosa's by about 2e-7 of a frame's peak
    (measured on 3 s of white noise and of a sine; the tests allow 1e-4 of the largest value).
    melspectrogram, mfcc, spectral centroid and bandwidth and chroma_stft with a given tuning
    compute their spectra the same way; flatness, contrast, roll-off and tuning estimates,
    which look at quiet bins or threshold crossings, from a float64 FFT as librosa. Plans are
    deterministic: the same input gives the same bits in every process (see
    :mod:`sonicsep.kernels.fft`).

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
        'hann' (periodic, default), 'hamming', 'blackman', 'bartlett', 'boxcar' or one of
        scipy's aliases of those (``sonicsep.kernels.windows.WINDOW_NAMES``); or the window
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
    return _power_to_db(S, ref, amin, top_db)


def _power_to_db(S, ref, amin, top_db, out=None) -> np.ndarray:
    """:func:`power_to_db` of a validated ``S``, into ``out`` (``S`` itself: in place)."""
    ref_value = ref(S) if callable(ref) else np.abs(ref)
    # The same NumPy expression as librosa, so the offset has librosa's dtype and rounding.
    ref_db = 10.0 * np.log10(np.maximum(amin, ref_value))
    return db_kernels.power_to_db(S, ref_db, amin, top_db, out=out)
