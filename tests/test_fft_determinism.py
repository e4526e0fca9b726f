"""The same audio gives the same feature bits in every process (issue 16).

Scope: the same machine (CPU family) and the same library versions (NumPy, Numba/llvmlite,
pyFFTW and the FFTW it bundles), in processes that load or measure no FFTW wisdom of their own.
Across CPU types or versions the last bits may differ (see ``sonicsep.kernels.fft`` and
``sonicsep.kernels.spectral``).

FFTW's measuring planner picks an algorithm by timing, and importing librosa first once
changed what it measured: so each check runs in two fresh interpreters, one of which imports
librosa (and runs its STFT) before SonicSep, and compares the bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyfftw
import pytest
from sonicsep.kernels import fft

# Prints a digest of each result: stft of float32 and float64 audio, and a segment's features
# through the extractor with an all-float32 STFT (mel, MFCC and the features that keep their
# parity with it) and with the default GTZAN config (whose roll-off and tuning estimate put
# the STFT in float64).
CHILD = """
import hashlib, json, sys
if sys.argv[1] == "librosa-first":
    import librosa
    librosa.stft(librosa.tone(440.0, sr=22050, duration=1.0))
import numpy as np
from sonicsep.config import FeatureConfig
from sonicsep.features import FeatureExtractor, stft

rng = np.random.default_rng(16)
t = np.arange(3 * 22050) / 22050
y = (0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
digests = {}
for name, values in (
    ("stft_float32", stft(y)),
    ("stft_float64", stft(y.astype(np.float64))),
    ("stft_float32_n1024", stft(y, n_fft=1024, hop_length=256)),
):
    digests[name] = hashlib.sha256(values.tobytes()).hexdigest()
float32_stft = ("rms", "zero_crossing_rate", "mfcc", "onset_strength")
for name, config in (
    ("float32_stft", FeatureConfig(features=float32_stft)),
    ("gtzan_default", FeatureConfig()),
):
    fx = FeatureExtractor(config)
    assert (fx._fft_dtype == np.float32) == (name == "float32_stft")
    features = fx.compute(y)
    features["summary"] = fx.summarize(features)
    for key, values in features.items():
        digests[f"{name}/{key}"] = hashlib.sha256(values.tobytes()).hexdigest()
print(json.dumps(digests))
"""


def _start(mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _digests(child: subprocess.Popen) -> dict:
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode == 0, stderr
    return json.loads(stdout.splitlines()[-1])


def test_features_are_the_same_bits_in_two_fresh_processes():
    children = [_start("plain"), _start("librosa-first")]  # side by side: half the wait
    plain, after_librosa = (_digests(child) for child in children)
    assert len(plain) == 3 + 6 + 9
    assert plain == after_librosa


def test_shipped_wisdom_plans_every_shipped_size():
    """Each shipped float32 plan is accepted on this machine, so float32 STFTs at these sizes
    run the chosen algorithm (elsewhere FFTW may refuse it and the estimator plans)."""
    if not fft._WISDOM_LOADED:
        pytest.skip("this FFTW build does not accept the shipped wisdom (the estimator plans)")
    for n_fft in fft.WISDOM:
        rows = fft.block_rows(n_fft, np.float32)
        inp = pyfftw.empty_aligned((rows, n_fft), dtype=np.float32, n=64)
        out = pyfftw.empty_aligned((rows, n_fft // 2 + 1), dtype=np.complex64, n=64)
        try:
            pyfftw.FFTW(inp, out, axes=(-1,), flags=("FFTW_MEASURE", "FFTW_WISDOM_ONLY"))
        except RuntimeError:
            pytest.skip(f"this CPU cannot run the shipped plan for n_fft={n_fft}")
