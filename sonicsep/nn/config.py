"""Training configuration as data: one frozen dataclass per run, presets per model kind.

Following the Flax ImageNet example, the entry point builds a :class:`TrainConfig` from a preset
(:func:`default_config`) plus command-line overrides, and everything downstream reads only the
config; the config is written into the work directory, so a resumed run can check it is
continuing the same experiment and a trained model says how it was made.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from sonicsep.config import dataclass_from_dict
from sonicsep.errors import ConfigError

MODEL_KINDS = ("mlp", "cnn", "fusion", "resnet50")
FEATURES = ("mel", "mfcc", "summary")
TRANSFER_MODES = ("head", "full")
# Where a run keeps its inputs between epochs (sonicsep.nn.cache): auto picks the first that fits.
CACHE_MODES = ("auto", "device", "host", "none")
DTYPES = ("float32", "bfloat16")
RESNET50_STAGES = (3, 4, 6, 3)


def _checker(obj):
    def need(cond, param, why):
        if not cond:
            raise ConfigError(f"invalid {param}={getattr(obj, param)!r}: {why}")

    return need


@dataclass(frozen=True)
class ModelConfig:
    """The architecture: everything needed to rebuild the network (its ``n_classes`` aside).

    ``kind`` picks the network; the other fields are that network's hyperparameters (fields of
    other kinds are ignored). ``resnet_stages``/``resnet_width`` make the ResNet-50 code build a
    tiny ResNet of the same structure for tests.
    """

    kind: str = "cnn"
    mlp_hidden: tuple[int, ...] = (64, 32, 16)
    cnn_features: tuple[int, ...] = (32, 32, 32)
    cnn_kernels: tuple[int, ...] = (3, 3, 2)
    cnn_dense: int = 64
    dropout: float = 0.3
    resnet_stages: tuple[int, ...] = RESNET50_STAGES
    resnet_width: int = 64
    resnet_bottleneck: bool = True
    image_size: int = 224

    def __post_init__(self):
        for name in ("mlp_hidden", "cnn_features", "cnn_kernels", "resnet_stages"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        need = _checker(self)
        need(self.kind in MODEL_KINDS, "kind", f"must be one of {MODEL_KINDS}")
        need(all(h > 0 for h in self.mlp_hidden), "mlp_hidden", "must be positive widths")
        need(
            len(self.cnn_features) == len(self.cnn_kernels) > 0,
            "cnn_kernels",
            "needs one kernel size per entry of cnn_features",
        )
        need(0 <= self.dropout < 1, "dropout", "must be in [0, 1)")
        need(len(self.resnet_stages) > 0, "resnet_stages", "needs at least one stage")
        need(self.image_size >= 8, "image_size", "must be >= 8 pixels")

    @property
    def standardizes_input(self) -> bool:
        """ResNet sees spectrograms as images (per-image dB -> grayscale), not standardised."""
        return self.kind != "resnet50"

    @property
    def uses_echonest(self) -> bool:
        return self.kind == "fusion"


@dataclass(frozen=True)
class TrainConfig:
    """One training run: model, input feature, optimisation, early stopping and pipeline sizes.

    ``feature`` is ``summary`` for the MLP and ``mel`` or ``mfcc`` for the others. ``l2`` adds
    ``l2 * sum(kernel**2)`` to the loss (Keras-style L2, unlike AdamW's decoupled decay).
    ``transfer_mode`` is set by transfer learning: ``head`` freezes the backbone, ``full``
    fine-tunes everything. ``dtype`` is the computation dtype (``bfloat16``: mixed precision,
    float32 parameters, optimizer state, batch-norm statistics and loss). ``cache`` and
    ``cache_gib`` say where the splits' inputs live between epochs (:mod:`sonicsep.nn.cache`).
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    feature: str = "mel"
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_epochs: float = 0.0
    end_lr_fraction: float = 0.01
    l2: float = 0.0
    patience: int = 5
    seed: int = 0
    shuffle_buffer: int = 1024
    prefetch: int = 2
    transfer_mode: str | None = None
    dtype: str = "float32"
    cache: str = "auto"
    cache_gib: float | None = None

    def __post_init__(self):
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", dataclass_from_dict(ModelConfig, self.model))
        need = _checker(self)
        need(self.feature in FEATURES, "feature", f"must be one of {FEATURES}")
        summary_model = self.model.kind == "mlp"
        need(
            (self.feature == "summary") == summary_model,
            "feature",
            "the mlp model takes 'summary'; cnn, fusion and resnet50 take 'mel' or 'mfcc'",
        )
        need(self.epochs > 0, "epochs", "must be > 0")
        need(self.batch_size > 0, "batch_size", "must be > 0")
        need(self.learning_rate > 0, "learning_rate", "must be > 0")
        need(self.warmup_epochs >= 0, "warmup_epochs", "must be >= 0")
        need(0 <= self.end_lr_fraction <= 1, "end_lr_fraction", "must be in [0, 1]")
        need(self.l2 >= 0, "l2", "must be >= 0")
        need(self.patience > 0, "patience", "must be > 0")
        need(self.shuffle_buffer > 0, "shuffle_buffer", "must be > 0")
        need(self.prefetch > 0, "prefetch", "must be > 0")
        need(self.dtype in DTYPES, "dtype", f"must be one of {DTYPES}")
        need(self.cache in CACHE_MODES, "cache", f"must be one of {CACHE_MODES}")
        need(self.cache_gib is None or self.cache_gib > 0, "cache_gib", "must be > 0 GiB")
        need(
            self.transfer_mode in (None, *TRANSFER_MODES),
            "transfer_mode",
            f"must be None or one of {TRANSFER_MODES}",
        )

    @property
    def freeze_backbone(self) -> bool:
        return self.transfer_mode == "head"

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return dataclass_from_dict(cls, data)


def default_config(model: str = "cnn", feature: str | None = None) -> TrainConfig:
    """The preset for a model kind: the study's MLP (with L2) and CNN, fusion, ResNet-50."""
    if model not in MODEL_KINDS:
        raise ConfigError(f"invalid model={model!r}: must be one of {MODEL_KINDS}")
    if model == "mlp":
        return TrainConfig(model=ModelConfig(kind="mlp"), feature=feature or "summary", l2=1e-3)
    return TrainConfig(model=ModelConfig(kind=model), feature=feature or "mel")


def with_overrides(config: TrainConfig, overrides: dict) -> TrainConfig:
    """``config`` with fields replaced from a (JSON) dict; ``model`` merges field by field."""
    data = config.to_dict()
    for key, value in overrides.items():
        if key == "model" and isinstance(value, dict):
            data["model"].update(value)
        else:
            data[key] = value
    return TrainConfig.from_dict(data)


def read_overrides(path: str | Path) -> dict:
    """A JSON file of TrainConfig fields (``model`` may be a partial dict) as a dict."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read training config {str(path)!r}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"training config {str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"training config {str(path)!r} must hold a JSON object")
    return data
