"""The classical baselines' grid on a Dask cluster (``python -m sonicsep.benchmark --scheduler``).

:class:`DaskRunner` has the two methods of :class:`sonicsep.classical.LocalRunner`: ``map``
runs grid groups (:func:`sonicsep.classical_scale.score_group`) as tasks, ``refit`` fits the
chosen point on all of train as one more task. Arrays are scattered to every worker once and
found again by content, so the methods of one feature set share one copy of its training
data on each worker. XGBoost's refit on a large train split trains one model across the
workers through ``xgboost.dask``.

The task functions are :func:`~sonicsep.classical_scale.score_group` and :func:`refit_task`,
both in importable modules: a task pickles its function by module and name, and
``__main__`` (the CLI) does not exist on a worker.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Above this many training samples XGBoost's refit trains across the workers (xgboost.dask)
# instead of on one; below it one worker is quicker than the cluster's coordination.
XGBOOST_DASK_MIN_SAMPLES = 200_000


def refit_task(method, params, seed, variant, X_train, y_train):
    """The chosen grid point fitted on all of train, on a worker: a task function."""
    from sonicsep.classical import make_pipeline, smallest_class

    return make_pipeline(
        method, params, seed=seed, smallest_class=smallest_class(y_train), variant=variant,
        n_train=len(y_train),
    ).fit(X_train, y_train)


class DaskRunner:
    """Runs grid groups and refits on the cluster of ``client``."""

    def __init__(self, client, *, xgboost_dask_above: int = XGBOOST_DASK_MIN_SAMPLES):
        self.client = client
        # XGBoost refits on more training samples than this train across the workers.
        self.xgboost_dask_above = xgboost_dask_above
        self._scattered: dict[str, object] = {}
        self.notes: list[str] = []  # what the run did differently from what was asked

    def scattered(self, array):
        """A future of ``array`` on every worker; the same content is scattered only once."""
        if array is None:
            return None
        from dask.base import tokenize

        token = tokenize(array)
        if token not in self._scattered:
            self._scattered[token] = self.client.scatter(array, broadcast=True, hash=False)
        return self._scattered[token]

    def map(self, fn, calls: Sequence[tuple], data: Sequence) -> list:
        shared = [self.scattered(a) for a in data]
        futures = [self.client.submit(fn, *call, *shared, pure=False) for call in calls]
        return self.client.gather(futures)

    def refit(self, method, params, seed, variant, X_train, y_train):
        if method == "xgboost" and len(y_train) > self.xgboost_dask_above:
            missing = xgboost_dask_missing()
            if missing is None:
                n_workers = len(self.client.nthreads())
                self.notes.append(f"XGBoost's refit on {len(y_train)} samples trained one model "
                                  f"across {n_workers} workers with xgboost.dask.")
                return xgboost_dask_refit(self.client, params, seed, X_train, y_train)
            self.notes.append(f"XGBoost's refit on {len(y_train)} samples ran on one worker: "
                              f"xgboost.dask cannot be imported here ({missing}).")
        future = self.client.submit(
            refit_task, method, params, seed, variant, self.scattered(X_train),
            self.scattered(y_train), pure=False,
        )
        return future.result()


def xgboost_dask_missing() -> str | None:
    """Why ``xgboost.dask`` cannot be imported (it needs dask.dataframe, hence pyarrow), or
    None when it can."""
    try:
        import xgboost.dask  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


def xgboost_dask_refit(client, params, seed, X_train, y_train):
    """One XGBoost model trained across the workers; returned as the local pipeline
    (scaler + ``XGBClassifier``) that ``predict`` loads.

    The scaler is fitted here (one pass over train); the scaled rows go to the workers in as
    many scattered blocks as twice the workers, as a Dask array, dealt to the workers in turn:
    xgboost.dask trains on the workers that hold data, and a plain scatter may put every block
    on one worker (seen on a loopback cluster: one training task instead of two).
    """
    import dask.array as da
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier
    from xgboost.dask import DaskXGBClassifier

    scaler = StandardScaler().fit(X_train)
    workers = sorted(client.nthreads())
    n_blocks = max(1, 2 * len(workers))
    bounds = np.linspace(0, len(y_train), n_blocks + 1).astype(int)
    X_blocks, y_blocks = [], []
    for i, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        to = [workers[i % len(workers)]] if workers else None
        x = scaler.transform(X_train[start:stop]).astype(np.float32)
        X_blocks.append(da.from_delayed(client.scatter(x, workers=to), x.shape, x.dtype))
        y = np.asarray(y_train[start:stop])
        y_blocks.append(da.from_delayed(client.scatter(y, workers=to), y.shape, y.dtype))
    model = DaskXGBClassifier(**params, tree_method="hist", random_state=seed)
    model.client = client
    model.fit(da.concatenate(X_blocks), da.concatenate(y_blocks))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        model.save_model(path)
        local = XGBClassifier()
        local.load_model(path)
    return Pipeline([("scaler", scaler), ("model", local)])
