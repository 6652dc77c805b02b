"""Live-session state for a webcam stream: one ``LiveProcessor`` per viewer, shared by two threads.

A WebRTC frame callback runs in a worker thread and calls :meth:`LiveProcessor.process` for every frame it keeps
(frames that arrive while one is being processed are dropped upstream, never queued). The UI thread polls
:meth:`LiveProcessor.stats`, :meth:`LiveProcessor.timeline` and :meth:`LiveProcessor.snapshot_png` about once a
second and changes settings between frames. Everything the two threads share sits behind one lock, and what
leaves the lock is an immutable snapshot, so the UI never reads half-updated numbers (the pattern streamlit-webrtc
recommends: results leave the callback through a lock-protected object, not through ``st.*`` calls).

This module knows nothing about Streamlit or WebRTC: it takes and returns uint8 BGR frames, or (``process_video_frame``)
any frame object with PyAV's ``to_ndarray`` / ``from_ndarray``, converted through YUV 4:2:0 (what WebRTC codecs carry).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from fer_core import settings
from fer_core.vision.annotate import annotate_frame, draw_hud
from fer_core.vision.detect import FaceDetector
from fer_core.vision.pipeline import (
    ClassifierLike,
    FacePipeline,
    FaceResult,
    FrameResult,
    PipelineSettings,
)

__all__ = [
    "ICE_SERVERS_ENV",
    "LIVE_STAGES",
    "STATS_WINDOW",
    "LiveProcessor",
    "LiveStats",
    "bgr_to_video_frame",
    "format_fps",
    "hud_lines",
    "main_face",
    "quiet_closed_transport_errors",
    "rtc_configuration",
    "stream_state",
    "video_frame_to_bgr",
]

# Environment variable with a JSON list of ICE servers for deployments behind NAT, e.g.
# '[{"urls": ["stun:stun.example.org:3478"]}, {"urls": "turn:turn.example.org", "username": "u", "credential": "p"}]'
ICE_SERVERS_ENV = settings.ICE_SERVERS.name

# Frames over which FPS and latencies are averaged: about one second of webcam video, so the numbers react to a
# settings change quickly but do not flicker from frame to frame.
STATS_WINDOW = 30
# Where a frame's time goes inside the server, in path order: ``convert`` (decoded picture -> BGR array and the
# annotated array -> a picture for the encoder), the pipeline's stages, ``annotate`` (boxes, bars, HUD). ``total`` is
# the whole frame, receive to hand-back; the WebRTC decode and encode run in aiortc's own threads, outside it.
LIVE_STAGES = ("convert", "detect", "classify", "track", "annotate")
# Timeline length: two minutes at 30 FPS; older points fall off (memory stays bounded in a long session).
TIMELINE_MAX_POINTS = 3600


@dataclass(frozen=True)
class LiveStats:
    """A consistent snapshot of the session's numbers (what the stats panel shows)."""

    frames_processed: int
    faces_in_last_frame: int
    max_faces_seen: int
    fps: float
    latency_ms: dict[str, float] = field(default_factory=dict)
    last_labels: tuple[str, ...] = ()
    seconds_since_last_frame: float | None = None


def main_face(result: FrameResult) -> FaceResult | None:
    """The largest classified face of a frame (the person in front of the camera), or ``None``."""
    classified = [face for face in result.faces if not face.too_small]
    if not classified:
        return None
    return max(classified, key=lambda face: face.width * face.height)


def hud_lines(stats: LiveStats) -> list[str]:
    """Overlay text: throughput first (what a viewer looks for), then where the time goes."""
    latency = stats.latency_ms
    stages = " ".join(f"{name[:3]} {latency.get(name, 0.0):.1f}" for name in ("detect", "classify", "track"))
    return [
        f"{format_fps(stats.fps)} FPS  {stats.faces_in_last_frame} face(s)",
        f"{stages} ms",
        f"total {latency.get('total', 0.0):.1f} ms",
    ]


# The FPS figure is refreshed at most once a second, and the HUD on the video and the panel both show that one
# figure (a per-frame value drawn on the video never matched the panel that polls once a second).
FPS_REFRESH_S = 1.0
# No frame for this long: the stream is stopped, and the FPS is 0. Shorter waits lower the figure as they grow
# (``LiveProcessor.stats``), so a slow stream - a frame every 3 s on an overloaded server - reads 0.33 FPS, not 0.
STALE_AFTER_S = 10.0


def _fps(arrivals: deque[float]) -> float:
    """Frames per second over the arrival times in the window (0 until two frames have arrived)."""
    if len(arrivals) < 2 or arrivals[-1] <= arrivals[0]:
        return 0.0
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


def stream_state(playing: bool, frames: int, started_before: bool) -> str:
    """The live page's stream state: ``idle`` (START never pressed in this session), ``starting`` (START pressed,
    no frame yet), ``live``, or ``stopped`` - also when STOP came before the first frame, which must not read as
    a stream that never started."""
    if playing:
        return "live" if frames else "starting"
    return "stopped" if frames or started_before else "idle"


def format_fps(fps: float) -> str:
    """One decimal from 1 FPS up, two below (0.33, not 0.3 or 0.0, for a frame every 3 s); "0" when stopped."""
    if fps <= 0:
        return "0"
    return f"{fps:.1f}" if fps >= 1 else f"{fps:.2f}"


def video_frame_to_bgr(frame) -> np.ndarray:
    """A decoded picture (PyAV ``VideoFrame``) as a uint8 BGR array.

    WebRTC decoders hand out YUV 4:2:0; OpenCV's SIMD conversion from the I420 planes is several times cheaper than
    libswscale's ``to_ndarray(format="bgr24")``. Odd sizes (no whole chroma rows) take the general path.
    """
    if frame.width % 2 or frame.height % 2:
        return frame.to_ndarray(format="bgr24")
    return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)


def bgr_to_video_frame(image: np.ndarray, frame_type):
    """A uint8 BGR array as a ``frame_type`` (PyAV ``VideoFrame``) picture in YUV 4:2:0, what the VP8/H.264
    encoders take: converting here with OpenCV spares the encoder thread a libswscale conversion per frame."""
    height, width = image.shape[:2]
    if width % 2 or height % 2:
        return frame_type.from_ndarray(image, format="bgr24")
    return frame_type.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")


class LiveProcessor:
    """Runs the face pipeline on webcam frames and keeps what the UI shows about them.

    ``process`` is the whole frame callback: pipeline, drawing (boxes, bars, HUD), statistics. Settings and models
    can change while frames flow; ``update_settings`` keeps tracks, ``set_models`` starts new ones when the model
    or detector really changed (a different label set cannot continue old smoothed probabilities).
    """

    def __init__(
        self,
        classifier: ClassifierLike,
        detector: FaceDetector,
        settings: PipelineSettings | None = None,
        *,
        show_bars: bool = True,
        show_hud: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._pipeline = FacePipeline(classifier, detector, settings)
        self._show_bars = show_bars
        self._show_hud = show_hud
        self._start = clock()
        self._last_output_ms = 0.0
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._frames = 0
        self._max_faces = 0
        self._last_result: FrameResult | None = None
        self._last_frame: np.ndarray | None = None
        self._last_arrival: float | None = None
        self._arrivals: deque[float] = deque(maxlen=STATS_WINDOW)
        self._shown_fps = 0.0
        self._fps_published_at: float | None = None
        self._timings: deque[dict[str, float]] = deque(maxlen=STATS_WINDOW)
        self._timeline: deque[FrameResult] = deque(maxlen=TIMELINE_MAX_POINTS)

    # ------------------------------------------------------------------------------------------ settings

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names of the current model, in probability order."""
        with self._lock:
            return self._pipeline.labels

    @property
    def settings(self) -> PipelineSettings:
        with self._lock:
            return self._pipeline.settings

    @property
    def show_bars(self) -> bool:
        with self._lock:
            return self._show_bars

    def update_settings(self, *, show_bars: bool | None = None, **pipeline_changes) -> PipelineSettings:
        """Apply drawing and pipeline settings from the next frame on (validated; tracks are kept)."""
        with self._lock:
            if show_bars is not None:
                self._show_bars = bool(show_bars)
            return self._pipeline.update_settings(**pipeline_changes) if pipeline_changes else self._pipeline.settings

    def apply_settings(self, settings: PipelineSettings, *, show_bars: bool | None = None) -> PipelineSettings:
        """Run every field of ``settings`` from the next frame on (what the sidebar chose; tracks are kept)."""
        return self.update_settings(show_bars=show_bars, **dataclasses.asdict(settings))

    def set_models(self, classifier: ClassifierLike, detector: FaceDetector) -> bool:
        """Switch to another classifier or detector; returns whether anything changed.

        Called on every UI rerun with the (cached) objects the user selected, so it is a no-op unless one of
        them is a different object. A new model resets the timeline because its label set may differ.
        """
        with self._lock:
            current = self._pipeline
            if current.classifier is classifier and current.detector is detector:
                return False
            self._pipeline = FacePipeline(classifier, detector, current.settings)
            if tuple(classifier.labels) != current.labels:
                self._timeline.clear()
            return True

    def reset(self) -> None:
        """Forget counters, timeline, last frame and tracks (a fresh session with the same models)."""
        with self._lock:
            self._pipeline.reset()
            self._start = self._clock()
            self._reset_counters()

    # ------------------------------------------------------------------------------------------ frames

    def process(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Analyse one frame and return it annotated (a new array; the input is not modified).

        One lock acquisition for the whole frame: pipeline, drawing and counters see one model and one set of
        settings, and a change from the UI thread waits at most one frame (a few ms) for it.
        """
        return self._process(frame_bgr, started=time.perf_counter(), convert_ms=0.0)

    def process_video_frame(self, frame):
        """The WebRTC callback's whole work: a decoded picture in, the annotated picture out (same type).

        Times the conversions too (``convert`` in the latency figures: this frame's input side and the previous
        frame's output side, which is only known after the frame has been handed back).
        """
        started = time.perf_counter()
        image = video_frame_to_bgr(frame)
        convert_ms = (time.perf_counter() - started) * 1e3 + self._last_output_ms
        annotated = self._process(image, started=started, convert_ms=convert_ms)
        handed_back = time.perf_counter()
        picture = bgr_to_video_frame(annotated, type(frame))
        self._last_output_ms = (time.perf_counter() - handed_back) * 1e3  # written by this thread only
        return picture

    def _process(self, frame_bgr: np.ndarray, *, started: float, convert_ms: float) -> np.ndarray:
        with self._lock:
            arrival = self._clock()
            result = self._pipeline.process(frame_bgr, timestamp=arrival - self._start)
            drawing = time.perf_counter()
            annotated = annotate_frame(frame_bgr, result, show_bars=self._show_bars)
            timings = {**result.timings_ms, "convert": convert_ms}
            timings["annotate"] = (time.perf_counter() - drawing) * 1e3
            timings["total"] = (time.perf_counter() - started) * 1e3 + self._last_output_ms
            stats = self._record_locked(result, arrival, timings)
            if self._show_hud:
                draw_hud(annotated, hud_lines(stats))
            self._last_frame = annotated
        return annotated

    def _record_locked(self, result: FrameResult, arrival: float, timings: dict[str, float]) -> LiveStats:
        """Fold one frame into the counters (lock held); returns the updated stats (for the HUD of that frame)."""
        face = main_face(result)
        self._frames += 1
        self._max_faces = max(self._max_faces, len(result.faces))
        self._last_result = result
        self._last_arrival = arrival
        self._arrivals.append(arrival)
        self._publish_fps(arrival)
        self._timings.append(timings)
        if face is not None:
            self._timeline.append(result.with_faces((face,)))
        return self._stats_locked(now=arrival)

    # ------------------------------------------------------------------------------------------ readers

    def stats(self) -> LiveStats:
        """The current numbers, as one consistent snapshot."""
        with self._lock:
            return self._stats_locked(now=self._clock())

    def _publish_fps(self, now: float) -> None:
        """Refresh the shown FPS when a second has passed since the last refresh (or none was shown yet)."""
        published = self._fps_published_at
        if published is None and len(self._arrivals) < 2:
            return
        if published is None or now - published >= FPS_REFRESH_S:
            self._shown_fps = _fps(self._arrivals)
            self._fps_published_at = now

    def _stats_locked(self, now: float) -> LiveStats:
        result = self._last_result
        waited = None if self._last_arrival is None else max(0.0, now - self._last_arrival)
        stale = waited is None or waited > STALE_AFTER_S
        fps = 0.0 if stale else self._shown_fps
        if waited and waited * fps > 1.0 + 1e-9:  # waiting longer than the rate's interval lowers the rate
            fps = 1.0 / waited
        timings = self._timings
        keys = (*LIVE_STAGES, "total")
        latency = {key: sum(t.get(key, 0.0) for t in timings) / len(timings) for key in keys} if timings else {}
        return LiveStats(
            frames_processed=self._frames,
            faces_in_last_frame=len(result.faces) if result else 0,
            max_faces_seen=self._max_faces,
            fps=fps,
            latency_ms=latency,
            last_labels=tuple(face.display_label for face in result.faces) if result else (),
            seconds_since_last_frame=waited,
        )

    def timeline(self, window_s: float | None = None, max_points: int | None = None) -> list[FrameResult]:
        """The main face of each frame (a result holding that face only), oldest first; only the last ``window_s``
        seconds of the session when given. ``frames_table(timeline, labels)`` makes it the one face table.

        ``max_points`` thins the points evenly, always keeping the newest: a chart of a minute at 15 FPS needs no
        900 points, and building and drawing them every refresh costs the server and the browser CPU that the
        frames need (42 ms of plotly work a refresh at 900 points on this project's 2-core machine).
        """
        with self._lock:
            points = list(self._timeline)
        if window_s is not None and points:
            cutoff = (points[-1].timestamp or 0.0) - window_s
            points = [point for point in points if (point.timestamp or 0.0) >= cutoff]
        if max_points is not None and len(points) > max_points:
            step = len(points) / max_points
            points = [points[len(points) - 1 - round(i * step)] for i in reversed(range(max_points))]
        return points

    def last_frame(self) -> np.ndarray | None:
        """The last annotated frame (BGR), or ``None`` before the first frame."""
        with self._lock:
            return None if self._last_frame is None else self._last_frame.copy()

    def snapshot_png(self) -> bytes | None:
        """The last annotated frame encoded as PNG, or ``None`` before the first frame."""
        frame = self.last_frame()
        if frame is None:
            return None
        ok, encoded = cv2.imencode(".png", frame)
        if not ok:
            raise RuntimeError("OpenCV could not encode the snapshot as PNG")
        return encoded.tobytes()


def rtc_configuration(ice_servers_json: str | None) -> dict:
    """WebRTC configuration from the ``FER_ICE_SERVERS`` value: no ICE servers unless some are configured.

    An empty list (not "unset") matters: given no list, the browser and streamlit-webrtc fall back to public STUN
    servers, and nothing should reach the network unless a deployment asks for it. Local and LAN use needs none.
    Error messages say what is wrong and where, never the value itself: it may hold a TURN credential, and the
    page shows the message to every visitor.
    """
    if not ice_servers_json or not ice_servers_json.strip():
        return {"iceServers": []}
    try:
        servers = json.loads(ice_servers_json)
    except json.JSONDecodeError as err:
        raise ValueError(f"{ICE_SERVERS_ENV} is not valid JSON ({err.msg} at character {err.pos})") from None
    problems = _ice_server_problems(servers)
    if problems:
        raise ValueError(f"{ICE_SERVERS_ENV} {'; '.join(problems)} (expected {_ICE_SHAPE})")
    return {"iceServers": servers}


_ICE_SHAPE = 'a JSON list of objects with "urls" (a string or a list of strings) and optional "username", "credential"'


def _ice_server_problems(servers: object) -> list[str]:
    """What is wrong with a parsed ICE server list, one phrase per problem (empty when it is well formed)."""
    if not isinstance(servers, list):
        return [f"is a JSON {type(servers).__name__}, not a list"]
    problems = []
    for number, server in enumerate(servers, 1):
        if not isinstance(server, dict):
            problems.append(f"entry {number} is a {type(server).__name__}, not an object")
            continue
        urls = server.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u.strip() for u in urls):
            problems.append(f'entry {number} has no "urls" string or list of strings')
        for key in ("username", "credential"):
            if key in server and not isinstance(server[key], str):
                problems.append(f'entry {number} has a "{key}" that is not a string')
    return problems


_LOGGER = logging.getLogger(__name__)
_CLOSED_TRANSPORT = ("RTCIceTransport is closed", "RTCDtlsTransport is closed", "RTCSctpTransport is closed")


def _is_closed_transport_error(context: dict) -> bool:
    """An aiortc ``InvalidStateError`` for a transport closed under a connection attempt still in flight."""
    error = context.get("exception")
    return type(error).__name__ == "InvalidStateError" and str(error) in _CLOSED_TRANSPORT


def quiet_closed_transport_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Let a stream stop during connection set-up without an error in the server log.

    aiortc connects a peer in a task nobody awaits; when the viewer presses STOP while ICE is still checking
    (common on a busy server, where the first frame takes 10-30 s), the connection closes under that task, its
    next step raises ``InvalidStateError: RTCIceTransport is closed`` and asyncio logs "Task exception was never
    retrieved". The connection is closed as asked, so only that exact error is logged at debug level; every other
    error goes to the handler that was there before. Safe to call again (installs once per loop).
    """
    previous = loop.get_exception_handler()
    if getattr(previous, "quiets_closed_transports", False):
        return

    loop.set_exception_handler(_QuietClosedTransports(previous))


class _QuietClosedTransports:
    """The loop's exception handler: a closed transport at debug level, everything else to ``previous``."""

    quiets_closed_transports = True  # what install_quiet_transport_handler looks for, so it installs once

    def __init__(self, previous: Callable[[asyncio.AbstractEventLoop, dict], object] | None) -> None:
        self.previous = previous

    def __call__(self, event_loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if _is_closed_transport_error(context):
            _LOGGER.debug("WebRTC connection closed while connecting: %s", context.get("exception"))
        elif self.previous is not None:
            self.previous(event_loop, context)
        else:
            event_loop.default_exception_handler(context)
