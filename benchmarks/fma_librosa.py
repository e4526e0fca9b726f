"""FMA's own feature pipeline (mdeff/fma ``features.py``) with librosa 0.11: the reference that
tests/test_fma.py checks SonicSep's FMA features against and that the benchmarks time.

It repeats FMA's calls one for one (librosa's ``rmse`` is today's ``rms``; FMA passes no ``sr``
to the descriptors of its STFT, so they assume 22,050 Hz whatever the clip's rate, and SonicSep
keeps that). Not part of the package: SonicSep never imports librosa at run time.
"""

from __future__ import annotations

import librosa
import numpy as np
from scipy import stats

from sonicsep.features.fma import FMA_COLUMNS

MOMENTS = {"mean": np.mean, "std": np.std, "skew": stats.skew, "kurtosis": stats.kurtosis,
           "median": np.median, "min": np.min, "max": np.max}


def fma_series(x: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """FMA's eleven features over time of a mono clip, computed by librosa as FMA does."""
    cqt = np.abs(librosa.cqt(x, sr=sr, hop_length=512, bins_per_octave=12, n_bins=7 * 12,
                             tuning=None))
    cens = librosa.feature.chroma_cens(C=cqt, n_chroma=12, n_octaves=7)
    S = np.abs(librosa.stft(x, n_fft=2048, hop_length=512))
    mel = librosa.feature.melspectrogram(sr=sr, S=S**2)
    return {
        "zcr": librosa.feature.zero_crossing_rate(x, frame_length=2048, hop_length=512),
        "chroma_cqt": librosa.feature.chroma_cqt(C=cqt, n_chroma=12, n_octaves=7),
        "chroma_cens": cens,
        "tonnetz": librosa.feature.tonnetz(chroma=cens),
        "chroma_stft": librosa.feature.chroma_stft(S=S**2, n_chroma=12),
        "rmse": librosa.feature.rms(S=S),
        "spectral_centroid": librosa.feature.spectral_centroid(S=S),
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(S=S),
        "spectral_contrast": librosa.feature.spectral_contrast(S=S, n_bands=6),
        "spectral_rolloff": librosa.feature.spectral_rolloff(S=S),
        "mfcc": librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20),
    }


def fma_statistics(series: dict[str, np.ndarray]) -> np.ndarray:
    """FMA's feature_stats (numpy and scipy.stats defaults), in FMA_COLUMNS order: each
    statistic once per feature over all its rows (77 calls), as FMA computes them."""
    computed = {(feature, stat): MOMENTS[stat](values, axis=1)
                for feature, values in series.items() for stat in MOMENTS}
    return np.array([computed[feature, stat][int(number) - 1]
                     for feature, stat, number in FMA_COLUMNS])


def fma_features(x: np.ndarray, sr: int) -> np.ndarray:
    """The 518 values FMA's features.py computes for a decoded clip."""
    return fma_statistics(fma_series(x, sr))


def fma_track(path) -> np.ndarray:
    """FMA's whole per-track job: decode at the native rate (librosa.load, sr=None), features."""
    x, sr = librosa.load(path, sr=None, mono=True)
    return fma_features(x, sr)
