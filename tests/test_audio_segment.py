"""The segmenting policy: segment() on arrays, iter_segments() on streamed files, the same."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from sonicsep import audio
from sonicsep.config import FeatureConfig
from sonicsep.errors import ParameterError

SR = 100  # a toy rate keeps the arithmetic readable: 1 s = 100 samples


def _config(seconds=1.0, hop=None, fraction=0.5, max_segments=6, sr=SR):
    return FeatureConfig(sr=sr, n_fft=16, hop_length=4, n_mels=8, n_mfcc=8,
                         segment_seconds=seconds, segment_hop_seconds=hop,
                         min_last_segment_fraction=fraction, max_segments=max_segments)


def _reference(y, config):
    """The policy spelled out sample by sample."""
    length, hop = config.segment_samples, config.segment_hop_samples
    out, start = [], 0
    while start < len(y) and len(out) < config.max_segments:
        piece = y[start:start + length]
        if len(piece) < length:
            if len(piece) >= config.min_last_segment_fraction * length:
                out.append(np.concatenate([piece, np.zeros(length - len(piece), y.dtype)]))
            break
        out.append(piece)
        start += hop
    return np.array(out, dtype=y.dtype).reshape(-1, length)


def test_policy_examples():
    y = np.arange(1, 351, dtype=np.float32)  # 3.5 segments of 100
    segments = audio.segment(y, _config())
    assert segments.shape == (4, 100)
    np.testing.assert_array_equal(segments[3, :50], y[300:])
    assert not segments[3, 50:].any()  # the half-full last piece is zero-padded
    assert audio.segment(y, _config(fraction=0.6)).shape == (3, 100)  # ... or dropped
    assert audio.segment(y, _config(max_segments=2)).shape == (2, 100)
    assert audio.segment(y[:49], _config()).shape == (0, 100)  # too short for even one
    overlapped = audio.segment(y, _config(hop=0.5))
    assert overlapped.shape == (6, 100) and overlapped[1, 0] == 51


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 1200), seconds=st.sampled_from([0.5, 1.0, 2.3]),
       hop=st.sampled_from([None, 0.25, 0.7, 1.5, 3.0]), fraction=st.floats(0.01, 1.0),
       max_segments=st.integers(1, 12))
def test_segment_matches_reference(n, seconds, hop, fraction, max_segments):
    config = _config(seconds, hop, fraction, max_segments)
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    segments = audio.segment(y, config)
    np.testing.assert_array_equal(segments, _reference(y, config))
    assert segments.dtype == y.dtype


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 900), hop=st.sampled_from([None, 0.3, 1.0, 1.7]),
       fraction=st.floats(0.01, 1.0), max_segments=st.integers(1, 9))
def test_iter_segments_matches_segment_of_load(tmp_path_factory, n, hop, fraction,
                                               max_segments):
    path = tmp_path_factory.mktemp("seg") / "x.wav"
    sf.write(path, np.random.default_rng(n).uniform(-0.5, 0.5, n), SR, subtype="PCM_16")
    config = _config(1.0, hop, fraction, max_segments)
    expected = audio.segment(audio.load(path, sr=SR)[0], config)
    streamed = []
    for samples in audio.iter_segments(path, config):
        streamed.append(samples.copy())
        samples[:] = 9.0  # a consumer may write into a segment: later ones must not change
    assert len(streamed) == len(expected)
    if streamed:
        np.testing.assert_array_equal(np.stack(streamed), expected)


@pytest.mark.parametrize("changes", [{}, {"segment_hop_seconds": 2.5},
                                     {"segment_hop_seconds": 7.0, "max_segments": 100},
                                     {"segment_seconds": 4.0, "min_last_segment_fraction": 0.2}])
@pytest.mark.parametrize("which", ["gtzan_wav", "fma_mp3", "short_mp3"])
def test_iter_segments_on_real_files(request, shared_data, which, changes):
    path = (shared_data / "fma/fma_small/000/000010_excerpt_2s.mp3" if which == "short_mp3"
            else request.getfixturevalue(which))
    config = FeatureConfig(**changes)
    expected = audio.segment(audio.load(path, sr=config.sr)[0], config)
    streamed = list(audio.iter_segments(path, config))
    assert len(streamed) == len(expected)
    if streamed:
        np.testing.assert_array_equal(np.stack(streamed), expected)


def test_real_segment_counts(gtzan_wav, shared_data):
    config = FeatureConfig()  # 5 s segments, at most 6
    assert audio.segment(audio.load(gtzan_wav)[0], config).shape == (6, 110250)
    short = shared_data / "fma/fma_small/000/000010_excerpt_2s.mp3"
    assert list(audio.iter_segments(short, config)) == []  # 2 s < half a 5 s segment
    assert len(list(audio.iter_segments(short, config.replace(segment_seconds=3.0)))) == 1


def test_iter_segments_stops_reading_after_max_segments(tmp_path, monkeypatch):
    """Ten minutes on disk, two segments wanted: only about two segments are decoded."""
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(600 * 8000, dtype=np.int16), 8000)
    frames_read = []
    real_read = sf.SoundFile.read

    def counting_read(self, frames=-1, *args, **kwargs):
        block = real_read(self, frames, *args, **kwargs)
        frames_read.append(len(block))
        return block

    monkeypatch.setattr(sf.SoundFile, "read", counting_read)
    config = FeatureConfig(sr=8000, max_segments=2)
    assert len(list(audio.iter_segments(path, config))) == 2
    assert sum(frames_read) <= 10 * 8000 + audio._READ_FRAMES


def test_segment_needs_mono():
    with pytest.raises(ParameterError, match="mono"):
        audio.segment(np.zeros((2, 1000), dtype=np.float32), _config())
