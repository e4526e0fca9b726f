"""Flax (linen) networks: summary MLP, segment CNN, CNN + Echonest fusion, ResNet on images.

Every classifier is a ``backbone`` submodule that computes an embedding and a ``head`` Dense
layer that maps it to genre logits, so that

* ``model.apply(v, ..., method="embed")`` gives the penultimate layer for similarity search,
* transfer learning replaces exactly ``params["head"]`` and freezes everything else,
* with ``freeze_backbone`` the backbone runs in inference mode (batch statistics read, never
  updated; no gradient flows into it).

Spectrogram segments arrive as ``(batch, bands, time)``; the convolutional models add the
channel axis themselves (NHWC). ``mask`` (``(batch,)``, 1 for real rows) keeps the padding rows
of an epoch's last batch out of batch-norm statistics.

Mixed precision: ``dtype`` (``float32`` or ``bfloat16``) is the computation dtype of every
layer. Parameters and batch-norm statistics stay float32 (Flax's ``param_dtype``; BatchNorm
reduces in float32 whatever ``dtype``), and the classifiers return float32 logits, so the loss
and everything after it is float32. Weights are the same arrays in either dtype: a model
trained in one runs, resumes or transfers in the other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from sonicsep.nn.config import MODEL_KINDS, ModelConfig

# Torchvision/Keras ImageNet statistics: pretrained ResNet weights expect inputs scaled this way.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _bn_mask(mask, x):
    """Broadcast a per-row mask to ``x`` for BatchNorm, or None when there is no padding info."""
    if mask is None:
        return None
    return jnp.broadcast_to(mask.reshape((-1,) + (1,) * (x.ndim - 1)) > 0, x.shape)


class MLPBackbone(nn.Module):
    """Dense ReLU layers on a summary vector (the study's 64-32-16)."""

    hidden: Sequence[int] = (64, 32, 16)
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False, mask=None):
        x = x.astype(self.dtype)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, dtype=self.dtype)(x))
        return x


class CNNBackbone(nn.Module):
    """The study's CNN: [conv ReLU -> max-pool stride 2x2 -> batch norm] blocks -> dense ReLU.

    Convolutions use SAME padding (the study used VALID) so short MFCC inputs (few coefficients)
    still reach the dense layer. The dense layer's output is the embedding.
    """

    features: Sequence[int] = (32, 32, 32)
    kernels: Sequence[int] = (3, 3, 2)
    dense: int = 64
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False, mask=None):
        x = x[..., None].astype(self.dtype)
        for width, k in zip(self.features, self.kernels, strict=True):
            x = nn.relu(nn.Conv(width, (k, k), padding="SAME", dtype=self.dtype)(x))
            x = nn.max_pool(x, (k, k), strides=(2, 2), padding="SAME")
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)(
                x, mask=_bn_mask(mask, x)
            )
        x = x.reshape((x.shape[0], -1))
        return nn.relu(nn.Dense(self.dense, dtype=self.dtype)(x))


def spectrogram_to_image(x, size: int):
    """dB spectrograms ``(batch, bands, time)`` -> ImageNet-normalised ``(batch, size, size, 3)``.

    Each spectrogram is scaled to grayscale [0, 1] by its own min/max (as a saved spectrogram
    image is), flipped so low frequencies are at the bottom, resized bilinearly, repeated to
    three channels and normalised with ImageNet statistics so pretrained weights apply.
    """
    low = x.min(axis=(1, 2), keepdims=True)
    high = x.max(axis=(1, 2), keepdims=True)
    gray = (x - low) / jnp.maximum(high - low, 1e-6)
    gray = jax.image.resize(gray[:, ::-1, :], (x.shape[0], size, size), "bilinear")
    rgb = jnp.repeat(gray[..., None], 3, axis=-1)
    return (rgb - jnp.asarray(IMAGENET_MEAN)) / jnp.asarray(IMAGENET_STD)


class ResNetBlock(nn.Module):
    """Basic two-conv residual block (ResNet-18/34)."""

    filters: int
    conv: Callable
    norm: Callable
    strides: tuple[int, int] = (1, 1)

    @nn.compact
    def __call__(self, x, mask=None):
        def norm(y, **kwargs):
            return self.norm(**kwargs)(y, mask=_bn_mask(mask, y))

        residual = x
        y = nn.relu(norm(self.conv(self.filters, (3, 3), self.strides)(x)))
        y = norm(self.conv(self.filters, (3, 3))(y), scale_init=nn.initializers.zeros_init())
        if residual.shape != y.shape:
            residual = self.conv(self.filters, (1, 1), self.strides, name="conv_proj")(residual)
            residual = norm(residual, name="norm_proj")
        return nn.relu(residual + y)


class BottleneckResNetBlock(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4) bottleneck block (ResNet-50 and deeper)."""

    filters: int
    conv: Callable
    norm: Callable
    strides: tuple[int, int] = (1, 1)

    @nn.compact
    def __call__(self, x, mask=None):
        def norm(y, **kwargs):
            return self.norm(**kwargs)(y, mask=_bn_mask(mask, y))

        residual = x
        y = nn.relu(norm(self.conv(self.filters, (1, 1))(x)))
        y = nn.relu(norm(self.conv(self.filters, (3, 3), self.strides)(y)))
        y = norm(self.conv(self.filters * 4, (1, 1))(y), scale_init=nn.initializers.zeros_init())
        if residual.shape != y.shape:
            residual = self.conv(self.filters * 4, (1, 1), self.strides, name="conv_proj")(residual)
            residual = norm(residual, name="norm_proj")
        return nn.relu(residual + y)


class ResNetBackbone(nn.Module):
    """ResNet on spectrogram images; ``stages=(3, 4, 6, 3)`` with bottlenecks is ResNet-50.

    Layer names follow the Flax ImageNet example, so its ResNet-50 weights (without the final
    ``Dense_0``) load as this backbone. The embedding is the global-average-pooled feature map.
    """

    stages: Sequence[int] = (3, 4, 6, 3)
    width: int = 64
    bottleneck: bool = True
    image_size: int = 224
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False, mask=None):
        conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype)
        norm = functools.partial(
            nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5,
            dtype=self.dtype,
        )
        block = BottleneckResNetBlock if self.bottleneck else ResNetBlock
        # The per-image scaling runs in float32 (min/max of dB values), the network in dtype.
        x = spectrogram_to_image(x.astype(jnp.float32), self.image_size).astype(self.dtype)
        x = conv(self.width, (7, 7), (2, 2), padding=[(3, 3), (3, 3)], name="conv_init")(x)
        x = nn.relu(norm(name="bn_init")(x, mask=_bn_mask(mask, x)))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        for i, n_blocks in enumerate(self.stages):
            for j in range(n_blocks):
                strides = (2, 2) if i > 0 and j == 0 else (1, 1)
                x = block(self.width * 2**i, conv=conv, norm=norm, strides=strides)(x, mask)
        return jnp.mean(x, axis=(1, 2))


class Classifier(nn.Module):
    """``backbone`` -> dropout -> ``head``; the backbone's output is the embedding.

    ``freeze_backbone`` (transfer learning, head mode) runs the backbone in inference mode under
    ``stop_gradient``: frozen batch statistics stay fixed and no backbone gradient is computed.
    """

    backbone: nn.Module
    n_classes: int
    dropout: float = 0.0
    freeze_backbone: bool = False
    dtype: Any = jnp.float32

    def setup(self):
        self.head = nn.Dense(self.n_classes, dtype=self.dtype)
        self.drop = nn.Dropout(self.dropout)

    def embed(self, x, *, train: bool = False, mask=None):
        if self.freeze_backbone:
            return jax.lax.stop_gradient(self.backbone(x, train=False))
        return self.backbone(x, train=train, mask=mask)

    def __call__(self, x, *, train: bool = False, mask=None):
        z = self.embed(x, train=train, mask=mask)
        return self.head(self.drop(z, deterministic=not train)).astype(jnp.float32)


class FusionClassifier(nn.Module):
    """CNN embedding (with dropout) ++ Echonest features ++ their presence mask -> ``head``.

    Tracks without Echonest features are kept, not excluded: their (standardised) values are 0,
    the training mean, and the presence mask tells the head they are missing, so it can learn to
    lean on the spectrogram alone for them. The embedding is the head's whole input.
    """

    backbone: nn.Module
    n_classes: int
    dropout: float = 0.3
    freeze_backbone: bool = False
    dtype: Any = jnp.float32

    def setup(self):
        self.head = nn.Dense(self.n_classes, dtype=self.dtype)
        self.drop = nn.Dropout(self.dropout)

    def _cnn(self, x, train, mask):
        if self.freeze_backbone:
            return jax.lax.stop_gradient(self.backbone(x, train=False))
        return self.backbone(x, train=train, mask=mask)

    def embed(self, x, echonest, echonest_mask, *, train: bool = False, mask=None):
        e = self._cnn(x, train, mask).astype(jnp.float32)
        return jnp.concatenate([e, echonest * echonest_mask, echonest_mask], axis=-1)

    def __call__(self, x, echonest, echonest_mask, *, train: bool = False, mask=None):
        e = self.drop(self._cnn(x, train, mask), deterministic=not train).astype(jnp.float32)
        fused = jnp.concatenate([e, echonest * echonest_mask, echonest_mask], axis=-1)
        return self.head(fused).astype(jnp.float32)


def _mlp(config: ModelConfig, n_classes: int, freeze_backbone: bool, dtype) -> nn.Module:
    backbone = MLPBackbone(hidden=config.mlp_hidden, dtype=dtype)
    return Classifier(backbone, n_classes, 0.0, freeze_backbone, dtype)


def _cnn_backbone(config: ModelConfig, dtype) -> CNNBackbone:
    return CNNBackbone(
        features=config.cnn_features, kernels=config.cnn_kernels, dense=config.cnn_dense,
        dtype=dtype,
    )


def _cnn(config: ModelConfig, n_classes: int, freeze_backbone: bool, dtype) -> nn.Module:
    backbone = _cnn_backbone(config, dtype)
    return Classifier(backbone, n_classes, config.dropout, freeze_backbone, dtype)


def _fusion(config: ModelConfig, n_classes: int, freeze_backbone: bool, dtype) -> nn.Module:
    backbone = _cnn_backbone(config, dtype)
    return FusionClassifier(backbone, n_classes, config.dropout, freeze_backbone, dtype)


def _resnet50(config: ModelConfig, n_classes: int, freeze_backbone: bool, dtype) -> nn.Module:
    backbone = ResNetBackbone(
        stages=config.resnet_stages,
        width=config.resnet_width,
        bottleneck=config.resnet_bottleneck,
        image_size=config.image_size,
        dtype=dtype,
    )
    return Classifier(backbone, n_classes, 0.0, freeze_backbone, dtype)


# The model table: ModelConfig.kind -> builder. Adding a model is one entry here (and its name
# in nn.config.MODEL_KINDS, which validates configs without importing Flax).
MODELS = {"mlp": _mlp, "cnn": _cnn, "fusion": _fusion, "resnet50": _resnet50}
if tuple(MODELS) != MODEL_KINDS:
    raise ImportError(f"nn.models.MODELS {tuple(MODELS)} != nn.config.MODEL_KINDS {MODEL_KINDS}")


def create_model(
    config: ModelConfig, n_classes: int, *, freeze_backbone: bool = False, dtype: str = "float32"
) -> nn.Module:
    """The network ``config`` describes, with a ``n_classes``-way head, computing in ``dtype``
    (``float32`` or ``bfloat16``; parameters are float32 either way)."""
    return MODELS[config.kind](config, n_classes, freeze_backbone, jnp.dtype(dtype))


def model_inputs(config: ModelConfig, batch: dict) -> tuple:
    """The positional inputs ``config``'s model takes from a batch dict."""
    if config.uses_echonest:
        return batch["x"], batch["echonest"], batch["echonest_mask"]
    return (batch["x"],)
