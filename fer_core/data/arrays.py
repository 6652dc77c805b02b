"""``FaceArrays``: a whole dataset split as stacked arrays (fast to train on, cheap to subset)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from fer_core.errors import DatasetError
from fer_core.labels import LabelSet

__all__ = ["DatasetError", "FaceArrays"]


@dataclass
class FaceArrays:
    """One split: grey images ``(N, H, W)`` uint8 (BGR ``(N, H, W, 3)`` when read in colour), class ids, stable
    sample ids and per-sample metadata.

    ``sample_ids`` carry no file extension (``fer2013/test/angry/PrivateTest_10131363``), so the same face has the
    same id in a ``.png`` and a ``.jpg`` copy of a dataset and stored evaluation runs join across copies.
    ``metadata`` has one row per sample (at least ``split``; joined columns such as ``age_group``, missing as NaN).
    ``soft_targets`` ``(N, C)`` float32 rows sum to 1 (FER+ vote distributions). ``dropped`` counts the images a
    label filter removed, by reason, so reports can say which filter was used.
    """

    images: np.ndarray
    labels: np.ndarray
    sample_ids: list[str]
    label_set: LabelSet
    metadata: pd.DataFrame
    soft_targets: np.ndarray | None = None
    dataset: str = ""
    split: str = ""
    label_mode: str = ""
    dropped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        colour = self.images.ndim == 4 and self.images.shape[3] == 3
        if (self.images.ndim != 3 and not colour) or self.images.dtype != np.uint8:
            raise ValueError(
                "FaceArrays: images must be (N, H, W) or (N, H, W, 3) uint8, "
                f"got {self.images.shape} {self.images.dtype}"
            )
        n = len(self.images)
        lengths = {"labels": len(self.labels), "sample_ids": len(self.sample_ids), "metadata": len(self.metadata)}
        if self.soft_targets is not None:
            lengths["soft_targets"] = len(self.soft_targets)
        wrong = {k: v for k, v in lengths.items() if v != n}
        if wrong:
            raise ValueError(f"FaceArrays: {n} images but {wrong}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.label_set)):
            raise ValueError(f"FaceArrays: labels outside 0..{len(self.label_set) - 1}")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int] | np.ndarray) -> FaceArrays:
        """The samples at ``indices`` (integer positions or a boolean mask), as a new object with copied arrays."""
        idx = np.asarray(indices)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        return replace(
            self,
            images=self.images[idx],
            labels=self.labels[idx],
            sample_ids=[self.sample_ids[i] for i in idx],
            metadata=self.metadata.iloc[idx].reset_index(drop=True),
            soft_targets=None if self.soft_targets is None else self.soft_targets[idx],
            dropped=dict(self.dropped),
        )

    def class_counts(self) -> np.ndarray:
        """Number of samples per class id, ``(C,)`` int64 in label-set order."""
        return np.bincount(self.labels, minlength=len(self.label_set))
