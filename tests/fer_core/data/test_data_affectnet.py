"""AffectNet's release layout (train_set/, val_set/: images/ and annotations/*.npy), synthetic trees in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dataset_trees import make_affectnet_tree

from fer_core.data import DatasetError, load_split
from fer_core.data.affectnet import AFFECTNET_EXPRESSIONS, NOT_AN_EMOTION, read_annotation
from fer_core.labels import FER2013, FERPLUS

# (AffectNet code, FER+ label id, FER2013 label id or None for contempt): the whole mapping, by hand.
CODE_TABLE = [
    (0, FERPLUS.index("neutral"), 6),
    (1, FERPLUS.index("happy"), 3),
    (2, FERPLUS.index("sad"), 4),
    (3, FERPLUS.index("surprise"), 5),
    (4, FERPLUS.index("fear"), 2),
    (5, FERPLUS.index("disgust"), 1),
    (6, FERPLUS.index("angry"), 0),
    (7, FERPLUS.index("contempt"), None),
]


@pytest.mark.parametrize(("code", "ferplus_id", "fer2013_id"), CODE_TABLE)
def test_code_table_maps_into_both_label_sets(code: int, ferplus_id: int, fer2013_id: int | None) -> None:
    name = AFFECTNET_EXPRESSIONS[code]
    assert FERPLUS.index(name) == ferplus_id
    assert (FER2013.index(name) if name in FER2013.names else None) == fer2013_id


def test_eight_class_view(tmp_path: Path) -> None:
    arrays = load_split("affectnet", make_affectnet_tree(tmp_path), "test")
    assert (arrays.dataset, arrays.split, arrays.label_set) == ("affectnet", "test", FERPLUS)
    assert arrays.sample_ids == [f"affectnet/val_set/images/{100 + c}" for c in range(8)]
    assert arrays.labels.tolist() == [ferplus_id for _, ferplus_id, _ in CODE_TABLE]
    assert arrays.images.shape == (8, 48, 48) and arrays.images.dtype == np.uint8
    assert arrays.images[:, 0, 0].tolist() == [20 * c for c in range(8)]  # colour 224 px -> grey 48 px
    assert arrays.dropped == {}


def test_seven_class_view_drops_and_counts_contempt(tmp_path: Path) -> None:
    arrays = load_split("affectnet7", make_affectnet_tree(tmp_path), "test")
    assert (arrays.dataset, arrays.label_set) == ("affectnet7", FER2013)
    assert arrays.labels.tolist() == [fer2013_id for _, _, fer2013_id in CODE_TABLE if fer2013_id is not None]
    assert "affectnet/val_set/images/107" not in arrays.sample_ids
    assert arrays.dropped == {"class contempt not in fer2013": 1}
    assert len(arrays) + sum(arrays.dropped.values()) == 8


def test_valence_arousal_and_landmarks_are_metadata(tmp_path: Path) -> None:
    arrays = load_split("affectnet", make_affectnet_tree(tmp_path), "test")
    meta = arrays.metadata
    np.testing.assert_allclose(meta["valence"], 0.5)
    np.testing.assert_allclose(meta["arousal"], -0.25)
    landmarks = meta["landmarks"]
    assert landmarks.isna().tolist() == [code == 3 for code in range(8)]  # image 103 ships no _lnd.npy
    assert [float(v) for v in landmarks[0].split()] == (np.arange(136) / 2).tolist()


def test_codes_without_an_emotion_are_dropped_and_counted(tmp_path: Path) -> None:
    arrays = load_split("affectnet", make_affectnet_tree(tmp_path), "train")
    assert arrays.sample_ids == ["affectnet/train_set/images/7"]
    assert arrays.dropped == {NOT_AN_EMOTION: 1}


def test_val_split_is_refused_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="val_set is its test split"):
        load_split("affectnet", make_affectnet_tree(tmp_path), "val")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), (np.array(5), 5.0), (np.array("-0.75"), -0.75), (np.float32(0.5), 0.5), (np.array([2]), 2.0)],
)
def test_annotation_values_as_strings_or_arrays(tmp_path: Path, value, expected: float) -> None:
    path = tmp_path / "x_exp.npy"
    np.save(path, value)
    assert read_annotation(path) == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("12", "expression 12 is not an AffectNet code"),
        ("2.5", "expression 2.5 is not an AffectNet code"),
        ("happy", "expected numbers"),
        (np.array([1, 2]), "expected one value, found 2"),
        (np.array([{"label": 1}], dtype=object), "without pickled objects"),
        (b"not a numpy file", "without pickled objects"),
    ],
)
def test_malformed_expression_files_name_the_file(tmp_path: Path, content, message: str) -> None:
    root = make_affectnet_tree(tmp_path)
    bad = root / "val_set/annotations/104_exp.npy"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        np.save(bad, content, allow_pickle=True)  # the object array is written to test that it is never read
    with pytest.raises(DatasetError, match=message) as err:
        load_split("affectnet", root, "test")
    assert str(bad) in str(err.value)


def test_missing_expression_file_names_it(tmp_path: Path) -> None:
    root = make_affectnet_tree(tmp_path)
    (root / "val_set/annotations/105_exp.npy").unlink()
    with pytest.raises(DatasetError, match=r"105_exp\.npy: missing annotation file"):
        load_split("affectnet", root, "test")


def test_wrong_landmark_count_names_the_file(tmp_path: Path) -> None:
    root = make_affectnet_tree(tmp_path)
    np.save(root / "val_set/annotations/100_lnd.npy", np.zeros(10))
    with pytest.raises(DatasetError, match=r"100_lnd\.npy: expected 136 landmark values"):
        load_split("affectnet", root, "test")


def test_missing_folders_say_what_is_expected(tmp_path: Path) -> None:
    (tmp_path / "affectnet/val_set/images").mkdir(parents=True)
    with pytest.raises(DatasetError, match="annotations: missing AffectNet folder"):
        load_split("affectnet", tmp_path / "affectnet", "test")


def test_cache_round_trip_keeps_the_metadata(tmp_path: Path) -> None:
    root = make_affectnet_tree(tmp_path)
    first = load_split("affectnet7", root, "test", cache_dir=tmp_path / "cache")
    second = load_split("affectnet7", root, "test", cache_dir=tmp_path / "cache")
    assert second.sample_ids == first.sample_ids and second.dropped == first.dropped
    assert second.metadata["landmarks"].isna().tolist() == first.metadata["landmarks"].isna().tolist()
    np.testing.assert_array_equal(second.images, first.images)
