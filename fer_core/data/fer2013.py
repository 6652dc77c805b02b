"""FER2013 (Goodfellow et al. 2013, arXiv 1307.0414) in the two layouts users have.

- Kaggle folders: ``{train,test}/<class>/<Usage>_<id>.<ext>`` (``.png`` or ``.jpg`` ...): the Usage (Training /
  PublicTest / PrivateTest) is the file-name prefix; PublicTest and PrivateTest share ``test/``.
- The original ``fer2013.csv``: ``emotion,pixels,Usage`` with 2304 space-separated grey values per row and
  emotion ids already in :data:`fer_core.labels.FER2013` order.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.images import list_images, read_gray_images, strip_image_suffix
from fer_core.data.splits import canonical_split
from fer_core.labels import FER2013

__all__ = ["FER2013_USAGE", "fer2013_folder", "read_fer2013_csv", "read_fer2013_folders"]

FER2013_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
_SIDE = 48


def fer2013_folder(root: Path, split: str) -> Path:
    """The Kaggle folder holding ``split``: ``train/`` for Training, ``test/`` for PublicTest and PrivateTest."""
    return root / ("train" if canonical_split(split) == "train" else "test")


def _class_id(class_dir: Path) -> int:
    try:
        return FER2013.index(class_dir.name)
    except KeyError:
        raise DatasetError(f"{class_dir}: unknown class folder; expected {', '.join(FER2013.names)}") from None


def _usage_files(class_dir: Path, usage: str) -> list[Path]:
    """Images of one Usage; a file with no known Usage prefix is an error (it would silently leave every split)."""
    files = []
    for path in list_images(class_dir):
        prefix = path.name.split("_", 1)[0]
        if prefix not in FER2013_USAGE.values():
            raise DatasetError(f"{path}: file name does not start with {', '.join(FER2013_USAGE.values())} + '_'")
        if prefix == usage:
            files.append(path)
    return files


def read_fer2013_folders(
    root: Path, split: str, *, image_size: int | None = _SIDE, progress: bool = False
) -> FaceArrays:
    """One split of the Kaggle FER2013 folders (``image_size=None`` keeps the files' own size).

    Sample ids are ``fer2013/<path below root without extension>`` whatever the root folder is called, so two
    users' copies (``.png`` or ``.jpg``, any folder name) give the same ids.
    """
    split = canonical_split(split)
    usage, folder = FER2013_USAGE[split], fer2013_folder(root, split)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: missing FER2013 split folder (expected {root}/{{train,test}}/<class>/)")
    paths, labels = [], []
    for class_dir in sorted(Path(e.path) for e in os.scandir(folder) if e.is_dir() and e.name[0] != "."):
        files = _usage_files(class_dir, usage)
        paths += files
        labels += [_class_id(class_dir)] * len(files)
    if not paths:
        raise DatasetError(f"{folder}: no {usage}_* images in its class folders")
    images = read_gray_images(paths, size=image_size, progress=progress, desc=f"fer2013 {split}")
    ids = [f"fer2013/{strip_image_suffix(p.relative_to(root).as_posix())}" for p in paths]
    metadata = pd.DataFrame({"split": [split] * len(ids)})
    return FaceArrays(images, np.array(labels, np.int64), ids, FER2013, metadata, dataset="fer2013", split=split)


def _parse_pixels(text: str, path: Path, line: int) -> np.ndarray:
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError:
        raise DatasetError(f"{path}, line {line}: pixels are not integers") from None
    except OverflowError:
        raise DatasetError(f"{path}, line {line}: pixel values outside 0..255") from None
    if values.size != _SIDE * _SIDE:
        raise DatasetError(f"{path}, line {line}: expected {_SIDE * _SIDE} pixel values, got {values.size}")
    if values.min() < 0 or values.max() > 255:
        raise DatasetError(f"{path}, line {line}: pixel values outside 0..255")
    return values.astype(np.uint8).reshape(_SIDE, _SIDE)


def _parse_emotion(text: str, path: Path, line: int) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or int(value) >= len(FER2013):
        raise DatasetError(f"{path}, line {line}: emotion {text!r} is not a class id 0..{len(FER2013) - 1}")
    return int(value)


def _check_row(row: dict, path: Path, line: int) -> None:
    """A row must have exactly the three fields: csv.DictReader fills missing ones with None, keeps extras apart."""
    fields = len([value for key, value in row.items() if key is not None and value is not None])
    fields += len(row.get(None) or [])
    if fields != 3 or None in row:
        raise DatasetError(f"{path}, line {line}: expected 3 fields (emotion,pixels,Usage), got {fields}")
    if row["Usage"] not in FER2013_USAGE.values():
        raise DatasetError(
            f"{path}, line {line}: Usage {row['Usage']!r} is none of {', '.join(FER2013_USAGE.values())}"
        )


def _read_csv_rows(csv_path: Path, usage: str) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Images, labels and sample ids of the rows of one Usage; every row is checked, whatever its Usage."""
    images, labels, ids = [], [], []
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{csv_path}: missing columns {sorted(missing)} (expected emotion,pixels,Usage)")
        try:
            for row_index, row in enumerate(reader):
                line = reader.line_num
                _check_row(row, csv_path, line)
                if row["Usage"] != usage:
                    continue
                images.append(_parse_pixels(row["pixels"], csv_path, line))
                labels.append(_parse_emotion(row["emotion"], csv_path, line))
                ids.append(f"fer2013/row{row_index:07d}")
        except csv.Error as err:
            raise DatasetError(f"{csv_path}, line {reader.line_num + 1}: malformed CSV ({err})") from None
    return images, labels, ids


def read_fer2013_csv(csv_path: Path, split: str) -> FaceArrays:
    """One Usage of ``fer2013.csv``; sample ids are ``fer2013/row<index>`` (0-based data row, stable across copies)."""
    split = canonical_split(split)
    usage = FER2013_USAGE[split]
    try:
        images, labels, ids = _read_csv_rows(csv_path, usage)
    except (FileNotFoundError, IsADirectoryError):
        raise DatasetError(f"{csv_path}: not a readable CSV file") from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{csv_path}: not a text CSV file ({err.reason})") from None
    if not images:
        raise DatasetError(f"{csv_path}: no rows with Usage={usage}")
    metadata = pd.DataFrame({"split": [split] * len(ids)})
    return FaceArrays(
        np.stack(images), np.array(labels, np.int64), ids, FER2013, metadata, dataset="fer2013", split=split
    )
