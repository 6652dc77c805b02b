"""Shared pieces of the training tests: a tiny CNN recipe and an interrupted-then-resumed run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fer_core.training.loop import HeadTargets, TrainResult, fit_heads
from fer_core.training.recipes import Recipe

TINY_CNN: dict[str, Any] = {"architecture": "cnn", "arch_args": {"widths": (8, 16)}, "batch_size": 32, "lr": 0.01}


def separable_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two classes a CNN separates in a few steps: bright top half vs bright bottom half. Images and class ids."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 60, (n, 48, 48)).astype(np.uint8)
    for i, label in enumerate(labels):
        rows = slice(0, 24) if label == 0 else slice(24, 48)
        images[i, rows] += 150
    return images, labels


def tiny_recipe(name: str, **overrides: Any) -> Recipe:
    """A CNN small enough to train a few epochs in a test, with ``overrides`` on top."""
    return Recipe(name=name, **{**TINY_CNN, **overrides})


class Interrupt(Exception):
    """Raised from the epoch callback to stop a run as a killed process would."""


def _stop_after_first_epoch(row: dict) -> None:
    if row["epoch"] == 1:
        raise Interrupt


def straight_and_resumed(
    recipe: Recipe,
    train: HeadTargets,
    val: HeadTargets,
    state_dir: Path,
    check_interrupted: Callable[[Path], None] = lambda state_dir: None,
) -> tuple[TrainResult, TrainResult]:
    """The same run trained without a break, and interrupted after its first epoch (``check_interrupted`` then
    looks at what it left in ``state_dir``) and resumed from there."""
    straight = fit_heads(recipe, train, val, progress=False)
    with pytest.raises(Interrupt):
        fit_heads(recipe, train, val, progress=False, state_dir=state_dir, on_epoch=_stop_after_first_epoch)
    check_interrupted(state_dir)
    resumed = fit_heads(recipe, train, val, progress=False, state_dir=state_dir, resume=True)
    return straight, resumed
