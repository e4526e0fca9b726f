"""Time-domain features, framed from the samples themselves: :func:`rms`,
:func:`zero_crossing_rate` and :func:`amplitude_envelope`."""

from __future__ import annotations

import numpy as np

from sonicsep.errors import ParameterError
from sonicsep.features._layout import _batch, _librosa_layout
from sonicsep.features._validation import _FLOATS, _all_finite, _audio, _fail, _positive_int
from sonicsep.kernels import framing
from sonicsep.kernels import temporal as temporal_kernels


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
        temporal_kernels.rms(signals, frame_length, hop_length, offset, mode, out)
        result = _librosa_layout(out, lead)
    elif S is not None:
        if (
            not isinstance(S, np.ndarray)
            or S.ndim < 2
            or not (np.iscomplexobj(S) or S.dtype in _FLOATS)
        ):
            _fail("S", S, "must be a real or complex float array of at least 2 dimensions")
        if not _all_finite(S):
            _fail("S", S, "contains NaN or infinite values")
        if S.shape[-2] != frame_length // 2 + 1:
            _fail("frame_length", frame_length, f"does not match S.shape[-2] = {S.shape[-2]}")
        # The same bits as librosa's np.abs(S) ** 2, without the |S| temporary for real S.
        power_spec = np.abs(S) ** 2 if np.iscomplexobj(S) else np.square(S)
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
    temporal_kernels.amplitude_envelope(signals, frame_length, hop_length, offset, mode, out)
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
    temporal_kernels.zero_crossing_rate(
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
