"""Datasets: readers for the layouts users have, one entry point :func:`load_split`, compact packs.

Every split comes back as :class:`FaceArrays`: uint8 grey images, class ids, a stable ``sample_id`` per image and
per-sample metadata (split, FER+ votes, and columns joined from CSV files such as the kids/adults age groups).
Splits use one vocabulary, ``train`` / ``val`` / ``test`` (FER2013 Training / PublicTest / PrivateTest, FER+
FER2013Train / Valid / Test); the original names are accepted too.
"""

from __future__ import annotations

from pathlib import Path

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.cache import cache_entry, read_cached, write_cached
from fer_core.data.fer2013 import fer2013_folder, read_fer2013_csv, read_fer2013_folders
from fer_core.data.ferplus import FERPLUS_FOLDERS, FERPLUS_MODES, read_ferplus, relabel_ferplus
from fer_core.data.imagefolder import image_folder_root, read_image_folder
from fer_core.data.metadata import KNOWN_METADATA, join_metadata
from fer_core.data.splits import SPLITS, canonical_split
from fer_core.labels import LabelSet, get_label_set

__all__ = [
    "DATASETS",
    "FERPLUS_MODES",
    "SPLITS",
    "DatasetError",
    "FaceArrays",
    "canonical_split",
    "load_split",
    "relabel_ferplus",
]

DATASETS = ("fer2013", "fer2013-csv", "ferplus", "imagefolder")
SINGLE_LABEL_MODE = "majority"  # the only mode of datasets with one label per image


def load_split(
    dataset: str,
    root: str | Path,
    split: str,
    *,
    label_mode: str = "majority",
    metadata_csv: str | Path | None = None,
    label_set: LabelSet | str | None = None,
    image_size: int = 48,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> FaceArrays:
    """Load one split of a dataset as :class:`FaceArrays`.

    ``dataset``: one of :data:`DATASETS`; ``root``: the dataset folder (``.../fer2013``, ``.../ferplus``, an
    ImageFolder) or, for ``fer2013-csv``, the CSV file. ``label_mode``: FER+ ``majority`` / ``plurality50`` /
    ``soft`` (see :mod:`fer_core.data.ferplus`); other datasets have one label per image. ``label_set``: the
    classes of an ``imagefolder``. Metadata files that ship with a dataset (the test splits' age groups) are
    joined automatically; ``metadata_csv`` joins any other CSV whose first column names the images.
    ``cache_dir`` keeps the decoded split so a second load of unchanged files takes well under a second.
    """
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    _check_label_mode(dataset, label_mode)
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: dataset path does not exist")
    labels = _image_folder_labels(dataset, label_set)
    split = split if dataset == "imagefolder" else canonical_split(split)
    arrays = _load_cached(dataset, root, split, label_mode, labels, image_size, progress, cache_dir)
    known = KNOWN_METADATA.get((arrays.dataset, _canonical_or_none(split)))
    if known and (root / known).is_file():
        arrays = join_metadata(arrays, root / known, require_match=False)
    if metadata_csv is not None:
        arrays = join_metadata(arrays, Path(metadata_csv))
    return arrays


def _canonical_or_none(split: str) -> str | None:
    """``canonical_split`` for known names, None for free-form ImageFolder split names."""
    try:
        return canonical_split(split)
    except DatasetError:
        return None


def _check_label_mode(dataset: str, label_mode: str) -> None:
    valid = FERPLUS_MODES if dataset == "ferplus" else (SINGLE_LABEL_MODE,)
    if label_mode not in valid:
        raise DatasetError(f"label_mode {label_mode!r} does not apply to {dataset}; known: {', '.join(valid)}")


def _image_folder_labels(dataset: str, label_set: LabelSet | str | None) -> LabelSet | None:
    if dataset != "imagefolder":
        return None
    if label_set is None:
        raise DatasetError("dataset 'imagefolder' needs label_set (a LabelSet, or 'fer2013' / 'ferplus')")
    return get_label_set(label_set) if isinstance(label_set, str) else label_set


def _source(dataset: str, root: Path, split: str) -> Path:
    """The file or folder whose files make up a split (what the cache key covers)."""
    if dataset == "fer2013":
        return fer2013_folder(root, split)
    if dataset == "ferplus":
        return root / FERPLUS_FOLDERS[split]
    if dataset == "imagefolder":
        return image_folder_root(root, split)
    return root


def _load_cached(
    dataset: str,
    root: Path,
    split: str,
    label_mode: str,
    labels: LabelSet | None,
    image_size: int,
    progress: bool,
    cache_dir: str | Path | None,
) -> FaceArrays:
    """Read a split, through the cache when ``cache_dir`` is given and the split's files exist."""
    source = _source(dataset, root, split)
    if cache_dir is None or not source.exists():
        return _read(dataset, root, split, label_mode, labels, image_size, progress)
    classes = f"{labels.name}:{','.join(labels.names)}" if labels else ""
    settings = f"{label_mode}|{image_size}|{classes}"
    entry = cache_entry(Path(cache_dir), source, dataset=dataset, split=split, settings=settings)
    arrays = read_cached(entry)
    if arrays is None:
        arrays = _read(dataset, root, split, label_mode, labels, image_size, progress)
        write_cached(entry, arrays)
    return arrays


def _read(
    dataset: str, root: Path, split: str, label_mode: str, labels: LabelSet | None, image_size: int, progress: bool
) -> FaceArrays:
    """Dispatch to the dataset's reader (the fer2013.csv pixels are always 48x48)."""
    if dataset == "fer2013":
        return read_fer2013_folders(root, split, image_size=image_size, progress=progress)
    if dataset == "fer2013-csv":
        return read_fer2013_csv(root, split)
    if dataset == "ferplus":
        return read_ferplus(root, split, label_mode=label_mode, image_size=image_size, progress=progress)
    return read_image_folder(root, labels, split=split, image_size=image_size, progress=progress)
