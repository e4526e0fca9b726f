"""Constant-Q transform kernels: the wavelet filters, their sparse FFT-domain basis, and one
octave's response.

The filter construction follows librosa 0.11 (``filters.wavelet_lengths``, ``filters.wavelet``,
``constantq.__vqt_filter_fft``, ``util.sparsify_rows``) step for step, including where librosa
rounds: the time-domain filters are stored as complex64 whatever the output dtype, and the
sparse basis is rounded to the output dtype before the octave's rate correction is applied.
The filters' FFT runs in float64 through pyFFTW (librosa's scipy.fft transforms the complex64
filters in single precision): a difference below float32 round-off of the result.

An octave's response ``sum_k B[k] X_t[k]`` (``X_t`` the real FFT of frame ``t``, ``B`` the
sparse basis) is computed one of two ways (:func:`octave_kernels` picks the cheaper): as
``sum_n x_t[n] h[n]`` with ``h`` the basis' time-domain equivalent (:func:`frame_products`,
exact in exact arithmetic, no FFT), or as librosa does, each block of frames transformed by a
cached float64 FFTW plan and reduced by :func:`sparse_product` while in cache.
"""

from __future__ import annotations

import functools

import numpy as np
import pyfftw
from numba import njit

from . import fft as fft_kernels
from . import memory, windows
from .framing import PAD_MODES, n_frames, padded_index
from .spectral import normalize

_REDUCTION = {"reassoc", "contract"}
# librosa.note_to_hz('C1'), the default lowest bin, computed as librosa's midi_to_hz does.
C1_HZ = 440.0 * (2.0 ** ((24 - 69.0) / 12.0))

# librosa.filters.WINDOW_BANDWIDTHS for the windows this package names (every alias of a
# window has the same value there): the equivalent noise bandwidth in FFT bins, which sets
# each filter's frequency cutoff.
WINDOW_BANDWIDTHS = {
    "hann": 1.50018310546875,
    "hamming": 1.3629455320350348,
    "blackman": 1.7269681554262326,
    "bartlett": 1.3334961334912805,
    "boxcar": 1.0,
}


def window_bandwidth(window: str) -> float:
    """Equivalent noise bandwidth of a named window (``librosa.filters.window_bandwidth``)."""
    return WINDOW_BANDWIDTHS[windows.canonical_window_name(window)]


def equal_frequencies(n_bins: int, fmin: float, bins_per_octave: int) -> np.ndarray:
    """Equal-tempered bin frequencies (``librosa.interval_frequencies(intervals='equal')``):
    one octave of ratios, repeated per octave, in librosa's order of operations."""
    ratios = 2.0 ** (np.arange(0, bins_per_octave, dtype=float) / bins_per_octave)
    n_octaves = np.ceil(n_bins / bins_per_octave)
    all_ratios = np.multiply.outer(2.0 ** np.arange(n_octaves), ratios).flatten()[:n_bins]
    return np.sort(all_ratios) * fmin


def relative_bandwidth(freqs: np.ndarray, bins_per_octave: int) -> np.ndarray:
    """Relative bandwidth ``alpha`` of each bin (``librosa.filters._relative_bandwidth``); one
    bin gets the equal-tempered value for ``bins_per_octave``."""
    if freqs.shape[0] == 1:
        r = 2 ** (1 / bins_per_octave)
        return np.atleast_1d((r**2 - 1) / (r**2 + 1))
    bpo = np.empty_like(freqs)
    logf = np.log2(freqs)
    bpo[0] = 1 / (logf[1] - logf[0])
    bpo[-1] = 1 / (logf[-1] - logf[-2])
    bpo[1:-1] = 2 / (logf[2:] - logf[:-2])
    return (2.0 ** (2 / bpo) - 1) / (2.0 ** (2 / bpo) + 1)


def wavelet_lengths(freqs, sr, window, filter_scale, gamma, alpha) -> tuple[np.ndarray, float]:
    """Filter lengths in samples and the highest filter's cutoff frequency (Hz).

    ``Q = filter_scale / alpha``, ``length = Q sr / (f + gamma / alpha)`` and the cutoff is
    ``max(f (1 + bw / (2 Q)) + gamma / 2)`` with ``bw`` the window's bandwidth, as
    ``librosa.filters.wavelet_lengths`` (``gamma=None``: the ERB-derived ``24.7 alpha / 0.108``).
    """
    gamma_ = alpha * 24.7 / 0.108 if gamma is None else gamma
    Q = float(filter_scale) / alpha
    f_cutoff = max(freqs * (1 + 0.5 * window_bandwidth(window) / Q) + 0.5 * gamma_)
    lengths = Q * sr / (freqs + gamma_ / alpha)
    return lengths, f_cutoff


@functools.lru_cache(maxsize=1024)
def _window(name: str, n: int) -> np.ndarray:
    """A periodic window, cached: every octave's filters have the same lengths."""
    values = windows.get_window(name, n)
    values.setflags(write=False)
    return values


def wavelet_filters(freqs, lengths, sr, window, norm, pad_fft, dtype) -> np.ndarray:
    """Windowed complex sinusoids, each normalised and centred in a common length
    (``librosa.filters.wavelet`` given its lengths).

    Returns
    -------
    np.ndarray [shape=(len(freqs), n), dtype=dtype]
        ``n`` is the longest filter's length rounded up to a power of two with ``pad_fft``,
        up to an integer without.
    """
    # All filters at once, row i holding filter i's samples from its first: the same
    # elementwise operations as librosa's per-filter loop, so the same bits (only the norm's
    # sum may associate differently, below complex64 rounding).
    starts = np.floor(-lengths / 2)  # -ilen // 2 and ilen // 2 for fractional lengths
    sizes = (np.floor(lengths / 2) - starts).astype(np.int64)
    positions = starts[:, np.newaxis] + np.arange(sizes.max(), dtype=float)
    angles = positions * 2 * np.pi * freqs[:, np.newaxis] / sr
    sigs = np.cos(angles) + 1j * np.sin(angles)
    window_rows = np.zeros(sigs.shape)
    for row, size in zip(window_rows, sizes, strict=True):
        row[:size] = _window(window, int(size))
    sigs *= window_rows
    sigs = normalize(sigs, norm, axis=1)
    max_len = max(lengths)
    max_len = int(2.0 ** (np.ceil(np.log2(max_len)))) if pad_fft else int(np.ceil(max_len))
    out = np.zeros((len(freqs), max_len), dtype=dtype)
    for row, sig, size in zip(out, sigs, sizes, strict=True):
        left = (max_len - size) // 2
        row[left : left + size] = sig[:size]
    return out


def fft_rows(x: np.ndarray) -> np.ndarray:
    """Complex FFT of each row of ``x``, in complex128, by an estimated single-thread FFTW
    plan made for the call (the same algorithm, hence bits, in every process)."""
    inp = pyfftw.empty_aligned(x.shape, dtype=np.complex128, n=memory.ALIGNMENT)
    out = pyfftw.empty_aligned(x.shape, dtype=np.complex128, n=memory.ALIGNMENT)
    plan = pyfftw.FFTW(inp, out, axes=(1,), flags=("FFTW_ESTIMATE",), threads=1)
    inp[:] = x
    plan.execute()
    return out


def sparsify_rows(x: np.ndarray, quantile: float):
    """Per row, keep the largest magnitudes that carry all but ``quantile`` of the row's L1
    mass (``librosa.util.sparsify_rows``), as CSR arrays ``(indptr, indices, values)``."""
    mags = np.abs(x)
    norms = np.sum(mags, axis=1, keepdims=True)
    mag_sort = np.sort(mags, axis=1)
    cumulative_mag = np.cumsum(mag_sort / norms, axis=1)
    threshold_idx = np.argmin(cumulative_mag < quantile, axis=1)
    keep = mags >= mag_sort[np.arange(x.shape[0]), threshold_idx][:, None]
    rows, cols = np.nonzero(keep)
    indptr = np.zeros(x.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=x.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int64), x[rows, cols]


def filter_fft_basis(
    freqs, alpha, sr, filter_scale, norm, sparsity, window, dtype, octave_filters=None
):
    """One octave's sparse FFT-domain basis (``librosa.core.constantq.__vqt_filter_fft``).

    ``octave_filters``, a dict shared by the octaves of one transform, memoises the wavelet
    filters: an octave down, frequencies and rate are both halved, exactly, so every
    elementwise step of :func:`wavelet_filters` gives the same bits, and the filters (not
    their lengths' last bits, which go into the scaling below) repeat. The key is the
    filters' integer spans and the frequencies and rate scaled back to the top octave's,
    which determine them.

    Returns
    -------
    indptr, indices : np.ndarray [dtype=int64]
        CSR structure over the ``n_fft // 2 + 1`` bins.
    values : np.ndarray [dtype=dtype]
        The kept coefficients, rounded to ``dtype`` as librosa's sparse basis is.
    n_fft : int
    lengths : np.ndarray [shape=(len(freqs),)]
        The filters' lengths at ``sr``.
    """
    lengths, _ = wavelet_lengths(freqs, sr, window, filter_scale, 0, alpha)
    if octave_filters is None:
        basis = wavelet_filters(freqs, lengths, sr, window, norm, True, np.complex64)
    else:
        spans = np.stack([np.floor(-lengths / 2), np.floor(lengths / 2)])
        max_len = int(2.0 ** (np.ceil(np.log2(max(lengths)))))
        to_top = octave_filters.setdefault("sr", sr) / sr  # a power of two
        key = (spans.tobytes(), max_len, (freqs * to_top).tobytes(), window, norm)
        if key not in octave_filters:
            octave_filters[key] = wavelet_filters(
                freqs, lengths, sr, window, norm, True, np.complex64
            )
        basis = octave_filters[key].copy()
    n_fft = basis.shape[1]
    basis *= lengths[:, np.newaxis] / float(n_fft)
    spectrum = fft_rows(basis)[:, : n_fft // 2 + 1]
    indptr, indices, values = sparsify_rows(spectrum, sparsity)
    return indptr, indices, values.astype(dtype), n_fft, lengths


def time_domain_kernels(indptr, indices, values, n_fft) -> tuple[np.ndarray, np.ndarray]:
    """The sparse FFT-domain basis as real and imaginary time-domain kernels.

    A frame's response ``sum_k B[k] X[k]`` over the real FFT bins ``k <= n_fft / 2``, with
    ``X[k] = sum_n x[n] exp(-2j pi k n / n_fft)``, equals ``sum_n x[n] h[n]`` for
    ``h[n] = sum_k B[k] exp(-2j pi k n / n_fft)``, the forward FFT of ``B`` zero-extended to
    ``n_fft`` bins. So the octave needs no STFT: one dot product per frame and filter.

    Returns
    -------
    h_re, h_im : np.ndarray [shape=(n_filters, n_fft), dtype=float64]
    """
    n_filters = indptr.shape[0] - 1
    dense = np.zeros((n_filters, n_fft), dtype=np.complex128)
    rows = np.repeat(np.arange(n_filters), np.diff(indptr))
    dense[rows, indices] = values
    h = fft_rows(dense)
    return np.ascontiguousarray(h.real), np.ascontiguousarray(h.imag)


@njit(cache=True, nogil=True, fastmath=_REDUCTION)
def frame_products(signals, hop_length, pad_mode, h_re, h_im, bin0, out):
    """``out[b, t, bin0 + k] = sum_n x_b[t hop - n_fft // 2 + n] (h_re[k, n] + 1j h_im[k, n])``
    for centred frames, ``x_b`` padded by ``pad_mode`` (virtually: the signal is not copied).

    Frames go four at a time through a small buffer, so each kernel value is loaded once for
    four frames (1.3x faster than pairs). Sums run in the kernels' dtype (reassociated so they
    vectorise) and are rounded once into ``out``.

    Parameters
    ----------
    signals : np.ndarray [shape=(b, n), dtype=float32 or float64]
    hop_length : int
    pad_mode : int
        One of ``framing.PAD_MODES``' values.
    h_re, h_im : np.ndarray [shape=(n_filters, n_fft), dtype=float32 or float64]
    bin0 : int
        Output bin of the first filter.
    out : np.ndarray [shape=(b, t, n_bins), complex]
    """
    n_filters, n_fft = h_re.shape
    n = signals.shape[1]
    n_t = out.shape[1]
    frames = np.empty((4, n_fft), dtype=h_re.dtype)
    zero = h_re.dtype.type(0)
    for b in range(signals.shape[0]):
        x = signals[b]
        for t0 in range(0, n_t, 4):
            for j in range(4):
                start = min(t0 + j, n_t - 1) * hop_length - n_fft // 2
                frame = frames[j]
                if start >= 0 and start + n_fft <= n:
                    for i in range(n_fft):
                        frame[i] = x[start + i]
                else:
                    for i in range(n_fft):
                        src = padded_index(start + i, n, pad_mode)
                        frame[i] = x[src] if src >= 0 else 0.0
            f0 = frames[0]
            f1 = frames[1]
            f2 = frames[2]
            f3 = frames[3]
            for k in range(n_filters):
                kre = h_re[k]
                kim = h_im[k]
                re0 = re1 = re2 = re3 = zero
                im0 = im1 = im2 = im3 = zero
                for i in range(n_fft):
                    r = kre[i]
                    q = kim[i]
                    re0 += f0[i] * r
                    im0 += f0[i] * q
                    re1 += f1[i] * r
                    im1 += f1[i] * q
                    re2 += f2[i] * r
                    im2 += f2[i] * q
                    re3 += f3[i] * r
                    im3 += f3[i] * q
                out[b, t0, bin0 + k] = complex(re0, im0)
                if t0 + 1 < n_t:
                    out[b, t0 + 1, bin0 + k] = complex(re1, im1)
                if t0 + 2 < n_t:
                    out[b, t0 + 2, bin0 + k] = complex(re2, im2)
                if t0 + 3 < n_t:
                    out[b, t0 + 3, bin0 + k] = complex(re3, im3)


@njit(cache=True, nogil=True)
def divide_in_place(x, divisor):
    """``x /= divisor`` with ``divisor`` a float64: each quotient is taken in float64 and
    rounded to ``x``'s dtype, the same bits as NumPy's ``x /= np.float64(divisor)`` for
    float32 ``x`` (NEP 50 promotion), without NumPy's buffered casting loop (5x faster)."""
    flat = x.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = np.float64(flat[i]) / divisor


@njit(cache=True, nogil=True)
def sparse_product(spec, indptr, indices, values, row0, frames, n_rows, bin0, out):
    """``out[b, t, bin0 + k] = sum_j values[j] spec[r, indices[j]]`` over basis row ``k``'s
    span ``indptr[k]:indptr[k + 1]``, for a block of spectrum rows ``r`` (global row
    ``row0 + r`` is frame ``t`` of signal ``b``, ``frames`` per signal); frames past
    ``out``'s are skipped.

    Parameters
    ----------
    spec : np.ndarray [shape=(rows, n_fft // 2 + 1), dtype=complex128]
    indptr, indices, values : the basis as CSR arrays (values complex128)
    row0, frames, n_rows : int
        The block's first global row, frames per signal, rows in all.
    bin0 : int
    out : np.ndarray [shape=(b, t, n_bins), complex]
    """
    for r in range(spec.shape[0]):
        row = row0 + r
        if row >= n_rows:
            break
        b = row // frames
        t = row - b * frames
        if t >= out.shape[1]:
            continue
        for k in range(indptr.shape[0] - 1):
            acc_re = 0.0
            acc_im = 0.0
            for j in range(indptr[k], indptr[k + 1]):
                s = spec[r, indices[j]]
                w = values[j]
                acc_re += w.real * s.real - w.imag * s.imag
                acc_im += w.real * s.imag + w.imag * s.real
            out[b, t, bin0 + k] = complex(acc_re, acc_im)


def _octave_response_fft(signals, hop_length, pad_mode, basis, bin0, out) -> None:
    """One octave's response through librosa's route: the ``window='ones'`` STFT (a
    cached float64 FFTW plan, a block of frames at a time) reduced by the sparse basis while
    the block is in cache. Cheaper than the time-domain kernels for long filters, where the
    FFT's ``n log n`` beats ``2 n_filters n`` multiply-adds per frame.

    Parameters
    ----------
    basis : (indptr, indices, values, n_fft)
        The octave's sparse basis (values complex128, every scale factor applied).
    """
    indptr, indices, values, n_fft = basis
    frames = n_frames(signals.shape[1], n_fft, hop_length, True)
    n_rows = signals.shape[0] * frames

    def consume(plan, row0):
        plan.execute()
        sparse_product(plan.output, indptr, indices, values, row0, frames, n_rows, bin0, out)

    fft_kernels._run_blocks(
        signals, np.ones(n_fft), hop_length, True, pad_mode, np.float64, consume
    )


# Per frame, the time-domain kernels cost 2 n_filters n_fft multiply-adds and the FFT route
# about 5 n_fft log2(n_fft) plus the basis' non-zeros. Above this many filter-samples (float64
# kernels; float32 ones vectorise twice as wide, so they count half) the FFT route is taken.
# Measured per octave on a 30 s signal at 22,050 Hz (hop 256, best CPU time): 12 filters x 256
# samples, float64 kernels 2.2 ms, FFT route 5.2 ms; 36 x 1024, float64 28 ms, float32 10 ms,
# FFT 31 ms; 36 x 2048, float64 82 ms, FFT 23 ms.
FFT_ROUTE_WORK = 32768


def octave_kernels(indptr, indices, values, n_fft, real_dtype) -> tuple:
    """What :func:`octave_response` needs for one octave's basis (values complex128, every
    scale factor applied): ``('frames', h_re, h_im)``, time-domain kernels in ``real_dtype``
    (float32 for a complex64 result: sums of float32 products, 2.5x faster; 2e-7 of the peak
    from the float64 sums on 30 s of noise), or ``('fft', indptr, indices, values, n_fft)``
    for long filters."""
    work = (indptr.shape[0] - 1) * n_fft * np.dtype(real_dtype).itemsize // 8
    if work > FFT_ROUTE_WORK:
        return ("fft", indptr, indices, values, n_fft)
    h_re, h_im = time_domain_kernels(indptr, indices, values, n_fft)
    return ("frames", h_re.astype(real_dtype), h_im.astype(real_dtype))


def octave_response(signals, hop_length, pad_mode, kernels, bin0, out) -> None:
    """One octave's constant-Q response, written into ``out[:, :, bin0:bin0 + n_filters]``.

    Parameters
    ----------
    signals : np.ndarray [shape=(b, n), dtype=float32 or float64]
        The octave's signals at its sample rate.
    hop_length : int
        Hop at this rate; frames of ``n_fft`` samples are centred (padded by ``pad_mode``,
        as ``numpy.pad``).
    pad_mode : {'constant', 'reflect', 'edge'}
    kernels : tuple
        :func:`octave_kernels` of the octave's basis.
    bin0 : int
    out : np.ndarray [shape=(b, t, n_bins), complex]
        Frames beyond ``t`` are not computed.
    """
    if kernels[0] == "fft":
        _octave_response_fft(signals, hop_length, pad_mode, kernels[1:], bin0, out)
    else:
        _, h_re, h_im = kernels
        frame_products(signals, hop_length, PAD_MODES[pad_mode], h_re, h_im, bin0, out)
