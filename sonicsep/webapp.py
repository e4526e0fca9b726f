"""The web demo's FastAPI application: one static page and the JSON API behind it.

:func:`load_demo` loads what the app serves, once per process: the feature store, the model
(:func:`sonicsep.predict.load_predictor`), the store's similarity index
(:func:`sonicsep.similar.load_or_build_index`, by standardised summary features as
``python -m sonicsep.similar`` without ``--model``) and the table of audio files by track id.
:func:`create_app` builds the app on it; ``python -m sonicsep.serve`` (:mod:`sonicsep.serve`)
runs that with uvicorn.

An upload is featurized once, with the model's feature config over the first ``max_seconds``
of the file: its segments give :func:`sonicsep.predict.predict_features` its answer, their
log-mel spectrogram the page's picture, and the first ``max_segments`` of them the similarity
query (the same segments ``python -m sonicsep.similar`` would read, when the model and the
store share a feature config; otherwise the file is featurized again with the store's).

What the server lets through:

* an upload lives in a temporary folder of its own, deleted when the request ends; nothing is
  written into the store. A body over the upload limit gets 413 as soon as its
  ``Content-Length`` (or, without one, the bytes received) says so, before it is read whole;
  a file the decoder rejects (not audio, empty, cut short of one segment) gets 422 with the
  decoder's message, the temporary path replaced by the upload's name;
* audio is served by track id only, from the store's ``path`` of that id, and only when the
  file, symlinks resolved, is a regular audio file (by extension) inside the dataset root, the
  deepest folder that holds every file the store lists. Anything else is 404.
"""

from __future__ import annotations

import math
import mimetypes
import os
import tempfile
import threading
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import File, HTTPException, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from matplotlib.colors import to_hex
from pydantic import BaseModel, Field

from sonicsep import __version__, audio
from sonicsep.config import FeatureConfig
from sonicsep.errors import ParameterError, SonicSepError
from sonicsep.featurize import featurize_track
from sonicsep.kernels.filterbanks import mel_frequencies
from sonicsep.plots import class_colours, tsne_embedding
from sonicsep.predict import (
    DEFAULT_MAX_SECONDS,
    Predictor,
    load_predictor,
    predict_features,
    whole_file_config,
)
from sonicsep.similar import SimilarityIndex, embed_features, load_or_build_index, neighbours
from sonicsep.store import FeatureStore

STATIC = Path(__file__).parent / "static"
DEFAULT_K = 10
DEFAULT_MAX_UPLOAD_MB = 100
# Multipart boundaries and part headers around the file: a body may exceed the file by this.
MULTIPART_SLACK = 64 * 1024
# Columns of the spectrogram sent to the page (time is averaged down to at most this many):
# a 10-minute song has ~26k frames, which would make the answer megabytes of JSON.
SPECTROGRAM_COLUMNS = 1200
# At most this many tracks on the explore map (a seeded sample beyond): t-SNE is quadratic-ish.
MAP_POINTS = 2000


# ---------------------------------------------------------------------- API shapes
class GenreProbability(BaseModel):
    genre: str
    probability: float


class Segment(BaseModel):
    start: float = Field(description="seconds from the start of the file")
    end: float
    top: list[GenreProbability] = Field(description="every genre, most likely first")


class Neighbour(BaseModel):
    track_id: str
    genre: str
    distance: float = Field(description="Euclidean, in the index's standardised space")
    audio_url: str | None = Field(description="the track's audio, when its file is on disk")


class Spectrogram(BaseModel):
    times: list[float] = Field(description="seconds, one per column")
    frequencies: list[float] = Field(description="Hz, the centre of each mel band (row)")
    db: list[list[float]] = Field(description="log-mel power in dB, [band][column]")


class Prediction(BaseModel):
    filename: str
    model: str
    genres: list[str]
    top: list[GenreProbability]
    probabilities: dict[str, float]
    n_segments: int
    segments: list[Segment]
    similar: list[Neighbour]
    spectrogram: Spectrogram
    duration: float = Field(description="seconds of audio in the file")
    warning: str = Field(description="what is wrong with a file that decoded anyway, or ''")


class Track(BaseModel):
    track_id: str
    genre: str
    split: str
    status: str
    duration: float | None
    audio_url: str | None
    neighbours: list[Neighbour]


class MapPoint(BaseModel):
    track_id: str
    genre: str
    x: float
    y: float
    audio_url: str | None


class ExploreMap(BaseModel):
    method: str
    points: list[MapPoint]
    note: str = ""


class Info(BaseModel):
    model: str
    store: str
    dataset: str
    n_tracks: int = Field(description="tracks in the similarity index")
    genres: list[str] = Field(description="the model's genres, in its order")
    colours: dict[str, str] = Field(description="a colour per genre, model's and store's")
    k: int
    max_upload_mb: float
    max_seconds: float = Field(description="an upload's first seconds that are analysed")
    version: str


class Problem(BaseModel):
    detail: str


# ---------------------------------------------------------------------- the demo's state
def dataset_root(paths) -> Path:
    """The deepest folder holding every path (symlinks resolved), the audio endpoint's jail."""
    folders = [os.path.dirname(os.path.abspath(p)) for p in paths]
    return Path(os.path.realpath(os.path.commonpath(folders))) if folders else Path("/")


@dataclass
class Demo:
    """What the app serves, loaded once per process and shared by every request thread."""

    store: FeatureStore
    predictor: Predictor
    index: SimilarityIndex
    k: int = DEFAULT_K
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_seconds: float = DEFAULT_MAX_SECONDS
    _map: ExploreMap | None = field(default=None, init=False)

    def __post_init__(self):
        tracks = self.store.tracks()
        self.tracks = tracks.set_index("track_id", drop=False)
        self.paths = dict(zip(tracks["track_id"], tracks["path"], strict=True))
        self.root = dataset_root(self.paths.values())
        self.rows = {t: i for i, t in enumerate(self.index.track_ids)}
        genres = list(dict.fromkeys([*self.predictor.genres, *self.store.genres]))
        self.colours = {g: to_hex(c) for g, c in zip(genres, class_colours(len(genres)),
                                                      strict=True)}
        self.predict_config = whole_file_config(self.predictor.feature_config, self.max_seconds)
        # Featurizing is CPU work in Numba/FFTW threads that release the GIL; more at once than
        # cores only adds memory.
        self._analyses = threading.BoundedSemaphore(os.cpu_count() or 1)
        self._map_lock = threading.Lock()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    # ------------------------------------------------------------------ audio files
    def audio_file(self, track_id: str) -> Path | None:
        """The audio file of a store track, or None where it must not (or cannot) be served."""
        listed = self.paths.get(track_id)
        if not listed:
            return None
        real = Path(os.path.realpath(listed))
        if (real.suffix.lower() not in audio.AUDIO_EXTENSIONS or not real.is_relative_to(self.root)
                or not real.is_file()):
            return None
        return real

    def audio_url(self, track_id: str) -> str | None:
        return f"/api/tracks/{track_id}/audio" if self.audio_file(track_id) else None

    def with_audio(self, hits: list[dict]) -> list[dict]:
        return [{**hit, "audio_url": self.audio_url(hit["track_id"])} for hit in hits]

    # ------------------------------------------------------------------ answers
    def analyse(self, path: str, filename: str) -> dict:
        """Genres, segments, spectrogram and neighbours of one audio file (module docstring).

        Raises :class:`SonicSepError` when the file cannot be decoded or is too short.
        """
        config, search_config = self.predict_config, self.store.config
        with self._analyses:
            features = featurize_track(path, config)
            answer = predict_features(features, self.predictor, config,
                                      top=len(self.predictor.genres))
            if config.replace(max_segments=search_config.max_segments) == search_config:
                search = {k: v[: search_config.max_segments] for k, v in features.items()}
            else:
                search = featurize_track(path, search_config)
            vector = self.index.standardise(embed_features(search, path))
        header = audio.info(path)
        return {
            **answer,
            "filename": filename,
            "model": self.predictor.description,
            "genres": list(self.predictor.genres),
            "similar": self.with_audio(neighbours(self.index, vector, self.k)),
            "spectrogram": spectrogram(features["mel_db"], config, header.duration),
            "duration": round(float(header.duration), 3),
            "warning": header.warning,
        }

    def track(self, track_id: str) -> dict | None:
        """One store track and, when it is in the index, its ``k`` nearest other tracks."""
        if track_id not in self.paths:
            return None
        row = self.tracks.loc[track_id]
        near = []
        if track_id in self.rows:
            hits = neighbours(self.index, self.index.vectors[self.rows[track_id]], self.k + 1)
            near = [hit for hit in hits if hit["track_id"] != track_id][: self.k]
        duration = float(row["duration"])
        return {
            "track_id": track_id,
            "genre": str(row["genre"]),
            "split": str(row["split"]),
            "status": str(row["status"]),
            "duration": None if math.isnan(duration) else round(duration, 3),
            "audio_url": self.audio_url(track_id),
            "neighbours": self.with_audio(near),
        }

    def explore_map(self) -> ExploreMap:
        """t-SNE of the index's track vectors (at most :data:`MAP_POINTS`), computed once."""
        with self._map_lock:
            if self._map is None:
                self._map = self._compute_map()
            return self._map

    def _compute_map(self) -> ExploreMap:
        method = "t-SNE of the standardised summary vectors of the store's tracks"
        try:
            xy, rows = tsne_embedding(self.index.vectors, max_points=MAP_POINTS, seed=0)
        except ParameterError as exc:
            return ExploreMap(method=method, points=[], note=str(exc))
        note = "" if len(rows) == len(self.index.vectors) else (
            f"a seeded sample of {len(rows)} of the {len(self.index.vectors)} tracks")
        points = [
            MapPoint(track_id=str(self.index.track_ids[r]), genre=str(self.index.genres[r]),
                     x=round(float(x), 3), y=round(float(y), 3),
                     audio_url=self.audio_url(str(self.index.track_ids[r])))
            for r, (x, y) in zip(rows, xy, strict=True)
        ]
        return ExploreMap(method=method, points=points, note=note)

    def info(self) -> dict:
        return {
            "model": self.predictor.description,
            "store": self.store.url,
            "dataset": self.store.dataset,
            "n_tracks": len(self.index.track_ids),
            "genres": list(self.predictor.genres),
            "colours": self.colours,
            "k": self.k,
            "max_upload_mb": self.max_upload_mb,
            "max_seconds": self.max_seconds,
            "version": __version__,
        }


def load_demo(store_url: str, model: str | Path, **options) -> Demo:
    """Open the store, load the model and the similarity index (built and saved if needed).

    Raises :class:`SonicSepError` (a missing store or model, a remote store).
    """
    store = FeatureStore.open(store_url)
    predictor = load_predictor(model)
    index = load_or_build_index(store)
    return Demo(store=store, predictor=predictor, index=index, **options)


def spectrogram(mel_db: np.ndarray, config: FeatureConfig, duration: float,
                max_columns: int = SPECTROGRAM_COLUMNS) -> dict:
    """The file's log-mel spectrogram from its segments' ``mel_db``, for a heatmap.

    Each segment contributes the frames up to where the next begins (all of them for the last),
    placed at their own times; frames past ``duration`` (the last segment's zero padding) are
    dropped; then time is averaged down to at most ``max_columns`` columns.

    Parameters
    ----------
    mel_db : np.ndarray [shape=(n_segments, n_mels, frames_per_segment)]
    """
    n_segments, _, frames = mel_db.shape
    frame_s = config.hop_length / config.sr
    segment_hop_s = config.segment_hop_samples / config.sr
    step = min(frames, math.ceil(config.segment_hop_samples / config.hop_length))
    keep = [step] * (n_segments - 1) + [frames]
    times = np.concatenate([i * segment_hop_s + np.arange(n) * frame_s
                            for i, n in enumerate(keep)])
    db = np.concatenate([mel_db[i, :, :n] for i, n in enumerate(keep)], axis=1)
    inside = times <= max(duration, frame_s)
    times, db = times[inside], db[:, inside]
    width = math.ceil(len(times) / max_columns)
    starts = np.arange(0, len(times), width)
    counts = np.diff(np.append(starts, len(times)))
    times = np.add.reduceat(times, starts) / counts
    db = np.add.reduceat(db.astype(np.float64), starts, axis=1) / counts
    bands = mel_frequencies(config.n_mels + 2, config.fmin, config.fmax_hz, config.htk)[1:-1]
    return {
        "times": np.round(times, 3).tolist(),
        "frequencies": np.round(bands, 1).tolist(),
        "db": np.round(db, 1).tolist(),
    }


# ---------------------------------------------------------------------- uploads
class UploadTooLarge(HTTPException):
    def __init__(self, limit_mb: float):
        super().__init__(413, f"the upload is larger than the server's limit of {limit_mb:g} MB "
                              "(--max-upload-mb)")


class UploadLimit:
    """ASGI middleware: a ``POST /api/predict`` body over the limit gets 413 before it is read
    whole, by its ``Content-Length`` or, without one, once that many bytes have arrived."""

    def __init__(self, app, demo: Demo):
        self.app = app
        self.demo = demo

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/api/predict":
            await self.app(scope, receive, send)
            return
        limit = self.demo.max_upload_bytes + MULTIPART_SLACK
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            detail = UploadTooLarge(self.demo.max_upload_mb).detail
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # FastAPI passes an HTTPException raised while it parses the form to its handler
                raise UploadTooLarge(self.demo.max_upload_mb)
            return message

        await self.app(scope, counted, send)


def _save_upload(upload: UploadFile, folder: str, limit_bytes: int, limit_mb: float) -> str:
    """Copy the upload into ``folder`` under a fixed name (its extension kept, if an audio one).

    The client's file name never becomes a path: it only names the file in messages.
    """
    suffix = Path(upload.filename or "").suffix.lower()
    path = os.path.join(folder, "upload" + (suffix if suffix in audio.AUDIO_EXTENSIONS else ""))
    copied = 0
    with open(path, "wb") as out:
        while block := upload.file.read(1 << 20):
            copied += len(block)
            if copied > limit_bytes:
                raise UploadTooLarge(limit_mb)
            out.write(block)
    return path


# ---------------------------------------------------------------------- the app
def create_app(demo: Demo):
    """The FastAPI app serving ``demo``: the page, its assets and the JSON API (/docs)."""
    app = FastAPIOffline(
        title="SonicSep",
        version=__version__,
        description="Genre and similar songs of an audio file, and a map of the feature store.",
    )
    app.add_middleware(UploadLimit, demo=demo)
    app.state.demo = demo
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    plotly_js = files("plotly") / "package_data" / "plotly.min.js"
    problems = {413: {"model": Problem}, 422: {"model": Problem}}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return HTMLResponse((STATIC / "index.html").read_text())

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly():
        # Plotly's own bundle from the installed plotly package: no CDN, no copy in the repo.
        return FileResponse(str(plotly_js), media_type="text/javascript")

    @app.get("/api/info", response_model=Info, summary="the model, the store and the limits")
    def info():
        return demo.info()

    @app.post("/api/predict", response_model=Prediction, responses=problems,
              summary="genres, segments, spectrogram and similar tracks of an audio file")
    def predict(file: Annotated[UploadFile, File(description="audio: WAV, MP3, OGG, FLAC...")]):
        name = os.path.basename(file.filename or "") or "upload"
        with tempfile.TemporaryDirectory(prefix="sonicsep-upload-") as folder:
            path = _save_upload(file, folder, demo.max_upload_bytes, demo.max_upload_mb)
            try:
                return demo.analyse(path, name)
            except SonicSepError as exc:
                raise HTTPException(422, str(exc).replace(path, name)) from None

    @app.get("/api/tracks/{track_id}", response_model=Track, responses={404: {"model": Problem}},
             summary="a store track's genre and nearest tracks")
    def track(track_id: str):
        answer = demo.track(track_id)
        if answer is None:
            raise HTTPException(404, f"no track {track_id!r} in the store")
        return answer

    @app.get("/api/tracks/{track_id}/audio", responses={404: {"model": Problem}},
             response_class=FileResponse, summary="a store track's audio file")
    def track_audio(track_id: str):
        path = demo.audio_file(track_id)
        if path is None:
            raise HTTPException(404, f"no audio for track {track_id!r}")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type)

    @app.get("/api/map", response_model=ExploreMap,
             summary="the store's tracks on a 2-D map (t-SNE), computed once per process")
    def explore_map():
        return demo.explore_map()

    return app

