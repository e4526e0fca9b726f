"""Feature-kernel speed: SonicSep against librosa on the same 30 s clip, and the FFT floor.

One process, one thread (Numba, OpenMP and BLAS pinned to 1 before any import). On a 30 s clip
at 22,050 Hz (the real GTZAN ``blues.00000.wav`` when ../shared/data is present, else a
generated mix of tones and noise) it times, after a warm-up call, the best and the median of
``--repeats`` calls of:

- ``stft``: ``sonicsep.features.stft`` against the floor, a planned pyFFTW batch real FFT of
  the same frames already windowed in memory (target: within 1.3x of the floor);
- ``melspectrogram`` and ``mfcc`` against librosa's (target: at least 2.5x faster);
- ``estimate_tuning`` (pitch tracking from the STFT, then the tuning histogram) against
  librosa's (target: at least 5x faster);
- ``chroma_stft`` with its defaults on both sides (tuning estimated from the spectrogram) and
  with ``tuning=0.0`` (no estimate), against librosa's (no target: reported);
- ``cqt`` with librosa's defaults (``tuning=0.0``) on the clip, and ``cqt_fma_44k`` with
  FMA's parameters (hop 512, 12 bins per octave, 84 bins, ``tuning=None``: estimated) on the
  FMA clip ``fma_small/000/000002.mp3`` decoded at its native 44,100 Hz (a generated stand-in
  when absent), against librosa's (target: at least 5x faster);
- ``cqt_new_tuning``: ``cqt`` with a tuning never used before in each call, so that sonicsep
  builds its filter basis again as librosa always does (what a dataset with estimated tunings
  sees; no target: reported);
- ``chroma_cqt``, ``chroma_cens`` and ``tonnetz`` with their defaults (tuning estimated) on
  both sides (no target: reported);
- ``fma_features``: FMA's 518 per-track features of the decoded FMA clip at 44,100 Hz (one STFT,
  one CQT, statistics) against FMA's own pipeline run with librosa (``fma_librosa.py``: each
  call its own transform, the CQT's tuning estimated from a second STFT) (target: at least 10x
  faster);
- the GTZAN feature set (chroma_stft, rms, spectral centroid, bandwidth and roll-off,
  zero-crossing rate, 20 MFCCs; mean and variance of each) through one
  ``FeatureExtractor.compute`` + ``summarize`` against librosa computing them one call at a
  time with its defaults (each call its own STFT; chroma estimating tuning) and NumPy's
  mean/var (target: at least 15x faster).

Ratios are judged on the best time of each side (the least disturbed by other work on the
machine); medians are printed and saved too. Results go to benchmarks/results/bench_kernels.json
(``--out`` to change). Run it on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_kernels.py
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import fma_librosa  # noqa: E402  (beside this script)
import librosa  # noqa: E402
import numpy as np  # noqa: E402
import pyfftw  # noqa: E402
import soundfile as sf  # noqa: E402
from sonicsep.kernels.windows import get_window  # noqa: E402

import sonicsep  # noqa: E402
from sonicsep import features  # noqa: E402
from sonicsep.audio import load as load_audio  # noqa: E402
from sonicsep.config import FeatureConfig  # noqa: E402
from sonicsep.features import FeatureExtractor, chroma  # noqa: E402
from sonicsep.features.constantq import cqt  # noqa: E402
from sonicsep.features.fma import fma_features  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "gtzan" / "genres" / "blues" / "blues.00000.wav"
FMA_CLIP = ROOT.parent / "shared" / "data" / "fma" / "fma_small" / "000" / "000002.mp3"
FMA_CQT = {"hop_length": 512, "bins_per_octave": 12, "n_bins": 84, "tuning": None}
SR = 22050
N_FFT = 2048
HOP = 512
TARGETS = {  # case: (kind, target); "floor" ratios must stay below, "speedup" above
    "stft": ("vs_floor", 1.3),
    "melspectrogram": ("speedup", 2.5),
    "mfcc": ("speedup", 2.5),
    "estimate_tuning": ("speedup", 5.0),
    "chroma_stft": ("speedup", None),
    "chroma_stft_tuning0": ("speedup", None),
    "cqt": ("speedup", 5.0),
    "cqt_fma_44k": ("speedup", 5.0),
    "cqt_new_tuning": ("speedup", None),
    "chroma_cqt": ("speedup", None),
    "chroma_cens": ("speedup", None),
    "tonnetz": ("speedup", None),
    "fma_features": ("speedup", 10.0),
    "gtzan_feature_set": ("speedup", 15.0),
}


def load_clip() -> tuple[np.ndarray, str]:
    """30 s of float32 audio at 22,050 Hz: the real GTZAN clip, or a generated stand-in."""
    if CLIP.exists():
        y, sr = sf.read(CLIP, dtype="float32")
        assert sr == SR, f"{CLIP} is {sr} Hz, expected {SR}"
        return y[: 30 * SR], str(CLIP.relative_to(ROOT.parent))
    rng = np.random.default_rng(0)
    t = np.arange(30 * SR) / SR
    tones = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((110, 220, 330, 440)))
    y = 0.3 * tones + 0.05 * rng.standard_normal(t.size)
    return y.astype(np.float32), "generated: four harmonics of A2 plus white noise, 30 s"


def timed(fn, repeats: int) -> dict:
    """Best and median wall time (ms) of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"best_ms": 1e3 * min(times), "median_ms": 1e3 * float(np.median(times))}


def fft_floor(y: np.ndarray) -> pyfftw.FFTW:
    """A measured single-thread FFTW plan over the clip's frames, windowed in advance."""
    padded = np.pad(y, N_FFT // 2)
    window = get_window("hann", N_FFT).astype(y.dtype)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP] * window
    inp = pyfftw.empty_aligned(frames.shape, dtype=y.dtype)
    complex_dtype = np.result_type(y.dtype, np.complex64)
    out = pyfftw.empty_aligned((frames.shape[0], N_FFT // 2 + 1), dtype=complex_dtype)
    plan = pyfftw.FFTW(inp, out, axes=(-1,), flags=("FFTW_MEASURE",), threads=1)
    inp[:] = frames
    return plan


def librosa_gtzan_set(y: np.ndarray) -> np.ndarray:
    """The GTZAN summary features the way librosa users compute them: one call each."""
    rows = [
        librosa.feature.chroma_stft(y=y, sr=SR),
        librosa.feature.rms(y=y),
        librosa.feature.spectral_centroid(y=y, sr=SR),
        librosa.feature.spectral_bandwidth(y=y, sr=SR),
        librosa.feature.spectral_rolloff(y=y, sr=SR),
        librosa.feature.zero_crossing_rate(y),
        librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20),
    ]
    return np.concatenate([np.concatenate([r.mean(axis=1), r.var(axis=1)]) for r in rows])


def load_fma_clip() -> tuple[np.ndarray, int]:
    """The FMA clip at its native rate (float32), or 30 s of generated tones at 44,100 Hz."""
    if FMA_CLIP.exists():
        return load_audio(FMA_CLIP, sr=None)
    t = np.arange(30 * 44100) / 44100
    return (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32), 44100


def constant_q_cases(y: np.ndarray, repeats: int) -> dict:
    """cqt (GTZAN defaults and FMA's parameters at 44.1 kHz) and the CQT chroma features."""
    fma, fma_sr = load_fma_clip()
    tunings = itertools.count(1)  # 0.001, 0.002, ... bins: a new filter basis in every call
    cases = {
        "cqt": {
            "sonicsep": timed(lambda: cqt(y, sr=SR), repeats),
            "librosa": timed(lambda: librosa.cqt(y, sr=SR), repeats),
        },
        "cqt_fma_44k": {
            "sonicsep": timed(lambda: cqt(fma, sr=fma_sr, **FMA_CQT), repeats),
            "librosa": timed(lambda: librosa.cqt(fma, sr=fma_sr, **FMA_CQT), repeats),
        },
        "cqt_new_tuning": {
            "sonicsep": timed(lambda: cqt(y, sr=SR, tuning=next(tunings) * 1e-3), repeats),
            "librosa": timed(lambda: librosa.cqt(y, sr=SR, tuning=next(tunings) * 1e-3), repeats),
        },
    }
    cases["fma_features"] = {
        "sonicsep": timed(lambda: fma_features(fma, sr=fma_sr), max(3, repeats // 4)),
        "librosa": timed(lambda: fma_librosa.fma_features(fma, fma_sr), max(3, repeats // 4)),
    }
    for name, ours, theirs in (
        ("chroma_cqt", chroma.chroma_cqt, librosa.feature.chroma_cqt),
        ("chroma_cens", chroma.chroma_cens, librosa.feature.chroma_cens),
        ("tonnetz", chroma.tonnetz, librosa.feature.tonnetz),
    ):
        cases[name] = {
            "sonicsep": timed(lambda ours=ours: ours(y=y, sr=SR), repeats),
            "librosa": timed(lambda theirs=theirs: theirs(y=y, sr=SR), repeats),
        }
    return cases


def measure(y: np.ndarray, repeats: int) -> dict:
    fx = FeatureExtractor(FeatureConfig())  # GTZAN features, mean and var, float32
    floor = fft_floor(y)
    cases = {
        "stft": {
            "sonicsep": timed(lambda: features.stft(y, n_fft=N_FFT, hop_length=HOP), repeats),
            "librosa": timed(lambda: librosa.stft(y, n_fft=N_FFT, hop_length=HOP), repeats),
            "floor": timed(floor, repeats),
        },
        "melspectrogram": {
            "sonicsep": timed(lambda: features.melspectrogram(y=y, sr=SR), repeats),
            "librosa": timed(lambda: librosa.feature.melspectrogram(y=y, sr=SR), repeats),
        },
        "mfcc": {
            "sonicsep": timed(lambda: features.mfcc(y=y, sr=SR), repeats),
            "librosa": timed(lambda: librosa.feature.mfcc(y=y, sr=SR), repeats),
        },
        "estimate_tuning": {
            "sonicsep": timed(lambda: features.estimate_tuning(y=y, sr=SR), repeats),
            "librosa": timed(lambda: librosa.estimate_tuning(y=y, sr=SR), repeats),
        },
        "chroma_stft": {
            "sonicsep": timed(lambda: features.chroma_stft(y=y, sr=SR), repeats),
            "librosa": timed(lambda: librosa.feature.chroma_stft(y=y, sr=SR), repeats),
        },
        "chroma_stft_tuning0": {
            "sonicsep": timed(lambda: features.chroma_stft(y=y, sr=SR, tuning=0.0), repeats),
            "librosa": timed(lambda: librosa.feature.chroma_stft(y=y, sr=SR, tuning=0.0), repeats),
        },
        "gtzan_feature_set": {
            "sonicsep": timed(lambda: fx.summarize(fx.compute(y)), repeats),
            "librosa": timed(lambda: librosa_gtzan_set(y), max(3, repeats // 4)),
        },
    }
    cases.update(constant_q_cases(y, repeats))
    for name, case in cases.items():
        kind, target = TARGETS[name]
        for stat in ("best_ms", "median_ms"):
            ours = case["sonicsep"][stat]
            ratio = (
                ours / case["floor"][stat] if kind == "vs_floor" else case["librosa"][stat] / ours
            )
            case[f"{kind}_{stat[:-3]}"] = ratio
        ratio = case[f"{kind}_best"]
        if target is None:  # reported, not judged
            passed = None
        else:
            passed = bool(ratio <= target if kind == "vs_floor" else ratio >= target)
        case.update(ratio_kind=kind, target=target, passed=passed)
    return cases


def print_table(cases: dict) -> None:
    header = (
        f"{'case':<20}{'sonicsep ms':>18}{'librosa ms':>18}{'floor ms':>16}"
        f"{'ratio':>16}{'target':>18}  result"
    )
    print(header)
    print("-" * len(header))

    def pair(timing):
        return "-" if timing is None else f"{timing['best_ms']:.2f} ({timing['median_ms']:.2f})"

    for name, case in cases.items():
        kind = case["ratio_kind"]
        label = "x floor" if kind == "vs_floor" else "x faster"
        sign = "<=" if kind == "vs_floor" else ">="
        ratio = f"{case[f'{kind}_best']:.2f} ({case[f'{kind}_median']:.2f})"
        target = "-" if case["target"] is None else f"{sign} {case['target']} {label}"
        result = {None: "-", True: "PASS", False: "FAIL"}[case["passed"]]
        print(
            f"{name:<20}{pair(case['sonicsep']):>18}{pair(case.get('librosa')):>18}"
            f"{pair(case.get('floor')):>16}{ratio:>16}{target:>18}  {result}"
        )
    print("times: best (median) of the repeats; ratios from the best times (medians in brackets)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per case")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_kernels.json"
    )
    args = parser.parse_args()
    y, source = load_clip()
    print(f"clip: {source}, {y.size / SR:.1f} s at {SR} Hz, {y.dtype}; one thread\n")
    cases = measure(y, args.repeats)
    print_table(cases)
    report = {
        "clip": source,
        "seconds": y.size / SR,
        "sr": SR,
        "dtype": str(y.dtype),
        "repeats": args.repeats,
        "threads": 1,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "versions": {
            "sonicsep": sonicsep.__version__,
            "librosa": librosa.__version__,
            "numpy": np.__version__,
            "pyfftw": pyfftw.__version__,
        },
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
