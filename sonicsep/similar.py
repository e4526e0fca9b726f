"""``python -m sonicsep.similar``: the k tracks of a store nearest to a song.

A track is embedded either by its standardised summary features (the mean over its segments of
the store's ``summary`` vectors, z-scored with statistics of the whole store), or, given a
trained deep model, by the model's embedding averaged over the track's segments
(:class:`sonicsep.nn.embedding.ModelEmbedder`). A query file is featurized with the store's
feature config and embedded the same way, so a store track's own audio file finds itself at
distance ~0.

The index is built once and saved beside the store (``STORE.similar/<index name>/``, named
``summary`` or ``model-<hash>``) with a fingerprint of the store's content; a later query loads
it, and rebuilds it only when the store changed (tracks finished or failed, another feature config;
``--rebuild`` forces it).
Search is exact Euclidean -- the answer equals a float64 brute force, ties broken by index row
(:meth:`SimilarityIndex.query`) -- at the cost of one float32 matrix-vector product over every
track plus a float64 re-ranking of the few tracks within its proven error bound: 4-8 ms a
query on 100k tracks of 64-74 dimensions on a shared 2-core CPU (``benchmarks/bench_similar.py``),
so no approximate index and no recall loss. Checking that the saved index is current costs more
than the search: :meth:`FeatureStore.fingerprint` reads the store's ``status`` array.

Exit codes: 0 answered, 2 usage error, 3 some query files could not be decoded (the others
were answered), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonicsep import metrics
from sonicsep.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    ParameterError,
    SonicSepError,
    StoreError,
    exits_on_interrupt,
)
from sonicsep.featurize import featurize_track
from sonicsep.nn import compile_cache
from sonicsep.store import DEFAULT_STORE, FeatureStore

INDEX_SUFFIX = ".similar"


@dataclass
class SimilarityIndex:
    """Standardised track vectors with their ids and genres, and the standardiser.

    ``fingerprint`` identifies the store content the index was built from.
    """

    index_name: str  # "summary" or "model-<hash>": what embedded the tracks
    vectors: np.ndarray  # (n_tracks, d) float32, standardised
    track_ids: np.ndarray  # (n_tracks,) str
    genres: np.ndarray  # (n_tracks,) str
    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    fingerprint: str

    def __post_init__(self):
        # Kept so a query costs one matrix-vector product: |a-b|^2 = |a|^2 - 2a.b + |b|^2.
        self._sq_norms = np.einsum("ij,ij->i", self.vectors, self.vectors)
        # The largest |v|^2 in float64, for the error bound of that float32 product.
        self._max_sq_norm = float(
            np.einsum("ij,ij->i", self.vectors, self.vectors, dtype=np.float64).max(initial=0.0)
        )

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """A raw vector (summary mean or model embedding) in the index's standardised space."""
        return ((raw - self.mean) / self.scale).astype(np.float32)

    def query(self, vector: np.ndarray, k: int = 10) -> list[tuple[str, str, float]]:
        """The ``k`` nearest tracks to a standardised vector: (track_id, genre, distance).

        Exact: the answer is the float64 brute force -- the ``k`` smallest distances
        ``sqrt(sum((v - q)**2))`` computed in float64 between the float32 index vectors and
        ``vector`` cast to float32, ties broken by index row -- without computing every
        distance in float64. A float32 matrix-vector product gives every distance with an error
        of at most ``E`` (:func:`float32_distance_bound`); every track whose float32 distance is
        within ``2E`` of the k-th smallest is then re-ranked in float64. A track left out has a
        true distance beyond ``kth + E``, above that of at least ``k`` others, so it cannot be
        among the nearest.
        """
        query = np.asarray(vector, np.float32)
        if query.shape != self.vectors.shape[1:]:
            raise ParameterError(
                f"invalid vector of shape {query.shape}: the index holds vectors of shape "
                f"{self.vectors.shape[1:]}; embed the query as the index was built"
            )
        k = min(k, len(self.vectors))
        if k < 1:
            return []
        query_sq = query @ query
        d2 = self._sq_norms - np.float32(2) * (self.vectors @ query) + query_sq
        query64 = query.astype(np.float64)
        error = float32_distance_bound(len(query), self._max_sq_norm + float(query64 @ query64))
        kth = float(np.partition(d2, k - 1)[k - 1])
        candidates = np.flatnonzero(d2 <= _float32_at_least(kth + 2.0 * error))
        diff = self.vectors[candidates].astype(np.float64) - query64
        exact = np.einsum("ij,ij->i", diff, diff)
        # candidates are ascending rows, so a stable sort breaks distance ties by row
        order = np.argsort(exact, kind="stable")[:k]
        return [
            (str(self.track_ids[i]), str(self.genres[i]), float(np.sqrt(d)))
            for i, d in zip(candidates[order], exact[order], strict=True)
        ]

    def save(self, folder: Path) -> None:
        """Write the index as .npy arrays (no pickles) and ``meta.json``, which goes last."""
        folder.mkdir(parents=True, exist_ok=True)
        # First, so an index interrupted while written over an older one reads as incomplete.
        (folder / "meta.json").unlink(missing_ok=True)
        np.save(folder / "vectors.npy", self.vectors)
        np.save(folder / "standardiser.npy", np.stack([self.mean, self.scale]))
        np.save(folder / "track_ids.npy", self.track_ids.astype(str))
        np.save(folder / "genres.npy", self.genres.astype(str))
        # An index folder without meta.json is incomplete and gets rebuilt.
        (folder / "meta.json").write_text(
            json.dumps({"index_name": self.index_name, "fingerprint": self.fingerprint})
        )

    @classmethod
    def load(cls, folder: Path) -> SimilarityIndex | None:
        """The saved index, or None when it was written by an older SonicSep (rebuild it)."""
        meta = json.loads((folder / "meta.json").read_text())
        if "index_name" not in meta:
            return None
        mean, scale = np.load(folder / "standardiser.npy")
        return cls(
            index_name=meta["index_name"],
            vectors=np.load(folder / "vectors.npy"),
            track_ids=np.load(folder / "track_ids.npy"),
            genres=np.load(folder / "genres.npy"),
            mean=mean,
            scale=scale,
            fingerprint=meta["fingerprint"],
        )


def float32_distance_bound(dim: int, sq_norm_sum: float) -> float:
    """A bound on the error of a squared distance ``|v|^2 - 2 v.q + |q|^2`` computed in float32.

    With ``u = 2**-24`` (float32's unit roundoff) and ``g = dim*u / (1 - dim*u)``, each of the
    three float32 dot products of length ``dim`` errs by at most ``g`` times the sum of its
    products' magnitudes (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
    eq. 3.5; any summation order, with or without FMA, as BLAS may choose), and
    ``|v.q| <= (|v|^2 + |q|^2) / 2``; so the three carry at most ``2g (|v|^2 + |q|^2)`` and the
    two float32 additions at most ``(5 + 2u) (1 + g) u (|v|^2 + |q|^2)`` more. The bound
    returned is ``(2g + 7u) * sq_norm_sum``; with ``dim * u < 0.1`` that leaves more than
    ``u * sq_norm_sum`` spare, which covers the float64 rounding of the bound and of the
    threshold built from it.

    Parameters
    ----------
    dim : int
        Vector length; the bound needs ``dim * u < 0.1`` (``dim`` below 1.6 million).
    sq_norm_sum : float
        ``|v|^2 + |q|^2``, or an upper bound of it over all ``v`` for one bound for every track.
    """
    u = 2.0**-24
    if dim * u >= 0.1:
        raise ParameterError(f"invalid dim={dim}: the float32 error bound needs dim < 1.6e6")
    gamma = dim * u / (1 - dim * u)
    return (2 * gamma + 7 * u) * sq_norm_sum


def _float32_at_least(value: float) -> np.float32:
    """The smallest float32 not below ``value``, so a float32 comparison stays conservative."""
    rounded = np.float32(value)
    return rounded if rounded >= value else np.nextafter(rounded, np.float32(np.inf))


def standardiser(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation (1 where a column is constant).

    Without it, summary columns in large units (spectral centroid in Hz) would decide every
    distance on their own.
    """
    mean = raw.mean(axis=0)
    scale = raw.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


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
        index_name = "summary"
    else:
        rows, raw = embedder.track_vectors(store)
        index_name = embedder.index_name
    finite = np.isfinite(raw).all(axis=1)
    rows, raw = rows[finite], raw[finite]
    if len(rows) == 0:
        raise StoreError(f"{store.url} has no featurized track to search")
    mean, scale = standardiser(raw)
    tracks = store.tracks()
    return SimilarityIndex(
        index_name=index_name,
        vectors=((raw - mean) / scale).astype(np.float32),
        track_ids=tracks["track_id"].to_numpy(str)[rows],
        genres=tracks["genre"].to_numpy(str)[rows],
        mean=mean,
        scale=scale,
        fingerprint=store.fingerprint(),
    )


def index_folder(store_url: str, index_name: str) -> Path:
    """``STORE.similar/<index_name>``: beside a local store, so it travels and goes with it."""
    if "://" in store_url and not store_url.startswith("file://"):
        raise StoreError(
            f"the similarity index is saved beside a local store; {store_url!r} is remote: "
            "copy the store locally first"
        )
    local = store_url.removeprefix("file://")
    return Path(local.rstrip("/") + INDEX_SUFFIX) / index_name.replace("/", "_")


def load_or_build_index(store: FeatureStore, embedder=None, rebuild=False) -> SimilarityIndex:
    """The saved index when it matches the store's current content, else a fresh one, saved.

    A store in a read-only place still answers: the fresh index is used unsaved, with a warning.
    """
    index_name = "summary" if embedder is None else embedder.index_name
    folder = index_folder(store.url, index_name)
    if not rebuild and (folder / "meta.json").exists():
        index = SimilarityIndex.load(folder)
        if index is not None and index.fingerprint == store.fingerprint():
            return index
    index = build_index(store, embedder)
    try:
        index.save(folder)
    except OSError as exc:
        warnings.warn(f"could not save the similarity index to {folder}: {exc}", stacklevel=2)
    return index


def embed_file(path: str, store: FeatureStore, embedder=None) -> np.ndarray:
    """The raw (unstandardised) vector of an audio file, as the index embeds its tracks."""
    return embed_features(featurize_track(path, store.config), path, embedder)


def embed_features(features: dict[str, np.ndarray], path: str, embedder=None) -> np.ndarray:
    """:func:`embed_file`'s vector from the file's :func:`featurize_track` output under the
    store's config (``path`` names the file in the error raised for non-finite features)."""
    if embedder is None:
        summary = features["summary"]
        _, (vector,) = metrics.mean_by_track(np.zeros(len(summary)), summary)
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
        answers[path] = neighbours(index, vector, k)
    return answers


def neighbours(index: SimilarityIndex, vector: np.ndarray, k: int) -> list[dict]:
    """``[{track_id, genre, distance}, ...]``: the ``k`` nearest tracks to a standardised
    vector, nearest first."""
    return [
        {"track_id": t, "genre": g, "distance": round(d, 4)} for t, g, d in index.query(vector, k)
    ]


def format_answers(answers: dict) -> str:
    """A ranked table of neighbours per query file, errors inline."""
    lines = []
    for path, hits in answers.items():
        lines.append(f"{path}:")
        if isinstance(hits, dict):
            lines.append(f"  error: {hits['error']}")
            continue
        lines.append(f"  {'rank':>4s}  {'track':<24s} {'genre':<16s} {'distance':>8s}")
        for rank, hit in enumerate(hits, 1):
            lines.append(
                f"  {rank:4d}  {hit['track_id']:<24s} {hit['genre']:<16s} {hit['distance']:8.3f}"
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


@exits_on_interrupt(
    "the store is unchanged; a similarity index left half-written is rebuilt by the next query"
)
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    compile_cache.enable()  # for --model
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
