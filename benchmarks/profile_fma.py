"""FMA's 518 features and the tuning estimate, stage by stage, in thread CPU time.

bench_kernels.py judges the issue-13 targets on wall time, which on a shared machine measures
the other processes as much as ours. This script times the same calls with
``time.thread_time`` (CPU time of this thread only: waiting for a core is not counted), one
process, one thread (Numba, OpenMP and BLAS pinned to 1 before any import), SonicSep's and
librosa's calls taking turns after a warm-up call of each:

- ``fma_features`` of the FMA clip ``fma_small/000/000002.mp3`` decoded at its native
  44,100 Hz (decode excluded) against FMA's pipeline run with librosa
  (``fma_librosa.fma_features``, each statistic once per feature as FMA's ``feature_stats``
  computes them; no pandas Series: FMA's own writes into one, which would add to its time);
  target >= 10x;
- ``estimate_tuning(y=y, sr=22050)`` of the 30 s GTZAN clip ``blues.00000.wav`` against
  librosa's; target >= 5x;
- ``cqt`` of the GTZAN clip with librosa's defaults, and with FMA's parameters on the FMA clip
  (``tuning=None``); target >= 5x.

Then the per-stage profile of each side's FMA pipeline: every function that the pipeline calls
at module level (``sonicsep.features.fma``'s imports; librosa's functions as ``fma_librosa``
calls them) is wrapped by a timer for a few more runs, and the best of each stage is printed
with its share of the best total, in pipeline order. Lines marked "within" are parts of the
stages above (soxr inside the CQT; librosa's tuning estimates inside its CQT and its
chroma_stft), not added to them. The load average is printed before and after; a ratio is taken
from the best times of both sides.

    .venv/bin/python benchmarks/profile_fma.py --repeats 15 [--out results.json]
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import fma_librosa  # noqa: E402  (beside this script)
import librosa  # noqa: E402
import numpy as np  # noqa: E402
from bench_kernels import timed_together  # noqa: E402  (beside this script)

from sonicsep.audio import load  # noqa: E402
from sonicsep.features import constantq, cqt, estimate_tuning  # noqa: E402
from sonicsep.features import fma as fma_module  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
FMA_CLIP = DATA / "fma" / "fma_small" / "000" / "000002.mp3"
GTZAN_CLIP = DATA / "gtzan" / "genres" / "blues" / "blues.00000.wav"
FMA_CQT = {"hop_length": 512, "bins_per_octave": 12, "n_bins": 84, "tuning": None}

# The functions fma.py calls, by the name it imports them under, and what they are.
OUR_STAGES = {
    "_spectrogram": "STFT |S| (float64 FFT, as librosa)",
    "_spectrogram_tuning": "tuning estimates (|S| for the CQT, S**2 for chroma_stft)",
    "cqt_from_half_rate": "CQT",
    "chroma_cqt": "chroma_cqt (one product for chroma_cqt and chroma_cens)",
    "normalize": "chroma_cqt's normalisation",
    "_cens": "chroma_cens from that chroma",
    "tonnetz": "tonnetz",
    "_chroma": "chroma_stft filters",
    "zero_crossing_rate": "zero-crossing rate",
    "_descriptors": "rms, centroid, bandwidth, contrast, roll-off",
    "_mel_power": "mel power",
    "power_to_db": "power_to_db",
    "mfcc": "mfcc",
    "fma_statistics": "7 statistics of 74 rows",
}
# Nested inside the CQT: soxr's halvings (constantq's module-level _resample).
OUR_NESTED = {"_resample": "within: soxr resampling"}
# librosa's functions as fma_librosa calls them (attributes looked up at call time).
THEIR_STAGES = {
    ("librosa", "stft"): "STFT",
    ("librosa", "cqt"): "CQT (its own STFT for the tuning estimate)",
    ("librosa.feature", "chroma_cens"): "chroma_cens (its own chroma_cqt)",
    ("librosa.feature", "chroma_cqt"): "chroma_cqt",
    ("librosa.feature", "tonnetz"): "tonnetz",
    ("librosa.feature", "chroma_stft"): "chroma_stft (with its tuning estimate)",
    ("librosa.feature", "zero_crossing_rate"): "zero-crossing rate",
    ("librosa.feature", "rms"): "rms",
    ("librosa.feature", "spectral_centroid"): "centroid",
    ("librosa.feature", "spectral_bandwidth"): "bandwidth",
    ("librosa.feature", "spectral_contrast"): "contrast",
    ("librosa.feature", "spectral_rolloff"): "roll-off",
    ("librosa.feature", "melspectrogram"): "mel power",
    ("librosa", "power_to_db"): "power_to_db",
    ("librosa.feature", "mfcc"): "mfcc",
    ("fma_librosa", "fma_statistics"): "7 statistics of 74 rows",
}
# Nested: librosa's modules call these by the names they import them under.
THEIR_NESTED = {
    ("librosa.core.constantq", "estimate_tuning"): "within: tuning estimates",
    ("librosa.feature.spectral", "estimate_tuning"): "within: tuning estimates",
    ("librosa.core.audio", "resample"): "within: soxr resampling",
}


def thread_ms(fn) -> float:
    start = time.thread_time()
    fn()
    return 1e3 * (time.thread_time() - start)


@contextmanager
def timed_stages(targets: dict, totals: dict):
    """Wrap each ``(owner, name)`` function with a thread-CPU timer adding into ``totals``."""
    saved = []
    for (owner, name), label in targets.items():
        original = getattr(owner, name, None)
        if original is None:  # a stage this version of the pipeline does not have
            continue

        def timer(*args, _original=original, _label=label, **kwargs):
            start = time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_label] += 1e3 * (time.thread_time() - start)

        saved.append((owner, name, original))
        setattr(owner, name, timer)
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def stage_profile(run, targets: dict, repeats: int) -> dict:
    """Best thread CPU ms of each stage over ``repeats`` runs, and of the whole run."""
    best = {}
    for _ in range(repeats):
        totals = defaultdict(float)
        with timed_stages(targets, totals):
            totals["total"] = thread_ms(run)
        for label, value in totals.items():
            best[label] = min(best.get(label, np.inf), value)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per case")
    parser.add_argument("--profile-repeats", type=int, default=5, help="runs per stage profile")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()

    fma_y, fma_sr = load(FMA_CLIP, sr=None)
    gtzan_y, gtzan_sr = load(GTZAN_CLIP, sr=None)
    gtzan_y = gtzan_y[: 30 * gtzan_sr]
    load_before = os.getloadavg()
    print(f"FMA clip {FMA_CLIP.name}: {fma_y.size / fma_sr:.1f} s at {fma_sr} Hz; GTZAN clip "
          f"{GTZAN_CLIP.name}: {gtzan_y.size / gtzan_sr:.1f} s at {gtzan_sr} Hz; one thread")
    print(f"load average before: {tuple(round(v, 2) for v in load_before)}")

    cases = {
        "fma_features": (
            lambda: fma_module.fma_features(fma_y, sr=fma_sr),
            lambda: fma_librosa.fma_features(fma_y, fma_sr),
            10.0,
        ),
        "estimate_tuning": (
            lambda: estimate_tuning(y=gtzan_y, sr=gtzan_sr),
            lambda: librosa.estimate_tuning(y=gtzan_y, sr=gtzan_sr),
            5.0,
        ),
        "cqt": (
            lambda: cqt(gtzan_y, sr=gtzan_sr),
            lambda: librosa.cqt(gtzan_y, sr=gtzan_sr),
            5.0,
        ),
        "cqt_fma_44k": (
            lambda: cqt(fma_y, sr=fma_sr, **FMA_CQT),
            lambda: librosa.cqt(fma_y, sr=fma_sr, **FMA_CQT),
            5.0,
        ),
    }
    results = {}
    print(f"\n{'case':<24}{'sonicsep ms':>18}{'librosa ms':>20}{'ratio':>16}{'target':>10}")
    for name, (ours, theirs, target) in cases.items():
        repeats = args.repeats if not name.startswith("fma") else max(3, args.repeats // 3)
        timing = timed_together({"sonicsep": ours, "librosa": theirs}, repeats,
                                clock=time.thread_time)
        ratio = timing["librosa"]["best_ms"] / timing["sonicsep"]["best_ms"]
        ratio_median = timing["librosa"]["median_ms"] / timing["sonicsep"]["median_ms"]
        results[name] = {**timing, "ratio_best": ratio, "ratio_median": ratio_median,
                         "target": target, "passed": bool(ratio >= target)}
        s, t = timing["sonicsep"], timing["librosa"]
        print(f"{name:<24}{s['best_ms']:>9.1f} ({s['median_ms']:>6.1f})"
              f"{t['best_ms']:>11.1f} ({t['median_ms']:>6.1f})"
              f"{ratio:>8.2f} ({ratio_median:>5.2f}){'>= ' + str(target):>10}"
              f"  {'PASS' if ratio >= target else 'FAIL'}")
    print("thread CPU ms: best (median); ratios from the best times (medians in brackets)")

    ours = {(fma_module, name): label for name, label in OUR_STAGES.items()}
    ours.update({(constantq, name): label for name, label in OUR_NESTED.items()})
    modules = {"librosa": librosa, "librosa.feature": librosa.feature,
               "fma_librosa": fma_librosa,
               "librosa.core.constantq": librosa.core.constantq,
               "librosa.feature.spectral": librosa.feature.spectral,
               "librosa.core.audio": librosa.core.audio}
    theirs = {(modules[m], name): label for (m, name), label in THEIR_STAGES.items()}
    theirs.update({(modules[m], name): label for (m, name), label in THEIR_NESTED.items()})
    profiles = {
        "sonicsep": stage_profile(
            lambda: fma_module.fma_features(fma_y, sr=fma_sr), ours, args.profile_repeats
        ),
        "librosa": stage_profile(
            lambda: fma_librosa.fma_features(fma_y, fma_sr), theirs, args.profile_repeats
        ),
    }
    print(f"\nFMA pipeline by stage, best thread CPU ms of {args.profile_repeats} runs each")
    for side, targets in (("sonicsep", ours), ("librosa", theirs)):
        profile = profiles[side]
        print(f"\n{side}: total {profile['total']:.1f} ms")
        for label in dict.fromkeys(targets.values()):  # pipeline order, each label once
            if label in profile:
                value = profile[label]
                print(f"  {label:<56}{value:>8.1f}{100 * value / profile['total']:>7.1f}%")
    results["profile"] = profiles
    load_after = os.getloadavg()
    print(f"\nload average after: {tuple(round(v, 2) for v in load_after)}")
    results["load_average"] = {"before": load_before, "after": load_after}
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
