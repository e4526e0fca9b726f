"""The Numba steps of estimate_tuning and FMA's rms against the NumPy expressions librosa
evaluates: the same selection and histogram bit for bit, rms to float32 round-off."""

import numpy as np
import pytest
from sonicsep.kernels import pitch as pitch_kernels
from sonicsep.kernels import spectral as spectral_kernels


def _numpy_loud(pitches, mags):
    voiced = pitches > 0
    threshold = np.median(mags[voiced]) if voiced.any() else 0.0
    return pitches[(mags >= threshold) & voiced]


def _numpy_counts(octaves, bins_per_octave, edges):
    residual = np.mod(bins_per_octave * octaves, 1.0)
    residual[residual >= 0.5] -= 1.0
    return np.histogram(residual, edges)[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loud_pitches_is_numpys_median_selection(dtype):
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(0, 60))
        pitches = rng.uniform(-1, 5, n).astype(dtype)
        if trial % 3 == 0:
            mags = rng.integers(0, 4, n).astype(dtype)  # ties at the median
        elif trial % 3 == 1:
            mags = (rng.random(n) * 10.0 ** rng.integers(-30, 30)).astype(dtype)
        else:  # neighbouring values: the two middle ones' mean rounds in the dtype
            mags = 1 + rng.integers(0, 3, n).astype(dtype) * np.finfo(dtype).eps
        if trial % 7 == 0:
            mags[:] = 0
        out = np.empty(n, dtype)
        count = pitch_kernels.loud_pitches(pitches, mags, dtype(0.5), out)
        np.testing.assert_array_equal(out[:count], _numpy_loud(pitches, mags))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tuning_counts_is_numpys_mod_fold_and_histogram(dtype):
    rng = np.random.default_rng(1)
    for trial in range(200):
        n = int(rng.integers(1, 200))
        steps = rng.integers(-40, 120, n)
        kind = trial % 4
        if kind == 0:
            frequencies = rng.uniform(0.01, 20000, n)
        elif kind == 1:  # exact semitones and halfway points: residuals on bin edges
            frequencies = 27.5 * 2.0 ** ((steps + 0.5 * rng.integers(0, 2, n)) / 12)
        elif kind == 2:
            frequencies = 27.5 * 2.0 ** (steps / 12 + rng.integers(-100, 100, n) / 1200)
        else:  # below 27.5 Hz: negative octaves
            frequencies = rng.uniform(1, 40, n)
        octaves = np.log2(frequencies.astype(dtype) / (440.0 / 16))
        bins_per_octave = (12, 36, 7)[trial % 3]
        edges = np.linspace(-0.5, 0.5, int(np.ceil(1.0 / (0.01, 0.05, 0.003)[trial % 3])) + 1)
        counts = np.zeros(edges.size - 1, dtype=np.int64)
        pitch_kernels.tuning_counts(octaves, octaves.dtype.type(bins_per_octave), edges, counts)
        np.testing.assert_array_equal(counts, _numpy_counts(octaves, bins_per_octave, edges))


@pytest.mark.parametrize("n_bins", [1, 2, 1025])
@pytest.mark.parametrize("frame_length", [2048, 2047])
def test_spectrum_rms_is_librosas_formula(n_bins, frame_length):
    mag = np.random.default_rng(2).random((2, 5, n_bins)).astype(np.float32)
    out = np.empty((2, 1, 5), np.float32)
    spectral_kernels.spectrum_rms(mag, frame_length, out)
    power = np.square(mag.astype(np.float64).swapaxes(1, 2))  # librosa's (.., k, t)
    power[..., 0, :] *= 0.5
    if frame_length % 2 == 0:
        power[..., -1, :] *= 0.5
    expected = np.sqrt(2 * np.sum(power, axis=-2, keepdims=True) / frame_length**2)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
