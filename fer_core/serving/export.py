"""ONNX export of a model directory, checked against torch with ONNX Runtime before it is kept.

Uses torch's TorchScript-based exporter (``dynamo=False``): it needs no extra package and handles every
architecture here; the export is only written if ONNX Runtime reproduces torch's outputs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from fer_core.data.preprocess import InputSpec
from fer_core.serving.classifier import ONNX_FILE, Classifier, load_trained_model, onnx_session
from fer_core.store.files import atomic_path

__all__ = ["export_onnx", "export_to_file"]


def export_onnx(model: str | Path = "default", *, opset: int = 17, atol: float = 1e-4, seed: int = 0) -> dict:
    """Write ``model.onnx`` into the model directory (dynamic batch) and return the check report."""
    clf = load_trained_model(model, action="export", backend="torch")
    path = clf.directory / ONNX_FILE
    with atomic_path(path) as tmp_path:  # kept only when the check passes
        max_diff = _export_checked(clf, tmp_path, opset=opset, atol=atol, seed=seed)
    return {
        "model": clf.name,
        "onnx": str(path),
        "opset": opset,
        "max_abs_logit_diff": float(max_diff),
        "bytes": path.stat().st_size,
    }


def export_to_file(clf: Classifier, path: Path, *, opset: int = 17, atol: float = 1e-4, seed: int = 0) -> float:
    """Export a torch-loaded classifier's module to ``path`` (checked like :func:`export_onnx`); the largest logit
    difference to torch. For an ONNX file that is not kept in the model directory (a benchmark's)."""
    with atomic_path(path) as tmp_path:
        return _export_checked(clf, tmp_path, opset=opset, atol=atol, seed=seed)


def _export_checked(clf: Classifier, tmp_path: Path, *, opset: int, atol: float, seed: int) -> float:
    """Export to ``tmp_path``; the largest logit difference to torch, or a ValueError when it exceeds ``atol``."""
    spec, module = clf.input_spec, clf.module
    if module is None:
        raise ValueError(f"{clf.name}: loaded without its torch module; export needs backend='torch'")
    example = torch.zeros(1, spec.channels, spec.size, spec.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (example,),
            str(tmp_path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    max_diff = _max_difference(module, spec, tmp_path, seed)
    if max_diff > atol:
        raise ValueError(f"ONNX export of {clf.name} differs from torch by {max_diff:.2e} (> {atol}); not kept")
    return max_diff


def _max_difference(module: torch.nn.Module, spec: InputSpec, onnx_path: Path, seed: int) -> float:
    batch = np.random.default_rng(seed).standard_normal((5, spec.channels, spec.size, spec.size)).astype(np.float32)
    session = onnx_session(onnx_path)
    onnx_logits = session.run(None, {"input": batch})[0]
    with torch.inference_mode():
        torch_logits = module(torch.from_numpy(batch)).numpy()
    return float(np.abs(onnx_logits - torch_logits).max())
