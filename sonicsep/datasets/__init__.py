"""Dataset readers: GTZAN, FMA and the synthetic demo corpus, each to one Track table.

:func:`load_dataset` is the one entry point and :data:`DATASETS` the one table of datasets
(see :mod:`sonicsep.datasets.registry`); every reader returns a
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
from sonicsep.datasets.registry import (
    DATASET_NAMES,
    DATASETS,
    DatasetSpec,
    ReaderOption,
    dataset_spec,
    load_dataset,
)

__all__ = [
    "DATASETS",
    "DATASET_NAMES",
    "ECHONEST_FEATURES",
    "SPLITS",
    "TRACK_COLUMNS",
    "Dataset",
    "DatasetSpec",
    "DatasetWarning",
    "ReaderOption",
    "dataset_spec",
    "load_dataset",
]
