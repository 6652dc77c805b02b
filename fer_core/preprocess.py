"""Face crop -> grayscale -> resize -> normalise, exactly as a checkpoint's card says; test-time augmentation.

Every model here is trained on 48x48 grayscale faces (FER2013 / FER+), so live crops are converted to grey even for
3-channel models (the grey plane is repeated) - a colour crop would be out of the training distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fer_core.card import InputSpec

__all__ = ["TTA_MODES", "InputSpec", "prepare_batch", "to_gray", "tta_views"]

TTA_MODES = ("none", "flip", "tencrop")


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grey plane of a BGR, BGRA or grey image."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"expected a grey or BGR image, got shape {image.shape}")


def _resize_gray(gray: np.ndarray, size: int) -> np.ndarray:
    if gray.shape == (size, size):
        return gray
    # INTER_AREA when shrinking avoids aliasing on large webcam crops; linear when enlarging.
    shrinking = max(gray.shape) > size
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def prepare_batch(crops: Sequence[np.ndarray] | np.ndarray, spec: InputSpec) -> np.ndarray:
    """Stack face crops into a normalised float32 batch ``(N, channels, size, size)``."""
    if len(crops) == 0:
        return np.zeros((0, spec.channels, spec.size, spec.size), np.float32)
    if isinstance(crops, np.ndarray) and crops.ndim == 3 and crops.shape[1:] == (spec.size, spec.size):
        grays = crops  # already a (N, size, size) grey stack, the common case in evaluation
    else:
        grays = np.stack([_resize_gray(to_gray(np.asarray(c)), spec.size) for c in crops])
    batch = grays.astype(np.float32)[:, None] * (1.0 / 255.0)
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    if spec.channels == 3:
        batch = np.repeat(batch, 3, axis=1)
    return (batch - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)


def tta_views(batch: np.ndarray, mode: str, crop_fraction: float = 0.875) -> list[np.ndarray]:
    """Views of a prepared batch whose predictions are averaged.

    ``flip`` adds the mirror image; ``tencrop`` takes four corner crops, the centre crop and their mirrors, each of
    ``crop_fraction`` of the side, resized back to the input size (Khaireddin & Chen 2021 use 40 of 48 px).
    """
    if mode not in TTA_MODES:
        raise ValueError(f"unknown TTA mode {mode!r}; known: {', '.join(TTA_MODES)}")
    if mode == "none":
        return [batch]
    if mode == "flip":
        return [batch, batch[..., ::-1].copy()]
    size = batch.shape[-1]
    crop = round(size * crop_fraction)
    offsets = [(0, 0), (0, size - crop), (size - crop, 0), (size - crop, size - crop)]
    offsets.append(((size - crop) // 2, (size - crop) // 2))
    views = []
    for top, left in offsets:
        patch = batch[..., top : top + crop, left : left + crop]
        view = _resize_batch(patch, size)
        views += [view, view[..., ::-1].copy()]
    return views


def _resize_batch(batch: np.ndarray, size: int) -> np.ndarray:
    n, c, h, w = batch.shape
    planes = batch.reshape(n * c, h, w).transpose(1, 2, 0)
    out = np.empty((size, size, n * c), np.float32)
    # cv2.resize handles at most 512 channels at once.
    for start in range(0, n * c, 512):
        chunk = np.ascontiguousarray(planes[:, :, start : start + 512])
        resized = cv2.resize(chunk, (size, size), interpolation=cv2.INTER_LINEAR)
        out[:, :, start : start + 512] = resized.reshape(size, size, -1)
    return out.transpose(2, 0, 1).reshape(n, c, size, size)
