"""The dataset registry: one entry per dataset, read by :func:`load_dataset` and by the CLIs.

An entry names the reader and every choice a caller can make of that dataset (its subsets, its
split modes and their default, its reader options and which of them are command-line flags), so
that adding a dataset is one entry here and no edit to ``featurize.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sonicsep.datasets import demo, fma, gtzan
from sonicsep.datasets.base import Dataset
from sonicsep.datasets.splits import RANDOM_SPLIT
from sonicsep.errors import DatasetError, ParameterError


@dataclass(frozen=True)
class ReaderOption:
    """A keyword option of a reader; ``cli_help`` set makes it a flag ``--name-with-dashes``."""

    name: str
    cli_help: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class DatasetSpec:
    """How to read one dataset and what a caller may choose of it.

    Parameters
    ----------
    reader : callable
        ``reader(root, split=..., [subset=...], [seed=...], **options) -> Dataset``; ``subset``
        is passed when ``subsets`` is not empty, ``seed`` when a split mode is "random".
    split_modes : tuple of str
        The split modes the reader takes.
    default_split : str
        The split mode used when the caller names none; one of ``split_modes``.
    subsets : tuple of str
        The subsets, the first the default; empty when the dataset has none.
    options : tuple of ReaderOption
        The reader's keyword options that :func:`load_dataset` passes on.
    needs_root : bool
        False when the reader finds or makes the dataset itself (the demo corpus).
    """

    reader: Callable[..., Dataset]
    split_modes: tuple[str, ...]
    default_split: str
    subsets: tuple[str, ...] = ()
    options: tuple[ReaderOption, ...] = ()
    needs_root: bool = True

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(option.name for option in self.options)


DATASETS: dict[str, DatasetSpec] = {
    "demo": DatasetSpec(
        reader=demo.load_demo,
        split_modes=demo.SPLIT_MODES,
        default_split=demo.DEFAULT_SPLIT,
        options=(ReaderOption("demo_seed"), ReaderOption("n_per_genre"),
                 ReaderOption("clip_seconds")),
        needs_root=False,
    ),
    "gtzan": DatasetSpec(
        reader=gtzan.load_gtzan,
        split_modes=gtzan.SPLIT_MODES,
        default_split=gtzan.DEFAULT_SPLIT,
        options=(ReaderOption("split_dir", "GTZAN: folder of {train,valid,test}_SPLIT.txt "
                              "(default: the Kereliuk et al. 2015 lists shipped with sonicsep)"),),
    ),
    "fma": DatasetSpec(
        reader=fma.load_fma,
        split_modes=fma.SPLIT_MODES,
        default_split=fma.DEFAULT_SPLIT,
        subsets=fma.SUBSETS,
        options=(
            ReaderOption("tracks_csv", "FMA: tracks.csv (default ROOT/fma_metadata/tracks.csv)"),
            ReaderOption("echonest_csv", "FMA: echonest.csv (default: beside tracks.csv)"),
            ReaderOption("audio_dir", "FMA: audio folder (default ROOT/fma_SUBSET)"),
        ),
    ),
}
# The names at import time; code that must see entries added later reads DATASETS itself.
DATASET_NAMES = tuple(DATASETS)


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of ``name``; :class:`DatasetError` naming the valid names if none."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; valid names: {tuple(DATASETS)}")
    return DATASETS[name]


def load_dataset(name: str, root=None, subset: str | None = None, split: str | None = None,
                 seed: int = 0, **options) -> Dataset:
    """Read a dataset by name into a :class:`Dataset`.

    Parameters
    ----------
    name : {"demo", "gtzan", "fma"}
        A key of :data:`DATASETS`.
    root : path or None
        The dataset folder; required for GTZAN and FMA. For "demo", None means
        :func:`~sonicsep.datasets.demo.default_demo_root`; the corpus is made there if missing.
    subset : str or None
        FMA's "small", "medium" or "large"; None picks the dataset's first subset ("small").
        An error for a dataset without subsets.
    split : str or None
        None picks the dataset's default: "filtered" (the fault-filtered split of Kereliuk,
        Sturm & Larsen 2015) for GTZAN, "official" for FMA, "random" for demo. GTZAN also takes
        "stratified" and "random" (which warns: it leaks artists across splits).
    seed : int
        Seed of a random split.
    **options
        Reader-specific: GTZAN ``split_dir``; FMA ``tracks_csv``, ``echonest_csv``,
        ``audio_dir``; demo ``demo_seed`` (the corpus's synthesis seed, default 0),
        ``n_per_genre`` and ``clip_seconds`` (see :func:`~sonicsep.datasets.demo.make_demo`).
    """
    spec = dataset_spec(name)
    unknown = sorted(set(options) - set(spec.option_names))
    if unknown:
        raise ParameterError(f"load_dataset({name!r}) got unknown options {unknown}; it takes "
                             f"{spec.option_names}")
    split = split or spec.default_split
    if split not in spec.split_modes:
        raise ParameterError(f"load_dataset({name!r}) got split={split!r}; the {name} split "
                             f"modes are {spec.split_modes}")
    if spec.subsets:
        options["subset"] = subset or spec.subsets[0]
    elif subset is not None:
        raise ParameterError(f"load_dataset({name!r}) got subset={subset!r}; {name} has no "
                             "subsets")
    if RANDOM_SPLIT in spec.split_modes:  # the seed only means something to a random split
        options["seed"] = seed
    if spec.needs_root and root is None:
        raise DatasetError(f"load_dataset({name!r}) needs root=, the folder of the dataset")
    return spec.reader(root, split=split, **options)
