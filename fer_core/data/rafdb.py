"""RAF-DB basic emotions (Li et al. 2017, "Reliable Crowdsourcing and Deep Locality-Preserving Learning").

Layout of the release: ``EmoLabel/list_patition_label.txt`` (the release's spelling) with one ``<image> <label>``
line per image - ``train_00001.jpg 5`` - and labels 1-7 in RAF's own order, beside ``Image/aligned/`` (100 px
aligned faces, ``train_00001_aligned.jpg``) or ``Image/original/`` (``train_00001.jpg``). The aligned faces are used
when present. The split is the file-name prefix: 12,271 ``train_`` and 3,068 ``test_`` images; RAF-DB has no
validation split. Labels map onto the FER2013 label set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.images import is_image_name, read_gray_images, strip_image_suffix
from fer_core.data.splits import canonical_split
from fer_core.labels import FER2013
from fer_core.store.files import UnsafeFileError, read_regular_file

__all__ = [
    "RAFDB_EXPRESSIONS",
    "RAFDB_LABEL_FILE",
    "RAFDB_SPLITS",
    "rafdb_image_folder",
    "read_label_file",
    "read_rafdb",
]

# RAF-DB's label -> canonical name (RAF's own names in the comments); RAF's order differs from FER2013's.
RAFDB_EXPRESSIONS = {
    1: "surprise",  # Surprise
    2: "fear",  # Fear
    3: "disgust",  # Disgust
    4: "happy",  # Happiness
    5: "sad",  # Sadness
    6: "angry",  # Anger
    7: "neutral",  # Neutral
}
RAFDB_LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"
RAFDB_SPLITS = ("train", "test")
MAX_LABEL_FILE_BYTES = 16 * 2**20
_IMAGE_FOLDERS = {"aligned": "_aligned", "original": ""}  # folder -> suffix after the listed name's stem


def rafdb_image_folder(root: Path) -> tuple[Path, str]:
    """``Image/aligned`` (preferred) or ``Image/original``, with the suffix its file names add to the stem."""
    for name, suffix in _IMAGE_FOLDERS.items():
        folder = root / "Image" / name
        if folder.is_dir():
            return folder, suffix
    raise DatasetError(f"{root}: no RAF-DB image folder (expected {root}/Image/aligned/ or {root}/Image/original/)")


def _split_of(split: str) -> str:
    split = canonical_split(split)
    if split not in RAFDB_SPLITS:
        raise DatasetError(f"RAF-DB has no {split!r} split; known: {', '.join(RAFDB_SPLITS)}")
    return split


def _parse_line(text: str, path: Path, line: int) -> tuple[str, int]:
    parts = text.split()
    if len(parts) != 2:
        raise DatasetError(f"{path}, line {line}: expected '<image> <label 1-7>', got {text.strip()!r}")
    name, label = parts
    if not label.isdigit() or int(label) not in RAFDB_EXPRESSIONS:
        known = ", ".join(f"{code} {name}" for code, name in RAFDB_EXPRESSIONS.items())
        raise DatasetError(f"{path}, line {line}: label {label!r} is not one of {known}")
    if not name.startswith(tuple(f"{s}_" for s in RAFDB_SPLITS)):
        raise DatasetError(f"{path}, line {line}: image {name!r} does not start with train_ or test_")
    return name, int(label)


def read_label_file(path: Path) -> list[tuple[str, int, int]]:
    """``(image name, RAF label, line number)`` of every line of ``list_patition_label.txt``."""
    entries, seen = [], set()
    for line, text in enumerate(_label_text(path).split("\n"), start=1):
        if not text.strip():
            continue
        name, label = _parse_line(text, path, line)
        if name in seen:
            raise DatasetError(f"{path}, line {line}: image {name!r} is listed twice")
        seen.add(name)
        entries.append((name, label, line))
    return entries


def _label_text(path: Path) -> str:
    """The label file's text: a regular file of bounded size (the release's is 0.4 MB), UTF-8."""
    try:
        return read_regular_file(path, MAX_LABEL_FILE_BYTES, "RAF-DB label file").decode("utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing RAF-DB label file (the release has {RAFDB_LABEL_FILE})") from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not a text file ({err.reason})") from None
    except (UnsafeFileError, OSError) as err:
        raise DatasetError(f"{path}: unreadable RAF-DB label file ({err})") from None


def _images_by_stem(folder: Path) -> dict[str, Path]:
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if e.is_file() and is_image_name(e.name)]
    return {strip_image_suffix(name): folder / name for name in names}


def read_rafdb(
    root: Path, split: str, *, image_size: int | None = 48, progress: bool = False, color: bool = False
) -> FaceArrays:
    """One split of RAF-DB basic; sample ids ``rafdb/<listed name without extension>`` (``rafdb/test_0001``)."""
    split = _split_of(split)
    label_path = root / RAFDB_LABEL_FILE
    folder, suffix = rafdb_image_folder(root)
    available = _images_by_stem(folder)
    paths, labels, ids = [], [], []
    for name, label, line in read_label_file(label_path):
        if not name.startswith(f"{split}_"):
            continue
        stem = strip_image_suffix(name)
        path = available.get(stem + suffix)
        if path is None:
            raise DatasetError(f"{label_path}, line {line}: no image {stem + suffix}.* in {folder}")
        paths.append(path)
        labels.append(FER2013.index(RAFDB_EXPRESSIONS[label]))
        ids.append(f"rafdb/{stem}")
    if not paths:
        raise DatasetError(f"{label_path}: no {split}_* images listed")
    images = read_gray_images(paths, size=image_size, progress=progress, desc=f"rafdb {split}", color=color)
    metadata = pd.DataFrame({"split": [split] * len(ids)})
    return FaceArrays(images, np.array(labels, np.int64), ids, FER2013, metadata, dataset="rafdb", split=split)
