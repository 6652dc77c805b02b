"""One split vocabulary for every dataset: ``train`` / ``val`` / ``test``.

FER2013 names its splits by Usage (Training / PublicTest / PrivateTest), FER+ by folder (FER2013Train / Valid /
Test). Checkpoints are selected on ``val`` and reported on ``test``, so the mapping lives in one place.
"""

from __future__ import annotations

from fer_core.data.arrays import DatasetError

__all__ = ["SPLITS", "SPLIT_ALIASES", "canonical_split"]

SPLITS = ("train", "val", "test")

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "fer2013train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "publictest": "val",
    "fer2013valid": "val",
    "test": "test",
    "privatetest": "test",
    "fer2013test": "test",
}


def canonical_split(split: str) -> str:
    """``train`` / ``val`` / ``test`` for any accepted name (case-insensitive, e.g. ``PublicTest`` -> ``val``)."""
    key = split.strip().lower()
    if key not in SPLIT_ALIASES:
        raise DatasetError(f"unknown split {split!r}; known: {', '.join(SPLITS)} (or {', '.join(SPLIT_ALIASES)})")
    return SPLIT_ALIASES[key]
