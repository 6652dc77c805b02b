"""Video page: annotate a clip (upload or sample), play it back, and chart each face's emotions over time.

The processed result lives in ``st.session_state``, so interacting with the page afterwards (choosing a face,
changing a tab) never reprocesses the video or loses it; a new source replaces it.
"""

from __future__ import annotations

import streamlit as st

from fer_app.common import get_detector
from fer_app.demo_views import DemoSettings, demo_sidebar, load_classifier_or_stop
from fer_app.plain_text import literal
from fer_app.routing import enter_through_navigation
from fer_core.apps.video import (
    MAX_SECONDS,
    SAMPLE_CLIP_NAME,
    TIMELINE_MIME,
    VIDEO_PRESET,
    VIDEO_TYPES,
    VideoAnalysis,
    VideoSource,
    analyse_video,
    frames_to_process,
    source_info,
    staged_file,
    timeline_bytes,
    write_sample_clip,
)
from fer_core.vision.detect import no_face_reason
from fer_core.vision.pipeline import FacePipeline
from fer_core.vision.video import VideoError, VideoInfo
from fer_core.viz.demo import shares_figure, stacked_probabilities_figure, top_emotion_figure

enter_through_navigation()

RESULT_KEY = "video_analysis"
_PERCENT = st.column_config.NumberColumn(format="percent")


def chosen_source() -> VideoSource | None:
    """The uploaded video, else the sample clip when ticked, else None."""
    # No ``type=`` filter: Streamlit answers another type with an exception in place of the page; staged_file
    # refuses it with a message naming the accepted VIDEO_TYPES instead.
    upload = st.file_uploader(
        "Video file",
        key="video_upload",
        help=f"{', '.join(VIDEO_TYPES)}. The video is processed here and not stored: its temporary copy is deleted "
        "as soon as it has been read.",
    )
    use_sample = st.checkbox("Use a sample clip (3 s, one moving face)", key="video_use_sample")
    if upload is not None:
        data = upload.getvalue()
        return VideoSource(f"upload:{upload.file_id}", upload.name, lambda path: path.write_bytes(data))
    if use_sample:
        return VideoSource("sample", SAMPLE_CLIP_NAME, write_sample_clip)
    return None


def show_info(info: VideoInfo) -> None:
    columns = st.columns(4)
    columns[0].metric("Frame size", f"{info.width}x{info.height}")
    columns[1].metric("Frame rate", f"{info.fps:.1f} fps")
    columns[2].metric("Frames", f"{info.frame_count:,}")
    columns[3].metric("Duration", f"{info.duration_s:.1f} s")


def processing_options(info: VideoInfo) -> tuple[int, int]:
    """Frame step and the number of source frames to read (the duration guard)."""
    step_column, seconds_column = st.columns(2)
    frame_step = step_column.number_input(
        "Analyse every n-th frame",
        min_value=1,
        max_value=30,
        value=1,
        key="video_frame_step",
        help="Frames in between reuse the last result, so the output keeps its length; higher is faster.",
    )
    longest = max(1, min(MAX_SECONDS, int(info.duration_s + 0.999)))
    max_seconds = seconds_column.number_input(
        "Analyse at most the first ... seconds",
        min_value=1,
        max_value=longest,
        value=min(longest, 60),
        key="video_max_seconds",
        help=f"A guard against very long files (at most {MAX_SECONDS} s per run).",
    )
    return int(frame_step), frames_to_process(info, max_seconds)


def run_processing(source: VideoSource, demo: DemoSettings, frame_step: int, max_frames: int) -> None:
    """Process with a progress bar inside a status box; keep the result in st.session_state or show the error.

    The source is staged only for the processing itself: its temporary file is gone when this returns.
    """
    detector = get_detector(demo.detector, VIDEO_PRESET)
    pipeline = FacePipeline(load_classifier_or_stop(demo.model), detector, demo.pipeline)
    with st.status(f"Processing {literal(source.name)}...", expanded=True) as status:
        bar = st.progress(0.0, text="Starting")

        def progress(done: int, total: int) -> None:
            if done == total or done % 5 == 0:  # fewer messages to the browser; 5 frames is still smooth
                bar.progress(min(1.0, done / total), text=f"Frame {done:,} of {total:,}")

        try:
            with staged_file(source) as path:
                analysis = analyse_video(
                    path,
                    pipeline,
                    source_key=source.key,
                    source_name=source.name,
                    frame_step=frame_step,
                    max_frames=max_frames,
                    progress=progress,
                )
        except VideoError as err:
            status.update(label="Processing failed", state="error")
            st.error(literal(err))
            return
        st.session_state[RESULT_KEY] = analysis
        status.update(label=f"Processed {analysis.frames_read:,} frames in {analysis.seconds:.1f} s", state="complete")


def show_video(analysis: VideoAnalysis) -> None:
    st.video(analysis.video_mp4, format="video/mp4")
    st.download_button(
        "Download the annotated video",
        analysis.video_mp4,
        file_name=f"{analysis.source_name.rsplit('.', 1)[0]}_annotated.mp4",
        mime="video/mp4",
        on_click="ignore",
        key="video_download_mp4",
    )


def show_timeline(analysis: VideoAnalysis) -> None:
    """Per-face charts: top-emotion confidence over time and all probabilities stacked."""
    tracks = analysis.track_ids
    if not tracks:
        detector = get_detector(st.session_state.get("video_detector", "haar"), VIDEO_PRESET)
        st.warning(f"No face was found in the analysed frames. {no_face_reason(detector, analysis.info.size)}")
        return
    track = st.selectbox("Face", tracks, format_func=lambda t: f"face #{t}", key="video_track")
    rows = analysis.track_timeline(track)
    top_tab, stacked_tab = st.tabs(["Top emotion", "All probabilities"])
    top_tab.plotly_chart(top_emotion_figure(rows, analysis.labels), key="video_top_emotion")
    stacked_tab.plotly_chart(stacked_probabilities_figure(rows, analysis.labels), key="video_stacked")


def show_shares(analysis: VideoAnalysis) -> None:
    shares = analysis.shares()
    if shares.empty:
        return
    st.subheader("Emotion shares per face")
    st.plotly_chart(shares_figure(shares), key="video_shares")
    table = shares.rename(index=lambda t: f"face #{t}")
    st.dataframe(table, column_config={c: _PERCENT for c in table.columns})


def show_exports(analysis: VideoAnalysis) -> None:
    st.subheader("Timeline")
    st.caption(
        "One row per face per analysed frame, and one row with empty face fields for an analysed frame without a "
        "face; `frame` is the source frame index."
    )
    st.dataframe(analysis.timeline, hide_index=True, key="video_timeline_table")
    stem = analysis.source_name.rsplit(".", 1)[0]
    for column, (suffix, mime) in zip(st.columns(len(TIMELINE_MIME)), TIMELINE_MIME.items(), strict=True):
        column.download_button(
            f"Timeline as {suffix[1:].upper()}",
            timeline_bytes(analysis.timeline, suffix),
            file_name=f"{stem}_timeline{suffix}",
            mime=mime,
            on_click="ignore",
            key=f"video_download{suffix}",
        )


def show_results(analysis: VideoAnalysis) -> None:
    step = "every frame" if analysis.frame_step == 1 else f"every {analysis.frame_step} frames"
    st.caption(
        f"{literal(analysis.source_name)}: {analysis.frames_read:,} frames read, analysed {step}, "
        f"{len(analysis.track_ids)} face track(s), processed in {analysis.seconds:.1f} s."
    )
    show_video(analysis)
    show_timeline(analysis)
    show_shares(analysis)
    show_exports(analysis)


st.title("Video")
settings = demo_sidebar("video", temporal=True)
load_classifier_or_stop(settings.model)
video_source = chosen_source()
if video_source is None:
    st.info("Upload a video, or tick **Use a sample clip**.")
    st.stop()
try:
    video_info = source_info(st.session_state, video_source)
except VideoError as error:
    st.error(literal(error))
    st.stop()
show_info(video_info)
step, frames = processing_options(video_info)
if st.button("Process video", type="primary", key="video_process"):
    run_processing(video_source, settings, step, frames)
result = st.session_state.get(RESULT_KEY)
if result is not None and result.source_key == video_source.key:
    show_results(result)
