"""sonicsep.audio: decoding, streaming, the audioread fallback, and decode errors."""

from __future__ import annotations

import pickle
import struct
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from sonicsep import audio
from sonicsep.config import FeatureConfig
from sonicsep.errors import DecodeError, ParameterError

# The load() argument sets that the stream tests replay (test_audio_parity.py checks load()
# itself against librosa on the same sets).
STREAM_CASES = [
    {},
    {"sr": None},
    {"sr": 16000},
    {"mono": False},
    {"offset": 1.3, "duration": 2.7},
    {"sr": 44100, "mono": False, "offset": 0.5, "duration": 3.0},
]


def _write_wav(path, y, sr, subtype="PCM_16"):
    sf.write(path, y, sr, subtype=subtype)
    return path


@pytest.fixture
def stereo_wav(tmp_path, rng):
    """Ten seconds of 44.1 kHz stereo noise-and-tone, the shape of a decoded FMA clip."""
    t = np.arange(441000) / 44100
    y = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * rng.standard_normal(t.size)], axis=1)
    return _write_wav(tmp_path / "stereo.wav", y, 44100)


def test_load_real_file_facts(gtzan_wav, fma_mp3):
    y, sr = audio.load(gtzan_wav, sr=None)
    assert (sr, y.shape) == (22050, (661794,))
    y, sr = audio.load(fma_mp3, sr=None, mono=False)
    assert (sr, y.shape) == (44100, (2, 1321967))
    y, sr = audio.load(fma_mp3)  # 2:1 resampling gives ceil(n / 2) samples
    assert (sr, y.shape, y.dtype) == (22050, (660984,), np.float32)


def test_info_real_files(gtzan_wav, fma_mp3, shared_data):
    assert audio.info(gtzan_wav) == audio.AudioInfo(22050, 1, 661794, 661794 / 22050)
    mp3 = audio.info(fma_mp3)
    assert (mp3.samplerate, mp3.channels, mp3.frames) == (44100, 2, 1321967)
    assert mp3.duration == pytest.approx(29.98, abs=0.01)
    short = audio.info(shared_data / "fma/fma_small/000/000010_excerpt_2s.mp3")
    assert (short.frames, short.channels) == (88200, 2)


def _data_offset(wav_bytes: bytes) -> int:
    """Where a canonical WAV's samples start (after the 'data' chunk header)."""
    return wav_bytes.index(b"data") + 8


def test_info_warns_of_a_truncated_wav(tmp_path, gtzan_wav):
    """A real clip cut 10 s into its samples (16-bit mono): the header still says 30.01 s;
    soundfile counts the frames that are there, and the warning says so."""
    whole = gtzan_wav.read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(whole[: _data_offset(whole) + 2 * 22050 * 10])
    header = audio.info(path)
    assert (header.frames, header.duration) == (220500, 10.0)
    assert header.warning == ("truncated: the WAV header declares 30.01 s of audio, the file "
                              "holds 10.00 s; only those were read")
    assert audio.load(path, sr=None)[0].shape == (220500,)


@pytest.mark.parametrize("declared", [0, 0xFFFFFFFF])
def test_info_trusts_a_wav_of_unknown_length(tmp_path, gtzan_wav, declared):
    """Streaming writers leave the data size 0 or 0xFFFFFFFF: no length was promised."""
    whole = bytearray(gtzan_wav.read_bytes())
    size_at = _data_offset(whole) - 4
    whole[size_at:size_at + 4] = struct.pack("<I", declared)
    path = tmp_path / "streamed.wav"
    path.write_bytes(bytes(whole))
    assert audio.info(path).warning == ""


def test_info_has_no_warning_for_whole_files(gtzan_wav, fma_mp3, tmp_path):
    flac = tmp_path / "tone.flac"
    sf.write(flac, np.zeros(1000), 8000)
    assert [audio.info(p).warning for p in (gtzan_wav, fma_mp3, flac)] == ["", "", ""]


def test_gtzan_clip_lengths(gtzan_root):
    frames = [audio.info(p).frames for p in sorted(gtzan_root.glob("genres/*/*.wav"))]
    assert len(frames) == 20 and 661504 <= min(frames) and max(frames) <= 666160


# ---------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("kwargs", STREAM_CASES, ids=lambda k: repr(k) if k else "defaults")
def test_stream_equals_load_on_real_mp3(fma_mp3, kwargs):
    blocks = list(audio.stream(fma_mp3, block_samples=30000, **kwargs))
    assert all(b.shape[-1] == 30000 for b in blocks[:-1]) and 0 < blocks[-1].shape[-1] <= 30000
    streamed = np.concatenate(blocks, axis=-1)
    y, _ = audio.load(fma_mp3, **kwargs)
    assert streamed.shape == y.shape
    # Measured: soxr's streaming resampler reproduces the one-shot result bit for bit.
    assert np.abs(streamed - y).max() <= 1e-6


@pytest.mark.parametrize(("target_sr", "read_frames", "block_samples"), [
    (22050, 65536, 777), (22050, 997, 65536), (16000, 4096, 1), (16000, 65536, 10**6),
    (48000, 1000, 4410), (44100, 997, 500),
])
def test_stream_has_no_seams(stereo_wav, monkeypatch, target_sr, read_frames, block_samples):
    """Resampling across read boundaries of any size equals resampling the whole signal."""
    monkeypatch.setattr(audio, "_READ_FRAMES", read_frames)
    duration = 1.0 if block_samples == 1 else None
    y, _ = audio.load(stereo_wav, sr=target_sr, duration=duration)
    blocks = list(audio.stream(stereo_wav, sr=target_sr, block_samples=block_samples,
                               duration=duration))
    assert {len(b) for b in blocks[:-1]} <= {block_samples}
    streamed = np.concatenate(blocks)
    assert streamed.shape == y.shape
    assert np.abs(streamed - y).max() <= 1e-6


def test_stream_memory_is_bounded(tmp_path):
    """A 60 s stereo file (21 MB as float32) streams with a few MB of peak allocation."""
    n = 60 * 44100
    path = _write_wav(tmp_path / "long.wav", np.zeros((n, 2), dtype=np.int16), 44100)
    tracemalloc.start()
    try:
        total = sum(block.size for block in audio.stream(path, block_samples=22050))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == n // 2
    assert peak < 4e6, f"streaming peaked at {peak / 1e6:.1f} MB"


@pytest.mark.parametrize("sr", [22050, 16000])
def test_resample_of_the_native_signal_equals_load_at_the_rate(fma_mp3, sr):
    """One decode at the native rate serves FMA's features and, resampled, the segments."""
    native, native_sr = audio.load(fma_mp3, sr=None, duration=5.0)
    expected, _ = audio.load(fma_mp3, sr=sr, duration=5.0)
    np.testing.assert_array_equal(audio.resample(native, native_sr, sr), expected)
    assert audio.resample(native, native_sr, native_sr) is native
    with pytest.raises(ParameterError, match="mono signal"):
        audio.resample(np.zeros((2, 100), np.float32), 44100, 22050)


def test_stream_native_rate_and_close(gtzan_wav):
    blocks = audio.stream(gtzan_wav, sr=None, block_samples=100000)
    first = next(blocks)
    blocks.close()  # closes the file; nothing more is read
    expected, _ = audio.load(gtzan_wav, sr=None, duration=100000 / 22050)
    np.testing.assert_array_equal(first, expected)


# ---------------------------------------------------------------------------- fallback
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_audioread_fallback_matches_soundfile(tmp_path, monkeypatch, rng):
    path = _write_wav(tmp_path / "x.wav", 0.3 * rng.standard_normal((30000, 2)), 22050)
    by_soundfile = audio.load(path, sr=16000, mono=False, offset=0.1, duration=0.9)[0]

    def refuse(*args, **kwargs):
        raise sf.LibsndfileError(0, "refused by the test")

    monkeypatch.setattr(audio.sf, "SoundFile", refuse)
    assert audio.info(path).frames is None
    by_audioread = audio.load(path, sr=16000, mono=False, offset=0.1, duration=0.9)[0]
    np.testing.assert_array_equal(by_audioread, by_soundfile)
    streamed = np.concatenate(list(audio.stream(path, sr=16000, mono=False, offset=0.1,
                                                duration=0.9, block_samples=999)), axis=-1)
    np.testing.assert_array_equal(streamed, by_soundfile)


# ---------------------------------------------------------------------------- errors
def _wav_bytes(tmp_path):
    path = _write_wav(tmp_path / "ok.wav", np.zeros(1000), 22050)
    return path.read_bytes()


def _bad_files(tmp_path):
    ok = _wav_bytes(tmp_path)
    odd_format = bytearray(ok)
    odd_format[20:22] = struct.pack("<H", 0x1234)  # a WAVE format tag no backend knows
    return {
        "zero bytes": b"",
        "truncated header": ok[:20],
        "not audio": b"these are notes, not sound\n" * 20,
        "unknown format tag": bytes(odd_format),
        "no samples": ok[:44],
    }


@pytest.mark.parametrize("case", ["zero bytes", "truncated header", "not audio",
                                  "unknown format tag", "no samples"])
def test_undecodable_files_raise_decode_error(tmp_path, case):
    path = tmp_path / f"{case.replace(' ', '_')}.wav"
    path.write_bytes(_bad_files(tmp_path)[case])
    for read in (audio.load, lambda p: list(audio.stream(p)),
                 lambda p: list(audio.iter_segments(p, FeatureConfig()))):
        with pytest.raises(DecodeError) as info:
            read(path)
        assert str(path) in str(info.value)
        if case != "no samples":  # both backends were tried and both causes are named
            assert set(info.value.causes) == {"soundfile", "audioread"}


def test_known_corrupt_gtzan_clip(bad_wav):
    with pytest.raises(DecodeError) as info:
        audio.load(bad_wav)
    assert "jazz.00054.wav" in str(info.value)
    assert "Format not recognised" in info.value.causes["soundfile"]
    assert info.value.causes["audioread"]
    assert pickle.loads(pickle.dumps(info.value)).causes == info.value.causes


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DecodeError, match="does not exist"):
        audio.load(tmp_path / "absent.wav")
    with pytest.raises(DecodeError, match="does not exist"):
        audio.info(tmp_path / "absent.wav")
    with pytest.raises(DecodeError, match="directory"):
        audio.stream(tmp_path)


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples(tmp_path, channels, bad):
    # The bad sample sits in the second block the streaming reader takes.
    y = np.zeros((audio._READ_FRAMES + 500, channels), dtype=np.float32)
    y[audio._READ_FRAMES + 123, channels - 1] = bad
    path = _write_wav(tmp_path / "bad.wav", y, 22050, subtype="FLOAT")
    for kwargs in ({}, {"mono": False}):
        with pytest.raises(DecodeError, match="non-finite"):
            audio.load(path, **kwargs)
        with pytest.raises(DecodeError, match="non-finite"):
            list(audio.stream(path, **kwargs))


def test_soundfile_own_read_gives_the_same_samples(fma_mp3, monkeypatch):
    """Without soundfile's cffi handles, its public read() takes over, to the same samples."""
    fast_load = audio.load(fma_mp3, sr=None, mono=False, offset=1.0, duration=4.0)[0]
    fast_stream = np.concatenate(list(audio.stream(fma_mp3, duration=4.0)))
    monkeypatch.setattr(audio, "_SF_LIB", None)
    np.testing.assert_array_equal(
        audio.load(fma_mp3, sr=None, mono=False, offset=1.0, duration=4.0)[0], fast_load
    )
    np.testing.assert_array_equal(np.concatenate(list(audio.stream(fma_mp3, duration=4.0))),
                                  fast_stream)


def test_read_error_mid_file_names_the_file(tmp_path, monkeypatch, stereo_wav):
    """A libsndfile error reported after a read surfaces as that file's DecodeError."""
    class FailingLib:  # libsndfile, but every read reports error 1 afterwards
        def __getattr__(self, name):
            return getattr(audio.sf._snd, name)

        @staticmethod
        def sf_error(handle):
            return 1

    monkeypatch.setattr(audio, "_SF_LIB", FailingLib())
    with pytest.raises(DecodeError, match="stereo.wav.*soundfile: LibsndfileError"):
        audio.load(stereo_wav)


def test_offset_past_the_end(gtzan_wav):
    with pytest.raises(DecodeError, match="no audio samples at or after offset 40"):
        audio.load(gtzan_wav, offset=40.0)
    with pytest.raises(DecodeError, match="no audio samples"):
        list(audio.stream(gtzan_wav, offset=40.0))


@pytest.mark.parametrize("kwargs", [{"sr": 0}, {"sr": -8000}, {"offset": -1.0},
                                    {"duration": 0}, {"dtype": np.int16}])
def test_bad_arguments(gtzan_wav, kwargs):
    with pytest.raises(ParameterError):
        audio.load(gtzan_wav, **kwargs)
    with pytest.raises(ParameterError):
        audio.stream(gtzan_wav, **kwargs)


def test_bad_block_size(gtzan_wav):
    with pytest.raises(ParameterError, match="block_samples"):
        audio.stream(gtzan_wav, block_samples=0)


def test_unsupported_layout_from_audioread(tmp_path, monkeypatch):
    class ZeroChannels:
        samplerate, channels, duration = 22050, 0, 1.0

        def close(self):
            pass

    def refuse(*args, **kwargs):
        raise sf.LibsndfileError(0, "refused by the test")

    monkeypatch.setattr(audio.sf, "SoundFile", refuse)
    monkeypatch.setattr(audio.audioread, "audio_open", lambda name: ZeroChannels())
    path = tmp_path / "odd.wav"
    path.write_bytes(b"RIFF")
    with pytest.raises(DecodeError, match="unsupported layout: 0 channels"):
        audio.load(path)


def test_numpy_sample_rates(gtzan_wav):
    y, sr = audio.load(gtzan_wav, sr=np.int64(11025), duration=1.0)
    assert sr == 11025 and y.shape == (11025,)
