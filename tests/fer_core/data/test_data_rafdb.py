"""RAF-DB basic's release layout (EmoLabel/list_patition_label.txt + Image/aligned or Image/original) in tmp_path."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from dataset_trees import LINES, make_rafdb_tree

from fer_core.data import DatasetError, load_split
from fer_core.data.rafdb import RAFDB_EXPRESSIONS
from fer_core.labels import FER2013

# (RAF label, FER2013 label id): RAF's order 1 Surprise ... 7 Neutral against FER2013's angry ... neutral.
LABEL_TABLE = [(1, 5), (2, 2), (3, 1), (4, 3), (5, 4), (6, 0), (7, 6)]


@pytest.mark.parametrize(("raf_label", "fer2013_id"), LABEL_TABLE)
def test_label_table_maps_raf_order_onto_fer2013(raf_label: int, fer2013_id: int) -> None:
    assert FER2013.index(RAFDB_EXPRESSIONS[raf_label]) == fer2013_id


@pytest.mark.parametrize("variant", ["aligned", "original"])
def test_test_split(tmp_path: Path, variant: str) -> None:
    arrays = load_split("rafdb", make_rafdb_tree(tmp_path, variant), "test")
    assert (arrays.dataset, arrays.split, arrays.label_set) == ("rafdb", "test", FER2013)
    assert arrays.sample_ids == ["rafdb/test_0001", "rafdb/test_0002", "rafdb/test_0003"]
    assert [FER2013.names[i] for i in arrays.labels] == ["happy", "neutral", "angry"]
    assert arrays.images.shape == (3, 48, 48) and arrays.images[:, 0, 0].tolist() == [30, 40, 50]


def test_train_split_and_aligned_preferred(tmp_path: Path) -> None:
    root = make_rafdb_tree(tmp_path, "aligned")
    for stem in ("train_00001", "train_00002"):  # white originals beside the aligned faces
        (root / "Image/original").mkdir(exist_ok=True)
        assert cv2.imwrite(str(root / "Image/original" / f"{stem}.jpg"), np.full((150, 150, 3), 255, np.uint8))
    arrays = load_split("rafdb", root, "train")
    assert [FER2013.names[i] for i in arrays.labels] == ["sad", "surprise"]
    assert arrays.images[:, 0, 0].tolist() == [10, 20]  # the aligned copies


def test_val_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="RAF-DB has no 'val' split; known: train, test"):
        load_split("rafdb", make_rafdb_tree(tmp_path), "val")


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("test_0009.jpg", "expected '<image> <label 1-7>'"),
        ("test_0009.jpg 8", "label '8' is not one of 1 surprise"),
        ("test_0009.jpg 0", "label '0' is not one of"),
        ("test_0009.jpg happy", "label 'happy' is not one of"),
        ("val_0009.jpg 3", "does not start with train_ or test_"),
        ("test_0001.jpg 3", "listed twice"),
        ("test_0009.jpg 3", "no image test_0009_aligned"),
    ],
)
def test_malformed_label_file_names_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    root = make_rafdb_tree(tmp_path)
    label_file = root / "EmoLabel/list_patition_label.txt"
    label_file.write_text(label_file.read_text().rstrip("\n") + f"\n{bad_line}\n")
    with pytest.raises(DatasetError, match=message) as err:
        load_split("rafdb", root, "test")
    assert f"{label_file}, line {len(LINES) + 1}:" in str(err.value)


def test_missing_label_file_and_image_folder(tmp_path: Path) -> None:
    root = make_rafdb_tree(tmp_path)
    (root / "EmoLabel/list_patition_label.txt").unlink()
    with pytest.raises(DatasetError, match="missing RAF-DB label file"):
        load_split("rafdb", root, "test")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"Image/aligned/ or .*Image/original/"):
        load_split("rafdb", empty, "test")
