"""Joining per-image metadata CSVs (e.g. the kids/adults age groups of the test splits) onto samples.

The first CSV column names an image by file name (``fer0032220.png``) or by a path relative to the dataset root
(``test/angry/PrivateTest_65940639.png``); the extension is ignored, so a CSV written for the ``.png`` copy of a
dataset also fits a ``.jpg`` copy. A sample matches the row whose name is the longest tail of its sample id.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.images import strip_image_suffix

__all__ = ["KNOWN_METADATA", "join_metadata"]

# Metadata files that ship with the datasets, relative to the dataset root, per (dataset, split).
KNOWN_METADATA = {
    ("fer2013", "test"): "test_age_groups.csv",
    ("ferplus", "test"): "FER2013Test/age_groups.csv",
}


def _read_table(csv_path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DatasetError(f"{csv_path}: unreadable metadata CSV ({err})") from err
    if table.shape[1] < 2:
        raise DatasetError(f"{csv_path}: needs an image column and at least one metadata column")
    key_column = table.columns[0]
    keys = table[key_column].fillna("").map(lambda text: strip_image_suffix(text.strip().replace("\\", "/")))
    duplicated = keys[keys.duplicated()]
    if len(duplicated):
        raise DatasetError(f"{csv_path}: image {duplicated.iloc[0]!r} is listed more than once")
    return table.drop(columns=key_column).set_axis(keys.to_list())


def _row_of(sample_id: str, rows: dict[str, int]) -> int | None:
    parts = sample_id.split("/")
    for start in range(len(parts)):
        row = rows.get("/".join(parts[start:]))
        if row is not None:
            return row
    return None


def join_metadata(arrays: FaceArrays, csv_path: Path, *, require_match: bool = True) -> FaceArrays:
    """A copy of ``arrays`` with the CSV's columns in its metadata (replacing same-named ones); unmatched -> NaN.

    With ``require_match``, a CSV that names no sample at all is an error: it almost always belongs to another
    split or dataset.
    """
    table = _read_table(Path(csv_path))
    rows = {key: i for i, key in enumerate(table.index)}
    positions = [_row_of(sample_id, rows) for sample_id in arrays.sample_ids]
    if require_match and len(arrays) and all(p is None for p in positions):
        raise DatasetError(f"{csv_path}: no row names an image of {arrays.dataset} {arrays.split}")
    metadata = arrays.metadata.copy()
    for column in table.columns:
        values = table[column].to_numpy()
        joined = [None if p is None else values[p] for p in positions]
        metadata[column] = pd.Series(joined, index=metadata.index, dtype="str")
    return replace(arrays, metadata=metadata)
