"""``FaceArrays`` <-> named numpy arrays, the shared layout of the decode cache and of training packs.

Everything is stored as plain (non-object) arrays so files load with ``allow_pickle=False``: text as unicode
arrays, metadata column by column (text columns with a missing-value mask).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.labels import LabelSet

__all__ = ["arrays_from_fields", "arrays_to_fields"]


def _column_fields(key: str, column: pd.Series) -> dict[str, np.ndarray]:
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return {key: column.to_numpy()}
    missing = column.isna().to_numpy()
    text = np.array(["" if gone else str(value) for value, gone in zip(column, missing, strict=True)], dtype=str)
    return {key: text, f"{key}.missing": missing}


def _column_from_fields(data: Mapping[str, np.ndarray], key: str) -> pd.Series:
    values = data[key]
    if f"{key}.missing" not in data:
        return pd.Series(values)
    missing = data[f"{key}.missing"]
    return pd.Series([None if gone else str(v) for v, gone in zip(values, missing, strict=True)], dtype="str")


def arrays_to_fields(arrays: FaceArrays, prefix: str = "", *, images: bool = True) -> dict[str, np.ndarray]:
    """Everything in ``arrays`` as ``{prefix + name: array}`` (``images=False`` leaves the pixels out)."""
    fields = {
        "labels": arrays.labels.astype(np.int64),
        "sample_ids": np.array(arrays.sample_ids, dtype=str),
        "label_set": np.array([arrays.label_set.name, *arrays.label_set.names]),
        "info": np.array([arrays.dataset, arrays.split, arrays.label_mode]),
        "dropped_reasons": np.array(list(arrays.dropped), dtype=str),
        "dropped_counts": np.array(list(arrays.dropped.values()), dtype=np.int64),
        "metadata_columns": np.array(list(arrays.metadata.columns), dtype=str),
    }
    if images:
        fields["images"] = arrays.images
    if arrays.soft_targets is not None:
        fields["soft_targets"] = arrays.soft_targets.astype(np.float32)
    for i, name in enumerate(arrays.metadata.columns):
        fields.update(_column_fields(f"metadata.{i}", arrays.metadata[name]))
    return {prefix + key: value for key, value in fields.items()}


def arrays_from_fields(
    data: Mapping[str, np.ndarray], prefix: str = "", images: np.ndarray | None = None
) -> FaceArrays:
    """Inverse of :func:`arrays_to_fields`; ``images`` replaces stored pixels (packs keep them encoded)."""
    fields = {key[len(prefix) :]: data[key] for key in data if key.startswith(prefix)}
    try:
        set_name, *names = (str(v) for v in fields["label_set"])
        dataset, split, mode = (str(v) for v in fields["info"])
        columns = [str(c) for c in fields["metadata_columns"]]
        metadata = pd.DataFrame({c: _column_from_fields(fields, f"metadata.{i}") for i, c in enumerate(columns)})
        return FaceArrays(
            images=fields["images"] if images is None else images,
            labels=fields["labels"].astype(np.int64),
            sample_ids=[str(s) for s in fields["sample_ids"]],
            label_set=LabelSet(set_name, tuple(names)),
            metadata=metadata,
            soft_targets=fields.get("soft_targets"),
            dataset=dataset,
            split=split,
            label_mode=mode,
            dropped=dict(zip(fields["dropped_reasons"].tolist(), fields["dropped_counts"].tolist(), strict=True)),
        )
    except (KeyError, ValueError) as err:
        raise DatasetError(f"stored split {prefix.rstrip('/') or '(root)'} is incomplete or corrupt ({err})") from err
