"""``python -m sonicsep.similar`` and ModelEmbedder: self-match, index reuse, exactness, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from test_predict import TINY_FEATURES, make_demo_store, track_path, train_tiny_cnn

from sonicsep import similar
from sonicsep.errors import ModelError
from sonicsep.store import FAILED, FeatureStore


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A demo store and a tiny CNN trained on it."""
    folder = tmp_path_factory.mktemp("similar")
    store = make_demo_store(folder)
    return store, train_tiny_cnn(store, folder / "cnn")


@pytest.fixture
def store(built, tmp_path):
    """A private copy of the store, so index files and status edits stay in one test."""
    url = tmp_path / "store.zarr"
    shutil.copytree(built[0].url, url)
    return FeatureStore.open(str(url))


def _query(capsys, store, files, *extra) -> tuple[int, dict]:
    code = similar.main(["--store", store.url, "--json", *extra, *map(str, files)])
    return code, json.loads(capsys.readouterr().out)


def test_a_store_track_finds_itself_first_at_distance_zero(store, capsys):
    tracks = store.tracks()
    rows = [0, 9, 17]
    code, out = _query(capsys, store, [track_path(store, r) for r in rows], "-k", "4")
    assert code == 0
    for row in rows:
        hits = out[track_path(store, row)]
        assert len(hits) == 4
        assert hits[0]["track_id"] == tracks.at[row, "track_id"]
        assert hits[0]["genre"] == tracks.at[row, "genre"]
        assert hits[0]["distance"] < 1e-3 < hits[1]["distance"]
        assert [h["distance"] for h in hits] == sorted(h["distance"] for h in hits)


def test_the_index_is_saved_reused_and_rebuilt_when_the_store_changes(store, capsys,
                                                                     monkeypatch):
    query = [track_path(store, 5)]
    assert _query(capsys, store, query)[0] == 0
    folder = similar.index_folder(store.url, "summary")
    assert folder == similar.index_folder(store.url + "/", "summary")
    assert {p.name for p in folder.iterdir()} >= {"vectors.npy", "meta.json"}

    built = []
    real_build = similar.build_index

    def counting_build(*args, **kwargs):
        built.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(similar, "build_index", counting_build)
    code, before = _query(capsys, store, query)
    assert code == 0 and built == []  # reused

    # A track fails on a rerun: the store changed, so the index is rebuilt without it.
    gone = before[query[0]][1]["track_id"]
    row = list(store.strings("track")).index(gone)
    FeatureStore.open(store.url, mode="r+").group["status"][row] = FAILED
    code, after = _query(capsys, store, query)
    assert code == 0 and built == [1]
    assert gone not in [h["track_id"] for h in after[query[0]]]
    _query(capsys, store, query)
    assert built == [1]  # the rebuilt index was saved
    _query(capsys, store, query, "--rebuild")
    assert built == [1, 1]


def test_bad_files_exit_3_and_the_others_are_answered(store, capsys, tmp_path):
    garbage = tmp_path / "garbage.ogg"
    garbage.write_bytes(b"\x00" * 5000)
    good = track_path(store, 2)
    files = [str(garbage), good, str(tmp_path / "missing.wav")]
    code = similar.main(["--store", store.url, "--json", "-k", "2", *files])
    printed = capsys.readouterr()
    out = json.loads(printed.out)
    assert code == similar.EXIT_PARTIAL
    assert len(out[good]) == 2
    assert "cannot decode" in out[str(garbage)]["error"]
    assert "does not exist" in out[files[2]]["error"]
    assert "error: 2 of 3 files could not be searched" in printed.err


def test_text_output_ranks_neighbours(store, capsys):
    assert similar.main(["--store", store.url, "-k", "2", track_path(store, 0)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{track_path(store, 0)}:"
    assert lines[1].split()[:2] == ["1.", store.strings("track")[0]]


def test_a_model_embedding_finds_the_track_itself_first(store, built, capsys):
    _, workdir = built
    rows = [1, 13]
    code, out = _query(capsys, store, [track_path(store, r) for r in rows], "--model",
                       str(workdir), "-k", "3")
    assert code == 0
    track_ids = store.strings("track")
    for row in rows:
        hits = out[track_path(store, row)]
        assert hits[0]["track_id"] == track_ids[row]
        assert hits[0]["distance"] < 0.01 * hits[1]["distance"]
    kinds = {p.name for p in similar.index_folder(store.url, "x").parent.iterdir()}
    assert len(kinds) == 1 and next(iter(kinds)).startswith("model-")


def test_track_vectors_read_one_chunk_at_a_time(store, built, monkeypatch):
    from sonicsep.nn.embedding import ModelEmbedder

    embedder = ModelEmbedder.load(built[1], store)
    mel = store.array("mel_db")
    reads = []

    class Recording:
        chunks, shape = mel.chunks, mel.shape

        def __getitem__(self, key):
            reads.append(key)
            return mel[key]

    monkeypatch.setattr(store, "array", lambda name: Recording() if name == "mel_db" else None)
    rows, vectors = embedder.track_vectors(store)
    per_chunk = mel.chunks[0]
    assert reads and all(k.stop - k.start <= per_chunk for k in reads)
    assert len(reads) == -(-store.n_tracks // per_chunk)
    assert list(rows) == list(range(store.n_tracks))
    whole = mel[:]
    expected = [embedder.model.embed(whole[r, :3]).mean(axis=0) for r in (0, store.n_tracks - 1)]
    np.testing.assert_allclose(vectors[[0, -1]], expected, rtol=1e-4, atol=1e-5)


def test_a_model_of_another_feature_config_is_refused(built, tmp_path, capsys):
    other = make_demo_store(tmp_path, n_per_genre=1, config=TINY_FEATURES.replace(n_mels=12))
    code = similar.main(["--store", other.url, "--model", str(built[1]), "x.wav"])
    assert code == similar.EXIT_USAGE
    err = capsys.readouterr().err
    assert "another feature config" in err and "n_mels (16 vs 12)" in err
    from sonicsep.nn.embedding import ModelEmbedder

    with pytest.raises(ModelError, match="n_mels"):
        ModelEmbedder.load(built[1], other)


def test_usage_errors_exit_2(tmp_path, capsys):
    assert similar.main(["--store", str(tmp_path / "none.zarr"), "x.wav"]) == 2
    assert "no feature store" in capsys.readouterr().err
    assert similar.main(["--store", str(tmp_path), "-k", "0", "x.wav"]) == 2


def test_query_is_exact_against_brute_force():
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 1, (3000, 20)) * rng.uniform(0.1, 100, 20)
    mean, scale = similar.standardiser(raw)
    index = similar.SimilarityIndex(
        "test", ((raw - mean) / scale).astype(np.float32), np.arange(3000).astype(str),
        np.full(3000, "g"), mean, scale, "f",
    )
    for q in index.vectors[:50] + rng.normal(0, 0.3, (50, 20)).astype(np.float32):
        exact = np.argsort(np.linalg.norm(index.vectors.astype(np.float64) - q, axis=1))[:10]
        hits = index.query(q, 10)
        assert [int(t) for t, _, _ in hits] == list(exact)
        np.testing.assert_allclose(
            [d for _, _, d in hits],
            np.linalg.norm(index.vectors[exact].astype(np.float64) - q, axis=1), rtol=1e-4,
        )
    assert len(index.query(index.vectors[0], 10_000)) == 3000
