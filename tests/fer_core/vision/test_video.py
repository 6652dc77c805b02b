"""Video files through the pipeline: H.264 output, timelines, export formats, unreadable files, sample media."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest

from fer_core.vision import video
from fer_core.vision.detect import HaarDetector
from fer_core.vision.pipeline import FacePipeline, PipelineSettings, face_columns
from fer_core.vision.sample_media import moving_face_frames, write_face_video, write_y4m
from fer_core.vision.video import (
    VideoError,
    VideoInfo,
    VideoSink,
    emotion_shares,
    export_timeline,
    iter_frames,
    output_size,
    process_video,
    read_timeline,
)

LABELS = ("happy", "sad", "neutral")
N_FRAMES = 12
SIZE = (320, 240)


class CountingClassifier:
    """Alternates between a confident "happy" and an uncertain guess, counting faces seen."""

    labels = LABELS

    def __init__(self) -> None:
        self.faces_seen = 0

    def predict(self, crops):
        self.faces_seen += len(crops)
        rows = [[0.9, 0.05, 0.05] if (self.faces_seen + i) % 2 else [0.4, 0.35, 0.25] for i in range(len(crops))]
        return np.array(rows, np.float32)


def _pipeline() -> FacePipeline:
    return FacePipeline(CountingClassifier(), HaarDetector(), PipelineSettings(smoothing=0.0))


@pytest.fixture(scope="module")
def face_video(tmp_path_factory) -> Path:
    return write_face_video(tmp_path_factory.mktemp("video") / "face.mp4", N_FRAMES, size=SIZE, fps=10)


def _stream_facts(path: Path) -> tuple[str, str, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name, stream.codec_context.pix_fmt, frames


def test_sample_video_is_h264_and_has_the_face(face_video: Path) -> None:
    info = VideoInfo.from_path(face_video)
    assert (info.width, info.height, info.fps, info.frame_count) == (*SIZE, 10.0, N_FRAMES)
    assert info.duration_s == pytest.approx(N_FRAMES / 10)
    assert _stream_facts(face_video) == ("h264", "yuv420p", N_FRAMES)
    first = next(iter_frames(face_video))
    assert first.shape == (SIZE[1], SIZE[0], 3) and first.dtype == np.uint8
    assert len(HaarDetector().detect(first)[0]) == 1


@pytest.mark.parametrize("frame_step", [1, 3])
def test_process_video_round_trip(face_video: Path, tmp_path: Path, frame_step: int) -> None:
    out = tmp_path / "annotated.mp4"
    progress: list[tuple[int, int]] = []
    timeline = process_video(
        face_video, out, _pipeline(), frame_step=frame_step, progress=lambda *a: progress.append(a)
    )
    analysed = list(range(0, N_FRAMES, frame_step))
    assert _stream_facts(out) == ("h264", "yuv420p", N_FRAMES)  # skipped frames are still written
    assert list(timeline.columns) == face_columns(LABELS)
    assert len(timeline) == len(analysed) * 1  # one face per analysed frame
    assert timeline["frame"].tolist() == analysed
    np.testing.assert_allclose(timeline["time_s"], np.array(analysed) / 10)
    assert set(timeline["track_id"]) == {1}
    assert progress[-1] == (N_FRAMES, N_FRAMES) and len(progress) == N_FRAMES


def test_a_frame_without_a_face_still_has_its_timeline_row(tmp_path: Path) -> None:
    """Blank frames between face frames: one row per analysed frame, the blank ones with empty face fields."""
    faces = list(moving_face_frames(4, SIZE))
    blank = np.full_like(faces[0], 120)
    clip = tmp_path / "gaps.mp4"
    with VideoSink(clip, fps=10, size=SIZE) as sink:
        for frame in (faces[0], blank, faces[1], blank):
            sink.write(frame)
    timeline = process_video(clip, None, _pipeline())
    assert timeline["frame"].tolist() == [0, 1, 2, 3]
    empty = timeline[timeline["frame"].isin([1, 3])]
    assert empty["track_id"].isna().all() and empty["label"].isna().all() and empty["x1"].isna().all()
    assert timeline.loc[timeline["frame"].isin([0, 2]), "track_id"].notna().all()
    assert set(emotion_shares(timeline).index) == {1}  # frames without a face add no track
    exported = read_timeline(export_timeline(timeline, tmp_path / "timeline.parquet"))
    assert len(exported) == 4


def test_annotations_reach_the_output(face_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated.mp4"
    process_video(face_video, out, _pipeline(), max_frames=3)
    original, annotated = next(iter_frames(face_video)), next(iter_frames(out))
    assert annotated.shape == original.shape
    assert np.abs(annotated.astype(int) - original.astype(int)).mean() > 1.0


def test_max_frames_and_timeline_only(face_video: Path) -> None:
    timeline = process_video(face_video, None, _pipeline(), max_frames=5)
    assert timeline["frame"].tolist() == [0, 1, 2, 3, 4]


def test_process_video_rejects_a_bad_frame_step(face_video: Path) -> None:
    with pytest.raises(ValueError, match="frame_step"):
        process_video(face_video, None, _pipeline(), frame_step=0)


@pytest.mark.parametrize(("suffix", "fourcc"), [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_other_containers_are_read(tmp_path: Path, suffix: str, fourcc: str) -> None:
    path = tmp_path / f"clip{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, SIZE)
    for frame in moving_face_frames(6, SIZE):
        writer.write(frame)
    writer.release()
    assert VideoInfo.from_path(path).frame_count == 6
    assert len(process_video(path, None, _pipeline())) == 6


def test_webm_without_stored_frame_count_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for frame in moving_face_frames(5, SIZE):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode())
    assert VideoInfo.from_path(path).frame_count == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        (b"", "empty"),
        (b"this is not a video at all" * 40, "cannot read"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(200), "cannot read|no video|no video frames"),
    ],
    ids=["missing", "empty", "text", "truncated-mp4"],
)
def test_unreadable_files_raise_video_error(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "broken.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError, match=message):
        VideoInfo.from_path(path)
    with pytest.raises(VideoError):
        process_video(path, tmp_path / "out.mp4", _pipeline())


def test_sink_falls_back_to_mp4v_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video.av, "codecs_available", set())
    path = tmp_path / "fallback.mp4"
    with pytest.warns(RuntimeWarning, match="libx264"), VideoSink(path, 10, SIZE) as sink:
        for frame in moving_face_frames(4, SIZE):
            sink.write(frame)
    assert sink.codec == "mp4v"
    assert VideoInfo.from_path(path).frame_count == 4


def test_sink_crops_odd_sizes_for_yuv420(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with VideoSink(path, 10, (321, 241)) as sink:
        sink.write(np.zeros((241, 321, 3), np.uint8))
    info = VideoInfo.from_path(path)
    assert (info.width, info.height) == (320, 240)


def _timeline() -> pd.DataFrame:
    rows = [
        {"frame": 0, "time_s": 0.0, "track_id": 1, "label": "happy", "uncertain": False, "too_small": False},
        {"frame": 1, "time_s": 0.1, "track_id": 1, "label": "happy", "uncertain": False, "too_small": False},
        {"frame": 2, "time_s": 0.2, "track_id": 1, "label": "sad", "uncertain": True, "too_small": False},
        {"frame": 3, "time_s": 0.3, "track_id": 1, "label": "sad", "uncertain": False, "too_small": False},
        {"frame": 3, "time_s": 0.3, "track_id": 2, "label": None, "uncertain": False, "too_small": True},
        {"frame": 4, "time_s": 0.4, "track_id": 3, "label": "neutral", "uncertain": False, "too_small": False},
    ]
    df = pd.DataFrame(rows)
    for i, name in enumerate(LABELS):
        df[f"p_{name}"] = np.where(df["too_small"], np.nan, (i + 1) / 6)
    return df


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_export_timeline_round_trips(tmp_path: Path, suffix: str) -> None:
    df = _timeline()
    path = export_timeline(df, tmp_path / f"timeline{suffix}")
    back = read_timeline(path)
    assert list(back.columns) == list(df.columns)
    assert back["frame"].tolist() == df["frame"].tolist()
    assert back["label"].iloc[:4].tolist() == df["label"].iloc[:4].tolist()
    np.testing.assert_allclose(back["p_sad"].to_numpy(float), df["p_sad"].to_numpy(float))


@pytest.mark.parametrize("suffix", [".xlsx", ".txt"])
def test_export_timeline_names_the_known_formats(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(ValueError, match=r"known: \.csv, \.parquet, \.json"):
        export_timeline(_timeline(), tmp_path / f"timeline{suffix}")


def test_emotion_shares_per_track() -> None:
    shares = emotion_shares(_timeline())
    assert list(shares.columns) == [*LABELS, "uncertain"]
    assert shares.index.tolist() == [1, 3]  # track 2 was only ever too small
    assert shares.loc[1].tolist() == [0.5, 0.25, 0.0, 0.25]
    assert shares.loc[3, "neutral"] == 1.0
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)


@pytest.mark.parametrize("size", [(640, 480), (320, 240)])
def test_y4m_has_the_c420_header_chromium_needs(tmp_path: Path, size: tuple[int, int]) -> None:
    n = 3
    path = write_y4m(tmp_path / "face.y4m", n, size=size, fps=15)
    data = path.read_bytes()
    header = f"YUV4MPEG2 W{size[0]} H{size[1]} F15:1 Ip A1:1 C420\n".encode()
    assert data.startswith(header)
    frame_bytes = size[0] * size[1] * 3 // 2
    assert len(data) == len(header) + n * (len(b"FRAME\n") + frame_bytes)
    first = np.frombuffer(data, np.uint8, frame_bytes, len(header) + 6).reshape(size[1] * 3 // 2, size[0])
    bgr = cv2.cvtColor(first, cv2.COLOR_YUV2BGR_I420)
    assert len(HaarDetector().detect(bgr)[0]) == 1  # the decoded frame still shows the face


def test_y4m_rejects_odd_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        write_y4m(tmp_path / "odd.y4m", 1, size=(641, 480))


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((3840, 2160), 1280, (1280, 720)),
        ((640, 480), 1280, (640, 480)),
        ((1080, 1920), 1280, (720, 1280)),
        ((3840, 2160), None, (3840, 2160)),
    ],
)
def test_output_size_caps_the_longer_side(size, max_side, expected) -> None:
    assert output_size(size, max_side) == expected


def test_annotated_video_is_shrunk_to_the_output_cap(face_video: Path, tmp_path: Path) -> None:
    """Analysed at the source size, written at most ``max_output_side`` wide: same timeline, smaller file."""
    out = tmp_path / "small.mp4"
    full = process_video(face_video, None, _pipeline(), max_frames=3)
    small = process_video(face_video, out, _pipeline(), max_frames=3, max_output_side=160)
    assert (VideoInfo.from_path(out).width, VideoInfo.from_path(out).height) == (160, 120)
    pd.testing.assert_frame_equal(small, full)


def _entry_points(path: Path):
    """Every way a clip is opened: its header, its frames, the whole pipeline."""
    return {
        "header": lambda: video.VideoInfo.from_path(path),
        "frames": lambda: next(video.iter_frames(path)),
        "pipeline": lambda: video.process_video(path, None, _pipeline()),
    }


@pytest.mark.parametrize("entry", ["header", "frames", "pipeline"])
def test_frames_above_the_photo_pixel_cap_are_refused_from_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    """The cap is 40 MP (as for photos); a lower one stands in for it so the clip stays small to write."""
    path = write_face_video(tmp_path / "clip.mp4", 3, size=(320, 240))
    monkeypatch.setattr(video, "MAX_FRAME_PIXELS", 320 * 240 - 1)
    decoded = []
    monkeypatch.setattr(av.VideoFrame, "to_ndarray", lambda *a, **k: decoded.append(1))
    with pytest.raises(video.VideoError, match=r"clip.mp4: frames of 320x240 pixels, more than"):
        _entry_points(path)[entry]()
    assert not decoded


def test_the_video_frame_cap_is_the_photo_cap() -> None:
    from fer_core.vision.imageio import MAX_DECODED_PIXELS

    assert video.MAX_FRAME_PIXELS == MAX_DECODED_PIXELS == 40_000_000
