"""Webcam-like corruptions: each does what it names, keeps shape and dtype, and grows with its parameter."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.evaluation.conditions import CORRUPTIONS
from fer_core.vision.corruptions import CORRUPTORS, corrupt


def faces(n: int = 3, size: int = 48) -> np.ndarray:
    return np.random.default_rng(0).integers(30, 226, (n, size, size), dtype=np.uint8)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b).mean())


def smooth_faces(n: int = 3, size: int = 48) -> np.ndarray:
    """Faces with structure larger than a pixel: moving a box over pixel noise changes every pixel equally much."""
    y, x = np.mgrid[0:size, 0:size] / size
    waves = [np.sin(6 * x + k) * np.cos(4 * y - k) + 2 * (x - 0.5) ** 2 for k in range(n)]
    return np.stack([np.clip(128 + 80 * w, 0, 255) for w in waves]).astype(np.uint8)


BOX_KINDS = ("tight", "loose", "shift")


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_stronger_severity_changes_the_faces_more(kind: str) -> None:
    images = smooth_faces() if kind in BOX_KINDS else faces()
    levels = CORRUPTIONS[kind].levels
    changed = [distance(corrupt(images, kind, value), images) for value in levels]
    assert changed[0] > 0 and changed == sorted(changed), (kind, changed)
    out = corrupt(images, kind, levels[-1])
    assert out.shape == images.shape and out.dtype == np.uint8


def test_every_grammar_kind_has_a_corruptor() -> None:
    assert set(CORRUPTIONS) == set(CORRUPTORS)


@pytest.mark.parametrize(("kind", "value"), [("dark", 0.4), ("bright", 1.6), ("contrast", 0.3)])
def test_exposure_and_contrast_move_brightness_the_named_way(kind: str, value: float) -> None:
    images = faces()
    out = corrupt(images, kind, value).astype(float)
    if kind == "dark":
        assert out.mean() < images.mean()
    elif kind == "bright":
        assert out.mean() > images.mean()
    else:
        assert out.std() < images.std()


def test_occlusion_covers_only_its_rows() -> None:
    images = faces()
    out = corrupt(images, "eyes", (0.25, 0.5))
    assert (out[:, 12:24] == 128).all()
    np.testing.assert_array_equal(out[:, :12], images[:, :12])
    np.testing.assert_array_equal(out[:, 24:], images[:, 24:])


def test_noise_is_reproducible_by_seed() -> None:
    images = faces()
    np.testing.assert_array_equal(corrupt(images, "noise", 8, seed=1), corrupt(images, "noise", 8, seed=1))
    assert not np.array_equal(corrupt(images, "noise", 8, seed=1), corrupt(images, "noise", 8, seed=2))


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: blur"):
        corrupt(faces(), "fog", 1)


def square_face(size: int = 48) -> np.ndarray:
    """A bright 8 px square in the middle of a dark face."""
    image = np.full((1, size, size), 40, np.uint8)
    image[0, 20:28, 20:28] = 220
    return image


def bright_span(image: np.ndarray, axis: int) -> tuple[int, int]:
    where = np.flatnonzero(image.max(axis=axis) > 130)
    return int(where[0]), int(where[-1])


@pytest.mark.parametrize(("side", "longer"), [(0.8, True), (1.25, False)])
def test_a_tighter_box_enlarges_the_face_and_a_looser_one_shrinks_it(side: float, longer: bool) -> None:
    kind = "tight" if side < 1 else "loose"
    top, bottom = bright_span(corrupt(square_face(), kind, side)[0], axis=1)
    assert (bottom - top + 1 > 8) == longer and abs((top + bottom) / 2 - 23.5) <= 0.5  # still centred


def test_a_shifted_box_moves_the_face_by_the_offset_and_is_reproducible() -> None:
    faces4 = np.repeat(square_face(), 4, axis=0)
    moved = corrupt(faces4, "shift", 0.125, seed=3)  # 6 px of a 48 px face
    for image in moved:
        rows, cols = bright_span(image, axis=1), bright_span(image, axis=0)
        assert abs(rows[0] - 20) in (5, 6, 7) and abs(cols[0] - 20) in (5, 6, 7)
    np.testing.assert_array_equal(moved, corrupt(faces4, "shift", 0.125, seed=3))


def test_box_corruptions_keep_colour_faces_colour() -> None:
    colour = np.random.default_rng(1).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    for kind, value in (("tight", 0.8), ("loose", 1.25), ("shift", 0.1)):
        out = corrupt(colour, kind, value)
        assert out.shape == colour.shape and out.dtype == np.uint8
