"""Datasets: readers for the layouts users have, one entry point :func:`load_split`, compact packs.

Every split comes back as :class:`FaceArrays`: uint8 grey images, class ids, a stable ``sample_id`` per image and
per-sample metadata (split, FER+ votes, AffectNet valence/arousal, and columns joined from CSV files such as the
kids/adults age groups). Splits use one vocabulary, ``train`` / ``val`` / ``test`` (FER2013 Training / PublicTest /
PrivateTest, FER+ FER2013Train / Valid / Test, AffectNet train_set / val_set, RAF-DB train / test); the original
names are accepted too. Classes are always one of the project's label sets (FER2013-7 or FER+-8), mapped from each
dataset's own codes by one table beside its reader.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from fer_core.data.affectnet import AFFECTNET_VIEWS, affectnet_folder, read_affectnet
from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.cache import cache_entry, read_cached, write_cached
from fer_core.data.fer2013 import fer2013_folder, read_fer2013_csv, read_fer2013_folders
from fer_core.data.ferplus import FERPLUS_FOLDERS, FERPLUS_MODES, read_ferplus, relabel_ferplus
from fer_core.data.imagefolder import image_folder_root, read_image_folder
from fer_core.data.metadata import KNOWN_METADATA, join_metadata
from fer_core.data.rafdb import read_rafdb
from fer_core.data.splits import SPLITS, canonical_split
from fer_core.data.views import restrict_to_label_set
from fer_core.labels import LabelSet, get_label_set

__all__ = [
    "COLOR_DATASETS",
    "DATASETS",
    "FERPLUS_MODES",
    "PUBLISHED_SIZES",
    "RUN_EXCLUDED_METADATA",
    "SPLITS",
    "DatasetError",
    "FaceArrays",
    "canonical_split",
    "dataset_folder_name",
    "default_dataset_id",
    "load_split",
    "published_size",
    "relabel_ferplus",
    "restrict_to_label_set",
]

# Datasets whose files can hold colour at any resolution (FER2013 and FER+ are 48 px grey as published).
COLOR_DATASETS = ("affectnet", "affectnet7", "rafdb", "imagefolder")
DATASETS = ("fer2013", "fer2013-csv", "ferplus", "affectnet", "affectnet7", "rafdb", "imagefolder")
SINGLE_LABEL_MODE = "majority"  # the only mode of datasets with one label per image
# Images per split as the releases publish them, before any label filter (FER+ drops faces by votes, AffectNet-7
# drops contempt): a loaded split that counts fewer comes from an incomplete copy.
PUBLISHED_SIZES = {
    ("fer2013", "train"): 28709,
    ("fer2013", "val"): 3589,
    ("fer2013", "test"): 3589,
    ("ferplus", "train"): 28558,
    ("ferplus", "val"): 3579,
    ("ferplus", "test"): 3573,
    ("affectnet", "test"): 4000,
    ("affectnet7", "test"): 4000,
    ("rafdb", "train"): 12271,
    ("rafdb", "test"): 3068,
}
# Metadata that stays with the samples but not in stored runs (a run repeats each sample once per condition).
RUN_EXCLUDED_METADATA = ("split", "landmarks")
# Default folder below a data root, for the datasets whose folder is not named like the dataset.
_DATA_FOLDERS = {"fer2013-csv": "fer2013/fer2013.csv", "affectnet7": "affectnet"}


def load_split(
    dataset: str,
    root: str | Path,
    split: str,
    *,
    label_mode: str = "majority",
    metadata_csv: str | Path | None = None,
    label_set: LabelSet | str | None = None,
    image_size: int | None = 48,
    progress: bool = False,
    cache_dir: str | Path | None = None,
    color: bool = False,
) -> FaceArrays:
    """Load one split of a dataset as :class:`FaceArrays`.

    ``dataset``: one of :data:`DATASETS`; ``root``: the dataset folder (``.../fer2013``, ``.../ferplus``, the
    AffectNet folder holding ``train_set/`` and ``val_set/``, the RAF-DB folder holding ``EmoLabel/`` and
    ``Image/``, an ImageFolder) or, for ``fer2013-csv``, the CSV file. ``label_mode``: FER+ ``majority`` /
    ``plurality50`` / ``soft`` (see :mod:`fer_core.data.ferplus`); other datasets have one label per image.
    ``label_set``: the classes of an ``imagefolder``. Metadata files that ship with a dataset (the test splits'
    age groups) are joined automatically; ``metadata_csv`` joins any other CSV whose first column names the
    images. ``color`` with ``image_size=None`` reads a colour dataset as it is (BGR, its own resolution) for models
    that take colour; FER2013 and FER+ are 48 px grey as published either way. ``cache_dir`` keeps the decoded split
    so a second load of unchanged files takes well under a second.
    """
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    _check_label_mode(dataset, label_mode)
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: dataset path does not exist")
    labels = _image_folder_labels(dataset, label_set)
    split = split if dataset == "imagefolder" else canonical_split(split)
    color = color and dataset in COLOR_DATASETS
    read = partial(_read, dataset, root, split, label_mode, labels, image_size, progress, color)
    settings = _cache_settings(label_mode, image_size, labels, color)
    arrays = _load_cached(read, cache_dir, _source(dataset, root, split), dataset, split, settings)
    known = KNOWN_METADATA.get((arrays.dataset, _canonical_or_none(split) or split))
    if known and (root / known).is_file():
        arrays = join_metadata(arrays, root / known, require_match=False)
    if metadata_csv is not None:
        arrays = join_metadata(arrays, Path(metadata_csv))
    return arrays


def published_size(dataset: str, split: str) -> int | None:
    """Images in ``split`` of ``dataset`` as its release publishes them (None where it publishes no count)."""
    return PUBLISHED_SIZES.get((dataset, _canonical_or_none(split) or split))


def dataset_folder_name(dataset: str) -> str:
    """Where ``dataset`` lives below a data root by default (``affectnet7`` reads the ``affectnet`` folder)."""
    return _DATA_FOLDERS.get(dataset, dataset)


def default_dataset_id(dataset: str, root: str | Path) -> str:
    """The name a dataset's runs are stored and shown under: an ImageFolder's folder name, else the dataset.

    ``fer2013-csv`` holds the FER2013 images, so its runs are FER2013 runs.
    """
    if dataset == "imagefolder":
        return Path(root).resolve().name or "imagefolder"
    return "fer2013" if dataset == "fer2013-csv" else dataset


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
    if dataset in AFFECTNET_VIEWS:
        return affectnet_folder(root, split)
    return root


def _cache_settings(label_mode: str, image_size: int | None, labels: LabelSet | None, color: bool) -> str:
    """What the cache key covers beyond the split's files: the options that change what is read."""
    classes = f"{labels.name}:{','.join(labels.names)}" if labels else ""
    return f"{label_mode}|{image_size}|{classes}" + ("|color" if color else "")


def _load_cached(
    read: Callable[[], FaceArrays],
    cache_dir: str | Path | None,
    source: Path,
    dataset: str,
    split: str,
    settings: str,
) -> FaceArrays:
    """``read()`` a split, through the cache when ``cache_dir`` is given and its files (``source``) exist."""
    if cache_dir is None or not source.exists():
        return read()
    entry = cache_entry(Path(cache_dir), source, dataset=dataset, split=split, settings=settings)
    arrays = read_cached(entry)
    if arrays is None:
        arrays = read()
        write_cached(entry, arrays)
    return arrays


def _read(
    dataset: str,
    root: Path,
    split: str,
    label_mode: str,
    labels: LabelSet | None,
    image_size: int | None,
    progress: bool,
    color: bool = False,
) -> FaceArrays:
    """Dispatch to the dataset's reader (the fer2013.csv pixels are always 48x48)."""
    if dataset == "fer2013":
        return read_fer2013_folders(root, split, image_size=image_size, progress=progress)
    if dataset == "fer2013-csv":
        return read_fer2013_csv(root, split)
    if dataset == "ferplus":
        return read_ferplus(root, split, label_mode=label_mode, image_size=image_size, progress=progress)
    if dataset in AFFECTNET_VIEWS:
        return read_affectnet(root, split, view=dataset, image_size=image_size, progress=progress, color=color)
    if dataset == "rafdb":
        return read_rafdb(root, split, image_size=image_size, progress=progress, color=color)
    if labels is None:
        raise DatasetError(f"{root}: reading an ImageFolder needs its label set (fer2013 or ferplus)")
    return read_image_folder(root, labels, split=split, image_size=image_size, progress=progress, color=color)
