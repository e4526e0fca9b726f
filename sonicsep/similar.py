"""``python -m sonicsep.similar``: the k tracks of a store nearest to a song.

A track is embedded either by its standardised summary features (the mean over its segments of
the store's ``summary`` vectors, z-scored with statistics of the whole store), or, given a
trained deep model, by the model's embedding averaged over the track's segments
(:class:`sonicsep.nn.embedding.ModelEmbedder`). A query file is featurized with the store's
feature config and embedded the same way, so a store track's own audio file finds itself at
distance ~0.

The index is built once and saved beside the store (``STORE.similar/<kind>/``, kind ``summary``
or ``model-<hash>``) with a fingerprint of the store's content; a later query loads it, and
rebuilds it only when the store changed (tracks finished or failed, another feature config;
``--rebuild`` forces it).
Search is exact Euclidean: one matrix-vector product over every track, a few milliseconds on
100k tracks (``benchmarks/bench_similar.py``), so no approximate index and no recall loss.

Exit codes: 0 answered, 2 usage error, 3 some query files could not be decoded (the others
were answered).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonicsep import metrics
from sonicsep.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, SonicSepError, StoreError
from sonicsep.featurize import featurize_track
from sonicsep.store import DEFAULT_STORE, FeatureStore

INDEX_SUFFIX = ".similar"


@dataclass
class SimilarityIndex:
    """Standardised track vectors with their ids and genres, and the standardiser.

    ``fingerprint`` identifies the store content the index was built from.
    """

    kind: str
    vectors: np.ndarray  # (n_tracks, d) float32, standardised
    track_ids: np.ndarray  # (n_tracks,) str
    genres: np.ndarray  # (n_tracks,) str
    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    fingerprint: str

    def __post_init__(self):
        # Kept so a query costs one matrix-vector product: |a-b|^2 = |a|^2 - 2a.b + |b|^2.
        self._sq_norms = np.einsum("ij,ij->i", self.vectors, self.vectors)

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """A raw vector (summary mean or model embedding) in the index's standardised space."""
        return ((raw - self.mean) / self.scale).astype(np.float32)

    def query(self, vector: np.ndarray, k: int = 10) -> list[tuple[str, str, float]]:
        """The ``k`` nearest tracks to a standardised vector: (track_id, genre, distance).

        Exact: every track's distance is computed, then the ``k`` smallest are sorted.
        """
        k = min(k, len(self.vectors))
        # The expanded form |x|^2 - 2x.q + |q|^2 is one fast matrix product but, in float32,
        # loses ~1e-3 to cancellation near zero; so it only shortlists candidates (with a
        # margin), whose distances are then computed exactly from their differences.
        d2 = self._sq_norms - 2.0 * (self.vectors @ vector) + float(vector @ vector)
        shortlist = np.argpartition(d2, min(len(d2), 2 * k + 8) - 1)[: 2 * k + 8]
        diff = self.vectors[shortlist].astype(np.float64) - vector.astype(np.float64)
        exact = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        order = np.argsort(exact, kind="stable")[:k]
        nearest, distances = shortlist[order], exact[order]
        return [
            (str(self.track_ids[i]), str(self.genres[i]), float(d))
            for i, d in zip(nearest, distances, strict=True)
        ]

    def save(self, folder: Path) -> None:
        """Write the index as .npy arrays (no pickles) and ``meta.json``, which goes last."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "vectors.npy", self.vectors)
        np.save(folder / "standardiser.npy", np.stack([self.mean, self.scale]))
        np.save(folder / "track_ids.npy", self.track_ids.astype(str))
        np.save(folder / "genres.npy", self.genres.astype(str))
        # An index folder without meta.json is incomplete and gets rebuilt.
        (folder / "meta.json").write_text(
            json.dumps({"kind": self.kind, "fingerprint": self.fingerprint})
        )

    @classmethod
    def load(cls, folder: Path) -> SimilarityIndex:
        meta = json.loads((folder / "meta.json").read_text())
        mean, scale = np.load(folder / "standardiser.npy")
        return cls(
            kind=meta["kind"],
            vectors=np.load(folder / "vectors.npy"),
            track_ids=np.load(folder / "track_ids.npy"),
            genres=np.load(folder / "genres.npy"),
            mean=mean,
            scale=scale,
            fingerprint=meta["fingerprint"],
        )


def standardiser(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation (1 where a column is constant).

    Without it, summary columns in large units (spectral centroid in Hz) would decide every
    distance on their own.
    """
    mean = raw.mean(axis=0)
    scale = raw.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def store_fingerprint(store: FeatureStore) -> str:
    """A hash of the store's attributes and track statuses, so a stale index is rebuilt.

    Featurizing changes statuses (pending -> ok or failed; ok tracks are never redone), and a
    store remade with another config, dataset or genre list changes its attributes. Only the
    small ``status`` array is read: every query checks the fingerprint, and each extra per-track
    array costs ~0.2 s on a 100k-track store (one small chunk per shard).
    """
    digest = hashlib.sha256(json.dumps(store.attrs, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(store.group["status"][:]).tobytes())
    return digest.hexdigest()[:16]


def summary_track_vectors(store: FeatureStore) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ok tracks, mean summary vector of each over its valid segments)."""
    X, _, rows = store.load_summary()
    return metrics.mean_by_track(rows, X)


def build_index(store: FeatureStore, embedder=None) -> SimilarityIndex:
    """Embed every ok track of the store and standardise the vectors.

    Tracks whose vector is not finite (a degenerate segment) are left out rather than poisoning
    the standardiser.
    """
    if embedder is None:
        rows, raw = summary_track_vectors(store)
        kind = "summary"
    else:
        rows, raw = embedder.track_vectors(store)
        kind = embedder.kind
    finite = np.isfinite(raw).all(axis=1)
    rows, raw = rows[finite], raw[finite]
    if len(rows) == 0:
        raise StoreError(f"{store.url} has no featurized track to search")
    mean, scale = standardiser(raw)
    tracks = store.tracks()
    return SimilarityIndex(
        kind=kind,
        vectors=((raw - mean) / scale).astype(np.float32),
        track_ids=tracks["track_id"].to_numpy(str)[rows],
        genres=tracks["genre"].to_numpy(str)[rows],
        mean=mean,
        scale=scale,
        fingerprint=store_fingerprint(store),
    )


def index_folder(store_url: str, kind: str) -> Path:
    """``STORE.similar/<kind>``: beside a local store, so it travels and is deleted with it."""
    if "://" in store_url and not store_url.startswith("file://"):
        raise StoreError(
            f"the similarity index is saved beside a local store; {store_url!r} is remote: "
            "copy the store locally first"
        )
    local = store_url.removeprefix("file://")
    return Path(local.rstrip("/") + INDEX_SUFFIX) / kind.replace("/", "_")


def load_or_build_index(store: FeatureStore, embedder=None, rebuild=False) -> SimilarityIndex:
    """The saved index when it matches the store's current content, else a fresh one, saved.

    A store in a read-only place still answers: the fresh index is used unsaved, with a warning.
    """
    kind = "summary" if embedder is None else embedder.kind
    folder = index_folder(store.url, kind)
    if not rebuild and (folder / "meta.json").exists():
        index = SimilarityIndex.load(folder)
        if index.fingerprint == store_fingerprint(store):
            return index
    index = build_index(store, embedder)
    try:
        index.save(folder)
    except OSError as exc:
        warnings.warn(f"could not save the similarity index to {folder}: {exc}", stacklevel=2)
    return index


def embed_file(path: str, store: FeatureStore, embedder=None) -> np.ndarray:
    """The raw (unstandardised) vector of an audio file, as the index embeds its tracks."""
    features = featurize_track(path, store.config)
    if embedder is None:
        vector = features["summary"].astype(np.float64).mean(axis=0)
    else:
        vector = embedder.file_vector(features)
    if not np.isfinite(vector).all():
        raise SonicSepError(f"{path}: its features are not finite (silent or corrupt audio?)")
    return vector


def answer(paths: Sequence[str], store: FeatureStore, index: SimilarityIndex, k: int, embedder):
    """``{path: [{track_id, genre, distance}, ...]}``, or ``{path: {"error": ...}}`` per file."""
    answers = {}
    for path in paths:
        try:
            vector = index.standardise(embed_file(path, store, embedder))
        except SonicSepError as exc:
            answers[path] = {"error": str(exc)}
            continue
        answers[path] = [
            {"track_id": t, "genre": g, "distance": round(d, 4)}
            for t, g, d in index.query(vector, k)
        ]
    return answers


def format_answers(answers: dict) -> str:
    """A ranked table of neighbours per query file, errors inline."""
    lines = []
    for path, hits in answers.items():
        lines.append(f"{path}:")
        if isinstance(hits, dict):
            lines.append(f"  error: {hits['error']}")
            continue
        for rank, hit in enumerate(hits, 1):
            lines.append(
                f"  {rank:2d}. {hit['track_id']:<24s} {hit['genre']:<16s} {hit['distance']:.3f}"
            )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sonicsep.similar",
        description="Find the tracks of a feature store most similar to songs (exact search).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (WAV, MP3, OGG, FLAC)")
    p.add_argument("--store", default=DEFAULT_STORE, help="local feature store to search")
    p.add_argument(
        "--model",
        help="trained deep-model workdir: search by its embedding (default: by the store's "
        "standardised summary features)",
    )
    p.add_argument("-k", type=int, default=10, help="how many neighbours (default 10)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the saved index")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.k < 1:
        print("error: -k must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        store = FeatureStore.open(args.store)
        embedder = None
        if args.model:
            from sonicsep.nn.embedding import ModelEmbedder  # JAX only when a model is asked for

            embedder = ModelEmbedder.load(args.model, store)
        index = load_or_build_index(store, embedder, args.rebuild)
    except SonicSepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    answers = answer(args.files, store, index, args.k, embedder)
    print(json.dumps(answers, indent=2) if args.json else format_answers(answers))
    failed = sum(isinstance(hits, dict) for hits in answers.values())
    if failed:
        print(f"error: {failed} of {len(answers)} files could not be searched", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
