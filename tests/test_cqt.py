"""Parity of sonicsep's constant-Q side (cqt, chroma_cqt, chroma_cens, tonnetz, the wavelet
filters and cq_to_chroma) with librosa 0.11 called with its defaults.

Bounds, as a fraction of the largest absolute librosa value: 1e-4 for float32 input and 1e-6
for float64 input. Measured: at most 9.2e-8 for float64; for float32 at most 6.2e-7 on the
fixed cases and 4.1e-6 in a Hypothesis example (complex64 results come from float32 sums of
the time-domain kernels, see sonicsep.kernels.cqt.octave_kernels). The float64 figure cannot
be much lower, because librosa builds its filters in complex64 (``filters.wavelet``'s default
dtype) and transforms them in single precision whatever the input, where sonicsep transforms
the same complex64 filters in float64.
"""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from sonicsep import audio
from sonicsep.errors import ParameterError
from sonicsep.features import constantq as cqt_module
from sonicsep.features import filters
from sonicsep.features.chroma import chroma_cens, chroma_cqt, tonnetz
from sonicsep.features.constantq import cqt

SR = 22050
BOUND = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-6}


# librosa and sonicsep both warn about octaves whose FFT is longer than a short signal.
pytestmark = pytest.mark.filterwarnings("ignore:n_fft=")


def assert_close(got, expected, dtype):
    """Same shape and dtype kind, within BOUND of the largest absolute librosa value."""
    assert got.shape == expected.shape and np.isfinite(got).all()
    kind = np.result_type(dtype, np.complex64) if np.iscomplexobj(expected) else dtype
    assert got.dtype == kind
    error, scale = np.abs(got - expected.astype(got.dtype)).max(), np.abs(expected).max()
    assert error <= BOUND[np.dtype(dtype)] * scale, f"error {error:.3g} vs scale {scale:.3g}"


@pytest.fixture(scope="module")
def gtzan_30s(gtzan_wav):
    y, sr = sf.read(gtzan_wav, dtype="float32")
    assert sr == SR
    return y


@pytest.fixture(scope="module")
def gtzan_clip(gtzan_30s):
    return gtzan_30s[10 * SR : 13 * SR]


@pytest.fixture(scope="module")
def fma_clip(fma_mp3):
    y, sr = audio.load(fma_mp3, sr=None, offset=5.0, duration=3.0)
    assert sr == 44100
    return y


def tones(freqs, seconds=2.0, sr=SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate(freqs)) / len(freqs)


A440_HARMONICS = tones([440.0, 880.0, 1320.0])
C_MAJOR = tones([261.63, 329.63, 392.0, 130.81])


# --------------------------------------------------------------------------- cqt
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cqt_gtzan(gtzan_clip, dtype):
    y = gtzan_clip.astype(dtype)
    assert_close(cqt(y, sr=SR), librosa.cqt(y, sr=SR), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cqt_fma_native_rate(fma_clip, dtype):
    # 44.1 kHz: librosa first downsamples by 2 before the octaves.
    y = fma_clip.astype(dtype)
    got = cqt(y, sr=44100, hop_length=512, bins_per_octave=12, n_bins=84)
    assert_close(
        got, librosa.cqt(y, sr=44100, hop_length=512, bins_per_octave=12, n_bins=84), dtype
    )


def test_cqt_from_half_rate_equals_cqt(fma_clip):
    # At 44.1 kHz FMA's CQT halves once early; the segments' 22,050 Hz resample is that signal.
    half = audio.resample(fma_clip, 44100, 22050)
    options = {"sr": 44100, "hop_length": 512, "bins_per_octave": 12, "n_bins": 84}
    expected = cqt(fma_clip, **options)
    from_half = cqt_module.cqt_from_half_rate
    np.testing.assert_array_equal(from_half(fma_clip, half, **options), expected)
    np.testing.assert_array_equal(from_half(fma_clip, None, **options), expected)
    # It is the given signal that the octaves transform, not a resample of y.
    assert not np.array_equal(from_half(fma_clip, half * 0.5, **options), expected)
    with pytest.raises(ParameterError, match="half_rate"):
        from_half(fma_clip, half[:-1], **options)
    with pytest.raises(ParameterError, match="half_rate"):
        from_half(fma_clip, half.astype(np.float64), **options)
    with pytest.raises(TypeError, match="hop"):
        from_half(fma_clip, half, hop=512)


def test_cqt_full_clip_layout(gtzan_30s):
    got = cqt(gtzan_30s, sr=SR)
    assert_close(got, librosa.cqt(gtzan_30s, sr=SR), np.float32)
    assert got.flags.f_contiguous


def test_cqt_estimates_tuning(gtzan_clip):
    y = gtzan_clip[: 2 * SR]
    assert_close(cqt(y, sr=SR, tuning=None), librosa.cqt(y, sr=SR, tuning=None), np.float32)


CQT_CASES = {
    "defaults": {},
    "filter_scale2-norm-inf": {"filter_scale": 2, "norm": np.inf},
    "no-norm-dense-hamming": {"norm": None, "sparsity": 0.0, "window": "hamming"},
    "unscaled-reflect": {"scale": False, "pad_mode": "reflect"},
    "24-per-octave": {"bins_per_octave": 24, "n_bins": 100, "fmin": 55.0, "hop_length": 256},
    "partial-octave": {"n_bins": 30, "fmin": 110.0, "tuning": 0.3},
    "one-bin": {"n_bins": 1, "fmin": 440.0},
    "hop-runs-out-of-twos": {"hop_length": 300, "n_bins": 48, "fmin": 65.0},
    "vhq-complex128": {"res_type": "soxr_vhq", "dtype": np.complex128},
    # 36 filters of up to 2048 samples per octave: the FFT route instead of time-domain kernels
    "long-filters": {"bins_per_octave": 36, "n_bins": 180, "filter_scale": 2, "fmin": 65.0},
}


@pytest.mark.parametrize("case", list(CQT_CASES))
@pytest.mark.parametrize("signal", ["harmonics", "chord"])
def test_cqt_parameters(case, signal):
    y = (A440_HARMONICS if signal == "harmonics" else C_MAJOR).astype(np.float32)
    kwargs = CQT_CASES[case]
    got, expected = cqt(y, sr=SR, **kwargs), librosa.cqt(y, sr=SR, **kwargs)
    if "dtype" in kwargs:
        assert got.dtype == expected.dtype == kwargs["dtype"]
        got = got.astype(np.complex64)
    assert_close(got, expected.astype(got.dtype), np.float32)


def test_cqt_batched():
    y = np.stack([[A440_HARMONICS, C_MAJOR], [C_MAJOR[::-1], 0.1 * A440_HARMONICS]])
    assert y.shape[:2] == (2, 2)
    got = cqt(y, sr=SR, n_bins=60, fmin=65.0)
    assert_close(got, librosa.cqt(y, sr=SR, n_bins=60, fmin=65.0), np.float64)
    np.testing.assert_array_equal(got[1, 0], cqt(y[1, 0], sr=SR, n_bins=60, fmin=65.0))


@pytest.mark.parametrize("kind", ["silence", "dc"])
def test_cqt_silence_and_dc_are_finite(kind):
    y = np.zeros(SR) if kind == "silence" else np.full(SR, 0.5)
    got = cqt(y, sr=SR)
    assert np.isfinite(got).all()
    expected = librosa.cqt(y, sr=SR)
    if kind == "silence":
        assert not got.any() and not expected.any()
    else:
        assert_close(got, expected, np.float64)


@settings(max_examples=8, deadline=None)
@given(
    n_octaves=st.integers(1, 4),
    bins_per_octave=st.sampled_from([6, 12, 24]),
    bins_off=st.integers(0, 5),
    hop_factor=st.sampled_from([16, 24, 64]),
    fmin=st.floats(30.0, 200.0),
    seed=st.integers(0, 2**16),
)
def test_cqt_property(n_octaves, bins_per_octave, bins_off, hop_factor, fmin, seed):
    """Random shapes: shapes and values agree with librosa for any valid parameter set."""
    n_bins = max(1, n_octaves * bins_per_octave - bins_off)
    hop_length = hop_factor * 2 ** (n_octaves - 1)
    rng = np.random.default_rng(seed)
    y = (0.1 * rng.standard_normal(SR // 2) + 0.5 * tones([fmin * 3.3], 0.5)).astype(np.float32)
    kwargs = dict(sr=SR, n_bins=n_bins, bins_per_octave=bins_per_octave, hop_length=hop_length)
    assert_close(cqt(y, fmin=fmin, **kwargs), librosa.cqt(y, fmin=fmin, **kwargs), np.float32)


def test_plan_cache_is_bounded_by_bytes():
    # Plans for new tunings are built once, reused, and the least recently used go first.
    cache = cqt_module._PlanCache(max_bytes=3 * 168 * 1024)
    built = []

    def build(*key):
        built.append(key)
        return cqt_module._build_plan(*key)

    keys = [
        (SR, 512, 32.7 * (1 + 0.001 * i), 84, 12, 1.0, 1.0, 0.01, "hann", True, "<c8")
        for i in range(4)
    ]
    plans = [cache.get(key, build) for key in keys[:3]]
    assert cache.get(keys[0], build) is plans[0] and len(built) == 3
    cache.get(keys[3], build)  # over budget: keys[1], the least recently used, is dropped
    assert cache.get(keys[0], build) is plans[0] and len(built) == 4
    cache.get(keys[1], build)
    assert len(built) == 5


# --------------------------------------------------------------------------- errors
def test_cqt_errors():
    y = A440_HARMONICS[:SR]
    with pytest.raises(ParameterError, match="fmin"):
        cqt(y, sr=SR, fmin=SR / 2)
    with pytest.raises(ParameterError, match="n_bins.*Nyquist"):
        cqt(y, sr=SR, n_bins=120)
    with pytest.raises(librosa.ParameterError, match="Nyquist"):
        librosa.cqt(y, sr=SR, n_bins=120)
    with pytest.raises(ParameterError, match="y"):
        cqt(np.array([0.0, np.nan, 0.0]), sr=SR)
    with pytest.raises(ParameterError, match="res_type"):
        cqt(y, sr=SR, res_type="kaiser_best")
    with pytest.raises(ParameterError, match="hop_length"):
        cqt(y, sr=SR, hop_length=0)
    with pytest.raises(ParameterError, match="sparsity"):
        cqt(y, sr=SR, sparsity=1.0)
    with pytest.raises(ParameterError, match="dtype"):
        cqt(y, sr=SR, dtype=np.float32)


def test_cqt_too_short_for_early_downsampling():
    # At 44.1 kHz the default CQT first downsamples by 2: one sample is too short (librosa too).
    with pytest.raises(ParameterError, match="y=.*too short"):
        cqt(np.zeros(1), sr=44100)
    with pytest.raises(librosa.ParameterError, match="too short"):
        librosa.cqt(np.zeros(1), sr=44100)


def test_cqt_warns_like_librosa_for_short_signal():
    y = A440_HARMONICS[:2000]
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        got = cqt(y, sr=SR)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        expected = librosa.cqt(y, sr=SR)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert any("is too large for input signal of length" in str(w.message) for w in ours)
    assert_close(got, expected, np.float64)


# --------------------------------------------------------------------------- filters
def test_filters_match_librosa():
    freqs = librosa.cqt_frequencies(36, fmin=55.0, bins_per_octave=12)
    for kwargs in ({}, {"window": "hamming", "filter_scale": 2.0, "norm": np.inf}):
        got, got_lengths = filters.wavelet(freqs=freqs, sr=SR, **kwargs)
        expected, expected_lengths = librosa.filters.wavelet(freqs=freqs, sr=SR, **kwargs)
        np.testing.assert_array_equal(got_lengths, expected_lengths)
        np.testing.assert_array_equal(got, expected)  # librosa's operations, librosa's bits
    assert filters.wavelet_lengths(freqs=freqs, gamma=None)[1] == pytest.approx(
        librosa.filters.wavelet_lengths(freqs=freqs, gamma=None)[1], rel=1e-15
    )
    for n_input, bins_per_octave, fmin, base_c in [(84, 12, None, True), (252, 36, 55.0, False)]:
        np.testing.assert_array_equal(
            filters.cq_to_chroma(
                n_input, bins_per_octave=bins_per_octave, fmin=fmin, base_c=base_c
            ),
            librosa.filters.cq_to_chroma(
                n_input, bins_per_octave=bins_per_octave, fmin=fmin, base_c=base_c
            ),
        )
    with pytest.raises(ParameterError, match="bins_per_octave"):
        filters.cq_to_chroma(84, bins_per_octave=18)


# --------------------------------------------------------------------------- chroma
CHROMA_FUNCTIONS = {
    "chroma_cqt": (chroma_cqt, librosa.feature.chroma_cqt),
    "chroma_cens": (chroma_cens, librosa.feature.chroma_cens),
    "tonnetz": (tonnetz, librosa.feature.tonnetz),
}


@pytest.mark.parametrize("name", list(CHROMA_FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chroma_gtzan(gtzan_clip, name, dtype):
    ours, theirs = CHROMA_FUNCTIONS[name]
    y = gtzan_clip.astype(dtype)
    assert_close(ours(y=y, sr=SR), theirs(y=y, sr=SR), dtype)


@pytest.mark.parametrize("name", list(CHROMA_FUNCTIONS))
def test_chroma_fma_native_rate(fma_clip, name):
    ours, theirs = CHROMA_FUNCTIONS[name]
    assert_close(
        ours(y=fma_clip, sr=44100, tuning=0.0), theirs(y=fma_clip, sr=44100, tuning=0.0), np.float32
    )


def test_chroma_of_a_chord_and_given_c():
    y = C_MAJOR.astype(np.float32)
    C = np.abs(librosa.cqt(y, sr=SR, n_bins=7 * 24, bins_per_octave=24))
    for kwargs in (
        {"C": C, "bins_per_octave": 24, "norm": 2, "threshold": 0.1},
        {"y": y, "tuning": 0.0, "n_chroma": 24, "bins_per_octave": 48, "n_octaves": 5},
    ):
        assert_close(
            chroma_cqt(sr=SR, **kwargs), librosa.feature.chroma_cqt(sr=SR, **kwargs), np.float32
        )
    got = chroma_cqt(y=y, sr=SR, tuning=0.0)
    assert set(np.argsort(got.mean(axis=-1))[-3:]) == {0, 4, 7}  # C, E, G
    kwargs = {"C": C, "bins_per_octave": 24, "win_len_smooth": 9, "smoothing_window": "hamming"}
    assert_close(
        chroma_cens(sr=SR, **kwargs), librosa.feature.chroma_cens(sr=SR, **kwargs), np.float32
    )
    chroma = librosa.feature.chroma_stft(y=y, sr=SR)
    assert_close(tonnetz(chroma=chroma), librosa.feature.tonnetz(chroma=chroma), np.float32)


def test_chroma_errors():
    y = C_MAJOR[:SR]
    with pytest.raises(ParameterError, match="cqt_mode"):
        chroma_cqt(y=y, sr=SR, cqt_mode="hybrid")
    with pytest.raises(ParameterError, match="bins_per_octave"):
        chroma_cqt(y=y, sr=SR, bins_per_octave=30)
    with pytest.raises(ParameterError, match="win_len_smooth"):
        chroma_cens(y=y, sr=SR, win_len_smooth=0)
    with pytest.raises(ParameterError):
        chroma_cqt(sr=SR)
    with pytest.raises(ParameterError):
        tonnetz(sr=SR)
