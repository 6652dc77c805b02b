"""fer_core: the facial expression recognition library under FER Studio (never imports streamlit).

``fer_core.load_model(name_or_path)`` and ``fer_core.create_model(architecture, ...)`` are the two doors; they are
imported lazily so that light users (the dashboard: runs and metrics only) do not pay for torch at import.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["create_model", "load_model"]


def __getattr__(name: str):
    if name == "load_model":
        from fer_core.serving.classifier import load_model

        return load_model
    if name == "create_model":
        from fer_core.models import create_model

        return create_model
    raise AttributeError(f"module 'fer_core' has no attribute {name!r}")
