"""Label sets for facial expression recognition and the mapping between them.

Canonical emotion names are short adjectives (``happy``, ``sad``, ``angry`` ...). FER2013 keeps the class order of
the original ``fer2013.csv`` (emotion ids 0-6); FER+ keeps the vote-column order of Microsoft's ``label.csv``
(Barsoum et al. 2016, arXiv 1608.01041), with its nouns mapped to the canonical names.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FER2013",
    "FERPLUS",
    "LABEL_SETS",
    "LabelSet",
    "canonical_name",
    "emotion_color_bgr",
    "emotion_color_hex",
    "get_label_set",
]

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


def emotion_color_hex(name: str) -> str:
    """Display colour of an emotion as ``#rrggbb``; grey for names outside the known sets."""
    return _COLORS.get(canonical_name(name), "#444444")


def emotion_color_bgr(name: str) -> tuple[int, int, int]:
    """Display colour of an emotion as an OpenCV BGR tuple."""
    h = emotion_color_hex(name).lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return (b, g, r)
