"""Kernel-level tests: each array -> array kernel against NumPy/SciPy references.

librosa parity of the public functions lives in test_features.py; here the references are
the definitions themselves (np.pad, np.fft.rfft, scipy.signal windows, scipy.fft.dct,
scipy.stats), so a kernel failure points at the kernel.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.ndimage
import scipy.signal
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from sonicsep.kernels import (
    db,
    dct,
    fft,
    filterbanks,
    framing,
    memory,
    pcm,
    spectral,
    stats,
    temporal,
    windows,
)

FAST = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------- windows
@pytest.mark.parametrize("name", sorted(windows.WINDOW_ALIASES))
@pytest.mark.parametrize("n", [1, 2, 7, 512, 2048])
def test_windows_match_scipy_periodic(name, n):
    expected = scipy.signal.get_window(name, n, fftbins=True)
    np.testing.assert_array_equal(windows.get_window(name, n), expected)


def test_unknown_window_is_refused():
    with pytest.raises(ValueError, match="kaiser"):
        windows.get_window("kaiser", 16)


def test_pad_center_puts_extra_sample_right():
    out = windows.pad_center(np.ones(3), 6)
    np.testing.assert_array_equal(out, [0, 1, 1, 1, 0, 0])


# --------------------------------------------------------------------------- framing
@given(
    i=st.integers(-5000, 5000),
    n=st.integers(1, 300),
    mode=st.sampled_from(["constant", "reflect", "edge"]),
)
@FAST
def test_padded_index_matches_numpy_pad(i, n, mode):
    signal = np.arange(1, n + 1, dtype=np.float64)
    pad = abs(i) + n
    padded = np.pad(signal, pad, mode=mode)
    idx = framing.padded_index(i, n, framing.PAD_MODES[mode])
    assert (0.0 if idx < 0 else signal[idx]) == padded[i + pad]


@given(
    n=st.integers(1, 3000),
    frame_length=st.sampled_from([16, 255, 256, 2048]),
    hop=st.integers(1, 700),
    center=st.booleans(),
)
@FAST
def test_n_frames_counts_full_frames(n, frame_length, hop, center):
    padded = n + 2 * (frame_length // 2) if center else n
    expected = len(range(0, padded - frame_length + 1, hop)) if padded >= frame_length else 0
    assert framing.n_frames(n, frame_length, hop, center) == expected


def test_odd_frame_length_is_padded_by_its_floor_half():
    # 5 s at 22,050 Hz: centring pads 2 * (511 // 2) = 510 samples, one less than the frame,
    # so 110,250 = 441 * 250 samples give 441 frames; an even 512 pads 512 and gives 442.
    assert framing.n_frames(110250, 511, 250, center=True) == 441
    assert framing.n_frames(110250, 512, 250, center=True) == 442
    assert framing.n_frames(110250, 511, 250, center=False) == 1 + (110250 - 511) // 250 == 439


# --------------------------------------------------------------------------- FFT
def reference_stft(signals, window, hop, center, pad_mode):
    n_fft = window.size
    if center:
        signals = np.pad(signals, [(0, 0), (n_fft // 2, n_fft // 2)], mode=pad_mode)
    frames = np.lib.stride_tricks.sliding_window_view(signals, n_fft, axis=-1)[:, ::hop]
    return np.fft.rfft(frames * window, axis=-1)


@given(
    n=st.integers(1, 3000),
    n_signals=st.integers(1, 3),
    n_fft=st.sampled_from([16, 64, 255, 256]),
    hop=st.integers(1, 300),
    center=st.booleans(),
    pad_mode=st.sampled_from(["constant", "reflect", "edge"]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
@FAST
def test_stft_frames_match_numpy_rfft(n, n_signals, n_fft, hop, center, pad_mode, dtype):
    if not center and n < n_fft:
        return
    signals = np.random.default_rng(n).standard_normal((n_signals, n)).astype(dtype)
    window = windows.get_window("hann", n_fft)
    got = fft.stft_frames(signals, window, hop, center, pad_mode)
    expected = reference_stft(signals.astype(np.float64), window, hop, center, pad_mode)
    assert got.shape == expected.shape
    assert got.dtype == fft.complex_dtype(dtype)
    scale = max(np.abs(expected).max(), 1e-30)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert np.abs(got - expected).max() <= tol * scale
    magnitude = fft.stft_magnitude(signals, window, hop, center, pad_mode)
    assert magnitude.dtype == dtype and magnitude.shape == expected.shape
    assert np.abs(magnitude - np.abs(expected)).max() <= 1e-6 * scale


@pytest.mark.parametrize("exponent", [1.0, 2.0, 1.5])
def test_stft_magnitude_exponents(exponent):
    signals = np.random.default_rng(0).standard_normal((2, 5000))
    window = windows.get_window("hamming", 512)
    expected = np.abs(reference_stft(signals, window, 128, True, "reflect")) ** exponent
    got = fft.stft_magnitude(signals, window, 128, True, "reflect", exponent)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * expected.max())


@pytest.mark.parametrize("n_fft", [2048, 1000])  # a size with shipped wisdom, one without
def test_float32_magnitudes_in_either_fft_precision(n_fft):
    signals = np.random.default_rng(n_fft).standard_normal((2, 20000)).astype(np.float32)
    window = windows.get_window("hann", n_fft)
    expected = np.abs(reference_stft(signals.astype(np.float64), window, 512, True, "constant"))
    # librosa's precision: a float64 FFT, each magnitude rounded once to float32.
    rounded = fft.stft_magnitude(signals, window, 512, True, "constant", 1.0, np.float64)
    assert rounded.dtype == np.float32
    np.testing.assert_allclose(rounded, expected, rtol=1.5 * 2.0**-24, atol=1e-12)
    # The signals' own precision: a float32 FFT, about 1e-7 of the peak from the float64 one.
    own = fft.stft_magnitude(signals, window, 512, True, "constant")
    assert own.dtype == np.float32 and not np.array_equal(own, rounded)
    assert np.abs(own - expected).max() <= 1e-6 * expected.max()


@pytest.mark.parametrize("n_rows", [1, 37, 700])
def test_rfft_rows_and_plan_cache(n_rows):
    frames = np.random.default_rng(1).standard_normal((n_rows, 100))
    np.testing.assert_allclose(fft.rfft_rows(frames), np.fft.rfft(frames), atol=1e-12)
    assert fft.rfft_plan(100, 40, np.float64) is fft.rfft_plan(100, 40, np.float64)
    assert fft.rfft_plan(100, 40, np.float32) is not fft.rfft_plan(100, 40, np.float64)


# --------------------------------------------------------------------------- memory
def test_pooled_memory_is_reused_only_when_released():
    first = memory.empty((600, 1000), np.float64)
    view = first[10:20]
    first_address = first.ctypes.data
    del first
    second = memory.empty((600, 1000), np.float64)  # the first buffer is still viewed
    assert not np.shares_memory(second, view)
    del view, second
    third = memory.empty((600, 1000), np.float64)
    assert third.ctypes.data == first_address
    assert third.ctypes.data % memory.ALIGNMENT == 0 and third.flags.c_contiguous


def test_small_arrays_are_aligned():
    out = memory.empty((3, 5), np.complex64)
    assert out.shape == (3, 5) and out.ctypes.data % memory.ALIGNMENT == 0


# --------------------------------------------------------------------------- filterbanks
@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_round_trip(htk):
    hz = np.array([0.0, 100.0, 999.0, 1000.0, 1001.0, 8000.0, 22050.0])
    np.testing.assert_allclose(filterbanks.mel_to_hz(filterbanks.hz_to_mel(hz, htk), htk), hz)


def test_htk_mel_is_a_rescaled_natural_log():
    hz = np.linspace(0, 11025, 50)
    ratio = filterbanks.hz_to_mel(hz[1:], htk=True) / (1125 * np.log1p(hz[1:] / 700))
    np.testing.assert_allclose(ratio, ratio[0])  # constant factor: same band edges


def test_band_rows_reproduce_dense_product():
    basis = filterbanks.mel_filterbank(16000, 512, 40, 50.0, 7000.0, htk=True, norm=None)
    starts, lengths, packed = filterbanks.band_rows(basis)
    spec = np.random.default_rng(2).random((2, 7, basis.shape[1]))
    out = np.empty((2, 40, 7))
    spectral.banded_product(spec, 2.0, starts, lengths, packed, out)
    np.testing.assert_allclose(out, np.einsum("mk,btk->bmt", basis, spec**2), rtol=1e-12)


@FAST
@given(n_b=st.integers(1, 3), n_t=st.integers(0, 9), n_c=st.integers(1, 13),
       n_k=st.integers(1, 40), exponent=st.sampled_from([1.0, 2.0]))
def test_products_match_einsum_for_any_frame_and_filter_count(n_b, n_t, n_c, n_k, exponent):
    """Frames go in pairs (chroma filters in fours): odd ends repeat the last, harmlessly."""
    rng = np.random.default_rng(n_t * 100 + n_c)
    spec = rng.random((n_b, n_t, n_k))
    weights = rng.random((n_c, n_k)) * (rng.random((n_c, n_k)) > 0.5)
    expected = np.einsum("ck,btk->bct", weights, spec**exponent)
    dense = np.full((n_b, n_c, n_t), np.nan)
    spectral.dense_product(spec, exponent, weights, dense)
    np.testing.assert_allclose(dense, expected, rtol=1e-12)
    banded = np.full((n_b, n_c, n_t), np.nan)
    starts, lengths, packed = filterbanks.band_rows(weights)
    spectral.banded_product(spec, exponent, starts, lengths, packed, banded)
    np.testing.assert_allclose(banded, expected, rtol=1e-12)


@FAST
@given(n_b=st.integers(1, 3), n_t=st.integers(0, 9), n_k=st.integers(1, 50),
       percent=st.floats(0.01, 0.99))
def test_rolloff_matches_cumsum_for_any_frame_count(n_b, n_t, n_k, percent):
    """Four frames' running sums interleave: each equals np.cumsum, as librosa takes it."""
    mag = np.random.default_rng(n_t * 50 + n_k).random((n_b, n_t, n_k)).astype(np.float32)
    freq = np.linspace(0.0, 11025.0, n_k)
    out = np.full((n_b, 1, n_t), np.nan, np.float32)
    spectral.rolloff(mag, freq, np.float32(percent), out)
    total = np.cumsum(mag, axis=-1)
    reached = total >= np.float32(percent) * total[..., -1:]
    expected = freq[np.argmax(reached, axis=-1)]
    np.testing.assert_array_equal(out[:, 0], expected.astype(np.float32))


# --------------------------------------------------------------------------- dB, DCT
def test_power_to_db_floor_per_segment():
    power = np.stack([np.full((2, 3), 1e-3), np.full((2, 3), 10.0)])
    power[0, 0, 0] = 1e-12
    per_segment = db.power_to_db(power, 0.0, 1e-10, 10.0, floor_axes=(-2, -1))
    whole = db.power_to_db(power, 0.0, 1e-10, 10.0)
    assert per_segment[0].min() == pytest.approx(-40.0)  # -30 dB peak, floored 10 dB below
    assert whole[0].min() == pytest.approx(0.0)  # the loud segment's peak sets the floor


@pytest.mark.parametrize("dct_type", [1, 2, 3])
@pytest.mark.parametrize("norm", [None, "ortho"])
@pytest.mark.parametrize("n_out", [5, 16])
def test_dct_basis_matches_scipy(dct_type, norm, n_out):
    x = np.random.default_rng(3).standard_normal((16, 4))
    expected = scipy.fft.dct(x, type=dct_type, norm=norm, axis=0)[:n_out]
    np.testing.assert_allclose(dct.dct_basis(n_out, 16, dct_type, norm) @ x, expected, atol=1e-12)


def test_lifter_weights():
    np.testing.assert_array_equal(dct.lifter_weights(4, 0), np.ones(4))
    expected = 1 + 11 * np.sin(np.pi * np.arange(1, 5) / 22)
    np.testing.assert_allclose(dct.lifter_weights(4, 22), expected)


# --------------------------------------------------------------------------- descriptors
def test_rolloff_takes_minimum_frequency_for_unsorted_bins():
    mag = np.array([[[0.0, 0.0, 1.0, 1.0]]])
    out = np.empty((1, 1, 1))
    spectral.rolloff(mag, np.array([0.0, 300.0, 200.0, 100.0]), 0.5, out)
    assert out[0, 0, 0] == 100.0  # bins 2 and 3 qualify; the lower frequency wins


def test_max_filter_matches_scipy():
    spec = np.random.default_rng(4).standard_normal((2, 9, 5))
    for size in (1, 2, 3, 4, 7):
        out = np.empty_like(spec)
        temporal.max_filter_bands(spec, size, out)
        np.testing.assert_array_equal(out, scipy.ndimage.maximum_filter1d(spec, size, axis=-2))


def test_detrend_matches_lfilter():
    onset = np.random.default_rng(5).random((2, 50))
    out = np.empty_like(onset)
    temporal.detrend(onset, out)
    expected = scipy.signal.lfilter([1.0, -1.0], [1.0, -0.99], onset, axis=-1)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@given(
    n=st.integers(1, 2000),
    frame_length=st.sampled_from([8, 33, 256]),
    hop=st.integers(1, 100),
    center=st.booleans(),
)
@FAST
def test_rms_and_zcr_match_framed_references(n, frame_length, hop, center):
    _check_rms_and_zcr(n, frame_length, hop, center)


@given(
    n=st.integers(1, 3000),
    frame_and_hop=st.sampled_from([(8, 1), (8, 2), (8, 4), (256, 64), (256, 128),
                                   (2048, 512)]),
    center=st.booleans(),
)
@FAST
def test_rms_and_zcr_from_whole_hops_match_framed_references(n, frame_and_hop, center):
    """Frames that are runs of whole hops (librosa's 2048 / 512) take the per-hop path."""
    frame_length, hop = frame_and_hop
    assert temporal._hop_aligned(frame_length, hop, frame_length // 2)
    _check_rms_and_zcr(n, frame_length, hop, center)


def _check_rms_and_zcr(n, frame_length, hop, center):
    if not center and n < frame_length:
        return
    rng = np.random.default_rng(n)
    y = rng.standard_normal((1, n)) * (rng.random((1, n)) > 0.3)  # with exact zeros
    n_out = framing.n_frames(n, frame_length, hop, center)
    offset = frame_length // 2 if center else 0

    def frames(mode):
        padded = np.pad(y, [(0, 0), (offset, offset)], mode=mode) if center else y
        return np.lib.stride_tricks.sliding_window_view(padded, frame_length, axis=-1)[:, ::hop]

    out = np.empty((1, 1, n_out))
    temporal.rms(y, frame_length, hop, offset, framing.PAD_CONSTANT, out)
    np.testing.assert_allclose(out[:, 0], np.sqrt(np.mean(frames("constant") ** 2, -1)))
    temporal.zero_crossing_rate(
        y, frame_length, hop, offset, framing.PAD_EDGE, 0.0, True, False, out
    )
    signs = frames("edge") < 0  # -0.0 counts as zero, as within-threshold values do
    expected = np.mean(np.diff(signs, axis=-1) != 0, axis=-1) * (frame_length - 1) / frame_length
    np.testing.assert_allclose(out[:, 0], expected)


# --------------------------------------------------------------------------- statistics
def test_summary_statistics_match_numpy_and_scipy():
    values = np.random.default_rng(6).gamma(2.0, size=(5, 101))
    codes = np.array([stats.STAT_CODES[s] for s in stats.STAT_CODES])
    out = np.empty((5, codes.size))
    stats.summarize_rows(values, codes, np.finfo(np.float64).resolution, out)
    expected = np.stack(
        [
            values.mean(1),
            values.var(1),
            values.std(1),
            scipy.stats.skew(values, axis=1),
            scipy.stats.kurtosis(values, axis=1),
            np.median(values, 1),
            values.min(1),
            values.max(1),
        ],
        axis=1,
    )
    np.testing.assert_allclose(out, expected, rtol=1e-10)


@pytest.mark.parametrize("length", [1, 2, 10])
def test_constant_rows_have_zero_skew_and_kurtosis(length):
    values = np.full((2, length), 3.0)
    out = np.empty((2, 2))
    codes = np.array([stats.STAT_CODES["skew"], stats.STAT_CODES["kurtosis"]])
    stats.summarize_rows(values, codes, np.finfo(np.float64).resolution, out)
    np.testing.assert_array_equal(out, 0.0)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, -0.0, 1.0, 2.5])
        ),
        min_size=1,
        max_size=300,
    ),
    order=st.sampled_from(["as drawn", "sorted", "reversed", "organ pipe"]),
)
def test_median_in_place_is_numpys_median(values, order):
    """The same value as NumPy's (equal floats are the same bits but for the sign of 0)."""
    x = np.array(values)
    if order == "sorted":
        x = np.sort(x)
    elif order == "reversed":
        x = np.sort(x)[::-1].copy()
    elif order == "organ pipe":
        x = np.concatenate([np.sort(x)[::2], np.sort(x)[1::2][::-1]])
    expected = np.median(x)
    assert stats.median_in_place(x.copy()) == expected


def test_median_selection_falls_back_to_a_sort_after_its_rounds(monkeypatch):
    """Past _SELECT_ROUNDS partition rounds what is left is sorted: still NumPy's median."""
    x = np.random.default_rng(7).standard_normal(1001)
    monkeypatch.setattr(stats, "_SELECT_ROUNDS", 1)  # read by the pure-Python function
    assert stats._select.py_func(x.copy(), 500) == np.sort(x)[500]


def test_median_of_a_row_with_nan_is_nan():
    out = np.empty((1, 1))
    stats.summarize_rows(np.array([[1.0, np.nan, 3.0, 2.0]]), np.array([5]), 1e-15, out)
    assert np.isnan(out[0, 0])


def test_even_length_median_averages_middle_values():
    out = np.empty((1, 1))
    stats.summarize_rows(np.array([[4.0, 1.0, 3.0, 2.0]]), np.array([5]), 1e-15, out)
    assert out[0, 0] == 2.5


# --------------------------------------------------------------------------- pcm
@FAST
@given(
    n=st.integers(0, 300),
    dtype=st.sampled_from([np.float32, np.float64]),
    bad=st.sampled_from([None, np.nan, np.inf, -np.inf]),
    where=st.integers(0, 10**6),
)
def test_downmix_stereo_is_librosas_mean_and_flags_non_finite(n, dtype, bad, where):
    frames = np.random.default_rng(n).uniform(-1, 1, (n, 2)).astype(dtype)
    if bad is not None and n:
        frames.flat[where % frames.size] = bad
    out = np.empty(n, dtype=dtype)
    finite = pcm.downmix_stereo(frames, out)
    np.testing.assert_array_equal(out, np.mean(frames.T, axis=0))  # librosa.to_mono
    assert finite == (bad is None or n == 0)
