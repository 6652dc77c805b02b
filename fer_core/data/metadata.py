"""Joining per-image metadata CSVs (e.g. the kids/adults age groups of the test splits) onto samples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays

__all__ = ["KNOWN_METADATA", "join_metadata"]

# Metadata files that ship with the datasets, relative to the dataset root, per (dataset, split).
KNOWN_METADATA = {
    ("fer2013", "test"): "test_age_groups.csv",
    ("ferplus", "test"): "FER2013Test/age_groups.csv",
}


def _image_key(text: str) -> str:
    """Image reference without extension, so ``a/b.png`` and ``a/b.jpg`` join the same sample."""
    path = Path(str(text).strip())
    return path.with_suffix("").as_posix() if path.suffix else path.as_posix()


def join_metadata(arrays: FaceArrays, csv_path: Path) -> FaceArrays:
    """Add the columns of ``csv_path`` (first column names images by file name or relative path).

    A sample matches when its id ends with the image reference; samples without a row get missing values.
    """
    try:
        table = pd.read_csv(csv_path, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DatasetError(f"{csv_path}: unreadable metadata CSV ({err})") from err
    if table.shape[1] < 2:
        raise DatasetError(f"{csv_path}: needs an image column and at least one metadata column")
    key_column = table.columns[0]
    table = table.drop_duplicates(key_column).set_index(table[key_column].map(_image_key)).drop(columns=key_column)
    by_key = {key: i for i, key in enumerate(table.index)}
    positions = []
    for sample_id in arrays.sample_ids:
        parts = sample_id.split("/")
        match = next((by_key["/".join(parts[i:])] for i in range(len(parts)) if "/".join(parts[i:]) in by_key), None)
        positions.append(match)
    matched = [p for p in positions if p is not None]
    if not matched:
        raise DatasetError(f"{csv_path}: no row matches any image of {arrays.dataset} {arrays.split}")
    joined = arrays.metadata.copy()
    for column in table.columns:
        values = table[column].to_numpy()
        joined[column] = [values[p] if p is not None else None for p in positions]
    arrays.metadata = joined
    return arrays
