"""AffectNet (Mollahosseini et al. 2017, arXiv 1708.03985) in its common release layout.

``train_set/`` and ``val_set/``, each with ``images/<id>.jpg`` and ``annotations/<id>_exp.npy`` (the expression
code) beside ``<id>_val.npy``, ``<id>_aro.npy`` (valence, arousal in [-1, 1]) and ``<id>_lnd.npy`` (68 landmarks as
136 numbers), kept as metadata. The manually annotated validation set (``val_set``, 500 images per class in the
8-class release) is the usual test split; the release has no validation split of its own.

Annotation files hold one value as a string array (``'3'``) or a 0-d number array; both are read, and never with
``allow_pickle``. Two views:

- ``affectnet``: the 8 expressions in the FER+ label set (with contempt);
- ``affectnet7``: the 7 basic emotions in the FER2013 label set, contempt images dropped and counted.

Codes 8-10 of the full release (none, uncertain, non-face) are no emotion: dropped and counted in both views.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from numpy.lib import format as npy_format

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.images import list_images, read_gray_images, strip_image_suffix, thread_workers
from fer_core.data.splits import canonical_split
from fer_core.data.views import restrict_to_label_set
from fer_core.labels import FER2013, FERPLUS, LabelSet
from fer_core.store.files import read_regular_file

__all__ = [
    "AFFECTNET_EXPRESSIONS",
    "AFFECTNET_FOLDERS",
    "AFFECTNET_VIEWS",
    "NOT_AN_EMOTION",
    "affectnet_folder",
    "read_affectnet",
    "read_annotation",
]

# AffectNet's expression code -> canonical name (AffectNet's own names in the comments). One table, so the
# order difference from FER2013 (angry disgust fear happy sad surprise neutral) is visible in one place.
AFFECTNET_EXPRESSIONS = {
    0: "neutral",  # Neutral
    1: "happy",  # Happy
    2: "sad",  # Sad
    3: "surprise",  # Surprise
    4: "fear",  # Fear
    5: "disgust",  # Disgust
    6: "angry",  # Anger
    7: "contempt",  # Contempt
}
NON_EMOTION_CODES = {8: "none", 9: "uncertain", 10: "non-face"}
NOT_AN_EMOTION = "not an emotion (none, uncertain or non-face)"
AFFECTNET_FOLDERS = {"train": "train_set", "test": "val_set"}
AFFECTNET_VIEWS: dict[str, LabelSet] = {"affectnet": FERPLUS, "affectnet7": FER2013}
LANDMARK_VALUES = 136
MAX_ANNOTATION_BYTES = 2**20  # an annotation is one number or 136 landmark values: a few hundred bytes


def affectnet_folder(root: Path, split: str) -> Path:
    """``train_set`` for train, ``val_set`` for test; a clear error for ``val``, which the release does not have."""
    split = canonical_split(split)
    if split not in AFFECTNET_FOLDERS:
        raise DatasetError(
            f"{root}: AffectNet has no validation split: val_set is its test split (use split 'test'); "
            "select checkpoints on a part of train_set"
        )
    return root / AFFECTNET_FOLDERS[split]


def _load_value(path: Path) -> np.ndarray:
    """An annotation array: a regular ``.npy`` file of bounded size whose header matches its length (a header
    claiming terabytes is refused before anything is allocated), never with pickled objects."""
    try:
        data = read_regular_file(path, MAX_ANNOTATION_BYTES, "AffectNet annotation")
        return _npy_array(io.BytesIO(data), len(data))
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing annotation file") from None
    except (ValueError, OSError, EOFError) as err:
        raise DatasetError(f"{path}: not a numpy .npy array without pickled objects ({err})") from None


def _npy_array(stream: io.BytesIO, length: int) -> np.ndarray:
    version = npy_format.read_magic(stream)
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f".npy format version {version} is not one AffectNet uses (1.0, 2.0)")
    shape, _, dtype = readers[version](stream)  # the header alone, before anything is allocated
    if dtype.hasobject:
        raise ValueError("it holds Python objects")
    needed = math.prod(shape) * dtype.itemsize
    if needed != length - stream.tell():
        raise ValueError(f"its header declares {shape} {dtype} ({needed:,} bytes); the file holds {length:,} bytes")
    stream.seek(0)
    return np.load(stream, allow_pickle=False)


def _numbers(path: Path, value: np.ndarray) -> np.ndarray:
    """The numbers of an annotation array: numeric arrays as they are, strings split on commas, ';' or spaces."""
    if value.dtype.kind in "US":
        text = " ".join(str(v.decode() if isinstance(v, bytes) else v) for v in value.reshape(-1))
        try:
            return np.array(text.replace(",", " ").replace(";", " ").split(), dtype=np.float64)
        except ValueError:
            raise DatasetError(f"{path}: expected numbers, found {text[:40]!r}") from None
    if value.dtype.kind not in "iuf":
        raise DatasetError(f"{path}: expected numbers, found an array of dtype {value.dtype}")
    return value.reshape(-1).astype(np.float64)


def read_annotation(path: Path) -> float:
    """The single number an ``_exp`` / ``_val`` / ``_aro`` file holds (string or 0-d array)."""
    numbers = _numbers(path, _load_value(path))
    if numbers.size != 1:
        raise DatasetError(f"{path}: expected one value, found {numbers.size}")
    return float(numbers[0])


def _expression_code(path: Path) -> int:
    value = read_annotation(path)
    known = {**AFFECTNET_EXPRESSIONS, **NON_EMOTION_CODES}
    if value != int(value) or int(value) not in known:
        codes = ", ".join(f"{code} {name}" for code, name in known.items())
        raise DatasetError(f"{path}: expression {value:g} is not an AffectNet code ({codes})")
    return int(value)


Value = TypeVar("Value")


def _optional(path: Path, read: Callable[[Path], Value], missing: Value) -> Value:
    return read(path) if path.is_file() else missing


def _landmarks(path: Path) -> str:
    """The 136 landmark numbers as one space-separated string (compact, and a plain column in caches and packs)."""
    numbers = _numbers(path, _load_value(path))
    if numbers.size != LANDMARK_VALUES:
        raise DatasetError(f"{path}: expected {LANDMARK_VALUES} landmark values (68 x, y pairs), found {numbers.size}")
    return " ".join(f"{v:g}" for v in numbers)


def _annotations(annotations: Path, image: Path) -> tuple[int, float, float, str | None]:
    """Expression code, valence, arousal and landmarks of one image; only the expression file is required."""
    stem = image.stem
    code = _expression_code(annotations / f"{stem}_exp.npy")
    valence = _optional(annotations / f"{stem}_val.npy", read_annotation, np.nan)
    arousal = _optional(annotations / f"{stem}_aro.npy", read_annotation, np.nan)
    landmarks = _optional(annotations / f"{stem}_lnd.npy", _landmarks, None)
    return code, valence, arousal, landmarks


def _read_annotations(annotations: Path, images: list[Path]) -> list[tuple[int, float, float, str | None]]:
    """Every image's annotations, on a thread pool (four small files per image; the reads dominate)."""
    with ThreadPoolExecutor(max_workers=thread_workers()) as pool:
        return list(pool.map(lambda image: _annotations(annotations, image), images))


def read_affectnet(
    root: Path,
    split: str,
    *,
    view: str = "affectnet",
    image_size: int | None = 48,
    progress: bool = False,
    color: bool = False,
) -> FaceArrays:
    """One split of AffectNet in a view of :data:`AFFECTNET_VIEWS`; sample ids ``affectnet/<set>/images/<id>``."""
    if view not in AFFECTNET_VIEWS:
        raise DatasetError(f"unknown AffectNet view {view!r}; known: {', '.join(AFFECTNET_VIEWS)}")
    split = canonical_split(split)
    folder = affectnet_folder(root, split)
    image_dir, annotation_dir = folder / "images", folder / "annotations"
    for needed in (image_dir, annotation_dir):
        if not needed.is_dir():
            raise DatasetError(f"{needed}: missing AffectNet folder (expected {folder}/images/ and annotations/)")
    paths = list_images(image_dir)
    if not paths:
        raise DatasetError(f"{image_dir}: no images")
    annotations = _read_annotations(annotation_dir, paths)
    codes, valence, arousal, landmarks = (list(column) for column in zip(*annotations, strict=True))
    emotion = np.array([code in AFFECTNET_EXPRESSIONS for code in codes])
    kept = [path for path, keep in zip(paths, emotion, strict=True) if keep]
    images = read_gray_images(kept, size=image_size, progress=progress, desc=f"affectnet {split}", color=color)
    labels = np.array([FERPLUS.index(AFFECTNET_EXPRESSIONS[c]) for c in np.array(codes)[emotion]], np.int64)
    metadata = pd.DataFrame(
        {
            "split": [split] * len(kept),
            "valence": np.array(valence, np.float32)[emotion],
            "arousal": np.array(arousal, np.float32)[emotion],
            "landmarks": pd.Series(np.array(landmarks, dtype=object)[emotion], dtype="str"),
        }
    )
    ids = [f"affectnet/{strip_image_suffix(p.relative_to(root).as_posix())}" for p in kept]
    dropped = {NOT_AN_EMOTION: int((~emotion).sum())} if not emotion.all() else {}
    arrays = FaceArrays(images, labels, ids, FERPLUS, metadata, dataset=view, split=split, dropped=dropped)
    return restrict_to_label_set(arrays, AFFECTNET_VIEWS[view])
