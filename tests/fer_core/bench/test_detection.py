"""Detection benchmark: composited scenes hold the faces they claim, scoring counts what it should, and the
presets meet their targets (photo recall >= 95% for faces of 32 px or more, no face in the face-free photos)."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.bench.detection import (
    DEFAULT_SIZES,
    DetectionReport,
    benchmark_faces,
    build_scenes,
    compose_scene,
    evaluate_detector,
    face_free_images,
    fer2013_faces,
    match_faces,
    skimage_faces,
)
from fer_core.vision.detect import HaarDetector
from fer_core.vision.tracking import iou_matrix


class TruthDetector:
    """Reports exactly the boxes it is told, plus ``extra`` made-up ones."""

    def __init__(self, scenes, extra: int = 0) -> None:
        self.answers = {id(scene.image): scene.boxes for scene in scenes}
        self.extra = extra

    def detect(self, frame):
        boxes = self.answers.get(id(frame), np.zeros((0, 4), np.int32))
        made_up = np.tile(np.array([[0, 0, 5, 5]], np.int32), (self.extra, 1))
        boxes = np.concatenate([boxes, made_up]).astype(np.int32)
        return boxes, np.full(len(boxes), 0.9, np.float32)


def test_skimage_faces_are_real_faces_with_boxes_inside_their_images() -> None:
    faces = skimage_faces()
    assert faces[0].name == "astronaut" and len(faces) > 50
    for face in faces:
        x1, y1, x2, y2 = face.box
        height, width = face.image.shape[:2]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height


def test_face_free_images_are_bgr_photos() -> None:
    images = dict(face_free_images())
    assert {"coffee", "chelsea", "rocket"} <= set(images)
    assert all(image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 for image in images.values())


def test_compose_scene_pastes_each_face_at_its_size_without_overlap() -> None:
    sizes = [200, 96, 48, 24]
    faces = skimage_faces()[:4]
    scene = compose_scene("s", dict(face_free_images())["coffee"], faces, sizes, (1200, 900), np.random.default_rng(0))
    assert scene.image.shape == (900, 1200, 3)
    assert sorted(scene.sizes, reverse=True) == sizes
    sides = np.maximum(scene.boxes[:, 2] - scene.boxes[:, 0], scene.boxes[:, 3] - scene.boxes[:, 1])
    np.testing.assert_allclose(sides, scene.sizes, atol=2)  # the size is the box's longer side
    overlaps = iou_matrix(scene.boxes, scene.boxes)[~np.eye(len(scene.boxes), dtype=bool)]
    assert overlaps.max() == 0


def test_a_face_that_does_not_fit_is_left_out_of_the_truth() -> None:
    scene = compose_scene(
        "tiny", dict(face_free_images())["coffee"], skimage_faces()[:1], [400], (320, 240), np.random.default_rng(0)
    )
    assert scene.sizes == () and scene.boxes.shape == (0, 4)


@pytest.mark.parametrize(
    ("detected", "found", "false"),
    [
        ([], [False, False], 0),
        ([[0, 0, 10, 10]], [True, False], 0),
        ([[0, 0, 10, 10], [1, 1, 11, 11]], [True, False], 1),  # a duplicate box is a false face
        ([[50, 50, 60, 60], [200, 200, 210, 210]], [False, True], 1),
    ],
)
def test_match_faces_counts_each_true_face_once(detected, found, false) -> None:
    truth = np.array([[0, 0, 10, 10], [50, 50, 60, 60]])
    hits, n_false = match_faces(truth, np.array(detected).reshape(-1, 4))
    assert hits.tolist() == found and n_false == false


@pytest.mark.parametrize("extra", [0, 2])
def test_evaluate_detector_scores_recall_by_size_and_false_faces(extra: int) -> None:
    scenes = build_scenes(skimage_faces(), n_scenes=2, sizes=(32, 64), scene_size=(640, 480))
    face_free = face_free_images()[:3]
    report = evaluate_detector(TruthDetector(scenes, extra), scenes, face_free)
    assert report.total_by_size == {32: 2, 64: 2} and report.recall_at_least(32) == 1.0
    assert report.false_per_scene == extra
    assert report.face_free_false_total == 3 * extra
    summary = report.to_dict()
    assert summary["recall_by_size"] == {"32": 1.0, "64": 1.0}


def test_an_empty_report_is_all_zeros() -> None:
    report = DetectionReport()
    assert report.recall(32) == 0.0 and report.false_per_scene == 0.0 and report.median_scene_ms == 0.0


def _photo_report(faces, n_scenes: int = 8) -> DetectionReport:
    scenes = build_scenes(faces, n_scenes=n_scenes, sizes=DEFAULT_SIZES, scene_size=(1600, 1200), seed=3)
    return evaluate_detector(HaarDetector.from_preset("photo"), scenes, face_free_images())


@pytest.mark.slow
def test_photo_preset_meets_its_targets_on_skimage_faces() -> None:
    report = _photo_report(skimage_faces())
    assert report.recall_at_least(32) >= 0.95, report.to_dict()["recall_by_size"]
    assert report.face_free_false_total == 0, report.face_free_false


@pytest.mark.slow
def test_photo_preset_meets_its_targets_with_fer2013_faces(data_root) -> None:
    """The benchmark's full face set (scikit-image and FER2013), 16 scenes: 112 faces of 32 px or more."""
    report = _photo_report(benchmark_faces(data_root / "fer2013", fer2013_count=200), n_scenes=16)
    assert report.recall_at_least(32) >= 0.95, report.to_dict()["recall_by_size"]
    assert report.face_free_false_total == 0, report.face_free_false


def test_fer2013_faces_name_the_folder_they_looked_in(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no FER2013 PrivateTest images under"):
        fer2013_faces(tmp_path)
