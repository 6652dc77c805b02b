"""The one grammar of stored-run conditions: what a face went through before the model saw it.

- ``clean``: the face as the dataset has it.
- ``resize:<px>:<down>><up>``: shrunk to ``px`` with one OpenCV interpolation and enlarged back with another, as in
  the low-resolution study the project grew from (``resize:32:area>cubic``).
- ``<corruption>:<severity>``: a webcam-like corruption, or a face box placed otherwise than the dataset's
  (``tight``, ``loose``, ``shift``), at severity 1 (mild) to 3 (severe), e.g. ``blur:2``; the
  parameter of each severity is in :data:`CORRUPTIONS` (``python -m fer_core evaluate --corruptions`` writes them).

Pure Python (no OpenCV, no torch), so the dashboard reads the grammar without the image libraries; the pixels are
changed by :mod:`fer_core.vision.corruptions`. Parameters are given for a 48 px face and scale with the face size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CLEAN",
    "CORRUPTIONS",
    "DEFAULT_PAIRS",
    "DEFAULT_SIZES",
    "INTERPOLATION_NAMES",
    "Corruption",
    "CorruptionKind",
    "Resize",
    "corruption_conditions",
    "describe_condition",
    "parse_condition",
    "resize_grid_conditions",
]

CLEAN = "clean"
INTERPOLATION_NAMES = ("nearest", "linear", "cubic", "area", "lanczos4")
DEFAULT_SIZES = (40, 32, 24, 16, 12, 8)
# The four pairs of the original study first, then area (the usual best downscaler) and nearest (the worst case).
DEFAULT_PAIRS = (
    ("cubic", "cubic"),
    ("linear", "linear"),
    ("lanczos4", "lanczos4"),
    ("cubic", "linear"),
    ("area", "cubic"),
    ("nearest", "nearest"),
)


@dataclass(frozen=True)
class CorruptionKind:
    """One family of corruption: what it imitates, its parameter's name and unit, and the value per severity."""

    title: str
    parameter: str
    levels: tuple[float | tuple[float, float], ...]

    def level_text(self, severity: int) -> str:
        value = self.levels[severity - 1]
        shown = f"{value[0]:g}-{value[1]:g}" if isinstance(value, tuple) else f"{value:g}"
        return f"{self.parameter} {shown}"


# Severities chosen so that level 1 is what a decent webcam does on a bad day and level 3 what a poor one does.
CORRUPTIONS: dict[str, CorruptionKind] = {
    "blur": CorruptionKind("Gaussian blur (out of focus)", "sigma px", (0.5, 1.0, 1.5)),
    "motion": CorruptionKind("motion blur (horizontal)", "length px", (3.0, 5.0, 9.0)),
    "noise": CorruptionKind("Gaussian noise (sensor, low light)", "std of 255", (4.0, 8.0, 16.0)),
    "jpeg": CorruptionKind("JPEG compression", "quality", (30.0, 15.0, 6.0)),
    "dark": CorruptionKind("under-exposed (gain g, gamma 1/sqrt g)", "gain", (0.6, 0.4, 0.25)),
    "bright": CorruptionKind("over-exposed (gain g, gamma 1/sqrt g)", "gain", (1.3, 1.6, 2.0)),
    "contrast": CorruptionKind("low contrast (haze, backlight)", "contrast x", (0.5, 0.3, 0.15)),
    "eyes": CorruptionKind(
        "eye band covered (glasses, hand)", "rows of face", ((0.29, 0.42), (0.25, 0.46), (0.21, 0.50))
    ),
    "mouth": CorruptionKind("mouth covered (hand, mask)", "rows of face", ((0.72, 0.88), (0.66, 0.94), (0.60, 1.0))),
    # Face boxes of another detector than the dataset's: FER2013's crops are the reference (scale 1, centred).
    "tight": CorruptionKind("tighter face box (forehead and chin cut)", "side kept", (0.9, 0.8, 0.7)),
    "loose": CorruptionKind("looser face box (mirrored margin)", "side x", (1.1, 1.25, 1.4)),
    "shift": CorruptionKind("face box shifted diagonally", "offset of side", (0.05, 0.1, 0.15)),
}
SEVERITIES = (1, 2, 3)


@dataclass(frozen=True)
class Resize:
    """``resize:<px>:<down>><up>``."""

    px: int
    down: str
    up: str

    @property
    def pair(self) -> str:
        return f"{self.down}>{self.up}"

    @property
    def name(self) -> str:
        return f"resize:{self.px}:{self.pair}"


@dataclass(frozen=True)
class Corruption:
    """``<kind>:<severity>``, a key of :data:`CORRUPTIONS` and a severity in :data:`SEVERITIES`."""

    kind: str
    severity: int

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.severity}"

    @property
    def value(self) -> float | tuple[float, float]:
        return CORRUPTIONS[self.kind].levels[self.severity - 1]


def _grammar() -> str:
    kinds = ", ".join(CORRUPTIONS)
    return (
        f"use 'clean', 'resize:<px>:<down>><up>' with {', '.join(INTERPOLATION_NAMES)}, or '<corruption>:<severity>' "
        f"with corruption in {kinds} and severity in {', '.join(map(str, SEVERITIES))}"
    )


def _parse_resize(parts: list[str]) -> Resize | None:
    if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) < 1 or parts[2].count(">") != 1:
        return None
    down, up = parts[2].split(">")
    if down not in INTERPOLATION_NAMES or up not in INTERPOLATION_NAMES:
        return None
    return Resize(int(parts[1]), down, up)


def _parse_corruption(parts: list[str]) -> Corruption | None:
    if len(parts) != 2 or parts[0] not in CORRUPTIONS or not parts[1].isdigit() or int(parts[1]) not in SEVERITIES:
        return None
    return Corruption(parts[0], int(parts[1]))


def parse_condition(condition: str, *, strict: bool = True) -> Resize | Corruption | None:
    """The parsed form of a condition; None for ``clean``.

    ``strict`` (writing runs): ValueError naming the grammar for anything else. Not strict (reading stored runs): an
    unknown condition is None as well, so a run written by a later version still shows what this one knows.
    """
    text = str(condition)
    if text == CLEAN:
        return None
    parts = text.split(":")
    parsed = _parse_resize(parts) if parts[0] == "resize" else _parse_corruption(parts)
    if parsed is None and strict:
        raise ValueError(f"bad condition {text!r}; {_grammar()}")
    return parsed


def describe_condition(condition: str) -> str:
    """A condition in words, for tables and hover text ("Gaussian blur (out of focus), sigma px 1.2")."""
    parsed = parse_condition(condition, strict=False)
    if isinstance(parsed, Corruption):
        kind = CORRUPTIONS[parsed.kind]
        return f"{kind.title}, {kind.level_text(parsed.severity)}"
    if isinstance(parsed, Resize):
        return f"shrunk to {parsed.px} px ({parsed.down}) and back ({parsed.up})"
    return str(condition)


def resize_grid_conditions(
    sizes: Sequence[int] = DEFAULT_SIZES, pairs: Sequence[tuple[str, str]] = DEFAULT_PAIRS
) -> list[str]:
    """Condition names ``resize:<px>:<down>><up>`` for every size x pair."""
    return [Resize(px, down, up).name for down, up in pairs for px in sizes]


def corruption_conditions(
    kinds: Sequence[str] = tuple(CORRUPTIONS), severities: Sequence[int] = SEVERITIES
) -> list[str]:
    """Condition names ``<kind>:<severity>`` for every kind x severity (ValueError naming the valid kinds)."""
    unknown = [kind for kind in kinds if kind not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption {', '.join(unknown)}; known: {', '.join(CORRUPTIONS)}")
    return [Corruption(kind, severity).name for kind in kinds for severity in severities]
