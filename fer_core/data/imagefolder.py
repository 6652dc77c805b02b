"""Any ImageFolder of face crops: ``<root>/<class name>/*.<ext>`` (or ``<root>/<split>/<class name>/...``).

Folder names map onto a label set through :func:`fer_core.labels.canonical_name`, so ``Happiness``, ``happy`` and
``HAPPY`` are the same class. Colour crops become grey; crops of other sizes are resized to ``image_size``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.images import list_images, read_gray_images, strip_image_suffix
from fer_core.data.splits import SPLIT_ALIASES
from fer_core.labels import LabelSet, canonical_name

__all__ = ["image_folder_root", "read_image_folder"]


def _subfolders(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))


def image_folder_root(root: Path, split: str) -> Path:
    """``root/<split>`` when such a folder exists (``val`` also finds ``valid``, ``validation`` ...), else ``root``."""
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    wanted = SPLIT_ALIASES.get(split.strip().lower(), split)
    for folder in _subfolders(root):
        if SPLIT_ALIASES.get(folder.name.lower(), folder.name) == wanted:
            return folder
    return root


def read_image_folder(
    root: Path,
    label_set: LabelSet,
    *,
    split: str = "",
    image_size: int | None = 48,
    progress: bool = False,
    color: bool = False,
) -> FaceArrays:
    """Every image of the class folders; sample ids are ``<root name>/<path below root without extension>``."""
    folder = image_folder_root(root, split)
    paths, labels = [], []
    for class_dir in _subfolders(folder):
        name = canonical_name(class_dir.name)
        if name not in label_set.names:
            raise DatasetError(
                f"{class_dir}: unknown class folder {class_dir.name!r}; label set {label_set.name} has "
                f"{', '.join(label_set.names)}"
            )
        files = list_images(class_dir)
        paths += files
        labels += [label_set.names.index(name)] * len(files)
    if not paths:
        raise DatasetError(f"{folder}: no images in class folders (expected {folder}/<class name>/*.png)")
    images = read_gray_images(paths, size=image_size, progress=progress, desc=folder.name, color=color)
    ids = [f"{root.name}/{strip_image_suffix(p.relative_to(root).as_posix())}" for p in paths]
    metadata = pd.DataFrame({"split": [split] * len(ids)})
    return FaceArrays(images, np.array(labels, np.int64), ids, label_set, metadata, dataset="imagefolder", split=split)
