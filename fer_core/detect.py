"""Face detectors behind one small interface: ``detect(frame_bgr) -> (boxes, scores)``.

``boxes`` is an ``(N, 4)`` int32 array of ``x1, y1, x2, y2`` in the pixel coordinates of the input frame and
``scores`` an ``(N,)`` float32 array in ``[0, 1]``. Both detectors work on a downscaled copy of the frame (longest
side ``max_side``) because detection cost grows with the pixel count while webcam faces are large: at 640x480 this
is what keeps the live pipeline above 30 FPS on two cores.

- ``HaarDetector``: OpenCV's frontal-face Haar cascade (Viola & Jones 2001), bundled with opencv-python-headless 4.x,
  so it is always available.
- ``DnnDetector``: OpenCV's YuNet (Wu et al. 2023, "YuNet: A Tiny Millisecond-level Face Detector") when its
  ``.onnx`` file is present; the path comes from an argument or the ``FER_DNN_DETECTOR`` environment variable.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

__all__ = [
    "DETECTOR_KINDS",
    "DNN_MODEL_ENV",
    "DnnDetector",
    "FaceDetector",
    "HaarDetector",
    "available_detectors",
    "create_detector",
    "downscale_for_detection",
]

DNN_MODEL_ENV = "FER_DNN_DETECTOR"
DETECTOR_KINDS = ("haar", "dnn")


class FaceDetector(Protocol):
    """What the pipeline needs from a detector."""

    def detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 4), dtype=np.int32), np.zeros((0,), dtype=np.float32)


def downscale_for_detection(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``image`` so its longest side is at most ``max_side``; return it and the factor back to full size."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), 1.0 / scale


def _to_full_frame(xywh: np.ndarray, factor: float, width: int, height: int) -> np.ndarray:
    """Map ``x, y, w, h`` boxes from the detection image back to clipped ``x1, y1, x2, y2`` frame boxes."""
    boxes = np.asarray(xywh, dtype=np.float64).reshape(-1, 4) * factor
    boxes[:, 2:] += boxes[:, :2]
    boxes = np.rint(boxes)
    np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
    return boxes.astype(np.int32)


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        raise ValueError("detect() expects a uint8 BGR (HxWx3) or grey (HxW) numpy image")


def _last_stage_threshold(cascade_path: Path) -> float:
    """Threshold of the cascade's final stage (0 when the file is in the old format without one)."""
    storage = cv2.FileStorage(str(cascade_path), cv2.FILE_STORAGE_READ)
    try:
        stages = storage.getNode("cascade").getNode("stages")
        if stages.empty() or stages.size() == 0:
            return 0.0
        return float(stages.at(stages.size() - 1).getNode("stageThreshold").real())
    finally:
        storage.release()


class HaarDetector:
    """OpenCV's frontal-face Haar cascade on an equalised, downscaled grey copy of the frame.

    Defaults were picked by timing 640x480 frames on two cores (see ``scripts/bench_live.py``): the ``alt2``
    cascade gave no false positives on the sample media where ``default`` found a second "face" on the
    astronaut's suit, and a 256 px longest side with ``scale_factor=1.15`` runs in about a third of the time of
    320 px with ``1.1`` while still finding every sample face. The price: faces below about
    ``min_size * frame_side / max_side`` pixels (60 px at 640x480) are missed; raise ``max_side`` for photos
    with small faces, where speed matters less.

    Scores: ``detectMultiScale3(..., outputRejectLevels=True)`` returns, per box, the weight sum of the cascade's
    last stage. Its threshold differs per cascade (53.8 for ``alt2``, -3.0 for ``default``), so the score is the
    margin above that threshold squashed by a logistic function: 0.5 means "just passed", values near 1 a clear
    face. Monotone in the cascade's confidence and in ``(0, 1)`` like YuNet's, but not a calibrated probability.
    """

    def __init__(
        self,
        cascade: str = "haarcascade_frontalface_alt2.xml",
        *,
        max_side: int = 256,
        scale_factor: float = 1.15,
        min_neighbors: int = 4,
        min_size: int = 24,
        equalize: bool = True,
        min_score: float = 0.0,
    ) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError(
                "this OpenCV build has no CascadeClassifier (the 5.x wheels dropped it); install "
                "opencv-python-headless 4.x, as pinned in requirements.txt"
            )
        path = Path(cascade) if Path(cascade).is_file() else Path(cv2.data.haarcascades) / cascade
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise FileNotFoundError(f"could not load the Haar cascade {str(path)!r}")
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        self.max_side = max_side
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.equalize = equalize
        self.min_score = min_score
        self.last_stage_threshold = _last_stage_threshold(path)
        # One detector may serve several app sessions (WebRTC worker threads); OpenCV does not promise that
        # concurrent calls on one cascade or network are safe, so calls take turns.
        self._lock = threading.Lock()

    def detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detect frontal faces; boxes in full-frame pixels, scores in ``(0, 1)``."""
        _check_frame(frame_bgr)
        gray = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        small, factor = downscale_for_detection(gray, self.max_side)
        if self.equalize:
            small = cv2.equalizeHist(small)
        with self._lock:
            rects, _levels, weights = self.cascade.detectMultiScale3(
                small,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(self.min_size, self.min_size),
                outputRejectLevels=True,
            )
        if len(rects) == 0:
            return _empty()
        margins = np.asarray(weights, dtype=np.float64).ravel() - self.last_stage_threshold
        scores = 1.0 / (1.0 + np.exp(-margins))
        keep = scores >= self.min_score
        boxes = _to_full_frame(np.asarray(rects)[keep], factor, gray.shape[1], gray.shape[0])
        return boxes, scores[keep].astype(np.float32)


class DnnDetector:
    """OpenCV's YuNet face detector (``cv2.FaceDetectorYN``) from a local ``.onnx`` file; never downloads."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        max_side: int = 320,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        top_k: int = 50,
    ) -> None:
        path = _dnn_model_path(model_path)
        if path is None or not path.is_file():
            shown = str(path) if path is not None else "(none given)"
            raise FileNotFoundError(
                f"YuNet model file not found: {shown}; pass model_path or set {DNN_MODEL_ENV} to a local "
                "face_detection_yunet_*.onnx file"
            )
        if not hasattr(cv2, "FaceDetectorYN"):
            raise RuntimeError("this OpenCV build has no FaceDetectorYN; install opencv-python-headless >= 4.8")
        self.model_path = path
        self.max_side = max_side
        self._net = cv2.FaceDetectorYN.create(
            str(path), "", (max_side, max_side), score_threshold, nms_threshold, top_k
        )
        self._input_size: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detect faces; boxes in full-frame pixels, YuNet scores in ``[0, 1]``."""
        _check_frame(frame_bgr)
        frame = frame_bgr if frame_bgr.ndim == 3 else cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        small, factor = downscale_for_detection(frame, self.max_side)
        size = (small.shape[1], small.shape[0])
        with self._lock:
            if size != self._input_size:  # setInputSize reallocates; only call it when the frame size changes
                self._net.setInputSize(size)
                self._input_size = size
            _, faces = self._net.detect(small)
        if faces is None or len(faces) == 0:
            return _empty()
        boxes = _to_full_frame(faces[:, :4], factor, frame.shape[1], frame.shape[0])
        return boxes, faces[:, -1].astype(np.float32)


def _dnn_model_path(model_path: str | Path | None) -> Path | None:
    chosen = model_path if model_path is not None else os.environ.get(DNN_MODEL_ENV)
    return Path(chosen).expanduser() if chosen else None


def available_detectors(model_path: str | Path | None = None) -> list[str]:
    """Detector kinds usable here: always ``haar``; ``dnn`` only when its model file exists."""
    kinds = ["haar"] if hasattr(cv2, "CascadeClassifier") else []
    path = _dnn_model_path(model_path)
    if path is not None and path.is_file() and hasattr(cv2, "FaceDetectorYN"):
        kinds.append("dnn")
    return kinds


def create_detector(kind: str = "haar", model_path: str | Path | None = None, **options) -> FaceDetector:
    """Build a detector by kind (``haar`` or ``dnn``); ``options`` go to its constructor.

    ``model_path`` is the YuNet file for ``dnn`` and is ignored by ``haar`` (choose its cascade with
    ``cascade=...``), so callers can pass their configured DNN path whatever the kind.
    """
    if kind == "haar":
        return HaarDetector(**options)
    if kind == "dnn":
        return DnnDetector(model_path, **options)
    raise ValueError(f"unknown detector kind {kind!r}; known: {', '.join(DETECTOR_KINDS)}")
