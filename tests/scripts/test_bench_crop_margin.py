"""scripts/bench_crop_margin.py: real FER2013 faces through the app's detector, classified at every margin."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

bench = load_script("bench_crop_margin")


def test_a_staged_face_is_found_where_it_was_set() -> None:
    gray = np.full((48, 48), 90, np.uint8)
    canvas, box = bench.staged(gray, 96)
    assert canvas.shape == (288, 288, 3) and box == (96, 96, 192, 192)
    on_face, elsewhere = np.array([100, 100, 190, 190]), np.array([0, 0, 40, 40])
    assert bench.matched_face(np.stack([elsewhere, on_face]), box).tolist() == on_face.tolist()
    assert bench.matched_face(np.stack([elsewhere]), box) is None
    assert bench.matched_face(np.zeros((0, 4), int), box) is None


def test_margins_are_reported_with_the_crop_side_they_give(data_root: Path, capsys) -> None:
    assert bench.main(["--fer2013", str(data_root / "fer2013"), "--faces", "30", "--margins", "0", "0.2"]) == 0
    out = capsys.readouterr().out
    sides = {float(m): float(side) for m, side in re.findall(r"margin ([\d.]+)\s+([\d.]+)\s+[\d.]+", out)}
    assert set(sides) == {0.0, 0.2}
    # A box widened by 0.2 of its size on each side is 1.4 times as wide as the box itself.
    assert sides[0.2] / sides[0.0] == pytest.approx(1.4, abs=0.03)
    assert "faces found by the detector (photo preset)" in out and "dataset crop" in out
