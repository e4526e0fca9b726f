"""The one source of truth for every feature parameter.

A :class:`FeatureConfig` is frozen, validated on construction, and serialisable to and from a
plain dict (and JSON), so every feature store records exactly how it was made.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from sonicsep.errors import ConfigError
from sonicsep.kernels import framing, windows

# Features FeatureExtractor knows how to derive from one STFT, in a stable order. Each name has
# its entry in sonicsep.features.extractor.FEATURES, which checks on import that the two agree.
KNOWN_FEATURES = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_rolloff",
    "spectral_flatness",
    "spectral_contrast",
    "zero_crossing_rate",
    "onset_strength",
    "mfcc",
)
KNOWN_STATS = ("mean", "var", "std", "skew", "kurtosis", "median", "min", "max")

# The GTZAN study's summary set and statistics.
GTZAN_FEATURES = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_rolloff",
    "zero_crossing_rate",
    "mfcc",
)
GTZAN_STATS = ("mean", "var")
# FMA's seven statistics (mdeff/fma features.py).
FMA_STATS = ("mean", "std", "skew", "kurtosis", "median", "min", "max")


def dataclass_from_dict(cls, data):
    """Build the config dataclass ``cls`` from a mapping; unknown or bad keys are ConfigErrors."""
    if not isinstance(data, dict):
        raise ConfigError(f"a {cls.__name__} must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys {unknown}; known keys: {sorted(known)}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(f"bad {cls.__name__}: {exc}") from exc


@dataclass(frozen=True)
class FeatureConfig:
    """Every parameter of feature extraction and segmentation.

    Defaults follow librosa (``sr=22050, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20``)
    and the study SonicSep grew from (5 s segments, mean/variance summaries).
    """

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int | None = None
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    power: float = 2.0
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    mel_norm: str | None = "slaney"
    db_ref: float = 1.0
    amin: float = 1e-10
    top_db: float | None = 80.0
    n_mfcc: int = 20
    dct_type: int = 2
    dct_norm: str | None = "ortho"
    lifter: float = 0.0
    n_chroma: int = 12
    # chroma_stft's tuning in fractions of a chroma bin; None estimates it per segment from
    # the segment's STFT (librosa's default), a number fixes it (0.0: A440).
    tuning: float | None = None
    roll_percent: float = 0.85
    n_bands: int = 6
    contrast_fmin: float = 200.0
    zcr_threshold: float = 1e-10
    segment_seconds: float = 5.0
    segment_hop_seconds: float | None = None
    min_last_segment_fraction: float = 0.5
    max_segments: int = 6
    dtype: str = "float32"
    features: tuple[str, ...] = GTZAN_FEATURES
    stats: tuple[str, ...] = GTZAN_STATS
    # Also FMA's 518 per-track features (fma_metadata/features.csv) of each whole file at its
    # native rate (sonicsep.features.fma); the store then gets its fma_features array.
    fma_features: bool = False

    def __post_init__(self):
        # Lists arriving from JSON become tuples so the config stays hashable.
        for name in ("features", "stats"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ConfigError(f"{name} must be a list of names, got the string {value!r}")
            object.__setattr__(self, name, tuple(value))
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self):
        def need(cond, param, why):
            if not cond:
                raise ConfigError(f"invalid {param}={getattr(self, param)!r}: {why}")

        need(isinstance(self.sr, int) and self.sr > 0, "sr", "must be a positive integer (Hz)")
        need(isinstance(self.n_fft, int) and self.n_fft > 0, "n_fft", "must be a positive integer")
        need(
            isinstance(self.hop_length, int) and self.hop_length > 0,
            "hop_length",
            "must be a positive integer",
        )
        if self.win_length is not None:
            need(0 < self.win_length <= self.n_fft, "win_length", "must be in (0, n_fft]")
        need(
            windows.canonical_window_name(self.window) is not None,
            "window",
            f"must be one of {windows.WINDOW_NAMES}",
        )
        need(
            self.pad_mode in framing.PAD_MODES,
            "pad_mode",
            f"must be one of {tuple(framing.PAD_MODES)}",
        )
        need(self.power > 0, "power", "must be > 0")
        need(isinstance(self.n_mels, int) and self.n_mels > 0, "n_mels", "must be a positive int")
        need(self.fmin >= 0, "fmin", "must be >= 0 Hz")
        fmax = self.sr / 2 if self.fmax is None else self.fmax
        need(fmax <= self.sr / 2, "fmax", f"must be <= sr/2 = {self.sr / 2}")
        need(self.fmin < fmax, "fmin", f"must be below fmax = {fmax}")
        need(self.mel_norm in (None, "slaney"), "mel_norm", "must be 'slaney' or None")
        need(self.db_ref > 0, "db_ref", "must be > 0")
        need(self.amin > 0, "amin", "must be > 0")
        need(self.top_db is None or self.top_db >= 0, "top_db", "must be >= 0 or None")
        need(0 < self.n_mfcc <= self.n_mels, "n_mfcc", "must be in (0, n_mels]")
        need(self.dct_type == 2, "dct_type", "only DCT-II is supported")
        need(self.dct_norm in (None, "ortho"), "dct_norm", "must be 'ortho' or None")
        need(self.lifter >= 0, "lifter", "must be >= 0")
        need(self.n_chroma > 0, "n_chroma", "must be > 0")
        need(
            self.tuning is None
            or (
                isinstance(self.tuning, (int, float))
                and not isinstance(self.tuning, bool)
                and math.isfinite(self.tuning)
            ),
            "tuning",
            "must be a finite number of chroma bins, or None to estimate it",
        )
        need(0 < self.roll_percent < 1, "roll_percent", "must be in (0, 1)")
        need(self.n_bands > 0, "n_bands", "must be > 0")
        need(self.contrast_fmin > 0, "contrast_fmin", "must be > 0")
        need(0 < self.segment_seconds < math.inf, "segment_seconds", "must be > 0 and finite")
        need(
            self.segment_samples > 0,
            "segment_seconds",
            f"must span at least one sample at sr = {self.sr} Hz",
        )
        need(
            self.center or self.segment_samples >= self.n_fft,
            "segment_seconds",
            f"must hold at least n_fft = {self.n_fft} samples when center=False",
        )
        need(
            self.segment_hop_seconds is None or self.segment_hop_seconds > 0,
            "segment_hop_seconds",
            "must be > 0 or None (= segment_seconds)",
        )
        need(
            0 < self.min_last_segment_fraction <= 1,
            "min_last_segment_fraction",
            "must be in (0, 1]",
        )
        need(self.max_segments > 0, "max_segments", "must be > 0")
        need(self.dtype in ("float32", "float64"), "dtype", "must be 'float32' or 'float64'")
        need(isinstance(self.fma_features, bool), "fma_features", "must be true or false")
        unknown = [f for f in self.features if f not in KNOWN_FEATURES]
        need(not unknown, "features", f"unknown {unknown}; known: {KNOWN_FEATURES}")
        unknown = [s for s in self.stats if s not in KNOWN_STATS]
        need(not unknown, "stats", f"unknown {unknown}; known: {KNOWN_STATS}")

    # ------------------------------------------------------------------ derived values
    @property
    def fmax_hz(self) -> float:
        return self.sr / 2 if self.fmax is None else float(self.fmax)

    @property
    def segment_samples(self) -> int:
        return int(round(self.segment_seconds * self.sr))

    @property
    def segment_hop_samples(self) -> int:
        hop = self.segment_seconds if self.segment_hop_seconds is None else self.segment_hop_seconds
        return int(round(hop * self.sr))

    @property
    def frames_per_segment(self) -> int:
        """STFT frames of one segment: the ``t`` axis of every feature of a segment."""
        return framing.n_frames(self.segment_samples, self.n_fft, self.hop_length, self.center)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["features"] = list(self.features)
        out["stats"] = list(self.stats)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> FeatureConfig:
        return dataclass_from_dict(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"feature config is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | Path) -> FeatureConfig:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from exc
        try:
            return cls.from_json(text)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def replace(self, **changes) -> FeatureConfig:
        return dataclasses.replace(self, **changes)
