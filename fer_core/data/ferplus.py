"""FER+ (Barsoum et al. 2016, arXiv 1608.01041): the FER2013 faces relabelled by 10 annotators each.

Layout written by Microsoft's ``generate_training_data.py``: ``FER2013{Train,Valid,Test}/`` with ``fer%07d.png``
files and a headerless ``label.csv``: ``image, "(0, 0, 48, 48)"`` and 10 vote counts (neutral, happiness, surprise,
sadness, anger, disgust, fear, contempt, unknown, NF = not a face).

Label modes (the paper's protocols; reports must say which one was used):

- ``majority``: label = argmax of the 8 emotion votes. Images whose top vote over all 10 columns is unknown or NF
  are dropped. Ties go to the lowest column index (``numpy.argmax``), i.e. label.csv order: neutral before
  happiness ..., and any emotion before unknown / NF.
- ``plurality50``: the ">50 % agreement" filter: keep only images whose top emotion holds more than half of all
  10 columns' votes.
- ``soft``: the majority set and labels, plus ``soft_targets`` = the 8 emotion votes normalised to sum 1.

Images with no vote at all are dropped in every mode. The votes stay in the metadata (``votes_<name>`` columns),
so a loaded split can be relabelled later (:func:`relabel_ferplus`) without the label files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.data.arrays import DatasetError, FaceArrays
from fer_core.data.images import is_image_name, read_gray_images, strip_image_suffix
from fer_core.data.splits import canonical_split
from fer_core.labels import FERPLUS

__all__ = [
    "FERPLUS_FOLDERS",
    "FERPLUS_MODES",
    "VOTE_COLUMNS",
    "ferplus_labels_from_votes",
    "read_ferplus",
    "read_label_csv",
    "relabel_ferplus",
]

FERPLUS_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
FERPLUS_MODES = ("majority", "plurality50", "soft")
VOTE_COLUMNS = tuple(f"votes_{name}" for name in (*FERPLUS.names, "unknown", "nf"))
_EMOTIONS = len(FERPLUS)
MAX_VOTES = np.iinfo(np.int16).max  # votes are kept as int16 metadata; FER+ has 10 annotators per image

# Drop reasons, as recorded in FaceArrays.dropped.
NOT_A_FACE = "top vote unknown or NF"
NO_VOTES = "no votes"
NO_AGREEMENT = "top emotion <= 50% of votes"


def ferplus_labels_from_votes(votes: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Keep-mask ``(N,)``, majority labels ``(N,)`` and drop counts by reason for vote rows ``(N, 10)``."""
    if mode not in FERPLUS_MODES:
        raise DatasetError(f"unknown FER+ label mode {mode!r}; known: {', '.join(FERPLUS_MODES)}")
    votes = np.asarray(votes)
    total = votes.sum(axis=1)
    no_votes = total == 0
    not_face = ~no_votes & (votes.argmax(axis=1) >= _EMOTIONS)
    keep = ~no_votes & ~not_face
    dropped = {NO_VOTES: int(no_votes.sum()), NOT_A_FACE: int(not_face.sum())}
    if mode == "plurality50":
        agreed = 2 * votes[:, :_EMOTIONS].max(axis=1) > total
        dropped[NO_AGREEMENT] = int((keep & ~agreed).sum())
        keep &= agreed
    return keep, votes[:, :_EMOTIONS].argmax(axis=1).astype(np.int64), dropped


def _soft_targets(votes: np.ndarray) -> np.ndarray:
    emotions = votes[:, :_EMOTIONS].astype(np.float32)
    return emotions / emotions.sum(axis=1, keepdims=True)


def _parse_votes(row: list[str], path: Path, line: int) -> list[int]:
    if len(row) != 2 + len(VOTE_COLUMNS):
        raise DatasetError(f"{path}, line {line}: expected {2 + len(VOTE_COLUMNS)} columns, got {len(row)}")
    try:
        votes = [int(v) for v in row[2:]]
    except ValueError:
        raise DatasetError(f"{path}, line {line}: vote counts must be integers, got {row[2:]}") from None
    if min(votes) < 0:
        raise DatasetError(f"{path}, line {line}: negative vote count")
    if max(votes) > MAX_VOTES:
        raise DatasetError(f"{path}, line {line}: vote count {max(votes)} is larger than {MAX_VOTES}")
    return votes


def _image_name(text: str, path: Path, line: int) -> str:
    """An image's file name, which must lie in the split folder itself (no folders, no ``..``, no absolute path)."""
    name = text.strip()
    if not name or Path(name).name != name or "\\" in name or name in (".", "..") or not is_image_name(name):
        raise DatasetError(
            f"{path}, line {line}: image name {name!r} must be an image file name in {path.parent} "
            "(like fer0000000.png; no folders)"
        )
    return name


def read_label_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """Image names and vote counts ``(N, 10)`` int64 of one headerless FER+ ``label.csv``."""
    names, votes = [], []
    reader = None
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            for row in reader:
                if row:
                    votes.append(_parse_votes(row, path, reader.line_num))
                    names.append(_image_name(row[0], path, reader.line_num))
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found (every FER+ split folder has a label.csv)") from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not a text CSV file ({err.reason})") from None
    except csv.Error as err:
        raise DatasetError(f"{path}, line {reader.line_num if reader else 1}: malformed CSV ({err})") from None
    if not names:
        raise DatasetError(f"{path}: no rows (expected image name, face box and {len(VOTE_COLUMNS)} vote counts)")
    return names, np.array(votes, np.int64).reshape(-1, len(VOTE_COLUMNS))


def _metadata(split: str, votes: np.ndarray) -> pd.DataFrame:
    columns: dict[str, object] = {"split": [split] * len(votes)}
    columns.update({name: votes[:, i].astype(np.int16) for i, name in enumerate(VOTE_COLUMNS)})
    return pd.DataFrame(columns)


def read_ferplus(
    root: Path, split: str, *, label_mode: str = "majority", image_size: int | None = 48, progress: bool = False
) -> FaceArrays:
    """One FER+ split under ``label_mode`` (``image_size=None`` keeps the files' own size); sample ids are
    ``ferplus/FER2013<Split>/fer%07d``."""
    split = canonical_split(split)
    folder = root / FERPLUS_FOLDERS[split]
    if not folder.is_dir():
        raise DatasetError(f"{folder}: missing FER+ split folder (expected {root}/FER2013{{Train,Valid,Test}}/)")
    names, votes = read_label_csv(folder / "label.csv")
    keep, labels, dropped = ferplus_labels_from_votes(votes, label_mode)
    kept = np.flatnonzero(keep)
    if not len(kept):
        counts = ", ".join(f"{count} {reason}" for reason, count in dropped.items() if count)
        raise DatasetError(f"{folder / 'label.csv'}: no image left under label mode {label_mode!r} ({counts})")
    paths = [folder / names[i] for i in kept]
    images = read_gray_images(paths, size=image_size, progress=progress, desc=f"ferplus {split}")
    return FaceArrays(
        images,
        labels[kept],
        [f"ferplus/{folder.name}/{strip_image_suffix(names[i])}" for i in kept],
        FERPLUS,
        _metadata(split, votes[kept]),
        soft_targets=_soft_targets(votes[kept]) if label_mode == "soft" else None,
        dataset="ferplus",
        split=split,
        label_mode=label_mode,
        dropped=dropped,
    )


def relabel_ferplus(arrays: FaceArrays, label_mode: str) -> FaceArrays:
    """The same FER+ split under another label mode, from the vote columns kept in its metadata.

    ``majority`` and ``soft`` keep the same images, ``plurality50`` fewer: a split already filtered to
    ``plurality50`` cannot be widened again.
    """
    if arrays.label_mode == label_mode:
        return arrays
    if arrays.dataset != "ferplus" or not set(VOTE_COLUMNS) <= set(arrays.metadata.columns):
        raise DatasetError(f"{arrays.dataset} {arrays.split}: no FER+ vote columns to relabel from")
    if arrays.label_mode == "plurality50":
        raise DatasetError(f"ferplus {arrays.split}: a plurality50 split cannot be widened to {label_mode!r}")
    votes = arrays.metadata[list(VOTE_COLUMNS)].to_numpy(np.int64)
    keep, labels, dropped = ferplus_labels_from_votes(votes, label_mode)
    result = arrays.subset(keep)
    result.labels = labels[keep]
    result.soft_targets = _soft_targets(votes[keep]) if label_mode == "soft" else None
    result.label_mode = label_mode
    result.dropped = {k: arrays.dropped.get(k, 0) + dropped.get(k, 0) for k in {*arrays.dropped, *dropped}}
    return result
