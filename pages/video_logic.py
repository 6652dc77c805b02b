"""What the video page does, without Streamlit: stage the source file, run it through the pipeline, export.

``process_video`` (fer_core.video) needs a file path, while an upload arrives as bytes: :func:`stage_source`
writes it once per source into a temporary file and remembers it in a dict (the page passes
``st.session_state``), so reruns neither rewrite nor reprocess it. The result is one :class:`VideoAnalysis`
that holds everything the page shows and offers for download.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import NamedTuple

import pandas as pd

from fer_core.pipeline import FacePipeline
from fer_core.sample_media import write_face_video
from fer_core.video import VideoInfo, emotion_shares, export_timeline, process_video

__all__ = [
    "MAX_SECONDS",
    "SAMPLE_CLIP_NAME",
    "TIMELINE_MIME",
    "VIDEO_TYPES",
    "VideoAnalysis",
    "VideoSource",
    "analyse_video",
    "frames_to_process",
    "stage_source",
    "timeline_bytes",
    "write_sample_clip",
]

VIDEO_TYPES = ("mp4", "avi", "mov", "webm", "mkv")
SAMPLE_CLIP_NAME = "sample_clip.mp4"
MAX_SECONDS = 300  # the longest stretch one click may analyse: beyond this a CPU server blocks for minutes
TIMELINE_MIME = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet", ".json": "application/json"}
_STAGED_KEY = "video_staged_source"


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
        """Share of analysed frames per shown emotion for each face (``fer_core.video.emotion_shares``)."""
        return emotion_shares(self.timeline)

    def track_timeline(self, track_id: int) -> pd.DataFrame:
        return self.timeline[self.timeline["track_id"] == track_id]


def _safe_file_name(name: str) -> str:
    """The upload's base name with anything but letters, digits, dot, dash and underscore replaced."""
    return re.sub(r"[^\w.-]", "_", Path(name).name) or "video"


def stage_source(store: MutableMapping, key: str, name: str, write: Callable[[Path], object]) -> Path:
    """A file holding source ``key`` (written by ``write(path)`` only when ``key`` is new); the previous one goes.

    The file keeps the upload's name, so messages from ``fer_core.video`` name what the user uploaded.
    """
    staged = store.get(_STAGED_KEY)
    if staged is not None and staged[0] == key and Path(staged[1]).is_file():
        return Path(staged[1])
    if staged is not None:
        shutil.rmtree(Path(staged[1]).parent, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix="fer-studio-")) / _safe_file_name(name)
    write(path)
    store[_STAGED_KEY] = (key, str(path))
    return path


def write_sample_clip(path: Path, n_frames: int = 45, size: tuple[int, int] = (480, 360), fps: int = 15) -> Path:
    """The moving-astronaut clip of ``fer_core.sample_media`` (3 s by default): a video to try without a file."""
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
    with tempfile.TemporaryDirectory(prefix="fer-studio-out-") as out_dir:
        out_path = Path(out_dir) / "annotated.mp4"
        timeline = process_video(
            path, out_path, pipeline, frame_step=frame_step, max_frames=max_frames, progress=report
        )
        video = out_path.read_bytes()
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
