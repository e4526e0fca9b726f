"""Parity of sonicsep.features with librosa 0.11, and the FeatureExtractor contract.

Every public function is compared with its librosa namesake on real GTZAN and FMA clips and
on generated edge signals (silence, DC, a sine at Nyquist, full-scale clipping, white noise,
a signal shorter than n_fft), with centre padding on and off, both padding modes, HTK and
Slaney mels and several n_fft / hop / sr: float64 must agree to 1e-9 of the largest value,
float32 to 1e-4. The extractor is compared with librosa called on each segment alone.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import librosa
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from sonicsep import features
from sonicsep.config import KNOWN_FEATURES, KNOWN_STATS, FeatureConfig
from sonicsep.errors import ParameterError
from sonicsep.features import FeatureExtractor

SR = 22050
TOLERANCE = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


@pytest.fixture(autouse=True)
def _quiet_librosa():
    # librosa warns about n_fft longer than a short signal and about empty mel filters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def assert_matches(got, expected, dtype):
    """Same shape, ours in the input's precision, within the tolerance of the largest value."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    kind = np.result_type(dtype, np.complex64) if np.iscomplexobj(expected) else dtype
    assert got.dtype == kind
    scale = np.abs(expected).max() if expected.size else 0.0
    error = np.abs(got.astype(np.complex128) - expected).max() if expected.size else 0.0
    assert error <= TOLERANCE[np.dtype(dtype)] * scale, f"error {error:.3g} vs scale {scale:.3g}"


# --------------------------------------------------------------------------- signals
@pytest.fixture(scope="module")
def gtzan_clip(gtzan_wav):
    return librosa.load(gtzan_wav, sr=SR, offset=10.0, duration=2.0)[0]


@pytest.fixture(scope="module")
def fma_clip(fma_mp3):
    return librosa.load(fma_mp3, sr=SR, offset=5.0, duration=2.0)[0]


def generated(kind: str) -> np.ndarray:
    n = 1000 if kind == "short" else 12000
    i = np.arange(n)
    if kind == "silence":
        return np.zeros(n)
    if kind == "dc":
        return np.full(n, 0.5)
    if kind == "nyquist":
        return 0.9 * np.cos(np.pi * i)
    if kind == "clipped":
        return np.clip(3.0 * np.sin(2 * np.pi * 440.0 * i / SR), -1.0, 1.0)
    return 0.1 * np.random.default_rng(7).standard_normal(n)  # noise, short


GENERATED = ["silence", "dc", "nyquist", "clipped", "noise", "short"]
# A DC or Nyquist tone has all its energy in the first or last bins. The band-limited HTK mels
# (60 Hz to sr/2 - 1 kHz) then see only FFT round-off (~1e-28), and an unnormalised p=3
# bandwidth is dominated by round-off in far bins weighted by |f - centroid|^3: neither
# library's round-off is a reference for the other's.
ROUNDOFF_ONLY = {(name, kind) for name in ("mel-htk", "bandwidth-p3") for kind in ("dc", "nyquist")}

# (n_fft, hop_length, sr, center, pad_mode, window, win_length)
PARAMS = {
    "librosa-defaults": (2048, 512, 22050, True, "constant", "hann", None),
    "uncentred-16k": (1024, 256, 16000, False, "constant", "hann", None),
    "reflect-hamming-44k": (512, 160, 44100, True, "reflect", "hamming", 400),
}


def stft_kwargs(params):
    n_fft, hop, _, center, pad_mode, window, win_length = params
    return dict(
        n_fft=n_fft,
        hop_length=hop,
        center=center,
        pad_mode=pad_mode,
        window=window,
        win_length=win_length,
    )


def calls(params):
    """(name, call) for every y-based public function; ``call(module, y)`` runs it with either
    librosa or :class:`_SonicsepAsLibrosa` as ``module``."""
    n_fft, hop, sr, center, pad_mode, _, _ = params
    kw = stft_kwargs(params)
    mel_htk = dict(n_mels=40, fmin=60.0, fmax=sr / 2 - 1000, htk=True, norm=None)
    frames = dict(frame_length=n_fft, hop_length=hop, center=center)
    return [
        ("stft", lambda m, y: m.stft(y, **kw)),
        ("mel-slaney", lambda m, y: m.feature.melspectrogram(y=y, sr=sr, **kw)),
        ("mel-htk", lambda m, y: m.feature.melspectrogram(y=y, sr=sr, **kw, **mel_htk)),
        ("mfcc", lambda m, y: m.feature.mfcc(y=y, sr=sr, **kw)),
        (
            "mfcc-lifter-htk",
            lambda m, y: m.feature.mfcc(y=y, sr=sr, n_mfcc=13, lifter=22, **kw, **mel_htk),
        ),
        ("rms", lambda m, y: m.feature.rms(y=y, pad_mode=pad_mode, dtype=y.dtype, **frames)),
        ("zcr", lambda m, y: m.feature.zero_crossing_rate(y, **frames)),
        ("centroid", lambda m, y: m.feature.spectral_centroid(y=y, sr=sr, **kw)),
        ("bandwidth", lambda m, y: m.feature.spectral_bandwidth(y=y, sr=sr, **kw)),
        (
            "bandwidth-p3",
            lambda m, y: m.feature.spectral_bandwidth(y=y, sr=sr, p=3, norm=False, **kw),
        ),
        ("rolloff", lambda m, y: m.feature.spectral_rolloff(y=y, sr=sr, **kw)),
        ("flatness", lambda m, y: m.feature.spectral_flatness(y=y, **kw)),
        ("contrast", lambda m, y: m.feature.spectral_contrast(y=y, sr=sr, **kw)),
        (
            "contrast-linear",
            lambda m, y: m.feature.spectral_contrast(y=y, sr=sr, n_bands=4, linear=True, **kw),
        ),
        ("chroma", lambda m, y: m.feature.chroma_stft(y=y, sr=sr, tuning=0.0, **kw)),
        (
            "onset",
            lambda m, y: m.onset.onset_strength(
                y=y, sr=sr, n_fft=n_fft, hop_length=hop, center=center
            ),
        ),
    ]


class _SonicsepAsLibrosa:
    """sonicsep.features under librosa's module paths, so one lambda drives both."""

    feature = features
    onset = features

    @staticmethod
    def stft(y, **kwargs):
        return features.stft(y, **kwargs)


def run_both(call, y):
    ours = call(_SonicsepAsLibrosa, y)
    theirs = call(librosa, y)
    return ours, theirs


CASES = [(param_name, name) for param_name, params in PARAMS.items() for name, _ in calls(params)]


def _call(param_name, name):
    return dict(calls(PARAMS[param_name]))[name]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("param_name,name", CASES)
def test_real_clips_match_librosa(gtzan_clip, fma_clip, param_name, name, dtype):
    for clip in (gtzan_clip, fma_clip):
        ours, theirs = run_both(_call(param_name, name), clip.astype(dtype))
        assert_matches(ours, theirs, dtype)


@pytest.mark.parametrize("kind", GENERATED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("param_name,name", CASES)
def test_generated_signals_match_librosa(kind, param_name, name, dtype):
    y = generated(kind).astype(dtype)
    if not PARAMS[param_name][3] and y.size < PARAMS[param_name][0]:
        pytest.skip("uncentred analysis needs n_fft samples (see test_bad_input)")
    if (name, kind) in ROUNDOFF_ONLY:
        pytest.skip("no signal energy where this output looks: it is FFT round-off on both sides")
    ours, theirs = run_both(_call(param_name, name), y)
    assert_matches(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multichannel_shares_librosa_semantics(gtzan_clip, dtype):
    # Two channels of different loudness: mfcc's dB floor is shared across channels.
    y = np.stack([gtzan_clip, 1e-3 * gtzan_clip[::-1]]).astype(dtype)
    for _, call in calls(PARAMS["librosa-defaults"]):
        ours, theirs = run_both(call, y)
        assert_matches(ours, theirs, dtype)


# --------------------------------------------------------------------------- S= inputs
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_precomputed_spectrogram_inputs(gtzan_clip, dtype):
    y = gtzan_clip.astype(dtype)
    D = librosa.stft(y)
    mag = np.abs(D)
    power = mag**2
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=SR))
    pairs = [
        (features.melspectrogram(S=power, sr=SR), librosa.feature.melspectrogram(S=power, sr=SR)),
        (features.mfcc(S=mel_db, n_mfcc=13), librosa.feature.mfcc(S=mel_db, n_mfcc=13)),
        (features.rms(S=D), librosa.feature.rms(S=D, dtype=dtype)),
        (features.rms(S=mag), librosa.feature.rms(S=mag, dtype=dtype)),
        (features.spectral_centroid(S=mag), librosa.feature.spectral_centroid(S=mag)),
        (features.spectral_bandwidth(S=mag), librosa.feature.spectral_bandwidth(S=mag)),
        (features.spectral_rolloff(S=mag), librosa.feature.spectral_rolloff(S=mag)),
        (features.spectral_flatness(S=mag), librosa.feature.spectral_flatness(S=mag)),
        (features.spectral_contrast(S=mag), librosa.feature.spectral_contrast(S=mag)),
        (
            features.chroma_stft(S=power, tuning=0.0, norm=2),
            librosa.feature.chroma_stft(S=power, tuning=0.0, norm=2),
        ),
        (
            features.onset_strength(S=mel_db, lag=2, max_size=3, detrend=True),
            librosa.onset.onset_strength(S=mel_db, lag=2, max_size=3, detrend=True),
        ),
        (
            features.onset_strength(S=mel_db, aggregate=np.median, center=False),
            librosa.onset.onset_strength(S=mel_db, aggregate=np.median, center=False),
        ),
    ]
    for ours, theirs in pairs:
        assert_matches(ours, theirs, dtype)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(threshold=0.01, ref_magnitude=np.max),
        dict(threshold=0.5, ref_magnitude=0.1, pad=True),
        dict(zero_pos=False, center=False, frame_length=1000, hop_length=300),
    ],
)
def test_zero_crossing_options(gtzan_clip, kwargs):
    y = np.concatenate([gtzan_clip, np.zeros(500, np.float32)])  # exact zeros too
    ours = features.zero_crossing_rate(y, **kwargs)
    assert_matches(ours, librosa.feature.zero_crossing_rate(y, **kwargs), np.float32)


@given(
    n=st.integers(1, 3000),
    frame_length=st.sampled_from([16, 255, 1024]),
    hop=st.integers(1, 300),
    center=st.booleans(),
    pad_mode=st.sampled_from(["constant", "reflect", "edge"]),
)
@settings(max_examples=30, deadline=None)
def test_amplitude_envelope_is_framewise_peak(n, frame_length, hop, center, pad_mode):
    if not center and n < frame_length:
        return
    y = np.random.default_rng(n).standard_normal((2, n))
    padded = np.pad(y, [(0, 0), (frame_length // 2,) * 2], mode=pad_mode) if center else y
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length, axis=-1)[:, ::hop]
    expected = np.abs(frames).max(axis=-1)[:, np.newaxis, :]
    got = features.amplitude_envelope(
        y, frame_length=frame_length, hop_length=hop, center=center, pad_mode=pad_mode
    )
    np.testing.assert_array_equal(got, expected)


def test_given_centroid_is_used_by_bandwidth(gtzan_clip):
    y = gtzan_clip.astype(np.float64)
    centroid = np.full((1, 87), 1000.0)
    ours = features.spectral_bandwidth(y=y, centroid=centroid)
    theirs = librosa.feature.spectral_bandwidth(y=y, centroid=centroid)
    assert_matches(ours, theirs, np.float64)


def test_stft_dtype_and_out_arguments(gtzan_clip):
    y = gtzan_clip.astype(np.float64)
    expected = librosa.stft(y)
    assert features.stft(y, dtype=np.complex64).dtype == np.complex64
    out = np.zeros((1025, expected.shape[1] + 5), dtype=np.complex128)
    result = features.stft(y, out=out)
    assert np.shares_memory(result, out) and result.shape == expected.shape
    assert_matches(result, expected, np.float64)


# --------------------------------------------------------------------------- dB, filters
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"ref": np.max}, {"ref": 2.0, "amin": 1e-5}, {"top_db": None}, {"top_db": 40.0}],
)
def test_power_to_db(gtzan_clip, dtype, kwargs):
    power = np.abs(librosa.stft(gtzan_clip.astype(dtype))) ** 2
    assert_matches(
        features.power_to_db(power, **kwargs), librosa.power_to_db(power, **kwargs), dtype
    )


def test_power_to_db_is_librosas_bit_for_bit_in_place_too(gtzan_clip):
    """mfcc converts its own mel spectrogram to dB in place; the values are librosa's bits."""
    from sonicsep.features.spectrum import _power_to_db

    power = np.abs(librosa.stft(gtzan_clip)) ** 2
    for ref, top_db in ((1.0, 80.0), (np.max, 80.0), (2.0, None)):
        expected = librosa.power_to_db(power, ref=ref, top_db=top_db)
        assert np.array_equal(features.power_to_db(power, ref=ref, top_db=top_db), expected)
        work = power.copy()
        assert _power_to_db(work, ref, 1e-10, top_db, out=work) is work
        assert np.array_equal(work, expected)


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mel_blocks_and_frame_quads_straddle_segments(dtype, power):
    """melspectrogram(y) projects each FFT block onto the filters while it is in cache, four
    frames at a time. Segments of 13 frames (n_fft 1024: blocks of 64 float32 or 32 float64
    rows) make blocks and quads straddle segments and end part-full: each segment still gets
    the same bits as alone, and the values of the product of the stored spectrogram."""
    y = np.random.default_rng(16).standard_normal((7, 3100)).astype(dtype)
    kw = dict(sr=SR, n_fft=1024, hop_length=256, n_mels=40)
    batch = features.melspectrogram(y=y, power=power, **kw)
    assert batch.shape == (7, 40, 13) and batch.dtype == dtype
    for segment, mel in zip(y, batch, strict=True):
        assert np.array_equal(features.melspectrogram(y=segment, power=power, **kw), mel)
    spectrogram = np.abs(features.stft(y, n_fft=1024, hop_length=256)) ** power
    assert_matches(batch, features.melspectrogram(S=spectrogram, **kw), dtype)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sr=22050, n_fft=2048),
        dict(sr=16000, n_fft=512, n_mels=40, fmin=30.0, fmax=7000.0, htk=True),
        dict(sr=44100, n_fft=4096, n_mels=64, norm=None, fmin=100.0),
        dict(sr=8000, n_fft=255, n_mels=20, norm=1.0, dtype=np.float64),
    ],
)
def test_mel_filterbank_is_librosas_bit_for_bit(kwargs):
    np.testing.assert_array_equal(features.filters.mel(**kwargs), librosa.filters.mel(**kwargs))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sr=22050, n_fft=2048),
        dict(sr=22050, n_fft=4096, tuning=0.25, n_chroma=24, base_c=False),
        dict(sr=8000, n_fft=511, octwidth=None),
    ],
)
def test_chroma_filterbank_is_librosas_bit_for_bit(kwargs):
    got = features.filters.chroma(**kwargs)
    np.testing.assert_array_equal(got, librosa.filters.chroma(**kwargs))


def test_chroma_default_estimates_tuning_as_librosa(gtzan_clip):
    # Both defaults are tuning=None: the tuning is estimated from the power spectrogram.
    ours = features.chroma_stft(y=gtzan_clip, sr=SR)
    theirs = librosa.feature.chroma_stft(y=gtzan_clip, sr=SR)
    assert_matches(ours, theirs, np.float32)
    power = np.abs(librosa.stft(gtzan_clip)) ** 2
    assert librosa.estimate_tuning(S=power, sr=SR) != 0.0  # so the default is exercised


# --------------------------------------------------------------------------- properties
@given(
    n=st.integers(1, 4000),
    n_fft=st.sampled_from([32, 255, 256]),
    hop=st.integers(1, 200),
    center=st.booleans(),
    channels=st.integers(0, 2),
)
@settings(max_examples=30, deadline=None)
def test_shapes_follow_librosa(n, n_fft, hop, center, channels):
    if not center and n < n_fft:
        return
    shape = (channels, n) if channels else (n,)
    y = np.random.default_rng(n).standard_normal(shape)
    kw = dict(n_fft=n_fft, hop_length=hop, center=center)
    frames = dict(frame_length=n_fft, hop_length=hop, center=center)
    pairs = [
        (features.stft(y, **kw), librosa.stft(y, **kw)),
        (
            features.melspectrogram(y=y, sr=8000, n_mels=8, **kw),
            librosa.feature.melspectrogram(y=y, sr=8000, n_mels=8, **kw),
        ),
        (features.rms(y=y, **frames), librosa.feature.rms(y=y, **frames)),
        (features.zero_crossing_rate(y, **frames), librosa.feature.zero_crossing_rate(y, **frames)),
    ]
    for ours, theirs in pairs:
        assert ours.shape == theirs.shape


# --------------------------------------------------------------------------- bad input
BAD_INPUTS = [
    (lambda: features.stft(np.array([0.0, np.nan] * 2000)), r"y=.*NaN"),
    (lambda: features.mfcc(y=np.array([np.inf] * 3000)), r"y=.*infinite"),
    (lambda: features.rms(y=np.arange(3000)), r"y=.*dtype=int64.*floating"),
    (lambda: features.stft(np.ones(3000, dtype=np.complex128)), r"y=.*complex128"),
    (lambda: features.stft(np.float64(1.0)), r"y=.*numpy.ndarray"),
    (lambda: features.zero_crossing_rate(np.array(1.0)), r"y=.*shape=\(\).*dimension"),
    (lambda: features.stft(np.ones(1000), center=False), r"n_fft=2048.*1000 samples"),
    (lambda: features.melspectrogram(y=np.ones(4096), sr=0), r"sr=0"),
    (lambda: features.spectral_centroid(y=np.ones(4096), sr=-22050), r"sr=-22050"),
    (lambda: features.melspectrogram(y=np.ones(4096), fmax=12000.0), r"fmax=12000.0"),
    (lambda: features.filters.mel(sr=16000, n_fft=512, fmax=8001), r"fmax=8001"),
    (lambda: features.stft(np.ones(4096), hop_length=0), r"hop_length=0"),
    (lambda: features.stft(np.ones(4096), window="kaiser"), r"window='kaiser'"),
    (lambda: features.stft(np.ones(4096), win_length=4096), r"win_length=4096"),
    (lambda: features.spectral_rolloff(y=np.ones(4096), roll_percent=1.5), r"roll_percent=1.5"),
    (lambda: features.mfcc(y=np.ones(4096), n_mfcc=200), r"n_mfcc=200"),
    (lambda: features.spectral_centroid(S=-np.ones((1025, 3))), r"S=.*non-negative"),
    (lambda: features.power_to_db(np.ones(3), amin=0), r"amin=0"),
    (lambda: features.power_to_db(np.ones(3), top_db=-1), r"top_db=-1"),
    (lambda: features.spectral_contrast(y=np.ones(4096), sr=1000), r"n_bands=6"),
    (lambda: features.rms(), r"either y"),
]


@pytest.mark.parametrize("call,message", BAD_INPUTS)
def test_bad_input_raises_parameter_error(call, message):
    with pytest.raises(ParameterError, match=message):
        call()


# --------------------------------------------------------------------------- FeatureExtractor
def librosa_features(seg: np.ndarray, c: FeatureConfig) -> dict[str, np.ndarray]:
    """Each feature of one segment with librosa, one call at a time (the extractor's contract)."""
    kw = dict(
        n_fft=c.n_fft,
        hop_length=c.hop_length,
        win_length=c.win_length,
        window=c.window,
        center=c.center,
        pad_mode=c.pad_mode,
    )
    mel = librosa.feature.melspectrogram(
        y=seg, sr=c.sr, power=c.power, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax, htk=c.htk,
        norm=c.mel_norm, **kw,
    )  # fmt: skip
    mel_db = librosa.power_to_db(mel, ref=c.db_ref, amin=c.amin, top_db=c.top_db)
    frames = dict(frame_length=c.n_fft, hop_length=c.hop_length, center=c.center)
    f = librosa.feature
    return {
        "mel_db": mel_db,
        "mfcc": f.mfcc(S=mel_db, n_mfcc=c.n_mfcc, norm=c.dct_norm, lifter=c.lifter),
        "chroma_stft": f.chroma_stft(y=seg, sr=c.sr, tuning=c.tuning, n_chroma=c.n_chroma, **kw),
        "rms": f.rms(y=seg, dtype=seg.dtype, **frames),
        "spectral_centroid": f.spectral_centroid(y=seg, sr=c.sr, **kw),
        "spectral_bandwidth": f.spectral_bandwidth(y=seg, sr=c.sr, **kw),
        "spectral_rolloff": f.spectral_rolloff(y=seg, sr=c.sr, roll_percent=c.roll_percent, **kw),
        "spectral_flatness": f.spectral_flatness(y=seg, **kw),
        "spectral_contrast": f.spectral_contrast(
            y=seg, sr=c.sr, fmin=c.contrast_fmin, n_bands=c.n_bands, **kw
        ),
        "zero_crossing_rate": f.zero_crossing_rate(seg, threshold=c.zcr_threshold, **frames),
        "onset_strength": librosa.onset.onset_strength(
            S=librosa.power_to_db(mel), sr=c.sr, n_fft=c.n_fft, hop_length=c.hop_length,
            center=c.center,
        )[np.newaxis],
    }  # fmt: skip


EXTRACTOR_CONFIGS = {
    "gtzan-float32": FeatureConfig(),
    "all-float64": FeatureConfig(dtype="float64", features=KNOWN_FEATURES, stats=KNOWN_STATS),
    "uncentred-htk": FeatureConfig(
        dtype="float64",
        n_fft=1024,
        hop_length=256,
        center=False,
        htk=True,
        mel_norm=None,
        n_mels=64,
        fmin=40.0,
        fmax=10000.0,
        lifter=22.0,
        n_mfcc=13,
        top_db=60.0,
        db_ref=2.0,
        power=1.0,
        dct_norm=None,
        tuning=0.25,
        features=KNOWN_FEATURES,
    ),
    # pad_mode='edge' (framing.PAD_MODES) and an odd n_fft, whose centring pads one sample less.
    "edge-blackman-odd-float64": FeatureConfig(
        dtype="float64",
        n_fft=511,
        hop_length=250,
        window="blackman",
        pad_mode="edge",
        features=KNOWN_FEATURES,
    ),
    "reflect-hamming-float32": FeatureConfig(
        window="hamming",
        win_length=1600,
        pad_mode="reflect",
        zcr_threshold=0.01,
        roll_percent=0.5,
        features=KNOWN_FEATURES,
        stats=("median", "min", "max"),
    ),
}


@pytest.fixture(scope="module")
def segments(gtzan_clip):
    """Three 0.6 s segments, the last 60 dB quieter (its own dB floor differs from a shared one)."""
    segs = gtzan_clip[: 3 * 13230].reshape(3, 13230).astype(np.float64)
    segs[2] *= 1e-3
    return segs


@pytest.mark.parametrize("config_name", sorted(EXTRACTOR_CONFIGS))
def test_extractor_matches_librosa_per_segment(segments, config_name):
    c = EXTRACTOR_CONFIGS[config_name]
    dtype = np.dtype(c.dtype)
    fx = FeatureExtractor(c)
    computed = fx.compute(segments)
    assert set(computed) == {"mel_db", "mfcc", *c.features}
    for i, seg in enumerate(segments.astype(dtype)):
        expected = librosa_features(seg, c)
        for name, values in computed.items():
            assert values.dtype == dtype
            assert values.shape[0] == len(segments)
            assert values.shape[-1] == fx.n_frames(segments.shape[1])
            assert_matches(values[i], expected[name].astype(dtype), dtype)


def test_extractor_single_signal_and_segment_features(segments):
    fx = FeatureExtractor(FeatureConfig(dtype="float64"))
    single = fx.compute(segments[0])
    batch = fx.segment_features(segments)
    assert single["mel_db"].shape == (128, fx.n_frames(segments.shape[1]))
    assert set(batch) == {"mel_db", "mfcc", "summary"}
    assert batch["mel_db"].shape == (3, 128, single["mel_db"].shape[-1])
    assert batch["mfcc"].shape == (3, 20, single["mel_db"].shape[-1])
    assert batch["summary"].shape == (3, len(fx.summary_names))
    np.testing.assert_array_equal(batch["mel_db"][0], single["mel_db"])
    np.testing.assert_array_equal(batch["summary"][0], fx.summarize(single))


def test_summarize_matches_numpy_and_scipy(segments):
    c = FeatureConfig(dtype="float64", features=KNOWN_FEATURES, stats=KNOWN_STATS)
    fx = FeatureExtractor(c)
    computed = fx.compute(segments)
    summary = fx.summarize(computed)
    reference = {
        "mean": lambda v: v.mean(-1),
        "var": lambda v: v.var(-1),
        "std": lambda v: v.std(-1),
        "skew": lambda v: scipy.stats.skew(v, axis=-1),
        "kurtosis": lambda v: scipy.stats.kurtosis(v, axis=-1),
        "median": lambda v: np.median(v, -1),
        "min": lambda v: v.min(-1),
        "max": lambda v: v.max(-1),
    }
    expected = np.concatenate(
        [np.concatenate([reference[s](computed[f]) for s in c.stats], axis=-1) for f in c.features],
        axis=-1,
    )
    assert summary.shape == expected.shape == (3, len(fx.summary_names))
    np.testing.assert_allclose(summary, expected, rtol=1e-9, atol=1e-12)


def test_summary_names_follow_feature_stat_row_order():
    fx = FeatureExtractor(FeatureConfig())
    names = fx.summary_names
    assert names[:13] == [f"chroma_stft_{i:02d}_mean" for i in range(12)] + ["chroma_stft_00_var"]
    assert "rms_mean" in names and "rms_var" in names and "mfcc_03_mean" in names
    assert names[-1] == "mfcc_19_var"
    assert len(names) == len(set(names)) == (12 + 5 + 20) * 2


def test_no_summary_features_gives_empty_summary(segments):
    fx = FeatureExtractor(FeatureConfig(features=()))
    assert fx.summary_names == []
    assert fx.segment_features(segments)["summary"].shape == (3, 0)


def test_silent_segment_summarises_without_nan():
    c = FeatureConfig(features=KNOWN_FEATURES, stats=KNOWN_STATS)
    fx = FeatureExtractor(c)
    summary = fx.segment_features(np.zeros((2, 11025), dtype=np.float32))["summary"]
    assert np.isfinite(summary).all()
    skew = [i for i, name in enumerate(fx.summary_names) if name.endswith("_skew")]
    np.testing.assert_array_equal(summary[:, skew], 0.0)


def test_extractor_serves_several_threads(segments):
    # FFT plans and pooled buffers are per thread, the extractor itself is immutable.
    fx = FeatureExtractor(FeatureConfig(features=KNOWN_FEATURES))
    batches = [segments[:2], segments[1:], segments[::2], segments[:1]] * 2
    expected = [fx.compute(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(fx.compute, batches))
    for got, want in zip(results, expected, strict=True):
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])


@given(n=st.integers(1, 3000), center=st.booleans())
@settings(max_examples=25, deadline=None)
def test_n_frames_matches_computed_frames(n, center):
    config = FeatureConfig(n_fft=256, hop_length=64, n_mels=16, n_mfcc=8, center=center)
    fx = FeatureExtractor(config)
    if not center and n < 256:
        with pytest.raises(ParameterError, match="n_fft=256"):
            fx.compute(np.zeros(n, np.float32))
        return
    computed = fx.compute(np.random.default_rng(n).standard_normal(n).astype(np.float32))
    assert {v.shape[-1] for v in computed.values()} == {fx.n_frames(n)}


EXTRACTOR_BAD_INPUTS = [
    (lambda fx: fx.compute(np.zeros((2, 2, 4096))), r"y=.*n_segments"),
    (lambda fx: fx.compute(np.zeros(4096, dtype=np.int16)), r"y=.*floating"),
    (lambda fx: fx.compute(np.full(4096, np.nan)), r"y=.*NaN"),
    (lambda fx: fx.segment_features(np.zeros(4096)), r"segments=.*2-D"),
    (lambda fx: fx.summarize({"mfcc": np.zeros((20, 3))}), r"no 'chroma_stft'"),
    (lambda fx: FeatureExtractor("gtzan"), r"config='gtzan'"),
]


@pytest.mark.parametrize("call,message", EXTRACTOR_BAD_INPUTS)
def test_extractor_bad_input(call, message):
    with pytest.raises(ParameterError, match=message):
        call(FeatureExtractor(FeatureConfig()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finiteness_check_is_exact(dtype):
    """Finite values whose sum overflows are accepted; one NaN or infinity anywhere (inside
    the vectorised body of the one-pass check or in its tail, in a C-ordered, F-ordered or
    strided array) is refused."""
    from sonicsep.features._validation import _real_float_array

    huge = np.full((4, 1001), np.finfo(dtype).max / 2, dtype)  # finite; the sum is inf
    assert _real_float_array(huge, "y") is huge
    for bad in (np.nan, np.inf, -np.inf):
        for where in ((0, 0), (2, 516), (3, 1000)):
            spoiled = huge.copy()
            spoiled[where] = bad
            strided = spoiled[:, ::2]  # holds every even column, so every bad value
            for layout in (spoiled, np.asfortranarray(spoiled), strided):
                with pytest.raises(ParameterError, match="contains NaN or infinite values"):
                    _real_float_array(layout, "y")
