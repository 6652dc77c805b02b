"""What the video page does, without Streamlit: stage the source file, run it through the pipeline, export.

``process_video`` (fer_core.vision.video) needs a file path, while an upload arrives as bytes: :func:`staged_file`
writes it into a temporary folder that is deleted as soon as the block using it ends, whatever happens, so no
upload outlives the step that reads it (the page promises that videos are not stored). :func:`source_info`
keeps the little a rerun needs (frame size, rate, count) in a dict (the page passes ``st.session_state``). The
result is one :class:`VideoAnalysis` that holds everything the page shows and offers for download.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import NamedTuple

import pandas as pd

from fer_core.apps.memory import release_freed_memory
from fer_core.store.files import UnsafeFileError, check_regular_file
from fer_core.vision.detect import FaceDetector, create_detector
from fer_core.vision.pipeline import ClassifierLike, FacePipeline, PipelineSettings, json_records
from fer_core.vision.sample_media import write_face_video
from fer_core.vision.video import VideoError, VideoInfo, emotion_shares, export_timeline, process_video

__all__ = [
    "ANNOTATED_MAX_SIDE",
    "MAX_SECONDS",
    "SAMPLE_CLIP_NAME",
    "TIMELINE_MIME",
    "VIDEO_PRESET",
    "VIDEO_SETTINGS",
    "VIDEO_TYPES",
    "VideoAnalysis",
    "VideoSource",
    "analyse_video",
    "check_video_name",
    "frames_to_process",
    "is_video_name",
    "predict_video_file",
    "source_info",
    "staged_file",
    "timeline_bytes",
    "video_detector",
    "write_sample_clip",
]

VIDEO_TYPES = ("mp4", "avi", "mov", "webm", "mkv")
VIDEO_PRESET = "video"  # the detection preset clips are searched with (fer_core.vision.detect)
VIDEO_SETTINGS = PipelineSettings()  # what the Video page's sidebar starts from: tracks smoothed over frames
SAMPLE_CLIP_NAME = "sample_clip.mp4"
ANNOTATED_MAX_SIDE = 1280  # the annotated clip a browser plays: 720p is plenty, and 4K would cost ~0.5 GB to encode
MAX_SECONDS = 300  # the longest stretch one click may analyse: beyond this a CPU server blocks for minutes
TIMELINE_MIME = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet", ".json": "application/json"}
_INFO_KEY = "video_source_info"
STAGING_PREFIX = "fer-studio-"


class VideoSource(NamedTuple):
    """Where a video comes from: a stable ``key`` (upload id or "sample"), the name the user knows, and a function
    that writes its bytes to a path."""

    key: str
    name: str
    write: Callable[[Path], object]


@dataclass(frozen=True, eq=False)
class VideoAnalysis:
    """One processed video: its info, the per-face timeline, the annotated H.264 MP4 and how it was made."""

    source_key: str
    source_name: str
    info: VideoInfo
    labels: tuple[str, ...]
    timeline: pd.DataFrame = field(repr=False)
    video_mp4: bytes = field(repr=False)
    frames_read: int
    frame_step: int
    seconds: float

    @property
    def track_ids(self) -> list[int]:
        """Tracked faces, in order of first appearance."""
        return [int(t) for t in self.timeline["track_id"].dropna().unique()]

    def shares(self) -> pd.DataFrame:
        """Share of analysed frames per shown emotion for each face (``fer_core.vision.video.emotion_shares``)."""
        return emotion_shares(self.timeline)

    def track_timeline(self, track_id: int) -> pd.DataFrame:
        return self.timeline[self.timeline["track_id"] == track_id]


def _safe_file_name(name: str) -> str:
    """The upload's base name with anything but letters, digits, dot, dash and underscore replaced."""
    return re.sub(r"[^\w.-]", "_", Path(name).name) or "video"


def is_video_name(name: str) -> bool:
    """Whether ``name`` has one of the :data:`VIDEO_TYPES` extensions."""
    return "." in name and name.rsplit(".", 1)[-1].lower() in VIDEO_TYPES


def video_detector(kind: str = "haar", model_path: str | None = None) -> FaceDetector:
    """The face detector clips are searched with (the ``video`` preset of ``kind``)."""
    return create_detector(kind, model_path=model_path, preset=VIDEO_PRESET)


def predict_video_file(
    classifier: ClassifierLike, path: str | Path, detector: FaceDetector, settings: PipelineSettings = VIDEO_SETTINGS
) -> list[dict]:
    """The CLI's ``predict`` for a clip: the Video page's timeline, ``video`` first, one JSON-ready row per face per
    frame (a frame without a face: one row with its face fields empty); an unreadable clip: one error record."""
    try:
        check_video_name(str(path))
        check_regular_file(path, what="video")
        timeline = process_video(path, None, FacePipeline(classifier, detector, settings))
    except (VideoError, UnsafeFileError) as err:
        return [{"video": str(path), "error": str(err)}]
    except OSError as err:
        return [{"video": str(path), "error": f"{path}: {err.strerror or err}"}]
    finally:
        release_freed_memory()
    timeline.insert(0, "video", str(path))
    return json_records(timeline)


def check_video_name(name: str) -> None:
    """Refuse a file whose extension is not in ``VIDEO_TYPES`` (the upload widget takes any file)."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in VIDEO_TYPES:
        shown = f".{extension} files are" if extension else "files without an extension are"
        raise VideoError(f"{name}: {shown} not accepted; accepted: {', '.join(VIDEO_TYPES)}")


@contextmanager
def staged_file(source: VideoSource) -> Iterator[Path]:
    """The source's bytes in a temporary file for the duration of the block; the folder goes when it ends.

    The file keeps the upload's (sanitised) name, and a ``VideoError`` raised inside names what the user
    uploaded instead of the temporary path.
    """
    check_video_name(source.name)
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX) as folder:
        path = Path(folder) / _safe_file_name(source.name)
        try:
            source.write(path)
            yield path
        except VideoError as err:
            raise VideoError(str(err).replace(str(path), source.name)) from None


def source_info(store: MutableMapping, source: VideoSource) -> VideoInfo:
    """Frame size, rate and count of ``source``, read once per source (staged only while it is read)."""
    cached = store.get(_INFO_KEY)
    if cached is not None and cached[0] == source.key:
        return cached[1]
    with staged_file(source) as path:
        info = VideoInfo.from_path(path)
    store[_INFO_KEY] = (source.key, info)
    return info


def write_sample_clip(path: Path, n_frames: int = 45, size: tuple[int, int] = (480, 360), fps: int = 15) -> Path:
    """The moving-astronaut clip of ``fer_core.vision.sample_media`` (3 s by default): a video to try without a file."""
    return write_face_video(path, n_frames, size=size, fps=fps)


def frames_to_process(info: VideoInfo, max_seconds: float) -> int:
    """Source frames covered by the first ``max_seconds`` of the video (at least one)."""
    return max(1, min(info.frame_count, math.ceil(max_seconds * info.fps)))


def analyse_video(
    path: Path,
    pipeline: FacePipeline,
    *,
    source_key: str,
    source_name: str,
    frame_step: int = 1,
    max_frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VideoAnalysis:
    """Annotate the video at ``path`` and build its timeline; raises ``VideoError`` for unreadable files."""
    info = VideoInfo.from_path(path)
    frames_seen = [0]

    def report(done: int, total: int) -> None:
        frames_seen[0] = done
        if progress is not None:
            progress(done, total)

    started = perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="fer-studio-out-") as out_dir:
            out_path = Path(out_dir) / "annotated.mp4"
            timeline = process_video(
                path,
                out_path,
                pipeline,
                frame_step=frame_step,
                max_frames=max_frames,
                progress=report,
                max_output_side=ANNOTATED_MAX_SIDE,
            )
            video = out_path.read_bytes()
    finally:
        release_freed_memory()  # decoded frames are gone; give their pages back instead of keeping them per run
    return VideoAnalysis(
        source_key,
        source_name,
        info,
        tuple(pipeline.labels),
        timeline,
        video,
        frames_seen[0],
        frame_step,
        perf_counter() - started,
    )


def timeline_bytes(timeline: pd.DataFrame, suffix: str) -> bytes:
    """The timeline as a ``.csv``, ``.parquet`` or ``.json`` file's bytes (written by ``export_timeline``)."""
    with tempfile.TemporaryDirectory(prefix="fer-studio-export-") as out_dir:
        return export_timeline(timeline, Path(out_dir) / f"timeline{suffix}").read_bytes()
