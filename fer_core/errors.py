"""The project's one exception tree: every error fer_core raises on purpose is a :class:`FerError`.

Each class keeps the built-in base it had before the tree existed (``ValueError``, ``RuntimeError``), so code that
catches those still works; the CLI and the app catch :class:`FerError` and show its message, which names the file
and the problem, as one line. The classes stay importable from the modules that raise them.
"""

from __future__ import annotations

__all__ = [
    "CardError",
    "DatasetError",
    "FerError",
    "ImageDecodeError",
    "ModelLoadError",
    "RecipeError",
    "RunFormatError",
    "UnsupportedModelError",
    "VideoError",
]


class FerError(Exception):
    """Base of every deliberate fer_core error; its message is meant for the person who gave the input."""


class ModelLoadError(FerError, ValueError):
    """A model directory is missing, malformed or unsafe; the message names the path and the problem."""


class CardError(ModelLoadError):
    """A ``card.json`` whose fields do not have the documented types; the message names the file and field."""


class UnsupportedModelError(ModelLoadError):
    """A model that loads but cannot do what was asked (e.g. exporting an ensemble, which has no weights)."""


class DatasetError(FerError, ValueError):
    """A dataset file or folder is missing or malformed; the message names the path and the problem."""


class RecipeError(FerError, ValueError):
    """A training recipe file that is not valid JSON or has a key of the wrong type or value; names the file."""


class RunFormatError(FerError, ValueError):
    """A stored-run, card or history file that exists but does not have the documented shape."""


class ImageDecodeError(FerError, ValueError):
    """Bytes that cannot become an image; the message is written for the person who uploaded the file."""


class VideoError(FerError, RuntimeError):
    """A video file that cannot be read (missing, empty, corrupt, no video stream, no frames)."""
