"""librosa-compatible feature functions, and :class:`FeatureExtractor` (one STFT, every feature).

The functions carry librosa 0.11's names, keyword arguments and defaults, so
``librosa.feature.mfcc(y=y, sr=sr)`` becomes ``sonicsep.features.mfcc(y=y, sr=sr)`` with the
same numbers: tests/test_features.py asserts, on real clips and generated edge signals, a
largest absolute difference from librosa of at most 1e-9 of the largest absolute librosa value
for float64 input, and at most 1e-4 of it for float32 input (the constant-Q side, in
tests/test_cqt.py: 1e-6 for float64, as librosa builds its filters in complex64; measured
9.2e-8). ``chroma_stft`` estimates the
tuning by default (``tuning=None``) with :func:`estimate_tuning`, as librosa's does.
Deliberate differences: outputs keep the input's float dtype (librosa returns float64 for
some float32 descriptors and float32 RMS for float64 input); windows are named ones
(``sonicsep.kernels.windows.WINDOW_NAMES``: hann, hamming, blackman, bartlett, boxcar and
scipy's aliases of them), arrays or callables, not scipy's parametrised tuples;
``pad_mode`` is one of ``sonicsep.kernels.framing.PAD_MODES`` ('constant', 'reflect', 'edge');
``freq`` arrays are 1-D; and integer, complex or non-finite input is refused rather than cast.
Invalid input raises :class:`sonicsep.errors.ParameterError` naming the parameter and its
value.

:class:`FeatureExtractor` computes a whole configured feature set from one STFT per signal or
batch of segments, with filterbanks, DCT basis and FFT plans built once per configuration.

The modules follow librosa's: ``spectrum`` (stft, power_to_db), ``filters`` (mel, chroma;
also this package's ``filters`` namespace), ``spectral`` (melspectrogram, mfcc, chroma_stft
and the spectral descriptors), ``temporal`` (rms, zero_crossing_rate, amplitude_envelope),
``onset`` (onset_strength), ``pitch`` (piptrack, estimate_tuning, pitch_tuning),
``constantq`` (cqt; librosa's module name, so that ``features.cqt`` stays the function),
``chroma`` (chroma_cqt, chroma_cens, tonnetz), ``fma`` (FMA's 518 per-track features)
and ``extractor`` (FeatureExtractor and its feature registry).
"""

from sonicsep.features import filters
from sonicsep.features.chroma import chroma_cens, chroma_cqt, tonnetz
from sonicsep.features.constantq import cqt
from sonicsep.features.extractor import FeatureExtractor
from sonicsep.features.onset import onset_strength
from sonicsep.features.pitch import estimate_tuning, piptrack, pitch_tuning
from sonicsep.features.spectral import (
    chroma_stft,
    melspectrogram,
    mfcc,
    spectral_bandwidth,
    spectral_centroid,
    spectral_contrast,
    spectral_flatness,
    spectral_rolloff,
)
from sonicsep.features.spectrum import power_to_db, stft
from sonicsep.features.temporal import amplitude_envelope, rms, zero_crossing_rate

__all__ = [
    "FeatureExtractor",
    "amplitude_envelope",
    "chroma_cens",
    "chroma_cqt",
    "chroma_stft",
    "cqt",
    "estimate_tuning",
    "filters",
    "melspectrogram",
    "mfcc",
    "onset_strength",
    "piptrack",
    "pitch_tuning",
    "power_to_db",
    "rms",
    "spectral_bandwidth",
    "spectral_centroid",
    "spectral_contrast",
    "spectral_flatness",
    "spectral_rolloff",
    "stft",
    "tonnetz",
    "zero_crossing_rate",
]
