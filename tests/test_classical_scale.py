"""Scale-aware baselines: nested grid points equal separate fits, the scaled variants, the
stratified track-level tuning subsample and the refit on all of train."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from synthetic_store import make_synthetic_store

from sonicsep import classical, classical_features, classical_scale


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_synthetic_store(
        tmp_path_factory.mktemp("scale") / "s.zarr", tracks_per_genre=20, n_summary=6
    )


@pytest.fixture(scope="module")
def data(store):
    fs = classical_features.load_feature_set(store, "summary")
    X_train, y_train, _ = fs.part("train")
    X_val, y_val, _ = fs.part("val")
    return fs, X_train, y_train, X_val, y_val


NESTED_GRIDS = {
    "random_forest": {"n_estimators": (5, 10, 20), "max_depth": (3, None)},
    "xgboost": {"n_estimators": (5, 10, 20), "max_depth": (2, None)},
    "knn": {"n_neighbors": (1, 3, 7), "leaf_size": (15, 30, 45)},
}


@pytest.mark.parametrize("method", sorted(NESTED_GRIDS))
def test_nested_points_score_as_separate_fits(data, method):
    _, X_train, y_train, X_val, y_val = data
    grid = NESTED_GRIDS[method]
    nested = classical.tune(method, grid, X_train, y_train, X_val, y_val)
    points = classical.grid_points(method, grid, len(X_train))
    # Forests and XGBoost: one fit per max_depth; kNN: one query for every point.
    assert len(classical_scale.nest(method, points)) == (1 if method == "knn" else 2)
    separate = [
        {"params": p, "val_accuracy": classical._fit_score(method, p, 0, X_train, y_train,
                                                             X_val, y_val)}
        for p in points
    ]
    assert nested == separate


def test_forest_prefix_probabilities_equal_a_smaller_forest(data):
    _, X_train, y_train, X_val, _ = data
    big = classical.make_pipeline("random_forest", {"n_estimators": 12}).fit(X_train, y_train)
    small = classical.make_pipeline("random_forest", {"n_estimators": 4}).fit(X_train, y_train)
    prefix = classical_scale.nested_probabilities("random_forest", big, X_val, [4, 12])
    np.testing.assert_array_equal(prefix[0], small.predict_proba(X_val))
    np.testing.assert_array_equal(prefix[1], big.predict_proba(X_val))


def test_nest_groups_by_the_other_hyperparameters():
    points = classical.grid_points(
        "xgboost", classical.STUDY_GRIDS["xgboost"], 10**6
    )
    groups = classical_scale.nest("xgboost", points)
    assert len(groups) == 5 and all(fit["n_estimators"] == 200 for fit, _ in groups)
    assert sorted(i for _, idx in groups for i in idx) == list(range(15))
    svm = classical_scale.nest("svm", [{"kernel": "linear"}, {"kernel": "rbf"}])
    assert svm == [({"kernel": "linear"}, [0]), ({"kernel": "rbf"}, [1])]


def test_choose_variant_switches_at_the_measured_sizes():
    n = classical_scale.SVM_EXACT_MAX_SAMPLES
    assert classical_scale.choose_variant("svm", n) == "exact"
    assert classical_scale.choose_variant("svm", n + 1) == "scaled"
    assert classical_scale.choose_variant("svm", n + 1, exact_grid=True) == "exact"
    assert classical_scale.choose_variant("xgboost", 10**7) == "exact"
    assert classical_scale.forest_min_leaf(640_000) == 64
    n = classical_scale.FOREST_TRUNCATE_MIN_SAMPLES
    assert classical_scale.choose_variant("random_forest", n) == "exact"
    assert classical_scale.choose_variant("random_forest", n + 1) == "truncated"
    assert classical_scale.choose_variant("random_forest", 10**6) == "scaled"
    assert classical_scale.choose_variant("random_forest", 10**6, exact_grid=True) == "exact"
    assert {(v["method"], v["variant"]) for v in classical_scale.variant_table()} == set(
        classical_scale.VARIANTS)


def test_truncated_trees_equal_depth_limited_forests_when_splits_are_not_drawn(data):
    # With every feature tried at every node the best split is the same whatever the draws,
    # so a tree read down to depth d is exactly the tree grown to depth d.
    _, X_train, y_train, X_val, _ = data
    deep = classical.make_pipeline(
        "random_forest", {"n_estimators": 6, "max_features": None}
    ).fit(X_train, y_train)
    values = [(3, 2), (6, 2), (3, 4), (6, None)]
    truncated = classical_scale.nested_probabilities("random_forest", deep, X_val, values,
                                                     "truncated")
    for (n, depth), proba in zip(values, truncated, strict=True):
        separate = classical.make_pipeline(
            "random_forest", {"n_estimators": n, "max_depth": depth, "max_features": None}
        ).fit(X_train, y_train)
        np.testing.assert_allclose(proba, separate.predict_proba(X_val), rtol=1e-12)


def test_truncated_variant_scores_the_forest_grid_from_one_fit(data):
    _, X_train, y_train, X_val, y_val = data
    grid = {"n_estimators": (4, 8), "max_depth": (2, 5, None)}
    points = classical.grid_points("random_forest", grid, len(X_train))
    groups = classical_scale.nest("random_forest", points, "truncated")
    assert groups == [({"n_estimators": 8, "max_depth": None}, list(range(6)))]
    scored = classical.tune("random_forest", grid, X_train, y_train, X_val, y_val,
                            variant="truncated")
    for s in scored:  # the fully grown points are exactly separate fits
        if s["params"]["max_depth"] is None:
            assert s["val_accuracy"] == classical._fit_score(
                "random_forest", s["params"], 0, X_train, y_train, X_val, y_val)
        assert 0 <= s["val_accuracy"] <= 1


@pytest.mark.parametrize("kernel", ["linear", "poly", "rbf"])
def test_scaled_svm_learns_the_synthetic_genres(data, kernel):
    _, X_train, y_train, X_val, y_val = data
    model = classical.make_pipeline(
        "svm", {"kernel": kernel}, variant="scaled", n_train=len(y_train)
    ).fit(X_train, y_train)
    assert (model.predict_proba(X_val).argmax(1) == y_val).mean() > 0.8


def test_tuning_subsample_is_stratified_and_keeps_tracks_whole():
    track_row = np.repeat(np.arange(100), 6)
    y = np.repeat(np.arange(100) % 4, 6)
    picked = classical_scale.tuning_subsample(y, track_row, 240, seed=0)
    assert len(picked) == 240
    tracks = np.unique(track_row[picked])
    assert all((track_row == t).sum() == (track_row[picked] == t).sum() for t in tracks)
    assert np.bincount(y[picked]).tolist() == [60] * 4
    assert classical_scale.tuning_subsample(y, track_row, 600, seed=0) is None
    assert classical_scale.tuning_subsample(y, track_row, 0, seed=0) is None


def test_tune_samples_per_method_unless_overridden():
    assert classical_scale.tune_samples("svm") == classical_scale.TUNE_SAMPLES["svm"]
    assert classical_scale.TUNE_SAMPLES["knn"] > classical_scale.TUNE_SAMPLES["mlp"]
    assert classical_scale.tune_samples("knn", 0) == 0
    assert classical_scale.tune_samples("mlp", 123) == 123


def test_subsampled_tuning_refits_on_all_of_train(store, data):
    fs = data[0]
    result, model = classical.benchmark_method(
        "knn", fs, store, grid={"n_neighbors": (3, 5)}, tune_samples=60
    )
    n_train = int((fs.split == "train").sum())
    assert result.tuned_on["subsample"] and result.tuned_on["samples"] < n_train
    assert result.tuned_on["tracks"] < fs.n_tracks("train")
    assert model.pipeline.named_steps["scaler"].n_samples_seen_ == n_train
    exact, _ = classical.benchmark_method(
        "knn", fs, store, grid={"n_neighbors": (3, 5)}, tune_samples=60, exact_grid=True
    )
    assert exact.tuned_on == {"samples": n_train, "tracks": fs.n_tracks("train"),
                              "subsample": False}


KEPT_GRIDS = {"svm": {"kernel": ("linear", "rbf")}, "mlp": {"alpha": (1e-4, 1e-2)}}


@pytest.mark.parametrize("method", sorted(KEPT_GRIDS))
def test_a_grid_fit_on_all_of_train_is_the_model_without_a_refit(store, data, method):
    """Tuned on all of train, the chosen point's grid fit is kept: it predicts as a refit of
    that point does, and the runner is never asked to refit."""
    fs, X_train, y_train, _, _ = data

    class NoRefit(classical.LocalRunner):
        def refit(self, *args):
            raise AssertionError("refitted a point the grid had already fitted on all of train")

    grid = KEPT_GRIDS[method]
    result, model = classical.benchmark_method(
        method, fs, store, grid=grid, tune_samples=0, runner=NoRefit()
    )
    assert not result.refitted and not result.tuned_on["subsample"]
    classes = np.unique(y_train)
    refit = classical.make_pipeline(
        method, result.params, seed=classical.SEED,
        smallest_class=classical.smallest_class(y_train), n_train=len(y_train),
    ).fit(X_train, np.searchsorted(classes, y_train))
    np.testing.assert_array_equal(model.pipeline.predict_proba(fs.X), refit.predict_proba(fs.X))
    # On a tuning subsample the grid's fits are not the model: the chosen point is refitted.
    subsampled, _ = classical.benchmark_method(method, fs, store, grid=grid, tune_samples=60)
    assert subsampled.refitted and subsampled.tuned_on["subsample"]


def test_a_model_saved_before_variants_loads_as_exact(store, data, tmp_path):
    _, model = classical.benchmark_method("knn", data[0], store, grid={"n_neighbors": (3,)})
    path = model.save(tmp_path / "knn.joblib")
    payload = joblib.load(path)
    del payload["variant"]
    joblib.dump(payload, path)
    assert classical.load_classical_model(path).variant == "exact"
