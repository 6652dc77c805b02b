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


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_stronger_severity_changes_the_faces_more(kind: str) -> None:
    images = faces()
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
