"""kernels.spectral.contrast_peaks: the guided insertion on contiguous frames gives the same
bits as the blocked scan of strided frames, and the means of a sort."""

import numpy as np
import pytest
from sonicsep.kernels import spectral as spectral_kernels

STARTS = np.array([0, 5, 17, 40])
STOPS = np.array([5, 17, 40, 97])
COUNTS = np.array([6, 13, 24, 57])


def _frames(rng, dtype) -> np.ndarray:
    """Frames that drift slowly (the guess holds), jump (it fails both ways), repeat values
    (ties at the k-th), fall silent and turn constant."""
    n_t, n_k = 60, 97
    level = np.exp(np.cumsum(rng.normal(0, 0.05, n_t)))[:, None]
    mag = level * rng.random((n_t, n_k)) ** 3
    mag[20] *= 1e4
    mag[21] *= 1e-6
    mag[30:33] = 0.0
    mag[40] = 0.25
    mag[45:50, ::3] = np.round(mag[45:50, ::3], 1)
    return mag.astype(dtype)[None]


@pytest.mark.parametrize("quantile", [0.02, 0.2, 0.6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_contiguous_and_strided_frames_give_the_same_bits_as_a_sort(quantile, dtype):
    mag = _frames(np.random.default_rng(3), dtype)
    strided = np.asfortranarray(mag[0])[None]  # bins not contiguous: the blocked path
    assert strided.strides[2] != strided.itemsize
    shape = (1, STARTS.size, mag.shape[1])
    results = []
    for frames in (mag, strided):
        peak, valley = np.empty(shape), np.empty(shape)
        spectral_kernels.contrast_peaks(frames, STARTS, STOPS, COUNTS, quantile, peak, valley)
        results.append((peak, valley))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    for i, (lo, hi, count) in enumerate(zip(STARTS, STOPS, COUNTS, strict=True)):
        k = min(hi - lo, max(1, int(np.rint(quantile * count))))
        ordered = np.sort(mag[0, :, lo:hi].astype(np.float64), axis=1)
        np.testing.assert_allclose(results[0][1][0, i], ordered[:, :k].mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(results[0][0][0, i], ordered[:, -k:].mean(axis=1), rtol=1e-12)
