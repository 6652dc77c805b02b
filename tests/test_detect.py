"""Face detectors on real faces (scikit-image's astronaut, LFW crops) and their error messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core import detect
from fer_core.detect import (
    DNN_MODEL_ENV,
    DnnDetector,
    HaarDetector,
    available_detectors,
    create_detector,
    downscale_for_detection,
)
from fer_core.sample_media import ASTRONAUT_FACE_BOX, moving_face_frames, multi_face_frame, sample_face_image
from fer_core.tracking import iou_matrix


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
