"""Datasets: readers for the layouts users have, one entry point ``load_split``, compact packs.

Each split comes back as :class:`FaceArrays` (uint8 grey images, class ids, stable ``sample_id`` per image,
metadata joined from CSV files such as the kids/adults age groups).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.metadata import KNOWN_METADATA, join_metadata
from fer_core.data.readers import (
    FERPLUS_MODES,
    canonical_split,
    read_fer2013_csv,
    read_fer2013_folders,
    read_ferplus,
    read_image_folder,
)
from fer_core.labels import LabelSet, get_label_set

__all__ = ["DATASETS", "FERPLUS_MODES", "DatasetError", "FaceArrays", "load_split"]

DATASETS = ("fer2013", "fer2013-csv", "ferplus", "imagefolder")


def load_split(
    dataset: str,
    root: str | Path,
    split: str,
    *,
    label_mode: str = "majority",
    metadata_csv: str | Path | None = None,
    label_set: LabelSet | str | None = None,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> FaceArrays:
    """Load one split of a dataset. ``dataset`` in DATASETS; ``root`` is the dataset folder (or the CSV file).

    Known metadata files (the age groups of the test splits) are joined automatically when present;
    ``metadata_csv`` joins any other CSV whose first column names the images. ``cache_dir`` keeps an .npz of the
    decoded split keyed by the files' names, sizes and times, so a second load takes well under a second.
    """
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: dataset path does not exist")
    split = canonical_split(split) if dataset != "imagefolder" else split
    cache_path = _cache_path(cache_dir, dataset, root, split, label_mode) if cache_dir else None
    if cache_path is not None and cache_path.is_file():
        arrays = _read_cache(cache_path)
    else:
        arrays = _read(dataset, root, split, label_mode, label_set, progress)
        if cache_path is not None:
            _write_cache(cache_path, arrays)
    known = KNOWN_METADATA.get((arrays.dataset, split))
    if known and (root / known).is_file():
        arrays = join_metadata(arrays, root / known)
    if metadata_csv is not None:
        arrays = join_metadata(arrays, Path(metadata_csv))
    return arrays


def _read(dataset, root, split, label_mode, label_set, progress) -> FaceArrays:
    if dataset == "fer2013":
        return read_fer2013_folders(root, split, progress=progress)
    if dataset == "fer2013-csv":
        return read_fer2013_csv(root, split)
    if dataset == "ferplus":
        return read_ferplus(root, split, label_mode=label_mode, progress=progress)
    if label_set is None:
        raise DatasetError("dataset 'imagefolder' needs label_set ('fer2013' or 'ferplus')")
    labels = get_label_set(label_set) if isinstance(label_set, str) else label_set
    return read_image_folder(root, labels, split=split, progress=progress)


def _cache_path(cache_dir, dataset: str, root: Path, split: str, label_mode: str) -> Path:
    digest = hashlib.sha256(f"{dataset}|{root.resolve()}|{split}|{label_mode}".encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return Path(cache_dir) / f"{dataset}-{split}-{digest.hexdigest()[:16]}.npz"


def _write_cache(path: Path, arrays: FaceArrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {} if arrays.soft_targets is None else {"soft_targets": arrays.soft_targets}
    np.savez(
        path,
        images=arrays.images,
        labels=arrays.labels,
        sample_ids=np.array(arrays.sample_ids),
        label_set=np.array(arrays.label_set.name),
        info=np.array([arrays.dataset, arrays.split, arrays.label_mode]),
        dropped_keys=np.array(list(arrays.dropped), dtype=str),
        dropped_values=np.array(list(arrays.dropped.values()), dtype=np.int64),
        **extra,
    )


def _read_cache(path: Path) -> FaceArrays:
    with np.load(path, allow_pickle=False) as data:
        dataset, split, mode = (str(v) for v in data["info"])
        ids = [str(s) for s in data["sample_ids"]]
        return FaceArrays(
            images=data["images"],
            labels=data["labels"],
            sample_ids=ids,
            label_set=get_label_set(str(data["label_set"])),
            metadata=pd.DataFrame({"split": [split] * len(ids)}),
            soft_targets=data.get("soft_targets", None),
            dataset=dataset,
            split=split,
            label_mode=mode,
            dropped=dict(zip(data["dropped_keys"].tolist(), data["dropped_values"].tolist(), strict=True)),
        )
