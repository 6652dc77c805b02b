"""FER2013 faces joined with their FER+ vote distributions (the two-head training set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_data import make_ferplus_tree, write_face

from fer_core.data import DatasetError
from fer_core.data.joint import load_joint_split, read_names_table


def _joint_tree(tmp_path: Path) -> tuple[Path, Path]:
    """FER2013 PrivateTest faces 4 and 5; FER+ rows 0 (neutral 6/10) and 2 (NF: dropped) show the same faces."""
    fer2013 = tmp_path / "fer2013"
    write_face(fer2013 / "test/angry/PrivateTest_4.png", 40)
    write_face(fer2013 / "test/neutral/PrivateTest_5.png", 50)
    write_face(fer2013 / "test/sad/PrivateTest_6.png", 60)  # no FER+ counterpart
    ferplus = make_ferplus_tree(tmp_path)
    (ferplus / "fer2013_names.csv").write_text(
        "ferplus_image,fer2013_image,fer2013_label,match_mse\n"
        "fer0000000.png,test/angry/PrivateTest_4.png,angry,0.0\n"
        "fer0000002.png,test/neutral/PrivateTest_5.png,neutral,0.0\n"
    )
    return fer2013, ferplus


def test_joint_split_joins_votes_and_masks_dropped_faces(tmp_path: Path) -> None:
    fer2013, ferplus = _joint_tree(tmp_path)
    joint = load_joint_split(fer2013, ferplus, "test")
    assert joint.fer2013.sample_ids == [
        "fer2013/test/angry/PrivateTest_4",
        "fer2013/test/neutral/PrivateTest_5",
        "fer2013/test/sad/PrivateTest_6",
    ]
    np.testing.assert_allclose(joint.ferplus_targets[0], [0.75, 0.25, 0, 0, 0, 0, 0, 0])
    assert joint.ferplus_mask.tolist() == [True, False, False]
    assert joint.ferplus_labels.tolist() == [0, -1, -1]
    assert len(joint.subset(np.array([0]))) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n1,2\n", "missing columns"),
        ("ferplus_image,fer2013_image\n,test/x.png\n", "line 2: empty image name"),
    ],
)
def test_bad_names_table_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "fer2013_names.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_names_table(path)


def test_missing_names_table_says_what_it_is_for(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="maps FER\\+ images to FER2013 files"):
        read_names_table(tmp_path / "fer2013_names.csv")


def test_real_joint_split_counts(data_root: Path, split_cache_dir: Path | None) -> None:
    joint = load_joint_split(data_root / "fer2013", data_root / "ferplus", "val", cache_dir=split_cache_dir)
    assert len(joint) == 3589  # every PublicTest face keeps its FER2013 label
    # the FER+ Valid majority faces (3,555) that fer2013_names.csv maps to a file
    assert joint.ferplus_mask.sum() == 3553
