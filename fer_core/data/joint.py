"""FER2013 faces with both label sets: the FER2013 class and, where FER+ keeps the face, its vote distribution.

FER+ (Barsoum et al. 2016) relabelled the same 35,887 faces, so one trunk can learn from both label sets at once:
a FER2013-7 head on the original labels and a FER+-8 head on the annotators' votes. The faces are joined through
``ferplus/fer2013_names.csv`` (``ferplus_image, fer2013_image, ...``), which names the FER2013 file showing the
same face. A face FER+ drops (no votes, or top vote unknown / not-a-face) keeps its FER2013 label and gets an
all-zero FER+ row, which the training loss masks out.

FER+ Valid is the PublicTest usage and FER+ Test the PrivateTest usage, so the joint splits line up with the
selection and report splits of both datasets.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.images import strip_image_suffix

__all__ = ["NAMES_FILE", "JointSplit", "join_ferplus_targets", "load_joint_split", "read_names_table"]

NAMES_FILE = "fer2013_names.csv"


@dataclass
class JointSplit:
    """FER2013 arrays plus ``ferplus_targets`` ``(N, 8)`` float32: vote distributions, zero rows where masked."""

    fer2013: FaceArrays
    ferplus_targets: np.ndarray

    def __len__(self) -> int:
        return len(self.fer2013)

    @property
    def ferplus_mask(self) -> np.ndarray:
        """True where the face has a FER+ target."""
        return self.ferplus_targets.sum(axis=1) > 0

    @property
    def ferplus_labels(self) -> np.ndarray:
        """FER+ majority label per face, -1 where masked."""
        return np.where(self.ferplus_mask, self.ferplus_targets.argmax(axis=1), -1)

    def subset(self, indices: np.ndarray) -> JointSplit:
        return JointSplit(self.fer2013.subset(indices), self.ferplus_targets[np.asarray(indices)])


def read_names_table(path: Path) -> dict[str, str]:
    """``fer2013 sample id -> ferplus sample id`` from ``fer2013_names.csv``."""
    mapping: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"ferplus_image", "fer2013_image"} - set(reader.fieldnames or [])
            if missing:
                raise DatasetError(f"{path}: missing columns {sorted(missing)}")
            for line, row in enumerate(reader, start=2):
                ferplus, fer2013 = (row.get("ferplus_image") or "").strip(), (row.get("fer2013_image") or "").strip()
                if not ferplus or not fer2013:
                    raise DatasetError(f"{path}, line {line}: empty image name")
                mapping[f"fer2013/{strip_image_suffix(fer2013)}"] = strip_image_suffix(ferplus)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found (it maps FER+ images to FER2013 files)") from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not a text CSV file ({err.reason})") from None
    return mapping


def join_ferplus_targets(fer2013: FaceArrays, ferplus: FaceArrays, names: dict[str, str]) -> np.ndarray:
    """FER+ soft targets aligned to the FER2013 samples (zero rows where FER+ has no usable label)."""
    if ferplus.soft_targets is None:
        raise DatasetError("join_ferplus_targets needs the FER+ split loaded with label_mode='soft'")
    by_name = {sample_id.rsplit("/", 1)[-1]: i for i, sample_id in enumerate(ferplus.sample_ids)}
    targets = np.zeros((len(fer2013), ferplus.soft_targets.shape[1]), np.float32)
    for row, sample_id in enumerate(fer2013.sample_ids):
        position = by_name.get(names.get(sample_id, ""))
        if position is not None:
            targets[row] = ferplus.soft_targets[position]
    return targets


def load_joint_split(
    fer2013_root: Path, ferplus_root: Path, split: str, *, cache_dir: Path | None = None, progress: bool = False
) -> JointSplit:
    """One split of FER2013 with FER+ vote targets joined in (see the module docstring)."""
    from fer_core.data import load_split  # the package imports this module's siblings; avoid a cycle

    fer2013 = load_split("fer2013", fer2013_root, split, cache_dir=cache_dir, progress=progress)
    ferplus = load_split("ferplus", ferplus_root, split, label_mode="soft", cache_dir=cache_dir, progress=progress)
    names = read_names_table(Path(ferplus_root) / NAMES_FILE)
    return JointSplit(fer2013, join_ferplus_targets(fer2013, ferplus, names))
