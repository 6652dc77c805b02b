"""The photo use case and the one face-table schema: the CLI and the Image page give the same rows for a photo;
image, video, live and CLI tables share their columns; one rule for the shown label."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from fer_core.apps.live import LiveProcessor
from fer_core.apps.photo import (
    PHOTO_SETTINGS,
    analyse_image,
    faces_table,
    photo_detector,
    results_json,
    sample_photo_bytes,
)
from fer_core.apps.workflows import predict_files
from fer_core.labels import labels_of_columns
from fer_core.serving.classifier import load_model
from fer_core.vision.pipeline import FACE_COLUMNS, FaceResult, FrameResult, face_columns, frames_table

LABELS = ("happy", "sad")


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    path.write_bytes(sample_photo_bytes())
    return path


def test_cli_predict_gives_the_rows_the_image_page_tabulates(tiny_model_dir: Path, photo_path: Path) -> None:
    page = faces_table(
        analyse_image(str(photo_path), photo_path.read_bytes(), load_model(tiny_model_dir), photo_detector())
    )
    cli = predict_files(str(tiny_model_dir), [str(photo_path)])
    assert len(page) >= 1 and len(cli) == len(page)
    assert list(cli[0]) == list(page.columns) == ["image", *face_columns(load_model(tiny_model_dir).labels)]
    for row, record in zip(page.to_dict("records"), cli, strict=True):
        assert record == pytest.approx({k: (None if v is None or v != v else v) for k, v in row.items()})
    json.dumps(cli, allow_nan=False)  # plain JSON: too-small faces' probabilities are null, never NaN


def test_the_page_json_download_holds_the_same_rows(tiny_model_dir: Path, photo_path: Path) -> None:
    clf = load_model(tiny_model_dir)
    analysis = analyse_image(photo_path.name, photo_path.read_bytes(), clf, photo_detector(), PHOTO_SETTINGS)
    document = json.loads(results_json([analysis], clf.name))
    (image,) = document["images"]
    assert [list(face) for face in image["faces"]] == [["image", *face_columns(clf.labels)]] * len(image["faces"])


def _face(probs: list[float] | None, *, uncertain: bool = False, track: int = 1) -> FaceResult:
    if probs is None:
        return FaceResult((0, 0, 10, 10), 0.9, track, None, None, None, None, 0.0, uncertain=False, too_small=True)
    best = int(np.argmax(probs))
    array = np.array(probs, np.float32)
    return FaceResult((0, 0, 10, 10), 0.9, track, array, array, LABELS[best], best, probs[best], uncertain, False)


@pytest.mark.parametrize(
    ("face", "label", "shown_as"),
    [
        (_face([0.9, 0.1]), "happy", "happy"),
        (_face([0.45, 0.55], uncertain=True), "sad", "uncertain"),  # label stays the argmax; the view says why
        (_face(None), None, "too small"),
    ],
)
def test_one_rule_for_the_shown_label(face: FaceResult, label: str | None, shown_as: str) -> None:
    row = FrameResult((face,), LABELS, 3, 0.5, {}, (20, 20)).to_frame().iloc[0]
    assert (row["label"] if row["label"] == row["label"] else None, row["shown_as"]) == (label, shown_as)
    assert face.display_label == shown_as


def test_face_table_columns() -> None:
    result = FrameResult((_face([0.9, 0.1]), _face(None, track=2)), LABELS, 3, 0.5, {}, (20, 20))
    table = result.to_frame()
    assert list(table.columns) == [*FACE_COLUMNS, "p_happy", "p_sad"] and labels_of_columns(table.columns) == list(
        LABELS
    )
    assert table["face"].tolist() == [1, 2] and np.isnan(table.loc[1, "p_sad"])
    assert result.boxes.shape == (2, 4) and result.probabilities.shape == (2, 2)
    empty = FrameResult((), LABELS, 4, 0.6, {}, (20, 20))
    assert len(empty.to_frame()) == 0 and empty.to_frame(empty_row=True)["frame"].tolist() == [4]
    both = frames_table([result, empty], LABELS, empty_rows=True)
    assert both["frame"].tolist() == [3, 3, 4] and list(both.columns) == list(table.columns)


class _Peaked:
    labels = LABELS

    def predict(self, crops):
        return np.tile(np.array([[0.8, 0.2]], np.float32), (len(crops), 1))


class _OneFace:
    def detect(self, frame):
        return np.array([[10, 10, 60, 60]]), np.array([0.9])


def test_live_timeline_is_a_face_table() -> None:
    processor = LiveProcessor(_Peaked(), _OneFace())
    processor.process(np.zeros((80, 80, 3), np.uint8))
    table = frames_table(processor.timeline(), processor.labels)
    assert list(table.columns) == face_columns(LABELS) and table["shown_as"].tolist() == ["happy"]


def test_cli_predict_gives_a_clip_the_rows_of_the_video_page_timeline(tiny_model_dir: Path, tmp_path: Path) -> None:
    from fer_core.apps.video import VIDEO_SETTINGS, analyse_video, video_detector, write_sample_clip
    from fer_core.vision.pipeline import FacePipeline

    clip = write_sample_clip(tmp_path / "clip.mp4", n_frames=6)
    clf = load_model(tiny_model_dir)
    page = analyse_video(clip, FacePipeline(clf, video_detector(), VIDEO_SETTINGS), source_key="k", source_name="c")
    cli = predict_files(str(tiny_model_dir), [str(clip)])
    assert len(cli) == len(page.timeline) >= 6 and list(cli[0]) == ["video", *page.timeline.columns]
    for row, record in zip(page.timeline.to_dict("records"), cli, strict=True):
        assert {k: v for k, v in record.items() if k != "video"} == pytest.approx(
            {k: (None if v is None or v != v else v) for k, v in row.items()}
        )
    json.dumps(cli, allow_nan=False)


def test_cli_predict_reports_an_unreadable_clip(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    (record,) = predict_files(str(tiny_model_dir), [str(broken)])
    assert record["video"] == str(broken) and "error" in record


def test_no_more_photos_are_analysed_at_once_than_there_are_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight sessions at once: each waits for a slot, so at most two decoded photos are held at a time."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from fer_core.apps import photo

    monkeypatch.setattr(photo, "ANALYSIS_SLOTS", threading.BoundedSemaphore(2))
    running, most, lock = [0], [0], threading.Lock()

    def slow_analysis(name, *args):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return photo.ImageAnalysis(name, error="stand-in")

    monkeypatch.setattr(photo, "_analyse", slow_analysis)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: analyse_image(f"{i}.jpg", b"", None, None), range(8)))
    assert [r.name for r in results] == [f"{i}.jpg" for i in range(8)] and most[0] == 2


# The model that was the shipped default then (cnn_small_joint) on the bundled sample photo, as the code before the
# move into sub-packages answered (boxes, labels and probabilities rounded to 4 decimals); the same photo must give
# the same result. It was recorded with the crop margin of that time (0.15), which the call pins.
EXPECTED_SAMPLE = Path(__file__).parent / "data" / "sample_photo_default.json"
RECORDED_SETTINGS = dataclasses.replace(PHOTO_SETTINGS, crop_margin=0.15)


def test_sample_photo_gives_the_result_it_gave_before_the_restructure() -> None:
    expected = json.loads(EXPECTED_SAMPLE.read_text())["faces"]
    model = load_model("cnn_small_joint")
    analysis = analyse_image("sample.png", sample_photo_bytes(), model, photo_detector(), RECORDED_SETTINGS)
    table = faces_table(analysis)
    assert len(table) == len(expected)
    for (_, row), face in zip(table.iterrows(), expected, strict=True):
        assert [int(row[c]) for c in ("x1", "y1", "x2", "y2")] == face["box"]
        assert (row["label"], row["shown_as"]) == (face["label"], face["shown_as"])
        probabilities = {name: float(row[f"p_{name}"]) for name in face["probabilities"]}
        assert probabilities == pytest.approx(face["probabilities"], abs=2e-4)
