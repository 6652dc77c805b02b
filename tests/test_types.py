"""The type checker runs on fer_core and fer_app with the project's settings (pyproject.toml [tool.mypy]) and finds
nothing.

It catches what tests may miss: a function declared to return ``Classifier`` that returns an ensemble ended in an
AttributeError in ``export`` until the declared type said so.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_type_errors_in_the_packages() -> None:
    pytest.importorskip("mypy", reason="mypy is a test dependency: pip install -r requirements-dev.txt")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"mypy (fer_core, fer_app) found problems:\n{done.stdout}{done.stderr}"
