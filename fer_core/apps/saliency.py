"""Occlusion sensitivity: which parts of a face moved the model's answer (Zeiler & Fergus 2014, section 4.2).

A grey square slides over the face at the model's input size; each position is one ``predict`` call in a single
batch, and a pixel's score is the mean drop of the predicted class's probability over the squares that covered it.
Positive: covering it lowered the answer's probability (the region supported the answer); negative: covering it
made the model surer (the region argued against it). It needs nothing but ``predict``, so it works for every backend
(ONNX Runtime, torch, ensembles, TTA). Cost: one batch of ``(1 + positions)`` faces - 122 at 48 px with the default
square - computed only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter

import cv2
import numpy as np

from fer_core.vision.pipeline import ClassifierLike

__all__ = ["Saliency", "occlusion_saliency", "saliency_overlay"]


@dataclass(frozen=True)
class Saliency:
    """A face's occlusion map at the model's input size, the class it explains, and what it cost."""

    face: np.ndarray  # uint8 grey (size, size): what the model saw
    heat: np.ndarray  # float32 (size, size): mean drop of the target's probability when covered
    target: int
    probability: float
    forward_passes: int
    milliseconds: float


def _grey_square(crop: np.ndarray, size: int) -> np.ndarray:
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return cv2.resize(np.ascontiguousarray(grey), (size, size), interpolation=cv2.INTER_AREA)


def _positions(size: int, patch: int, stride: int) -> list[int]:
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:  # the last square reaches the border
        starts.append(size - patch)
    return starts


def occlusion_saliency(
    classifier: ClassifierLike, crop: np.ndarray, size: int, *, patch: int | None = None, target: int | None = None
) -> Saliency:
    """The occlusion map of ``crop`` (BGR or grey, any size) for ``target`` (default: the predicted class).

    ``size`` is the model's input size; the square is a sixth of it by default and moves by half its side.
    """
    start = perf_counter()
    face = _grey_square(crop, size)
    patch = patch or max(2, size // 6)
    stride = max(1, patch // 2)
    fill = np.uint8(round(float(face.mean())))
    covered, boxes = [face], []
    for top in _positions(size, patch, stride):
        for left in _positions(size, patch, stride):
            occluded = face.copy()
            occluded[top : top + patch, left : left + patch] = fill
            covered.append(occluded)
            boxes.append((top, left))
    probs = np.asarray(classifier.predict(covered), dtype=np.float32)
    target = int(probs[0].argmax()) if target is None else target
    drops = probs[0, target] - probs[1:, target]
    total, count = np.zeros((size, size), np.float32), np.zeros((size, size), np.float32)
    for (top, left), drop in zip(boxes, drops, strict=True):
        total[top : top + patch, left : left + patch] += drop
        count[top : top + patch, left : left + patch] += 1
    heat = total / np.maximum(count, 1)
    elapsed = (perf_counter() - start) * 1e3
    return Saliency(face, heat, target, float(probs[0, target]), len(covered), elapsed)


def saliency_overlay(saliency: Saliency, display_px: int = 192) -> np.ndarray:
    """RGB image for display: the face in grey, red where it supported the answer, blue where it argued against it.

    The colour strength is relative to the map's largest absolute value (the legend says so).
    """
    scale = float(np.abs(saliency.heat).max()) or 1.0
    signed = np.clip(saliency.heat / scale, -1, 1)
    grey = saliency.face.astype(np.float32)[..., None].repeat(3, axis=2) * 0.6
    red = np.array([255, 40, 40], np.float32) * np.clip(signed, 0, 1)[..., None]
    blue = np.array([40, 90, 255], np.float32) * np.clip(-signed, 0, 1)[..., None]
    strength = np.abs(signed)[..., None] * 0.7
    blended = grey * (1 - strength) + (red + blue) * strength + 0.4 * saliency.face[..., None] * (1 - strength)
    image = np.clip(blended, 0, 255).astype(np.uint8)
    return cv2.resize(image, (display_px, display_px), interpolation=cv2.INTER_NEAREST)
