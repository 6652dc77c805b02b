"""Dataset readers on synthetic trees made in tmp_path, and the exact counts of the real datasets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core.data import DatasetError, load_split
from fer_core.data.pack import read_pack, write_pack
from fer_core.data.readers import ferplus_labels_from_votes
from fer_core.labels import FER2013, FERPLUS

rng = np.random.default_rng(0)


def write_face(path: Path, value: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = rng.integers(0, 256, (48, 48), dtype=np.uint8) if value is None else np.full((48, 48), value, np.uint8)
    cv2.imwrite(str(path), image)


@pytest.fixture
def fer2013_tree(tmp_path: Path) -> Path:
    root = tmp_path / "fer2013"
    write_face(root / "train/happy/Training_1.png", 10)
    write_face(root / "train/sad/Training_2.jpg", 20)
    write_face(root / "test/angry/PublicTest_3.png", 30)
    write_face(root / "test/angry/PrivateTest_4.png", 40)
    write_face(root / "test/neutral/PrivateTest_5.bmp", 50)
    (root / "test_age_groups.csv").write_text(
        "fer2013_image,age_group,agreement\ntest/angry/PrivateTest_4.png,child,both\n"
    )
    return root


@pytest.mark.parametrize(
    ("split", "ids", "labels"),
    [
        ("train", ["fer2013/train/happy/Training_1", "fer2013/train/sad/Training_2"], ["happy", "sad"]),
        ("val", ["fer2013/test/angry/PublicTest_3"], ["angry"]),
        (
            "PrivateTest",
            ["fer2013/test/angry/PrivateTest_4", "fer2013/test/neutral/PrivateTest_5"],
            ["angry", "neutral"],
        ),
    ],
)
def test_fer2013_folders(fer2013_tree: Path, split: str, ids: list[str], labels: list[str]) -> None:
    arrays = load_split("fer2013", fer2013_tree, split)
    assert arrays.sample_ids == ids
    assert [FER2013.names[i] for i in arrays.labels] == labels
    assert arrays.images.shape == (len(ids), 48, 48) and arrays.images.dtype == np.uint8


def test_metadata_joins_by_path_and_leaves_others_missing(fer2013_tree: Path) -> None:
    meta = load_split("fer2013", fer2013_tree, "test").metadata
    assert meta["age_group"].tolist()[0] == "child"
    assert meta["age_group"].isna().tolist() == [False, True]


def test_extension_does_not_change_sample_ids(fer2013_tree: Path, tmp_path: Path) -> None:
    jpg_root = tmp_path / "jpg" / "fer2013"
    for path in fer2013_tree.rglob("*.*"):
        if path.suffix in (".png", ".bmp"):
            write_face(jpg_root / path.relative_to(fer2013_tree).with_suffix(".jpg"))
    assert load_split("fer2013", jpg_root, "test").sample_ids == load_split("fer2013", fer2013_tree, "test").sample_ids


def test_fer2013_csv(tmp_path: Path) -> None:
    pixels = " ".join(["7"] * 2304)
    path = tmp_path / "fer2013.csv"
    path.write_text(f"emotion,pixels,Usage\n3,{pixels},Training\n5,{pixels},PrivateTest\n0,{pixels},Training\n")
    arrays = load_split("fer2013-csv", path, "train")
    assert arrays.labels.tolist() == [3, 0] and arrays.sample_ids == ["fer2013/row0000000", "fer2013/row0000002"]
    assert (arrays.images == 7).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("emotion,pixels,Usage\n3,1 2 3,Training\n", "line 2: expected 2304 grey values"),
        ("emotion,pixels,Usage\n9,{p},Training\n", "line 2: emotion '9'"),
        ("emotion,pixel,Usage\n", "missing columns"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "fer2013.csv"
    path.write_text(content.replace("{p}", " ".join(["1"] * 2304)))
    with pytest.raises(DatasetError, match=message) as info:
        load_split("fer2013-csv", path, "train")
    assert str(path) in str(info.value)


VOTES = np.array(
    [
        [6, 2, 0, 0, 0, 0, 0, 0, 2, 0],  # neutral, 60 % agreement
        [0, 4, 4, 0, 0, 0, 0, 0, 2, 0],  # tie happy/surprise -> happy (lowest index), 40 %
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 9],  # top vote NF -> dropped
        [0, 0, 0, 3, 0, 0, 0, 0, 7, 0],  # top vote unknown -> dropped
        [0, 0, 0, 0, 0, 0, 0, 5, 0, 5],  # tie contempt/NF -> argmax picks contempt: kept
    ]
)


@pytest.mark.parametrize(
    ("mode", "kept"),
    [("majority", [0, 1, 4]), ("soft", [0, 1, 4]), ("plurality50", [0])],
)
def test_ferplus_label_modes(mode: str, kept: list[int]) -> None:
    keep, labels, dropped = ferplus_labels_from_votes(VOTES, mode)
    assert np.flatnonzero(keep).tolist() == kept
    assert labels[[0, 1, 4]].tolist() == [FERPLUS.index("neutral"), FERPLUS.index("happy"), FERPLUS.index("contempt")]
    assert dropped["top vote unknown or NF"] == 2


def make_ferplus_tree(tmp_path: Path) -> Path:
    root = tmp_path / "ferplus"
    folder = root / "FER2013Test"
    lines = []
    for i, votes in enumerate(VOTES):
        write_face(folder / f"fer{i:07d}.png", i * 10)
        lines.append(f'fer{i:07d}.png,"(0, 0, 48, 48)",' + ",".join(map(str, votes)))
    (folder / "label.csv").write_text("\n".join(lines) + "\n")
    (folder / "age_groups.csv").write_text("ferplus_image,age_group,agreement\nfer0000001.png,child,both\n")
    return root


def test_ferplus_folders_with_soft_targets_and_age_groups(tmp_path: Path) -> None:
    arrays = load_split("ferplus", make_ferplus_tree(tmp_path), "test", label_mode="soft")
    assert arrays.sample_ids == [
        "ferplus/FER2013Test/fer0000000",
        "ferplus/FER2013Test/fer0000001",
        "ferplus/FER2013Test/fer0000004",
    ]
    np.testing.assert_allclose(arrays.soft_targets[0][:2], [0.75, 0.25])
    np.testing.assert_allclose(arrays.soft_targets.sum(1), 1.0)
    assert arrays.metadata["age_group"].tolist()[1] == "child"
    assert arrays.images[1].mean() == pytest.approx(10)


def test_ferplus_bad_label_row(tmp_path: Path) -> None:
    root = make_ferplus_tree(tmp_path)
    (root / "FER2013Test/label.csv").write_text("fer0000000.png,1,2,3\n")
    with pytest.raises(DatasetError, match="line 1: expected 12 columns"):
        load_split("ferplus", root, "test")


@pytest.mark.parametrize(
    ("dataset", "split", "message"),
    [
        ("fer2013", "val", "missing FER2013 split folder"),
        ("ferplus", "train", r"missing FER\+ split folder"),
        ("mnist", "train", "known: fer2013"),
    ],
)
def test_missing_folders_and_unknown_datasets(tmp_path: Path, dataset: str, split: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_split(dataset, tmp_path, split)


def test_unreadable_image_is_named(fer2013_tree: Path) -> None:
    bad = fer2013_tree / "test/angry/PrivateTest_9.png"
    bad.write_text("not an image")
    with pytest.raises(DatasetError, match=r"PrivateTest_9\.png: unreadable image"):
        load_split("fer2013", fer2013_tree, "test")


def test_image_folder_with_synonyms(tmp_path: Path) -> None:
    write_face(tmp_path / "faces/Happiness/a.png")
    write_face(tmp_path / "faces/anger/b.png")
    arrays = load_split("imagefolder", tmp_path / "faces", "test", label_set="ferplus")
    assert [FERPLUS.names[i] for i in arrays.labels] == ["happy", "angry"]  # folder order
    write_face(tmp_path / "faces/bored/c.png")
    with pytest.raises(DatasetError, match="bored: unknown class folder"):
        load_split("imagefolder", tmp_path / "faces", "test", label_set="ferplus")


def test_cache_round_trip(fer2013_tree: Path, tmp_path: Path) -> None:
    first = load_split("fer2013", fer2013_tree, "test", cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    second = load_split("fer2013", fer2013_tree, "test", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first.images, second.images)
    assert first.sample_ids == second.sample_ids and second.metadata["age_group"].tolist()[0] == "child"


def test_pack_round_trip(tmp_path: Path) -> None:
    arrays = load_split("ferplus", make_ferplus_tree(tmp_path), "test", label_mode="soft")
    path = write_pack({"test": arrays}, tmp_path / "p.npz", quality=100)
    back = read_pack(path)["test"]
    assert back.sample_ids == arrays.sample_ids and back.labels.tolist() == arrays.labels.tolist()
    assert np.abs(back.images.astype(int) - arrays.images).mean() < 2
    np.testing.assert_allclose(back.soft_targets, arrays.soft_targets, atol=1e-3)


@pytest.mark.parametrize(
    ("dataset", "counts"),
    [
        ("fer2013", {"train": 28709, "val": 3589, "test": 3589}),
        ("ferplus", {"train": 28558, "val": 3579, "test": 3573}),
    ],
)
def test_real_dataset_counts(data_root: Path, dataset: str, counts: dict[str, int]) -> None:
    for split, expected in counts.items():
        arrays = load_split(dataset, data_root / dataset, split)
        total = len(arrays) + sum(arrays.dropped.values())
        assert total == expected, f"{dataset} {split}: {total} images before filtering, expected {expected}"


def test_real_ferplus_test_age_groups(data_root: Path) -> None:
    from fer_core.data.readers import _read_ferplus_votes

    names, _ = _read_ferplus_votes(data_root / "ferplus/FER2013Test/label.csv")
    assert len(names) == 3573
    arrays = load_split("ferplus", data_root / "ferplus", "test")
    groups = arrays.metadata["age_group"].value_counts().to_dict()
    # The published counts cover all 3,573 images; the majority filter drops the not-a-face ones.
    assert set(groups) == {"adult", "child", "unclear"}
    assert sum(groups.values()) == len(arrays)
