"""load_dataset dispatch and the one Track table schema."""

from __future__ import annotations

import pandas as pd
import pytest

from sonicsep.datasets import DATASET_NAMES, SPLITS, TRACK_COLUMNS, Dataset, load_dataset
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


def test_unknown_option(gtzan_root):
    with pytest.raises(ParameterError, match=r"unknown options \['tracks_csv'\]"):
        load_dataset("gtzan", root=gtzan_root, tracks_csv="x.csv")


def test_dispatch_to_gtzan(gtzan_root):
    dataset = load_dataset("gtzan", root=gtzan_root, seed=1)
    assert dataset.name == "gtzan" and len(dataset.tracks) == 20
