"""Serving an ONNX model imports neither torch, torchvision, timm nor transformers (the light install)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fer_core.store.model_dir import CHECKPOINTS_DIR

REPO_ROOT = Path(__file__).resolve().parents[3]
BLOCKER = """
import importlib.abc, sys

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "timm", "transformers"):
            raise ImportError(f"blocked import of {name}")
        return None

sys.meta_path.insert(0, Blocked())
"""
SERVE_ONNX = """
import numpy as np, fer_core
m = fer_core.load_model("default", backend="onnx")
probs = m.predict([np.zeros((60, 50, 3), np.uint8), np.full((48, 48), 128, np.uint8)])
assert probs.shape == (2, len(m.labels)) and m.backend == "onnx"
print("ok")
"""


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(not (CHECKPOINTS_DIR / "default.json").is_file(), reason="no shipped default model")
def test_onnx_serving_runs_with_torch_imports_blocked() -> None:
    result = run_blocked(SERVE_ONNX)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


def test_a_torch_model_without_torch_names_the_install(tmp_path: Path) -> None:
    (tmp_path / "timm_dir").mkdir()
    (tmp_path / "timm_dir" / "config.json").write_text('{"architecture": "resnet18", "num_classes": 7}')
    (tmp_path / "timm_dir" / "model.safetensors").write_bytes(b"")
    code = f"""
import fer_core
from fer_core.store.json_files import ModelLoadError
try:
    fer_core.load_model({str(tmp_path / "timm_dir")!r})
except ModelLoadError as err:
    print(err)
"""
    result = run_blocked(code)
    assert "runs on torch" in result.stdout and "requirements.txt" in result.stdout, result.stdout + result.stderr
