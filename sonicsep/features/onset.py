"""Onset detection functions (librosa.onset): :func:`onset_strength` by spectral flux."""

from __future__ import annotations

import numpy as np

from sonicsep.errors import ParameterError
from sonicsep.features._layout import _batch
from sonicsep.features._validation import _fail, _positive_int, _real_float_array
from sonicsep.features.spectral import melspectrogram
from sonicsep.features.spectrum import power_to_db
from sonicsep.kernels import temporal as temporal_kernels


def _onset_envelope(spec_db: np.ndarray, lag, max_size, ref, aggregate, center, n_fft, hop_length):
    """Spectral flux of a batched dB spectrogram ``(b, m, t)``: ``(b, t_out)``, padded and
    trimmed like librosa's onset_strength_multi with one channel."""
    if ref is None:
        if max_size == 1:
            ref = spec_db
        else:
            ref = np.empty_like(spec_db)
            temporal_kernels.max_filter_bands(spec_db, max_size, ref)
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
        temporal_kernels.detrend(onset, filtered)
        onset = filtered.astype(onset.dtype)
    return onset.reshape(lead + onset.shape[1:])
