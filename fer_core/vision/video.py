"""Video files through the face pipeline: source -> pipeline -> annotated sink, plus a per-face timeline table.

The shape follows supervision's ``process_video`` / ``VideoSink``. Reading and writing go through PyAV (FFmpeg),
which reads mp4, avi, mov and webm alike and whose wheels ship ``libx264``: the annotated output is H.264 /
yuv420p in MP4 with the index at the front (``+faststart``), the one combination every browser plays inline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd

from fer_core.errors import VideoError
from fer_core.labels import labels_of_columns
from fer_core.vision.annotate import annotate_frame
from fer_core.vision.imageio import MAX_DECODED_PIXELS
from fer_core.vision.pipeline import UNCERTAIN, FacePipeline, FrameResult, frames_table

__all__ = [
    "TIMELINE_FORMATS",
    "VideoError",
    "VideoInfo",
    "VideoSink",
    "check_frame_size",
    "emotion_shares",
    "export_timeline",
    "iter_frames",
    "output_size",
    "process_video",
    "read_timeline",
]

TIMELINE_FORMATS = (".csv", ".parquet", ".json")
MAX_FRAME_PIXELS = MAX_DECODED_PIXELS  # 40 MP, as for photos


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise VideoError(f"video file not found: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"video file is empty (0 bytes): {path}")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoError(f"cannot read {path.name}: not a video FFmpeg understands ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path.name} has no video stream")
    context = container.streams.video[0].codec_context
    try:
        check_frame_size(path, context.width, context.height)
    except VideoError:
        container.close()
        raise
    return container


def check_frame_size(path: Path, width: int, height: int) -> None:
    """Refuse frames above :data:`MAX_FRAME_PIXELS` (the photos' rule), from the header before any is decoded:
    two 12000x12000 frames in a 4.5 MB clip would otherwise add over a gigabyte to the process."""
    if width * height > MAX_FRAME_PIXELS:
        raise VideoError(
            f"{path.name}: frames of {width}x{height} pixels, more than the {MAX_FRAME_PIXELS / 1e6:.0f} MP a "
            "video frame may have (as for photos); scale the clip down first"
        )


@dataclass(frozen=True)
class VideoInfo:
    """Frame size, frame rate and frame count of a video file."""

    width: int
    height: int
    fps: float
    frame_count: int

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        return (self.width, self.height)

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps else 0.0

    @classmethod
    def from_path(cls, path: str | Path) -> VideoInfo:
        """Read the header (and count packets when the container does not store a frame count, as webm)."""
        path = Path(path)
        container = _open_input(path)
        try:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
            count = stream.frames or _count_packets(container, stream)
            width, height = stream.codec_context.width, stream.codec_context.height
        except av.FFmpegError as exc:
            raise VideoError(f"cannot read {path.name}: {exc}") from exc
        finally:
            container.close()
        if count <= 0 or width <= 0 or height <= 0:
            raise VideoError(f"{path.name} contains no video frames")
        return cls(width=width, height=height, fps=fps, frame_count=count)


def _count_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    return sum(1 for packet in container.demux(stream) if packet.size)


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decode a video file frame by frame as uint8 BGR arrays."""
    path = Path(path)
    container = _open_input(path)
    try:
        for frame in container.decode(video=0):
            check_frame_size(path, frame.width, frame.height)  # a stream may change size after its header
            yield frame.to_ndarray(format="bgr24")
    except av.FFmpegError as exc:
        raise VideoError(f"cannot decode {path.name}: {exc}") from exc
    finally:
        container.close()


class VideoSink:
    """Write BGR frames to an H.264 MP4 (libx264, yuv420p); falls back to OpenCV ``mp4v`` with a warning.

    yuv420p halves the chroma resolution, so odd frame sizes are cropped by one pixel row/column.
    """

    def __init__(
        self, path: str | Path, fps: float, size: tuple[int, int], *, crf: int = 23, preset: str = "veryfast"
    ) -> None:
        self.path = Path(path)
        self.fps = fps
        self.size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
        self.crf, self.preset = crf, preset
        self.codec = "libx264" if "libx264" in av.codecs_available else "mp4v"
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._cv_writer: cv2.VideoWriter | None = None

    def __enter__(self) -> VideoSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.codec == "libx264":
            self._open_av()
        else:
            warnings.warn(
                "PyAV has no libx264 here; writing MPEG-4 Part 2 (mp4v), which browsers may not play",
                RuntimeWarning,
                stacklevel=2,
            )
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._cv_writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, self.size)
        return self

    def _open_av(self) -> None:
        container = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
        stream = container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        self._container, self._stream = container, stream

    def write(self, frame_bgr: np.ndarray) -> None:
        """Append one frame; it must be at least ``size`` (width, height)."""
        width, height = self.size
        if frame_bgr.shape[1] < width or frame_bgr.shape[0] < height:
            raise ValueError(f"frame {frame_bgr.shape[1]}x{frame_bgr.shape[0]} smaller than sink {width}x{height}")
        frame = np.ascontiguousarray(frame_bgr[:height, :width])
        if self._cv_writer is not None:
            self._cv_writer.write(frame)
            return
        if self._container is None or self._stream is None:
            raise RuntimeError(f"{self.path}: write() outside a 'with VideoSink(...)' block")
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
            self._container.mux(packet)

    def __exit__(self, *exc_info) -> None:
        if self._cv_writer is not None:
            self._cv_writer.release()
        if self._container is not None and self._stream is not None:
            for packet in self._stream.encode():  # flush frames the encoder still holds
                self._container.mux(packet)
            self._container.close()


def process_video(
    src: str | Path,
    dst: str | Path | None,
    pipeline: FacePipeline,
    *,
    frame_step: int = 1,
    max_frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    show_bars: bool = True,
    max_output_side: int | None = None,
) -> pd.DataFrame:
    """Run ``pipeline`` over ``src``, write the annotated video to ``dst`` (None: timeline only), return the timeline.

    ``max_output_side`` caps the annotated video's longer side (frames are analysed and annotated at the source's
    size, then shrunk): a 4K clip's H.264 encoder otherwise holds several 24 MB frames in its lookahead.

    Only every ``frame_step``-th frame is analysed; the frames between reuse the last result for drawing, so the
    output keeps the source frame rate and length. ``max_frames`` limits the source frames read. The timeline
    has one row per face per analysed frame, and one row with empty face fields for an analysed frame without a
    face (so every analysed frame is in it); ``frame`` is the source frame index.
    """
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    info = VideoInfo.from_path(src)
    total = info.frame_count if max_frames is None else min(info.frame_count, max_frames)
    pipeline.reset()
    results: list[FrameResult] = []
    out_size = output_size((info.width, info.height), max_output_side)
    sink = VideoSink(dst, info.fps, out_size) if dst is not None else None
    last: FrameResult | None = None
    with sink if sink is not None else contextlib.nullcontext():
        for index, frame in enumerate(iter_frames(src)):
            if max_frames is not None and index >= max_frames:
                break
            if index % frame_step == 0:
                last = dataclasses.replace(pipeline.process(frame, timestamp=index / info.fps), frame_index=index)
                results.append(last)
            if sink is not None and last is not None:  # frame 0 is always analysed, so every frame is written
                sink.write(_fit(annotate_frame(frame, last, show_bars=show_bars), out_size))
            if progress is not None:
                progress(index + 1, max(total, index + 1))
    return frames_table(results, pipeline.labels, empty_rows=True)


def output_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """``(width, height)`` shrunk (aspect kept) so the longer side is at most ``max_side``; None keeps it."""
    width, height = size
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale)), max(2, round(height * scale))


def _fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def export_timeline(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a timeline as CSV, Parquet or JSON (records), chosen by the file extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif suffix == ".json":
        df.to_json(path, orient="records", indent=1)
    else:
        raise ValueError(f"unknown timeline format {suffix!r}; known: {', '.join(TIMELINE_FORMATS)}")
    return path


def read_timeline(path: str | Path) -> pd.DataFrame:
    """Read a timeline written by ``export_timeline``."""
    path = Path(path)
    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".json": lambda p: pd.read_json(p, orient="records")}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"unknown timeline format {path.suffix!r}; known: {', '.join(TIMELINE_FORMATS)}")
    return reader(path)


def emotion_shares(df: pd.DataFrame) -> pd.DataFrame:
    """Share of analysed frames per shown label for each track (rows: track_id; columns: labels, "uncertain").

    Too-small faces and frames without a face are left out (nothing was shown for them); uncertain frames count
    as "uncertain", as displayed.
    """
    classified = df[df["track_id"].notna() & ~df["too_small"].fillna(True).astype(bool)]
    labels = [*labels_of_columns(df.columns), UNCERTAIN]
    if "shown_as" in classified:
        shown = classified["shown_as"]
    else:  # a timeline exported before the column existed: the same rule, from label and uncertain
        shown = classified["label"].where(~classified["uncertain"].astype(bool), UNCERTAIN)
    shares = shown.groupby(classified["track_id"]).value_counts(normalize=True).unstack(fill_value=0.0)
    return shares.reindex(columns=labels, fill_value=0.0).rename_axis(index="track_id", columns=None)
