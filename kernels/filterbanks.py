"""Frequency scales and the filterbanks built on them: mel (HTK and Slaney) and chroma.

Every formula follows librosa 0.11 step for step (``librosa.filters.mel``, ``filters.chroma``,
``hz_to_mel``, ``hz_to_octs``) so that the weights agree to the last bit. Filterbanks are built
in float64 and rounded to the requested dtype, float32 by default as in librosa: a float64
spectrum is then projected onto exactly the float32 weights that librosa uses.

HTK mels are ``2595 log10(1 + f / 700)``; the textbook ``1125 ln(1 + f / 700)`` differs only
by a constant factor, which cancels because band edges are spaced evenly on the mel axis and
mapped back to Hz.
"""

from __future__ import annotations

import numpy as np

from .spectral import normalize

# Slaney's auditory toolbox: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def fft_frequencies(sr: float, n_fft: int) -> np.ndarray:
    """Centre frequency (Hz) of each of the ``1 + n_fft // 2`` real-FFT bins."""
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


def hz_to_mel(frequencies, htk: bool = False) -> np.ndarray:
    """Hz to mels: HTK ``2595 log10(1 + f / 700)`` or Slaney (linear below 1 kHz, log above)."""
    frequencies = np.asanyarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + frequencies / 700.0)
    mels = frequencies / _F_SP
    log_region = frequencies >= _MIN_LOG_HZ
    return np.where(
        log_region,
        _MIN_LOG_MEL
        + np.log(np.where(log_region, frequencies, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP,
        mels,
    )


def mel_to_hz(mels, htk: bool = False) -> np.ndarray:
    """Mels to Hz, the inverse of :func:`hz_to_mel`."""
    mels = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    freqs = _F_SP * mels
    log_region = mels >= _MIN_LOG_MEL
    return np.where(log_region, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)), freqs)


def mel_frequencies(n_mels: int, fmin: float, fmax: float, htk: bool = False) -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax``."""
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels)
    return mel_to_hz(mels, htk=htk)


def mel_filterbank(
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    dtype=np.float32,
) -> np.ndarray:
    """Triangular mel filters over the real-FFT bins (``librosa.filters.mel``).

    Filter ``m`` rises from mel edge ``m`` to ``m + 1`` and falls to ``m + 2``; with
    ``norm='slaney'`` each is divided by half its width in Hz so that all have equal area, with
    a number each is scaled to unit ``norm`` (``librosa.util.normalize``), with None left
    peaking at 1.

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=dtype]
    """
    if fmax is None:
        fmax = float(sr) / 2
    fftfreqs = fft_frequencies(sr, n_fft)
    mel_f = mel_frequencies(n_mels + 2, fmin, fmax, htk=htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float64)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    # librosa fills a float32 array row by row, so its weights are rounded before scaling.
    weights = weights.astype(dtype)
    if norm == "slaney":
        enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
        weights = (weights * enorm[:, np.newaxis]).astype(dtype)  # float64 product, one rounding
    else:
        weights = normalize(weights, norm, axis=-1)
    return weights


def hz_to_octs(frequencies, tuning: float = 0.0, bins_per_octave: int = 12) -> np.ndarray:
    """Hz to octave numbers, with octave 4 starting at A440 (shifted by ``tuning`` bins)."""
    a440 = 440.0 * 2.0 ** (tuning / bins_per_octave)
    return np.log2(np.asanyarray(frequencies) / (float(a440) / 16))


def chroma_filterbank(
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
    """Chroma filters over the real-FFT bins (``librosa.filters.chroma``, Ellis' chromagram).

    Each FFT bin spreads its energy over the pitch classes with a Gaussian bump as wide as
    the bin is in semitones; columns are ``norm``-normalised, then weighted by a Gaussian in
    octaves centred on octave ``ctroct`` (``octwidth=None`` for a flat weighting).

    Returns
    -------
    np.ndarray [shape=(n_chroma, 1 + n_fft // 2), dtype=dtype]
    """
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * hz_to_octs(frequencies, tuning=tuning, bins_per_octave=n_chroma)
    # The 0 Hz bin is placed 1.5 octaves below bin 1, so its energy is spread broadly.
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    distance = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    half = np.round(float(n_chroma) / 2)
    # Fold distances into [-n_chroma / 2, n_chroma / 2); the 10 * n_chroma keeps them positive.
    distance = np.remainder(distance + half + 10 * n_chroma, n_chroma) - half
    wts = np.exp(-0.5 * (2 * distance / np.tile(binwidthbins, (n_chroma, 1))) ** 2)
    wts = normalize(wts, norm, axis=0)
    if octwidth is not None:
        wts *= np.tile(
            np.exp(-0.5 * (((frqbins / n_chroma - ctroct) / octwidth) ** 2)), (n_chroma, 1)
        )
    if base_c:
        wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(wts[:, : int(1 + n_fft / 2)], dtype=dtype)


def band_rows(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero span of each filter, for a sparse product with a spectrum.

    A mel filter touches only the FFT bins under its triangle, about ``2 / n_mels`` of them,
    so multiplying only over that span is ~50x less work than the dense product and gives
    the same sums (the skipped terms are exact zeros).

    Returns
    -------
    starts, lengths : np.ndarray [shape=(n_filters,), dtype=int64]
    packed : np.ndarray [shape=(n_filters, max(lengths)), dtype=weights.dtype]
        ``packed[m, :lengths[m]] = weights[m, starts[m] : starts[m] + lengths[m]]``.
    """
    n_filters = weights.shape[0]
    starts = np.zeros(n_filters, dtype=np.int64)
    lengths = np.zeros(n_filters, dtype=np.int64)
    for m in range(n_filters):
        nonzero = np.flatnonzero(weights[m])
        if nonzero.size:
            starts[m] = nonzero[0]
            lengths[m] = nonzero[-1] + 1 - nonzero[0]
    packed = np.zeros((n_filters, max(1, int(lengths.max(initial=0)))), dtype=weights.dtype)
    for m in range(n_filters):
        packed[m, : lengths[m]] = weights[m, starts[m] : starts[m] + lengths[m]]
    return starts, lengths, packed
