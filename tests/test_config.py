"""FeatureConfig: defaults, validation naming the parameter, (de)serialisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sonicsep.kernels import framing, windows

from sonicsep.config import FeatureConfig
from sonicsep.errors import ConfigError


def test_defaults_follow_librosa_and_the_study():
    c = FeatureConfig()
    assert (c.sr, c.n_fft, c.hop_length, c.n_mels, c.n_mfcc) == (22050, 2048, 512, 128, 20)
    assert c.segment_seconds == 5.0 and c.segment_samples == 110250
    assert c.frames_per_segment == 1 + 110250 // 512 == 216
    assert c.replace(center=False).frames_per_segment == 1 + (110250 - 2048) // 512


def test_frames_per_segment_counts_odd_n_fft_as_framing_does():
    # Centring pads n_fft // 2 = 255 samples per side, one less than a frame: 441 frames, not
    # the 1 + 110250 // 250 = 442 of a formula that assumes an even n_fft.
    c = FeatureConfig(n_fft=511, hop_length=250)
    assert c.segment_samples == 110250
    assert c.frames_per_segment == 441
    assert c.replace(n_fft=512).frames_per_segment == 442
    assert c.replace(center=False).frames_per_segment == 439


def test_window_and_pad_mode_names_are_the_kernels():
    for name in windows.WINDOW_NAMES:
        assert FeatureConfig(window=name).window == name
    for mode in framing.PAD_MODES:
        assert FeatureConfig(pad_mode=mode).pad_mode == mode
    with pytest.raises(ConfigError, match="'rect', 'rectangular'"):
        FeatureConfig(window="kaiser")
    with pytest.raises(ConfigError, match=r"pad_mode='wrap'.*'constant', 'reflect', 'edge'"):
        FeatureConfig(pad_mode="wrap")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"segment_seconds": float("inf")}, "finite"),
        ({"segment_seconds": 1e-6}, "one sample at sr = 22050"),
        ({"center": False, "segment_seconds": 0.05}, "n_fft = 2048 samples when center=False"),
    ],
)
def test_segments_that_cannot_be_framed_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        FeatureConfig(**changes)


@given(
    n_mels=st.integers(20, 256), hop=st.integers(64, 1024), seconds=st.floats(0.5, 30),
    features=st.lists(st.sampled_from(["rms", "mfcc", "chroma_stft"]), unique=True, min_size=1),
)
def test_dict_and_json_round_trip(n_mels, hop, seconds, features):
    c = FeatureConfig(n_mels=n_mels, hop_length=hop, segment_seconds=seconds, features=features)
    assert FeatureConfig.from_dict(c.to_dict()) == c
    assert FeatureConfig.from_json(c.to_json()) == c
    assert hash(c) == hash(FeatureConfig.from_json(c.to_json()))


@pytest.mark.parametrize(
    "changes, param",
    [
        ({"sr": 0}, "sr"),
        ({"sr": -22050}, "sr"),
        ({"fmax": 20000.0}, "fmax"),
        ({"n_mfcc": 200}, "n_mfcc"),
        ({"hop_length": 0}, "hop_length"),
        ({"window": "kaiser"}, "window"),
        ({"features": ["loudness"]}, "features"),
        ({"stats": ["mode"]}, "stats"),
        ({"dtype": "int16"}, "dtype"),
        ({"features": "mfcc"}, "features"),
    ],
)
def test_invalid_values_name_the_parameter_and_value(changes, param):
    with pytest.raises(ConfigError, match=param):
        FeatureConfig(**changes)


def test_unknown_keys_and_bad_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown FeatureConfig keys \\['n_mel'\\]"):
        FeatureConfig.from_dict({"n_mel": 64})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        FeatureConfig.from_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        FeatureConfig.from_file(tmp_path / "absent.json")
