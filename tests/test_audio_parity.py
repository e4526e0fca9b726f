"""sonicsep.audio.load against librosa.load (the parity reference) on the real files."""

from __future__ import annotations

import numpy as np
import pytest

from sonicsep import audio

librosa = pytest.importorskip("librosa")

PARITY_CASES = [
    {},
    {"sr": None},
    {"sr": 16000},
    {"mono": False},
    {"offset": 1.3, "duration": 2.7},
    {"sr": 44100, "mono": False, "offset": 0.5, "duration": 3.0},
    {"dtype": np.float64, "duration": 2.0},
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("kwargs", PARITY_CASES, ids=lambda k: repr(k) if k else "defaults")
@pytest.mark.parametrize("which", ["gtzan_wav", "fma_mp3"])
def test_load_matches_librosa(request, which, kwargs):
    path = request.getfixturevalue(which)
    expected, expected_sr = librosa.load(path, **kwargs)
    y, sr = audio.load(path, **kwargs)
    assert sr == expected_sr
    assert y.shape == expected.shape and y.dtype == expected.dtype
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-6)


