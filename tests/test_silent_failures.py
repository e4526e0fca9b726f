"""Nothing vanishes silently: audio that breaks the features says why, and no numpy warning
reaches the user's terminal on its way there."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import soundfile as sf
from synthetic_store import TINY_CONFIG

from sonicsep.errors import ParameterError, SonicSepError
from sonicsep.features.extractor import FeatureExtractor
from sonicsep.featurize import featurize_track

N_SAMPLES = 2 * TINY_CONFIG.sr


def _signs(n: int) -> np.ndarray:
    """A noise of +-1 samples: its largest magnitude is exactly 1."""
    return np.where(np.random.default_rng(0).random(n) < 0.5, -1.0, 1.0).astype(np.float32)


@pytest.mark.parametrize("amplitude", [0.0, 1e-30, 1.0, 1e15])
def test_silent_to_loud_audio_gives_finite_features_and_no_warning(amplitude):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features = FeatureExtractor(TINY_CONFIG).segment_features(
            amplitude * _signs(N_SAMPLES)[np.newaxis]
        )
    assert all(np.isfinite(values).all() for values in features.values())


@pytest.mark.parametrize("amplitude", [1e20, 3e38])
def test_samples_that_overflow_the_features_say_so_without_a_warning(amplitude):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParameterError) as caught:
            FeatureExtractor(TINY_CONFIG).segment_features(amplitude * _signs(N_SAMPLES)[None])
    assert str(caught.value).startswith(
        f"features overflow: samples up to {amplitude:.3g} (audio is expected within [-1, 1]); "
        "mel_db, mfcc, chroma_stft,"
    )
    assert str(caught.value).endswith("not finite; scale the audio into [-1, 1]")


def test_a_file_of_overflowing_samples_fails_with_the_cause(tmp_path):
    path = tmp_path / "loud.wav"
    sf.write(path, 1e20 * _signs(N_SAMPLES), TINY_CONFIG.sr, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cause = rf"^{re.escape(str(path))}: features overflow: samples up to 1e\+20"
        with pytest.raises(SonicSepError, match=cause):
            featurize_track(str(path), TINY_CONFIG)
