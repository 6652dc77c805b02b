"""Face crop -> grayscale -> resize -> normalise, exactly as a checkpoint's card says; test-time augmentation.

Every model here is trained on 48x48 grayscale faces (FER2013 / FER+), so live crops are converted to grey even for
3-channel models (the grey plane is repeated) - a colour crop would be out of the training distribution.

This is the one preprocessing path of the project: training (``fer_core.training.loop``), evaluation
(``fer_core.evaluation.evaluate``), dataset decoding (``fer_core.data``) and serving (``Classifier.predict``) resize
with :func:`resize_face` / :func:`resize_stack` (one rule: INTER_AREA when shrinking, INTER_LINEAR when enlarging) and
normalise with :func:`normalise` (per channel, with the card's ``mean`` and ``std``), so a face gives the model the
same tensor wherever it comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, overload

import cv2
import numpy as np

from fer_core.store.card import InputSpec

if TYPE_CHECKING:
    import torch

__all__ = [
    "TTA_MODES",
    "InputSpec",
    "normalise",
    "prepare_batch",
    "resize_face",
    "resize_interpolation",
    "resize_stack",
    "to_gray",
    "tta_views",
]

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


def resize_interpolation(shape: Sequence[int], size: int) -> int:
    """The one resize rule: INTER_AREA when shrinking (no aliasing on large webcam crops), INTER_LINEAR otherwise."""
    return cv2.INTER_AREA if max(shape) > size else cv2.INTER_LINEAR


def resize_face(gray: np.ndarray, size: int) -> np.ndarray:
    """One grey face to ``size`` x ``size`` by :func:`resize_interpolation`."""
    if gray.shape == (size, size):
        return gray
    return cv2.resize(gray, (size, size), interpolation=resize_interpolation(gray.shape, size))


def resize_stack(images: np.ndarray, size: int, interpolation: int | None = None) -> np.ndarray:
    """A ``(N, H, W)`` uint8 stack to ``size`` px, images riding as channels of one cv2.resize call.

    ``interpolation`` defaults to :func:`resize_interpolation` (the resize grid of ``fer_core.evaluation.evaluate``
    names its own). OpenCV takes up to 512 channels at once, except INTER_AREA at non-integer ratios, which takes at
    most 4.
    """
    if images.shape[1:] == (size, size):
        return images
    if interpolation is None:
        interpolation = resize_interpolation(images.shape[1:], size)
    step = 4 if interpolation == cv2.INTER_AREA else 512
    planes = np.ascontiguousarray(images.transpose(1, 2, 0))
    out = np.empty((size, size, len(images)), images.dtype)
    for start in range(0, len(images), step):
        chunk = np.ascontiguousarray(planes[:, :, start : start + step])
        resized = cv2.resize(chunk, (size, size), interpolation=interpolation)
        out[:, :, start : start + step] = resized.reshape(size, size, -1)
    return out.transpose(2, 0, 1)


@overload
def normalise(grays_u8: np.ndarray, spec: InputSpec) -> np.ndarray: ...


@overload
def normalise(grays_u8: torch.Tensor, spec: InputSpec) -> torch.Tensor: ...


def normalise(grays_u8: np.ndarray | torch.Tensor, spec: InputSpec) -> np.ndarray | torch.Tensor:
    """uint8 grey ``(N, H, W)`` -> float32 ``(N, channels, H, W)``: scaled to [0, 1], the grey plane repeated to
    the model's channels, minus ``mean`` and over ``std`` per channel.

    One formula for both array kinds: a NumPy batch stays NumPy (serving a face costs no torch call), a torch
    batch stays on its device (training); both give the same float32 values (``tests/fer_core/test_preprocess``).
    """
    if isinstance(grays_u8, np.ndarray):
        x = grays_u8.astype(np.float32)[:, None] * np.float32(1.0 / 255.0)
        mean, std = (np.asarray(v, np.float32).reshape(1, -1, 1, 1) for v in (spec.mean, spec.std))
        if spec.channels > 1:
            x = np.broadcast_to(x, (x.shape[0], spec.channels, *x.shape[2:]))
        return (x - mean) / std
    import torch  # here, so that reading datasets (fer_core.data resizes with this module) needs no torch

    t = grays_u8.to(torch.float32).unsqueeze(1) * (1.0 / 255.0)
    if spec.channels > 1:
        t = t.expand(-1, spec.channels, -1, -1)
    mean_t, std_t = (
        torch.tensor(v, dtype=torch.float32, device=t.device).view(1, -1, 1, 1) for v in (spec.mean, spec.std)
    )
    return (t - mean_t) / std_t


def prepare_batch(crops: Sequence[np.ndarray] | np.ndarray, spec: InputSpec) -> np.ndarray:
    """Stack face crops into a normalised float32 batch ``(N, channels, size, size)`` (for either backend)."""
    if len(crops) == 0:
        return np.zeros((0, spec.channels, spec.size, spec.size), np.float32)
    if isinstance(crops, np.ndarray) and crops.ndim == 3 and crops.dtype == np.uint8:
        grays = resize_stack(crops, spec.size)  # already a (N, H, W) grey stack, the common case in evaluation
    else:
        grays = np.stack([resize_face(to_gray(np.asarray(c)), spec.size) for c in crops])
    return normalise(grays, spec)


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
