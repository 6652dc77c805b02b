"""Live webcam page: the browser streams the camera over WebRTC, the server boxes every face with its emotion.

The frame callback runs in a streamlit-webrtc worker thread without a Streamlit script context, so it only calls
``LiveProcessor.process`` (fer_core.apps.live); the numbers leave that thread through the processor's lock and are
polled once a second by a fragment. Frames that arrive while one is being analysed are dropped
(``async_processing``), so the video stays live instead of falling behind.
"""

from __future__ import annotations

from collections.abc import Callable

import av
import cv2
import numpy as np
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer
from streamlit_webrtc.eventloop import get_global_event_loop

from fer_app.common import get_detector
from fer_app.demo_views import DemoSettings, demo_sidebar, load_classifier_or_stop
from fer_app.routing import enter_through_navigation
from fer_core import settings
from fer_core.apps.live import (
    ICE_SERVERS_ENV,
    LIVE_STAGES,
    STATS_WINDOW,
    LiveProcessor,
    LiveStats,
    format_fps,
    quiet_closed_transport_errors,
    rtc_configuration,
    stream_state,
)
from fer_core.vision.pipeline import frames_table
from fer_core.viz.demo import stacked_probabilities_figure

enter_through_navigation()

PROCESSOR_KEY = "live_processor"
PLAYING_KEY = "live_was_playing"
STARTED_KEY = "live_started"
TIMELINE_SECONDS = 60.0
# The timeline is redrawn every 3 s from at most 120 points (2 a second): at 900 points a second it took as much
# CPU as a third of the frames it charts, on the cores the stream needs (scripts/bench_live_browser.py).
TIMELINE_REFRESH_S = 3.0
TIMELINE_MAX_POINTS = 120
MEDIA_CONSTRAINTS = {"video": {"width": 640, "height": 480}, "audio": False}
CONNECTION_HELP = f"""
The video goes from this browser to the server and back over WebRTC. By default no STUN/TURN server is used, so
nothing leaves your network: this works when the browser reaches the server directly (same machine or LAN).
For a deployment behind NAT, list ICE servers in the `{ICE_SERVERS_ENV}` environment variable before starting
the app, as JSON, e.g. `[{{"urls": ["stun:stun.example.org:3478"]}}]` or
`[{{"urls": "turn:turn.example.org:3478", "username": "user", "credential": "secret"}}]`.
"""


def session_processor(settings: DemoSettings, show_bars: bool) -> LiveProcessor:
    """This browser session's processor, switched to the sidebar's model/detector and settings (live, no restart)."""
    classifier = load_classifier_or_stop(settings.model)
    detector = get_detector(settings.detector, "live")
    processor = st.session_state.get(PROCESSOR_KEY)
    if processor is None:
        processor = LiveProcessor(classifier, detector, settings.pipeline)
        st.session_state[PROCESSOR_KEY] = processor
    processor.set_models(classifier, detector)
    processor.apply_settings(settings.pipeline, show_bars=show_bars)
    return processor


def frame_callback(processor: LiveProcessor) -> Callable[[av.VideoFrame], av.VideoFrame]:
    """The WebRTC callback: three lines into fer_core, no st.* calls (it runs outside the script thread)."""

    def callback(frame: av.VideoFrame) -> av.VideoFrame:
        return processor.process_video_frame(frame)

    return callback


def ice_configuration() -> dict:
    """ICE servers from the environment; a malformed value is reported (never echoed) and ignored."""
    try:
        return rtc_configuration(settings.ice_servers())
    except ValueError as err:
        st.warning(f"Ignoring {ICE_SERVERS_ENV}, so no STUN/TURN server is used: {err}.")
        return rtc_configuration(None)


def current_stream_state(processor: LiveProcessor, playing: bool) -> str:
    """The stream's state (fer_core.apps.live.stream_state) from this session's history of START and STOP.

    A new START resets the processor, so the "starting" state and fresh numbers show for every new stream.
    """
    was_playing = st.session_state.get(PLAYING_KEY, False)
    st.session_state[PLAYING_KEY] = playing
    if playing and not was_playing:
        processor.reset()
        st.session_state[STARTED_KEY] = True
    return stream_state(playing, processor.stats().frames_processed, st.session_state.get(STARTED_KEY, False))


def show_metrics(stats: LiveStats, state: str) -> None:
    """Two metrics a row (the panel is narrow), then where the time goes. A stopped stream has no frame rate."""
    latency = stats.latency_ms
    fps = format_fps(stats.fps if state == "live" else 0.0)
    rows = [
        (("Frames processed", stats.frames_processed), ("FPS", fps)),
        (("Faces in last frame", stats.faces_in_last_frame), ("Most faces in a frame", stats.max_faces_seen)),
    ]
    for row in rows:
        for column, (label, value) in zip(st.columns(2), row, strict=True):
            column.metric(label, value)
    stages = " · ".join(f"{stage} {latency.get(stage, 0.0):.1f}" for stage in LIVE_STAGES)
    total = latency.get("total", 0.0)
    st.caption(f"Latency per frame (ms, mean of the last {STATS_WINDOW} frames): {stages} · **total {total:.1f}**")


STATE_MESSAGES = {
    "idle": "Press START under the video to stream your camera; numbers appear here once frames arrive.",
    "starting": (
        "Starting: the browser asks for the camera and connects to the server. The first frame can take 10-30 s "
        "on a busy server; the numbers appear as soon as it arrives."
    ),
    "stopped": "Stopped. Press START to stream again (the numbers start afresh).",
}


@st.fragment(run_every=1.0)
def live_panel(processor: LiveProcessor, state: str) -> None:
    """Polled once a second: the stream's state and the session's numbers."""
    stats = processor.stats()
    if state == "live" and stats.seconds_since_last_frame is not None and stats.seconds_since_last_frame > 3:
        st.caption(f"No frame for {stats.seconds_since_last_frame:.0f} s (stream paused or stalled).")
    if state == "starting" and stats.frames_processed:
        state = "live"  # the first frame arrived since the page last ran
    status = {"starting": st.info, "stopped": st.warning, "idle": st.info}.get(state)
    if status is not None:
        status(STATE_MESSAGES[state], icon=":material/hourglass_top:" if state == "starting" else None)
    st.markdown(f"**Stream:** {state}", help="idle, starting, live or stopped")
    show_metrics(stats, state)


@st.fragment(run_every=TIMELINE_REFRESH_S)
def live_timeline(processor: LiveProcessor) -> None:
    """Polled every few seconds: the main face's emotion timeline, the width of the page."""
    if processor.stats().frames_processed == 0:
        return
    points = processor.timeline(TIMELINE_SECONDS, max_points=TIMELINE_MAX_POINTS)
    if not points:
        st.caption("No face classified yet: face the camera, in good light.")
        return
    labels = processor.labels
    figure = stacked_probabilities_figure(frames_table(points, labels), labels)
    figure.update_layout(title=f"Main face, last {TIMELINE_SECONDS:.0f} s")
    st.plotly_chart(figure, key="live_timeline", width="stretch")


def snapshot_bytes(processor: LiveProcessor) -> Callable[[], bytes]:
    """Deferred PNG of the last annotated frame, made at click time (a grey placeholder before any frame)."""

    def make() -> bytes:
        png = processor.snapshot_png()
        if png is not None:
            return png
        placeholder = np.full((120, 320, 3), 60, np.uint8)
        cv2.putText(placeholder, "no frame yet", (70, 65), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1)
        return cv2.imencode(".png", placeholder)[1].tobytes()

    return make


def main() -> None:
    st.title("Live webcam")
    st.caption("Every face in your camera feed, boxed with its emotion and confidence, analysed on the server.")
    settings = demo_sidebar("live", temporal=True)
    show_bars = st.sidebar.checkbox("Show probability bars", value=True, key="live_show_bars", help="Top-3 per face")
    processor = session_processor(settings, show_bars)
    quiet_closed_transport_errors(get_global_event_loop())  # STOP while connecting: no error in the server log
    video_column, panel_column = st.columns([3, 2])
    with video_column:
        context = webrtc_streamer(
            key="live",
            mode=WebRtcMode.SENDRECV,
            rtc_configuration=ice_configuration(),
            media_stream_constraints=MEDIA_CONSTRAINTS,
            video_frame_callback=frame_callback(processor),
            async_processing=True,
        )
        st.download_button(
            "Download snapshot (PNG)",
            data=snapshot_bytes(processor),
            file_name="fer-studio-snapshot.png",
            mime="image/png",
            on_click="ignore",
            icon=":material/photo_camera:",
        )
        with st.expander("Camera does not connect?"):
            st.markdown(CONNECTION_HELP)
    with panel_column:
        live_panel(processor, current_stream_state(processor, bool(context.state.playing)))
    live_timeline(processor)


main()
