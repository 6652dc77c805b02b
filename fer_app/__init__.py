"""The Streamlit app's helper modules: the one cached model/detector loader, the sidebar and model-card widgets,
the dashboard's run loading, and the navigation guard. ``pages/`` holds only the page scripts (Streamlit treats
every file there as a page until the entry script has run once), and the logic the pages call lives in
``fer_core`` (``fer_core.apps.photo``, ``fer_core.apps.video``, ``fer_core.apps.live``), shared with the CLI.
"""
