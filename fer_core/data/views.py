"""Label-set views of a split: keep the images of the classes a label set has, count the others.

The 7-class view of AffectNet (contempt dropped) and the scoring of a model on a dataset with other classes both
come down to this: the images of a class the target set lacks are left out, and the report says how many.
"""

from __future__ import annotations

import numpy as np

from fer_core.data.arrays import FaceArrays
from fer_core.labels import LabelSet

__all__ = ["dropped_class_reason", "restrict_to_label_set"]


def dropped_class_reason(name: str, label_set: LabelSet) -> str:
    """The ``FaceArrays.dropped`` key for the images of class ``name`` left out of ``label_set``."""
    return f"class {name} not in {label_set.name}"


def restrict_to_label_set(arrays: FaceArrays, label_set: LabelSet) -> FaceArrays:
    """The images whose class ``label_set`` has, relabelled in its ids; the others counted per class in ``dropped``.

    Soft targets are not carried over: their columns belong to the old label set.
    """
    if arrays.label_set.names == label_set.names:
        return arrays
    new_id = np.array([label_set.names.index(n) if n in label_set.names else -1 for n in arrays.label_set.names])
    mapped = new_id[arrays.labels] if len(arrays) else np.zeros(0, np.int64)
    keep = mapped >= 0
    result = arrays.subset(keep)
    result.labels = mapped[keep].astype(np.int64)
    result.label_set = label_set
    result.soft_targets = None
    counts = arrays.class_counts()
    for class_id, name in enumerate(arrays.label_set.names):
        if new_id[class_id] < 0 and counts[class_id]:
            reason = dropped_class_reason(name, label_set)
            result.dropped[reason] = result.dropped.get(reason, 0) + int(counts[class_id])
    return result
