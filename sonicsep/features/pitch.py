"""Pitch tracking and tuning estimation (librosa.core.pitch): :func:`piptrack`,
:func:`estimate_tuning` and :func:`pitch_tuning`."""

from __future__ import annotations

import numpy as np

from sonicsep.features._layout import _librosa_layout
from sonicsep.features._validation import _fail, _positive_int, _positive_number
from sonicsep.features.spectrum import _spectrogram
from sonicsep.kernels import filterbanks
from sonicsep.kernels import pitch as pitch_kernels

__all__ = ["estimate_tuning", "piptrack", "pitch_tuning"]


def piptrack(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    n_fft: int | None = 2048,
    hop_length: int | None = None,
    fmin: float = 150.0,
    fmax: float = 4000.0,
    threshold: float = 0.1,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    ref=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pitch tracking on the thresholded, parabolically interpolated STFT
    (``librosa.piptrack``).

    A bin ``k`` of frame ``t`` holds a pitch where ``S[k, t]`` is a local maximum of the
    frame's magnitudes after every bin at or below ``threshold * ref(S[:, t])`` is zeroed, and
    ``fmin <= k sr / n_fft < fmax``. A parabola through ``S[k - 1..k + 1, t]`` refines it:
    ``shift = -(S[k+1] - S[k-1]) / 2 / (S[k+1] + S[k-1] - 2 S[k])`` (0 when that is not within
    one bin), ``pitch = (k + shift) sr / n_fft`` and ``magnitude = S[k] + (S[k+1] - S[k-1])
    shift / 4`` [#]_. One kernel pass per frame does the thresholding, the peak search and
    the interpolation, in the spectrogram's dtype with librosa's rounding.

    .. [#] https://ccrma.stanford.edu/~jos/sasp/Sinusoidal_Peak_Interpolation.html

    Parameters
    ----------
    y : np.ndarray [shape=(..., n), dtype=float32 or float64] or None
        Audio; leading axes (channels) are tracked independently.
    sr : float > 0
    S : np.ndarray [shape=(..., 1 + n_fft // 2, t)] or None
        Magnitude (or power) spectrogram used instead of ``y``; it fixes ``n_fft``.
    n_fft : int > 0 or None
        FFT size when ``y`` is given.
    hop_length : int > 0 or None
        None means ``win_length // 4``.
    fmin, fmax : float
        Frequency range (Hz) of the pitches, ``0 <= fmin < fmax <= sr / 2``. librosa clips
        a range outside [0, sr/2] silently (and returns no pitch for an empty one); here it
        is an error, except that the default fmax, 4000 Hz, is clipped to sr/2 below
        sr = 8000 Hz as librosa does, so the defaults work at any rate.
    threshold : float >= 0
        Fraction of ``ref`` a bin must exceed.
    win_length, window, center, pad_mode
        STFT parameters, see :func:`sonicsep.features.stft`.
    ref : float, callable or None
        A callable is called as ``ref(S, axis=-2)`` and its per-frame values are scaled by
        ``threshold``; a number ``r`` is an absolute threshold ``|r|`` (``threshold`` unused),
        as in librosa. None means ``np.max``.

    Returns
    -------
    pitches, magnitudes : np.ndarray [shape=(..., 1 + n_fft // 2, t), dtype=that of y or S]
        Interpolated frequency (Hz) and magnitude at each peak; 0 elsewhere.
    """
    options = {"hop_length": hop_length, "fmin": fmin, "fmax": fmax, "threshold": threshold}
    options.update(win_length=win_length, window=window, center=center, pad_mode=pad_mode)
    spec, lead, n_fft, ref_values, band = _tracking_input(y, sr, S, n_fft, ref, options)
    half = spec.dtype.type(0.5)
    n_b, n_t, n_k = spec.shape
    pitches = np.empty((n_b, n_k, n_t), dtype=spec.dtype)
    mags = np.empty_like(pitches)
    pitch_kernels.piptrack(spec, False, ref_values, *band, half, float(sr), n_fft, pitches, mags)
    return _librosa_layout(pitches, lead), _librosa_layout(mags, lead)


def _tracking_input(y, sr, S, n_fft, ref, options):
    """Validated piptrack inputs: ``(spec (b, t, k), lead, n_fft, ref (b, t) float64,
    (lo, hi) bin range)``."""
    sr = _positive_number(sr, "sr")
    hop_length, win_length = options["hop_length"], options["win_length"]
    if S is None and n_fft is None:
        _fail("n_fft", n_fft, "must be a positive integer when the spectrogram is computed")
    if S is None:
        n_fft = _positive_int(n_fft, "n_fft")
        if hop_length is None:
            hop_length = (n_fft if win_length is None else win_length) // 4
    fmin, fmax = _pitch_range(sr, options["fmin"], options["fmax"])
    threshold = _threshold(options["threshold"])
    stft_options = (options["window"], options["center"], options["pad_mode"])
    spec, lead, n_fft = _spectrogram(y, S, n_fft, hop_length, 1.0, win_length, *stft_options)
    spec = np.ascontiguousarray(spec)  # a given S is a strided view; frames are read whole
    ref_values = _reference(spec, lead, threshold, ref)
    return spec, lead, n_fft, ref_values, _band(sr, n_fft, fmin, fmax)


def _band(sr: float, n_fft: int, fmin: float, fmax: float) -> tuple[int, int]:
    """Bins ``lo <= k < hi`` with ``fmin <= f_k < fmax`` (librosa's mask, fmin/fmax clipped
    to [0, sr/2] as there)."""
    freqs = filterbanks.fft_frequencies(sr, n_fft)
    fmin, fmax = np.maximum(fmin, 0), np.minimum(fmax, float(sr) / 2)
    inside = np.flatnonzero((fmin <= freqs) & (freqs < fmax))
    return (int(inside[0]), int(inside[-1]) + 1) if inside.size else (0, 0)


def _pitch_range(sr: float, fmin, fmax) -> tuple[float, float]:
    for name, value in (("fmin", fmin), ("fmax", fmax)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            _fail(name, value, "must be a number (Hz)")
        if not np.isfinite(value):
            _fail(name, value, "must be finite")
    if fmin < 0:
        _fail("fmin", fmin, "must be >= 0 Hz")
    if fmax == _PIPTRACK_DEFAULTS["fmax"]:
        fmax = min(fmax, sr / 2)
    if fmax > sr / 2:
        _fail("fmax", fmax, f"must be at most the Nyquist frequency sr/2 = {sr / 2} Hz")
    if fmin >= fmax:
        _fail("fmin", fmin, f"must be below fmax = {fmax} Hz")
    return float(fmin), float(fmax)


def _threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(
        threshold, (int, float, np.integer, np.floating)
    ):
        _fail("threshold", threshold, "must be a number")
    if not np.isfinite(threshold) or threshold < 0:
        _fail("threshold", threshold, "must be >= 0 and finite")
    return threshold


def _reference(spec: np.ndarray, lead, threshold, ref) -> np.ndarray:
    """Per-frame threshold ``(b, t)`` in float64, from librosa's expressions and dtypes."""
    n_b, n_t, n_k = spec.shape
    if ref is None and n_t and n_k:  # librosa's np.max over bins: exact, so taken along rows
        return (threshold * spec.max(axis=-1)).astype(np.float64)
    if ref is None:
        ref = np.max
    if callable(ref):
        if n_t == 0:
            return np.zeros((n_b, n_t))
        layout = _librosa_layout(spec.swapaxes(1, 2), lead)
        values = np.asarray(threshold * ref(layout, axis=-2))
        if values.shape != lead + (n_t,):
            _fail("ref", ref, f"must return one value per frame, shape {lead + (n_t,)}")
        return np.ascontiguousarray(values.reshape(n_b, n_t), dtype=np.float64)
    if isinstance(ref, bool) or not isinstance(ref, (int, float, np.integer, np.floating)):
        _fail("ref", ref, "must be a number, a callable or None")
    if not np.isfinite(ref):
        _fail("ref", ref, "must be finite")
    return np.full((n_b, n_t), np.abs(ref), dtype=np.float64)


def estimate_tuning(
    *,
    y: np.ndarray | None = None,
    sr: float = 22050,
    S: np.ndarray | None = None,
    n_fft: int | None = 2048,
    resolution: float = 0.01,
    bins_per_octave: int = 12,
    **kwargs,
) -> float:
    """Tuning of an audio signal or spectrogram, in fractions of a bin
    (``librosa.estimate_tuning``).

    :func:`piptrack` finds the spectral peaks; those at or above the median peak magnitude go
    to :func:`pitch_tuning`. The peaks are gathered into flat lists by the kernel, without
    the two full-size arrays librosa builds. Multichannel input gives one estimate over all
    channels, as librosa's.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n), dtype=float32 or float64] or None
    sr : float > 0
    S : np.ndarray [shape=(..., 1 + n_fft // 2, t)] or None
        Magnitude or power spectrogram used instead of ``y``.
    n_fft : int > 0 or None
    resolution : float in (0, 1)
        Resolution of the estimate as a fraction of a bin (0.01: cents for semitone bins).
    bins_per_octave : int > 0
    **kwargs
        :func:`piptrack` parameters: hop_length, fmin, fmax, threshold, win_length, window,
        center, pad_mode, ref.

    Returns
    -------
    float in [-0.5, 0.5)
        0.0 when no peak is found (silence), as librosa (which also warns).
    """
    resolution, bins_per_octave = _tuning_args(resolution, bins_per_octave)
    unknown = sorted(set(kwargs) - _PIPTRACK_KWARGS)
    if unknown:
        raise TypeError(f"estimate_tuning() got unexpected keyword arguments {unknown}")
    options = {"hop_length": None, "ref": None, **_PIPTRACK_DEFAULTS, **kwargs}
    ref = options.pop("ref")
    spec, _, n_fft, ref_values, band = _tracking_input(y, sr, S, n_fft, ref, options)
    return _peak_tuning(spec, False, ref_values, band, sr, n_fft, resolution, bins_per_octave)


def _peak_tuning(spec, squared, ref_values, band, sr, n_fft, resolution, bins_per_octave):
    """estimate_tuning of a validated frames-major spectrogram ``(b, t, k)`` (of its square,
    bin by bin in its dtype, when ``squared``)."""
    lo, hi = band
    n_b, n_t, _ = spec.shape
    room = n_b * n_t * ((hi - lo + 1) // 2)
    pitches = np.empty(room, dtype=spec.dtype)
    mags = np.empty(room, dtype=spec.dtype)
    half = spec.dtype.type(0.5)
    count = pitch_kernels.peak_list(
        spec, squared, ref_values, lo, hi, half, float(sr), n_fft, pitches, mags
    )
    # librosa keeps pitch > 0 (every peak: bin >= 1, shift > -1) at or above the median.
    loud = np.empty(count, dtype=spec.dtype)
    n_loud = pitch_kernels.loud_pitches(pitches[:count], mags[:count], half, loud)
    return _tuning(loud[:n_loud], resolution, bins_per_octave)


def _spectrogram_tuning(
    spec: np.ndarray, sr: float, n_chroma, squared: bool = False, peak: np.ndarray | None = None
) -> float:
    """librosa chroma_stft's ``estimate_tuning(S=spec, sr=sr, bins_per_octave=n_chroma)``
    (every other parameter at its default) of a contiguous frames-major ``(b, t, k)`` power
    spectrogram, or of the magnitudes whose squares it is (``squared``: the extractor's, which
    are never squared into an array); fmax clipped to sr/2 as librosa does. ``peak``:
    ``spec.max(axis=-1)`` when the caller has it (FMA's two estimates share it)."""
    bins_per_octave = _positive_int(n_chroma, "n_chroma")
    # estimate_tuning's own n_fft=2048 stands unless S's bins contradict it (librosa's rule),
    # so an odd chroma n_fft is seen as the even one below it, as there.
    n_bins = spec.shape[-1]
    tuning_n_fft = 2048 if 2048 // 2 + 1 == n_bins else 2 * (n_bins - 1)
    if n_bins == 0 or spec.shape[1] == 0:
        ref_values = np.zeros(spec.shape[:2])
    else:
        # librosa's 0.1 * max(S ** 2) per frame: rounding is monotonic, so the largest
        # rounded square is the rounded square of the largest magnitude.
        peak = spec.max(axis=-1) if peak is None else peak
        ref_values = (0.1 * (np.square(peak) if squared else peak)).astype(np.float64)
    band = _band(sr, tuning_n_fft, 150.0, 4000.0)
    return _peak_tuning(spec, squared, ref_values, band, sr, tuning_n_fft, 0.01, bins_per_octave)


_PIPTRACK_DEFAULTS = {
    "fmin": 150.0,
    "fmax": 4000.0,
    "threshold": 0.1,
    "win_length": None,
    "window": "hann",
    "center": True,
    "pad_mode": "constant",
}
_PIPTRACK_KWARGS = frozenset(_PIPTRACK_DEFAULTS) | {"hop_length", "ref"}


def pitch_tuning(frequencies, *, resolution: float = 0.01, bins_per_octave: int = 12) -> float:
    """Tuning offset of a set of frequencies from A440, in fractions of a bin
    (``librosa.pitch_tuning``).

    Each frequency's distance to the nearest bin, ``bins_per_octave log2(f / 27.5)`` modulo
    1 folded into [-0.5, 0.5), is histogrammed at ``resolution``; the result is the left edge
    of the fullest histogram bin.

    Parameters
    ----------
    frequencies : array-like of float
        Frequencies (Hz); those <= 0 are ignored.
    resolution : float in (0, 1)
    bins_per_octave : int > 0

    Returns
    -------
    float in [-0.5, 0.5)
        0.0 when no positive frequency is given (librosa warns there; this returns quietly).
    """
    resolution, bins_per_octave = _tuning_args(resolution, bins_per_octave)
    frequencies = np.atleast_1d(np.asarray(frequencies))
    if not np.issubdtype(frequencies.dtype, np.number) or np.iscomplexobj(frequencies):
        _fail("frequencies", frequencies, "must be real numbers (Hz)")
    if not np.isfinite(frequencies).all():
        _fail("frequencies", frequencies, "contains NaN or infinite values")
    return _tuning(frequencies, resolution, bins_per_octave)


def _tuning_args(resolution, bins_per_octave) -> tuple[float, int]:
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, (int, float, np.integer, np.floating))
        or not 0 < resolution < 1
    ):
        _fail("resolution", resolution, "must be in (0, 1)")
    return resolution, _positive_int(bins_per_octave, "bins_per_octave")


def _tuning(frequencies: np.ndarray, resolution, bins_per_octave: int) -> float:
    """librosa's pitch_tuning arithmetic, expression for expression (dtypes included: float32
    frequencies give float32 octaves, as there)."""
    frequencies = frequencies[frequencies > 0]
    if not np.any(frequencies):
        return 0.0
    a440 = 440.0 * 2.0 ** (0.0 / bins_per_octave)
    octaves = np.ascontiguousarray(np.log2(np.asanyarray(frequencies) / (float(a440) / 16)))
    # np.mod, the fold and np.histogram in one kernel pass, with NumPy's roundings.
    edges = np.linspace(-0.5, 0.5, int(np.ceil(1.0 / resolution)) + 1)
    counts = np.zeros(edges.size - 1, dtype=np.int64)
    scale = octaves.dtype.type(bins_per_octave)
    pitch_kernels.tuning_counts(octaves, scale, edges, counts)
    return edges[np.argmax(counts)]
