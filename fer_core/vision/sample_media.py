"""Sample faces for tests, benchmarks and the demo, built only from images that ship with a dependency.

Nothing is downloaded: the photo is scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain) and the extra
people come from scikit-image's bundled ``lfw_subset`` (25x25 Labeled Faces in the Wild crops). Frames are uint8 BGR
like everything else in ``fer_core``; the OpenCV Haar cascade finds every pasted face at the default settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "ASTRONAUT_FACE_BOX",
    "chromium_camera_args",
    "moving_face_frames",
    "multi_face_frame",
    "sample_face_image",
    "write_face_video",
    "write_y4m",
]

# Face box (x1, y1, x2, y2) in the 512x512 astronaut photo, as the Haar cascade reports it.
ASTRONAUT_FACE_BOX = (177, 67, 270, 160)
# Head-and-shoulders window around that face: pasting only the tight face box would cut the forehead and chin
# the cascade relies on.
_ASTRONAUT_HEAD = (135, 25, 315, 205)
# lfw_subset stores 100 faces followed by 100 non-faces; these indices are clear frontal faces.
_LFW_FACES = (0, 5)


@cache
def _astronaut_bgr() -> np.ndarray:
    from skimage import data

    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    image.setflags(write=False)
    return image


def sample_face_image() -> np.ndarray:
    """The 512x512 astronaut photo (one frontal face) as a writable BGR copy."""
    return _astronaut_bgr().copy()


def _astronaut_head(size: int, mirror: bool = False) -> np.ndarray:
    x1, y1, x2, y2 = _ASTRONAUT_HEAD
    head = cv2.resize(_astronaut_bgr()[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_AREA)
    return cv2.flip(head, 1) if mirror else head


def _lfw_head(index: int, size: int) -> np.ndarray:
    """An LFW face, upscaled, with a replicated border so the cascade sees some context around it."""
    from skimage import data

    gray = (data.lfw_subset()[index] * 255).round().astype(np.uint8)
    face = cv2.resize(gray, (size * 3 // 5, size * 3 // 5), interpolation=cv2.INTER_CUBIC)
    pad = (size - face.shape[0]) // 2
    padded = cv2.copyMakeBorder(
        face, pad, size - face.shape[0] - pad, pad, size - face.shape[1] - pad, cv2.BORDER_REPLICATE
    )
    return cv2.cvtColor(padded, cv2.COLOR_GRAY2BGR)


def _background(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A smooth blue-grey gradient with mild noise: plain enough to give no false detections."""
    width, height = size
    ramp = np.linspace(70, 150, height, dtype=np.float32)[:, None, None]
    tint = np.array([1.1, 0.95, 0.85], dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0, 4, (height, width, 3)).astype(np.float32)
    return np.clip(ramp * tint + noise, 0, 255).astype(np.uint8)


def _paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Paste ``patch`` with its top-left corner at (x, y), clipped to the frame."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + patch.shape[1], w), min(y + patch.shape[0], h)
    if x2 > x1 and y2 > y1:
        frame[y1:y2, x1:x2] = patch[y1 - y : y2 - y, x1 - x : x2 - x]


def multi_face_frame(size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A synthetic frame with four real faces at different positions and scales (two people, one mirrored).

    Positions and scales are fractions of the frame, so other sizes keep the same layout.
    """
    width, height = size
    frame = _background(size)
    unit = min(width, height)
    layout = [  # (kind, x fraction, y fraction, size fraction of the shorter side)
        ("astronaut", 0.03, 0.05, 0.42),
        ("astronaut_mirror", 0.62, 0.08, 0.32),
        ("lfw0", 0.08, 0.58, 0.36),
        ("lfw1", 0.55, 0.55, 0.40),
    ]
    for kind, fx, fy, fs in layout:
        side = int(unit * fs)
        if kind.startswith("astronaut"):
            patch = _astronaut_head(side, mirror=kind.endswith("mirror"))
        else:
            patch = _lfw_head(_LFW_FACES[int(kind[-1])], side)
        _paste(frame, patch, int(width * fx), int(height * fy))
    return frame


def moving_face_frames(n_frames: int, size: tuple[int, int] = (640, 480)) -> Iterator[np.ndarray]:
    """Frames of the astronaut's head drifting slowly left to right (a few pixels per frame) on a background."""
    width, height = size
    side = int(min(width, height) * 0.5)
    background = _background(size)
    head = _astronaut_head(side)
    travel = max(width - side, 1)
    for i in range(n_frames):
        frame = background.copy()
        # At most ~4 px per frame so consecutive boxes overlap well, as in a real webcam stream.
        x = int((i * min(4.0, travel / max(n_frames, 1))) % travel)
        y = (height - side) // 2 + int(6 * np.sin(i / 5))
        _paste(frame, head, x, y)
        yield frame


def write_face_video(path: str | Path, n_frames: int, size: tuple[int, int] = (640, 480), fps: int = 15) -> Path:
    """Write the moving-face sequence as an H.264 MP4 (browser-playable) and return its path."""
    from fer_core.vision.video import VideoSink

    path = Path(path)
    with VideoSink(path, fps=fps, size=size) as sink:
        for frame in moving_face_frames(n_frames, size):
            sink.write(frame)
    return path


def write_y4m(path: str | Path, n_frames: int, size: tuple[int, int] = (640, 480), fps: int = 15) -> Path:
    """Write the moving-face sequence as raw YUV4MPEG2 (``C420``), the format Chromium's fake camera reads.

    Chromium's ``--use-file-for-fake-video-capture`` accepts 4:2:0 Y4M, so width and height must be even.
    """
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"Y4M 4:2:0 needs an even frame size, got {width}x{height}")
    path = Path(path)
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode("ascii"))
        for frame in moving_face_frames(n_frames, size):
            handle.write(b"FRAME\n")
            handle.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def chromium_camera_args(y4m: str | Path) -> list[str]:
    """Flags for a quiet headless Chromium whose webcam plays ``y4m`` (see :func:`write_y4m`) and whose permission
    prompts say yes: the base the browser tests and the live-stream benchmark add their own flags to."""
    return [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
    ]
