"""FER Studio: entry point. ``streamlit run streamlit_app.py``."""

from __future__ import annotations

import streamlit as st
from streamlit import config as streamlit_config

# Streamlit runs a full garbage collection after every script run, fragments included (runner.postScriptGC):
# with a model and the WebRTC stack in memory that is hundreds of milliseconds holding the GIL, once a second per
# live viewer (the stats panel), and the frame thread, the codecs and aiortc wait for it. The measured gap between
# the live page and its benchmark was mostly this (scripts/bench_live_browser.py). Python's own generational GC
# still runs; nothing accumulates.
streamlit_config.set_option("runner.postScriptGC", False)

st.set_page_config(page_title="FER Studio", page_icon=":performing_arts:", layout="wide")

PAGES = {
    "Demo": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/live.py", title="Live webcam", icon=":material/videocam:"),
        st.Page("pages/image.py", title="Image", icon=":material/image:"),
        st.Page("pages/video.py", title="Video", icon=":material/movie:"),
    ],
    "Model comparison": [
        st.Page("pages/compare.py", title="Leaderboard", icon=":material/leaderboard:"),
        st.Page("pages/robustness.py", title="Robustness", icon=":material/photo_size_select_small:"),
        st.Page("pages/subgroups.py", title="Subgroups", icon=":material/groups:"),
        st.Page("pages/errors.py", title="Errors", icon=":material/error:"),
    ],
}

st.navigation(PAGES).run()
