"""Between librosa's layout ``(..., bins, t)`` and the kernels' batched layouts."""

from __future__ import annotations

import numpy as np


def _batch(x: np.ndarray, core_ndim: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` with its leading axes flattened into one batch axis, and those axes' shape."""
    lead = x.shape[: x.ndim - core_ndim]
    return x.reshape((-1,) + x.shape[x.ndim - core_ndim :]), lead


def _frames_major(S: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """A librosa-layout spectrogram ``(.., k, t)`` as ``(batch, t, k)`` (a view when possible)."""
    batch, lead = _batch(S, 2)
    return batch.swapaxes(1, 2), lead


def _librosa_layout(out: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """``(batch, c, t)`` back to the input's leading axes: ``(.., c, t)``."""
    return out.reshape(lead + out.shape[1:])
