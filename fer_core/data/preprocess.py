"""Face crop -> the model's input, exactly as its card's ``input`` says; test-time augmentation.

Face crops arrive in colour (BGR, as OpenCV decodes) at the resolution of their source, and each model converts
them as it was trained (:func:`transform_face`): the project's own models take 48 px grey faces (the grey plane
repeated for 3-channel ones); a model brought from transformers or timm takes colour at its own size, with its own
resize/crop policy, interpolation and scaling, read from its own preprocessing config (``preprocessor_config.json``
or timm's ``pretrained_cfg``). That path is NumPy, OpenCV and Pillow only - Pillow's filters are the ones the
reference transforms (transformers' image processors, timm's ``create_transform``) use - so ONNX serving needs no
torch; tests hold it within 1e-3 of the references.

For the project's own models this is the one preprocessing path of the project: training
(``fer_core.training.loop``), evaluation (``fer_core.evaluation.evaluate``), dataset decoding (``fer_core.data``) and
serving (``Classifier.predict``) resize with :func:`resize_face` / :func:`resize_stack` (one rule: INTER_AREA when
shrinking, INTER_LINEAR when enlarging) and normalise with :func:`normalise` (per channel, with the card's ``mean``
and ``std``), so a face gives the model the same tensor wherever it comes from.
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
    "PIL_FILTERS",
    "TTA_MODES",
    "InputSpec",
    "normalise",
    "prepare_batch",
    "resize_face",
    "resize_interpolation",
    "resize_stack",
    "to_gray",
    "transform_face",
    "tta_views",
]

TTA_MODES = ("none", "flip", "tencrop")
# Pillow's resampling filter codes (the numbers transformers writes as ``resample``), by name.
PIL_FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}


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
    if not spec.is_project_default:
        return np.stack([transform_face(np.asarray(c), spec) for c in crops])
    if isinstance(crops, np.ndarray) and crops.ndim == 3 and crops.dtype == np.uint8:
        grays = resize_stack(crops, spec.size)  # already a (N, H, W) grey stack, the common case in evaluation
    else:
        grays = np.stack([resize_face(to_gray(np.asarray(c)), spec.size) for c in crops])
    return normalise(grays, spec)


def to_color(image: np.ndarray, order: str) -> np.ndarray:
    """uint8 ``(H, W, 3)`` in ``order`` (``rgb`` or ``bgr``) of a BGR, BGRA or grey image (grey repeated)."""
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 2 or image.shape[2] == 1:
        return np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a grey or BGR image, got shape {image.shape}")
    return np.ascontiguousarray(image[:, :, ::-1]) if order == "rgb" else image


def _resize_to(image: np.ndarray, width: int, height: int, interpolation: str) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    if interpolation == "area_linear":
        mode = resize_interpolation(image.shape[:2], max(width, height))
        return cv2.resize(image, (width, height), interpolation=mode)
    from PIL import Image

    resized = Image.fromarray(image).resize((width, height), resample=PIL_FILTERS[interpolation])
    return np.asarray(resized)


def _resized_and_cropped(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Resize by the spec's policy (both edges, or the shorter edge keeping the aspect), then centre-crop to size.

    The shorter edge goes to ``edge`` and the longer to ``int(edge * long / short)`` (torchvision's ``Resize``, which
    timm uses, and transformers alike); the crop starts at ``round((extent - size) / 2)`` (torchvision's
    ``CenterCrop``) or ``(extent - size) // 2`` (transformers), as the spec's ``crop_offset`` says.
    """
    height, width = image.shape[:2]
    edge = spec.edge
    if spec.resize == "squash":
        new_w, new_h = edge, edge
    elif width <= height:
        new_w, new_h = edge, int(edge * height / width)
    else:
        new_w, new_h = int(edge * width / height), edge
    image = _resize_to(image, new_w, new_h, spec.interpolation)
    offset = (lambda extra: extra // 2) if spec.crop_offset == "floor" else (lambda extra: round(extra / 2.0))
    top, left = offset(new_h - spec.size), offset(new_w - spec.size)
    return image[top : top + spec.size, left : left + spec.size]


def transform_face(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """One uint8 face crop (BGR, BGRA or grey, any size) -> float32 ``(channels, size, size)`` by the spec."""
    pixels = to_gray(image) if spec.color == "gray" else to_color(image, spec.color)
    pixels = _resized_and_cropped(pixels, spec)
    # float32 throughout; the plain annotation keeps numpy's stubs from widening the division below to complex
    x: np.ndarray = pixels.astype(np.float32) * np.float32(spec.rescale)
    x = x[:, :, None] if x.ndim == 2 else x
    if spec.normalize:
        x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    x = np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)
    return np.broadcast_to(x, (spec.channels, *x.shape[1:])) if len(x) != spec.channels else x


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
