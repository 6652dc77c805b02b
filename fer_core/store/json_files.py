"""Reading the JSON files of a model directory (card, config, sidecars), and the error every loader raises.

Kept free of torch and OpenCV so the dashboard, which reads only cards and stored runs, imports nothing heavy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from fer_core.errors import ModelLoadError
from fer_core.store.files import UnsafeFileError, read_regular_file

__all__ = ["MAX_JSON_BYTES", "MAX_LABELS", "ModelLoadError", "read_json_object", "refuse_remote_code"]

MAX_JSON_BYTES = 16 * 2**20  # configs and cards are kilobytes; ImageNet-22k id2label is about 1 MB
MAX_LABELS = 1000
REMOTE_CODE_KEYS = ("auto_map",)


def read_json_object(path: Path) -> dict:
    """A JSON object from a UTF-8 file of bounded size; every way it can be wrong is a ModelLoadError."""
    try:
        data = json.loads(read_regular_file(path, MAX_JSON_BYTES, "model config or card").decode("utf-8"))
    except UnsafeFileError as err:
        raise ModelLoadError(str(err)) from None
    except FileNotFoundError:
        raise ModelLoadError(f"{path.parent}: missing {path.name}") from None
    except UnicodeDecodeError as err:
        raise ModelLoadError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except RecursionError:
        raise ModelLoadError(f"{path}: JSON nested too deeply") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def refuse_remote_code(config: Mapping, path: Path) -> None:
    """Refuse configs that point transformers at Python files of their own (it would offer to run them)."""
    for key in REMOTE_CODE_KEYS:
        if key in config:
            raise ModelLoadError(
                f"{path}: {key!r} asks to run Python code shipped with the model ({config[key]!r}); model "
                "directories may only hold data (config, card, safetensors weights), so it is refused"
            )
