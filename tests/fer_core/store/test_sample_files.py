"""The error browser's face lookup: ids from files never leave the data root, odd files are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_core.store.sample_files import read_face, sample_image_path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "fer2013" / "test" / "angry").mkdir(parents=True)
    Image.fromarray(np.full((48, 48), 90, np.uint8)).save(data / "fer2013" / "test" / "angry" / "a1.png")
    (tmp_path / "secret.png").write_bytes(b"outside")
    (data / "fer2013" / "link.png").symlink_to(tmp_path / "secret.png")
    (data / "fer2013" / "broken.png").write_bytes(b"not a png")
    return data


def test_an_id_finds_its_image_and_reads_it_grey(root: Path) -> None:
    path = sample_image_path(root, "fer2013/test/angry/a1")
    assert path is not None and path.name == "a1.png"
    face = read_face(path)
    assert face.shape == (48, 48) and face.dtype == np.uint8 and (face == 90).all()


@pytest.mark.parametrize(
    "sample_id",
    ["", "missing/x", "../secret", "fer2013/../../secret", "/etc/passwd", "fer2013/link", "fer2013/test\x00/a1"],
)
def test_unsafe_or_missing_ids_find_nothing(root: Path, sample_id: str) -> None:
    assert sample_image_path(root, sample_id) is None


def test_an_unreadable_image_reads_as_none(root: Path) -> None:
    path = sample_image_path(root, "fer2013/broken")
    assert path is not None and read_face(path) is None
