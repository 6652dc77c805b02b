"""fer_core: the facial expression recognition library under FER Studio (never imports streamlit).

``fer_core.load_model(name_or_path)`` and ``fer_core.create_model(architecture, ...)`` are the two doors; they are
imported lazily so that light users (the dashboard: runs and metrics only) do not pay for torch at import.

Nothing may reach the network at run time. ONNX Runtime's official builds send usage telemetry (DNS queries for
its vendor's host start a few seconds after import) unless ``ORT_DISABLE_TELEMETRY=1`` is in the environment
before the library is first imported; ``disable_telemetry_events()`` afterwards does not stop them. Every import
of ONNX Runtime in the project comes after this package's, so setting it here covers the app, the CLI and the
scripts (and the processes they start).
"""

from __future__ import annotations

from fer_core.settings import disable_runtime_telemetry

disable_runtime_telemetry()

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
