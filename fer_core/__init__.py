"""fer_core: the facial expression recognition library under FER Studio (never imports streamlit)."""

from __future__ import annotations

__version__ = "0.1.0"
