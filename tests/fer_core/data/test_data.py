"""Dataset readers, FER+ label modes, metadata joins, the decode cache and packs, on synthetic data in tmp_path."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fer_core.data import DatasetError, FaceArrays, canonical_split, load_split, relabel_ferplus
from fer_core.data.ferplus import ferplus_labels_from_votes
from fer_core.data.pack import main as pack_main
from fer_core.data.pack import read_pack, rms_error, write_pack
from fer_core.labels import FER2013, FERPLUS

rng = np.random.default_rng(0)


def write_face(path: Path, value: int | None = None, *, size: int = 48, colour: tuple | None = None) -> None:
    """A grey face of one ``value`` (or noise), or a uniform BGR ``colour`` image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if colour is not None:
        image = np.full((size, size, 3), colour, np.uint8)
    elif value is None:
        image = rng.integers(0, 256, (size, size), dtype=np.uint8)
    else:
        image = np.full((size, size), value, np.uint8)
    assert cv2.imwrite(str(path), image)


@pytest.fixture
def fer2013_tree(tmp_path: Path) -> Path:
    """Kaggle layout: Training under train/, PublicTest and PrivateTest under test/, mixed extensions."""
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


# FER+ vote rows (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF), hand-labelled.
VOTES = np.array(
    [
        [6, 2, 0, 0, 0, 0, 0, 0, 2, 0],  # 0 neutral, 6/10 > 50 %
        [0, 4, 4, 0, 0, 0, 0, 0, 2, 0],  # 1 tie happy/surprise -> happy (lowest index), 4/10
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 9],  # 2 top vote NF -> dropped
        [0, 0, 0, 3, 0, 0, 0, 0, 7, 0],  # 3 top vote unknown -> dropped
        [0, 0, 0, 0, 0, 0, 0, 5, 0, 5],  # 4 tie contempt/NF -> the emotion wins (lower index); exactly 50 %
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # 5 no votes -> dropped
        [0, 0, 0, 0, 5, 0, 0, 0, 4, 0],  # 6 angry 5/9 (a 9-vote row) > 50 %
    ]
)
MAJORITY_LABELS = {0: "neutral", 1: "happy", 4: "contempt", 6: "angry"}


@pytest.mark.parametrize(
    ("mode", "kept", "dropped"),
    [
        ("majority", [0, 1, 4, 6], {"no votes": 1, "top vote unknown or NF": 2}),
        ("soft", [0, 1, 4, 6], {"no votes": 1, "top vote unknown or NF": 2}),
        ("plurality50", [0, 6], {"no votes": 1, "top vote unknown or NF": 2, "top emotion <= 50% of votes": 2}),
    ],
)
def test_ferplus_label_modes(mode: str, kept: list[int], dropped: dict[str, int]) -> None:
    keep, labels, drops = ferplus_labels_from_votes(VOTES, mode)
    assert np.flatnonzero(keep).tolist() == kept
    assert [FERPLUS.names[labels[i]] for i in kept] == [MAJORITY_LABELS[i] for i in kept]
    assert drops == dropped


def make_ferplus_tree(tmp_path: Path, folder_name: str = "FER2013Test") -> Path:
    """FER+ generated folder: fer%07d.png with grey value 10*i, label.csv of VOTES, an age-group CSV."""
    root = tmp_path / "ferplus"
    folder = root / folder_name
    lines = []
    for i, votes in enumerate(VOTES):
        write_face(folder / f"fer{i:07d}.png", 10 * i)
        lines.append(f'fer{i:07d}.png,"(0, 0, 48, 48)",' + ",".join(map(str, votes)))
    (folder / "label.csv").write_text("\n".join(lines) + "\n")
    (folder / "age_groups.csv").write_text("ferplus_image,age_group,agreement\nfer0000001.png,child,both\n")
    return root


@pytest.mark.parametrize(
    ("mode", "kept"), [("majority", [0, 1, 4, 6]), ("soft", [0, 1, 4, 6]), ("plurality50", [0, 6])]
)
def test_ferplus_folder(tmp_path: Path, mode: str, kept: list[int]) -> None:
    arrays = load_split("ferplus", make_ferplus_tree(tmp_path), "FER2013Test", label_mode=mode)
    assert arrays.sample_ids == [f"ferplus/FER2013Test/fer{i:07d}" for i in kept]
    assert [FERPLUS.names[i] for i in arrays.labels] == [MAJORITY_LABELS[i] for i in kept]
    assert arrays.images[:, 0, 0].tolist() == [10 * i for i in kept]
    assert arrays.metadata["votes_nf"].tolist() == [VOTES[i, 9] for i in kept]
    assert (arrays.label_mode, arrays.split, sum(arrays.dropped.values())) == (mode, "test", len(VOTES) - len(kept))
    assert (arrays.soft_targets is not None) == (mode == "soft")


def test_ferplus_soft_targets_are_the_emotion_votes_normalised(tmp_path: Path) -> None:
    arrays = load_split("ferplus", make_ferplus_tree(tmp_path), "test", label_mode="soft")
    expected = np.zeros((4, 8), np.float32)
    expected[0, :2] = [0.75, 0.25]
    expected[1, 1:3] = [0.5, 0.5]
    expected[2, 7] = 1.0
    expected[3, 4] = 1.0
    np.testing.assert_allclose(arrays.soft_targets, expected)
    assert arrays.soft_targets.dtype == np.float32


def test_relabel_from_stored_votes_equals_loading_in_that_mode(tmp_path: Path) -> None:
    root = make_ferplus_tree(tmp_path)
    soft = load_split("ferplus", root, "test", label_mode="soft")
    direct = load_split("ferplus", root, "test", label_mode="plurality50")
    relabelled = relabel_ferplus(soft, "plurality50")
    assert relabelled.sample_ids == direct.sample_ids and relabelled.dropped == direct.dropped
    assert relabelled.labels.tolist() == direct.labels.tolist() and relabelled.soft_targets is None
    with pytest.raises(DatasetError, match="cannot be widened"):
        relabel_ferplus(direct, "majority")


@pytest.mark.parametrize(
    ("split", "ids", "labels"),
    [
        ("train", ["fer2013/train/happy/Training_1", "fer2013/train/sad/Training_2"], ["happy", "sad"]),
        ("val", ["fer2013/test/angry/PublicTest_3"], ["angry"]),
        ("PublicTest", ["fer2013/test/angry/PublicTest_3"], ["angry"]),
        ("test", ["fer2013/test/angry/PrivateTest_4", "fer2013/test/neutral/PrivateTest_5"], ["angry", "neutral"]),
    ],
)
def test_fer2013_folders(fer2013_tree: Path, split: str, ids: list[str], labels: list[str]) -> None:
    arrays = load_split("fer2013", fer2013_tree, split)
    assert arrays.sample_ids == ids
    assert [FER2013.names[i] for i in arrays.labels] == labels
    assert arrays.images.shape == (len(ids), 48, 48) and arrays.images.dtype == np.uint8
    assert set(arrays.metadata["split"]) == {canonical_split(split)}


@pytest.mark.parametrize(
    ("name", "split"),
    [
        *[("train", "train"), ("Training", "train"), ("FER2013Train", "train")],
        *[("val", "val"), ("Valid", "val"), ("PublicTest", "val")],
        *[("test", "test"), ("PrivateTest", "test"), ("FER2013Test", "test")],
    ],
)
def test_split_names(name: str, split: str) -> None:
    assert canonical_split(name) == split


def test_extension_and_root_name_do_not_change_sample_ids(fer2013_tree: Path, tmp_path: Path) -> None:
    jpg_root = tmp_path / "archive"
    for path in fer2013_tree.rglob("*_*.*"):
        write_face(jpg_root / path.relative_to(fer2013_tree).with_suffix(".jpg"))
    for split in ("train", "val", "test"):
        assert (
            load_split("fer2013", jpg_root, split).sample_ids == load_split("fer2013", fer2013_tree, split).sample_ids
        )


def test_fer2013_csv(tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    rows = [(3, 7, "Training"), (5, 8, "PrivateTest"), (0, 9, "Training"), (6, 1, "PublicTest")]
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{e},{' '.join([str(v)] * 2304)},{u}\n" for e, v, u in rows))
    train = load_split("fer2013-csv", path, "train")
    assert train.labels.tolist() == [3, 0] and train.sample_ids == ["fer2013/row0000000", "fer2013/row0000002"]
    assert train.images[:, 0, 0].tolist() == [7, 9] and train.images.shape == (2, 48, 48)
    assert load_split("fer2013-csv", path, "PrivateTest").labels.tolist() == [5]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("emotion,pixels,Usage\n3,{p},Training\n3,1 2 3,Training\n", "line 3: expected 2304 pixel values, got 3"),
        ("emotion,pixels,Usage\n3,{p} x,Training\n", "line 2: pixels are not integers"),
        ("emotion,pixels,Usage\n3,{p}0,Training\n", "line 2: pixel values outside 0..255"),
        ("emotion,pixels,Usage\n9,{p},Training\n", "line 2: emotion '9' is not a class id"),
        ("emotion,pixel,Usage\n", "missing columns"),
        ("emotion,pixels,Usage\n3,{p},PublicTest\n", "no rows with Usage=Training"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "fer2013.csv"
    path.write_text(content.replace("{p}", " ".join(["255"] * 2304)))
    with pytest.raises(DatasetError, match=message) as info:
        load_split("fer2013-csv", path, "train")
    assert str(path) in str(info.value)


def _write_bytes(data: bytes) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(data)


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("label.csv", _write_bytes(b'fer0000000.png,"(0, 0, 48, 48)",1,2,3\n'), "line 1: expected 12 columns, got 5"),
        (
            "label.csv",
            _write_bytes(b'fer0000000.png,"(0, 0, 48, 48)",1,2,3,4,5,6,7,8,9,many\n'),
            "line 1: vote counts must be integers",
        ),
        ("label.csv", Path.unlink, "file not found"),
        ("fer0000001.png", Path.unlink, "unreadable image"),
        ("fer0000004.png", _write_bytes(b"not a png"), "unreadable image"),
    ],
)
def test_malformed_ferplus_names_the_file(tmp_path: Path, name: str, damage, message: str) -> None:
    root = make_ferplus_tree(tmp_path)
    bad_file = root / "FER2013Test" / name
    damage(bad_file)
    with pytest.raises(DatasetError, match=message) as info:
        load_split("ferplus", root, "test")
    assert str(bad_file) in str(info.value)


@pytest.mark.parametrize(
    ("dataset", "split", "kwargs", "message"),
    [
        ("fer2013", "val", {}, r"fer2013/test: missing FER2013 split folder"),
        ("ferplus", "train", {}, r"FER2013Train: missing FER\+ split folder"),
        ("mnist", "train", {}, "unknown dataset 'mnist'; known: fer2013, fer2013-csv, ferplus, affectnet, affectnet7"),
        ("ferplus", "test", {"label_mode": "probability"}, "known: majority, plurality50, soft"),
        ("fer2013", "test", {"label_mode": "soft"}, "does not apply to fer2013"),
        ("fer2013", "holdout", {}, "unknown split 'holdout'; known: train, val, test"),
        ("imagefolder", "test", {}, "needs label_set"),
    ],
)
def test_bad_requests_say_what_is_valid(tmp_path: Path, dataset: str, split: str, kwargs: dict, message: str) -> None:
    root = tmp_path / "fer2013"
    root.mkdir()
    with pytest.raises(DatasetError, match=message):
        load_split(dataset, root, split, **kwargs)


@pytest.mark.parametrize(
    ("bad_file", "garbage", "message"),
    [
        ("test/angry/PrivateTest_9.png", True, "PrivateTest_9.png: unreadable image"),
        ("test/angry/face_9.png", False, "face_9.png: file name does not start with Training, PublicTest, PrivateTest"),
        ("test/bored/PrivateTest_9.png", False, "bored: unknown class folder"),
    ],
)
def test_bad_fer2013_files_are_named(fer2013_tree: Path, bad_file: str, garbage: bool, message: str) -> None:
    path = fer2013_tree / bad_file
    if garbage:
        path.write_bytes(b"not an image")
    else:
        write_face(path)
    with pytest.raises(DatasetError, match=message):
        load_split("fer2013", fer2013_tree, "test")


def test_image_folder_maps_synonyms_converts_colour_and_resizes(tmp_path: Path) -> None:
    write_face(tmp_path / "faces/Happiness/a.png", 200)
    write_face(tmp_path / "faces/anger/b.jpg", colour=(0, 0, 255), size=96)  # pure red, BGR
    arrays = load_split("imagefolder", tmp_path / "faces", "test", label_set="ferplus")
    assert [FERPLUS.names[i] for i in arrays.labels] == ["happy", "angry"]
    assert arrays.sample_ids == ["faces/Happiness/a", "faces/anger/b"]
    assert arrays.images.shape == (2, 48, 48)
    red_as_grey = cv2.cvtColor(np.full((1, 1, 3), (0, 0, 255), np.uint8), cv2.COLOR_BGR2GRAY)[0, 0]
    assert abs(int(arrays.images[1].mean()) - int(red_as_grey)) <= 2 and arrays.images[0].mean() == 200


def test_image_folder_unknown_class_lists_the_label_set(tmp_path: Path) -> None:
    write_face(tmp_path / "faces/happy/a.png")
    write_face(tmp_path / "faces/bored/c.png")
    with pytest.raises(DatasetError, match="bored: unknown class folder 'bored'; label set fer2013 has angry,"):
        load_split("imagefolder", tmp_path / "faces", "test", label_set=FER2013)


@pytest.mark.parametrize(("folder", "split"), [("train", "train"), ("validation", "val"), ("test", "PrivateTest")])
def test_image_folder_with_split_subfolders(tmp_path: Path, folder: str, split: str) -> None:
    for name in ("train", "validation", "test"):
        write_face(tmp_path / f"faces/{name}/sad/{name}.png")
    arrays = load_split("imagefolder", tmp_path / "faces", split, label_set="fer2013")
    assert arrays.sample_ids == [f"faces/{folder}/sad/{folder}"]


def test_known_and_extra_metadata_join(fer2013_tree: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text("image,skin_tone\nPrivateTest_5.jpg,IV\nPrivateTest_4.png,II\nnot_in_dataset.png,I\n")
    meta = load_split("fer2013", fer2013_tree, "test", metadata_csv=extra).metadata
    assert meta["age_group"].tolist()[0] == "child" and meta["age_group"].isna().tolist() == [False, True]
    assert meta["skin_tone"].tolist() == ["II", "IV"] and meta["split"].tolist() == ["test", "test"]
    assert load_split("fer2013", fer2013_tree, "val").metadata.columns.tolist() == ["split"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("image,skin_tone\nsomething_else.png,I\n", "no row names an image of fer2013 test"),
        ("image,skin_tone\nPrivateTest_4.png,I\nPrivateTest_4.jpg,II\n", "listed more than once"),
        ("image\nPrivateTest_4.png\n", "needs an image column and at least one metadata column"),
    ],
)
def test_bad_metadata_csv(fer2013_tree: Path, tmp_path: Path, content: str, message: str) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text(content)
    with pytest.raises(DatasetError, match=message) as info:
        load_split("fer2013", fer2013_tree, "test", metadata_csv=extra)
    assert str(extra) in str(info.value)


def _fail_decoding(*args, **kwargs):
    raise AssertionError("decoded images although the cache should have answered")


def test_cache_answers_without_decoding(fer2013_tree: Path, tmp_path: Path, monkeypatch) -> None:
    first = load_split("fer2013", fer2013_tree, "test", cache_dir=tmp_path / "cache")
    monkeypatch.setattr("fer_core.data.fer2013.read_gray_images", _fail_decoding)
    second = load_split("fer2013", fer2013_tree, "test", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first.images, second.images)
    assert first.sample_ids == second.sample_ids and first.labels.tolist() == second.labels.tolist()
    pd.testing.assert_frame_equal(first.metadata, second.metadata)


def test_cache_keeps_ferplus_votes_and_modes_apart(tmp_path: Path) -> None:
    root = make_ferplus_tree(tmp_path)
    for mode in ("soft", "plurality50", "soft"):
        arrays = load_split("ferplus", root, "test", label_mode=mode, cache_dir=tmp_path / "cache")
        fresh = load_split("ferplus", root, "test", label_mode=mode)
        assert arrays.sample_ids == fresh.sample_ids and arrays.dropped == fresh.dropped
        pd.testing.assert_frame_equal(arrays.metadata, fresh.metadata)
        assert (arrays.soft_targets is None) == (fresh.soft_targets is None)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_changed_files_invalidate_the_cache(fer2013_tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert load_split("fer2013", fer2013_tree, "val", cache_dir=cache).images[0, 0, 0] == 30
    face = fer2013_tree / "test/angry/PublicTest_3.png"
    write_face(face, 99)
    os.utime(face, ns=(face.stat().st_atime_ns, face.stat().st_mtime_ns + 10**9))
    assert load_split("fer2013", fer2013_tree, "val", cache_dir=cache).images[0, 0, 0] == 99
    assert len(list(cache.glob("*.npz"))) == 1, "the stale entry is removed"
    next(cache.glob("*.npz")).write_bytes(b"truncated")
    assert load_split("fer2013", fer2013_tree, "val", cache_dir=cache).images[0, 0, 0] == 99


def test_face_arrays_subset_and_counts(fer2013_tree: Path) -> None:
    arrays = load_split("fer2013", fer2013_tree, "test")
    assert arrays.class_counts().tolist() == [1, 0, 0, 0, 0, 0, 1]
    by_mask = arrays.subset(arrays.labels == FER2013.index("neutral"))
    assert by_mask.sample_ids == ["fer2013/test/neutral/PrivateTest_5"] and len(by_mask) == 1
    assert by_mask.metadata["age_group"].isna().all() and arrays.subset([1, 0]).labels.tolist() == [6, 0]
    with pytest.raises(ValueError, match="2 images but"):
        FaceArrays(arrays.images, arrays.labels[:1], arrays.sample_ids, FER2013, arrays.metadata)


@pytest.mark.parametrize(("quality", "max_rms"), [(101, 0.0), (95, 3.0)])
def test_pack_round_trip(tmp_path: Path, quality: int, max_rms: float) -> None:
    root = make_ferplus_tree(tmp_path)
    shutil.copytree(root / "FER2013Test", root / "FER2013Valid")
    for path in (root / "FER2013Valid").glob("*.png"):
        write_face(path)  # noise: the hardest case for a lossy codec
    splits = {s: load_split("ferplus", root, s, label_mode="soft") for s in ("val", "test")}
    back = read_pack(write_pack(splits, tmp_path / "p.npz", quality=quality))
    assert sorted(back) == ["test", "val"]
    for name, arrays in splits.items():
        assert back[name].sample_ids == arrays.sample_ids and back[name].labels.tolist() == arrays.labels.tolist()
        assert rms_error(back[name].images, arrays.images) <= max_rms
        np.testing.assert_array_equal(back[name].soft_targets, arrays.soft_targets)
        pd.testing.assert_frame_equal(back[name].metadata, arrays.metadata)
        assert (back[name].dropped, back[name].label_mode, back[name].label_set) == (
            arrays.dropped,
            "soft",
            FERPLUS,
        )


def test_pack_relabels_ferplus_when_read(tmp_path: Path) -> None:
    soft = load_split("ferplus", make_ferplus_tree(tmp_path), "test", label_mode="soft")
    back = read_pack(write_pack(soft, tmp_path / "p.npz"), label_mode="plurality50")["test"]
    assert back.sample_ids == ["ferplus/FER2013Test/fer0000000", "ferplus/FER2013Test/fer0000006"]
    assert back.label_mode == "plurality50" and back.soft_targets is None


def test_pack_rejects_repeated_names_and_foreign_files(fer2013_tree: Path, tmp_path: Path) -> None:
    test = load_split("fer2013", fer2013_tree, "test")
    with pytest.raises(DatasetError, match="split names repeat"):
        write_pack([test, test], tmp_path / "p.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(DatasetError, match=r"other\.npz: not a pack"):
        read_pack(tmp_path / "other.npz")


def test_pack_command_line(fer2013_tree: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "packs/fer2013.npz"
    assert pack_main(["--dataset", "fer2013", "--data-root", str(fer2013_tree.parent), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "train: 2 images, RMS error" in printed and "wrote" in printed
    packed = read_pack(out)
    assert [len(packed[s]) for s in ("train", "val")] == [2, 1]


def test_pack_of_the_first_layout_still_reads(tmp_path: Path) -> None:
    """Packs written before the format entry existed: WebP bytes, offsets, labels, ids, info and soft targets."""
    encoded = [
        cv2.imencode(".webp", np.full((48, 48), v, np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])[1] for v in (5, 9)
    ]
    np.savez(
        tmp_path / "old.npz",
        **{
            "train/bytes": np.concatenate(encoded).ravel(),
            "train/offsets": np.cumsum([0, *map(len, encoded)]),
            "train/labels": np.array([1, 0], np.int16),
            "train/sample_ids": np.array(["ferplus/FER2013Train/fer0000001", "ferplus/FER2013Train/fer0000002"]),
            "train/info": np.array(["ferplus", "ferplus", "soft"]),
            "train/soft_targets": np.eye(8, dtype=np.float16)[[1, 0]],
        },
    )
    train = read_pack(tmp_path / "old.npz")["train"]
    assert train.images[:, 0, 0].tolist() == [5, 9] and train.labels.tolist() == [1, 0]
    assert train.label_set == FERPLUS and train.soft_targets.argmax(1).tolist() == [1, 0]
    with pytest.raises(DatasetError, match="no FER\\+ vote columns"):
        read_pack(tmp_path / "old.npz", label_mode="plurality50")
