"""Feature-kernel speed: SonicSep against librosa on the same 30 s clip, and the FFT floor.

One process, one thread (Numba, OpenMP and BLAS pinned to 1 before any import). On a 30 s clip
at 22,050 Hz (the real GTZAN ``blues.00000.wav`` when ../shared/data is present, else a
generated mix of tones and noise) it times, after a warm-up call, the best and the median of
``--repeats`` calls of:

- ``stft``: ``sonicsep.features.stft`` against the floor, the fastest float32 batch real FFT
  of the same frames already windowed in memory (target: within 1.1x of the floor). Every FFT
  of the floor table is timed alongside, the calls taking turns: FFTW float64 and float32,
  each planned by the estimator and by measuring (FFTW_MEASURE), scipy.fft (pocketfft) with
  ``workers=1`` and numpy.fft, both float32 (the measured plans are made with FFTW's wisdom
  forgotten, and SonicSep's shipped wisdom is loaded again afterwards);
- ``melspectrogram`` and ``mfcc`` against librosa's, the calls taking turns (target: at
  least 4x faster);
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
(``--out`` to change); ``--cases stft,melspectrogram,mfcc`` times only those. Run it on an
otherwise idle machine:

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
import scipy.fft  # noqa: E402
import soundfile as sf  # noqa: E402
from sonicsep.kernels import fft as fft_kernels  # noqa: E402
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
    "stft": ("vs_floor", 1.1),
    "melspectrogram": ("speedup", 4.0),
    "mfcc": ("speedup", 4.0),
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


def windowed_frames(y: np.ndarray, dtype) -> np.ndarray:
    """The clip's centred frames times the Hann window, in ``dtype``."""
    padded = np.pad(y.astype(dtype), N_FFT // 2)
    window = get_window("hann", N_FFT).astype(dtype)
    return np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP] * window


def fftw_floor(y: np.ndarray, dtype, planner: str) -> pyfftw.FFTW:
    """A single-thread FFTW plan over the clip's frames, windowed in advance."""
    frames = windowed_frames(y, dtype)
    inp = pyfftw.empty_aligned(frames.shape, dtype=dtype)
    complex_dtype = np.result_type(dtype, np.complex64)
    out = pyfftw.empty_aligned((frames.shape[0], N_FFT // 2 + 1), dtype=complex_dtype)
    plan = pyfftw.FFTW(inp, out, axes=(-1,), flags=(planner,), threads=1)
    inp[:] = frames
    return plan


def fft_floors(y: np.ndarray) -> dict:
    """The floor table's FFTs of the clip's frames, as calls (float32 ones marked ``f32``).

    FFTW's wisdom is forgotten before the plans are made, so that the measured ones measure
    from scratch, and SonicSep's shipped wisdom is loaded again after.
    """
    pyfftw.forget_wisdom()
    floors = {
        f"FFTW {name} {planner[5:]}": fftw_floor(y, dtype, planner)
        for name, dtype in (("f64", np.float64), ("f32", np.float32))
        for planner in ("FFTW_ESTIMATE", "FFTW_MEASURE")
    }
    pyfftw.forget_wisdom()
    assert fft_kernels.load_wisdom()
    frames32 = np.ascontiguousarray(windowed_frames(y, np.float32))
    floors["scipy.fft f32 workers=1"] = lambda: scipy.fft.rfft(frames32, axis=-1, workers=1)
    floors["numpy.fft f32"] = lambda: np.fft.rfft(frames32, axis=-1)
    return floors


def timed_together(calls: dict, repeats: int, clock=time.perf_counter) -> dict:
    """:func:`timed` of several calls taking turns, so a slow spell hits them alike; one
    warm-up call each. ``clock``: wall time, or ``time.thread_time`` for this thread's CPU
    time (profile_fma.py, profile_mel.py)."""
    times = {name: [] for name in calls}
    for fn in calls.values():
        fn()
    for _ in range(repeats):
        for name, fn in calls.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {
        name: {"best_ms": 1e3 * min(t), "median_ms": 1e3 * float(np.median(t))}
        for name, t in times.items()
    }


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


def measure(y: np.ndarray, repeats: int, only: set | None) -> dict:
    fx = FeatureExtractor(FeatureConfig())  # GTZAN features, mean and var, float32
    calls = {
        "stft": (
            lambda: features.stft(y, n_fft=N_FFT, hop_length=HOP),
            lambda: librosa.stft(y, n_fft=N_FFT, hop_length=HOP),
        ),
        "melspectrogram": (
            lambda: features.melspectrogram(y=y, sr=SR),
            lambda: librosa.feature.melspectrogram(y=y, sr=SR),
        ),
        "mfcc": (
            lambda: features.mfcc(y=y, sr=SR),
            lambda: librosa.feature.mfcc(y=y, sr=SR),
        ),
        "estimate_tuning": (
            lambda: features.estimate_tuning(y=y, sr=SR),
            lambda: librosa.estimate_tuning(y=y, sr=SR),
        ),
        "chroma_stft": (
            lambda: features.chroma_stft(y=y, sr=SR),
            lambda: librosa.feature.chroma_stft(y=y, sr=SR),
        ),
        "chroma_stft_tuning0": (
            lambda: features.chroma_stft(y=y, sr=SR, tuning=0.0),
            lambda: librosa.feature.chroma_stft(y=y, sr=SR, tuning=0.0),
        ),
    }
    cases = {}
    for name, (ours, theirs) in calls.items():
        if only is not None and name not in only:
            continue
        extra = fft_floors(y) if name == "stft" else {}
        timings = timed_together({"sonicsep": ours, "librosa": theirs, **extra}, repeats)
        cases[name] = {"sonicsep": timings.pop("sonicsep"), "librosa": timings.pop("librosa")}
        if name == "stft":
            cases[name]["fft_floors"] = timings
            best = min((t for key, t in timings.items() if "f32" in key), key=_best)
            cases[name]["floor"] = best
    if only is None or "gtzan_feature_set" in only:
        cases["gtzan_feature_set"] = {
            "sonicsep": timed(lambda: fx.summarize(fx.compute(y)), repeats),
            "librosa": timed(lambda: librosa_gtzan_set(y), max(3, repeats // 4)),
        }
    if only is None or only & set(CONSTANT_Q_CASES):
        cases.update(constant_q_cases(y, repeats))
        cases = {name: case for name, case in cases.items() if only is None or name in only}
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


def _best(timing: dict) -> float:
    return timing["best_ms"]


CONSTANT_Q_CASES = (
    "cqt", "cqt_fma_44k", "cqt_new_tuning", "fma_features", "chroma_cqt", "chroma_cens", "tonnetz"
)  # fmt: skip


def print_floors(case: dict) -> None:
    """The floor table: each FFT of the clip's frames, and the STFT against the best float32."""
    floor = case["floor"]["best_ms"]
    print(
        f"{'FFT of the frames (one thread)':<34}{'best ms':>10}{'median ms':>11}{'x best f32':>12}"
    )
    for name, timing in case["fft_floors"].items():
        print(
            f"{name:<34}{timing['best_ms']:>10.2f}{timing['median_ms']:>11.2f}"
            f"{timing['best_ms'] / floor:>12.2f}"
        )
    ours = case["sonicsep"]
    print(
        f"{'sonicsep.features.stft':<34}{ours['best_ms']:>10.2f}{ours['median_ms']:>11.2f}"
        f"{ours['best_ms'] / floor:>12.2f}\n"
    )


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
    parser.add_argument("--cases", help="comma-separated cases to time (default: all)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_kernels.json"
    )
    args = parser.parse_args()
    y, source = load_clip()
    print(f"clip: {source}, {y.size / SR:.1f} s at {SR} Hz, {y.dtype}; one thread")
    print(f"load average before: {os.getloadavg()}\n")
    only = None if args.cases is None else set(args.cases.split(","))
    unknown = (only or set()) - set(TARGETS)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose from {list(TARGETS)}")
    cases = measure(y, args.repeats, only)
    if "stft" in cases:
        print_floors(cases["stft"])
    print_table(cases)
    print(f"load average after: {os.getloadavg()}")
    report = {
        "clip": source,
        "seconds": y.size / SR,
        "sr": SR,
        "dtype": str(y.dtype),
        "repeats": args.repeats,
        "threads": 1,
        "load_average_after": os.getloadavg(),
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
