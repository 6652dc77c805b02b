"""Readers for the dataset layouts users actually have.

- FER2013, Kaggle folders: ``{train,test}/<class>/<Usage>_<id>.<ext>`` (any image extension);
- FER2013, the original ``fer2013.csv`` (``emotion,pixels,Usage``);
- FER+, the folders Microsoft's ``generate_training_data.py`` writes: ``FER2013{Train,Valid,Test}/`` with
  ``fer%07d.png`` and a headerless ``label.csv`` of 10 annotator votes
  (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF);
- any ImageFolder of face crops: ``<root>/<class name>/*.<ext>``.

Splits use one vocabulary, ``train`` / ``val`` / ``test`` (FER2013 Training / PublicTest / PrivateTest; FER+
Train / Valid / Test); the original names are accepted too.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.images import IMAGE_SUFFIXES, read_gray_images
from fer_core.labels import FER2013, FERPLUS, LabelSet, canonical_name

__all__ = [
    "FERPLUS_MODES",
    "SPLIT_ALIASES",
    "canonical_split",
    "ferplus_labels_from_votes",
    "read_fer2013_csv",
    "read_fer2013_folders",
    "read_ferplus",
    "read_image_folder",
]

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "fer2013train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "publictest": "val",
    "fer2013valid": "val",
    "test": "test",
    "privatetest": "test",
    "fer2013test": "test",
}
FER2013_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
FERPLUS_FOLDER = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
FERPLUS_MODES = ("majority", "plurality50", "soft")
FERPLUS_VOTE_COLUMNS = 10  # 8 emotions + unknown + NF


def canonical_split(split: str) -> str:
    """``train`` / ``val`` / ``test`` for any accepted split name."""
    key = split.strip().lower()
    if key not in SPLIT_ALIASES:
        raise DatasetError(f"unknown split {split!r}; use train, val or test (or {', '.join(FER2013_USAGE.values())})")
    return SPLIT_ALIASES[key]


def _without_suffix(relative: str) -> str:
    path = Path(relative)
    return str(path.with_suffix("")) if path.suffix.lower() in IMAGE_SUFFIXES else relative


def _metadata(split: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"split": [split] * n})


def read_fer2013_folders(root: Path, split: str, *, progress: bool = False) -> FaceArrays:
    """Kaggle FER2013 folders; the Usage comes from the file-name prefix."""
    split = canonical_split(split)
    usage = FER2013_USAGE[split]
    folder = root / ("train" if split == "train" else "test")
    if not folder.is_dir():
        raise DatasetError(f"{folder}: missing FER2013 split folder (expected {root}/{{train,test}}/<class>/)")
    paths, labels = [], []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            label = FER2013.index(class_dir.name)
        except KeyError as err:
            raise DatasetError(f"{class_dir}: unknown class folder; expected {', '.join(FER2013.names)}") from err
        files = sorted(p for p in class_dir.glob(f"{usage}_*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DatasetError(f"{folder}: no {usage}_* images found")
    images = read_gray_images(paths, progress=progress, desc=f"fer2013 {split}")
    ids = [f"fer2013/{_without_suffix(str(p.relative_to(root).as_posix()))}" for p in paths]
    return FaceArrays(
        images, np.array(labels, np.int64), ids, FER2013, _metadata(split, len(ids)), dataset="fer2013", split=split
    )


def read_fer2013_csv(csv_path: Path, split: str) -> FaceArrays:
    """The original ``fer2013.csv``: one row per image, 2304 space-separated grey values."""
    split = canonical_split(split)
    usage = FER2013_USAGE[split]
    images, labels, ids = [], [], []
    try:
        with open(csv_path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
            if missing:
                raise DatasetError(f"{csv_path}: missing columns {sorted(missing)} (expected emotion,pixels,Usage)")
            for row_index, row in enumerate(reader):
                if row["Usage"] != usage:
                    continue
                images.append(_parse_pixels(row["pixels"], csv_path, row_index + 2))
                labels.append(_parse_emotion(row["emotion"], csv_path, row_index + 2))
                ids.append(f"fer2013/row{row_index:07d}")
    except FileNotFoundError:
        raise DatasetError(f"{csv_path}: file not found") from None
    if not images:
        raise DatasetError(f"{csv_path}: no rows with Usage={usage}")
    stack = np.stack(images)
    return FaceArrays(
        stack, np.array(labels, np.int64), ids, FER2013, _metadata(split, len(ids)), dataset="fer2013", split=split
    )


def _parse_pixels(text: str, path: Path, line: int) -> np.ndarray:
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError:
        raise DatasetError(f"{path}, line {line}: pixels are not integers") from None
    if values.size != 48 * 48 or values.min() < 0 or values.max() > 255:
        raise DatasetError(f"{path}, line {line}: expected 2304 grey values in 0..255, got {values.size} values")
    return values.astype(np.uint8).reshape(48, 48)


def _parse_emotion(text: str, path: Path, line: int) -> int:
    if not text.strip().isdigit() or int(text) >= len(FER2013):
        raise DatasetError(f"{path}, line {line}: emotion {text!r} is not a class id 0..{len(FER2013) - 1}")
    return int(text)


def ferplus_labels_from_votes(votes: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Keep-mask, majority labels and drop counts for FER+ vote rows ``(N, 10)``.

    ``majority``: label = argmax of the 8 emotion votes (ties -> lowest index, the label.csv order); images whose
    top vote over all 10 columns is unknown or NF are dropped (Barsoum et al. 2016). ``plurality50``: additionally
    keep only images whose top emotion has more than half of all votes. ``soft`` keeps the majority set; the
    vote distribution is the target.
    """
    if mode not in FERPLUS_MODES:
        raise DatasetError(f"unknown FER+ label mode {mode!r}; known: {', '.join(FERPLUS_MODES)}")
    emotions = votes[:, :8]
    labels = emotions.argmax(axis=1)
    not_face = votes.argmax(axis=1) >= 8
    no_votes = emotions.sum(axis=1) == 0
    keep = ~not_face & ~no_votes
    dropped = {"top vote unknown or NF": int(not_face.sum()), "no emotion votes": int((no_votes & ~not_face).sum())}
    if mode == "plurality50":
        agreed = emotions.max(axis=1) * 2 > votes.sum(axis=1)
        dropped["top emotion <= 50% of votes"] = int((keep & ~agreed).sum())
        keep &= agreed
    return keep, labels, dropped


def _read_ferplus_votes(label_csv: Path) -> tuple[list[str], np.ndarray]:
    names, votes = [], []
    try:
        with open(label_csv, newline="") as fh:
            for line, row in enumerate(csv.reader(fh), start=1):
                if len(row) != 2 + FERPLUS_VOTE_COLUMNS:
                    raise DatasetError(f"{label_csv}, line {line}: expected 12 columns, got {len(row)}")
                try:
                    votes.append([int(v) for v in row[2:]])
                except ValueError:
                    raise DatasetError(f"{label_csv}, line {line}: vote counts must be integers") from None
                names.append(row[0])
    except FileNotFoundError:
        raise DatasetError(f"{label_csv}: file not found (FER+ folders need label.csv)") from None
    return names, np.array(votes, np.int64).reshape(-1, FERPLUS_VOTE_COLUMNS)


def read_ferplus(root: Path, split: str, *, label_mode: str = "majority", progress: bool = False) -> FaceArrays:
    """FER+ generated folders with vote counts; see :func:`ferplus_labels_from_votes` for the label modes."""
    split = canonical_split(split)
    folder = root / FERPLUS_FOLDER[split]
    if not folder.is_dir():
        raise DatasetError(f"{folder}: missing FER+ split folder (expected {root}/FER2013{{Train,Valid,Test}}/)")
    names, votes = _read_ferplus_votes(folder / "label.csv")
    keep, labels, dropped = ferplus_labels_from_votes(votes, label_mode)
    kept = np.flatnonzero(keep)
    images = read_gray_images([folder / names[i] for i in kept], progress=progress, desc=f"ferplus {split}")
    emotion_votes = votes[kept, :8].astype(np.float32)
    soft = emotion_votes / emotion_votes.sum(axis=1, keepdims=True) if label_mode == "soft" else None
    ids = [f"ferplus/{FERPLUS_FOLDER[split]}/{_without_suffix(names[i])}" for i in kept]
    return FaceArrays(
        images,
        labels[kept].astype(np.int64),
        ids,
        FERPLUS,
        _metadata(split, len(ids)),
        soft_targets=soft,
        dataset="ferplus",
        split=split,
        label_mode=label_mode,
        dropped=dropped,
    )


def read_image_folder(root: Path, label_set: LabelSet, *, split: str = "", progress: bool = False) -> FaceArrays:
    """``<root>/<class name>/*.<ext>``; folder names map to the label set through ``canonical_name``."""
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    paths, labels = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        name = canonical_name(class_dir.name)
        if name not in label_set.names:
            raise DatasetError(f"{class_dir}: unknown class folder; expected {', '.join(label_set.names)}")
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [label_set.names.index(name)] * len(files)
    if not paths:
        raise DatasetError(f"{root}: no images in class folders")
    images = read_gray_images(paths, progress=progress, desc=root.name)
    ids = [f"{root.name}/{_without_suffix(p.relative_to(root).as_posix())}" for p in paths]
    return FaceArrays(
        images,
        np.array(labels, np.int64),
        ids,
        label_set,
        _metadata(split, len(ids)),
        dataset="imagefolder",
        split=split,
    )
