"""FeatureConfig's shapes against what FeatureExtractor produces and librosa frames, and the
extractor's feature registry against what it computes."""

from __future__ import annotations

import subprocess
import sys
import warnings

import librosa
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sonicsep.config import KNOWN_FEATURES, KNOWN_STATS, FeatureConfig
from sonicsep.errors import ConfigError
from sonicsep.features import FeatureExtractor
from sonicsep.features.extractor import FEATURES


# segment_seconds is drawn as (n_hops * hop_length + extra) / sr so that segments of a whole
# number of hops (where an odd n_fft's centring matters) come up, not only by chance.
@given(
    n_fft=st.integers(16, 600),
    hop_length=st.integers(8, 300),
    center=st.booleans(),
    sr=st.sampled_from([8000, 11025, 22050]),
    n_hops=st.integers(1, 12),
    extra=st.one_of(st.just(0), st.integers(1, 299)),
)
@example(n_fft=511, hop_length=250, center=True, sr=22050, n_hops=441, extra=0)
@settings(max_examples=25, deadline=None)
def test_config_shapes_are_what_the_extractor_and_librosa_produce(
    n_fft, hop_length, center, sr, n_hops, extra
):
    n_samples = n_hops * hop_length + extra % hop_length
    changes = dict(n_fft=n_fft, hop_length=hop_length, center=center, sr=sr, n_mels=16, n_mfcc=8)
    segment_seconds = n_samples / sr
    if not center and n_samples < n_fft:
        with pytest.raises(ConfigError, match="segment_seconds"):
            FeatureConfig(segment_seconds=segment_seconds, **changes)
        return
    config = FeatureConfig(segment_seconds=segment_seconds, **changes)
    assert config.segment_samples == n_samples
    t = config.frames_per_segment

    segments = np.random.default_rng(n_samples).standard_normal((2, n_samples)).astype("float32")
    fx = FeatureExtractor(config)
    produced = fx.segment_features(segments)
    assert produced["mel_db"].shape == (2, config.n_mels, t)
    assert produced["mfcc"].shape == (2, config.n_mfcc, t)
    assert produced["summary"].shape == (2, len(fx.summary_names))
    assert {v.shape[-1] for v in fx.compute(segments).values()} == {t}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa: empty mel filters at small n_fft
        mel = librosa.feature.melspectrogram(
            y=segments[0], sr=sr, n_fft=n_fft, hop_length=hop_length, center=center, n_mels=16
        )
    padded = np.pad(segments[0], n_fft // 2) if center else segments[0]
    assert mel.shape[-1] == t
    assert librosa.util.frame(padded, frame_length=n_fft, hop_length=hop_length).shape[-1] == t


ROWS_CONFIG = FeatureConfig(
    n_fft=512,
    hop_length=128,
    n_mels=24,
    n_mfcc=9,
    n_chroma=7,
    n_bands=3,
    features=KNOWN_FEATURES,
    stats=("mean", "max"),
)
ROWS = {"chroma_stft": 7, "spectral_contrast": 4, "mfcc": 9}  # every other feature: one row


def test_registry_rows_are_the_rows_the_extractor_computes():
    assert tuple(FEATURES) == KNOWN_FEATURES
    fx = FeatureExtractor(ROWS_CONFIG)
    segments = np.random.default_rng(0).standard_normal((2, 4096)).astype("float32")
    computed = fx.compute(segments)
    assert set(computed) == {"mel_db", *FEATURES}
    for name, entry in FEATURES.items():
        rows = entry.rows(ROWS_CONFIG)
        assert rows == ROWS.get(name, 1), name
        assert computed[name].shape == (2, rows, fx.n_frames(4096)), name
        assert computed[name].dtype == np.float32, name
    assert len(fx.summary_names) == sum(ROWS.get(n, 1) for n in FEATURES) * 2
    assert fx.summary_names[:2] == ["chroma_stft_00_mean", "chroma_stft_01_mean"]
    assert "rms_max" in fx.summary_names and "spectral_contrast_03_max" in fx.summary_names


def test_every_feature_alone_is_computed_and_summarised():
    for name in FEATURES:
        fx = FeatureExtractor(ROWS_CONFIG.replace(features=(name,), stats=KNOWN_STATS))
        summary = fx.segment_features(np.ones((1, 2048), dtype=np.float32))["summary"]
        assert summary.shape == (1, ROWS.get(name, 1) * len(KNOWN_STATS)), name


def test_a_config_name_without_a_registry_entry_stops_the_import():
    code = (
        "import sonicsep.config as c;"
        "c.KNOWN_FEATURES = c.KNOWN_FEATURES + ('loudness',);"
        "import sonicsep.features"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode != 0
    assert "ImportError" in run.stderr and "'loudness'" in run.stderr
