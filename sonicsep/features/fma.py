"""FMA's 518 per-track features (``fma_metadata/features.csv``), from one STFT and one CQT.

The Free Music Archive publishes, for every track, seven statistics over time of eleven librosa
features computed by ``mdeff/fma``'s ``features.py`` on the whole clip decoded at its native
rate. :func:`fma_features` computes the same vector, in the order of :data:`FMA_COLUMNS`, which
is the column order of ``features.csv`` (FMA sorts its three-level column index), so a frame
of ours and FMA's file line up column for column (see :func:`fma_frame`).

FMA's pipeline, which this follows call for call with the package's librosa-compatible
functions (their parity with librosa is tested one by one; the vector's in test_fma.py):

- ``zero_crossing_rate(y, frame_length=2048, hop_length=512)``
- ``C = |cqt(y, sr, hop_length=512, bins_per_octave=12, n_bins=84, tuning=None)|``, then
  ``chroma_cqt(C=C, n_chroma=12, n_octaves=7)``, ``cens = chroma_cens(C=C, n_chroma=12,
  n_octaves=7)`` and ``tonnetz(chroma=cens)`` (FMA passes a 12-bin-per-octave ``C`` to
  chroma functions whose ``bins_per_octave`` default is 36; that is what the published
  numbers are, so it is kept);
- ``S = |stft(y, n_fft=2048, hop_length=512)|`` (librosa's float64 FFT for float32 audio),
  then ``chroma_stft(S=S**2, n_chroma=12)``,
  ``rms(S=S)`` (FMA's ``rmse``), ``spectral_centroid``, ``spectral_bandwidth``,
  ``spectral_contrast(n_bands=6)``, ``spectral_rolloff`` of ``S``, and
  ``mfcc(S=power_to_db(melspectrogram(sr=sr, S=S**2)), n_mfcc=20)``;
- statistics over time of each row: mean, std, skew, kurtosis (scipy.stats' defaults: biased,
  Fisher), median, min, max (``kernels.stats``).

No work is done twice: the CQT's ``tuning=None`` estimate is ``estimate_tuning`` of the
magnitude ``S`` (librosa estimates it from an STFT of ``y`` with the same n_fft=2048 and hop
512, so it is the same spectrogram), and ``chroma_stft``'s own estimate (on ``S**2``, as
librosa's default does given a power spectrogram) reuses ``S`` as well, squaring bin by bin.
The STFT descriptors run their kernels on ``S`` directly: the public functions would each
validate the spectrogram this module just computed (a pass over it per call). The result is
the same bits as calling them (tests/test_fma.py).
"""

from __future__ import annotations

import numpy as np

from sonicsep.config import FMA_STATS
from sonicsep.features._validation import _audio, _fail
from sonicsep.features.chroma import _cens, chroma_cqt, tonnetz
from sonicsep.features.constantq import cqt_from_half_rate
from sonicsep.features.filters import (
    _check_chroma_args,
    _check_mel_args,
    _chroma_basis,
    _chroma_kwargs,
    _mel_bands,
)
from sonicsep.features.pitch import _spectrogram_tuning
from sonicsep.features.spectral import _chroma, _contrast_bands, _contrast_db, mfcc
from sonicsep.features.spectrum import _spectrogram, power_to_db
from sonicsep.features.temporal import zero_crossing_rate
from sonicsep.kernels import filterbanks, stats
from sonicsep.kernels import spectral as spectral_kernels
from sonicsep.kernels.spectral import normalize

# FMA's features and their row counts, in FMA's (unsorted) order.
FMA_FEATURE_SIZES = {
    "chroma_stft": 12,
    "chroma_cqt": 12,
    "chroma_cens": 12,
    "tonnetz": 6,
    "mfcc": 20,
    "rmse": 1,
    "zcr": 1,
    "spectral_centroid": 1,
    "spectral_bandwidth": 1,
    "spectral_contrast": 7,
    "spectral_rolloff": 1,
}
FMA_STATISTICS = FMA_STATS
# features.csv's three header rows.
FMA_LEVELS = ("feature", "statistics", "number")
# Every (feature, statistics, number) column, sorted as FMA sorts them: 518 in all.
FMA_COLUMNS: tuple[tuple[str, str, str], ...] = tuple(
    sorted(
        (feature, stat, f"{i + 1:02d}")
        for feature, size in FMA_FEATURE_SIZES.items()
        for stat in FMA_STATISTICS
        for i in range(size)
    )
)
N_FMA = len(FMA_COLUMNS)
# The columns as one string each, 'feature.statistics.number': the store's fma_feature labels.
FMA_COLUMN_NAMES = tuple(".".join(column) for column in FMA_COLUMNS)

_HOP = 512
_N_FFT = 2048
# FMA's STFT features assume 22,050 Hz (it passes them no sr): their bins and contrast bands.
_STFT_SR = 22050.0
_FREQ = filterbanks.fft_frequencies(_STFT_SR, _N_FFT)
_CONTRAST_BANDS = _contrast_bands(_FREQ, _STFT_SR, 200.0, 6)
_STAT_CODES = np.array([stats.STAT_CODES[s] for s in FMA_STATISTICS], dtype=np.int64)
# Where each (feature, statistic, row) lands in FMA_COLUMNS.
_POSITION = {column: i for i, column in enumerate(FMA_COLUMNS)}


def fma_series(
    y: np.ndarray, *, sr: int, half_rate: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """FMA's eleven features over time of a mono clip: name -> ``(rows, t)``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float32 or float64
        The whole clip, mono, at its native rate (FMA decodes with ``sr=None``).
    sr : int > 0
    half_rate : np.ndarray [shape=(ceil(n / 2),)] or None
        ``sonicsep.audio.resample(y, sr, sr // 2)``, when the caller has it: the CQT then
        reuses it for its first halving (same samples, see ``cqt_from_half_rate``).

    Returns
    -------
    dict[str, np.ndarray]
        Keyed by FMA's names (:data:`FMA_FEATURE_SIZES`), each ``(rows, t)``.
    """
    y = _audio(y)
    if y.ndim != 1:
        _fail("y", y, "must be one mono clip of shape (n,)")
    # |stft(y)| as librosa computes it for FMA: a float64 FFT, rounded to y's dtype (FMA's
    # contrast valleys in an MP3's empty top octave are FFT round-off, which a float32 FFT
    # changes by up to 0.4 dB), reduced to magnitudes block by block. spec: (1, t, k).
    spec, _, _ = _spectrogram(y, None, _N_FFT, _HOP, 1.0, None, "hann", True, "constant")
    # The CQT's estimate_tuning(y=y, sr=sr, bins_per_octave=12) and chroma_stft's of S**2
    # (at the 22,050 Hz FMA's STFT features assume).
    # Both estimates threshold each frame at a tenth of its peak (of |S| or S**2): one max.
    peak = spec.max(axis=-1)
    tuning = _spectrogram_tuning(spec, sr, 12, peak=peak)
    chroma_tuning = _spectrogram_tuning(spec, _STFT_SR, 12, squared=True, peak=peak)
    cqt_options = {"sr": sr, "hop_length": _HOP, "bins_per_octave": 12, "n_bins": 84}
    C = np.abs(cqt_from_half_rate(y, half_rate, tuning=tuning, **cqt_options))
    # chroma_cqt(C=C, n_chroma=12, n_octaves=7) and chroma_cens(C=C, ...) from one product
    # (chroma_cens' default bins_per_octave, 36, in both, as FMA calls them).
    chroma = chroma_cqt(C=C, n_chroma=12, n_octaves=7, norm=None)
    cens = _cens(chroma)  # chroma_cens' defaults, as FMA calls it
    return {
        "zcr": zero_crossing_rate(y, frame_length=_N_FFT, hop_length=_HOP),
        "chroma_cqt": normalize(chroma, np.inf, axis=-2),
        "chroma_cens": cens,
        "tonnetz": tonnetz(chroma=cens),
        "chroma_stft": _chroma(spec, 2.0, _stft_chroma_basis(chroma_tuning), np.inf)[0],
        **_descriptors(spec),
        "mfcc": mfcc(S=power_to_db(_mel_power(spec, sr)), n_mfcc=20),
    }


def _mel_power(spec: np.ndarray, sr: float) -> np.ndarray:
    """``melspectrogram(sr=sr, S=S**2)`` (128 bands, librosa's defaults) of the magnitudes
    ``spec`` (1, t, k), each bin squared in its dtype on the way in: no ``S**2`` array."""
    bands = _mel_bands(*_check_mel_args(sr, _N_FFT, 128, 0.0, None, False, "slaney", np.float32))
    mel = np.empty((1, bands[0].shape[0], spec.shape[1]), dtype=spec.dtype)
    spectral_kernels.banded_product(spec, 2.0, *bands, mel)
    return mel[0]


def _stft_chroma_basis(tuning: float) -> np.ndarray:
    """chroma_stft's filters for FMA's call (22,050 Hz, n_fft 2048, 12 chroma, defaults)."""
    args = _check_chroma_args(_STFT_SR, _N_FFT, 12, tuning, norm=2, **_chroma_kwargs({}))
    return _chroma_basis(*args)


def _descriptors(spec: np.ndarray) -> dict[str, np.ndarray]:
    """FMA's rms, centroid, bandwidth, contrast and roll-off of the magnitudes ``spec``
    (1, t, k), each ``(rows, t)``: the kernels that spectral_centroid, spectral_bandwidth,
    spectral_contrast(n_bands=6) and spectral_rolloff(S=S) run, on the bins of the 22,050 Hz
    FMA assumes (no sr given), without validating our own spectrogram again (each check is a
    pass over it); rms(S=S) in one pass (``kernels.spectral.spectrum_rms``)."""
    n_t = spec.shape[1]
    centroid = np.empty((1, 1, n_t))  # float64, as spectral_bandwidth computes its own
    spectral_kernels.centroid(spec, _FREQ, np.finfo(spec.dtype).tiny, centroid)
    bandwidth = np.empty((1, 1, n_t), dtype=spec.dtype)
    spectral_kernels.bandwidth(spec, _FREQ, centroid, True, 2.0, np.finfo(spec.dtype).tiny,
                               bandwidth)  # fmt: skip
    rms = np.empty((1, 1, n_t), dtype=spec.dtype)
    spectral_kernels.spectrum_rms(spec, _N_FFT, rms)
    rolloff = np.empty((1, 1, n_t), dtype=spec.dtype)
    spectral_kernels.rolloff(spec, _FREQ, spec.dtype.type(0.85), rolloff)
    peak = np.empty((1, _CONTRAST_BANDS[0].size, n_t))
    valley = np.empty_like(peak)
    spectral_kernels.contrast_peaks(spec, *_CONTRAST_BANDS, 0.02, peak, valley)
    return {
        "rmse": rms[0],
        "spectral_centroid": centroid[0].astype(spec.dtype),  # rounded once, as spectral_centroid
        "spectral_bandwidth": bandwidth[0],
        "spectral_contrast": _contrast_db(peak, valley, None).astype(spec.dtype)[0],
        "spectral_rolloff": rolloff[0],
    }


def fma_statistics(series: dict[str, np.ndarray]) -> np.ndarray:
    """The 518-vector of :data:`FMA_COLUMNS` from :func:`fma_series`' output (float64)."""
    vector = np.empty(N_FMA)
    for name, size in FMA_FEATURE_SIZES.items():
        values = np.ascontiguousarray(series[name])
        if values.shape[0] != size or values.ndim != 2 or values.shape[1] == 0:
            _fail(f"series[{name!r}]", values, f"must be ({size}, t) with t >= 1")
        out = np.empty((size, _STAT_CODES.size))
        stats.summarize_rows(values, _STAT_CODES, np.finfo(values.dtype).resolution, out)
        for j, stat in enumerate(FMA_STATISTICS):
            for i in range(size):
                vector[_POSITION[name, stat, f"{i + 1:02d}"]] = out[i, j]
    return vector


def fma_features(y: np.ndarray, *, sr: int, half_rate: np.ndarray | None = None) -> np.ndarray:
    """FMA's 518 features of one mono clip at its native rate, in :data:`FMA_COLUMNS` order
    (``half_rate``: see :func:`fma_series`).

    Returns
    -------
    np.ndarray [shape=(518,), dtype=float64]
    """
    return fma_statistics(fma_series(y, sr=sr, half_rate=half_rate))


def fma_frame(vectors: np.ndarray, track_ids):
    """A pandas DataFrame laid out as FMA's ``features.csv``: one row per track, indexed by
    ``track_id``, with the (feature, statistics, number) column index.

    ``frame.to_csv(path)`` writes FMA's three header rows, and
    ``pandas.read_csv(path, index_col=0, header=[0, 1, 2])`` reads ours and FMA's alike.
    """
    import pandas as pd

    columns = pd.MultiIndex.from_tuples(FMA_COLUMNS, names=FMA_LEVELS)
    index = pd.Index(list(track_ids), name="track_id")
    return pd.DataFrame(np.asarray(vectors), index=index, columns=columns)
