"""Finding and decoding many small image files quickly.

Decoding ~30k PNGs is the slow part of loading a split. ``cv2.imdecode`` releases the GIL, so a thread pool scales
with the cores without the start-up and copying cost of processes. ``os.scandir`` lists a 30k-file tree several
times faster than ``Path.rglob`` because it does not build a ``Path`` per entry.

Dataset images are face crops, so one declaring more than :data:`MAX_DATASET_IMAGE_PIXELS` is refused from its
header, before OpenCV decodes it (a 250 KB PNG can declare 9400x9400 pixels). PNG and JPEG headers, nearly every
dataset file, are read here in microseconds; other formats through Pillow's lazy ``Image.open``.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from fer_core.data.arrays import DatasetError
from fer_core.data.preprocess import resize_face
from fer_core.store.files import UnsafeFileError, read_regular_file

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_DATASET_IMAGE_PIXELS",
    "decode_gray",
    "header_size",
    "is_image_name",
    "list_images",
    "read_gray_images",
    "strip_image_suffix",
    "thread_workers",
    "walk_files",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
MAX_DATASET_IMAGE_PIXELS = 4096 * 4096  # 16 MB as grey per decoding thread; face crops are far smaller
MAX_DATASET_IMAGE_BYTES = 64 * 2**20  # the largest such image, uncompressed in colour, is 48 MB
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (they hold the image size); C4, C8 and CC share the range but are not frames.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def is_image_name(name: str) -> bool:
    """True for file names with an image extension OpenCV reads (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def strip_image_suffix(relative: str) -> str:
    """``a/b.png`` -> ``a/b``, so ``.png`` and ``.jpg`` copies of a dataset give the same sample ids."""
    stem, suffix = os.path.splitext(relative)
    return stem if suffix.lower() in IMAGE_SUFFIXES else relative


def thread_workers() -> int:
    """Decoder threads: two per core (file reads overlap with decoding), at most 16."""
    return min(16, 2 * (os.cpu_count() or 1))


def walk_files(folder: Path) -> Iterator[os.DirEntry]:
    """Every regular file under ``folder`` (recursive, hidden entries skipped), in no particular order."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                yield from walk_files(Path(entry.path))
            elif entry.is_file():
                yield entry


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if e.is_file() and is_image_name(e.name) and e.name[0] != ".")
    return [folder / name for name in names]


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame segment, walking the segments before it."""
    position = 2
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_FRAMES:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + length
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) an encoded image declares, without decoding it; None when the header cannot say."""
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError:
        return 1 << 16, 1 << 16  # Pillow itself found it far too large
    except Exception:  # not an image Pillow knows: OpenCV decides (and names the file when it cannot read it)
        return None


def _check_pixels(data: np.ndarray, source: object) -> None:
    size = header_size(data.tobytes())
    if size is not None and size[0] * size[1] > MAX_DATASET_IMAGE_PIXELS:
        width, height = size
        raise DatasetError(
            f"{source}: image is {width}x{height} pixels, more than the {MAX_DATASET_IMAGE_PIXELS:,} a dataset image "
            "(a face crop) may have; it is not decoded"
        )


def decode_gray(data: np.ndarray, size: int | None, source: object, color: bool = False) -> np.ndarray:
    """Encoded bytes -> grey ``(size, size)`` uint8 (colour converted, other sizes resized); ``source`` names errors.

    ``color``: BGR ``(size, size, 3)`` instead (grey images repeated to three channels). Images declaring more than
    :data:`MAX_DATASET_IMAGE_PIXELS` are refused before decoding.
    """
    if data.size:
        _check_pixels(data, source)
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE
    image = cv2.imdecode(data, flag) if data.size else None
    if image is None:
        raise DatasetError(f"{source}: unreadable image")
    return image if size is None else resize_face(image, size)


def _read_one(path: Path, size: int | None, color: bool = False) -> np.ndarray:
    try:
        data = np.frombuffer(read_regular_file(path, MAX_DATASET_IMAGE_BYTES, "dataset image"), np.uint8)
    except UnsafeFileError as err:
        raise DatasetError(str(err)) from None
    except OSError as err:
        raise DatasetError(f"{path}: unreadable image ({err.strerror})") from err
    return decode_gray(data, size, path, color)


def read_gray_images(
    paths: Sequence[Path], *, size: int | None = 48, progress: bool = False, desc: str = "images", color: bool = False
) -> np.ndarray:
    """Stack of grey images ``(N, size, size)`` uint8 (``color``: BGR ``(N, size, size, 3)``), decoded on a thread pool.

    ``size=None`` keeps the native size: grey images must then share one; colour images (evaluated at their own
    resolution) of several sizes are brought to the most common one (area when shrinking, linear when enlarging).
    The first bad file raises a :class:`DatasetError` naming it.
    """
    if not paths:
        return np.zeros((0, size or 48, size or 48, *((3,) if color else ())), np.uint8)
    with ThreadPoolExecutor(max_workers=thread_workers()) as pool:
        decoded = pool.map(lambda path: _read_one(path, size, color), paths)
        images = list(tqdm(decoded, total=len(paths), desc=desc, unit="img", disable=not progress))
    shapes = {image.shape for image in images}
    if len(shapes) > 1 and color:
        return np.stack(_to_common_size(images))
    if len(shapes) > 1:
        raise DatasetError(f"{paths[0].parent}: images of different sizes {sorted(shapes)}; pass a size")
    return np.stack(images)


def _to_common_size(images: list[np.ndarray]) -> list[np.ndarray]:
    """Images of several sizes at the most common one (the first such size when there is a tie)."""
    counts: dict[tuple[int, ...], int] = {}
    for image in images:
        counts[image.shape] = counts.get(image.shape, 0) + 1
    height, width = max(counts, key=lambda shape: counts[shape])[:2]
    out = []
    for image in images:
        mode = cv2.INTER_AREA if image.shape[0] > height or image.shape[1] > width else cv2.INTER_LINEAR
        out.append(
            image if image.shape[:2] == (height, width) else cv2.resize(image, (width, height), interpolation=mode)
        )
    return out
