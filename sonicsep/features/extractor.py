"""FeatureExtractor: every configured feature of a signal, or a batch of segments, from one STFT.

Which features exist, how many rows each has and which method computes it is one table,
:data:`FEATURES`. Its names are those :class:`~sonicsep.config.FeatureConfig` accepts
(``config.KNOWN_FEATURES``, kept in the config so that a config validates without importing
this package); importing this module checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from sonicsep.config import KNOWN_FEATURES, FeatureConfig
from sonicsep.errors import ParameterError
from sonicsep.features._layout import _batch, _librosa_layout
from sonicsep.features._validation import _all_finite, _audio, _fail, _real_float_array
from sonicsep.features.filters import (
    _check_chroma_args,
    _check_mel_args,
    _chroma_basis,
    _chroma_kwargs,
    _mel_bands,
)
from sonicsep.features.onset import _onset_envelope
from sonicsep.features.pitch import _spectrogram_tuning
from sonicsep.features.spectral import (
    _cepstra,
    _cepstrum_basis,
    _chroma,
    _contrast_bands,
    _contrast_db,
)
from sonicsep.features.spectrum import _fft_window
from sonicsep.kernels import db as db_kernels
from sonicsep.kernels import fft as fft_kernels
from sonicsep.kernels import filterbanks, framing, stats
from sonicsep.kernels import spectral as spectral_kernels
from sonicsep.kernels import temporal as temporal_kernels

__all__ = ["FEATURES", "FeatureExtractor", "RegisteredFeature", "SpectralContext"]


class SpectralContext(NamedTuple):
    """What every feature of one :meth:`FeatureExtractor.compute` call is derived from.

    Built once per call (one batch of segments) and handed to each registered feature.
    """

    signals: np.ndarray  # (b, n) samples, config dtype
    mag: np.ndarray  # (b, t, k) STFT magnitudes, frames-major
    mel_power: np.ndarray  # (b, n_mels, t)
    mel_db: np.ndarray  # (b, n_mels, t)
    shared: dict  # intermediate results used by several features (centroids)


class FeatureExtractor:
    """Every configured feature of a signal, or of a batch of segments, from one STFT.

    Built once per :class:`~sonicsep.config.FeatureConfig`: the window, mel and chroma
    filterbanks, DCT basis (lifter folded in), contrast bands and this thread's FFTW plan are
    prepared here (filterbanks and plans are also cached across extractors); :meth:`compute`
    then runs one STFT for the whole batch and derives every feature from its magnitudes (RMS
    and zero-crossing rate from the samples). The STFT runs in ``config.dtype`` (float32:
    frames, window, FFT and magnitudes), unless a configured feature needs librosa's float64
    FFT to stay within the parity tolerance (``RegisteredFeature.float64_fft``: every
    spectral feature but the mel ones; rms and zero-crossing rate use the samples); float32
    magnitudes are then the float64 FFT's rounded, as librosa's. The result is the same bits
    in every process on a machine (:mod:`sonicsep.kernels.fft`).
    Instances hold no mutable state, so one may serve several threads.

    Each feature equals the librosa function called on one segment alone with the config's
    parameters (``sr, n_fft, hop_length, win_length, window, center, pad_mode``):

    - ``mel_db``: ``power_to_db(melspectrogram(y=seg, power, n_mels, fmin, fmax, htk,
      norm=mel_norm), ref=db_ref, amin=amin, top_db=top_db)``, floored per segment;
    - ``mfcc``: ``mfcc(S=mel_db, n_mfcc, dct_type, norm=dct_norm, lifter)``;
    - ``chroma_stft``: ``chroma_stft(y=seg, sr, ..., tuning=tuning, n_chroma)``: with
      ``tuning=None`` (the default) each segment's tuning is estimated from that segment's
      own STFT, ``estimate_tuning(S=|STFT(seg)| ** 2, sr, bins_per_octave=n_chroma)``, as
      librosa does, from the magnitudes already computed (no second STFT);
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
        if "chroma_stft" in c.features and c.tuning is not None:
            self._chroma_basis = self._chroma_basis_for(c.tuning)
        if "spectral_contrast" in c.features:
            self._contrast = _contrast_bands(self._freq, c.sr, c.contrast_fmin, c.n_bands)
        self._stat_codes = np.array([stats.STAT_CODES[s] for s in c.stats], dtype=np.int64)
        self.summary_names = self._summary_names()
        self._fft_dtype = self.dtype
        if any(FEATURES[name].float64_fft(c) for name in c.features):
            self._fft_dtype = np.dtype(np.float64)
        # Plan this thread's FFT now rather than in the first compute.
        rows = fft_kernels.block_rows(c.n_fft, self._fft_dtype)
        fft_kernels.rfft_plan(c.n_fft, rows, self._fft_dtype)

    # ------------------------------------------------------------------ shapes and names
    def n_frames(self, n_samples: int) -> int:
        """Frames of a ``n_samples`` signal (the ``t`` of every feature)."""
        c = self.config
        return framing.n_frames(int(n_samples), c.n_fft, c.hop_length, c.center)

    def _summary_names(self) -> list[str]:
        names = []
        for feature in self.config.features:
            rows = FEATURES[feature].rows(self.config)
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

        Raises
        ------
        ParameterError
            When a feature is not finite: samples far outside [-1, 1] overflow the power
            spectra (the message gives the largest sample).
        """
        c = self.config
        signals, lead = self._signals(y)
        # Overflow shows as inf/NaN features, turned into one error below, so numpy's warnings
        # about it would only repeat that error on the user's terminal.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mag = fft_kernels.stft_magnitude(
                signals, self._window, c.hop_length, c.center, c.pad_mode, 1.0, self._fft_dtype
            )
            mel_power = np.empty((mag.shape[0], c.n_mels, mag.shape[1]), dtype=self.dtype)
            spectral_kernels.banded_product(mag, float(c.power), *self._mel_bands, mel_power)
            mel_db = self._segment_db(mel_power, c.db_ref, c.amin, c.top_db)
            context = SpectralContext(signals, mag, mel_power, mel_db, {})
            out = {"mel_db": mel_db, "mfcc": self._mfcc(context)}
            for name in c.features:
                if name not in out:
                    out[name] = FEATURES[name].compute(self, context)
        _check_finite(out, signals)
        return {name: _librosa_layout(values, lead) for name, values in out.items()}

    @staticmethod
    def _segment_db(power, ref, amin, top_db) -> np.ndarray:
        """power_to_db of ``(segments, bands, t)`` with each segment floored at its own peak."""
        ref_db = 10.0 * np.log10(np.maximum(amin, np.abs(ref)))
        return db_kernels.power_to_db(power, ref_db, amin, top_db, floor_axes=(-2, -1))

    # The registered features (FEATURES, below): each (b, rows, t) in config.dtype.
    def _row_shape(self, context: SpectralContext) -> tuple[int, int, int]:
        return (context.mag.shape[0], 1, context.mag.shape[1])

    def _mfcc(self, context: SpectralContext) -> np.ndarray:
        return _cepstra(self._cepstrum, context.mel_db)

    def _chroma_basis_for(self, tuning: float) -> np.ndarray:
        c = self.config
        args = _check_chroma_args(c.sr, c.n_fft, c.n_chroma, tuning, **_chroma_kwargs({}), norm=2)
        return _chroma_basis(*args)  # cached per tuning (estimates come in steps of 0.01)

    def _chroma_stft(self, context: SpectralContext) -> np.ndarray:
        if self.config.tuning is not None:
            return _chroma(context.mag, 2.0, self._chroma_basis, np.inf)
        n_segments, n_frames, _ = context.mag.shape
        out = np.empty((n_segments, self.config.n_chroma, n_frames), dtype=self.dtype)
        for i in range(n_segments):
            mag = context.mag[i : i + 1]
            # librosa estimates from the power spectrogram |STFT| ** 2, in the audio's dtype.
            tuning = _spectrogram_tuning(mag, self.config.sr, self.config.n_chroma, squared=True)
            out[i : i + 1] = _chroma(mag, 2.0, self._chroma_basis_for(tuning), np.inf)
        return out

    def _rms(self, context: SpectralContext) -> np.ndarray:
        c = self.config
        out = np.empty(self._row_shape(context), dtype=self.dtype)
        offset = c.n_fft // 2 if c.center else 0
        temporal_kernels.rms(
            context.signals, c.n_fft, c.hop_length, offset, framing.PAD_CONSTANT, out
        )
        return out

    def _zero_crossing_rate(self, context: SpectralContext) -> np.ndarray:
        c = self.config
        out = np.empty(self._row_shape(context), dtype=self.dtype)
        offset = c.n_fft // 2 if c.center else 0
        threshold = self.dtype.type(c.zcr_threshold)
        edge = framing.PAD_EDGE
        temporal_kernels.zero_crossing_rate(
            context.signals, c.n_fft, c.hop_length, offset, edge, threshold, True, False, out
        )
        return out

    def _centroids(self, context: SpectralContext) -> np.ndarray:
        """Float64 centroids, computed once for both centroid and bandwidth."""
        if "centroid" not in context.shared:
            centroids = np.empty(self._row_shape(context))
            spectral_kernels.centroid(context.mag, self._freq, np.finfo(self.dtype).tiny, centroids)
            context.shared["centroid"] = centroids
        return context.shared["centroid"]

    def _spectral_centroid(self, context: SpectralContext) -> np.ndarray:
        return self._centroids(context).astype(self.dtype)

    def _spectral_bandwidth(self, context: SpectralContext) -> np.ndarray:
        out = np.empty(self._row_shape(context), dtype=self.dtype)
        tiny = np.finfo(self.dtype).tiny
        spectral_kernels.bandwidth(
            context.mag, self._freq, self._centroids(context), True, 2.0, tiny, out
        )
        return out

    def _spectral_rolloff(self, context: SpectralContext) -> np.ndarray:
        out = np.empty(self._row_shape(context), dtype=self.dtype)
        spectral_kernels.rolloff(
            context.mag, self._freq, self.dtype.type(self.config.roll_percent), out
        )
        return out

    def _spectral_flatness(self, context: SpectralContext) -> np.ndarray:
        return spectral_kernels.flatness(context.mag, 2.0, 1e-10)

    def _spectral_contrast(self, context: SpectralContext) -> np.ndarray:
        shape = (context.mag.shape[0], self.config.n_bands + 1, context.mag.shape[1])
        peak, valley = np.empty(shape), np.empty(shape)
        spectral_kernels.contrast_peaks(context.mag, *self._contrast, 0.02, peak, valley)
        return _contrast_db(peak, valley, (-2, -1)).astype(self.dtype)

    def _onset_strength(self, context: SpectralContext) -> np.ndarray:
        c = self.config
        # librosa's own dB parameters; they are usually the config's, so mel_db is reused.
        if (c.db_ref, c.amin, c.top_db) == (1.0, 1e-10, 80.0):
            onset_db = context.mel_db
        else:
            onset_db = self._segment_db(context.mel_power, 1.0, 1e-10, 80.0)
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
        with np.errstate(over="ignore"):  # a variance beyond float32: the error below says so
            summary = self.summarize(features)
        _check_finite({"summary": summary}, segments)
        return {"mel_db": features["mel_db"], "mfcc": features["mfcc"], "summary": summary}


def _check_finite(features: dict[str, np.ndarray], signals: np.ndarray) -> None:
    """Raise ParameterError naming the features that overflowed and the largest sample."""
    overflowed = [name for name, values in features.items() if not _all_finite(values)]
    if overflowed:
        peak = float(np.max(np.abs(signals), initial=0.0))
        raise ParameterError(
            f"features overflow: samples up to {peak:.3g} (audio is expected within [-1, 1]); "
            f"{', '.join(overflowed)} not finite; scale the audio into [-1, 1]"
        )


def _one_row(config: FeatureConfig) -> int:
    return 1


def _never(config: FeatureConfig) -> bool:
    return False


def _always(config: FeatureConfig) -> bool:
    return True


class RegisteredFeature(NamedTuple):
    """An entry of :data:`FEATURES`."""

    rows: Callable[[FeatureConfig], int]  # rows of the feature under a config
    compute: Callable[[FeatureExtractor, SpectralContext], np.ndarray]  # -> (b, rows, t)
    # Whether, under a config, the feature needs librosa's float64 FFT to stay within the
    # parity tolerance for float32 audio (quiet bins, threshold crossings, a tone's centroid
    # among round-off; see kernels.fft.stft_magnitude). One such feature puts the whole STFT
    # in float64.
    float64_fft: Callable[[FeatureConfig], bool] = _never


# Adding a feature: its entry here, its name in config.KNOWN_FEATURES (same order) and its
# method above (plus any per-config preparation in __init__).
FEATURES: dict[str, RegisteredFeature] = {
    "chroma_stft": RegisteredFeature(lambda c: c.n_chroma, FeatureExtractor._chroma_stft, _always),
    "rms": RegisteredFeature(_one_row, FeatureExtractor._rms),
    "spectral_centroid": RegisteredFeature(_one_row, FeatureExtractor._spectral_centroid, _always),
    "spectral_bandwidth": RegisteredFeature(
        _one_row, FeatureExtractor._spectral_bandwidth, _always
    ),
    "spectral_rolloff": RegisteredFeature(_one_row, FeatureExtractor._spectral_rolloff, _always),
    "spectral_flatness": RegisteredFeature(_one_row, FeatureExtractor._spectral_flatness, _always),
    "spectral_contrast": RegisteredFeature(
        lambda c: c.n_bands + 1, FeatureExtractor._spectral_contrast, _always
    ),
    "zero_crossing_rate": RegisteredFeature(_one_row, FeatureExtractor._zero_crossing_rate),
    "onset_strength": RegisteredFeature(_one_row, FeatureExtractor._onset_strength),
    "mfcc": RegisteredFeature(lambda c: c.n_mfcc, FeatureExtractor._mfcc),
}
if tuple(FEATURES) != KNOWN_FEATURES:  # the config would accept a name nothing computes
    raise ImportError(
        f"FeatureExtractor's FEATURES {tuple(FEATURES)} differ from "
        f"sonicsep.config.KNOWN_FEATURES {KNOWN_FEATURES}; keep them the same names in the "
        "same order"
    )
