"""A small synthetic labelled corpus in the GTZAN layout, for demos and end-to-end tests.

Five "genres" that differ the way real ones do; each clip draws its key, tempo and parts of its
arrangement, then passes a random "recording chain" (tilt EQ, noise floor, loudness), so that
telling them apart is learnable but not trivial:

==========  ===========  ==========================================================
genre       tempo (bpm)  what plays
==========  ===========  ==========================================================
ambient     55-80        no beat: swelling pads, a chord per 8 beats, soft bells, wind
classical   60-110       string-like additive tones with vibrato: held triads, a melody
jazz        100-190      swung ride, brushes, walking bass, sparse 7th-chord comping
rock        100-150      distorted power chords in eighths, bass, kick/snare/hat
techno      120-135      four-on-the-floor kick, off-beat hats, claps, off-beat bass
==========  ===========  ==========================================================

Clips are mono 16-bit WAV, except every fourth clip of each genre, written as MP3 through
lameenc. Everything derives from ``seed``: the same seed gives the same WAV bytes (and the same
MP3 bytes with the same lameenc).
:func:`ensure_demo` builds the corpus once per root and :func:`load_demo` reads it; a marker file
written last tells a finished corpus from a half-written one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import lameenc
import numpy as np
import soundfile as sf

from sonicsep.datasets.base import Dataset
from sonicsep.datasets.gtzan import load_layout
from sonicsep.datasets.splits import RANDOM_SPLIT
from sonicsep.errors import ParameterError

DEMO_GENRES = ("ambient", "classical", "jazz", "rock", "techno")
DEFAULT_N_PER_GENRE = 8
MARKER_NAME = ".sonicsep-demo.json"
# Bumped whenever the synthesis changes, so an old cached corpus is remade.
DEMO_VERSION = 2
MP3_SAMPLE_RATE = 44100
# Synthetic clips have no artists to leak, so the seeded random split is the only one.
SPLIT_MODES = (RANDOM_SPLIT,)
DEFAULT_SPLIT = RANDOM_SPLIT
_MP3_EVERY = 4  # clip k is an MP3 when k % _MP3_EVERY == _MP3_EVERY - 1


def default_demo_root() -> Path:
    """``$SONICSEP_DEMO_DIR``, else ``$XDG_CACHE_HOME/sonicsep/demo`` (``~/.cache/...``)."""
    if os.environ.get("SONICSEP_DEMO_DIR"):
        return Path(os.environ["SONICSEP_DEMO_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "sonicsep" / "demo"


# ---------------------------------------------------------------------------- sound sources
def _hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def _decay(n: int, sr: int, seconds: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (seconds * sr))


def _tone(freq: float, n: int, sr: int, partials=(1.0,), decay=None, vibrato=0.0, rng=None):
    """Sum of harmonics ``k * freq`` with amplitudes ``partials``; optional decay and vibrato."""
    t = np.arange(n) / sr
    phase = 2 * np.pi * freq * t
    if vibrato:
        phase += vibrato * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t + rng.uniform(0, 6.3))
    # sin((k+1)x) = 2 cos(x) sin(kx) - sin((k-1)x): one sine and one cosine for all partials.
    below, current, twice_cos = np.zeros(n), np.sin(phase), 2 * np.cos(phase)
    out = partials[0] * current
    for amplitude in partials[1:]:
        below, current = current, twice_cos * current - below
        if amplitude:
            out += amplitude * current
    return out * _decay(n, sr, decay) if decay else out


def _kick(sr: int) -> np.ndarray:
    n = int(0.3 * sr)
    t = np.arange(n) / sr
    pitch = 45.0 + 120.0 * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(pitch) / sr) * np.exp(-t / 0.12)


def _noise_hit(rng, sr: int, seconds: float, decay: float, bright: bool) -> np.ndarray:
    noise = rng.standard_normal(int(seconds * sr))
    if bright:  # a first difference tilts white noise towards the highs, like a cymbal
        noise = np.diff(noise, prepend=0.0) * 0.5
    return noise * _decay(len(noise), sr, decay)


def _snare(rng, sr: int) -> np.ndarray:
    n = int(0.2 * sr)
    return 0.6 * _noise_hit(rng, sr, 0.2, 0.06, False) + _tone(185.0, n, sr, decay=0.05)


def _ride(rng, sr: int) -> np.ndarray:
    n = int(0.5 * sr)
    bell = _tone(5100.0, n, sr, (0.4, 0.0, 0.2), decay=0.25)
    return 0.5 * bell + 0.4 * _noise_hit(rng, sr, 0.5, 0.18, True)


def _brush(rng, sr: int, seconds: float) -> np.ndarray:
    n = int(seconds * sr)
    swell = np.sin(np.pi * np.arange(n) / n) ** 2  # a swish rises and falls
    return 0.25 * rng.standard_normal(n) * swell


def _add(out: np.ndarray, start: float, sound: np.ndarray, gain: float = 1.0) -> None:
    """Mix ``sound`` into ``out`` from sample ``start`` on, cut at the end of ``out``."""
    first = int(start)
    if first >= len(out):
        return
    piece = sound[: len(out) - first]
    out[first:first + len(piece)] += gain * piece


def _chord_tones(root: int, quality: str) -> list[int]:
    shapes = {"maj": (0, 4, 7), "min": (0, 3, 7), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10),
              "dom7": (0, 4, 7, 10), "power": (0, 7, 12)}
    return [root + i for i in shapes[quality]]


# ---------------------------------------------------------------------------- genres
def _techno(rng, n, sr, tempo, key):
    beat = 60.0 * sr / tempo
    out = np.zeros(n)
    kick, clap = _kick(sr), _noise_hit(rng, sr, 0.15, 0.04, False)
    hat = _noise_hit(rng, sr, 0.06, 0.015, True)
    bass_note = _tone(_hz(key - 12), int(0.4 * beat), sr, (1.0, 0.5, 0.3), decay=0.08)
    clap_gain = rng.uniform(0.0, 0.5)
    for k in range(int(n / beat) + 1):
        _add(out, k * beat, kick, 1.0)
        _add(out, (k + 0.5) * beat, hat, 0.5)
        _add(out, (k + 0.5) * beat, bass_note, 0.6)
        if k % 2:
            _add(out, k * beat, clap, clap_gain)
    stab = sum(_tone(_hz(m), int(beat), sr, (1.0, 0.4), decay=0.1)
               for m in _chord_tones(key + 12, "min7"))
    for bar in range(0, int(n / beat), 4):
        _add(out, (bar + rng.choice([0.75, 1.5, 2.75])) * beat, stab, 0.15)
    return out


def _ambient(rng, n, sr, tempo, key):
    chord_len = min(int(8 * 60.0 / tempo * sr), n)  # a chord every 8 beats; short clips: less
    progression = [(0, "maj7"), (-3, "min7"), (5, "maj7"), (2, "min7")]
    out = np.zeros(n)
    fade = np.sin(np.linspace(0, np.pi, 2 * chord_len)) ** 2  # overlapping slow swells
    pads = [fade * sum(_tone(_hz(m), 2 * chord_len, sr, (1.0, 0.3, 0.1))
                       for m in _chord_tones(key + 12 + shift, quality))
            for shift, quality in progression]
    for i, start in enumerate(range(-chord_len, n, chord_len)):
        lo = max(start, 0)
        _add(out, lo, pads[i % len(pads)][lo - start:], 0.15)
    for _ in range(int(n / sr / 3)):
        bell = _tone(_hz(key + 24 + rng.choice([0, 4, 7, 11, 14])), int(3 * sr), sr,
                     (1.0, 0.0, 0.3, 0.0, 0.1), decay=0.8)
        _add(out, rng.uniform(0, n), bell, rng.uniform(0.05, 0.2))
    # Wind: white noise averaged over 16 samples (a dull hiss) under a slow swell.
    walk = np.cumsum(rng.standard_normal(n + 16))
    hiss = (walk[16:] - walk[:-16]) / 16
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * np.arange(n) / (rng.uniform(5.0, 12.0) * sr))
    return out + 0.05 * hiss * swell


def _rock(rng, n, sr, tempo, key):
    beat = 60.0 * sr / tempo
    out = np.zeros(n)
    kick, snare = _kick(sr), _snare(rng, sr)
    hat = _noise_hit(rng, sr, 0.08, 0.02, True)
    drive = rng.uniform(3.0, 8.0)
    progression = rng.choice([[0, 10, 8, 10], [0, 5, 7, 5], [0, 3, 10, 5]])
    chugs = {}
    for shift in set(progression):
        tone = sum(_tone(_hz(m), int(0.5 * beat), sr, (1.0, 0.5, 0.33, 0.25, 0.2))
                   for m in _chord_tones(key + shift, "power"))
        chugs[shift] = np.tanh(drive * tone) * _decay(len(tone), sr, 0.25)
    for k in range(int(n / beat) + 1):
        shift = progression[(k // 4) % 4]
        _add(out, k * beat, kick if k % 2 == 0 else snare, 0.9)
        for half in (0.0, 0.5):
            _add(out, (k + half) * beat, hat, 0.3)
            _add(out, (k + half) * beat, chugs[shift], 0.35)
        bass = _tone(_hz(key - 12 + shift), int(beat), sr, (1.0, 0.6, 0.3), decay=0.3)
        _add(out, k * beat, bass, 0.5)
    return out


def _jazz(rng, n, sr, tempo, key):
    beat = 60.0 * sr / tempo
    swing = rng.uniform(0.6, 0.7)  # the off-beat eighth sits late: long-short
    out = np.zeros(n)
    ride = _ride(rng, sr)
    changes = [(2, "min7"), (7, "dom7"), (0, "maj7"), (0, "maj7")]  # ii-V-I
    for k in range(int(n / beat) + 1):
        shift, quality = changes[(k // 4) % 4]
        _add(out, k * beat, ride, 0.25)
        if k % 2:
            _add(out, (k + swing) * beat, ride, 0.18)
            _add(out, (k - 0.4) * beat, _brush(rng, sr, 0.4 * beat / sr), 0.5)
        walk = _chord_tones(key - 12 + shift, quality)[k % 4] + rng.choice([0, 0, 12, -1])
        bass = _tone(_hz(walk), int(beat), sr, (1.0, 0.4, 0.1), decay=0.35)
        _add(out, k * beat, bass, 0.7)
        if rng.random() < 0.3:
            comp = sum(_tone(_hz(m), int(1.5 * beat), sr, (1.0, 0.2, 0.05), decay=0.4)
                       for m in _chord_tones(key + shift, quality))
            _add(out, (k + rng.choice([0.0, swing])) * beat, comp, 0.12)
    return out


def _classical(rng, n, sr, tempo, key):
    beat = 60.0 * sr / tempo
    bar = int(4 * beat)
    strings = (1.0, 0.6, 0.45, 0.35, 0.28, 0.22, 0.18, 0.14, 0.1, 0.08)
    attack = np.minimum(1.0, np.arange(bar) / (rng.uniform(0.1, 0.3) * sr))
    swell = attack * np.minimum(1.0, (bar - np.arange(bar)) / (0.05 * sr))
    progression = [(0, "maj"), (5, "maj"), (7, "maj"), (9, "min")]
    scale = key + 12 + np.array([0, 2, 4, 5, 7, 9, 11, 12])
    out = np.zeros(n)
    degree = 0
    for i, start in enumerate(range(0, n, bar)):
        shift, quality = progression[rng.integers(4) if i % 4 else 0]
        held = sum(_tone(_hz(m), bar, sr, strings, vibrato=0.002 * _hz(m), rng=rng)
                   for m in _chord_tones(key + shift, quality))
        _add(out, start, held * swell, 0.12)
        for b in range(4):
            degree = int(np.clip(degree + rng.choice([-2, -1, 1, 1, 2]), 0, len(scale) - 1))
            note = _tone(_hz(scale[degree]), int(beat), sr, strings, vibrato=0.003 * _hz(70),
                         rng=rng)
            _add(out, start + b * beat, note * swell[: len(note)], 0.25)
    return out


_GENRES = {
    "ambient": (_ambient, (55, 80)),
    "classical": (_classical, (60, 110)),
    "jazz": (_jazz, (100, 190)),
    "rock": (_rock, (100, 150)),
    "techno": (_techno, (120, 135)),
}


def synthesize_clip(genre: str, seed: int, index: int, clip_seconds: float = 30.0,
                    sr: int = 22050) -> np.ndarray:
    """One clip of ``genre``, float32 in [-1, 1], fully determined by (genre, seed, index)."""
    if genre not in _GENRES:
        raise ParameterError(f"unknown demo genre {genre!r}; valid: {DEMO_GENRES}")
    render, (slow, fast) = _GENRES[genre]
    rng = np.random.default_rng([seed, DEMO_GENRES.index(genre), index])
    n = int(round(clip_seconds * sr))
    y = render(rng, n, sr, tempo=rng.uniform(slow, fast), key=int(rng.integers(40, 52)))
    y = _recording(rng, y / (np.abs(y).max() + 1e-12))
    return (y * 10 ** (rng.uniform(-14.0, -1.0) / 20) / np.abs(y).max()).astype(np.float32)


def _recording(rng, y: np.ndarray) -> np.ndarray:
    """Per-clip "recording chain": a random tilt EQ and noise floor blur the genres' timbres."""
    walk = np.cumsum(np.concatenate([np.zeros(8), y]))
    dull = (walk[8:] - walk[:-8]) / 8  # an 8-sample moving average: fewer highs
    bright = np.diff(y, prepend=0.0)  # a first difference: more highs
    tilt = rng.uniform(-1.0, 1.0)
    y = y + tilt * (bright * 2 if tilt > 0 else -dull)
    return y + 10 ** (rng.uniform(-60, -35) / 20) * rng.standard_normal(len(y))


def _encode_mp3(y: np.ndarray, sr: int) -> bytes:
    """MP3 as FMA ships it: MPEG-1 at 44.1 kHz, 128 kbit/s, so loading it exercises resampling.

    (MPEG-2 streams at 22.05 kHz make libmpg123 print spurious errors on block-wise reads.)
    """
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(sr)
    encoder.set_out_sample_rate(MP3_SAMPLE_RATE)
    encoder.set_channels(1)
    encoder.set_bit_rate(128)
    encoder.set_quality(5)
    pcm = np.round(np.clip(y, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return bytes(encoder.encode(pcm) + encoder.flush())


# ---------------------------------------------------------------------------- corpus
def _marker(seed, n_per_genre, clip_seconds, sr) -> dict:
    return {"version": DEMO_VERSION, "seed": seed, "n_per_genre": n_per_genre,
            "clip_seconds": clip_seconds, "sr": sr, "genres": list(DEMO_GENRES)}


def make_demo(root, seed: int = 0, n_per_genre: int = DEFAULT_N_PER_GENRE,
              clip_seconds: float = 30.0, sr: int = 22050) -> Path:
    """Write the demo corpus to ``root/genres/<genre>/<genre>.000NN.{wav,mp3}``; return root.

    Existing demo clips in ``root`` (files named like the ones written here) are replaced,
    other files are left alone. The marker file is written last.
    """
    if n_per_genre < 1 or clip_seconds <= 0 or sr <= 0:
        raise ParameterError(f"demo needs n_per_genre >= 1, clip_seconds > 0 and sr > 0, got "
                             f"{n_per_genre}, {clip_seconds}, {sr}")
    root = Path(root).expanduser()
    (root / MARKER_NAME).unlink(missing_ok=True)
    for genre in DEMO_GENRES:
        folder = root / "genres" / genre
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob(f"{genre}.?????.wav"), *folder.glob(f"{genre}.?????.mp3")]:
            old.unlink()
        for index in range(n_per_genre):
            y = synthesize_clip(genre, seed, index, clip_seconds, sr)
            stem = f"{genre}.{index:05d}"
            if index % _MP3_EVERY == _MP3_EVERY - 1:
                (folder / f"{stem}.mp3").write_bytes(_encode_mp3(y, sr))
            else:
                sf.write(folder / f"{stem}.wav", y, sr, subtype="PCM_16")
    params = _marker(seed, n_per_genre, clip_seconds, sr)
    (root / MARKER_NAME).write_text(json.dumps(params, sort_keys=True))
    return root


def ensure_demo(root=None, seed: int = 0, n_per_genre: int = DEFAULT_N_PER_GENRE,
                clip_seconds: float = 30.0, sr: int = 22050) -> Path:
    """The demo corpus at ``root`` (default :func:`default_demo_root`), made if missing.

    A corpus whose marker is absent (half-written) or records other parameters is remade
    with :func:`make_demo`.
    """
    root = Path(root).expanduser() if root is not None else default_demo_root()
    try:
        found = json.loads((root / MARKER_NAME).read_text())
    except (OSError, ValueError):
        found = None
    if found != _marker(seed, n_per_genre, clip_seconds, sr):
        make_demo(root, seed=seed, n_per_genre=n_per_genre, clip_seconds=clip_seconds, sr=sr)
    return root


def load_demo(root=None, split: str | None = DEFAULT_SPLIT, seed: int = 0, demo_seed: int = 0,
              **corpus) -> Dataset:
    """The demo corpus as a :class:`Dataset`, made first if missing (:func:`ensure_demo`).

    Parameters
    ----------
    root : path or None
        Where the corpus lives; None means :func:`default_demo_root`.
    split : "random" or None
        The demo corpus has only the seeded random split (49/21/30 by genre).
    seed : int
        Seed of the random split.
    demo_seed : int
        Seed of the corpus's synthesis.
    **corpus
        ``n_per_genre`` and ``clip_seconds`` of :func:`make_demo`.
    """
    if split not in (None, *SPLIT_MODES):
        raise ParameterError(f"the demo corpus has only the random split, got split={split!r}")
    return load_layout(ensure_demo(root, seed=demo_seed, **corpus), seed=seed, name="demo")
