"""Frame -> faces -> one batched classification -> tracks with smoothed probabilities -> validated results.

The pipeline holds no drawing code (see ``fer_core.vision.annotate``) and no model code: it takes any ``classifier``
with ``labels`` and ``predict(list_of_crops) -> (N, C) probabilities`` (``fer_core.serving.classifier.Classifier``) and
any detector with ``detect(frame) -> (boxes, scores)`` (``fer_core.vision.detect``). Results are frozen dataclasses
checked on creation, so a bad box or a non-distribution fails where it is made, not three modules later in a plot.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Protocol

import numpy as np
import pandas as pd

from fer_core.labels import prob_column
from fer_core.vision.detect import FaceDetector
from fer_core.vision.tracking import IoUTracker, ProbabilitySmoother

__all__ = [
    "FACE_COLUMNS",
    "Box",
    "ClassifierLike",
    "FacePipeline",
    "FaceResult",
    "FrameResult",
    "PipelineSettings",
    "classify_whole_image",
    "crop_face",
    "expand_box",
    "face_columns",
    "frames_table",
    "json_records",
    "reading_order",
]

Box = tuple[int, int, int, int]
UNCERTAIN = "uncertain"
TOO_SMALL = "too small"
TIMING_KEYS = ("detect", "classify", "track", "total")
# The one face-table schema (image table, video and live timelines, CLI JSON lines), before the p_<label> columns.
# ``label`` is always the most probable class (of the smoothed probabilities); ``shown_as`` is what a viewer saw,
# by the one rule of ``FaceResult.display_label``. ``face`` numbers the faces of a frame from 1 in result order
# (reading order for a photo).
FACE_COLUMNS = (
    "frame",
    "time_s",
    "face",
    "track_id",
    "x1",
    "y1",
    "x2",
    "y2",
    "detector_score",
    "label",
    "shown_as",
    "confidence",
    "uncertain",
    "too_small",
)


class ClassifierLike(Protocol):
    """The part of ``fer_core.serving.classifier.Classifier`` the pipeline uses."""

    labels: tuple[str, ...]

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class PipelineSettings:
    """Knobs of the live pipeline; every one can change between frames via ``FacePipeline.update_settings``.

    ``crop_margin`` widens each detected box by this fraction of its size on every side before classifying. The
    Haar detector's box is already framed like a FER2013 crop (median side 1.00 of the dataset's crop, live and
    photo presets), so the default adds nothing: on the PrivateTest faces the detector found the default model
    scored 70.3 % at margin 0 and 66.0 % at the former 0.15, whose crop is 1.28 times looser than the faces it
    learned from (``python scripts/bench_crop_margin.py``). Another detector or a model trained on other crops
    may want another margin; it is a setting of every page.
    ``smoothing`` is the EMA weight of the past (0 = off). ``max_faces`` bounds the classification cost per frame
    by keeping the highest-scoring detections.
    """

    crop_margin: float = 0.0
    smoothing: float = 0.6
    confidence_threshold: float = 0.4
    min_face_px: int = 24
    iou_threshold: float = 0.3
    max_missed: int = 5
    max_faces: int = 10

    def __post_init__(self) -> None:
        checks = {
            "crop_margin must be in [0, 1]": 0.0 <= self.crop_margin <= 1.0,
            "smoothing must be in [0, 1)": 0.0 <= self.smoothing < 1.0,
            "confidence_threshold must be in [0, 1]": 0.0 <= self.confidence_threshold <= 1.0,
            "min_face_px must be >= 1": self.min_face_px >= 1,
            "iou_threshold must be in (0, 1]": 0.0 < self.iou_threshold <= 1.0,
            "max_missed must be >= 0": self.max_missed >= 0,
            "max_faces must be >= 1": self.max_faces >= 1,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid PipelineSettings ({self}): {'; '.join(failed)}")


def _readonly(values: np.ndarray | None) -> np.ndarray | None:
    if values is None:
        return None
    array = np.array(values, dtype=np.float32)
    array.setflags(write=False)
    return array


def _check_distribution(name: str, values: np.ndarray) -> None:
    if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{name} must be a 1-D array of finite non-negative numbers, got {values!r}")
    if not math.isclose(float(values.sum()), 1.0, abs_tol=1e-3):
        raise ValueError(f"{name} must sum to 1, got {float(values.sum()):.4f}")


@dataclass(frozen=True, eq=False)
class FaceResult:
    """One face in one frame. ``probabilities`` are the smoothed ones; both are ``None`` when ``too_small``.

    ``label`` is the most probable class even when ``uncertain``; what a viewer should see is ``display_label``
    ("uncertain" below the confidence threshold, so a guess is never shown as a label).
    """

    box: Box
    detector_score: float
    track_id: int | None
    probabilities: np.ndarray | None
    raw_probabilities: np.ndarray | None
    label: str | None
    label_id: int | None
    confidence: float
    uncertain: bool
    too_small: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", tuple(int(v) for v in self.box))
        object.__setattr__(self, "probabilities", _readonly(self.probabilities))
        object.__setattr__(self, "raw_probabilities", _readonly(self.raw_probabilities))
        x1, y1, x2, y2 = self.box
        if not (0 <= x1 < x2 and 0 <= y1 < y2):
            raise ValueError(f"box must satisfy 0 <= x1 < x2 and 0 <= y1 < y2, got {self.box}")
        if not 0.0 <= self.detector_score <= 1.0:
            raise ValueError(f"detector_score must be in [0, 1], got {self.detector_score}")
        if self.too_small:
            self._check_unclassified()
        else:
            self._check_classified()

    def _check_unclassified(self) -> None:
        fields = (self.probabilities, self.raw_probabilities, self.label, self.label_id)
        if any(v is not None for v in fields) or self.uncertain or self.confidence != 0.0:
            raise ValueError("a too-small face carries no probabilities, label or confidence")

    def _check_classified(self) -> None:
        if self.probabilities is None or self.raw_probabilities is None or self.label is None:
            raise ValueError("a classified face needs probabilities, raw_probabilities and a label")
        _check_distribution("probabilities", self.probabilities)
        _check_distribution("raw_probabilities", self.raw_probabilities)
        if self.raw_probabilities.shape != self.probabilities.shape:
            raise ValueError("probabilities and raw_probabilities must have the same length")
        if self.label_id is None or not 0 <= self.label_id < len(self.probabilities):
            raise ValueError(f"label_id {self.label_id} out of range for {len(self.probabilities)} classes")
        if not math.isclose(self.confidence, float(self.probabilities[self.label_id]), abs_tol=1e-5):
            raise ValueError("confidence must be the probability of label_id")

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def display_label(self) -> str:
        """What to show: the label, or "uncertain" / "too small"."""
        if self.too_small:
            return TOO_SMALL
        return UNCERTAIN if self.uncertain else str(self.label)


@dataclass(frozen=True, eq=False)
class FrameResult:
    """All faces of one frame, the label set they refer to, and per-stage timings in milliseconds."""

    faces: tuple[FaceResult, ...]
    labels: tuple[str, ...]
    frame_index: int
    timestamp: float | None
    timings_ms: dict[str, float]
    frame_size: tuple[int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "faces", tuple(self.faces))
        object.__setattr__(self, "labels", tuple(self.labels))
        width, height = self.frame_size
        if width <= 0 or height <= 0:
            raise ValueError(f"frame_size must be positive (width, height), got {self.frame_size}")
        if any(v < 0 or not math.isfinite(v) for v in self.timings_ms.values()):
            raise ValueError(f"timings must be finite and non-negative, got {self.timings_ms}")
        for face in self.faces:
            self._check_face(face, width, height)

    def _check_face(self, face: FaceResult, width: int, height: int) -> None:
        if face.box[2] > width or face.box[3] > height:
            raise ValueError(f"box {face.box} reaches outside the {width}x{height} frame")
        if face.too_small:
            return
        if face.probabilities is None or face.label_id is None:
            raise ValueError(f"face at {face.box} is classified but has no probabilities or label id")
        if len(face.probabilities) != len(self.labels):
            raise ValueError(f"{len(face.probabilities)} probabilities for {len(self.labels)} labels")
        if face.label != self.labels[face.label_id]:
            raise ValueError(f"label {face.label!r} is not labels[{face.label_id}] = {self.labels[face.label_id]!r}")

    def with_faces(self, faces: Sequence[FaceResult]) -> FrameResult:
        """The same frame holding only ``faces`` (the live timeline keeps the main face of each frame)."""
        return dataclasses.replace(self, faces=tuple(faces))

    # ------------------------------------------------------------------------------------------ columns

    @property
    def boxes(self) -> np.ndarray:
        """``(N, 4)`` int boxes ``x1, y1, x2, y2``, one row per face."""
        return np.array([face.box for face in self.faces], dtype=np.int64).reshape(-1, 4)

    @property
    def probabilities(self) -> np.ndarray:
        """``(N, C)`` smoothed probabilities in label order; NaN rows for too-small faces."""
        rows = [face.probabilities if face.probabilities is not None else _NAN_ROW for face in self.faces]
        return np.array([np.broadcast_to(row, len(self.labels)) for row in rows], np.float32).reshape(
            -1, len(self.labels)
        )

    def columns(self, *, empty_row: bool = False) -> dict[str, list]:
        """The faces as columns of :func:`face_columns` (the one face-table schema), one entry per face.

        ``empty_row``: a frame without faces still gets one entry (``frame`` and ``time_s`` set, the rest NaN), so
        a video timeline lists every analysed frame.
        """
        if empty_row and not self.faces:
            names = face_columns(self.labels)
            return {"frame": [self.frame_index], "time_s": [self.timestamp], **{k: [math.nan] for k in names[2:]}}
        faces, boxes, probs = self.faces, self.boxes, self.probabilities
        columns: dict[str, list] = {
            "frame": [self.frame_index] * len(faces),
            "time_s": [self.timestamp] * len(faces),
            "face": list(range(1, len(faces) + 1)),
            "track_id": [face.track_id for face in faces],
            **{key: boxes[:, i].tolist() for i, key in enumerate(("x1", "y1", "x2", "y2"))},
            "detector_score": [face.detector_score for face in faces],
            "label": [face.label for face in faces],
            "shown_as": [face.display_label for face in faces],
            "confidence": [face.confidence for face in faces],
            "uncertain": [face.uncertain for face in faces],
            "too_small": [face.too_small for face in faces],
        }
        columns.update({prob_column(name): probs[:, i].tolist() for i, name in enumerate(self.labels)})
        return columns

    def to_frame(self, *, empty_row: bool = False) -> pd.DataFrame:
        """One row per face in the one face-table schema (see :meth:`columns`)."""
        return pd.DataFrame(self.columns(empty_row=empty_row), columns=face_columns(self.labels))

    def to_records(self) -> list[dict]:
        """The rows of :meth:`to_frame` as plain Python values (the CLI's JSON lines)."""
        columns = self.columns()
        return [{key: values[i] for key, values in columns.items()} for i in range(len(self.faces))]


_NAN_ROW = np.array([math.nan], np.float32)


def face_columns(labels: Sequence[str]) -> list[str]:
    """Columns of a face table for a label set, in order: :data:`FACE_COLUMNS`, then ``p_<label>`` per class."""
    return [*FACE_COLUMNS, *(prob_column(name) for name in labels)]


def json_records(table: pd.DataFrame) -> list[dict]:
    """The rows of a face table as plain JSON-ready dicts (missing values, e.g. too-small faces' probabilities,
    as ``None``), for the CLI's JSON lines and the Image page's JSON download."""
    plain = table.astype(object)
    return plain.where(plain.notna(), None).to_dict("records")


def frames_table(results: Sequence[FrameResult], labels: Sequence[str], *, empty_rows: bool = False) -> pd.DataFrame:
    """The faces of many frames (a video or live timeline) as one face table; frames of other labels are skipped."""
    names = face_columns(labels)
    merged: dict[str, list] = {name: [] for name in names}
    for result in results:
        if tuple(result.labels) == tuple(labels):
            for name, values in result.columns(empty_row=empty_rows).items():
                merged[name] += values
    return pd.DataFrame(merged, columns=names)


def expand_box(box: Sequence[int], margin: float, width: int, height: int) -> Box:
    """Grow ``box`` by ``margin`` times its size on every side, clipped to a ``width`` x ``height`` frame."""
    x1, y1, x2, y2 = (int(v) for v in box)
    dx, dy = round((x2 - x1) * margin), round((y2 - y1) * margin)
    return (max(0, x1 - dx), max(0, y1 - dy), min(width, x2 + dx), min(height, y2 + dy))


def crop_face(frame: np.ndarray, box: Sequence[int], margin: float) -> np.ndarray:
    """The face region with margin (a view into ``frame``, no copy)."""
    x1, y1, x2, y2 = expand_box(box, margin, frame.shape[1], frame.shape[0])
    return frame[y1:y2, x1:x2]


def _predict(classifier: ClassifierLike, crops: list[np.ndarray]) -> np.ndarray:
    """One ``predict`` call for all crops, with its output shape checked against the label set."""
    n_classes = len(classifier.labels)
    if not crops:
        return np.zeros((0, n_classes), dtype=np.float32)
    probs = np.asarray(classifier.predict(crops), dtype=np.float32)
    if probs.shape != (len(crops), n_classes):
        raise ValueError(f"classifier returned shape {probs.shape}, expected {(len(crops), n_classes)}")
    return probs


def _classified_face(
    box: Box,
    score: float,
    track_id: int | None,
    raw: np.ndarray,
    smoothed: np.ndarray,
    labels: tuple[str, ...],
    threshold: float,
) -> FaceResult:
    label_id = int(np.argmax(smoothed))
    confidence = float(smoothed[label_id])
    return FaceResult(
        box,
        score,
        track_id,
        smoothed,
        raw,
        labels[label_id],
        label_id,
        confidence,
        uncertain=confidence < threshold,
        too_small=False,
    )


def _too_small_face(box: Box, score: float, track_id: int | None) -> FaceResult:
    return FaceResult(box, score, track_id, None, None, None, None, 0.0, uncertain=False, too_small=True)


def reading_order(boxes: np.ndarray) -> np.ndarray:
    """Indices that put face boxes in reading order: rows top to bottom, each row left to right.

    A face joins the current row when its vertical centre is within half the row's first face height of that
    face's centre, so a group photo's back row is numbered before its front row, whatever the small height
    differences inside a row.
    """
    boxes = np.asarray(boxes).reshape(-1, 4)
    centres = (boxes[:, 1] + boxes[:, 3]) / 2.0
    heights = boxes[:, 3] - boxes[:, 1]
    order: list[int] = []
    remaining = list(np.argsort(centres, kind="stable"))
    while remaining:
        first = remaining[0]
        row = [i for i in remaining if abs(centres[i] - centres[first]) <= heights[first] / 2.0]
        order += sorted(row, key=lambda i: (boxes[i, 0], centres[i]))
        remaining = [i for i in remaining if i not in row]
    return np.array(order, dtype=np.int64)


def _valid_detections(boxes: np.ndarray, scores: np.ndarray, max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop empty boxes, keep the ``max_faces`` best by score, then put them in reading order for stable output."""
    boxes = np.asarray(boxes, dtype=np.int32).reshape(-1, 4)
    scores = np.clip(np.asarray(scores, dtype=np.float32).reshape(-1), 0.0, 1.0)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores = boxes[keep], scores[keep]
    if len(boxes) > max_faces:
        best = np.argsort(-scores, kind="stable")[:max_faces]
        boxes, scores = boxes[best], scores[best]
    order = reading_order(boxes)
    return boxes[order], scores[order]


class FacePipeline:
    """Detect, classify in one batch, track, smooth. ``process`` is serialised by a lock, so a WebRTC callback
    thread and a settings change from the UI thread never see half-updated state."""

    def __init__(
        self, classifier: ClassifierLike, detector: FaceDetector, settings: PipelineSettings | None = None
    ) -> None:
        self.classifier = classifier
        self.detector = detector
        self.settings = settings or PipelineSettings()
        self.labels = tuple(classifier.labels)
        self._lock = threading.Lock()
        self._tracker = IoUTracker(self.settings.iou_threshold, self.settings.max_missed)
        self._smoother = ProbabilitySmoother(self.settings.smoothing)
        self._frame_index = 0

    def update_settings(self, **changes) -> PipelineSettings:
        """Change settings between frames (validated); tracks and their history are kept."""
        with self._lock:
            self.settings = dataclasses.replace(self.settings, **changes)
            self._tracker.iou_threshold = self.settings.iou_threshold
            self._tracker.max_missed = self.settings.max_missed
            self._smoother.smoothing = self.settings.smoothing
            return self.settings

    def reset(self) -> None:
        """Forget tracks, smoothing history and the frame counter (e.g. before a new video)."""
        with self._lock:
            self._tracker.reset()
            self._smoother.reset()
            self._frame_index = 0

    def process(self, frame_bgr: np.ndarray, timestamp: float | None = None) -> FrameResult:
        """Run every stage on one frame and return its validated result."""
        with self._lock:
            result = self._process_locked(frame_bgr, timestamp)
            self._frame_index += 1
            return result

    def _process_locked(self, frame: np.ndarray, timestamp: float | None) -> FrameResult:
        settings = self.settings
        start = perf_counter()
        boxes, scores = _valid_detections(*self.detector.detect(frame), settings.max_faces)
        detected = perf_counter()
        sizes = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        classify = sizes >= settings.min_face_px
        crops = [crop_face(frame, box, settings.crop_margin) for box in boxes[classify]]
        probs = _predict(self.classifier, crops)
        classified = perf_counter()
        faces = self._track_and_smooth(boxes, scores, classify, probs)
        tracked = perf_counter()
        timings = {
            "detect": (detected - start) * 1e3,
            "classify": (classified - detected) * 1e3,
            "track": (tracked - classified) * 1e3,
            "total": (tracked - start) * 1e3,
        }
        size = (frame.shape[1], frame.shape[0])
        return FrameResult(tuple(faces), self.labels, self._frame_index, timestamp, timings, size)

    def _track_and_smooth(
        self, boxes: np.ndarray, scores: np.ndarray, classify: np.ndarray, probs: np.ndarray
    ) -> list[FaceResult]:
        track_ids = self._tracker.update(boxes)
        self._smoother.keep_only(self._tracker.tracks)
        faces, next_prob = [], iter(probs)
        for box, score, track_id, classified in zip(boxes, scores, track_ids, classify, strict=True):
            box_t = (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
            if not classified:
                faces.append(_too_small_face(box_t, float(score), track_id))
                continue
            raw = next(next_prob)
            smoothed = self._smoother.update(track_id, raw)
            faces.append(
                _classified_face(
                    box_t, float(score), track_id, raw, smoothed, self.labels, self.settings.confidence_threshold
                )
            )
        return faces


def classify_whole_image(
    classifier: ClassifierLike,
    image_bgr: np.ndarray,
    *,
    confidence_threshold: float = PipelineSettings.confidence_threshold,
) -> FrameResult:
    """Classify the whole image as one face (for a pre-cropped face, or when detection finds nothing)."""
    height, width = image_bgr.shape[:2]
    start = perf_counter()
    probs = _predict(classifier, [image_bgr])[0]
    elapsed = (perf_counter() - start) * 1e3
    labels = tuple(classifier.labels)
    face = _classified_face((0, 0, width, height), 1.0, None, probs, probs, labels, confidence_threshold)
    timings = {"detect": 0.0, "classify": elapsed, "track": 0.0, "total": elapsed}
    return FrameResult((face,), labels, 0, None, timings, (width, height))
