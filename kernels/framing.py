"""Framing: cutting (batches of) signals into overlapping frames, with centre padding.

Padding is virtual: a frame that overlaps the padded edge reads its samples through an index
map (zero, mirror or clamp), so a 30 s signal is never copied just to add ``n_fft // 2``
samples at each end. The maps reproduce ``numpy.pad`` modes ``constant`` (zeros), ``reflect``
(mirror without repeating the edge, folding again for pads longer than the signal) and
``edge`` (repeat the edge sample).
"""

from __future__ import annotations

from numba import njit

PAD_CONSTANT = 0
PAD_REFLECT = 1
PAD_EDGE = 2
PAD_MODES = {"constant": PAD_CONSTANT, "reflect": PAD_REFLECT, "edge": PAD_EDGE}


def n_frames(n_samples: int, frame_length: int, hop_length: int, center: bool) -> int:
    """Number of frames librosa produces for a signal of ``n_samples``.

    With ``center`` the signal gains ``frame_length // 2`` samples at both ends first. Returns
    0 when an uncentred signal is shorter than one frame.
    """
    padded = n_samples + 2 * (frame_length // 2) if center else n_samples
    if padded < frame_length:
        return 0
    return 1 + (padded - frame_length) // hop_length


@njit(cache=True, nogil=True, inline="always")
def padded_index(i, n, mode):
    """Index into a length-``n`` signal of position ``i`` of its padded version, -1 for zero.

    ``i`` counts from the first original sample (negative inside the left pad).
    """
    if 0 <= i < n:
        return i
    if mode == PAD_CONSTANT:
        return -1
    if mode == PAD_EDGE:
        return 0 if i < 0 else n - 1
    if n == 1:
        return 0
    period = 2 * (n - 1)
    j = i % period  # numba follows Python: non-negative for a positive period
    return j if j < n else period - j


@njit(cache=True, nogil=True)
def fill_windowed_frames(signals, window, hop_length, offset, mode, frames_per_signal, row0, out):
    """Write windowed frames ``row0 .. row0 + len(out)`` of a batch into ``out``.

    Rows enumerate (signal, frame) pairs signal-major; frame ``t`` of a signal starts at sample
    ``t * hop_length - offset`` (``offset = n_fft // 2`` when centred). Rows past the last
    frame are zero-filled, so a fixed-size FFT block can run over the tail.

    Parameters
    ----------
    signals : np.ndarray [shape=(n_signals, n)]
    window : np.ndarray [shape=(n_fft,)], same dtype as ``out``
    out : np.ndarray [shape=(n_rows, n_fft)]
    """
    n_signals, n = signals.shape
    n_fft = window.shape[0]
    total = n_signals * frames_per_signal
    for r in range(out.shape[0]):
        row = row0 + r
        if row >= total:
            out[r, :] = 0
            continue
        sig = row // frames_per_signal
        start = (row - sig * frames_per_signal) * hop_length - offset
        dst = out[r]
        if start >= 0 and start + n_fft <= n:
            # A slice, so every index below is provably non-negative and the loop vectorises
            # (Numba adds a negative-index check to indices it cannot prove non-negative).
            src = signals[sig, start : start + n_fft]
            for k in range(n_fft):
                dst[k] = src[k] * window[k]
        else:
            for k in range(n_fft):
                idx = padded_index(start + k, n, mode)
                dst[k] = 0 if idx < 0 else signals[sig, idx] * window[k]
