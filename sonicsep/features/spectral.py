"""Spectral features (librosa.feature.spectral): the mel spectrogram, MFCC, chroma and the
per-frame spectral descriptors (centroid, bandwidth, roll-off, flatness, contrast)."""

from __future__ import annotations

import functools

import numpy as np

from sonicsep.features._layout import _batch, _librosa_layout
from sonicsep.features._validation import (
    _fail,
    _positive_int,
    _positive_number,
    _real_float_array,
)
from sonicsep.features.filters import (
    _check_chroma_args,
    _check_mel_args,
    _chroma_basis,
    _chroma_kwargs,
    _mel_bands,
)
from sonicsep.features.pitch import _spectrogram_tuning
from sonicsep.features.spectrum import (
    _filterbank_spectrogram,
    _power_to_db,
    _spectrogram,
)
from sonicsep.kernels import db as db_kernels
from sonicsep.kernels import dct as dct_kernels
from sonicsep.kernels import filterbanks
from sonicsep.kernels import spectral as spectral_kernels


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
    spans (identical sums, a fraction of the work of a dense product); from audio, each block
    of FFT frames is projected while still in cache, so the spectrogram is never stored.

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

    def mel_bands(n_fft):
        return _mel_bands(*_check_mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype))

    out, lead = _filterbank_spectrogram(
        y, S, n_fft, hop_length, power, win_length, window, center, pad_mode, mel_bands
    )
    return _librosa_layout(out, lead)


def _cepstrum_basis(n_mfcc: int, n_mels: int, dct_type: int, norm, lifter: float) -> np.ndarray:
    """DCT rows ``0 .. n_mfcc - 1`` with the lifter folded in: one matrix for all of MFCC
    (read-only: cached, and shared by every call with the same parameters)."""
    if dct_type not in (1, 2, 3):
        _fail("dct_type", dct_type, "must be 1, 2 or 3")
    if norm not in (None, "ortho"):
        _fail("norm", norm, "must be 'ortho' or None")
    if dct_type == 1 and n_mels < 2:
        _fail("n_mels", n_mels, "must be >= 2 for a type-1 DCT")
    if lifter < 0 or not np.isfinite(lifter):
        _fail("lifter", lifter, "must be >= 0")
    return _lifted_dct_basis(int(n_mfcc), int(n_mels), int(dct_type), norm, float(lifter))


@functools.lru_cache(maxsize=32)
def _lifted_dct_basis(n_mfcc, n_mels, dct_type, norm, lifter) -> np.ndarray:
    # Cached: building it costs about a quarter of applying it to a 30 s mel spectrogram.
    basis = dct_kernels.dct_basis(n_mfcc, n_mels, dct_type, norm)
    basis = basis * dct_kernels.lifter_weights(n_mfcc, lifter)[:, np.newaxis]
    basis.setflags(write=False)
    return basis


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
        # power_to_db with its defaults (ref=1, amin=1e-10, top_db=80), as librosa's mfcc,
        # in place: the mel spectrogram is ours and goes no further.
        S = melspectrogram(y=y, sr=sr, norm=mel_norm, **kwargs)
        S = _power_to_db(S, 1.0, 1e-10, 80.0, out=S)
    else:
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


def _frequencies(freq, sr, n_fft, n_bins) -> np.ndarray:
    if freq is None:
        return filterbanks.fft_frequencies(_positive_number(sr, "sr"), n_fft)
    freq = np.asarray(freq, dtype=np.float64)
    if freq.shape != (n_bins,):
        _fail("freq", freq, f"must be a 1-D array of {n_bins} bin frequencies")
    return freq


def _magnitude(y, S, n_fft, hop_length, win_length, window, center, pad_mode):
    # Magnitudes from librosa's float64 FFT even for float32 audio (kernels.fft.stft_magnitude):
    # roll-off compares a running sum with a threshold (a float32 FFT's last bits move it a
    # bin on some frames of a 2 s GTZAN clip); flatness and the valleys of contrast are led by
    # quiet bins, and the centroid and bandwidth of a lone tone by far bins' round-off, which
    # a float32 FFT's noise floor (1e-7 of the peak) raises past the parity tolerance.
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
    spectral_kernels.centroid(mag, freq, np.finfo(mag.dtype).tiny, out)
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
        spectral_kernels.centroid(mag, freq, tiny, centroids)
    else:
        centroids = np.asarray(centroid, dtype=np.float64)
        if centroids.shape != lead + shape[1:]:
            _fail("centroid", centroid, f"must have shape {lead + shape[1:]}")
        centroids = centroids.reshape(shape)
    out = np.empty(shape, dtype=mag.dtype)
    spectral_kernels.bandwidth(mag, freq, centroids, bool(norm), p, tiny, out)
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
    spectral_kernels.rolloff(mag, freq, mag.dtype.type(roll_percent), out)
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
    return _librosa_layout(spectral_kernels.flatness(mag, power, amin), lead)


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
    spectral_kernels.contrast_peaks(mag, starts, stops, counts, float(quantile), peak, valley)
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

    Tuning: with the default ``tuning=None`` the deviation from A440 is estimated from the
    same power spectrogram, ``estimate_tuning(S=S, sr=sr, bins_per_octave=n_chroma)`` (see
    :func:`sonicsep.features.estimate_tuning`), and every filter is shifted by it, as
    librosa does; one estimate covers all leading axes (channels). Pass ``tuning=0.0`` for
    A440 filters.

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
        Deviation from A440 in fractions of a chroma bin; None estimates it (see above).
    n_chroma : int > 0
    **kwargs
        Chroma filterbank parameters: ctroct, octwidth, base_c, dtype (see :func:`chroma`).

    Returns
    -------
    np.ndarray [shape=(..., n_chroma, t), dtype=that of y or S]
    """
    # librosa's float64 FFT (the default): the tuning estimate needs it (see _magnitude), and
    # a given tuning gets the same spectrum, so the chroma does not depend on how it came.
    spec, lead, n_fft = _spectrogram(
        y, S, n_fft, hop_length, 2.0, win_length, window, center, pad_mode
    )
    if tuning is None:
        spec = np.ascontiguousarray(spec)  # a given S is a strided view
        tuning = _spectrogram_tuning(spec, _positive_number(sr, "sr"), n_chroma)
    basis = _chroma_basis(
        *_check_chroma_args(sr, n_fft, n_chroma, tuning, norm=2, **_chroma_kwargs(kwargs))
    )
    return _librosa_layout(_chroma(spec, 1.0, basis, norm), lead)


def _chroma(spec: np.ndarray, exponent: float, basis: np.ndarray, norm) -> np.ndarray:
    """Normalised chroma ``(b, c, t)`` of ``spec ** exponent``, ``spec`` frames-major."""
    raw = np.empty((spec.shape[0], basis.shape[0], spec.shape[1]), dtype=spec.dtype)
    spectral_kernels.dense_product(spec, exponent, basis.astype(spec.dtype), raw)
    return spectral_kernels.normalize(raw, norm, axis=-2)
