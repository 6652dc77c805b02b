"""Annotator: draws every kind of face anywhere in the frame, never fails, leaves the input untouched."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fer_core.labels import emotion_color_bgr
from fer_core.vision.annotate import Style, annotate_frame, draw_hud, face_caption
from fer_core.vision.pipeline import FaceResult, FrameResult

LABELS = ("happy", "sad", "neutral")
WIDTH, HEIGHT = 640, 480


def _face(box, *, probs=(0.8, 0.15, 0.05), track_id: int | None = 3, too_small=False, threshold=0.5) -> FaceResult:
    if too_small:
        return FaceResult(box, 0.9, track_id, None, None, None, None, 0.0, uncertain=False, too_small=True)
    p = np.array(probs, dtype=np.float32)
    top = int(np.argmax(p))
    return FaceResult(box, 0.9, track_id, p, p, LABELS[top], top, float(p[top]), float(p[top]) < threshold, False)


def _result(*faces: FaceResult, size=(WIDTH, HEIGHT)) -> FrameResult:
    return FrameResult(faces, LABELS, 0, None, {"total": 1.0}, size)


BORDER_BOXES = {
    "top-left": (0, 0, 60, 60),
    "top-right": (WIDTH - 50, 0, WIDTH, 50),
    "bottom-left": (0, HEIGHT - 40, 40, HEIGHT),
    "bottom-right": (WIDTH - 30, HEIGHT - 30, WIDTH, HEIGHT),
    "whole-frame": (0, 0, WIDTH, HEIGHT),
    "one-pixel": (WIDTH - 1, HEIGHT - 1, WIDTH, HEIGHT),
    "centre": (250, 150, 400, 300),
}


@pytest.mark.parametrize("box", BORDER_BOXES.values(), ids=BORDER_BOXES.keys())
@pytest.mark.parametrize("kind", ["confident", "uncertain", "too_small"])
def test_annotate_draws_at_any_position_without_failing(box, kind: str) -> None:
    face = _face(box, too_small=kind == "too_small", threshold=0.9 if kind == "uncertain" else 0.5)
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    drawn = annotate_frame(frame, _result(face))
    assert drawn.shape == frame.shape and drawn.dtype == np.uint8
    assert drawn is not frame and not frame.any()  # a copy; the input is untouched
    assert drawn.any()


def test_box_is_drawn_in_the_emotion_colour() -> None:
    face = _face((100, 100, 200, 200))
    drawn = annotate_frame(np.zeros((HEIGHT, WIDTH, 3), np.uint8), _result(face), show_bars=False)
    assert tuple(drawn[150, 100]) == emotion_color_bgr("happy")  # left edge of the box
    assert not drawn[150, 150].any()  # the face itself is not painted over


def test_uncertain_and_too_small_faces_are_grey() -> None:
    grey = emotion_color_bgr("uncertain")
    uncertain = _face((100, 100, 200, 200), threshold=0.9)
    small = _face((300, 300, 316, 316), too_small=True)
    drawn = annotate_frame(np.zeros((HEIGHT, WIDTH, 3), np.uint8), _result(uncertain, small), show_bars=False)
    assert tuple(drawn[150, 100]) == grey
    assert tuple(drawn[302, 300]) == grey  # first dash of the thin dashed box


@pytest.mark.parametrize(
    ("face", "caption"),
    [
        (_face((0, 0, 10, 10)), "happy 80% #3"),
        (_face((0, 0, 10, 10), threshold=0.9), "uncertain 80% #3"),
        (_face((0, 0, 10, 10), too_small=True), "too small #3"),
        (_face((0, 0, 10, 10), track_id=None, probs=(0.1, 0.2, 0.7)), "neutral 70%"),
    ],
)
def test_face_caption(face: FaceResult, caption: str) -> None:
    assert face_caption(face) == caption


def test_bars_add_pixels_below_the_box() -> None:
    face = _face((100, 100, 200, 200))
    blank = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    with_bars = annotate_frame(blank, _result(face), show_bars=True)
    without = annotate_frame(blank, _result(face), show_bars=False)
    assert with_bars[205:240].any() and not without[205:240].any()


@pytest.mark.parametrize("frame", [np.zeros((HEIGHT, WIDTH), np.uint8), np.zeros((HEIGHT, WIDTH, 3), np.uint8)])
def test_empty_result_returns_an_unchanged_bgr_copy(frame: np.ndarray) -> None:
    drawn = annotate_frame(frame, _result())
    assert drawn.shape == (HEIGHT, WIDTH, 3) and not drawn.any()


def test_annotate_is_fast_at_640x480() -> None:
    faces = [_face((40 + 150 * i, 100, 160 + 150 * i, 220), track_id=i) for i in range(4)]
    frame, result = np.zeros((HEIGHT, WIDTH, 3), np.uint8), _result(*faces)
    annotate_frame(frame, result)
    runs = []
    for _ in range(10):
        start = time.perf_counter()
        annotate_frame(frame, result)
        runs.append(time.perf_counter() - start)
    assert sorted(runs)[len(runs) // 2] < 0.02  # a few ms in practice; generous for a busy machine


@pytest.mark.parametrize("lines", [["30.0 FPS"], ["30.0 FPS", "latency 21 ms", "faces 3"]])
def test_draw_hud_draws_top_left_in_place(lines: list[str]) -> None:
    frame = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    out = draw_hud(frame, lines)
    assert out is frame
    assert (frame[: 16 * len(lines), :40] != 128).any()
    assert (frame[HEIGHT // 2 :, WIDTH // 2 :] == 128).all()


def test_draw_hud_without_lines_leaves_the_frame() -> None:
    frame = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    assert (draw_hud(frame, []) == 128).all()


@pytest.mark.parametrize(("shape", "font_scale"), [((480, 640), 0.4), ((240, 320), 0.4), ((1152, 1536), 0.96)])
def test_style_grows_with_the_frame_and_never_shrinks_below_webcam_size(shape, font_scale) -> None:
    assert Style.for_frame(shape).font_scale == pytest.approx(font_scale)


def _painted_rows_above(drawn: np.ndarray, box) -> int:
    """Rows above the box that the label chip painted."""
    x1, y1 = box[0], box[1]
    return int(drawn[:y1, x1 : x1 + 20].any(axis=(1, 2)).sum())


def test_labels_keep_their_share_of_a_large_photo() -> None:
    """On a 1536 px photo the chip is as tall, relative to the image, as on a 640 px frame."""
    small_box, large_box = (200, 200, 300, 300), (480, 480, 720, 720)
    small = annotate_frame(np.zeros((480, 640, 3), np.uint8), _result(_face(small_box)))
    large = annotate_frame(
        np.zeros((1152, 1536, 3), np.uint8), _result(_face(large_box), size=(1536, 1152)), show_bars=False
    )
    ratio = _painted_rows_above(large, large_box) / _painted_rows_above(small, small_box)
    assert 2.0 <= ratio <= 3.0  # the image is 2.4 times larger
