"""Make every page run through ``streamlit_app.py``'s navigation, even when it is the first page a server serves.

Streamlit (1.67) decides once per server process, on its first script run, whether a ``pages/`` folder means the
legacy auto-discovered page list; ``st.navigation`` switches that off, but only once the entry script has run. A
bookmarked page opened first on a fresh server would therefore run alone, under Streamlit's own list of the files in
``pages/`` instead of the app's navigation (``tests/e2e``: the deep-link test still needs this guard, even with
only page scripts left in ``pages/``). Each page calls :func:`enter_through_navigation` first: in that legacy
mode it switches the flag off and reruns, and the rerun goes through ``streamlit_app.py`` to the same page (same
URL path, same page hash).
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

__all__ = ["enter_through_navigation"]


def enter_through_navigation() -> None:
    """Rerun through the app's entry script when Streamlit runs this page in legacy ``pages/`` mode."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
