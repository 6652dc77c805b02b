"""The real FER2013 and FER+ releases: exact split sizes, Kaggle class counts and the test splits' age groups.

Decoded splits are cached in pytest's cache folder, so only the first run decodes the ~72k PNGs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fer_core.data import FaceArrays, load_split
from fer_core.data.ferplus import read_label_csv
from fer_core.data.metadata import join_metadata
from fer_core.labels import FER2013, FERPLUS

# Image counts before any label filter (FER+ drops the faces whose top vote is unknown / not a face).
SPLIT_SIZES = {
    "fer2013": {"train": 28709, "val": 3589, "test": 3589},
    "ferplus": {"train": 28558, "val": 3579, "test": 3573},
}
# The Kaggle release, per FER2013 class in label-set order (angry disgust fear happy sad surprise neutral).
KAGGLE_CLASS_COUNTS = {
    "train": [3995, 436, 4097, 7215, 4830, 3171, 4965],
    "val": [467, 56, 496, 895, 653, 415, 607],
    "test": [491, 55, 528, 879, 594, 416, 626],
}
FERPLUS_TEST_AGE_GROUPS = {"adult": 2795, "child": 663, "unclear": 115}
FER2013_TEST_AGE_ROWS = 3567


@pytest.fixture(scope="session")
def real_splits(data_root: Path, split_cache_dir: Path | None) -> dict[tuple[str, str], FaceArrays]:
    """Every split of both datasets (FER+ majority), through a cache that outlives the test session."""
    return {
        (dataset, split): load_split(dataset, data_root / dataset, split, cache_dir=split_cache_dir)
        for dataset, sizes in SPLIT_SIZES.items()
        for split in sizes
    }


@pytest.mark.parametrize(("dataset", "split"), [(d, s) for d, sizes in SPLIT_SIZES.items() for s in sizes])
def test_split_sizes_before_filtering(real_splits, dataset: str, split: str) -> None:
    arrays = real_splits[dataset, split]
    assert len(arrays) + sum(arrays.dropped.values()) == SPLIT_SIZES[dataset][split]
    assert arrays.images.shape[1:] == (48, 48) and len(set(arrays.sample_ids)) == len(arrays)
    assert (arrays.dropped == {}) == (dataset == "fer2013")


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_fer2013_class_counts_match_kaggle(real_splits, split: str) -> None:
    assert real_splits["fer2013", split].class_counts().tolist() == KAGGLE_CLASS_COUNTS[split]
    assert real_splits["fer2013", split].label_set == FER2013


def test_ferplus_majority_labels_are_the_top_emotion_vote(real_splits) -> None:
    arrays = real_splits["ferplus", "train"]
    votes = arrays.metadata[[f"votes_{name}" for name in FERPLUS.names]].to_numpy()
    np.testing.assert_array_equal(arrays.labels, votes.argmax(axis=1))
    assert (arrays.class_counts() > 0).all()


def test_fer2013_test_age_groups_join(real_splits) -> None:
    groups = real_splits["fer2013", "test"].metadata["age_group"]
    assert groups.notna().sum() == FER2013_TEST_AGE_ROWS
    assert set(groups.dropna()) == set(FERPLUS_TEST_AGE_GROUPS)


def test_ferplus_test_age_groups_join(real_splits, data_root: Path) -> None:
    """All 3,573 test images join their published group; the majority split keeps a group for every image."""
    folder = data_root / "ferplus" / "FER2013Test"
    names, _ = read_label_csv(folder / "label.csv")
    every_image = FaceArrays(
        images=np.zeros((len(names), 1, 1), np.uint8),
        labels=np.zeros(len(names), np.int64),
        sample_ids=[f"ferplus/FER2013Test/{Path(name).stem}" for name in names],
        label_set=FERPLUS,
        metadata=pd.DataFrame({"split": ["test"] * len(names)}),
    )
    counts = join_metadata(every_image, folder / "age_groups.csv").metadata["age_group"].value_counts().to_dict()
    assert counts == FERPLUS_TEST_AGE_GROUPS
    majority = real_splits["ferplus", "test"].metadata["age_group"]
    assert majority.notna().all()
    assert all(majority.value_counts()[group] <= count for group, count in FERPLUS_TEST_AGE_GROUPS.items())
