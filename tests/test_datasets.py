"""The dataset registry, load_dataset dispatch, and the one Track table schema."""

from __future__ import annotations

import pandas as pd
import pytest

from sonicsep.datasets import (
    DATASET_NAMES,
    DATASETS,
    SPLITS,
    TRACK_COLUMNS,
    Dataset,
    DatasetSpec,
    DatasetWarning,
    ReaderOption,
    fma,
    gtzan,
    load_dataset,
)
from sonicsep.datasets.base import track_table
from sonicsep.errors import DatasetError, ParameterError


def _frame(**changes):
    rows = {"track_id": ["b", "a"], "path": ["/x/b.wav", "/x/a.wav"], "genre": ["rock", "jazz"],
            "split": ["test", "train"]}
    rows.update(changes)
    return pd.DataFrame(rows)


def test_track_table_schema():
    table = track_table(_frame(), ("jazz", "rock"))
    assert tuple(table.columns) == TRACK_COLUMNS
    assert list(table["track_id"]) == ["a", "b"] and list(table["label"]) == [0, 1]
    assert table["label"].dtype == "int64" and table["duration"].dtype == "float64"
    assert table[["duration", "tempo"]].isna().all().all()
    assert list(table.index) == [0, 1]


@pytest.mark.parametrize(("changes", "message"), [
    ({"genre": ["rock", "polka"]}, "polka"),
    ({"split": ["test", "dev"]}, "dev"),
    ({"track_id": ["a", "a"]}, "duplicate"),
])
def test_track_table_rejects_malformed_rows(changes, message):
    with pytest.raises(DatasetError, match=message):
        track_table(_frame(**changes), ("jazz", "rock"))


def test_dataset_split_view():
    dataset = Dataset("x", root=None, genres=("jazz", "rock"),
                      tracks=track_table(_frame(), ("jazz", "rock")))
    assert list(dataset.split("train")["track_id"]) == ["a"]
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        dataset.split("dev")
    assert SPLITS == ("train", "val", "test")


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match=r"unknown dataset 'mnist'.*'demo', 'gtzan', 'fma'"):
        load_dataset("mnist")
    assert DATASET_NAMES == ("demo", "gtzan", "fma")


@pytest.mark.parametrize("name", ["gtzan", "fma"])
def test_root_is_required(name):
    with pytest.raises(DatasetError, match="needs root="):
        load_dataset(name)


def test_registry_holds_each_datasets_choices():
    assert DATASET_NAMES == tuple(DATASETS) == ("demo", "gtzan", "fma")
    assert DATASETS["gtzan"].default_split == "filtered" == gtzan.DEFAULT_SPLIT
    assert DATASETS["gtzan"].split_modes == ("filtered", "stratified", "random")
    assert DATASETS["fma"].subsets == fma.SUBSETS == ("small", "medium", "large")
    assert DATASETS["fma"].split_modes == ("official",)
    assert DATASETS["demo"].split_modes == ("random",) and not DATASETS["demo"].needs_root
    assert DATASETS["gtzan"].option_names == ("split_dir",)


def _toy_spec(calls: list) -> DatasetSpec:
    def read_toy(root, split, subset, seed, toy_file=None):
        calls.append({"root": root, "split": split, "subset": subset, "seed": seed,
                      "toy_file": toy_file})
        return "the toy dataset"

    return DatasetSpec(reader=read_toy, split_modes=("halves", "random"), default_split="halves",
                       subsets=("tiny", "huge"), options=(ReaderOption("toy_file", "Toy: a file"),))


def test_a_registered_dataset_is_loaded_with_its_defaults(monkeypatch):
    calls = []
    monkeypatch.setitem(DATASETS, "toy", _toy_spec(calls))
    assert load_dataset("toy", root="/r", toy_file="f") == "the toy dataset"
    assert calls == [{"root": "/r", "split": "halves", "subset": "tiny", "seed": 0,
                      "toy_file": "f"}]
    load_dataset("toy", root="/r", subset="huge", split="random", seed=5)
    assert calls[1] == {"root": "/r", "split": "random", "subset": "huge", "seed": 5,
                        "toy_file": None}
    with pytest.raises(ParameterError, match=r"split='official'; the toy split modes are "
                                             r"\('halves', 'random'\)"):
        load_dataset("toy", root="/r", split="official")


def test_subset_of_a_dataset_without_subsets(gtzan_root):
    with pytest.raises(ParameterError, match="subset='small'; gtzan has no subsets"):
        load_dataset("gtzan", root=gtzan_root, subset="small")


def test_unknown_option(gtzan_root):
    with pytest.raises(ParameterError, match=r"unknown options \['tracks_csv'\]"):
        load_dataset("gtzan", root=gtzan_root, tracks_csv="x.csv")


def test_dispatch_to_gtzan(gtzan_root):
    with pytest.warns(DatasetWarning, match="hiphop.00001"):  # not in the filtered split
        dataset = load_dataset("gtzan", root=gtzan_root)
    assert dataset.name == "gtzan" and len(dataset.tracks) == 19
    with pytest.warns(DatasetWarning, match="random GTZAN split"):
        random = load_dataset("gtzan", root=gtzan_root, split="random", seed=1)
    assert len(random.tracks) == 20
