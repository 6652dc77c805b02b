"""Face detectors behind one small interface: ``detect(frame_bgr) -> (boxes, scores)``, tuned per source.

``boxes`` is an ``(N, 4)`` int32 array of ``x1, y1, x2, y2`` in the pixel coordinates of the input frame and
``scores`` an ``(N,)`` float32 array in ``[0, 1]``. How hard a detector looks is a ``DetectionPreset``, one per
source (``DETECTION_PRESETS``):

- ``live``: a webcam frame downscaled to 288 px, coarse scale steps: speed first (30 FPS at 640x480 on one core).
  Webcam faces are large; the smallest face it finds is ``smallest_face(frame_size)`` (54 px at 640x480).
- ``photo``: the photo at its own (decoded) resolution, fine scale steps, and a false-face guard: every face of
  24 px or more, as a photo is analysed once.
- ``video``: the clip's own resolution up to 960 px and the guard: a clip of 640x480 is searched at full size, so
  its 30-60 px faces are found in every frame, at a cost a file (not a live stream) can afford.

The guard re-checks every candidate box on its own: the crop around it (from the full-resolution frame) is scaled
so the face is 32 px, then 64 px, and scanned again with fine scale steps; a real face fires the cascade at many
neighbouring positions and scales, a face-like texture (gravel, coins, a wooden table) at a few.
``fer_core.bench.detection`` and ``scripts/bench_detect.py`` measure recall by face size and false faces with and
without it.

- ``HaarDetector``: OpenCV's frontal-face Haar cascade (Viola & Jones 2001), bundled with opencv-python-headless 4.x,
  so it is always available.
- ``DnnDetector``: OpenCV's YuNet (Wu et al. 2023, "YuNet: A Tiny Millisecond-level Face Detector") when its
  ``.onnx`` file is present; the path comes from an argument or the ``FER_DNN_DETECTOR`` environment variable.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from fer_core import settings
from fer_core.vision.tracking import iou_matrix

__all__ = [
    "DETECTION_PRESETS",
    "DETECTOR_KINDS",
    "DNN_MODEL_ENV",
    "HAAR_DIR",
    "DetectionPreset",
    "DnnDetector",
    "FaceDetector",
    "HaarDetector",
    "available_detectors",
    "create_detector",
    "detection_preset",
    "downscale_for_detection",
    "no_face_reason",
    "smallest_face",
]

DNN_MODEL_ENV = settings.DNN_DETECTOR.name
HAAR_DIR = Path(cv2.__file__).parent / "data"  # OpenCV's bundled Haar cascades (what cv2.data.haarcascades names)
DETECTOR_KINDS = ("haar", "dnn")
# The guard's canonical face sizes and the neighbours a real face reaches at each (fer_core.bench.detection: 98% of
# the benchmark's true faces pass both, a quarter of the cascade's false faces do).
GUARD_CHECKS = ((32, 3), (64, 10))
_GUARD_MARGIN = 0.3
_YUNET_MIN_FACE = 10
_DNN_MIN_SIDE = 320
_DNN_PHOTO_SIDE = 1280


@dataclass(frozen=True)
class DetectionPreset:
    """How hard to look for faces in one kind of source.

    ``max_side``: longest side of the image the cascade scans (``None``: the source's own resolution).
    ``min_size``: the smallest face, in pixels of that scanned image. ``scale_factor``: step between the
    cascade's scales (smaller finds more, costs more). ``min_neighbors``: overlapping hits needed for a face.
    ``equalize``: histogram-equalise the frame first (helps dim webcams; in photos a global equalisation hurts
    faces that sit in a small bright or dark part of the picture). ``guard``: re-check each face on its crop.
    """

    name: str
    max_side: int | None
    scale_factor: float
    min_neighbors: int
    min_size: int = 24
    equalize: bool = False
    guard: bool = False

    def __post_init__(self) -> None:
        if self.max_side is not None and self.max_side < self.min_size:
            raise ValueError(f"max_side must be None or >= min_size ({self.min_size}), got {self.max_side}")
        if self.scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be > 1, got {self.scale_factor}")
        if self.min_neighbors < 0 or self.min_size < 1:
            raise ValueError(f"min_neighbors must be >= 0 and min_size >= 1, got {self.min_neighbors}, {self.min_size}")

    def options(self) -> dict:
        """Constructor arguments of ``HaarDetector`` for this preset."""
        return {
            "max_side": self.max_side,
            "scale_factor": self.scale_factor,
            "min_neighbors": self.min_neighbors,
            "min_size": self.min_size,
            "equalize": self.equalize,
            "guard": self.guard,
        }


DETECTION_PRESETS = {
    preset.name: preset
    for preset in (
        # 288 px in steps of 1.2 without equalisation costs about what the former 256 px in steps of 1.15 with it
        # did (scripts/bench_live.py) and finds faces from 54 px at 640x480 instead of 60.
        DetectionPreset("live", max_side=288, scale_factor=1.2, min_neighbors=4),
        DetectionPreset("photo", max_side=None, scale_factor=1.1, min_neighbors=3, guard=True),
        DetectionPreset("video", max_side=960, scale_factor=1.1, min_neighbors=3, guard=True),
    )
}


def detection_preset(name: str | DetectionPreset) -> DetectionPreset:
    """A preset by name (``live``, ``photo``, ``video``); a ``DetectionPreset`` passes through."""
    if isinstance(name, DetectionPreset):
        return name
    try:
        return DETECTION_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown detection preset {name!r}; known: {', '.join(DETECTION_PRESETS)}") from None


def smallest_face(frame_size: tuple[int, int], max_side: int | None, min_size: int) -> int:
    """The smallest face (in frame pixels) a detector scanning at ``max_side`` with ``min_size`` can report."""
    longest = max(frame_size)
    factor = 1.0 if max_side is None or longest <= max_side else longest / max_side
    return math.ceil(min_size * factor)


class FaceDetector(Protocol):
    """What the pipeline needs from a detector."""

    def detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def smallest_face(self, frame_size: tuple[int, int]) -> int:
        """The smallest face, in pixels of a ``(width, height)`` frame, this detector can find."""
        ...


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 4), dtype=np.int32), np.zeros((0,), dtype=np.float32)


def downscale_for_detection(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Shrink ``image`` so its longest side is at most ``max_side`` (``None``: keep it); return it and the factor
    back to full size."""
    if max_side is None:
        return image, 1.0
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
    """OpenCV's frontal-face Haar cascade on a grey (optionally equalised, downscaled) copy of the frame.

    The defaults are the ``live`` preset; ``HaarDetector.from_preset("photo")`` and friends build the others. The
    ``alt2`` cascade gave no false positives on the sample media where ``default`` found a second "face" on the
    astronaut's suit. Faces below ``smallest_face(frame_size)`` pixels (54 px at 640x480 for ``live``) are missed.

    Scores: ``detectMultiScale3(..., outputRejectLevels=True)`` returns, per box, the weight sum of the cascade's
    last stage. Its threshold differs per cascade (53.8 for ``alt2``, -3.0 for ``default``), so the score is the
    margin above that threshold squashed by a logistic function: 0.5 means "just passed", values near 1 a clear
    face. Monotone in the cascade's confidence and in ``(0, 1)`` like YuNet's, but not a calibrated probability.
    """

    def __init__(
        self,
        cascade: str = "haarcascade_frontalface_alt2.xml",
        *,
        max_side: int | None = 288,
        scale_factor: float = 1.2,
        min_neighbors: int = 4,
        min_size: int = 24,
        equalize: bool = False,
        guard: bool = False,
        min_score: float = 0.0,
    ) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError(
                "this OpenCV build has no CascadeClassifier (the 5.x wheels dropped it); install "
                "opencv-python-headless 4.x, as pinned in requirements.txt"
            )
        path = Path(cascade) if Path(cascade).is_file() else HAAR_DIR / cascade
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
        self.guard = guard
        self.min_score = min_score
        self.last_stage_threshold = _last_stage_threshold(path)
        # One detector may serve several app sessions (WebRTC worker threads); OpenCV does not promise that
        # concurrent calls on one cascade or network are safe, so calls take turns.
        self._lock = threading.Lock()

    @classmethod
    def from_preset(cls, preset: str | DetectionPreset = "live", **overrides) -> HaarDetector:
        """A detector with a preset's settings (``live``, ``photo``, ``video``); ``overrides`` win."""
        return cls(**{**detection_preset(preset).options(), **overrides})

    def smallest_face(self, frame_size: tuple[int, int]) -> int:
        """The smallest face, in pixels of a ``(width, height)`` frame, this detector can find."""
        return smallest_face(frame_size, self.max_side, self.min_size)

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
        boxes = _to_full_frame(np.asarray(rects), factor, gray.shape[1], gray.shape[0])
        keep = scores >= self.min_score
        if self.guard:
            keep &= np.array([self.confirms(gray, box) for box in boxes], dtype=bool)
        return boxes[keep], scores[keep].astype(np.float32)

    def confirms(self, gray: np.ndarray, box: np.ndarray) -> bool:
        """The false-face guard: does the cascade fire densely on this box's crop at two canonical face sizes?

        The crop comes from the full-resolution frame, with 30% context per side. It is scaled so the face is
        32 px, then 64 px, and scanned again with fine steps (1.05) around that size; the box stands when a hit
        overlapping it gathers the neighbours ``GUARD_CHECKS`` asks at both sizes. A real face holds up coarse and
        fine; a face-like texture rarely does. About 14 ms per candidate on one busy core: for a photo with a few
        faces a small share of the full-resolution scan (about 1.2 s at 1600x1200 on the same core).
        """
        return all(self._neighbours_at(gray, box, face_px) >= needed for face_px, needed in GUARD_CHECKS)

    def _neighbours_at(self, gray: np.ndarray, box: np.ndarray, face_px: int) -> int:
        """Most neighbours of a cascade hit overlapping ``box`` once its crop is scaled to a ``face_px`` face."""
        x1, y1, x2, y2 = (int(v) for v in box)
        side = max(x2 - x1, y2 - y1)
        margin = round(side * _GUARD_MARGIN)
        cx1, cy1 = max(0, x1 - margin), max(0, y1 - margin)
        scale = face_px / side
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        region = gray[cy1 : y2 + margin, cx1 : x2 + margin]
        crop = cv2.resize(region, None, fx=scale, fy=scale, interpolation=interpolation)
        expected = np.array([[x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1]], dtype=np.float64) * scale
        low, high = round(face_px * 0.7), round(face_px * 1.4)
        with self._lock:
            rects, neighbours = self.cascade.detectMultiScale2(
                crop, scaleFactor=1.05, minNeighbors=1, minSize=(low, low), maxSize=(high, high)
            )
        if len(rects) == 0:
            return 0
        hits = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        hits[:, 2:] += hits[:, :2]
        overlapping = iou_matrix(expected, hits)[0] > 0.3
        return int(np.ravel(neighbours)[overlapping].max()) if overlapping.any() else 0


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

    def smallest_face(self, frame_size: tuple[int, int]) -> int:
        """The smallest face in frame pixels: YuNet reports faces down to about 10 px of its input."""
        return smallest_face(frame_size, self.max_side, _YUNET_MIN_FACE)

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


def no_face_reason(detector: FaceDetector, frame_size: tuple[int, int]) -> str:
    """Why a detector may have found no face in a ``(width, height)`` frame, in words for the person who asked."""
    width, height = frame_size
    smallest = detector.smallest_face(frame_size) if hasattr(detector, "smallest_face") else None
    size = f"{smallest} px or larger" if smallest is not None else "of the size it searches"
    return (
        f"The detector searched this {width}x{height} image for upright, frontal faces {size}; smaller, turned, "
        "tilted or partly covered faces are missed, and so is a face that fills the whole image (a tight crop)."
    )


def _dnn_model_path(model_path: str | Path | None) -> Path | None:
    if model_path is None:
        return settings.dnn_detector()
    return Path(model_path).expanduser() if model_path else None


def available_detectors(model_path: str | Path | None = None) -> list[str]:
    """Detector kinds usable here: always ``haar``; ``dnn`` only when its model file exists."""
    kinds = ["haar"] if hasattr(cv2, "CascadeClassifier") else []
    path = _dnn_model_path(model_path)
    if path is not None and path.is_file() and hasattr(cv2, "FaceDetectorYN"):
        kinds.append("dnn")
    return kinds


def create_detector(
    kind: str = "haar",
    model_path: str | Path | None = None,
    *,
    preset: str | DetectionPreset = "live",
    **options,
) -> FaceDetector:
    """Build a detector by kind (``haar`` or ``dnn``) for a source preset (``live``, ``photo``, ``video``).

    ``options`` go to its constructor and override the preset. ``model_path`` is the YuNet file for ``dnn`` and
    is ignored by ``haar`` (choose its cascade with ``cascade=...``), so callers can pass their configured DNN
    path whatever the kind. YuNet takes only the preset's size (at least 320 px; photos at 1280 px).
    """
    chosen = detection_preset(preset)
    if kind == "haar":
        return HaarDetector.from_preset(chosen, **options)
    if kind == "dnn":
        options.setdefault("max_side", max(_DNN_MIN_SIDE, chosen.max_side or _DNN_PHOTO_SIDE))
        return DnnDetector(model_path, **options)
    raise ValueError(f"unknown detector kind {kind!r}; known: {', '.join(DETECTOR_KINDS)}")
