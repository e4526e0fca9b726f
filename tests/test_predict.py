"""``python -m sonicsep.predict``: classical and deep models, feature parity, formats, exit codes.

Runs on the tiny demo store and tiny CNN of ``helpers``: real (synthetic-music) audio files
featurized in-process with a small config, so every test can go back from a store row to the
audio file it came from.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import ONE_POINT_GRIDS, make_demo_store, track_path, train_tiny_cnn

from sonicsep import classical, classical_features, predict

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_demo_store(tmp_path_factory.mktemp("predict"))


@pytest.fixture(scope="module")
def classical_dir(store, tmp_path_factory):
    """A benchmark results folder: kNN and SVM on summaries, one grid point each."""
    from sonicsep import benchmark

    out = tmp_path_factory.mktemp("classical")
    argv = ["--store", store.url, "--out", str(out), "--features", "summary",
            "--methods", "knn,svm", "--jobs", "1"]
    assert benchmark.main(argv, grids=ONE_POINT_GRIDS) == 0
    return out


@pytest.fixture(scope="module")
def cnn_dir(store, tmp_path_factory):
    return train_tiny_cnn(store, tmp_path_factory.mktemp("cnn"))


def _run_json(capsys, argv) -> tuple[int, dict]:
    code = predict.main([*argv, "--json", "--segments"])
    return code, json.loads(capsys.readouterr().out)


def _segment_proba(answer: dict, genres) -> np.ndarray:
    """Per-segment probabilities [shape=(n_segments, n_genres)] from an answer of --top 99."""
    return np.array(
        [[{t["genre"]: t["probability"] for t in s["top"]}[g] for g in genres]
         for s in answer["segments"]]
    )


def _stored_segment_proba(model: classical.ClassicalModel, store, row: int) -> np.ndarray:
    fs = classical_features.load_feature_set(store, model.feature_set)
    return model.predict_proba(fs.X[fs.track_row == row])


# ---------------------------------------------------------------------- classical models
@pytest.mark.parametrize("feature_set", ["summary", "mfcc", "mel"])
def test_a_saved_classical_model_sees_the_file_as_the_store_did(store, tmp_path, capsys,
                                                                feature_set):
    fs = classical_features.load_feature_set(store, feature_set)
    _, model = classical.benchmark_method("knn", fs, store, grid=ONE_POINT_GRIDS["knn"])
    path = model.save(tmp_path / "knn.joblib")
    row = 7
    code, out = _run_json(capsys, ["--model", str(path), "--top", "99", track_path(store, row)])
    assert code == 0
    answer = out["files"][track_path(store, row)]
    segments = _segment_proba(answer, store.genres)
    stored = _stored_segment_proba(model, store, row)
    # The whole 3.5 s file: the 3 stored segments, then the padded last half second.
    assert answer["n_segments"] == 4 and len(stored) == 3
    np.testing.assert_allclose(segments[:3], stored, atol=1e-4)
    track = [answer["probabilities"][g] for g in store.genres]
    np.testing.assert_allclose(track, segments.mean(axis=0), atol=1e-3)
    assert sum(track) == pytest.approx(1, abs=1e-3)
    assert out["genres"] == list(store.genres)


def test_a_results_folder_uses_its_best_model_by_validation(store, classical_dir, capsys):
    models = classical_dir / "models"
    knn = classical.load_classical_model(models / "knn.joblib")
    # Make SVM the clear winner on validation, and add an Echonest model that must be ignored.
    svm = classical.load_classical_model(models / "svm.joblib")
    dataclasses.replace(svm, scores={**svm.scores, "val_track_accuracy": 2.0}).save(
        models / "svm.joblib")
    dataclasses.replace(knn, feature_set="echonest", scores={"val_track_accuracy": 9.0}).save(
        models / "mlp.joblib")
    chosen, model = predict.best_classical_model(models)
    assert (chosen.name, model.method) == ("svm.joblib", "svm")
    code = predict.main(["--model", str(classical_dir), track_path(store, 0)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("model: svm on 'summary' features")
    assert f"{track_path(store, 0)}: " in out and "(4 segments)" in out


def test_ties_go_to_the_first_method_in_study_order(store, tmp_path):
    fs = classical_features.load_feature_set(store, "summary")
    _, model = classical.benchmark_method("knn", fs, store, grid=ONE_POINT_GRIDS["knn"])
    same = {"val_track_accuracy": 0.5}
    for method in ("mlp", "svm", "knn"):
        dataclasses.replace(model, method=method, scores=same).save(tmp_path / f"{method}.joblib")
    assert predict.best_classical_model(tmp_path)[1].method == "knn"


def test_undecodable_files_get_an_error_and_the_others_an_answer(store, classical_dir, tmp_path,
                                                                 capsys):
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"not audio at all" * 100)
    too_short = tmp_path / "short.wav"
    sf.write(too_short, np.zeros(1000, np.float32), 22050)
    good = track_path(store, 3)
    files = [str(garbage), good, str(tmp_path / "missing.flac"), str(too_short)]
    code, out = _run_json(capsys, ["--model", str(classical_dir), *files])
    assert code == predict.EXIT_PARTIAL
    assert "top" in out["files"][good]
    assert "cannot decode" in out["files"][str(garbage)]["error"]
    assert "does not exist" in out["files"][str(tmp_path / "missing.flac")]["error"]
    assert "too short" in out["files"][str(too_short)]["error"]


# ---------------------------------------------------------------------- deep models
def test_a_deep_model_predicts_from_its_workdir(store, cnn_dir, capsys):
    from sonicsep.nn.trained import load_trained

    row = 11
    code, out = _run_json(capsys, ["--model", str(cnn_dir), "--top", "99", track_path(store, row)])
    assert code == 0 and out["model"].startswith("cnn on mel")
    answer = out["files"][track_path(store, row)]
    stored = load_trained(cnn_dir).predict_proba(store.array("mel_db")[row, :3])
    np.testing.assert_allclose(_segment_proba(answer, store.genres)[:3], stored, atol=1e-4)
    assert [s["start"] for s in answer["segments"]] == [0.0, 1.0, 2.0, 3.0]


def test_any_format_rate_and_length(store, cnn_dir, tmp_path, capsys):
    y, sr = sf.read(track_path(store, 0), dtype="float32")
    long_stereo = np.stack([np.tile(y, 3), np.tile(y, 3)], axis=1)  # 10.5 s
    flac, ogg = tmp_path / "song.flac", tmp_path / "song.ogg"
    sf.write(flac, long_stereo, 44100)  # a different rate: read as 44.1 kHz, resampled
    sf.write(ogg, y, 16000)
    code, out = _run_json(capsys, ["--model", str(cnn_dir), str(flac), str(ogg)])
    assert code == 0
    # 1 s segments; a last piece of at least half a segment is kept: 5.25 s -> 5, 4.82 s -> 5.
    assert len(long_stereo) / 44100 == 5.25 and out["files"][str(flac)]["n_segments"] == 5
    assert len(y) / 16000 == pytest.approx(4.82, abs=0.01)
    assert out["files"][str(ogg)]["n_segments"] == 5
    for answer in out["files"].values():
        assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    code, out = _run_json(capsys, ["--model", str(cnn_dir), "--max-seconds", "2", str(flac)])
    assert out["files"][str(flac)]["n_segments"] == 2


# ---------------------------------------------------------------------- usage
def test_usage_errors_exit_2_with_a_message(tmp_path, capsys):
    assert predict.main(["--model", str(tmp_path / "nothing"), "x.wav"]) == 2
    assert "no model at" in capsys.readouterr().err
    assert predict.main(["--model", str(tmp_path), "x.wav"]) == 2
    assert "no trained model in" in capsys.readouterr().err
    (tmp_path / "bad.joblib").write_bytes(b"junk")
    assert predict.main(["--model", str(tmp_path / "bad.joblib"), "x.wav"]) == 2
    assert "not a readable joblib file" in capsys.readouterr().err
    assert predict.main(["--model", str(tmp_path), "--top", "0", "x.wav"]) == 2
    done = subprocess.run(
        [sys.executable, "-m", "sonicsep.predict", "--model", str(tmp_path / "none"), "a.wav"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: no model at") and "Traceback" not in done.stderr
