"""Detection benchmark: real faces composited at known sizes into real face-free photos, plus face-free images.

What it answers: for a detector (one preset of ``fer_core.vision.detect``), which share of faces of each size is found,
and how many "faces" it invents per image. The tests and ``scripts/bench_detect.py`` both build on it.

Fairness, since the faces are pasted rather than photographed:

- Faces are real photographs: scikit-image's astronaut (Eileen Collins, NASA) and its mirror image, scikit-image's
  bundled Labeled Faces in the Wild crops, and FER2013 test faces when the dataset is at hand. Nothing is drawn.
- Each face's box is where the reference detector (the frontal ``alt2`` cascade at fine settings, on the face
  upscaled with a replicated border) finds it in its source image; the face is scaled so that this box has the
  intended size. Sources where the reference finds no single face are left out: the benchmark measures how
  detection holds up with size and scene, not the cascade's known blind spots (profiles, occlusion), which no
  setting can fix.
- FER2013 and LFW crops end at the chin and forehead. Pasted as hard squares, the cascade would see an unnatural
  edge exactly where it looks for the head outline; so every face is pasted with a margin of context (its own
  pixels where the source has them, a replicated border where it does not) that fades into the background, as a
  head does in a photo.
- Backgrounds are real photos without people (coffee, chelsea, rocket, ...), so the textures that fool a cascade in
  real photos are there; the same photos alone form the face-free set.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from fer_core.vision.detect import HAAR_DIR, FaceDetector
from fer_core.vision.tracking import greedy_match, iou_matrix

__all__ = [
    "BACKGROUND_NAMES",
    "BEFORE_PRESETS",
    "DEFAULT_SIZES",
    "DetectionReport",
    "FaceSource",
    "Scene",
    "benchmark_faces",
    "build_scenes",
    "compose_scene",
    "evaluate_detector",
    "face_free_images",
    "fer2013_faces",
    "group_photo",
    "match_faces",
    "skimage_faces",
    "soft_border",
]

DEFAULT_SIZES = (24, 32, 48, 64, 96, 128, 160, 200)
# scikit-image photos without a human face (chelsea is a cat: a face, but not one a face detector should report).
BACKGROUND_NAMES = (
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "brick",
    "grass",
    "gravel",
    "coins",
    "clock",
    "moon",
    "stereo_motorcycle",
    "page",
)
MATCH_IOU = 0.4
# ``HaarDetector`` settings each source had before the presets, for before/after figures: one detector at 256 px
# in steps of 1.15 with histogram equalisation for the webcam and for video, 640 px for photos; no guard.
_BEFORE = {"scale_factor": 1.15, "min_neighbors": 4, "equalize": True, "guard": False}
BEFORE_PRESETS = {
    "live": {"max_side": 256, **_BEFORE},
    "video": {"max_side": 256, **_BEFORE},
    "photo": {"max_side": 640, **_BEFORE},
}
# Context around a face box when pasting it, as a fraction of the box side on every side; the outer half of it fades.
_CONTEXT = 0.5
_ASTRONAUT_FACE = (177, 67, 270, 160)
_REFERENCE_UPSCALE = 4
# FER2013 and LFW crops are tight: the face is most of the crop (FER2013: median 0.95 of its side).
_MIN_FACE_SHARE = 0.6


@dataclass(frozen=True)
class FaceSource:
    """A real face: its image (uint8 BGR) and the face box in it (``x1, y1, x2, y2``)."""

    name: str
    image: np.ndarray = field(repr=False)
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Scene:
    """A benchmark image and its true face boxes with the size each face was pasted at."""

    name: str
    image: np.ndarray = field(repr=False)
    boxes: np.ndarray
    sizes: tuple[int, ...]
    sources: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------- face sources


@cache
def _reference_cascade() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(str(HAAR_DIR / "haarcascade_frontalface_alt2.xml"))


def _reference_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The single face the reference cascade finds in a small face crop, in the crop's pixels (else ``None``)."""
    up = _REFERENCE_UPSCALE
    big = cv2.resize(gray, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
    pad = big.shape[0] // 2
    canvas = cv2.equalizeHist(cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
    found = _reference_cascade().detectMultiScale(canvas, scaleFactor=1.05, minNeighbors=3, minSize=(40, 40))
    if len(found) != 1 or found[0][2] < _MIN_FACE_SHARE * big.shape[1]:
        return None  # no face, several, or a face-like detail of the crop rather than the face it shows
    x, y, w, h = (float(v) for v in found[0])
    height, width = gray.shape[:2]
    x1, y1 = max(0, round((x - pad) / up)), max(0, round((y - pad) / up))
    x2, y2 = min(width, round((x - pad + w) / up)), min(height, round((y - pad + h) / up))
    return (x1, y1, x2, y2)  # clipped: the reference may reach into the replicated border


def _gray_source(name: str, gray: np.ndarray) -> FaceSource | None:
    box = _reference_box(gray)
    if box is None:
        return None
    image = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    image.setflags(write=False)
    return FaceSource(name, image, box)


@cache
def skimage_faces() -> tuple[FaceSource, ...]:
    """The astronaut, her mirror image, and the LFW crops of scikit-image that the reference detector finds."""
    from skimage import data

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    x1, y1, x2, y2 = _ASTRONAUT_FACE
    width = astronaut.shape[1]
    sources = [
        FaceSource("astronaut", astronaut, _ASTRONAUT_FACE),
        FaceSource("astronaut_mirror", np.ascontiguousarray(astronaut[:, ::-1]), (width - x2, y1, width - x1, y2)),
    ]
    lfw = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)  # the first 100 are faces, the rest are not
    sources += [s for i, crop in enumerate(lfw) if (s := _gray_source(f"lfw_{i}", crop)) is not None]
    return tuple(sources)


def fer2013_faces(root: str | Path, count: int = 200, seed: int = 0) -> tuple[FaceSource, ...]:
    """Up to ``count`` FER2013 PrivateTest faces (drawn with ``seed``) that the reference detector finds.

    ``root`` is the FER2013 folder of the Kaggle layout (``test/<class>/PrivateTest_*.png``).
    """
    paths = sorted(Path(root).glob("test/*/PrivateTest_*"))
    if not paths:
        raise FileNotFoundError(f"no FER2013 PrivateTest images under {Path(root) / 'test'}")
    order = np.random.default_rng(seed).permutation(len(paths))
    sources: list[FaceSource] = []
    for index in order:
        gray = cv2.imread(str(paths[index]), cv2.IMREAD_GRAYSCALE)
        source = None if gray is None else _gray_source(f"fer2013_{paths[index].stem}", gray)
        if source is not None:
            sources.append(source)
        if len(sources) == count:
            break
    return tuple(sources)


def benchmark_faces(fer2013_root: str | Path | None = None, fer2013_count: int = 200) -> tuple[FaceSource, ...]:
    """The scikit-image faces, plus FER2013 faces when ``fer2013_root`` is given."""
    faces = skimage_faces()
    if fer2013_root is None:
        return faces
    return faces + fer2013_faces(fer2013_root, fer2013_count)


# ----------------------------------------------------------------------------------------------- backgrounds


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """Any scikit-image sample (bool, float, grey, RGB, RGBA) as uint8 BGR."""
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array.astype(np.float64), 0, 1) * 255).round().astype(np.uint8)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_RGBA2BGR)
    return cv2.cvtColor(array, cv2.COLOR_RGB2BGR)


@cache
def face_free_images() -> tuple[tuple[str, np.ndarray], ...]:
    """``(name, BGR image)`` for every scikit-image photo in ``BACKGROUND_NAMES``, at its own size."""
    from skimage import data

    images = []
    for name in BACKGROUND_NAMES:
        image = _as_bgr(getattr(data, name)())
        image.setflags(write=False)
        images.append((name, image))
    return tuple(images)


def _cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` to cover ``size`` (width, height) and crop the centre: a background without bars."""
    width, height = size
    scale = max(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (math.ceil(image.shape[1] * scale), math.ceil(image.shape[0] * scale)))
    top = (resized.shape[0] - height) // 2
    left = (resized.shape[1] - width) // 2
    return resized[top : top + height, left : left + width].copy()


# ----------------------------------------------------------------------------------------------- compositing


def _face_patch(face: FaceSource, size: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The face scaled so its box is ``size`` px, with context; returns patch, alpha mask and the box in the patch."""
    x1, y1, x2, y2 = face.box
    side = max(x2 - x1, y2 - y1)
    margin = round(side * _CONTEXT)
    padded = soft_border(face.image, margin)
    region = padded[y1 : y2 + 2 * margin, x1 : x2 + 2 * margin]
    scale = size / side
    patch_side = max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    patch = cv2.resize(region, patch_side, interpolation=interpolation)
    inner = round(margin * scale)
    box = (inner, inner, inner + round((x2 - x1) * scale), inner + round((y2 - y1) * scale))
    return patch, _feather(patch.shape[:2], fade=max(1, inner // 2)), box


def soft_border(image: np.ndarray, margin: int) -> np.ndarray:
    """``image`` with a ``margin`` px border of its own edge pixels, blurred like an out-of-focus background.

    A plain replicated border draws long stripes from every edge pixel; blurring it keeps the colours without
    adding edges the cascade could respond to.
    """
    padded = cv2.copyMakeBorder(image, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
    blurred = cv2.GaussianBlur(padded, (0, 0), sigmaX=max(1.0, margin / 3))
    height, width = image.shape[:2]
    blurred[margin : margin + height, margin : margin + width] = image
    return blurred


def _feather(shape: tuple[int, int], fade: int) -> np.ndarray:
    """Alpha 1 inside, falling linearly to 0 over the outer ``fade`` pixels of every side."""
    height, width = shape
    ramp_y = np.clip(np.minimum(np.arange(height), np.arange(height)[::-1]) / fade, 0, 1)
    ramp_x = np.clip(np.minimum(np.arange(width), np.arange(width)[::-1]) / fade, 0, 1)
    return np.minimum(ramp_y[:, None], ramp_x[None, :]).astype(np.float32)[..., None]


def _place(occupied: list[tuple[int, int, int, int]], shape: tuple[int, int], frame: tuple[int, int], rng):
    """A random top-left corner where a patch of ``shape`` overlaps no occupied area (``None`` if none is found)."""
    height, width = shape
    frame_w, frame_h = frame
    if width > frame_w or height > frame_h:
        return None
    for _ in range(200):
        x, y = int(rng.integers(0, frame_w - width + 1)), int(rng.integers(0, frame_h - height + 1))
        if all(x + width <= a or b <= x or y + height <= c or d <= y for a, c, b, d in occupied):
            return x, y
    return None


def compose_scene(
    name: str,
    background: np.ndarray,
    faces: Sequence[FaceSource],
    sizes: Sequence[int],
    scene_size: tuple[int, int],
    rng: np.random.Generator,
) -> Scene:
    """Paste ``faces[i]`` at face size ``sizes[i]`` into ``background`` (covering ``scene_size``), without overlaps.

    A face that does not fit any more is left out (and so is its size), so the truth is always what is there.
    """
    canvas = _cover(background, scene_size).astype(np.float32)
    occupied: list[tuple[int, int, int, int]] = []
    boxes, placed_sizes, names = [], [], []
    for face, size in sorted(zip(faces, sizes, strict=True), key=lambda pair: -pair[1]):  # large ones first
        patch, alpha, (bx1, by1, bx2, by2) = _face_patch(face, size)
        corner = _place(occupied, patch.shape[:2], scene_size, rng)
        if corner is None:
            continue
        x, y = corner
        window = canvas[y : y + patch.shape[0], x : x + patch.shape[1]]
        window[:] = alpha * patch + (1 - alpha) * window
        occupied.append((x, y, x + patch.shape[1], y + patch.shape[0]))
        boxes.append((x + bx1, y + by1, x + bx2, y + by2))
        placed_sizes.append(int(size))
        names.append(face.name)
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    return Scene(name, image, np.array(boxes, dtype=np.int32).reshape(-1, 4), tuple(placed_sizes), tuple(names))


def group_photo(
    n_faces: int = 6, face_px: int = 110, size: tuple[int, int] = (1536, 1024), background: str = "rocket"
) -> Scene:
    """A group photo: ``n_faces`` real faces (the astronaut, her mirror image, LFW people) in two rows.

    The back row sits higher and a little to the side, as people stand in a group; the faces are the scikit-image
    ones, so this needs no dataset. ``Scene.boxes`` lists them in reading order (back row left to right first).
    """
    faces = skimage_faces()
    people = [faces[0], faces[1], *faces[2 : 2 + max(0, n_faces - 2)]][:n_faces]
    width, height = size
    canvas = _cover(dict(face_free_images())[background], size).astype(np.float32)
    per_row = math.ceil(n_faces / 2)
    boxes = []
    for index, face in enumerate(people):
        row, column = divmod(index, per_row)
        patch, alpha, (bx1, by1, bx2, by2) = _face_patch(face, face_px)
        step = width // (per_row + 1)
        x = step * (column + 1) - patch.shape[1] // 2 + (step // 3 if row else 0)
        y = height // 4 - patch.shape[0] // 2 + row * height // 2
        x, y = min(max(0, x), width - patch.shape[1]), min(max(0, y), height - patch.shape[0])
        window = canvas[y : y + patch.shape[0], x : x + patch.shape[1]]
        window[:] = alpha * patch + (1 - alpha) * window
        boxes.append((x + bx1, y + by1, x + bx2, y + by2))
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    names = tuple(face.name for face in people)
    return Scene("group_photo", image, np.array(boxes, dtype=np.int32), (face_px,) * len(people), names)


def build_scenes(
    faces: Sequence[FaceSource],
    *,
    n_scenes: int = 16,
    sizes: Sequence[int] = DEFAULT_SIZES,
    scene_size: tuple[int, int] = (1600, 1200),
    seed: int = 0,
) -> list[Scene]:
    """``n_scenes`` scenes, each with one face of every size (faces and backgrounds taken in turn, seeded)."""
    if not faces:
        raise ValueError("build_scenes needs at least one face source")
    rng = np.random.default_rng(seed)
    backgrounds = face_free_images()
    order = rng.permutation(len(faces))
    scenes, next_face = [], 0
    for index in range(n_scenes):
        chosen = [faces[order[(next_face + k) % len(faces)]] for k in range(len(sizes))]
        next_face += len(sizes)
        name, background = backgrounds[index % len(backgrounds)]
        scenes.append(compose_scene(f"{name}_{index}", background, chosen, sizes, scene_size, rng))
    return scenes


# ----------------------------------------------------------------------------------------------- scoring


def match_faces(truth: np.ndarray, detected: np.ndarray, min_iou: float = MATCH_IOU) -> tuple[np.ndarray, int]:
    """Which true faces were found (one detection each, IoU >= ``min_iou``) and how many detections are false."""
    found = np.zeros(len(truth), dtype=bool)
    pairs = greedy_match(iou_matrix(truth, detected), min_iou)
    for row, _col in pairs:
        found[row] = True
    return found, len(detected) - len(pairs)


@dataclass
class DetectionReport:
    """Recall per face size, false faces per image (in scenes and in the face-free set) and detection time."""

    found_by_size: dict[int, int] = field(default_factory=dict)
    total_by_size: dict[int, int] = field(default_factory=dict)
    scene_false: list[int] = field(default_factory=list)
    face_free_false: dict[str, int] = field(default_factory=dict)
    scene_ms: list[float] = field(default_factory=list)
    face_free_ms: list[float] = field(default_factory=list)

    def recall(self, size: int) -> float:
        return self.found_by_size.get(size, 0) / max(1, self.total_by_size.get(size, 0))

    def recall_at_least(self, size: int) -> float:
        """Recall over every face of ``size`` px or more."""
        sizes = [s for s in self.total_by_size if s >= size]
        total = sum(self.total_by_size[s] for s in sizes)
        return sum(self.found_by_size.get(s, 0) for s in sizes) / max(1, total)

    @property
    def false_per_scene(self) -> float:
        return statistics.fmean(self.scene_false) if self.scene_false else 0.0

    @property
    def face_free_false_total(self) -> int:
        return sum(self.face_free_false.values())

    @property
    def median_scene_ms(self) -> float:
        return statistics.median(self.scene_ms) if self.scene_ms else 0.0

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "recall_by_size": {str(s): round(self.recall(s), 4) for s in sorted(self.total_by_size)},
            "faces_by_size": {str(s): self.total_by_size[s] for s in sorted(self.total_by_size)},
            "recall_32_and_up": round(self.recall_at_least(32), 4),
            "false_faces_per_scene": round(self.false_per_scene, 4),
            "face_free_false_faces": dict(self.face_free_false),
            "median_scene_ms": round(self.median_scene_ms, 1),
            "median_face_free_ms": round(statistics.median(self.face_free_ms), 1) if self.face_free_ms else 0.0,
        }


def _timed_detect(detector: FaceDetector, image: np.ndarray) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    boxes, _scores = detector.detect(image)
    return boxes, (time.perf_counter() - start) * 1e3


def evaluate_detector(
    detector: FaceDetector,
    scenes: Iterable[Scene],
    face_free: Iterable[tuple[str, np.ndarray]] = (),
) -> DetectionReport:
    """Run ``detector`` over every scene and face-free image and score it."""
    report = DetectionReport()
    for scene in scenes:
        boxes, elapsed = _timed_detect(detector, scene.image)
        found, false = match_faces(scene.boxes, boxes)
        for size, hit in zip(scene.sizes, found, strict=True):
            report.total_by_size[size] = report.total_by_size.get(size, 0) + 1
            report.found_by_size[size] = report.found_by_size.get(size, 0) + int(hit)
        report.scene_false.append(false)
        report.scene_ms.append(elapsed)
    for name, image in face_free:
        boxes, elapsed = _timed_detect(detector, image)
        report.face_free_false[name] = len(boxes)
        report.face_free_ms.append(elapsed)
    return report
