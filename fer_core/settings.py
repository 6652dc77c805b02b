"""Every ``FER_*`` environment variable, read in this one place (each at call time, so a change takes effect).

The rest of the code asks the functions below, never ``os.environ``. One line per setting:

- ``FER_CHECKPOINTS_DIR``: the folder of model directories the app, the CLI and ``load_model`` read; default the
  repository's ``checkpoints/``.
- ``FER_CACHE_DIR``: where decoded dataset splits and teachers' probabilities are cached; default
  ``~/.cache/fer-studio/data``.
- ``FER_DATA_DIR``: the folder holding ``fer2013/`` and ``ferplus/`` when no ``--data-root`` is given; default
  ``../shared/data`` beside the repository.
- ``FER_DNN_DETECTOR``: path of the optional YuNet face detector (``.onnx``); default unset (Haar cascades only).
- ``FER_ICE_SERVERS``: a JSON list of STUN/TURN servers for the live page; default unset (no server is contacted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CACHE_DIR",
    "CHECKPOINTS_DIR",
    "DATA_DIR",
    "DNN_DETECTOR",
    "ICE_SERVERS",
    "SETTINGS",
    "Setting",
    "cache_dir",
    "checkpoints_dir",
    "data_dir",
    "dnn_detector",
    "ice_servers",
]

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, what it does, and the value used when it is unset or empty."""

    name: str
    help: str
    default: str | None = None

    def value(self) -> str | None:
        """The variable's value, or the default when it is unset or empty."""
        return os.environ.get(self.name) or self.default


CHECKPOINTS_DIR = Setting(
    "FER_CHECKPOINTS_DIR", "folder of model directories (card, weights, runs/)", str(REPO_ROOT / "checkpoints")
)
CACHE_DIR = Setting(
    "FER_CACHE_DIR", "cache of decoded dataset splits and teachers' outputs", "~/.cache/fer-studio/data"
)
DATA_DIR = Setting("FER_DATA_DIR", "folder holding fer2013/ and ferplus/", str(REPO_ROOT.parent / "shared" / "data"))
DNN_DETECTOR = Setting("FER_DNN_DETECTOR", "YuNet face detector model file (.onnx); unset: Haar cascades only")
ICE_SERVERS = Setting("FER_ICE_SERVERS", "JSON list of STUN/TURN servers for the live page; unset: none")
SETTINGS = (CHECKPOINTS_DIR, CACHE_DIR, DATA_DIR, DNN_DETECTOR, ICE_SERVERS)


def checkpoints_dir() -> Path:
    """``$FER_CHECKPOINTS_DIR``, else the repository's ``checkpoints/``."""
    return Path(str(CHECKPOINTS_DIR.value()))


def cache_dir() -> Path:
    """``$FER_CACHE_DIR``, else ``~/.cache/fer-studio/data``."""
    return Path(str(CACHE_DIR.value())).expanduser()


def data_dir() -> Path:
    """``$FER_DATA_DIR``, else ``../shared/data`` beside the repository."""
    return Path(str(DATA_DIR.value()))


def dnn_detector() -> Path | None:
    """``$FER_DNN_DETECTOR`` (``~`` expanded), else None."""
    value = DNN_DETECTOR.value()
    return Path(value).expanduser() if value else None


def ice_servers() -> str | None:
    """The raw ``$FER_ICE_SERVERS`` JSON text (validated by ``fer_core.apps.live.rtc_configuration``), else None."""
    return ICE_SERVERS.value()


def disable_runtime_telemetry() -> None:
    """Keep ONNX Runtime from sending usage events: ``ORT_DISABLE_TELEMETRY=1`` must be in the environment before
    onnxruntime is first imported (its ``disable_telemetry_events()`` does not stop the DNS queries), so the
    package sets it on import. A value the user set is kept."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
