"""What keeps the classical baselines bounded at FMA scale: scaled method variants, nested grid
points that share one fit, and the stratified track-level subsample that tuning may use.

A *variant* names the estimator a method's grid point is fitted with: ``"exact"`` is the study's
(SVC, brute-force kNN, unbounded forests), the others scale to fma_large's ~640k training
segments. :func:`choose_variant` picks one from the number of training samples; the crossovers
are measured (``benchmarks/bench_classical.py --crossover``), and ``--exact-grid`` forces
``"exact"``.

A *group* is the grid points that differ only in a nested hyperparameter, scored from one fit:
a forest of the largest ``n_estimators`` scored on its first trees, XGBoost through
``iteration_range``, kNN from one neighbour query of the largest ``n_neighbors``. Each group's
scores equal those of separate fits (tests check it), so the grid is the study's, only cheaper.
Above :data:`FOREST_TRUNCATE_MIN_SAMPLES` a forest's ``max_depth`` nests too (the
``"truncated"`` variant): one forest is grown to the deepest point's depth and scored at each
shallower ``max_depth`` by reading every tree down to that depth only. The top ``d`` levels of
a tree grown deeper are a tree grown to depth ``d`` from other draws of the same random
feature choices, so the scores are those of separate depth-limited forests in distribution,
not bit for bit; the chosen point is refitted exactly.

:func:`score_group` is the task function both the local joblib run and a Dask cluster run, so it
lives in this importable module (a task pickles its function by module and name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sonicsep import metrics

EXACT = "exact"
# Above this many training samples the calibrated kernel SVC (quadratic or worse in samples,
# 6 fits with 5-fold calibration) is replaced: measured with `bench_classical.py --crossover`.
SVM_EXACT_MAX_SAMPLES = 20_000
# Above this many the forest's max_depth points are scored from one forest (truncated trees):
# at fma_small's 38k training segments the five depths cost 5 fits of 200 trees, ~870 CPU-s
# under load 3 (depth 10: 0.53 s a tree, 30: 1.1 s, deeper: 0.9 s), against one.
FOREST_TRUNCATE_MIN_SAMPLES = 20_000
# Above this many the forest's leaves are bounded (see VARIANTS): a fully grown tree of 640k
# noisy segments has ~10^5-10^6 nodes at ~200 bytes each, and 200 of them do not fit in memory.
FOREST_EXACT_MAX_SAMPLES = 100_000
FOREST_LEAF_SAMPLES = 10_000  # a scaled tree has at most about this many leaves
NYSTROEM_COMPONENTS = 300
# Each method's grid is tuned on at most this many training samples (a stratified subsample of
# whole tracks, :func:`tuning_subsample`); the chosen point is refitted on all of train.
# GTZAN-sized stores (<= 4,800 training segments) tune every method on all of train. On the
# fma_small-shaped store (38k training segments, load 4-6) the grids of SVM (scaled) and MLP
# cost 13.6 and 17.2 CPU-s on 2,000 samples, 21.8 and 42.2 on 4,000, against 301 and 701 s
# (wall, 2 processes) on all of train. kNN's 15 points are one neighbour query, a fraction of
# what its refit's predictions cost, so it keeps the fma_large-era bound. With these sizes the
# fma_small-shaped benchmark of kNN, SVM, forest and MLP ran in 156 s wall, 184 CPU-s (README).
# XGBoost's 8,000 is not measured as a whole grid: its refit on all of train dominates anyway.
TUNE_SAMPLES = {
    "knn": 100_000,
    "svm": 8_000,
    "random_forest": 8_000,
    "xgboost": 8_000,
    "mlp": 8_000,
}

# Methods whose grid fits on all of train are kept, so that the chosen one is the model
# instead of being fitted again: the calibrated SVC (6 SVC fits a point, the longest refit
# of a GTZAN-sized store) and the MLP, both with models of at most a few MB. A forest's or
# kNN's model can be as large as its training data, so theirs are refitted.
KEPT_FITS = ("svm", "mlp")

TRUNCATED = ("max_depth points scored from one forest grown to the deepest point, each tree "
             "read down to the point's depth (separate depth-limited forests in distribution, "
             "not bit for bit); the chosen point refitted exactly")
VARIANTS = {
    ("svm", "scaled"): "linear: calibrated LinearSVC; rbf/poly: calibrated Nystroem "
    f"({NYSTROEM_COMPONENTS} components, SVC's gamma/degree/coef0) + SGDClassifier (hinge)",
    ("random_forest", "truncated"): TRUNCATED,
    ("random_forest", "scaled"): f"{TRUNCATED}; leaves of at least n_train/"
    f"{FOREST_LEAF_SAMPLES} samples (min_samples_leaf) so 200 trees fit in memory",
}


def variant_table() -> list[dict]:
    """Every non-exact variant, above how many training samples it replaces the study's."""
    above = {("svm", "scaled"): SVM_EXACT_MAX_SAMPLES,
             ("random_forest", "truncated"): FOREST_TRUNCATE_MIN_SAMPLES,
             ("random_forest", "scaled"): FOREST_EXACT_MAX_SAMPLES}
    return [{"method": m, "variant": v, "above_train_samples": above[m, v], "what": text}
            for (m, v), text in VARIANTS.items()]


# The hyperparameter whose grid values share one fit, per method.
NESTED = {"random_forest": "n_estimators", "xgboost": "n_estimators", "knn": "n_neighbors"}
# Hyperparameters that change only the speed of a fit, never its predictions: grid points that
# differ only in them share one fit. kNN's leaf_size sizes the tree index of an exact search
# (and is unused by brute force, which sklearn picks above 15 features).
SPEED_ONLY = {"knn": ("leaf_size",)}


def choose_variant(method: str, n_train: int, *, exact_grid: bool = False) -> str:
    """The estimator variant ``method`` is fitted with on ``n_train`` training samples."""
    if exact_grid:
        return EXACT
    if method == "svm" and n_train > SVM_EXACT_MAX_SAMPLES:
        return "scaled"
    if method == "random_forest" and n_train > FOREST_EXACT_MAX_SAMPLES:
        return "scaled"
    if method == "random_forest" and n_train > FOREST_TRUNCATE_MIN_SAMPLES:
        return "truncated"
    return EXACT


def nested_keys(method: str, variant: str = EXACT) -> tuple[str, ...]:
    """The hyperparameters whose grid values one fit of ``method``'s ``variant`` scores."""
    if method == "random_forest" and variant != EXACT:
        return ("n_estimators", "max_depth")
    return (NESTED[method],) if method in NESTED else ()


def forest_min_leaf(n_train: int) -> int:
    """min_samples_leaf of a scaled forest: at most ~FOREST_LEAF_SAMPLES leaves per tree."""
    return max(1, -(-n_train // FOREST_LEAF_SAMPLES))


def scaled_svm(params: Mapping, *, seed: int, n_train: int):
    """The uncalibrated scalable SVM equivalent to ``SVC(**params)`` (see :data:`VARIANTS`).

    Nystroem's defaults are matched to SVC's: on standardised inputs SVC's ``gamma='scale'`` is
    1/n_features, Nystroem's ``gamma=None``; SVC's poly kernel has ``coef0=0``.
    """
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    kernel = params.get("kernel", "rbf")
    if kernel == "linear":
        return LinearSVC(random_state=seed)
    nystroem = Nystroem(
        kernel=kernel,
        degree=params.get("degree", 3),
        coef0=params.get("coef0", 0.0),
        n_components=min(NYSTROEM_COMPONENTS, n_train),
        random_state=seed,
    )
    return Pipeline([("nystroem", nystroem), ("sgd", SGDClassifier(random_state=seed))])


# ---------------------------------------------------------------------- nested grid points
def nest(
    method: str, points: Sequence[Mapping], variant: str = EXACT
) -> list[tuple[dict, list[int]]]:
    """Group ``points`` that differ only in the nested hyperparameters (:func:`nested_keys`).

    Returns ``[(fit_params, indices)]`` in order of first appearance: ``fit_params`` is the
    group's point with the largest nested values (``max_depth=None`` is the largest),
    ``indices`` the group's points in ``points``. Methods without a nested hyperparameter get
    one group per point.
    """
    keys = [k for k in nested_keys(method, variant) if any(k in p for p in points)]
    ignored = (*keys, *SPEED_ONLY.get(method, ()))
    groups: dict[tuple, list[int]] = {}
    for i, point in enumerate(points):
        rest = tuple(sorted((k, repr(v)) for k, v in point.items() if k not in ignored))
        groups.setdefault(rest if keys else (i,), []).append(i)
    out = []
    for indices in groups.values():
        fit = dict(points[indices[0]])
        for key in keys:
            values = [points[i].get(key) for i in indices]
            fit[key] = None if None in values else max(values)
        out.append((fit, indices))
    return out


def nested_values(method: str, variant: str, point: Mapping):
    """What :func:`nested_probabilities` is asked for to score ``point``: the value of the
    nested hyperparameter, or a tuple of them when the variant nests several."""
    keys = nested_keys(method, variant)
    if len(keys) > 1:
        return tuple(point.get(k) for k in keys)
    return point.get(keys[0]) if keys else None


def nested_probabilities(
    method: str, pipeline, X, values: Sequence, variant: str = EXACT
) -> list[np.ndarray]:
    """Validation probabilities of a fitted group model at every nested ``values``
    (:func:`nested_values` of the points: tuples where the variant nests several).

    Each equals what a model fitted with that value predicts: a forest's first k trees are the
    trees a k-tree forest of the same seed grows, averaged in the same order; XGBoost's first k
    rounds are a k-round model; the k nearest neighbours are the first k of a larger query.
    """
    key = NESTED.get(method)
    model = pipeline[-1]
    if len(nested_keys(method, variant)) > 1:  # a forest's (n_estimators, max_depth)
        return truncated_forest_probabilities(model, pipeline[:-1].transform(X), values)
    if key is None or len(values) == 1 and values[0] == getattr(model, key):
        return [pipeline.predict_proba(X)]
    Xs = pipeline[:-1].transform(X)
    if method == "random_forest":
        Xs = np.asarray(Xs, dtype=np.float32)
        total = np.zeros((len(Xs), model.n_classes_))
        by_count = {}
        for k, tree in enumerate(model.estimators_, start=1):
            total += tree.predict_proba(Xs, check_input=False)
            if k in values:
                by_count[k] = total / k
        return [by_count[v] for v in values]
    if method == "xgboost":
        return [model.predict_proba(Xs, iteration_range=(0, v)) for v in values]
    if method == "knn":
        neighbours = model.kneighbors(Xs, n_neighbors=max(values), return_distance=False)
        labels = model._y[neighbours]  # encoded training labels of each neighbour, nearest first
        n_classes = len(model.classes_)
        out = []
        for k in values:
            counts = np.zeros((len(Xs), n_classes))
            for j in range(k):
                counts[np.arange(len(Xs)), labels[:, j]] += 1
            out.append(counts / k)
        return out
    raise ValueError(f"{method} has no nested hyperparameter")


def truncated_forest_probabilities(forest, X, values: Sequence[tuple]) -> list[np.ndarray]:
    """Probabilities of ``forest``'s first ``n`` trees, each read down to depth ``d`` only,
    for every ``(n, d)`` of ``values`` (``d=None``: the whole tree).

    A sample's node at depth ``d`` is the ``d``-th node of its decision path (root first), or
    its leaf if the path is shorter; the node's class fractions are what a leaf there predicts.
    """
    X = np.asarray(X, dtype=np.float32)
    depths = list(dict.fromkeys(d for _, d in values))
    totals = {d: np.zeros((len(X), forest.n_classes_)) for d in depths}
    wanted = {n for n, _ in values}
    by_point = {}
    for k, tree in enumerate(forest.estimators_, start=1):
        path = tree.decision_path(X, check_input=False)  # each row: its nodes, root first
        last = np.diff(path.indptr) - 1
        fractions = tree.tree_.value[:, 0, :]
        fractions = fractions / fractions.sum(axis=1, keepdims=True)
        for d in depths:
            depth = last if d is None else np.minimum(d, last)
            totals[d] += fractions[path.indices[path.indptr[:-1] + depth]]
        if k in wanted:
            for n, d in values:
                if n == k:
                    by_point[(n, d)] = totals[d] / k
    return [by_point[v] for v in values]


def score_group(
    method: str,
    variant: str,
    fit_params: Mapping,
    values: Sequence,
    seed: int,
    keep: bool,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    train_rows: np.ndarray | None = None,
    n_jobs: int = 1,
) -> tuple[list[float], object]:
    """Fit one group on train (``train_rows`` of it when tuning on a subsample), return the
    validation accuracy at each nested value (labels pre-encoded) and, with ``keep``, the
    fitted pipeline (else None). This is a task function.

    Predicts by argmax probability, exactly as the final model is scored. ``n_jobs`` threads
    fit the estimators that have them (forests, XGBoost, kNN); their results do not depend
    on it.
    """
    from sonicsep.classical import make_pipeline, smallest_class

    if train_rows is not None:
        X_train, y_train = X_train[train_rows], y_train[train_rows]
    model = make_pipeline(
        method, fit_params, seed=seed, n_jobs=n_jobs, smallest_class=smallest_class(y_train),
        variant=variant, n_train=len(y_train),
    )
    model.fit(X_train, y_train)
    probas = nested_probabilities(method, model, X_val, list(values), variant)
    return [metrics.accuracy(y_val, p.argmax(axis=1)) for p in probas], model if keep else None


def keeps_fits(method: str, train_rows: np.ndarray | None) -> bool:
    """Whether ``method``'s grid fits are returned for reuse: when they are fits on all of
    train (no tuning subsample), the chosen point's fit is the model its refit would make,
    the same estimator on the same data and seed. Only for the methods in :data:`KEPT_FITS`,
    whose models are small."""
    return train_rows is None and method in KEPT_FITS


# ---------------------------------------------------------------------- tuning subsample
def tune_samples(method: str, override: int | None = None) -> int:
    """At most how many training samples ``method``'s grid is tuned on: ``override``
    (``--tune-samples``; 0 never subsamples) or the method's :data:`TUNE_SAMPLES`."""
    return TUNE_SAMPLES[method] if override is None else override


def tuning_subsample(
    y: np.ndarray, track_row: np.ndarray, max_samples: int, *, seed: int
) -> np.ndarray | None:
    """Indices of a stratified subsample of whole tracks with about ``max_samples`` samples,
    or None when all of them are at most that many.

    Every genre keeps the same fraction of its tracks (at least one), so the subsample has the
    genre balance of train, and a track's segments are never split between in and out.
    """
    if max_samples <= 0 or len(y) <= max_samples:
        return None
    rng = np.random.default_rng(seed)
    tracks, first = np.unique(track_row, return_index=True)
    track_label = y[first]
    fraction = max_samples / len(y)
    chosen = []
    for genre in np.unique(track_label):
        of_genre = tracks[track_label == genre]
        n = max(1, round(fraction * len(of_genre)))
        chosen.append(rng.choice(of_genre, size=n, replace=False))
    return np.flatnonzero(np.isin(track_row, np.concatenate(chosen)))
