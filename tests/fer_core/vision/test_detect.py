"""Face detectors on real faces (scikit-image's astronaut, LFW crops): presets, guard, sizes, error messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core.bench.detection import compose_scene, face_free_images, group_photo, match_faces, skimage_faces
from fer_core.vision import detect
from fer_core.vision.detect import (
    DETECTION_PRESETS,
    DNN_MODEL_ENV,
    DetectionPreset,
    DnnDetector,
    HaarDetector,
    available_detectors,
    create_detector,
    detection_preset,
    downscale_for_detection,
    no_face_reason,
)
from fer_core.vision.imageio import decode_image
from fer_core.vision.sample_media import ASTRONAUT_FACE_BOX, moving_face_frames, multi_face_frame, sample_face_image
from fer_core.vision.tracking import iou_matrix


@pytest.fixture(scope="module")
def haar() -> HaarDetector:
    return HaarDetector()


def _check_output(boxes: np.ndarray, scores: np.ndarray, width: int, height: int) -> None:
    assert boxes.dtype == np.int32 and boxes.ndim == 2 and boxes.shape[1] == 4
    assert scores.dtype == np.float32 and scores.shape == (len(boxes),)
    assert np.all((scores > 0) & (scores < 1))
    assert np.all(boxes[:, 0] < boxes[:, 2]) and np.all(boxes[:, 1] < boxes[:, 3])
    assert boxes[:, 0::2].min(initial=0) >= 0 and boxes[:, 0::2].max(initial=0) <= width
    assert boxes[:, 1::2].min(initial=0) >= 0 and boxes[:, 1::2].max(initial=0) <= height


@pytest.mark.parametrize("gray", [False, True], ids=["bgr", "gray"])
def test_haar_finds_exactly_the_astronaut_face(haar: HaarDetector, gray: bool) -> None:
    image = sample_face_image()
    if gray:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    boxes, scores = haar.detect(image)
    _check_output(boxes, scores, 512, 512)
    assert len(boxes) == 1
    assert iou_matrix(boxes, np.array([ASTRONAUT_FACE_BOX]))[0, 0] > 0.6


@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (480, 640)])
def test_haar_finds_every_face_of_the_multi_face_frame(haar: HaarDetector, size: tuple[int, int]) -> None:
    boxes, scores = haar.detect(multi_face_frame(size))
    _check_output(boxes, scores, *size)
    assert len(boxes) >= 3
    overlaps = iou_matrix(boxes, boxes)[~np.eye(len(boxes), dtype=bool)]
    assert overlaps.max() == 0  # separate faces, no duplicate boxes


def test_haar_follows_the_moving_face_in_every_frame(haar: HaarDetector) -> None:
    counts = [len(haar.detect(frame)[0]) for frame in moving_face_frames(20)]
    assert counts == [1] * 20


@pytest.mark.parametrize(
    "frame",
    [np.zeros((480, 640, 3), np.uint8), np.full((480, 640, 3), 200, np.uint8), np.zeros((10, 10, 3), np.uint8)],
    ids=["black", "grey", "tiny"],
)
def test_haar_returns_typed_empty_arrays_without_faces(haar: HaarDetector, frame: np.ndarray) -> None:
    boxes, scores = haar.detect(frame)
    assert boxes.shape == (0, 4) and boxes.dtype == np.int32
    assert scores.shape == (0,) and scores.dtype == np.float32


@pytest.mark.parametrize("bad", [np.zeros((48, 48, 3), np.float32), "image", np.zeros((2, 2, 2, 2), np.uint8)])
def test_detect_rejects_non_images(haar: HaarDetector, bad) -> None:
    with pytest.raises(ValueError, match="uint8"):
        haar.detect(bad)


@pytest.mark.parametrize(
    ("shape", "max_side", "expected_shape", "factor"),
    [((480, 640), 320, (240, 320), 2.0), ((720, 1280), 256, (144, 256), 5.0), ((100, 80), 320, (100, 80), 1.0)],
)
def test_downscale_for_detection(shape, max_side, expected_shape, factor) -> None:
    small, back = downscale_for_detection(np.zeros(shape, np.uint8), max_side)
    assert small.shape == expected_shape
    assert back == pytest.approx(factor)


def test_haar_explains_a_missing_cascade_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(detect.cv2, "CascadeClassifier")
    with pytest.raises(RuntimeError, match="opencv-python-headless 4"):
        HaarDetector()
    assert "haar" not in available_detectors()


@pytest.mark.parametrize("kwargs", [{"scale_factor": 1.0}, {"scale_factor": 0.9}])
def test_haar_rejects_bad_options(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="scale_factor"):
        HaarDetector(**kwargs)


def test_create_detector_names_valid_kinds(tmp_path) -> None:
    assert isinstance(create_detector(), HaarDetector)
    assert isinstance(create_detector("haar", tmp_path / "yunet.onnx", max_side=320), HaarDetector)
    with pytest.raises(ValueError, match="known: haar, dnn"):
        create_detector("retina")


@pytest.mark.parametrize("via_env", [False, True], ids=["argument", "env"])
def test_dnn_detector_names_the_missing_file(tmp_path, monkeypatch: pytest.MonkeyPatch, via_env: bool) -> None:
    missing = tmp_path / "face_detection_yunet.onnx"
    if via_env:
        monkeypatch.setenv(DNN_MODEL_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match=r"face_detection_yunet\.onnx"):
        create_detector("dnn", None if via_env else missing)
    assert available_detectors(None if via_env else missing) == ["haar"]


def test_dnn_detector_without_any_path_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DNN_MODEL_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=DNN_MODEL_ENV):
        DnnDetector()


def test_dnn_detector_finds_the_astronaut_when_its_model_is_present(monkeypatch: pytest.MonkeyPatch) -> None:
    if "dnn" not in available_detectors():
        pytest.skip(f"no YuNet model file: set {DNN_MODEL_ENV} to a face_detection_yunet_*.onnx to run this")
    boxes, scores = create_detector("dnn").detect(sample_face_image())
    _check_output(boxes, scores, 512, 512)
    assert len(boxes) == 1


# ------------------------------------------------------------------------------------------------ presets


def test_presets_are_live_photo_video_and_unknown_names_list_them() -> None:
    assert set(DETECTION_PRESETS) == {"live", "photo", "video"}
    assert detection_preset("photo") is DETECTION_PRESETS["photo"]
    with pytest.raises(ValueError, match="known: live, photo, video"):
        detection_preset("portrait")
    with pytest.raises(ValueError, match="unknown detection preset"):
        create_detector("haar", preset="portrait")


@pytest.mark.parametrize(
    ("preset", "frame_size", "smallest"),
    [("live", (640, 480), 54), ("photo", (2048, 1536), 24), ("video", (640, 480), 24), ("video", (1920, 1080), 48)],
)
def test_smallest_face_searched_per_preset(preset: str, frame_size, smallest: int) -> None:
    assert create_detector(preset=preset).smallest_face(frame_size) == smallest


@pytest.mark.parametrize("kwargs", [{"scale_factor": 1.0}, {"max_side": 10}, {"min_neighbors": -1}])
def test_preset_rejects_bad_settings(kwargs: dict) -> None:
    options = {"name": "x", "max_side": 320, "scale_factor": 1.1, "min_neighbors": 3, **kwargs}
    with pytest.raises(ValueError):
        DetectionPreset(**options)


def test_no_face_reason_names_the_smallest_face_searched() -> None:
    reason = no_face_reason(create_detector(preset="live"), (640, 480))
    assert "640x480" in reason and "54 px or larger" in reason


@pytest.fixture(scope="module")
def photo() -> HaarDetector:
    return HaarDetector.from_preset("photo")


def test_photo_preset_finds_no_face_in_the_face_free_photos(photo: HaarDetector) -> None:
    found = {name: len(photo.detect(image)[0]) for name, image in face_free_images()}
    assert found == dict.fromkeys(found, 0)  # coffee's table used to be a 48% "neutral" face


def test_the_guard_removes_the_false_face_the_cascade_alone_finds(photo: HaarDetector) -> None:
    motorcycle = dict(face_free_images())["stereo_motorcycle"]
    unguarded = HaarDetector.from_preset("photo", guard=False)
    boxes, _ = unguarded.detect(motorcycle)
    assert len(boxes) >= 1, "the benchmark's known false face (if the cascade changes, pick another)"
    gray = cv2.cvtColor(motorcycle, cv2.COLOR_BGR2GRAY)
    assert not any(photo.confirms(gray, box) for box in boxes)
    astronaut = cv2.cvtColor(sample_face_image(), cv2.COLOR_BGR2GRAY)
    assert photo.confirms(astronaut, np.array(ASTRONAUT_FACE_BOX))


def test_photo_preset_finds_every_face_of_a_group_photo(photo: HaarDetector) -> None:
    scene = group_photo()
    found, false = match_faces(scene.boxes, photo.detect(scene.image)[0])
    assert found.all() and false == 0


def _single_face_scene(face_px: int, size: tuple[int, int], seed: int = 0):
    astronaut = skimage_faces()[0]
    background = dict(face_free_images())["rocket"]
    return compose_scene("one", background, [astronaut], [face_px], size, np.random.default_rng(seed))


@pytest.mark.parametrize("face_px", [43, 103, 155])
def test_photo_preset_finds_a_small_face_in_a_large_photo(photo: HaarDetector, face_px: int) -> None:
    scene = _single_face_scene(face_px, (1600, 1200))
    found, false = match_faces(scene.boxes, photo.detect(scene.image)[0])
    assert found.all() and false == 0


@pytest.mark.slow
def test_a_12_megapixel_photo_with_a_155_px_face_is_found_after_decoding(photo: HaarDetector) -> None:
    """The upload path: JPEG bytes -> decode_image (longest side 2048) -> photo preset."""
    scene = _single_face_scene(155, (4000, 3000))
    _ok, jpeg = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    decoded = decode_image(jpeg.tobytes(), name="big.jpg")
    truth = np.rint(scene.boxes * decoded.scale).astype(np.int32)
    found, false = match_faces(truth, photo.detect(decoded.bgr)[0])
    assert found.all() and false == 0


def test_a_55_px_face_in_a_640x480_clip_is_found_in_every_frame() -> None:
    """The video preset searches a 640x480 clip at its own size (live, at 288 px, is built for speed)."""
    detector = create_detector(preset="video")
    hits = 0
    for seed in range(12):  # the face at a different place in every frame
        scene = _single_face_scene(55, (640, 480), seed)
        found, _false = match_faces(scene.boxes, detector.detect(scene.image)[0])
        hits += int(found.all())
    assert hits == 12
