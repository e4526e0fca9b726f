"""The classical baselines: feature sets, leakage, aggregation, tuning protocol, saved models."""

from __future__ import annotations

import shutil

import joblib
import numpy as np
import pytest
from synthetic_store import make_synthetic_store

from sonicsep import classical, classical_features
from sonicsep.errors import ModelError, ParameterError, StoreError
from sonicsep.store import SPLITS, FeatureStore

# Two points per method where the study has a grid: enough to exercise choosing, fast to fit.
TINY_GRIDS = {
    "knn": {"n_neighbors": (3, 5), "leaf_size": (30,)},
    "svm": {"kernel": ("linear", "rbf")},
    "random_forest": {"n_estimators": (20,), "max_depth": (5, None)},
    "xgboost": {"n_estimators": (20,), "max_depth": (3, None)},
    "mlp": {"alpha": (1e-3,)},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> FeatureStore:
    return make_synthetic_store(tmp_path_factory.mktemp("classical") / "synthetic.zarr")


@pytest.fixture(scope="module")
def summary(store) -> classical_features.FeatureSet:
    return classical_features.load_feature_set(store, "summary")


# ---------------------------------------------------------------------- feature sets
def test_summary_columns_selects_mfcc_by_name():
    names = ["rms_mean", "mfcc01_mean", "spectral_centroid_var", "mfcc01_var"]
    assert classical_features.summary_columns(names, "summary") == [0, 1, 2, 3]
    assert classical_features.summary_columns(names, "mfcc") == [1, 3]
    with pytest.raises(ParameterError, match="echonest"):
        classical_features.summary_columns(names, "echonest")


def test_mel_band_stats_are_mean_then_variance_over_time(rng):
    mel = rng.normal(-40, 10, (2, 3, 5, 11)).astype(np.float32)
    stats = classical_features.mel_band_stats(mel)
    assert stats.shape == (2, 3, 10) and stats.dtype == np.float32
    np.testing.assert_allclose(stats[..., :5], mel.mean(-1), rtol=1e-5)
    np.testing.assert_allclose(stats[..., 5:], mel.var(-1), rtol=1e-4)
    assert classical_features.mel_band_columns(5)[:2] == ("mel000_mean", "mel001_mean")
    assert classical_features.mel_band_columns(5)[5] == "mel000_var"


def test_mel_feature_set_read_by_shard_matches_the_whole_array(store):
    fs = classical_features.load_feature_set(store, "mel")
    rows, segments = store.segment_index()
    whole = store.array("mel_db")[:]  # fine for the tiny store, the thing the loader avoids
    np.testing.assert_allclose(
        fs.X, classical_features.mel_band_stats(whole[rows, segments]), rtol=1e-6
    )
    assert store.n_tracks % store.tracks_per_shard  # the last shard is partial: covered too
    assert fs.level == "segment" and len(fs.columns) == 2 * store.config.n_mels


def test_summary_feature_set_matches_store(store, summary):
    X, y, rows = store.load_summary()
    np.testing.assert_array_equal(summary.X, X)
    np.testing.assert_array_equal(summary.y, y)
    assert summary.columns == store.summary_names
    assert summary.n_dropped == 0


def test_echonest_feature_set_is_one_sample_per_track_without_nan(store):
    fs = classical_features.load_feature_set(store, "echonest")
    tracks = store.tracks()
    has_echonest = tracks[list(store.echonest_names)].notna().all(axis=1).to_numpy()
    assert fs.level == "track" and fs.columns == store.echonest_names
    np.testing.assert_array_equal(fs.track_row, np.flatnonzero(has_echonest))
    assert fs.n_dropped == (~has_echonest).sum() > 0
    assert np.isfinite(fs.X).all()
    np.testing.assert_array_equal(fs.y, tracks["label"].to_numpy()[fs.track_row])


@pytest.mark.parametrize("name", ["summary", "mel", "echonest"])
def test_no_track_has_samples_in_two_splits(store, name):
    fs = classical_features.load_feature_set(store, name)
    tracks_of = {s: set(fs.part(s)[2]) for s in SPLITS}
    assert all(tracks_of.values())
    assert not tracks_of["train"] & tracks_of["val"]
    assert not tracks_of["train"] & tracks_of["test"]
    assert not tracks_of["val"] & tracks_of["test"]
    store_split = store.tracks()["split"].to_numpy()
    for split, rows in tracks_of.items():
        assert set(store_split[list(rows)]) == {split}


def test_summary_loads_without_mel_db(tmp_path):
    """Summaries never touch the spectrograms: deleting or corrupting mel_db changes nothing."""
    url = tmp_path / "store.zarr"
    reference = classical_features.load_feature_set(make_synthetic_store(url), "summary")
    for chunk in (url / "mel_db" / "c").rglob("*"):
        if chunk.is_file():
            chunk.write_bytes(b"not a blosc frame")
    corrupted = FeatureStore.open(url)
    with pytest.raises(StoreError, match=r"mel_db.*shard index truncated"):
        classical_features.load_feature_set(corrupted, "mel")
    np.testing.assert_array_equal(
        classical_features.load_feature_set(corrupted, "summary").X, reference.X
    )
    shutil.rmtree(url / "mel_db")
    deleted = FeatureStore.open(url)
    assert "mel" not in classical_features.supported_feature_sets(deleted)
    np.testing.assert_array_equal(
        classical_features.load_feature_set(deleted, "summary").X, reference.X
    )


def test_supported_feature_sets(store):
    # The synthetic summary columns are f00_mean..., so there is no 'mfcc' set.
    assert classical_features.supported_feature_sets(store) == ("summary", "mel", "echonest")


def _feature_set(split, y, level="track"):
    n = len(y)
    return classical_features.FeatureSet(
        name="echonest",
        level=level,
        columns=("a",),
        X=np.zeros((n, 1)),
        y=np.asarray(y),
        track_row=np.arange(n),
        split=np.asarray(split),
    )


def test_check_feature_set_skips_an_empty_split_and_warns_when_small():
    check = classical_features.check_feature_set
    ok, notes = check(_feature_set(["train", "train", "test"], [0, 1, 0]))
    assert not ok and "val" in notes[0] and "skipped" in notes[0]
    ok, notes = check(_feature_set(["train", "val", "test"], [0, 0, 1]))
    assert not ok and "1 genre" in notes[0]
    ok, notes = classical_features.check_feature_set(
        _feature_set(["train", "train", "val", "test"], [0, 1, 0, 1])
    )
    assert ok and "only 2 training tracks" in notes[0]


# ---------------------------------------------------------------------- tuning protocol
def test_grid_points_drop_knn_points_with_too_few_samples():
    grid = classical.STUDY_GRIDS["knn"]
    assert len(classical.grid_points("knn", grid, 100)) == 15
    assert {p["n_neighbors"] for p in classical.grid_points("knn", grid, 7)} == {3, 5, 7}
    assert (
        len(classical.grid_points("random_forest", classical.STUDY_GRIDS["random_forest"], 2)) == 15
    )


def test_make_pipeline_rejects_unknown_method():
    with pytest.raises(ParameterError, match="method='lda'"):
        classical.make_pipeline("lda", {})


@pytest.mark.parametrize("method", classical.METHODS)
def test_method_learns_the_synthetic_genres(store, summary, method):
    result, model = classical.benchmark_method(
        method, summary, store, grid=TINY_GRIDS[method], seed=0, jobs=1
    )
    chance = 1 / len(store.genres)
    assert result.test_segment_accuracy > chance + 0.4
    assert result.test_track_accuracy > chance + 0.4
    # The chosen point is a grid point, the best one on validation, and the refit on train
    # reproduces the validation score that chose it.
    assert result.params in classical.grid_points(method, TINY_GRIDS[method], 10**9)
    best = max(g["val_accuracy"] for g in result.grid)
    assert result.val_accuracy == best
    assert next(g for g in result.grid if g["params"] == result.params)["val_accuracy"] == best
    assert result.confusion.sum() == summary.n_tracks("test")
    assert result.n_tracks == {s: summary.n_tracks(s) for s in SPLITS}


def test_scaler_is_fitted_on_train_only(store, summary):
    _, model = classical.benchmark_method("knn", summary, store, grid=TINY_GRIDS["knn"])
    X_train = summary.part("train")[0]
    scaler = model.pipeline.named_steps["scaler"]
    np.testing.assert_allclose(scaler.mean_, X_train.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(scaler.mean_, summary.X.mean(axis=0), rtol=1e-3)


def test_parallel_tuning_gives_the_same_scores(summary):
    X_train, y_train, _ = summary.part("train")
    X_val, y_val, _ = summary.part("val")
    grid = classical.STUDY_GRIDS["knn"]
    serial = classical.tune("knn", grid, X_train, y_train, X_val, y_val, jobs=1)
    parallel = classical.tune("knn", grid, X_train, y_train, X_val, y_val, jobs=2)
    assert serial == parallel and len(serial) == 15


@pytest.mark.parametrize("method", ["knn", "random_forest", "xgboost"])
def test_threaded_refit_is_the_model_tuning_scored(store, method):
    """Tuning fits with one thread, the final refit with ``jobs``: both must be the same model."""
    fs = classical_features.load_feature_set(store, "echonest")  # the noisy set: probabilities vary
    X_train, y_train, _ = fs.part("train")
    params = classical.grid_points(method, classical.STUDY_GRIDS[method], len(X_train))[-1]
    one = classical.make_pipeline(method, params, n_jobs=1).fit(X_train, y_train)
    two = classical.make_pipeline(method, params, n_jobs=2).fit(X_train, y_train)
    np.testing.assert_array_equal(one.predict_proba(fs.X), two.predict_proba(fs.X))


def test_best_point_takes_the_first_of_ties():
    scored = [
        {"params": {"k": 1}, "val_accuracy": 0.5},
        {"params": {"k": 2}, "val_accuracy": 0.9},
        {"params": {"k": 3}, "val_accuracy": 0.9},
    ]
    assert classical.best_index(scored) == 1


def test_genre_missing_from_train_gets_zero_probability(store):
    tracks = store.tracks()
    fs = classical_features.load_feature_set(store, "summary")
    # Drop genre 2 from train only: the model has no column for it and must still answer
    # with one probability per store genre.
    keep = ~((fs.split == "train") & (fs.y == 2))
    fs = classical_features.FeatureSet(
        name=fs.name,
        level=fs.level,
        columns=fs.columns,
        X=fs.X[keep],
        y=fs.y[keep],
        track_row=fs.track_row[keep],
        split=fs.split[keep],
    )
    result, model = classical.benchmark_method("xgboost", fs, store, grid=TINY_GRIDS["xgboost"])
    np.testing.assert_array_equal(model.classes, [0, 1])
    proba = model.predict_proba(fs.part("test")[0])
    assert proba.shape[1] == len(store.genres) == len(set(tracks["label"]))
    np.testing.assert_array_equal(proba[:, 2], 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert result.confusion[2, 2] == 0


# ---------------------------------------------------------------------- saved models
def test_saved_model_round_trips_with_its_metadata(store, summary, tmp_path):
    _, model = classical.benchmark_method(
        "random_forest", summary, store, grid=TINY_GRIDS["random_forest"]
    )
    path = model.save(tmp_path / "models" / "random_forest.joblib")
    loaded = classical.load_classical_model(path)
    X_test = summary.part("test")[0]
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    assert loaded.feature_set == "summary" and loaded.columns == store.summary_names
    assert loaded.genres == store.genres
    assert loaded.feature_config == store.config.to_dict()
    assert loaded.params == model.params and set(loaded.scores) >= {"test_track_accuracy"}
    with pytest.raises(ModelError, match="expects 10 'summary' features"):
        loaded.predict(X_test[:, :3])


def test_load_classical_model_rejects_what_is_not_one(tmp_path):
    with pytest.raises(ModelError, match="no classical model"):
        classical.load_classical_model(tmp_path / "missing.joblib")
    joblib.dump({"weights": [1, 2]}, tmp_path / "other.joblib")
    with pytest.raises(ModelError, match="not a SonicSep classical model"):
        classical.load_classical_model(tmp_path / "other.joblib")
    (tmp_path / "garbage.joblib").write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="not a readable joblib file"):
        classical.load_classical_model(tmp_path / "garbage.joblib")
    joblib.dump({"sonicsep_model": "classical", "format": 99}, tmp_path / "future.joblib")
    with pytest.raises(ModelError, match="format 99"):
        classical.load_classical_model(tmp_path / "future.joblib")


def test_svm_calibrates_with_a_genre_of_three_training_examples():
    """Small Echonest subsets: fewer than 5 examples of a genre must not crash the SVM."""
    rng = np.random.default_rng(0)
    y = np.array([0] * 10 + [1] * 3)
    X = rng.normal(size=(13, 4)) + y[:, None] * 3
    score = classical._fit_score("svm", {"kernel": "rbf"}, 0, X, y, X, y)
    assert score > 0.8
