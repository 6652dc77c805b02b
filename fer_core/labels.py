"""Label sets for facial expression recognition and the mapping between them.

Canonical emotion names are short adjectives (``happy``, ``sad``, ``angry`` ...). FER2013 keeps the class order of
the original ``fer2013.csv`` (emotion ids 0-6); FER+ keeps the vote-column order of Microsoft's ``label.csv``
(Barsoum et al. 2016, arXiv 1608.01041), with its nouns mapped to the canonical names. Other datasets (AffectNet,
RAF-DB) map their own class codes onto these two sets, each in one table beside its reader.

A model is scored on a dataset with another label set through :class:`SharedClasses`: on the classes both have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FER2013",
    "FERPLUS",
    "LABEL_SETS",
    "PROB_PREFIX",
    "LabelSet",
    "SharedClasses",
    "canonical_name",
    "emotion_color_bgr",
    "emotion_color_hex",
    "get_label_set",
    "label_set_of",
    "labels_of_columns",
    "prob_column",
]

# Class probabilities are columns ``p_<label>`` in label order, in stored runs and in face tables alike.
PROB_PREFIX = "p_"


def prob_column(label: str) -> str:
    """The column of one class's probability: ``p_<label>``."""
    return f"{PROB_PREFIX}{label}"


def labels_of_columns(columns: Sequence[object]) -> list[str]:
    """The class names of a table from its ``p_<label>`` columns, in column order."""
    return [str(c).removeprefix(PROB_PREFIX) for c in columns if str(c).startswith(PROB_PREFIX)]


# Synonyms users and datasets write for the canonical names.
_SYNONYMS = {
    "anger": "angry",
    "happiness": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "fearful": "fear",
    "disgusted": "disgust",
    "contemptuous": "contempt",
}

# Display colours (hex, RGB order) chosen to be distinguishable and to read intuitively.
_COLORS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#f2b701",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#7f7f7f",
    "contempt": "#17becf",
    "uncertain": "#bbbbbb",
}


def canonical_name(name: str) -> str:
    """Return the canonical emotion name for ``name`` (case-insensitive, synonyms folded)."""
    key = name.strip().lower()
    return _SYNONYMS.get(key, key)


@dataclass(frozen=True)
class LabelSet:
    """An ordered tuple of class names; the index of a name is its class id."""

    name: str
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Class id of ``name`` (synonyms accepted)."""
        canon = canonical_name(name)
        if canon not in self.names:
            raise KeyError(f"unknown emotion {name!r} for label set {self.name}; known: {', '.join(self.names)}")
        return self.names.index(canon)

    def mapping_to(self, other: LabelSet) -> dict[int, int]:
        """Class-id map from this set to ``other`` for the emotions both sets share."""
        return {i: other.names.index(n) for i, n in enumerate(self.names) if n in other.names}


FER2013 = LabelSet("fer2013", ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
FERPLUS = LabelSet("ferplus", ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt"))
LABEL_SETS = {ls.name: ls for ls in (FER2013, FERPLUS)}


def get_label_set(name: str) -> LabelSet:
    """Look up a label set by name ("fer2013" or "ferplus")."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise KeyError(f"unknown label set {name!r}; known: {', '.join(LABEL_SETS)}") from None


def label_set_of(names: Sequence[str], name: str | None = None) -> LabelSet:
    """The known label set with exactly these classes in this order, else a new one called ``name``."""
    names = tuple(canonical_name(n) for n in names)
    for known in LABEL_SETS.values():
        if known.names == names:
            return known
    return LabelSet(name or "custom", names)


@dataclass(frozen=True)
class SharedClasses:
    """How a model with one label set is scored on a dataset with another: on the classes both have.

    Images of classes the model cannot predict are dropped (and counted by the caller), and the probabilities of
    classes the dataset cannot contain are removed and the rest renormalised, so every prediction is a class the
    image could have. A 7-class FER2013 model on AffectNet-8 loses the contempt images; an 8-class FER+ model on
    RAF-DB chooses among the 7 basic emotions. The shared classes take the order of the known label set with the
    same classes (FER2013 for the 7 basic emotions), else the dataset's order.
    """

    dataset: LabelSet
    model: LabelSet

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError(
                f"the model predicts {', '.join(self.model.names)} but dataset label set {self.dataset.name} has "
                f"{', '.join(self.dataset.names)}: no class in common"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The shared classes, in the order of :attr:`label_set`."""
        return self.label_set.names

    @property
    def label_set(self) -> LabelSet:
        """The label set a run is scored in."""
        shared = {n for n in self.dataset.names if n in self.model.names}
        for known in (self.dataset, self.model, *LABEL_SETS.values()):
            if set(known.names) == shared:
                return known
        return LabelSet(f"{self.dataset.name}&{self.model.name}", tuple(n for n in self.dataset.names if n in shared))

    @property
    def is_identity(self) -> bool:
        """True when model and dataset have the same classes in the same order (nothing to map)."""
        return self.dataset.names == self.model.names

    @property
    def dataset_only(self) -> tuple[str, ...]:
        """Dataset classes the model cannot predict: their images are not scored."""
        return tuple(n for n in self.dataset.names if n not in self.model.names)

    @property
    def model_only(self) -> tuple[str, ...]:
        """Model classes the dataset cannot contain: their probabilities are removed before the argmax."""
        return tuple(n for n in self.model.names if n not in self.dataset.names)

    def model_columns(self) -> np.ndarray:
        """Index of each shared class among the model's outputs, in shared order."""
        return np.array([self.model.names.index(n) for n in self.names], np.int64)

    def restrict_probabilities(self, probs: np.ndarray) -> np.ndarray:
        """Model probabilities ``(N, model classes)`` -> ``(N, shared classes)``, renormalised to sum 1."""
        kept = np.asarray(probs, np.float64)[:, self.model_columns()]
        total = kept.sum(axis=1, keepdims=True)
        uniform = np.full_like(kept, 1 / kept.shape[1])
        restricted = np.divide(kept, total, out=uniform, where=total > 0)
        return restricted.astype(np.float32)

    def to_dict(self, images_dropped: dict[str, int] | None = None) -> dict:
        """The mapping as written into a stored run's sidecar (``images_dropped``: per dataset-only class)."""
        return {
            "dataset_label_set": self.dataset.name,
            "dataset_labels": list(self.dataset.names),
            "model_labels": list(self.model.names),
            "shared_labels": list(self.names),
            "images_dropped": {n: int((images_dropped or {}).get(n, 0)) for n in self.dataset_only},
            "predictions_removed": list(self.model_only),
        }


def emotion_color_hex(name: str) -> str:
    """Display colour of an emotion as ``#rrggbb``; grey for names outside the known sets."""
    return _COLORS.get(canonical_name(name), "#444444")


def emotion_color_bgr(name: str) -> tuple[int, int, int]:
    """Display colour of an emotion as an OpenCV BGR tuple."""
    h = emotion_color_hex(name).lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return (b, g, r)
