"""The README's results tables are exactly what the stored runs give (regenerate: python scripts/readme_tables.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_results_match_the_stored_runs() -> None:
    spec = importlib.util.spec_from_file_location("readme_tables", REPO / "scripts" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "README results are stale: run python scripts/readme_tables.py"


def test_readme_shows_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    assert "streamlit run streamlit_app.py" in text
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install -q -r requirements-dev.txt" in ci and "python -m pytest -q" in ci
