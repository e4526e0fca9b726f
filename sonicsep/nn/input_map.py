"""Mapping one store's spectrogram segments onto a pretrained model's input layout.

A model trained on one feature config can be reused on a store made with another when the two
describe the same kind of spectrogram and differ only in sampling: the number of mel bands
(mel bands are equally spaced on the mel scale, so interpolating along the band index
resamples the mel axis), the frame rate (``sr / hop_length``; time is interpolated), the
segment length (longer segments are cropped to the model's frame count) or the number of MFCC
coefficients (the orthonormal DCT's first coefficients do not depend on how many are kept).
Anything else (a different FFT size, frequency range, dB reference, DCT...) changes the values
themselves, and :func:`plan_input_map` refuses it with a :class:`ModelError` naming the fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sonicsep.config import FeatureConfig
from sonicsep.errors import ModelError

# Fields that change spectrogram values (not just their sampling): they must match.
_VALUE_FIELDS = (
    "n_fft",
    "win_length",
    "window",
    "center",
    "power",
    "fmin",
    "fmax_hz",
    "htk",
    "mel_norm",
    "db_ref",
    "amin",
    "top_db",
)
_MFCC_FIELDS = ("n_mels", "dct_type", "dct_norm", "lifter")
_SUMMARY_FIELDS = ("features", "stats", "n_mfcc", "n_chroma", "n_bands", "segment_seconds")


@dataclass(frozen=True)
class InputMap:
    """Resample the mel axis and time, then keep the model's ``bands`` and ``frames``.

    ``mel_bands_in``: the store's number of mel bands, interpolated to ``bands`` band centres
    (None: the band axis is only cropped, as for MFCC). ``time_scale``: model frames per store
    frame (1.0: time is only cropped).
    """

    bands: int
    frames: int
    mel_bands_in: int | None = None
    time_scale: float = 1.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Map segments ``x`` [shape=(n, bands_in, frames_in)] to (n, bands, frames)."""
        x = np.asarray(x, np.float32)
        if self.mel_bands_in is not None and self.mel_bands_in != self.bands:
            # Band i's centre sits at (i + 1) / (n + 1) of the mel range for n bands.
            position = (np.arange(self.bands) + 1) * (self.mel_bands_in + 1) / (self.bands + 1) - 1
            x = _interpolate(x, 1, position)
        if self.time_scale != 1.0:
            x = _interpolate(x, 2, np.arange(self.frames) / self.time_scale)
        return x[:, : self.bands, : self.frames]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> InputMap:
        return cls(**data)


def _interpolate(x: np.ndarray, axis: int, position: np.ndarray) -> np.ndarray:
    """``x`` linearly interpolated along ``axis`` at fractional sample ``position``s."""
    n_in = x.shape[axis]
    position = np.clip(position, 0, n_in - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    shape = [1] * x.ndim
    shape[axis] = len(position)
    weight = (position - low).astype(np.float32).reshape(shape)
    return np.take(x, low, axis=axis) * (1 - weight) + np.take(x, high, axis=axis) * weight


def _differing(source: FeatureConfig, target: FeatureConfig, fields) -> list[str]:
    return [
        f"{f} ({getattr(source, f)!r} vs {getattr(target, f)!r})"
        for f in fields
        if getattr(source, f) != getattr(target, f)
    ]


def plan_input_map(
    source: FeatureConfig,
    target: FeatureConfig,
    feature: str,
    *,
    source_summary: tuple[str, ...] = (),
    target_summary: tuple[str, ...] = (),
) -> InputMap | None:
    """How to turn ``target``-config segments into ``source``-config model input.

    Returns None when the target already matches (no work per batch), an :class:`InputMap`
    when resampling/cropping suffices, and raises :class:`ModelError` when it cannot.
    """
    if feature == "summary":
        bad = _differing(source, target, _SUMMARY_FIELDS)
        if bad or tuple(source_summary) != tuple(target_summary):
            raise ModelError(
                "the pretrained MLP's summary features differ from the store's "
                f"({', '.join(bad) or 'summary feature names'}); re-featurize the store with "
                "the pretrained model's feature config"
            )
        return None
    fields = _VALUE_FIELDS + (_MFCC_FIELDS if feature == "mfcc" else ())
    bad = _differing(source, target, fields)
    if bad:
        raise ModelError(
            f"cannot map the store's {feature} onto the pretrained model's input: "
            f"{', '.join(bad)} (pretrained vs store) change the values, not just their "
            "sampling; re-featurize the store with the pretrained model's feature config"
        )
    time_scale = (source.sr / source.hop_length) / (target.sr / target.hop_length)
    # The model's last frame must fall inside the store's segment (no extrapolation).
    last_needed = (source.frames_per_segment - 1) / time_scale
    if last_needed > target.frames_per_segment - 1 + 1e-6:
        raise ModelError(
            f"the store's segments ({target.segment_seconds:g} s, {target.frames_per_segment} "
            f"frames) are shorter than the pretrained model's ({source.segment_seconds:g} s, "
            f"{source.frames_per_segment} frames); featurize with segment_seconds >= "
            f"{source.segment_seconds:g}"
        )
    if feature == "mfcc":
        if target.n_mfcc < source.n_mfcc:
            raise ModelError(
                f"the store has n_mfcc={target.n_mfcc} but the pretrained model needs "
                f"{source.n_mfcc} coefficients; featurize with n_mfcc >= {source.n_mfcc}"
            )
        plan = InputMap(source.n_mfcc, source.frames_per_segment, None, time_scale)
        target_shape = (target.n_mfcc, target.frames_per_segment)
    else:
        plan = InputMap(source.n_mels, source.frames_per_segment, target.n_mels, time_scale)
        target_shape = (target.n_mels, target.frames_per_segment)
    if time_scale == 1.0 and target_shape == (plan.bands, plan.frames):
        return None
    return plan
