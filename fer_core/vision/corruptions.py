"""Webcam-like corruptions of face crops: blur, motion blur, noise, JPEG, exposure, contrast, covered eyes or mouth,
and face boxes placed otherwise than the dataset's (tighter, looser, shifted), as another face detector places them.

Each takes a ``(N, H, W)`` grey or ``(N, H, W, 3)`` colour uint8 stack (faces as the dataset has them) and returns
one of the same shape; the grammar and the value of every severity live in :mod:`fer_core.evaluation.conditions`.
Parameters are given for a 48 px face and scaled by ``H / 48``. Noise is seeded per call (``seed``), so a stored
run can be reproduced.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

__all__ = ["CORRUPTORS", "corrupt"]

_REFERENCE_PX = 48.0


def _scale(images: np.ndarray) -> float:
    return images.shape[1] / _REFERENCE_PX


def _per_image(images: np.ndarray, change: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.stack([change(image) for image in images]) if len(images) else images.copy()


def gaussian_blur(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    sigma = sigma * _scale(images)
    return _per_image(images, lambda image: cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma))


def motion_blur(images: np.ndarray, length: float, seed: int = 0) -> np.ndarray:
    """A horizontal line kernel (a head turning, a hand-held camera panning)."""
    size = max(1, round(length * _scale(images)))
    kernel = np.full((1, size), 1.0 / size, np.float32)
    return _per_image(images, lambda image: cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE))


def gaussian_noise(images: np.ndarray, std: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, std, images.shape)
    return np.clip(images + noise, 0, 255).round().astype(np.uint8)


def jpeg(images: np.ndarray, quality: float, seed: int = 0) -> np.ndarray:
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]

    def round_trip(image: np.ndarray) -> np.ndarray:
        ok, encoded = cv2.imencode(".jpg", image, params)
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode a face")
        decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise RuntimeError("OpenCV could not decode a face it had just JPEG-encoded")
        return decoded

    return _per_image(images, round_trip)


def exposure(images: np.ndarray, gain: float, seed: int = 0) -> np.ndarray:
    """``255 * gain * (x / 255) ** (1 / sqrt(gain))``: a gain below 1 darkens and crushes shadows, above 1 burns
    highlights out (clipped at white), as an auto-exposure that got it wrong does."""
    table = 255.0 * gain * (np.arange(256) / 255.0) ** (1.0 / np.sqrt(gain))
    return np.clip(table, 0, 255).round().astype(np.uint8)[images]


def low_contrast(images: np.ndarray, factor: float, seed: int = 0) -> np.ndarray:
    """Each face pulled towards its own mean brightness by ``factor`` (1: unchanged)."""
    shape = (-1,) + (1,) * (images.ndim - 1)
    mean = images.reshape(len(images), -1).mean(1).reshape(shape) if len(images) else 0.0
    return np.clip(mean + factor * (images - mean), 0, 255).round().astype(np.uint8)


def occlude_rows(images: np.ndarray, band: tuple[float, float], seed: int = 0) -> np.ndarray:
    """A mid-grey band over the rows ``band`` (fractions of the face height, top to bottom) of every face."""
    height = images.shape[1]
    top, bottom = round(band[0] * height), round(band[1] * height)
    covered = images.copy()
    covered[:, top:bottom, :] = 128
    return covered


def _reframe(image: np.ndarray, zoom: float, shift: tuple[float, float]) -> np.ndarray:
    """``image`` seen through a box ``1 / zoom`` its side, moved by ``shift`` (fractions of the side, x and y).

    Outside the face the margin is the face mirrored (``BORDER_REFLECT_101``): a dataset crop has no wider context
    to show, and a mirror keeps the edges free of the hard lines a constant border would draw.
    """
    height, width = image.shape[:2]
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    matrix = np.array(
        [
            [zoom, 0.0, centre_x - zoom * (centre_x + shift[0] * width)],
            [0.0, zoom, centre_y - zoom * (centre_y + shift[1] * height)],
        ]
    )
    return cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    ).reshape(image.shape)


def rescaled_box(images: np.ndarray, side: float, seed: int = 0) -> np.ndarray:
    """The face seen through a centred box ``side`` times the dataset's: below 1 a box drawn closer round the face
    (forehead and chin cut, the face enlarged), above 1 a looser one (the face shrunk, with a mirrored margin)."""
    return _per_image(images, lambda image: _reframe(image, 1.0 / side, (0.0, 0.0)))


def shifted_box(images: np.ndarray, offset: float, seed: int = 0) -> np.ndarray:
    """The box moved by ``offset`` of the face's side along x and y, each by a sign drawn per face (seeded): the
    diagonal jitter of a detector's box."""
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(len(images), 2))
    moved = [_reframe(image, 1.0, (offset * sx, offset * sy)) for image, (sx, sy) in zip(images, signs, strict=True)]
    return np.stack(moved) if moved else images.copy()


CORRUPTORS: dict[str, Callable[..., np.ndarray]] = {
    "blur": gaussian_blur,
    "motion": motion_blur,
    "noise": gaussian_noise,
    "jpeg": jpeg,
    "dark": exposure,
    "bright": exposure,
    "contrast": low_contrast,
    "eyes": occlude_rows,
    "mouth": occlude_rows,
    "tight": rescaled_box,
    "loose": rescaled_box,
    "shift": shifted_box,
}


def corrupt(images: np.ndarray, kind: str, value, seed: int = 0) -> np.ndarray:
    """``images`` under corruption ``kind`` with parameter ``value`` (KeyError naming the valid kinds)."""
    if kind not in CORRUPTORS:
        raise KeyError(f"unknown corruption {kind!r}; known: {', '.join(CORRUPTORS)}")
    return CORRUPTORS[kind](np.asarray(images, np.uint8), value, seed=seed)
