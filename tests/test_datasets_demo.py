"""The synthetic demo corpus: layout, reproducibility, caching, and load_dataset("demo")."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from sonicsep import audio
from sonicsep.datasets import demo, load_dataset
from sonicsep.errors import ParameterError

SMALL = {"n_per_genre": 4, "clip_seconds": 1.0}


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    return demo.make_demo(tmp_path_factory.mktemp("demo"), seed=0, **SMALL)


def test_layout_and_formats(small_demo):
    files = sorted(p.relative_to(small_demo).as_posix() for p in small_demo.rglob("*.*")
                   if p.name != demo.MARKER_NAME)
    expected = [f"genres/{g}/{g}.{i:05d}.{'mp3' if i == 3 else 'wav'}"
                for g in demo.DEMO_GENRES for i in range(4)]
    assert files == expected
    marker = json.loads((small_demo / demo.MARKER_NAME).read_text())
    assert marker["seed"] == 0 and marker["n_per_genre"] == 4


def test_clips_decode(small_demo):
    for path, native in ((sorted(small_demo.rglob("*.00003.mp3"))[0], 44100),
                         (sorted(small_demo.rglob("*.00000.wav"))[0], 22050)):
        y, sr = audio.load(path, sr=None)
        assert sr == native and y.ndim == 1 and len(y) >= native
        assert 0.05 < np.abs(y).max() <= 1.0


def test_same_seed_same_bytes(small_demo, tmp_path):
    again = demo.make_demo(tmp_path / "again", seed=0, **SMALL)
    for path in [*small_demo.rglob("*.wav"), *small_demo.rglob("*.mp3")]:
        assert path.read_bytes() == (again / path.relative_to(small_demo)).read_bytes()
    other = demo.synthesize_clip("jazz", seed=1, index=0, clip_seconds=1.0)
    assert not np.array_equal(other, demo.synthesize_clip("jazz", 0, 0, clip_seconds=1.0))


def test_genres_differ_in_attack_and_brightness():
    """Crude checks, medians over four clips, that genres differ as their descriptions say."""
    def centroid(y):
        spectrum = np.abs(np.fft.rfft(y))
        return np.sum(np.fft.rfftfreq(len(y), 1 / 22050) * spectrum) / spectrum.sum()

    def percussiveness(y):  # mean rise of the 512-sample RMS envelope, relative to its level
        envelope = np.sqrt((y[: len(y) // 512 * 512].reshape(-1, 512) ** 2).mean(axis=1))
        return np.maximum(np.diff(envelope), 0).mean() / envelope.mean()

    clips = {g: [demo.synthesize_clip(g, seed=0, index=i, clip_seconds=3.0) for i in range(4)]
             for g in demo.DEMO_GENRES}
    assert all(c.dtype == np.float32 and c.shape == (66150,) for cs in clips.values() for c in cs)
    hits = {g: np.median([percussiveness(c) for c in cs]) for g, cs in clips.items()}
    assert min(hits["techno"], hits["rock"]) > 2 * max(hits["ambient"], hits["classical"])
    assert hits["jazz"] > hits["ambient"]
    bright = {g: np.median([centroid(c) for c in cs]) for g, cs in clips.items()}
    assert max(bright["ambient"], bright["classical"]) < min(bright["rock"], bright["techno"])


def test_ensure_demo_makes_once_and_remakes_half_written(tmp_path, monkeypatch):
    calls = []
    real_make = demo.make_demo
    monkeypatch.setattr(demo, "make_demo", lambda *a, **k: calls.append(k) or real_make(*a, **k))
    root = demo.ensure_demo(tmp_path, **SMALL)
    demo.ensure_demo(tmp_path, **SMALL)
    assert len(calls) == 1
    (root / demo.MARKER_NAME).unlink()  # as if a run died before the marker was written
    (root / "genres" / "rock" / "rock.00001.wav").unlink()
    (root / "genres" / "rock" / "notes.txt").write_text("kept")
    demo.ensure_demo(tmp_path, **SMALL)
    assert len(calls) == 2 and (root / "genres" / "rock" / "rock.00001.wav").is_file()
    assert (root / "genres" / "rock" / "notes.txt").read_text() == "kept"
    demo.ensure_demo(tmp_path, seed=1, **SMALL)  # other parameters: remade
    assert len(calls) == 3


def test_load_dataset_demo(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no artists to leak: the random split does not warn
        dataset = load_dataset("demo", root=tmp_path, n_per_genre=3, clip_seconds=1.0)
    assert dataset.name == "demo" and dataset.genres == demo.DEMO_GENRES
    tracks = dataset.tracks
    assert len(tracks) == 15
    assert (tracks.groupby("genre")["split"].apply(sorted) == [["test", "train", "val"]] * 5).all()
    assert tracks["duration"].between(1.0, 1.3).all()


def test_default_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SONICSEP_DEMO_DIR", str(tmp_path / "here"))
    assert demo.default_demo_root() == tmp_path / "here"
    monkeypatch.delenv("SONICSEP_DEMO_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert demo.default_demo_root() == tmp_path / "cache" / "sonicsep" / "demo"


def test_bad_demo_arguments(tmp_path):
    with pytest.raises(ParameterError, match="n_per_genre"):
        demo.make_demo(tmp_path, n_per_genre=0)
    with pytest.raises(ParameterError, match="unknown demo genre 'polka'"):
        demo.synthesize_clip("polka", 0, 0)
    with pytest.raises(ParameterError, match=r"the demo split modes are \('random',\)"):
        load_dataset("demo", root=tmp_path, split="filtered")
    with pytest.raises(ParameterError, match="only the random split, got split='filtered'"):
        demo.load_demo(tmp_path, split="filtered")


@pytest.mark.slow
def test_default_corpus(tmp_path):
    """The default corpus: 5 genres x 8 clips of 30 s, made in a few seconds."""
    dataset = load_dataset("demo", root=tmp_path)
    assert len(dataset.tracks) == 40
    assert dataset.tracks["split"].value_counts().to_dict() == {"train": 20, "val": 10,
                                                                "test": 10}
    assert dataset.tracks["duration"].between(30.0, 30.3).all()
