"""The constant-Q transform (librosa.core.constantq): :func:`cqt`.

librosa 0.11's algorithm (``vqt`` with ``gamma=0``): the signal is first downsampled as far as
the highest filter and the hop allow, then each octave, from the top, is the ``window='ones'``
STFT of the current signal reduced by that octave's sparse FFT-domain filter basis, and the
signal is halved (soxr, as ``librosa.resample(..., res_type)``, so the samples are librosa's)
before the next octave. What is done differently: every octave's basis, with all of its scale
factors folded in, is built once per parameter set and cached (librosa rebuilds it in every
call, about half of its time on a 30 s clip); short filters are applied as the equivalent
time-domain kernels (the basis' inverse transform), one dot product per frame and filter with
no STFT at all, long ones through the STFT route with each block of frames reduced while in
cache (``sonicsep.kernels.cqt.octave_kernels`` chooses); and the signal is not resampled after
the last octave. What remains is mostly soxr, which librosa's samples require.
"""

from __future__ import annotations

import inspect
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import soxr

from sonicsep.features._layout import _batch, _librosa_layout
from sonicsep.features._validation import (
    _audio,
    _fail,
    _positive_int,
    _positive_number,
)
from sonicsep.features.pitch import estimate_tuning
from sonicsep.kernels import cqt as cqt_kernels
from sonicsep.kernels import fft as fft_kernels
from sonicsep.kernels import framing, windows

__all__ = ["cqt"]

# soxr's qualities as librosa's res_type names them (the only resamplers supported here).
SOXR_RES_TYPES = ("soxr_vhq", "soxr_hq", "soxr_mq", "soxr_lq", "soxr_qq")
_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))


@dataclass(frozen=True)
class _Octave:
    """One octave's filters at its rate: ``n_filters`` output bins from ``bin0``."""

    hop_length: int
    n_fft: int
    kernels: tuple  # cqt_kernels.octave_kernels: every scale factor applied
    bin0: int
    halve_after: bool  # librosa halves the signal (and hop) after this octave


@dataclass(frozen=True)
class _CqtPlan:
    early_factor: int  # downsampling before the first octave (1: none)
    octaves: tuple


def _early_downsample_count(nyquist, filter_cutoff, hop_length, n_octaves) -> int:
    """Halvings before the first octave (``constantq.__early_downsample_count``): as many as
    keep the highest filter below the new Nyquist frequency with an octave of margin, and
    leave enough factors of two in the hop for the octaves."""
    count1 = max(0, int(np.ceil(np.log2(nyquist / filter_cutoff)) - 1) - 1)
    num_twos = 0
    while hop_length > 0 and hop_length % 2 == 0:
        num_twos += 1
        hop_length //= 2
    return min(count1, max(0, num_twos - n_octaves + 1))


def _plan_bytes(plan: _CqtPlan) -> int:
    return sum(
        a.nbytes for octave in plan.octaves for a in octave.kernels if isinstance(a, np.ndarray)
    )


class _PlanCache:
    """Least-recently-used plans, bounded by the bytes of their kernels rather than a count:
    with ``tuning=None`` every track of a dataset may have its own tuning (librosa's estimate
    is a multiple of 0.01 bin), hence its own plan, and a default complex64 plan (168 KiB)
    is far smaller than chroma_cqt's 36-bins-per-octave one (2 MiB). 128 MiB holds 64 of
    those, or every tuning's default plan."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._plans: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key, build):
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = build(*key)  # outside the lock: two threads may build the same plan once each
        size = _plan_bytes(plan)
        with self._lock:
            if key not in self._plans:
                self._plans[key] = plan
                self._bytes += size
            while self._bytes > self.max_bytes and len(self._plans) > 1:
                _, old = self._plans.popitem(last=False)
                self._bytes -= _plan_bytes(old)
        return plan


_PLANS = _PlanCache(max_bytes=128 << 20)


def _build_plan(
    sr,
    hop_length,
    fmin,
    n_bins,
    bins_per_octave,
    filter_scale,
    norm,
    sparsity,
    window,
    scale,
    dtype,
) -> _CqtPlan:
    """Every octave's sparse basis for one parameter set (``fmin`` already tuned)."""
    dtype = np.dtype(dtype)
    n_octaves = int(np.ceil(float(n_bins) / bins_per_octave))
    n_filters = min(bins_per_octave, n_bins)
    freqs = cqt_kernels.equal_frequencies(n_bins, fmin, bins_per_octave)
    alpha = cqt_kernels.relative_bandwidth(freqs, bins_per_octave)
    _, cutoff = cqt_kernels.wavelet_lengths(freqs, sr, window, filter_scale, 0, alpha)
    nyquist = sr / 2.0
    if cutoff > nyquist:
        _fail(
            "n_bins",
            n_bins,
            f"the wavelet basis with max frequency={np.max(freqs[-bins_per_octave:])} (filter "
            f"cutoff {cutoff:.6g} Hz) would exceed the Nyquist frequency={nyquist}; reduce "
            "n_bins or fmin",
        )
    early_factor = 2 ** _early_downsample_count(nyquist, cutoff, hop_length, n_octaves)
    hop_length //= early_factor
    sr = sr / float(early_factor)
    lengths, _ = cqt_kernels.wavelet_lengths(freqs, sr, window, filter_scale, 0, alpha)
    octaves = []
    octave_filters = {}  # wavelet filters repeat from octave to octave
    my_sr, my_hop = sr, hop_length
    for i in range(n_octaves):
        bin0 = max(0, n_bins - n_filters * (i + 1))
        stop = n_bins - n_filters * i
        indptr, indices, values, n_fft, _ = cqt_kernels.filter_fft_basis(
            freqs[bin0:stop],
            alpha[bin0:stop],
            my_sr,
            filter_scale,
            norm,
            sparsity,
            window,
            dtype,
            octave_filters,
        )
        values *= np.sqrt(sr / my_sr)  # in the output dtype, as librosa scales its basis
        values = values.astype(np.complex128)
        if scale:
            rows = bin0 + np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))
            values /= np.sqrt(lengths[rows])
        kernels = cqt_kernels.octave_kernels(
            indptr, indices, values, n_fft, np.float32 if dtype == np.complex64 else np.float64
        )
        for array in kernels[1:]:
            if isinstance(array, np.ndarray):
                array.setflags(write=False)
        halve = my_hop % 2 == 0
        octaves.append(_Octave(my_hop, n_fft, kernels, bin0, halve))
        if halve:
            my_hop //= 2
            my_sr /= 2.0
    return _CqtPlan(early_factor, tuple(octaves))


# _build_plan's parameters, in order: the plan cache's key.
_PLAN_PARAMETERS = tuple(inspect.signature(_build_plan).parameters)


def _resample(signals: np.ndarray, factor: int, res_type: str) -> np.ndarray:
    """``librosa.resample(signals, orig_sr=factor, target_sr=1, res_type=res_type,
    scale=True)``: soxr row by row, fixed to ``ceil(n / factor)`` samples, scaled by
    ``sqrt(factor)`` in librosa's arithmetic (a float32 signal is divided by the float64
    ``sqrt(1 / factor)`` and rounded, as librosa's in-place division does)."""
    ratio = float(1) / factor
    n_samples = int(np.ceil(signals.shape[-1] * ratio))
    rows = [soxr.resample(signal, factor, 1, quality=res_type) for signal in signals]
    if len(rows) == 1 and rows[0].shape[0] == n_samples:
        y_hat = rows[0][np.newaxis]  # soxr's own array: no copy
    else:
        y_hat = np.zeros((signals.shape[0], n_samples), dtype=signals.dtype)
        for row, resampled in zip(y_hat, rows, strict=True):
            row[: min(n_samples, resampled.shape[0])] = resampled[:n_samples]
    cqt_kernels.divide_in_place(y_hat, np.sqrt(ratio))
    return y_hat


def _check_norm(norm):
    if norm is None:
        return None
    if isinstance(norm, bool) or not isinstance(norm, (int, float, np.integer, np.floating)):
        _fail("norm", norm, "must be None, np.inf, -np.inf, 0 or a positive number")
    if not (np.isinf(norm) or norm >= 0):
        _fail("norm", norm, "must be None, np.inf, -np.inf, 0 or a positive number")
    return float(norm)


def _as_dtype(dtype) -> np.dtype | None:
    """``np.dtype(dtype)``, or None for anything that names no dtype."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


def _checked_cqt_args(args: dict) -> dict:
    """:func:`cqt`'s arguments, validated and normalised (window by its canonical name,
    fmin None as C1, dtype resolved), as a new dict."""
    args = dict(args)
    y = args["y"] = _audio(args["y"])
    sr = args["sr"] = _positive_number(args["sr"], "sr")
    args["hop_length"] = _positive_int(args["hop_length"], "hop_length")
    fmin = args["fmin"]
    fmin = args["fmin"] = cqt_kernels.C1_HZ if fmin is None else _positive_number(fmin, "fmin")
    if fmin >= sr / 2:
        _fail("fmin", fmin, f"must be below the Nyquist frequency sr/2 = {sr / 2} Hz")
    args["n_bins"] = _positive_int(args["n_bins"], "n_bins")
    args["bins_per_octave"] = _positive_int(args["bins_per_octave"], "bins_per_octave")
    tuning = args["tuning"]
    if tuning is not None and not np.isfinite(tuning):
        _fail("tuning", tuning, "must be a finite number of bins, or None to estimate it")
    args["filter_scale"] = _positive_number(args["filter_scale"], "filter_scale")
    args["norm"] = _check_norm(args["norm"])
    sparsity = args["sparsity"]
    if not isinstance(sparsity, (int, float, np.integer, np.floating)) or not 0 <= sparsity < 1:
        _fail("sparsity", sparsity, "must be in [0, 1)")
    args["sparsity"] = float(sparsity)
    window = windows.canonical_window_name(args["window"])
    if window is None:
        _fail("window", args["window"], f"unsupported; use one of {windows.WINDOW_NAMES}")
    args["window"] = window
    args["scale"] = bool(args["scale"])
    if args["pad_mode"] not in framing.PAD_MODES:
        _fail("pad_mode", args["pad_mode"], f"must be one of {tuple(framing.PAD_MODES)}")
    if args["res_type"] is None:
        warnings.warn(
            "Support for VQT with res_type=None is deprecated in librosa 0.10\n"
            "and will be removed in version 1.0.",
            category=FutureWarning,
            stacklevel=3,
        )
        args["res_type"] = "soxr_hq"
    if args["res_type"] not in SOXR_RES_TYPES:
        _fail("res_type", args["res_type"], f"must be one of {SOXR_RES_TYPES} (soxr's qualities)")
    dtype = args["dtype"]
    if dtype is None:
        dtype = fft_kernels.complex_dtype(y.dtype)
    elif _as_dtype(dtype) not in _COMPLEX:
        _fail("dtype", dtype, "must be complex64, complex128 or None")
    args["dtype"] = np.dtype(dtype).str
    return args


def cqt(
    y: np.ndarray,
    *,
    sr: float = 22050,
    hop_length: int = 512,
    fmin: float | None = None,
    n_bins: int = 84,
    bins_per_octave: int = 12,
    tuning: float | None = 0.0,
    filter_scale: float = 1,
    norm: float | None = 1,
    sparsity: float = 0.01,
    window="hann",
    scale: bool = True,
    pad_mode: str = "constant",
    res_type: str | None = "soxr_hq",
    dtype=None,
) -> np.ndarray:
    """Constant-Q transform (``librosa.cqt``).

    ``C[.., k, t]``: the response at frame ``t`` (hop ``hop_length``, centred) of a windowed
    complex sinusoid at ``f_k = fmin 2 ** ((k + tuning) / bins_per_octave)`` whose length is
    ``Q sr / f_k`` samples, ``Q = filter_scale / alpha`` (``alpha`` the relative bandwidth of
    the bins). Computed octave by octave from the top, the signal halved by soxr between
    octaves (librosa's multirate algorithm and samples). Values agree with librosa's to within
    float32 round-off (tests/test_cqt.py states the measured bound).

    Parameters
    ----------
    y : np.ndarray [shape=(..., n), dtype=float32 or float64]
        Audio, finite; leading axes are transformed independently.
    sr : float > 0
    hop_length : int > 0
        When it has fewer than ``n_octaves - 1`` factors of two, the lower octaves are
        computed without halving the signal (as librosa).
    fmin : float > 0 or None
        Lowest bin's frequency (Hz) before tuning; None is C1 (about 32.70 Hz).
    n_bins : int > 0
        The top bin's filter must stay below the Nyquist frequency.
    bins_per_octave : int > 0
    tuning : float or None
        Deviation from A440 in fractions of a bin; None estimates it from ``y``
        (:func:`sonicsep.features.pitch.estimate_tuning`, as librosa).
    filter_scale : float > 0
        Filter length factor: larger is longer filters, finer frequency resolution.
    norm : {None, np.inf, -np.inf, 0, float > 0}
        Norm of each time-domain filter (``librosa.util.normalize``).
    sparsity : float in [0, 1)
        Fraction of each filter's L1 mass in the FFT domain that may be dropped.
    window : str
        Filter window, one of ``sonicsep.kernels.windows.WINDOW_NAMES``.
    scale : bool
        Divide each bin by the square root of its filter's length (librosa's default); False
        keeps the unnormalised response, scaled by the downsampling factors.
    pad_mode : {'constant', 'reflect', 'edge'}
        Centre padding of each octave's frames.
    res_type : one of ``SOXR_RES_TYPES`` or None
        soxr quality for halving the signal (None: 'soxr_hq' with librosa's FutureWarning).
    dtype : complex64, complex128 or None
        None: complex64 for float32 input, complex128 for float64.

    Returns
    -------
    np.ndarray [shape=(..., n_bins, t), dtype=dtype]
        Fortran-ordered in its last two axes, like librosa's.

    Raises
    ------
    ParameterError
        Naming the parameter: an ``fmin`` at or above the Nyquist frequency, a top filter
        above it (``n_bins``), a signal shorter than the early downsampling factor (``y``),
        non-finite input, or any invalid parameter. A signal shorter than an octave's FFT
        length only warns (``n_fft=... is too large for input signal of length=...``), as
        librosa does.
    """
    return _cqt(_checked_cqt_args(locals()))


def cqt_from_half_rate(y: np.ndarray, half_rate: np.ndarray | None, **kwargs) -> np.ndarray:
    """:func:`cqt` of a mono ``y`` given ``half_rate``, the same clip at half its rate as
    ``sonicsep.audio.resample(y, sr, sr // 2)`` computes it (soxr 'HQ').

    That is the very signal librosa's early downsampling makes when it halves once with
    ``res_type='soxr_hq'`` (soxr's output depends only on the ratio), so a caller that needs
    the half-rate clip anyway (featurize's segments of a 44.1 kHz file) saves the CQT's
    costliest resampling. In every other case (or None) ``half_rate`` is not used. The result equals
    ``cqt(y, **kwargs)`` bit for bit (tests/test_cqt.py).
    """
    unknown = sorted(set(kwargs) - set(_CQT_DEFAULTS))
    if unknown:
        raise TypeError(f"cqt_from_half_rate() got unexpected keyword arguments {unknown}")
    args = _checked_cqt_args({**_CQT_DEFAULTS, **kwargs, "y": y})
    if half_rate is None:
        return _cqt(args)
    y, half_rate = args["y"], _audio(half_rate)
    if y.ndim != 1 or half_rate.shape != (-(-y.shape[0] // 2),) or half_rate.dtype != y.dtype:
        _fail("half_rate", half_rate, "must be the mono y resampled to half its rate, same dtype")
    return _cqt(args, half_rate)


def _cqt(args: dict, half_rate: np.ndarray | None = None) -> np.ndarray:
    """:func:`cqt` of validated arguments (see :func:`cqt_from_half_rate` for ``half_rate``)."""
    y = args["y"]
    if args["tuning"] is None:
        args["tuning"] = estimate_tuning(
            y=y, sr=args["sr"], bins_per_octave=args["bins_per_octave"]
        )
    args["fmin"] *= 2.0 ** (args["tuning"] / args["bins_per_octave"])
    plan = _PLANS.get(tuple(args[name] for name in _PLAN_PARAMETERS), _build_plan)
    scale, pad_mode, res_type = args["scale"], args["pad_mode"], args["res_type"]
    signals, lead = _batch(np.ascontiguousarray(y), 1)
    if plan.early_factor > 1:
        if signals.shape[-1] < plan.early_factor:
            n_octaves = len(plan.octaves)
            _fail(
                "y",
                y,
                f"is too short ({signals.shape[-1]} samples) for a "
                f"{n_octaves}-octave CQT, which first downsamples by {plan.early_factor}",
            )
        if plan.early_factor == 2 and res_type == "soxr_hq" and half_rate is not None:
            signals = half_rate.astype(signals.dtype)[np.newaxis]
            cqt_kernels.divide_in_place(signals, np.sqrt(0.5))  # _resample's scaling
        else:
            signals = _resample(signals, plan.early_factor, res_type)
        if not scale:
            signals *= np.sqrt(plan.early_factor)
    n_columns = _n_columns(signals.shape[-1], plan)
    out = np.empty((signals.shape[0], n_columns, args["n_bins"]), args["dtype"])
    for i, octave in enumerate(plan.octaves):
        if octave.n_fft > signals.shape[-1]:
            warnings.warn(
                f"n_fft={octave.n_fft} is too large for input signal of length={signals.shape[-1]}",
                stacklevel=2,
            )
        cqt_kernels.octave_response(
            signals, octave.hop_length, pad_mode, octave.kernels, octave.bin0, out
        )
        if octave.halve_after and i + 1 < len(plan.octaves):
            signals = _resample(signals, 2, res_type)
    return _librosa_layout(out.swapaxes(1, 2), lead)


# cqt's keyword defaults, for cqt_from_half_rate's keyword arguments.
_CQT_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(cqt).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


def _n_columns(n_samples: int, plan: _CqtPlan) -> int:
    """Frames librosa keeps: the fewest of any octave (``constantq.__trim_stack``)."""
    columns = []
    for octave in plan.octaves:
        columns.append(framing.n_frames(n_samples, octave.n_fft, octave.hop_length, True))
        if octave.halve_after:
            n_samples = int(np.ceil(n_samples * 0.5))
    return min(columns)
