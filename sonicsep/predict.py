"""``python -m sonicsep.predict``: the genres of songs, from a trained deep or classical model.

``--model`` takes any of:

* a deep-model workdir of ``python -m sonicsep.train`` or ``sonicsep.transfer`` (``model/``);
* a saved classical model, ``DIR/models/<method>.joblib`` from ``python -m sonicsep.benchmark``;
* a classical results ``DIR`` (one holding ``models/``): the saved model with the highest
  validation track accuracy, ties going to the first in ``knn, svm, random_forest, xgboost,
  mlp`` order. Test scores never choose, and Echonest-only models are passed over (audio
  cannot give Echonest features).

Each file (WAV, MP3, OGG, FLAC..., any length and sample rate) is featurized with
:func:`sonicsep.featurize.featurize_track` under the feature config the model was trained with,
so its segments look exactly like the training segments. One change: ``max_segments`` is raised
to cover the first ``--max-seconds`` of the file (default 600 s), since a segment's features do
not depend on how many segments are kept and a whole song says more than its first 30 s. The
model gives each segment a probability per genre; the file's probability is their mean, as in
the track-level scores of training and benchmark. A fusion model gets no Echonest features
(an audio file has none): its presence mask marks them absent, as for training tracks without.

Exit codes: 0 every file answered, 2 usage error (bad model or option), 3 some files could not
be decoded or were too short (the others were answered), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonicsep import classical, classical_features, metrics
from sonicsep.config import FeatureConfig
from sonicsep.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    ModelError,
    SonicSepError,
    exits_on_interrupt,
)
from sonicsep.features import FeatureExtractor
from sonicsep.featurize import featurize_track
from sonicsep.nn import compile_cache

DEFAULT_MAX_SECONDS = 600.0
DEFAULT_TOP = 3


@dataclass(frozen=True)
class Predictor:
    """A loaded model as predict needs it.

    ``segment_proba`` maps one file's :func:`featurize_track` output to genre probabilities
    [shape=(n_segments, len(genres))].
    """

    description: str
    genres: tuple[str, ...]
    feature_config: FeatureConfig
    segment_proba: Callable[[dict[str, np.ndarray]], np.ndarray]


# ---------------------------------------------------------------------- models
def classical_inputs(
    model: classical.ClassicalModel, summary_names: Sequence[str]
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The function taking featurize_track output to the model's input columns, in order.

    Checked once, at load: a model whose columns the feature config does not produce is a
    usage error, not a failure of every file.
    """
    if model.feature_set == "mel":
        return lambda features: classical_features.mel_band_stats(features["mel_db"])
    if model.feature_set == "fma":  # one sample per file: the whole file is one "segment"
        return lambda features: features["fma_features"][np.newaxis]
    if model.feature_set not in classical_features.AUDIO_FEATURE_SETS:
        raise ModelError(
            f"the {model.method} model was trained on '{model.feature_set}' features, which "
            "come from dataset metadata, not audio; use a model trained on "
            f"{', '.join(classical_features.AUDIO_FEATURE_SETS)}"
        )
    position = {name: i for i, name in enumerate(summary_names)}
    missing = [c for c in model.columns if c not in position]
    if missing:
        raise ModelError(
            f"the {model.method} model expects summary columns {missing[:5]} that its feature "
            "config does not produce; retrain it with `python -m sonicsep.benchmark`"
        )
    columns = [position[c] for c in model.columns]
    return lambda features: features["summary"][:, columns]


def classical_predictor(model: classical.ClassicalModel, source: Path) -> Predictor:
    config = FeatureConfig.from_dict(model.feature_config)
    inputs = classical_inputs(model, FeatureExtractor(config).summary_names)
    val = model.scores.get("val_track_accuracy")
    score = "" if val is None else f", validation track accuracy {val:.3f}"
    return Predictor(
        description=f"{model.method} on '{model.feature_set}' features ({source}{score})",
        genres=tuple(model.genres),
        feature_config=config,
        segment_proba=lambda features: model.predict_proba(inputs(features)),
    )


def best_classical_model(folder: Path) -> tuple[Path, classical.ClassicalModel]:
    """The saved model of a benchmark results folder that predict uses (module docstring)."""
    saved = [(path, classical.load_classical_model(path)) for path in folder.glob("*.joblib")]
    usable = [(p, m) for p, m in saved if m.feature_set in classical_features.AUDIO_FEATURE_SETS]
    if not usable:
        raise ModelError(
            f"{folder} holds no classical model trained on audio features; run "
            "`python -m sonicsep.benchmark` on a featurized store"
        )

    def rank(item):
        _, model = item
        order = classical.METHODS.index(model.method) if model.method in classical.METHODS else 99
        return (model.scores.get("val_track_accuracy") or 0.0, -order)

    return max(usable, key=rank)


def deep_predictor(workdir: Path) -> Predictor:
    from sonicsep.nn.input_pipeline import STORE_ARRAY  # JAX only when a deep model is asked for
    from sonicsep.nn.trained import load_trained

    model = load_trained(workdir)
    array = STORE_ARRAY[model.feature]
    return Predictor(
        description=f"{model.kind} on {model.feature} ({workdir})",
        genres=model.genres,
        feature_config=model.feature_config,
        segment_proba=lambda features: model.predict_proba(features[array]),
    )


def load_predictor(path: str | Path) -> Predictor:
    """A deep workdir, a classical .joblib, or a classical results folder (module docstring)."""
    path = Path(path)
    if path.is_file():
        return classical_predictor(classical.load_classical_model(path), path)
    if (path / "models").is_dir():
        chosen, model = best_classical_model(path / "models")
        return classical_predictor(model, chosen)
    if path.is_dir():
        return deep_predictor(path)
    raise ModelError(
        f"no model at {str(path)!r}: pass a deep-model workdir (python -m sonicsep.train), a "
        "classical model .joblib, or a classical results folder (python -m sonicsep.benchmark)"
    )


# ---------------------------------------------------------------------- prediction
def whole_file_config(config: FeatureConfig, max_seconds: float) -> FeatureConfig:
    """``config`` keeping every segment that starts in the first ``max_seconds`` of a file."""
    hop_seconds = config.segment_hop_samples / config.sr
    return config.replace(max_segments=max(1, math.ceil(max_seconds / hop_seconds)))


def ranked(probabilities: np.ndarray, genres: Sequence[str], top: int) -> list[dict]:
    """The ``top`` genres by probability, most likely first."""
    order = np.argsort(-probabilities, kind="stable")[:top]
    return [{"genre": genres[i], "probability": round(float(probabilities[i]), 4)} for i in order]


def predict_file(path: str, predictor: Predictor, config: FeatureConfig, top: int) -> dict:
    """Probabilities of one file: top genres, every genre, and each segment's top genres.

    Raises :class:`SonicSepError` when the file cannot be decoded or is too short.
    """
    return predict_features(featurize_track(path, config), predictor, config, top)


def predict_features(
    features: dict[str, np.ndarray], predictor: Predictor, config: FeatureConfig, top: int
) -> dict:
    """:func:`predict_file`'s answer from the file's :func:`featurize_track` output under
    ``config``, for callers that use the features for more than the prediction (the web demo).
    """
    segment_proba = predictor.segment_proba(features)
    # One track: its probability is the track-level mean every score uses.
    _, (track_proba,) = metrics.mean_by_track(np.zeros(len(segment_proba)), segment_proba)
    hop, length = config.segment_hop_samples / config.sr, config.segment_seconds
    return {
        "top": ranked(track_proba, predictor.genres, top),
        "probabilities": {
            g: round(float(p), 4) for g, p in zip(predictor.genres, track_proba, strict=True)
        },
        "n_segments": len(segment_proba),
        "segments": [
            {"start": round(i * hop, 3), "end": round(i * hop + length, 3),
             "top": ranked(p, predictor.genres, top)}
            for i, p in enumerate(segment_proba)
        ],
    }


def predict_files(paths, predictor: Predictor, max_seconds: float, top: int) -> dict:
    """``{path: prediction}`` with ``{path: {"error": message}}`` for files that failed."""
    config = whole_file_config(predictor.feature_config, max_seconds)
    answers = {}
    for path in paths:
        try:
            answers[path] = predict_file(path, predictor, config, top)
        except SonicSepError as exc:
            answers[path] = {"error": str(exc)}
    return answers


def format_answers(answers: dict, segments: bool) -> str:
    """One line per file (top genres with probabilities), then its segments when asked."""
    lines = []
    for path, answer in answers.items():
        if "error" in answer:
            lines.append(f"{path}: error: {answer['error']}")
            continue
        top = ", ".join(f"{t['genre']} {t['probability']:.2f}" for t in answer["top"])
        lines.append(f"{path}: {top}  ({answer['n_segments']} segments)")
        if segments:
            for s in answer["segments"]:
                seg_top = ", ".join(f"{t['genre']} {t['probability']:.2f}" for t in s["top"])
                lines.append(f"  {s['start']:7.1f}-{s['end']:7.1f} s: {seg_top}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sonicsep.predict",
        description="Predict the genre of audio files with a trained deep or classical model.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (WAV, MP3, OGG, FLAC)")
    p.add_argument(
        "--model",
        required=True,
        help="deep-model workdir, classical .joblib, or classical results folder (its model "
        "with the best validation track accuracy)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--segments", action="store_true", help="also show every segment's genres")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, help="genres shown (default 3)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help="use the segments of the first this many seconds of a file (default 600)",
    )
    return p


@exits_on_interrupt("predict writes no file; rerun the same command for the answers")
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    compile_cache.enable()  # for a deep model
    if args.top < 1 or args.max_seconds <= 0:
        print("error: --top must be >= 1 and --max-seconds > 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        predictor = load_predictor(args.model)
    except SonicSepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    answers = predict_files(args.files, predictor, args.max_seconds, args.top)
    if args.json:
        if not args.segments:
            for answer in answers.values():
                answer.pop("segments", None)
        document = {"model": predictor.description, "genres": list(predictor.genres),
                    "files": answers}
        print(json.dumps(document, indent=2))
    else:
        print(f"model: {predictor.description}")
        print(format_answers(answers, args.segments))
    failed = sum("error" in answer for answer in answers.values())
    if failed:
        print(f"error: {failed} of {len(answers)} files could not be predicted", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
