"""Classical genre baselines on feature-store summaries: kNN, SVM, random forest, XGBoost, MLP.

This module owns the study's hyperparameter grids, tuning on the validation split,
segment-to-track aggregation, and the saved-model format that ``predict`` loads; the feature
sets a baseline learns from are :mod:`sonicsep.classical_features`'. Protocol (the study's):
every grid point is fitted on the train split and scored on the validation split; the best
point's model is fitted on train only and scored once on test. The scaler is the first step of
each pipeline, so it only ever sees training data and is saved with the model.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import joblib
import numpy as np
from sklearn.model_selection import ParameterGrid
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sonicsep import __version__, classical_scale, metrics
from sonicsep.classical_features import FeatureSet
from sonicsep.errors import ModelError, ParameterError
from sonicsep.store import SPLITS, FeatureStore

SEED = 0
METHODS = ("knn", "svm", "random_forest", "xgboost", "mlp")
MODEL_FORMAT = 1

# The study's grids. XGBoost's ``max_depth=None`` means the library default (6); the study gave
# no grid for the MLP, so its L2 strength is tuned over three decades instead.
STUDY_GRIDS: Mapping[str, Mapping[str, tuple]] = {
    "knn": {"n_neighbors": (3, 5, 7, 10, 15), "leaf_size": (15, 30, 45)},
    "svm": {"kernel": ("linear", "poly", "rbf")},
    "random_forest": {"n_estimators": (50, 100, 200), "max_depth": (10, 30, 50, 70, None)},
    "xgboost": {"n_estimators": (50, 100, 200), "max_depth": (10, 30, 50, 70, None)},
    "mlp": {"alpha": (1e-4, 1e-3, 1e-2)},
}


# ---------------------------------------------------------------------- estimators
def make_pipeline(
    method: str,
    params: Mapping,
    *,
    seed: int = SEED,
    n_jobs: int = 1,
    smallest_class: int = 5,
    variant: str = classical_scale.EXACT,
    n_train: int = 0,
) -> Pipeline:
    """StandardScaler then the classifier of ``method`` with ``params``.

    The scaler is inside the pipeline so that fitting on the train split fits it on train only,
    and so that the saved model scales new inputs exactly as it scaled its training data.
    ``variant`` (:func:`sonicsep.classical_scale.choose_variant`) swaps in the estimator that
    scales, sized by ``n_train``.
    """
    scaled = variant != classical_scale.EXACT
    if method == "knn":
        model = KNeighborsClassifier(**params, n_jobs=n_jobs)
    elif method == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        # Platt-scaled probabilities (sigmoid fitted on 5-fold decision values of train), since
        # tracks are scored on mean segment probability; one SVC is refitted on all of train.
        # Fewer folds when a genre has fewer than 5 training examples (small Echonest subsets).
        folds = max(2, min(5, smallest_class))
        svm = (
            classical_scale.scaled_svm(params, seed=seed, n_train=n_train)
            if scaled
            else SVC(**params, random_state=seed)
        )
        model = CalibratedClassifierCV(svm, cv=folds, ensemble=False)
    elif method == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        if variant == "scaled":  # "truncated" changes only how the grid is scored
            params = {"min_samples_leaf": classical_scale.forest_min_leaf(n_train), **params}
        model = RandomForestClassifier(**params, random_state=seed, n_jobs=n_jobs)
    elif method == "xgboost":
        from xgboost import XGBClassifier

        model = XGBClassifier(**params, tree_method="hist", random_state=seed, n_jobs=n_jobs)
    elif method == "mlp":
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(
            hidden_layer_sizes=(64, 32, 16),
            activation="relu",
            max_iter=500,
            random_state=seed,
            **params,
        )
    else:
        raise ParameterError(f"unknown method={method!r}; expected one of {METHODS}")
    return Pipeline([("scaler", StandardScaler()), ("model", model)])


def grid_points(method: str, grid: Mapping[str, Sequence], n_train: int) -> list[dict]:
    """The points of ``grid`` that ``method`` can fit on ``n_train`` samples, in grid order.

    kNN cannot ask for more neighbours than there are training samples (small Echonest subsets).
    """
    points = [dict(p) for p in ParameterGrid({k: list(v) for k, v in grid.items()})]
    if method == "knn":
        points = [p for p in points if p.get("n_neighbors", 5) <= n_train]
    return points


# ---------------------------------------------------------------------- saved models
@dataclasses.dataclass
class ClassicalModel:
    """A fitted pipeline with what is needed to predict later from fresh features.

    ``classes`` maps the pipeline's output columns to genre indices (genres absent from the
    training split have no column); ``columns`` names the expected input features in order.
    """

    pipeline: Pipeline
    method: str
    feature_set: str
    level: str
    columns: tuple[str, ...]
    genres: tuple[str, ...]
    classes: np.ndarray
    params: dict
    feature_config: dict
    scores: dict
    # Which estimator the method's grid point was fitted with (classical_scale.choose_variant);
    # models saved before variants existed load as "exact".
    variant: str = classical_scale.EXACT

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of every genre of ``genres`` [shape=(n, len(genres))]."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.columns):
            raise ModelError(
                f"the {self.method} model expects {len(self.columns)} '{self.feature_set}' "
                f"features per sample, got an array of shape {X.shape}"
            )
        out = np.zeros((len(X), len(self.genres)))
        out[:, self.classes] = self.pipeline.predict_proba(X)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Genre index of every sample."""
        return self.predict_proba(X).argmax(axis=1)

    def save(self, path: str | Path) -> Path:
        """Write the model and its metadata with joblib (a plain dict, so loading needs no
        pickled instance of this class)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        payload.update(
            sonicsep_model="classical", format=MODEL_FORMAT, sonicsep_version=__version__
        )
        joblib.dump(payload, path)
        return path


def load_classical_model(path: str | Path) -> ClassicalModel:
    """Load a model written by :meth:`ClassicalModel.save`; :class:`ModelError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"no classical model at {str(path)!r}; train one with `python -m sonicsep.benchmark`"
        )
    try:
        payload = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - joblib/pickle raise many types for a bad file
        raise ModelError(f"{str(path)!r} is not a readable joblib file: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("sonicsep_model") != "classical":
        raise ModelError(f"{str(path)!r} is not a SonicSep classical model")
    if payload.get("format") != MODEL_FORMAT:
        raise ModelError(
            f"{str(path)!r} has model format {payload.get('format')!r}, this SonicSep reads "
            f"{MODEL_FORMAT}; retrain it with `python -m sonicsep.benchmark`"
        )
    return ClassicalModel(
        **{
            f.name: payload[f.name]
            for f in dataclasses.fields(ClassicalModel)
            if f.name in payload or f.default is dataclasses.MISSING
        }
    )


# ---------------------------------------------------------------------- benchmark
@dataclasses.dataclass
class MethodResult:
    """One method on one feature set: chosen point, its validation score, its test scores.

    ``val_accuracy`` is at the feature set's level (what tuning maximised); ``confusion`` is
    the track-level test confusion matrix over all genres of the store.
    """

    method: str
    feature_set: str
    level: str
    params: dict
    grid: list[dict]
    val_accuracy: float
    val_track_accuracy: float
    test_segment_accuracy: float | None
    test_track_accuracy: float
    confusion: np.ndarray
    n_samples: dict
    n_tracks: dict
    tune_seconds: float
    fit_seconds: float
    predict_seconds: float = 0.0  # validation and test, once, with the refitted model
    variant: str = classical_scale.EXACT
    # Samples and tracks the grid was tuned on, and whether they are a subsample of train.
    tuned_on: dict = dataclasses.field(default_factory=dict)
    # False: the chosen point's grid fit, already on all of train, is the model (no refit;
    # see classical_scale.keeps_fits).
    refitted: bool = True

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["confusion"] = self.confusion.tolist()
        return out


def _encode(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Genre indices -> 0..len(classes)-1 (XGBoost needs contiguous labels)."""
    return np.searchsorted(classes, y)


def smallest_class(y: np.ndarray) -> int:
    """Sample count of the rarest label of ``y`` (sizes the SVM's calibration folds)."""
    counts = np.unique(y, return_counts=True)[1]
    return int(counts.min()) if counts.size else 0


def _fit_score(method, params, seed, X_train, y_train, X_val, y_val) -> float:
    """Fit one grid point on train, return its accuracy on validation (labels pre-encoded)."""
    nested = classical_scale.NESTED.get(method)
    values = [params[nested]] if nested in params else [None]
    scores, _ = classical_scale.score_group(
        method, classical_scale.EXACT, params, values, seed, False, X_train, y_train, X_val, y_val
    )
    return scores[0]


class LocalRunner:
    """Runs task calls here, ``jobs`` at a time with joblib; the Dask runner
    (:class:`sonicsep.classical_dask.DaskRunner`) has the same two methods."""

    def __init__(self, jobs: int = 1):
        self.jobs = jobs

    def map(self, fn, calls: Sequence[tuple], data: Sequence) -> list:
        """``[fn(*call, *data, n_jobs=...) for call in calls]``, in parallel; calls fewer than
        ``jobs`` share the spare processes as threads of their estimators (a forest's lone
        group fits its trees on every core)."""
        threads = max(1, self.jobs // len(calls)) if calls else 1
        if len(calls) == 1 or self.jobs == 1:
            return [fn(*call, *data, n_jobs=threads) for call in calls]
        return joblib.Parallel(n_jobs=self.jobs)(
            joblib.delayed(fn)(*c, *data, n_jobs=threads) for c in calls
        )

    def refit(self, method, params, seed, variant, X_train, y_train) -> Pipeline:
        """The chosen point fitted on all of train, with ``jobs`` threads where it has them."""
        return make_pipeline(
            method, params, seed=seed, n_jobs=self.jobs, smallest_class=smallest_class(y_train),
            variant=variant, n_train=len(y_train),
        ).fit(X_train, y_train)


def tune(
    method: str,
    grid: Mapping[str, Sequence],
    X_train,
    y_train,
    X_val,
    y_val,
    *,
    seed: int = SEED,
    jobs: int = 1,
    variant: str = classical_scale.EXACT,
    train_rows: np.ndarray | None = None,
    runner=None,
    fits: dict | None = None,
) -> list[dict]:
    """Validation accuracy of every feasible grid point, fitted on train (or its ``train_rows``).

    Points that nest (:func:`sonicsep.classical_scale.nest`) share one fit; the groups run on
    ``runner`` (default: joblib with ``jobs`` processes). Returns
    ``[{"params": ..., "val_accuracy": ...}]`` in grid order. Given a dict ``fits``, the
    fitted pipelines that :func:`sonicsep.classical_scale.keeps_fits` keeps are put in it,
    keyed by the index of the point each was fitted with.
    """
    n_fit = len(X_train) if train_rows is None else len(train_rows)
    points = grid_points(method, grid, n_fit)
    if not points:
        raise ParameterError(
            f"no point of the {method} grid {dict(grid)} fits {n_fit} training samples"
        )
    runner = LocalRunner(jobs) if runner is None else runner
    groups = classical_scale.nest(method, points, variant)
    keep = fits is not None and classical_scale.keeps_fits(method, train_rows)
    calls = [
        (method, variant, fit,
         [classical_scale.nested_values(method, variant, points[i]) for i in indices], seed,
         keep)
        for fit, indices in groups
    ]
    data = (X_train, y_train, X_val, y_val, train_rows)
    scores = [None] * len(points)
    results = runner.map(classical_scale.score_group, calls, data)
    for (fit, indices), (group_scores, model) in zip(groups, results, strict=True):
        for i, score in zip(indices, group_scores, strict=True):
            scores[i] = score
        fitted = [i for i in indices if points[i] == fit]  # the point the fit is
        if model is not None and fitted:
            fits[fitted[0]] = model
    return [{"params": p, "val_accuracy": s} for p, s in zip(points, scores, strict=True)]


def best_index(scored: Sequence[dict]) -> int:
    """Index of the first grid point with the highest validation accuracy (first:
    deterministic ties)."""
    return max(range(len(scored)), key=lambda i: scored[i]["val_accuracy"])


def benchmark_method(
    method: str,
    fs: FeatureSet,
    store: FeatureStore,
    *,
    grid: Mapping[str, Sequence] | None = None,
    seed: int = SEED,
    jobs: int = 1,
    exact_grid: bool = False,
    tune_samples: int | None = None,
    runner=None,
) -> tuple[MethodResult, ClassicalModel]:
    """Tune ``method`` on the validation split, refit on train only, score once on test.

    Unless ``exact_grid``, a large train split is tuned on a stratified subsample of whole
    tracks (at most ``tune_samples`` samples, default the method's
    :data:`~sonicsep.classical_scale.TUNE_SAMPLES`; 0 never subsamples) and the method may be
    swapped for its scaled variant; the chosen point is always refitted on all of train.
    """
    grid = STUDY_GRIDS[method] if grid is None else grid
    runner = LocalRunner(jobs) if runner is None else runner
    X_train, y_train, rows_train = fs.part("train")
    X_val, y_val, rows_val = fs.part("val")
    X_test, y_test, rows_test = fs.part("test")
    classes = np.unique(y_train)
    y_encoded = _encode(y_train, classes)
    variant = classical_scale.choose_variant(method, len(y_train), exact_grid=exact_grid)
    train_rows = None
    if not exact_grid:
        train_rows = classical_scale.tuning_subsample(
            y_train, rows_train, classical_scale.tune_samples(method, tune_samples), seed=seed
        )
    tuned_rows = rows_train if train_rows is None else rows_train[train_rows]
    fits: dict = {}
    start = time.perf_counter()
    scored = tune(
        method,
        grid,
        X_train,
        y_encoded,
        X_val,
        np.where(np.isin(y_val, classes), _encode(y_val, classes), -1),
        seed=seed,
        variant=variant,
        train_rows=train_rows,
        runner=runner,
        fits=fits,
    )
    tune_seconds = time.perf_counter() - start
    chosen = best_index(scored)
    params = scored[chosen]["params"]
    pipeline, fit_seconds = fits.get(chosen), 0.0  # the grid's fit on all of train, if kept
    if pipeline is None:
        start = time.perf_counter()
        pipeline = runner.refit(method, params, seed, variant, X_train, y_encoded)
        fit_seconds = time.perf_counter() - start
    model = ClassicalModel(
        pipeline=pipeline,
        method=method,
        feature_set=fs.name,
        level=fs.level,
        columns=fs.columns,
        genres=store.genres,
        classes=classes,
        params=params,
        feature_config=store.config.to_dict(),
        scores={},
        variant=variant,
    )
    start = time.perf_counter()
    proba_val, proba_test = model.predict_proba(X_val), model.predict_proba(X_test)
    predict_seconds = time.perf_counter() - start
    y_track, pred_track = metrics.track_predictions(proba_test, y_test, rows_test)
    segment_level = fs.level == "segment"
    result = MethodResult(
        method=method,
        feature_set=fs.name,
        level=fs.level,
        params=params,
        grid=scored,
        val_accuracy=metrics.accuracy(y_val, proba_val.argmax(1)),
        val_track_accuracy=metrics.track_accuracy(proba_val, y_val, rows_val),
        test_segment_accuracy=(
            metrics.accuracy(y_test, proba_test.argmax(1)) if segment_level else None
        ),
        test_track_accuracy=metrics.accuracy(y_track, pred_track),
        confusion=metrics.confusion_matrix(y_track, pred_track, len(store.genres)),
        n_samples={s: int((fs.split == s).sum()) for s in SPLITS},
        n_tracks={s: fs.n_tracks(s) for s in SPLITS},
        tune_seconds=tune_seconds,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        variant=variant,
        tuned_on={
            "samples": len(tuned_rows),
            "tracks": len(np.unique(tuned_rows)),
            "subsample": train_rows is not None,
        },
        refitted=chosen not in fits,
    )
    model.scores = {
        "val_accuracy": result.val_accuracy,
        "val_track_accuracy": result.val_track_accuracy,
        "test_segment_accuracy": result.test_segment_accuracy,
        "test_track_accuracy": result.test_track_accuracy,
    }
    return result, model
