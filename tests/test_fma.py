"""FMA's 518 per-track features: the columns of features.csv, parity with FMA's librosa pipeline
on the real MP3s, the store's fma_features array from featurize --fma, and the 'fma' baseline."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_store import TINY_CONFIG, make_synthetic_store

from sonicsep import audio, benchmark, classical, classical_features, predict
from sonicsep.features.fma import (
    FMA_COLUMN_NAMES,
    FMA_COLUMNS,
    FMA_FEATURE_SIZES,
    fma_features,
    fma_frame,
    fma_series,
    fma_statistics,
)
from sonicsep.featurize import main as featurize_main
from sonicsep.pipeline import featurize_track
from sonicsep.store import FeatureStore

librosa = pytest.importorskip("librosa")
# FMA's pipeline with librosa, shared with the benchmarks.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fma_librosa  # noqa: E402

MP3S = ("000/000002.mp3", "000/000010_excerpt_2s.mp3")


def _spread_relative(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|difference| over the reference, or over a thousandth of the largest magnitude of the
    same feature's columns where the reference is nearer 0 than that (an MFCC's minimum of
    -4e-14 against librosa's 0.0 is a match)."""
    feature = np.array([column[0] for column in FMA_COLUMNS])
    scale = np.array([np.abs(reference[feature == f]).max() for f in feature])
    return np.abs(ours - reference) / np.maximum(np.abs(reference), 1e-3 * scale)


def test_columns_are_features_csv_columns():
    assert len(FMA_COLUMNS) == 518 == 7 * sum(FMA_FEATURE_SIZES.values())
    assert FMA_COLUMNS == tuple(sorted(FMA_COLUMNS))  # FMA sorts its column index
    assert FMA_COLUMNS[:2] == (("chroma_cens", "kurtosis", "01"), ("chroma_cens", "kurtosis", "02"))
    assert FMA_COLUMNS[-1] == ("zcr", "std", "01")
    assert ("rmse", "mean", "01") in FMA_COLUMNS and ("mfcc", "max", "20") in FMA_COLUMNS
    assert FMA_COLUMN_NAMES[0] == "chroma_cens.kurtosis.01"


def test_frame_writes_and_reads_like_features_csv():
    """FMA's utils.load reads features.csv with index_col=0, header=[0, 1, 2]."""
    vectors = np.arange(2 * 518, dtype=np.float32).reshape(2, 518)
    text = io.StringIO()
    fma_frame(vectors, ["000002", "000005"]).to_csv(text)
    lines = text.getvalue().splitlines()
    assert lines[0].startswith("feature,chroma_cens,chroma_cens,")
    assert lines[1].startswith("statistics,kurtosis,kurtosis,")
    assert lines[2].startswith("number,01,02,03,")
    assert lines[3].startswith("track_id,,,")
    back = pd.read_csv(io.StringIO(text.getvalue()), index_col=0, header=[0, 1, 2])
    assert list(back.columns) == list(FMA_COLUMNS) and list(back.index) == [2, 5]
    np.testing.assert_array_equal(back.to_numpy(), vectors)
    assert back.loc[5, ("zcr", "std", "01")] == vectors[1, -1]


@pytest.fixture(scope="module", params=MP3S)
def fma_clip(request, shared_data):
    y, sr = audio.load(shared_data / "fma/fma_small" / request.param, sr=None)
    return y, sr


def test_every_column_matches_fmas_librosa_pipeline(fma_clip):
    """Every column within 1e-4 (spread-relative near 0) of FMA's pipeline run with librosa.
    spectral_contrast's included: in bands over the MP3's empty top octave its 2% quantile of
    bins is FFT round-off (~2e-6 against a peak of 300), which only librosa's own float64 FFT
    reproduces (a float32 FFT moved it by up to 0.4 dB)."""
    y, sr = fma_clip
    ours = fma_features(y, sr=sr)
    reference = fma_librosa.fma_features(y, sr)
    error = _spread_relative(ours, reference)
    worst = np.argmax(error)
    assert error.max() <= 1e-4, (FMA_COLUMNS[worst], ours[worst], reference[worst])


def test_statistics_equal_numpy_and_scipy(fma_clip):
    y, sr = fma_clip
    series = fma_series(y[: sr * 5], sr=sr)
    error = _spread_relative(fma_statistics(series), fma_librosa.fma_statistics(series))
    assert error.max() <= 1e-4  # numpy and scipy sum float32 series in float32, we in float64


def test_series_refuses_multichannel_input():
    with pytest.raises(Exception, match="mono clip"):
        fma_series(np.zeros((2, 22050), np.float32), sr=22050)


def test_featurize_fma_fills_the_store_from_one_decode(tmp_path, fma_root, fma_mp3):
    """--fma: the track's 518 values equal fma_features of the native-rate decode, and its
    segment features equal a run without --fma (the segments come from resampling that
    decode instead of the streamed one). Tracks whose audio is missing stay NaN."""
    config = tmp_path / "features.json"
    config.write_text(TINY_CONFIG.to_json())
    args = ["--dataset", "fma", "--root", str(fma_root), "--tracks-csv",
            str(fma_root / "fma_metadata/tracks_head682.csv"), "--config", str(config),
            "--no-progress", "--workers", "1"]
    assert featurize_main([*args, "--out", str(tmp_path / "fma.zarr"), "--fma"]) == 3
    assert featurize_main([*args, "--out", str(tmp_path / "plain.zarr")]) == 3
    store = FeatureStore.open(str(tmp_path / "fma.zarr"))
    plain = FeatureStore.open(str(tmp_path / "plain.zarr"))
    frame = store.fma_frame()
    assert frame.shape == (58, 518) and list(frame.columns) == list(FMA_COLUMNS)
    # The pipeline's vector is fma_features of the native-rate decode, bit for bit, in this
    # process and in the worker's: FFT plans are the same in every process (kernels.fft; with
    # plans chosen by timing a tuning estimate once moved a step between two processes).
    y, sr = audio.load(fma_mp3, sr=None)
    expected = fma_features(y, sr=sr)
    ours = featurize_track(str(fma_mp3), TINY_CONFIG.replace(fma_features=True))
    np.testing.assert_array_equal(ours["fma_features"], expected)
    stored = frame.loc["000002"].to_numpy()
    np.testing.assert_array_equal(stored, expected.astype(stored.dtype))  # the store: float32
    assert frame.drop(index="000002").isna().all(axis=None)
    row = list(store.strings("track")).index("000002")
    for name in ("mel_db", "summary"):
        np.testing.assert_array_equal(store.array(name)[row], plain.array(name)[row])
    assert list(store.group["fma_feature"][:3]) == list(FMA_COLUMN_NAMES[:3])
    with pytest.raises(Exception, match="featurize with --fma"):
        plain.fma_frame()


def test_benchmark_trains_on_fma_features_and_predict_uses_them(tmp_path, fma_mp3):
    url = tmp_path / "fma.zarr"
    make_synthetic_store(url, config=TINY_CONFIG.replace(fma_features=True))
    store = FeatureStore.open(str(url))
    assert "fma" in classical_features.supported_feature_sets(store)
    fs = classical_features.load_feature_set(store, "fma")
    assert fs.level == "track" and fs.X.shape == (store.n_tracks, 518)
    out = tmp_path / "out"
    code = benchmark.main(["--store", str(url), "--out", str(out), "--features", "fma",
                           "--methods", "knn", "--jobs", "1"])
    assert code == benchmark.EXIT_OK
    assert "| method | fma track |\n|---|---|\n| kNN | 100.0 |" in (out / "results.md").read_text()
    model = classical.load_classical_model(out / "models" / "knn.joblib")
    assert model.feature_set == "fma" and model.columns == FMA_COLUMN_NAMES
    # predict computes the file's 518 values under the model's config: one "segment", the file.
    predictor = predict.load_predictor(out / "models" / "knn.joblib")
    answer = predict.predict_file(str(fma_mp3), predictor, predictor.feature_config, top=2)
    assert answer["n_segments"] == 1 and answer["top"][0]["genre"] in store.genres
