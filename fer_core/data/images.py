"""Decoding many small image files quickly (OpenCV releases the GIL, so a thread pool scales)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from fer_core.data.arrays import DatasetError

__all__ = ["IMAGE_SUFFIXES", "read_gray_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _read_one(path: Path, size: int | None) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if image is None:
        raise DatasetError(f"{path}: unreadable image")
    if size is not None and image.shape != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image


def read_gray_images(
    paths: Sequence[Path], *, size: int | None = 48, progress: bool = False, desc: str = "images"
) -> np.ndarray:
    """Stack of grey images ``(N, size, size)`` uint8; images of another size are resized (INTER_AREA)."""
    if not paths:
        return np.zeros((0, size or 48, size or 48), np.uint8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        images = list(
            tqdm(pool.map(lambda p: _read_one(p, size), paths), total=len(paths), desc=desc, disable=not progress)
        )
    return np.stack(images)
