"""The repository stays within its size budget (40 MB of tracked files: the shipped models with their weights,
ONNX exports and stored test runs) as the model zoo grows."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUDGET_MB = 40.0


def test_tracked_files_fit_the_budget() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    paths = [REPO / name for name in listed.decode().split("\0") if name]
    total_mb = sum(p.stat().st_size for p in paths if p.is_file()) / 1e6
    assert total_mb <= BUDGET_MB, f"tracked files take {total_mb:.1f} MB, over the {BUDGET_MB:.0f} MB budget"
