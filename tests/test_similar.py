"""``python -m sonicsep.similar`` and ModelEmbedder: self-match, index reuse, exactness, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers import TINY_FEATURES, make_demo_store, track_path, train_tiny_cnn

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
    assert lines[1].split() == ["rank", "track", "genre", "distance"]
    assert lines[2].split()[:2] == ["1", store.strings("track")[0]]
    assert float(lines[2].split()[-1]) < 1e-3 < float(lines[3].split()[-1])


def test_an_index_saved_by_an_older_version_is_rebuilt(store):
    folder = similar.index_folder(store.url, "summary")
    similar.load_or_build_index(store)
    (folder / "meta.json").write_text(json.dumps({"kind": "summary", "fingerprint": "x"}))
    assert similar.SimilarityIndex.load(folder) is None
    index = similar.load_or_build_index(store)
    assert index.index_name == "summary" and index.fingerprint == store.fingerprint()
    assert json.loads((folder / "meta.json").read_text())["index_name"] == "summary"


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


@pytest.mark.parametrize("max_block_bytes", [1, 2**30])
def test_track_vectors_stream_blocks_and_average_every_track(store, built, monkeypatch,
                                                               max_block_bytes):
    """One chunk per block or the whole array in one: the same mean embedding of every track."""
    from sonicsep.nn.embedding import ModelEmbedder

    embedder = ModelEmbedder.load(built[1], store)
    blocks = []
    stream = store.iter_segment_blocks

    def recording(name, rows, segments):
        for picks, values in stream(name, rows, segments, max_block_bytes=max_block_bytes):
            blocks.append(picks)
            yield picks, values

    monkeypatch.setattr(store, "iter_segment_blocks", recording)
    rows, vectors = embedder.track_vectors(store)
    chunk = store.array("mel_db").chunks[0]
    assert len(blocks) == (-(-store.n_tracks // chunk) if max_block_bytes == 1 else 1)
    assert list(rows) == list(range(store.n_tracks))
    whole = store.array("mel_db")[:]
    expected = [embedder.model.embed(whole[r, :3]).mean(axis=0) for r in range(store.n_tracks)]
    np.testing.assert_allclose(vectors, expected, rtol=1e-4, atol=1e-5)


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


def _index(vectors: np.ndarray) -> similar.SimilarityIndex:
    n, dim = vectors.shape
    return similar.SimilarityIndex(
        "test", vectors.astype(np.float32), np.arange(n).astype(str), np.full(n, "g"),
        np.zeros(dim), np.ones(dim), "f",
    )


def _brute_force(index: similar.SimilarityIndex, query: np.ndarray, k: int):
    """(rows, distances) of the k nearest: every distance in float64, ties by row."""
    diff = index.vectors.astype(np.float64) - np.float32(query).astype(np.float64)
    d2 = (diff**2).sum(axis=1)
    rows = np.lexsort((np.arange(len(d2)), d2))[:k]
    return list(rows), np.sqrt(d2[rows])


def _check_exact(index, queries, k):
    for q in queries:
        hits = index.query(q, k)
        rows, distances = _brute_force(index, q, k)
        assert [int(t) for t, _, _ in hits] == rows
        # float64 sums of another order: equal to the last bits
        np.testing.assert_allclose([d for _, _, d in hits], distances, rtol=1e-14, atol=0)


def test_query_is_exact_against_brute_force():
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 1, (3000, 20)) * rng.uniform(0.1, 100, 20)
    mean, scale = similar.standardiser(raw)
    index = _index((raw - mean) / scale)
    _check_exact(index, index.vectors[:50] + rng.normal(0, 0.3, (50, 20)).astype(np.float32), 10)
    assert len(index.query(index.vectors[0], 10_000)) == 3000


def test_query_is_exact_on_nearly_tied_and_duplicated_vectors():
    """2000 vectors 1e-7 apart (relative), below float32's resolution of their distances."""
    rng = np.random.default_rng(7)
    centre = rng.normal(0, 1, 24)
    vectors = centre * (1 + rng.normal(0, 1e-7, (2000, 24)))
    vectors[100:110] = vectors[5]  # duplicates: the same distance, ranked by row
    vectors[1990:] = vectors[1500]
    index = _index(vectors)
    near = (centre * (1 + rng.normal(0, 1e-7, (30, 24)))).astype(np.float32)
    _check_exact(index, [*near, np.float32(centre), index.vectors[5], index.vectors[1500]], 15)


def test_query_breaks_exact_distance_ties_by_row():
    """Small integer vectors: many tracks at exactly the same distance."""
    rng = np.random.default_rng(8)
    index = _index(rng.integers(-2, 3, (2000, 6)).astype(np.float64))
    queries = rng.integers(-2, 3, (20, 6)).astype(np.float32)
    _check_exact(index, queries, 25)
    hits = index.query(queries[0], 25)
    assert len({d for _, _, d in hits}) < 25  # there were ties to break


def test_float32_distance_bound_holds_where_cancellation_is_worst():
    """Long, large, nearly equal vectors: the float32 expansion loses most of its digits."""
    rng = np.random.default_rng(3)
    dim = 512
    vectors = (1000 + rng.normal(0, 1e-3, (500, dim))).astype(np.float32)
    query = vectors[0] + np.float32(1e-3)
    exact = ((vectors.astype(np.float64) - query.astype(np.float64)) ** 2).sum(axis=1)
    sq_norms = np.einsum("ij,ij->i", vectors, vectors)
    fast = sq_norms - np.float32(2) * (vectors @ query) + query @ query
    sq_sum = np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64) + float(
        query.astype(np.float64) @ query.astype(np.float64)
    )
    error = np.abs(fast.astype(np.float64) - exact)
    bound = np.array([similar.float32_distance_bound(dim, s) for s in sq_sum])
    assert (error <= bound).all()
    assert error.max() > exact.max()  # the float32 distances alone are useless here
    assert similar.float32_distance_bound(dim, 1.0) == pytest.approx(
        2 * dim * 2.0**-24 / (1 - dim * 2.0**-24) + 7 * 2.0**-24
    )
