"""Int8 static quantisation of an exported model for ONNX Runtime, kept only if it predicts like the float model.

Small FER CNNs at batch 1 are bound by per-layer overheads and memory traffic; ONNX Runtime's int8 kernels
(QDQ format, per-channel int8 weights, uint8 activations calibrated on training faces) roughly halve their latency
on an AVX2 CPU. The quantised file is written beside ``model.onnx`` as ``model.int8.onnx`` and the card's ``onnx``
entry names it, so ``load_model(..., backend="auto")`` serves it; it is kept only when, on the validation faces of
every head, its top-1 answers agree with the float model's on at least ``min_agreement`` of the faces and its
accuracy drops by at most ``max_drop``.

Weights are quantised to 7 bits (``reduce_range``). On x86 CPUs without VNNI (AVX2, AVX-512F) ONNX Runtime computes
uint8 x int8 products with VPMADDUBSW, which adds two products into a saturating int16: with full 8-bit weights,
255 x 127 x 2 overflows, and the same file answers differently on such a CPU than on a VNNI one (measured on the
default model: 91-88 % top-1 agreement with its float export on an AVX2 CPU, 99 % on a VNNI CPU). With weights in
[-64, 64], 255 x 64 x 2 = 32,640 fits, so the integer arithmetic, and the answers, are the same on every CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_core.data.preprocess import prepare_batch
from fer_core.serving.classifier import attach_onnx_file, load_trained_model
from fer_core.store.files import commit_file, temporary_beside
from fer_core.store.json_files import ModelLoadError
from fer_core.store.model_dir import INT8_FILE, ONNX_FILE, ModelDir

__all__ = ["INT8_FILE", "WEIGHT_BITS", "HeadCheck", "int8_weight_extremes", "quantize_int8", "write_int8"]

WEIGHT_BITS = 7  # see the module docstring: no int16 saturation on CPUs without VNNI
# Activation ranges from the 99.99th percentile of the calibration activations rather than their min/max: one
# outlier face no longer widens a layer's range for all the others. Measured on validation (7-bit weights, 512
# faces): cnn_mha_budget_joint's FER2013 head agreed with the float model on 97.63 % of faces with min/max, 98.24 %
# with the percentile; the default model's on 98.55 % and 98.69 %.
CALIBRATION_PERCENTILE = 99.99


@dataclass(frozen=True)
class HeadCheck:
    """Validation faces for one head (``None``: the model's default head), labelled in that head's classes."""

    head: str | None
    faces: np.ndarray
    labels: np.ndarray


class _FaceBatches:
    """ONNX Runtime calibration reader over prepared face batches."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self._batches = iter(batches)

    def get_next(self) -> dict | None:
        batch = next(self._batches, None)
        return None if batch is None else {"input": batch}


def _prepared_batches(clf, faces: np.ndarray, batch: int = 32) -> list[np.ndarray]:
    prepared = prepare_batch(faces, clf.input_spec)
    return [prepared[i : i + batch] for i in range(0, len(prepared), batch)]


def write_int8(clf, calibration: np.ndarray, out_path: Path) -> None:
    """Quantise ``clf``'s float ``model.onnx`` to ``out_path`` with the project's int8 settings (no check)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader = _FaceBatches(_prepared_batches(clf, calibration))
    CalibrationDataReader.register(type(reader))
    pre_path = out_path.with_suffix(".pre.onnx")
    try:
        quant_pre_process(str(clf.directory / ONNX_FILE), str(pre_path))
        quantize_static(
            str(pre_path),
            str(out_path),
            reader,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,  # WEIGHT_BITS: 7-bit weights
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": CALIBRATION_PERCENTILE},
        )
    finally:
        pre_path.unlink(missing_ok=True)


def _head_report(model: str | Path, int8_path: Path, check: HeadCheck) -> dict:
    """Top-1 agreement and accuracies of the float export and the int8 file on one head's validation faces."""
    float_clf = load_trained_model(model, action="quantize", backend="onnx", head=check.head)
    attach_onnx_file(float_clf, float_clf.directory / ONNX_FILE)  # the float file, even if int8 is served today
    int8_clf = load_trained_model(model, action="quantize", backend="onnx", head=check.head)
    attach_onnx_file(int8_clf, int8_path)
    float_pred = float_clf.predict(check.faces).argmax(axis=1)
    int8_pred = int8_clf.predict(check.faces).argmax(axis=1)
    keep = check.labels >= 0
    return {
        "val_faces": int(keep.sum()),
        "val_top1_agreement": round(float((float_pred == int8_pred).mean()), 5),
        "val_accuracy_float": round(float((float_pred[keep] == check.labels[keep]).mean()), 5),
        "val_accuracy_int8": round(float((int8_pred[keep] == check.labels[keep]).mean()), 5),
    }


def _passes(head: dict, min_agreement: float, max_drop: float) -> bool:
    drop = head["val_accuracy_float"] - head["val_accuracy_int8"]
    return head["val_top1_agreement"] >= min_agreement and drop <= max_drop


def quantize_int8(
    model: str | Path,
    calibration_faces: np.ndarray,
    checks: Sequence[HeadCheck],
    *,
    min_agreement: float = 0.98,
    max_drop: float = 0.005,
) -> dict:
    """Quantise ``model``'s ``model.onnx`` (run ``export`` first); keep it only if every head passes the check.

    The report's top-level figures are the worst head's (the one that decides); ``heads`` has each head's.
    """
    if not checks:
        raise ValueError("quantize_int8 needs validation faces for at least one head")
    float_clf = load_trained_model(model, action="quantize", backend="onnx")
    directory = float_clf.directory
    if not (directory / ONNX_FILE).is_file():  # shipped int8 models leave the float file out (repository size)
        raise ModelLoadError(
            f"{directory}: quantize starts from the float {ONNX_FILE}, which is missing; write it first: "
            f"python -m fer_core export --model {model}"
        )
    out_path = directory / INT8_FILE
    with temporary_beside(out_path) as tmp_path:
        write_int8(float_clf, calibration_faces, tmp_path)
        heads = {str(check.head): _head_report(model, tmp_path, check) for check in checks}
        kept = all(_passes(head, min_agreement, max_drop) for head in heads.values())
        if kept:
            commit_file(tmp_path, out_path)
    worst = min(heads.values(), key=lambda head: head["val_top1_agreement"])
    report = {
        "file": INT8_FILE,
        "precision": (
            f"int8 (QDQ, per-channel {WEIGHT_BITS}-bit weights, uint8 activations calibrated at the "
            f"{CALIBRATION_PERCENTILE}th percentile)"
        ),
        "calibration_faces": len(calibration_faces),
        **worst,
        "kept": kept,
    }
    if any(check.head is not None for check in checks):
        report["heads"] = heads
    if kept:
        ModelDir(directory).update_card(lambda card: setattr(card, "onnx", report))
    else:  # an int8 file from an earlier quantisation must not go on being served
        out_path.unlink(missing_ok=True)
        if float_clf.card.onnx_file == INT8_FILE:
            ModelDir(directory).update_card(lambda card: setattr(card, "onnx", None))
    return report


def int8_weight_extremes(onnx_path: Path) -> tuple[int, int]:
    """Smallest and largest value of the int8 weight initialisers of a quantised ONNX file."""
    import onnx
    from onnx import numpy_helper

    weights = [
        numpy_helper.to_array(init)
        for init in onnx.load(str(onnx_path)).graph.initializer
        if init.data_type == onnx.TensorProto.INT8
    ]
    if not weights:
        raise ValueError(f"{onnx_path} has no int8 weights")
    return min(int(w.min()) for w in weights), max(int(w.max()) for w in weights)
