"""Small trees in the exact layouts of the AffectNet and RAF-DB releases, for reader and evaluation tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["LINES", "make_affectnet_tree", "make_rafdb_tree", "write_annotations", "write_colour_face"]


def write_colour_face(path: Path, value: int, size: int = 224) -> None:
    """A colour JPEG of one grey level (AffectNet's images are 224 px colour); JPEG keeps flat images exact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size, size, 3), value, np.uint8))


def write_annotations(folder: Path, image_id: str, code, *, valence="0.5", arousal=-0.25, lnd=True):
    """The four files of one image: the expression as a string array or a 0-d number array, as in the release."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{image_id}_exp.npy", code)
    np.save(folder / f"{image_id}_val.npy", np.array(valence))
    np.save(folder / f"{image_id}_aro.npy", np.array(arousal))
    if lnd:
        np.save(folder / f"{image_id}_lnd.npy", np.arange(136, dtype=np.float32) / 2)


def make_affectnet_tree(tmp_path: Path) -> Path:
    """val_set: one image per code 0-7 (grey level 20*code), codes alternately as str and 0-d int; a small train_set."""
    root = tmp_path / "affectnet"
    for code in range(8):
        image_id = str(100 + code)
        write_colour_face(root / "val_set/images" / f"{image_id}.jpg", 20 * code)
        stored = str(code) if code % 2 == 0 else np.array(code)
        write_annotations(root / "val_set/annotations", image_id, stored, lnd=code != 3)
    for image_id, code in (("7", 1), ("8", 9)):  # 9: uncertain, no emotion
        write_colour_face(root / "train_set/images" / f"{image_id}.jpg", 200, size=96)
        write_annotations(root / "train_set/annotations", image_id, str(code))
    return root


LINES = ["train_00001.jpg 5", "train_00002.jpg 1", "test_0001.jpg 4", "test_0002.jpg 7", "test_0003.jpg 6"]


def make_rafdb_tree(tmp_path: Path, variant: str = "aligned", lines: list[str] = LINES) -> Path:
    """The basic set: label file with a trailing blank line, colour images of grey level 10 * line number."""
    root = tmp_path / "basic"
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel/list_patition_label.txt").write_text("\n".join(lines) + "\n\n")
    for number, line in enumerate(lines, start=1):
        stem = line.split()[0].removesuffix(".jpg")
        name = f"{stem}_aligned.jpg" if variant == "aligned" else f"{stem}.jpg"
        path = root / "Image" / variant / name
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 100 if variant == "aligned" else 150
        assert cv2.imwrite(str(path), np.full((size, size + 20, 3), 10 * number, np.uint8))
    return root
