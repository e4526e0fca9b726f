"""FeatureConfig: defaults, validation naming the parameter, (de)serialisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sonicsep.config import FeatureConfig
from sonicsep.errors import ConfigError


def test_defaults_follow_librosa_and_the_study():
    c = FeatureConfig()
    assert (c.sr, c.n_fft, c.hop_length, c.n_mels, c.n_mfcc) == (22050, 2048, 512, 128, 20)
    assert c.segment_seconds == 5.0 and c.segment_samples == 110250
    assert c.frames_per_segment == 1 + 110250 // 512 == 216
    assert c.replace(center=False).frames_per_segment == 1 + (110250 - 2048) // 512


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
