"""The real AffectNet and RAF-DB releases, when a copy is present: exact split sizes and class counts.

Looked for under the data root (``$FER_DATA_DIR``, as the FER2013 / FER+ real-data tests) as ``affectnet/`` and
``rafdb/``; each test skips with a reason when its dataset is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DATA_ROOT

from fer_core.data import PUBLISHED_SIZES, load_split
from fer_core.labels import FER2013, FERPLUS

# RAF-DB basic per class, in RAF's published order (Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral).
RAFDB_CLASS_COUNTS = {
    "train": {"surprise": 1290, "fear": 281, "disgust": 717, "happy": 4772, "sad": 1982, "angry": 705, "neutral": 2524},
    "test": {"surprise": 329, "fear": 74, "disgust": 160, "happy": 1185, "sad": 478, "angry": 162, "neutral": 680},
}
AFFECTNET_VAL_PER_CLASS = 500


def dataset_root(name: str, needed: str) -> Path:
    root = DATA_ROOT / name
    if not (root / needed).exists():
        pytest.skip(f"no {name} release under {DATA_ROOT} (expected {root / needed}; set FER_DATA_DIR)")
    return root


@pytest.mark.parametrize("split", ["train", "test"])
def test_rafdb_split_sizes_and_class_counts(split: str, split_cache_dir: Path | None) -> None:
    arrays = load_split(
        "rafdb", dataset_root("rafdb", "EmoLabel/list_patition_label.txt"), split, cache_dir=split_cache_dir
    )
    assert len(arrays) == PUBLISHED_SIZES["rafdb", split] and arrays.dropped == {}
    counts = dict(zip(FER2013.names, arrays.class_counts().tolist(), strict=True))
    assert counts == RAFDB_CLASS_COUNTS[split]
    assert sum(RAFDB_CLASS_COUNTS[split].values()) == PUBLISHED_SIZES["rafdb", split]


def test_affectnet_validation_set_has_500_per_class(split_cache_dir: Path | None) -> None:
    root = dataset_root("affectnet", "val_set/annotations")
    eight = load_split("affectnet", root, "test", cache_dir=split_cache_dir)
    assert len(eight) == PUBLISHED_SIZES["affectnet", "test"]
    assert eight.class_counts().tolist() == [AFFECTNET_VAL_PER_CLASS] * len(FERPLUS)
    assert eight.metadata[["valence", "arousal"]].notna().all().all()
    seven = load_split("affectnet7", root, "test", cache_dir=split_cache_dir)
    assert len(seven) == 7 * AFFECTNET_VAL_PER_CLASS
    assert seven.dropped == {"class contempt not in fer2013": AFFECTNET_VAL_PER_CLASS}
