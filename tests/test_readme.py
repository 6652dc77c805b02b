"""The README's results tables are exactly what the stored runs give (regenerate: python scripts/readme_tables.py)."""

from __future__ import annotations

from conftest import REPO_ROOT as REPO
from conftest import load_script


def test_readme_results_match_the_stored_runs() -> None:
    stale = "README results are stale: run python scripts/readme_tables.py"
    assert load_script("readme_tables").main(["--check"]) == 0, stale


def test_readme_shows_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    assert "streamlit run streamlit_app.py" in text
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install -q -r requirements-dev.txt" in ci and "python -m pytest -q" in ci
