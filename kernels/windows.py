"""Analysis windows (periodic, as used for spectral analysis) and centring a window in a frame.

The formulas follow ``scipy.signal.get_window(name, n, fftbins=True)`` term for term (a symmetric
window of ``n + 1`` points with the last point dropped), so the windows, and every spectrum built
on them, agree with librosa's to the last bit without importing scipy.signal at run time.
"""

from __future__ import annotations

import numpy as np

# Cosine-sum coefficients a_k of w(x) = sum_k a_k cos(k x), x in [-pi, pi].
_COSINE_SUMS = {
    "hann": (0.5, 0.5),
    "hamming": (0.54, 1.0 - 0.54),  # scipy computes 1 - alpha; 0.46 differs in the last bit
    "blackman": (0.42, 0.50, 0.08),
}

# scipy.signal's aliases, so a window name that works with librosa works here.
WINDOW_ALIASES = {
    "hann": "hann",
    "han": "hann",
    "hamming": "hamming",
    "hamm": "hamming",
    "ham": "hamming",
    "blackman": "blackman",
    "black": "blackman",
    "blk": "blackman",
    "bartlett": "bartlett",
    "bart": "bartlett",
    "brt": "bartlett",
    "boxcar": "boxcar",
    "box": "boxcar",
    "ones": "boxcar",
    "rect": "boxcar",
    "rectangular": "boxcar",
}
# Every window name accepted by name (features, FeatureConfig), for validation and messages.
WINDOW_NAMES = tuple(sorted(WINDOW_ALIASES))


def canonical_window_name(name: str) -> str | None:
    """The canonical name for a window alias, or None when the name is not supported."""
    return WINDOW_ALIASES.get(name.lower()) if isinstance(name, str) else None


def get_window(name: str, n: int) -> np.ndarray:
    """Periodic window of length ``n`` (float64), named as in scipy.signal.get_window.

    Periodic (``fftbins=True``) windows are what an STFT needs: shifted copies at a hop of
    ``n / 4`` (hann) sum to a constant.

    Parameters
    ----------
    name : str
        One of ``WINDOW_ALIASES`` (hann, hamming, blackman, bartlett, boxcar/rect/ones, ...).
    n : int >= 0
        Window length.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    canonical = canonical_window_name(name)
    if canonical is None:
        raise ValueError(f"unsupported window {name!r}; supported: {WINDOW_NAMES}")
    if n <= 1:
        return np.ones(n, dtype=np.float64)
    m = n + 1  # periodic = symmetric window of n + 1 points, last point dropped
    if canonical in _COSINE_SUMS:
        x = np.linspace(-np.pi, np.pi, m, dtype=np.float64)
        w = np.zeros(m, dtype=np.float64)
        for k, a_k in enumerate(_COSINE_SUMS[canonical]):
            w += a_k * np.cos(k * x)
    elif canonical == "bartlett":
        i = np.arange(m, dtype=np.float64)
        w = np.where(i <= (m - 1) / 2.0, 2.0 * i / (m - 1), 2.0 - 2.0 * i / (m - 1))
    else:
        w = np.ones(m, dtype=np.float64)
    return w[:n]


def pad_center(window: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad ``window`` on both sides to ``size`` samples, centred (librosa.util.pad_center).

    A window shorter than ``n_fft`` (``win_length < n_fft``) sits in the middle of each frame,
    with the extra sample (odd difference) on the right.
    """
    n = window.shape[-1]
    if n > size:
        raise ValueError(f"window length {n} exceeds the frame size {size}")
    left = (size - n) // 2
    out = np.zeros(size, dtype=window.dtype)
    out[left : left + n] = window
    return out
