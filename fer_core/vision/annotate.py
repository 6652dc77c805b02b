"""Draw a ``FrameResult`` onto a frame: coloured boxes, label chips, top-3 confidence bars, and a HUD.

Kept apart from the pipeline (as supervision keeps annotators apart from detections) so the same result can be
drawn, tabulated or sent elsewhere. Only cheap OpenCV primitives are used (a few ms at 640x480) and every
position is clamped to the frame, so faces touching the border never raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from fer_core.labels import emotion_color_bgr
from fer_core.vision.pipeline import FaceResult, FrameResult

__all__ = ["Style", "annotate_frame", "draw_hud", "face_caption"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_GREY = emotion_color_bgr("uncertain")
# Sizes at the reference frame (640 px on the longest side); larger frames scale every one of them, so labels keep
# the same share of the picture when a 1536 px photo is shown at the width of a 640 px webcam frame.
_REFERENCE_SIDE = 640


@dataclass(frozen=True)
class Style:
    """Font scale, stroke widths and bar sizes for one frame size."""

    font_scale: float
    text_thickness: int
    box_thickness: int
    bar_width: int
    bar_height: int
    gap: int

    @classmethod
    def for_frame(cls, shape: Sequence[int]) -> Style:
        """The style for a frame of ``shape`` (height, width, ...): 640 px frames get the webcam sizes."""
        unit = max(1.0, max(shape[:2]) / _REFERENCE_SIDE)
        return cls(
            font_scale=0.4 * unit,
            text_thickness=max(1, round(unit)),
            box_thickness=max(1, round(2 * unit)) if min(shape[:2]) >= 240 else 1,
            bar_width=round(60 * unit),
            bar_height=round(7 * unit),
            gap=max(2, round(3 * unit)),
        )


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


def _dashed_rectangle(
    frame: np.ndarray, box: Sequence[int], color: tuple[int, int, int], thickness: int, dash: int
) -> None:
    x1, y1, x2, y2 = box
    for x in range(x1, x2, 2 * dash):
        cv2.line(frame, (x, y1), (min(x + dash, x2), y1), color, thickness)
        cv2.line(frame, (x, y2 - 1), (min(x + dash, x2), y2 - 1), color, thickness)
    for y in range(y1, y2, 2 * dash):
        cv2.line(frame, (x1, y), (x1, min(y + dash, y2)), color, thickness)
        cv2.line(frame, (x2 - 1, y), (x2 - 1, min(y + dash, y2)), color, thickness)


def _draw_chip(frame: np.ndarray, text: str, box: Sequence[int], color: tuple[int, int, int], style: Style) -> None:
    """A filled label chip above the box, or just inside its top edge when the box touches the frame top."""
    height, width = frame.shape[:2]
    scale, thickness, pad = style.font_scale, style.text_thickness, style.gap
    (text_w, text_h), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    chip_h = text_h + baseline + 2 * pad
    chip_w = text_w + 2 * pad
    x = _clamp(box[0], 0, max(0, width - chip_w))
    y_top = box[1] - chip_h if box[1] - chip_h >= 0 else box[1]
    y_top = _clamp(y_top, 0, max(0, height - chip_h))
    cv2.rectangle(frame, (x, y_top), (x + chip_w, y_top + chip_h), color, cv2.FILLED)
    origin = (x + pad, y_top + text_h + pad)
    cv2.putText(frame, text, origin, _FONT, scale, _text_color(color), thickness, cv2.LINE_AA)


def _outlined_text(frame: np.ndarray, text: str, origin: tuple[int, int], scale: float, thickness: int) -> None:
    """White text with a black outline: readable on any background without drawing a backing box."""
    cv2.putText(frame, text, origin, _FONT, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(frame, text, origin, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def _draw_bars(frame: np.ndarray, face: FaceResult, labels: Sequence[str], style: Style) -> None:
    """Top-3 classes as small horizontal bars below the box (inside it when the box reaches the bottom)."""
    if face.probabilities is None:  # a face too small to classify has no bars
        return
    height, width = frame.shape[:2]
    bar_w, bar_h, gap = style.bar_width, style.bar_height, style.gap
    top = np.argsort(-face.probabilities)[:3]
    rows_h = 3 * (bar_h + gap)
    y = face.box[3] + gap if face.box[3] + gap + rows_h <= height else face.box[3] - rows_h - gap
    y = _clamp(y, 0, max(0, height - rows_h))
    x = _clamp(face.box[0], 0, max(0, width - 2 * bar_w - 10 * gap))
    text_scale = style.font_scale * 0.8
    for class_id in top:
        name, p = labels[class_id], float(face.probabilities[class_id])
        cv2.rectangle(frame, (x, y), (x + bar_w, y + bar_h), (40, 40, 40), cv2.FILLED)
        cv2.rectangle(frame, (x, y), (x + round(bar_w * p), y + bar_h), emotion_color_bgr(name), cv2.FILLED)
        _outlined_text(frame, f"{name} {p:.0%}", (x + bar_w + gap, y + bar_h), text_scale, style.text_thickness)
        y += bar_h + gap


def _draw_face(frame: np.ndarray, face: FaceResult, labels: Sequence[str], show_bars: bool, style: Style) -> None:
    color = _face_color(face)
    x1, y1, x2, y2 = face.box
    if face.too_small:
        _dashed_rectangle(frame, face.box, color, style.text_thickness, dash=2 * style.gap)
    else:
        cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), color, style.box_thickness)
    _draw_chip(frame, face_caption(face), face.box, color, style)
    if show_bars and not face.too_small:
        _draw_bars(frame, face, labels, style)


def annotate_frame(frame_bgr: np.ndarray, result: FrameResult, *, show_bars: bool = True) -> np.ndarray:
    """Return a copy of ``frame_bgr`` with every face of ``result`` drawn on it (grey frames become BGR).

    Text, strokes and bars grow with the frame (``Style.for_frame``), so they stay readable on large photos.
    """
    frame = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR) if frame_bgr.ndim == 2 else frame_bgr.copy()
    style = Style.for_frame(frame.shape)
    for face in result.faces:
        _draw_face(frame, face, result.labels, show_bars, style)
    return frame


def draw_hud(frame: np.ndarray, text_lines: Sequence[str]) -> np.ndarray:
    """Draw lines such as "30.2 FPS" / "latency 21 ms" top-left on a dark backing, in place; returns ``frame``."""
    if not text_lines:
        return frame
    style = Style.for_frame(frame.shape)
    scale, thickness, pad = style.font_scale * 1.125, style.text_thickness, style.gap + 1
    line_h = round(16 * style.font_scale / 0.4)
    width = max(cv2.getTextSize(line, _FONT, scale, thickness)[0][0] for line in text_lines) + 2 * pad
    height = line_h * len(text_lines) + pad
    region = frame[:height, :width]
    region[:] = (region * 0.4).astype(frame.dtype)  # darken instead of a solid box so the scene stays visible
    for i, line in enumerate(text_lines):
        origin = (pad, line_h * (i + 1) - 2)
        cv2.putText(frame, line, origin, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return frame
