"""Draw a ``FrameResult`` onto a frame: coloured boxes, label chips, top-3 confidence bars, and a HUD.

Kept apart from the pipeline (as supervision keeps annotators apart from detections) so the same result can be
drawn, tabulated or sent elsewhere. Only cheap OpenCV primitives are used (a few ms at 640x480) and every
position is clamped to the frame, so faces touching the border never raise.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fer_core.labels import emotion_color_bgr
from fer_core.pipeline import FaceResult, FrameResult

__all__ = ["annotate_frame", "draw_hud", "face_caption"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_GREY = emotion_color_bgr("uncertain")
_BAR_WIDTH = 60
_BAR_HEIGHT = 7


def face_caption(face: FaceResult) -> str:
    """Chip text such as "happy 87% #3" (confidence and track id only when known)."""
    parts = [face.display_label]
    if not face.too_small:
        parts.append(f"{face.confidence:.0%}")
    if face.track_id is not None:
        parts.append(f"#{face.track_id}")
    return " ".join(parts)


def _face_color(face: FaceResult) -> tuple[int, int, int]:
    if face.too_small or face.uncertain:
        return _GREY
    return emotion_color_bgr(str(face.label))


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light chips, white on dark ones (Rec. 601 luma of the BGR colour)."""
    b, g, r = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def _dashed_rectangle(frame: np.ndarray, box: Sequence[int], color: tuple[int, int, int], dash: int = 6) -> None:
    x1, y1, x2, y2 = box
    for x in range(x1, x2, 2 * dash):
        cv2.line(frame, (x, y1), (min(x + dash, x2), y1), color, 1)
        cv2.line(frame, (x, y2 - 1), (min(x + dash, x2), y2 - 1), color, 1)
    for y in range(y1, y2, 2 * dash):
        cv2.line(frame, (x1, y), (x1, min(y + dash, y2)), color, 1)
        cv2.line(frame, (x2 - 1, y), (x2 - 1, min(y + dash, y2)), color, 1)


def _draw_chip(frame: np.ndarray, text: str, box: Sequence[int], color: tuple[int, int, int], scale: float) -> None:
    """A filled label chip above the box, or just inside its top edge when the box touches the frame top."""
    height, width = frame.shape[:2]
    (text_w, text_h), baseline = cv2.getTextSize(text, _FONT, scale, 1)
    chip_h = text_h + baseline + 4
    x = _clamp(box[0], 0, max(0, width - text_w - 4))
    y_top = box[1] - chip_h if box[1] - chip_h >= 0 else box[1]
    y_top = _clamp(y_top, 0, max(0, height - chip_h))
    cv2.rectangle(frame, (x, y_top), (x + text_w + 4, y_top + chip_h), color, cv2.FILLED)
    cv2.putText(frame, text, (x + 2, y_top + text_h + 2), _FONT, scale, _text_color(color), 1, cv2.LINE_AA)


def _outlined_text(frame: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """White text with a black outline: readable on any background without drawing a backing box."""
    cv2.putText(frame, text, origin, _FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, text, origin, _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _draw_bars(frame: np.ndarray, face: FaceResult, labels: Sequence[str], scale: float) -> None:
    """Top-3 classes as small horizontal bars below the box (inside it when the box reaches the bottom)."""
    height, width = frame.shape[:2]
    top = np.argsort(-face.probabilities)[:3]
    rows_h = 3 * (_BAR_HEIGHT + 3)
    y = face.box[3] + 3 if face.box[3] + 3 + rows_h <= height else face.box[3] - rows_h - 2
    y = _clamp(y, 0, max(0, height - rows_h))
    x = _clamp(face.box[0], 0, max(0, width - _BAR_WIDTH - 70))
    for class_id in top:
        name, p = labels[class_id], float(face.probabilities[class_id])
        cv2.rectangle(frame, (x, y), (x + _BAR_WIDTH, y + _BAR_HEIGHT), (40, 40, 40), cv2.FILLED)
        cv2.rectangle(frame, (x, y), (x + round(_BAR_WIDTH * p), y + _BAR_HEIGHT), emotion_color_bgr(name), cv2.FILLED)
        _outlined_text(frame, f"{name} {p:.0%}", (x + _BAR_WIDTH + 3, y + _BAR_HEIGHT), scale * 0.8)
        y += _BAR_HEIGHT + 3


def _draw_face(frame: np.ndarray, face: FaceResult, labels: Sequence[str], show_bars: bool) -> None:
    color = _face_color(face)
    scale = 0.4 if max(frame.shape[:2]) <= 640 else 0.6
    x1, y1, x2, y2 = face.box
    if face.too_small:
        _dashed_rectangle(frame, face.box, color)
    else:
        thickness = 2 if min(frame.shape[:2]) >= 240 else 1
        cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), color, thickness)
    _draw_chip(frame, face_caption(face), face.box, color, scale)
    if show_bars and not face.too_small:
        _draw_bars(frame, face, labels, scale)


def annotate_frame(frame_bgr: np.ndarray, result: FrameResult, *, show_bars: bool = True) -> np.ndarray:
    """Return a copy of ``frame_bgr`` with every face of ``result`` drawn on it (grey frames become BGR)."""
    frame = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR) if frame_bgr.ndim == 2 else frame_bgr.copy()
    for face in result.faces:
        _draw_face(frame, face, result.labels, show_bars)
    return frame


def draw_hud(frame: np.ndarray, text_lines: Sequence[str]) -> np.ndarray:
    """Draw lines such as "30.2 FPS" / "latency 21 ms" top-left on a dark backing, in place; returns ``frame``."""
    if not text_lines:
        return frame
    scale, pad, line_h = 0.45, 4, 16
    width = max(cv2.getTextSize(line, _FONT, scale, 1)[0][0] for line in text_lines) + 2 * pad
    height = line_h * len(text_lines) + pad
    region = frame[:height, :width]
    region[:] = (region * 0.4).astype(frame.dtype)  # darken instead of a solid box so the scene stays visible
    for i, line in enumerate(text_lines):
        cv2.putText(frame, line, (pad, line_h * (i + 1) - 2), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return frame
