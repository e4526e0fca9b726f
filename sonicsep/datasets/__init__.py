"""Dataset readers: GTZAN, FMA and the synthetic demo corpus, each to one Track table.

:func:`load_dataset` is the one entry point; every reader returns a
:class:`~sonicsep.datasets.base.Dataset` whose ``tracks`` follow
:data:`~sonicsep.datasets.base.TRACK_COLUMNS`.
"""

from __future__ import annotations

from sonicsep.datasets.base import (
    ECHONEST_FEATURES,
    SPLITS,
    TRACK_COLUMNS,
    Dataset,
    DatasetWarning,
)
from sonicsep.datasets.demo import ensure_demo
from sonicsep.datasets.fma import load_fma
from sonicsep.datasets.gtzan import load_gtzan
from sonicsep.errors import DatasetError, ParameterError

DATASET_NAMES = ("demo", "gtzan", "fma")
# Reader-specific keyword options that load_dataset passes on.
_OPTIONS = {"demo": ("demo_seed", "n_per_genre", "clip_seconds"), "gtzan": ("split_dir",),
            "fma": ("tracks_csv", "echonest_csv", "audio_dir")}

__all__ = [
    "DATASET_NAMES",
    "ECHONEST_FEATURES",
    "SPLITS",
    "TRACK_COLUMNS",
    "Dataset",
    "DatasetWarning",
    "load_dataset",
]


def load_dataset(name: str, root=None, subset: str = "small", split: str | None = None,
                 seed: int = 0, **options) -> Dataset:
    """Read a dataset by name into a :class:`Dataset`.

    Parameters
    ----------
    name : {"demo", "gtzan", "fma"}
    root : path or None
        The dataset folder; required for GTZAN and FMA. For "demo", None means
        :func:`~sonicsep.datasets.demo.default_demo_root`; the corpus is made there if missing.
    subset : {"small", "medium", "large"}
        FMA only.
    split : str or None
        None picks each dataset's default: "random" (49/21/30 stratified by genre, seeded) for
        GTZAN and demo, "official" for FMA. GTZAN also takes "filtered" and "stratified".
    seed : int
        Seed of the random split.
    **options
        Reader-specific: GTZAN ``split_dir``; FMA ``tracks_csv``, ``echonest_csv``,
        ``audio_dir``; demo ``demo_seed`` (the corpus's synthesis seed, default 0),
        ``n_per_genre`` and ``clip_seconds`` (see :func:`~sonicsep.datasets.demo.make_demo`).
    """
    if name not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}; valid names: {DATASET_NAMES}")
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        raise ParameterError(f"load_dataset({name!r}) got unknown options {unknown}; it takes "
                             f"{_OPTIONS[name]}")
    if name == "demo":
        if split not in (None, "random"):
            raise ParameterError(f"the demo corpus has only the random split, got {split!r}")
        corpus = {key: value for key, value in options.items() if key != "demo_seed"}
        demo_root = ensure_demo(root, seed=options.get("demo_seed", 0), **corpus)
        return load_gtzan(demo_root, split="random", seed=seed, name="demo")
    if root is None:
        raise DatasetError(f"load_dataset({name!r}) needs root=, the folder of the dataset")
    if name == "gtzan":
        return load_gtzan(root, split=split, seed=seed, **options)
    return load_fma(root, subset=subset, split=split, **options)
