"""Find and read the face image behind a stored run's ``sample_id`` (for the dashboard's error browser).

A ``sample_id`` is the image's path under the data root without its extension (``fer2013/test/angry/PrivateTest_1``,
``ferplus/FER2013Test/fer0032220``), as the dataset readers write it. Ids come from files, so an id that is
absolute, climbs out of the root (``..``) or names anything but a regular image file of sane size is refused.
Pillow reads the image: no OpenCV, no torch.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "MAX_FACE_BYTES", "read_face", "sample_image_path"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MAX_FACE_BYTES = 8 * 1024 * 1024  # a face crop is a few kB; anything this large is not one


def sample_image_path(root: Path, sample_id: str) -> Path | None:
    """The image file of ``sample_id`` under ``root``, or None when there is none (or the id is unsafe)."""
    relative = PurePosixPath(str(sample_id))
    if not str(sample_id) or relative.is_absolute() or ".." in relative.parts or "\x00" in str(sample_id):
        return None
    base = Path(root).resolve()
    for suffix in IMAGE_SUFFIXES:
        candidate = (base / relative).with_name(relative.name + suffix)
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):
            continue
        if resolved.is_relative_to(base) and resolved.is_file() and resolved.stat().st_size <= MAX_FACE_BYTES:
            return resolved
    return None


def read_face(path: Path) -> np.ndarray | None:
    """The image as uint8 grey ``(H, W)``; None when Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.width * image.height > 4096 * 4096:
                return None
            return np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError, ValueError):
        return None
