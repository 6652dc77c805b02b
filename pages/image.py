"""Image page: upload photos (or use the sample), see every face's emotion, download all results as JSON or CSV.

Each upload is analysed on its own: a file that cannot be decoded shows an error naming it, and the others still
show their results.
"""

from __future__ import annotations

import streamlit as st

from fer_app.common import get_detector
from fer_app.demo_views import demo_sidebar, load_classifier_or_stop
from fer_app.plain_text import literal
from fer_app.routing import enter_through_navigation
from fer_core.apps.memory import release_freed_memory
from fer_core.apps.photo import (
    IMAGE_TYPES,
    PHOTO_MAX_FACES,
    PHOTO_PRESET,
    SAMPLE_PHOTO_NAME,
    ImageAnalysis,
    analyse_image,
    faces_table,
    results_json,
    results_table,
    sample_photo_bytes,
)
from fer_core.apps.saliency import occlusion_saliency, saliency_overlay
from fer_core.labels import prob_column
from fer_core.vision.detect import FaceDetector, no_face_reason
from fer_core.vision.pipeline import ClassifierLike, PipelineSettings, crop_face
from fer_core.viz.demo import probability_figure

enter_through_navigation()

MAX_BAR_CHARTS = 6  # per image; the table lists every face
_PERCENT = st.column_config.NumberColumn(format="percent")


def chosen_images() -> list[tuple[str, bytes, str]]:
    """(name, bytes, stable key) of every upload, plus the sample photo when ticked."""
    # No ``type=`` filter: Streamlit would reject the whole selection for one file of another type, losing the
    # good ones; analyse_image judges each file on its own against the same IMAGE_TYPES list.
    uploads = st.file_uploader(
        "Photos",
        accept_multiple_files=True,
        key="image_uploads",
        help=f"{', '.join(IMAGE_TYPES)}; several at once. Photos are analysed here and not stored.",
    )
    use_sample = st.checkbox("Use the sample photo (scikit-image astronaut)", key="image_use_sample")
    items = [(f.name, f.getvalue(), f.file_id) for f in uploads or []]
    if use_sample:
        items.insert(0, (SAMPLE_PHOTO_NAME, sample_photo_bytes(), "sample"))
    return items


def analyse_safely(
    name: str, data: bytes, whole_image: bool, classifier: ClassifierLike, detector: FaceDetector, settings
) -> ImageAnalysis:
    """``analyse_image``, with any failure turned into an error for this one file."""
    try:
        return analyse_image(name, data, classifier, detector, settings, whole_image=whole_image)
    except Exception as err:  # one file's failure must not take the other uploads' results down
        return ImageAnalysis(name, error=f"{name}: the analysis failed ({type(err).__name__}: {err})")


def saliency_section(analysis: ImageAnalysis, classifier, margin: float, key: str) -> None:
    """On demand: the occlusion map of one face (what moved its prediction), with what it cost."""
    classified = [(n, f) for n, f in enumerate(analysis.result.faces, 1) if f.probabilities is not None]
    if not classified or not st.toggle("What drove the answer? (occlusion saliency)", key=f"saliency_on_{key}"):
        return
    numbers = [n for n, _ in classified]
    number = st.selectbox("Face", numbers, key=f"saliency_face_{key}") if len(numbers) > 1 else numbers[0]
    face = dict(classified)[number]
    margin = 0.0 if analysis.whole_image else margin
    saliency = occlusion_saliency(classifier, crop_face(analysis.decoded.bgr, face.box, margin), classifier.input_size)
    left, right = st.columns([1, 2])
    left.image(saliency_overlay(saliency), caption=f"Face {number}", width=192)
    target = literal(analysis.result.labels[saliency.target])
    right.markdown(
        f"Red: covering this region lowered the probability of {target} ({saliency.probability:.0%}) - it supported "
        "the answer. Blue: covering it raised it. Colour strength is relative to this face's strongest region."
    )
    right.caption(
        f"A grey square slid over the face at the model's {classifier.input_size} px input: {saliency.forward_passes} "
        f"faces in one batch, {saliency.milliseconds:.0f} ms on this server ({classifier.backend})."
    )


def show_faces(analysis: ImageAnalysis, key: str) -> None:
    """Annotated image beside per-face probability bars, then the faces table."""
    result = analysis.result
    if analysis.decoded.notes:
        st.caption("; ".join(analysis.decoded.notes))
    if result.faces and not analysis.whole_image:
        count = len(result.faces)
        st.caption(f"{count} face{'s' if count > 1 else ''} found, numbered in reading order (rows top to bottom).")
    image_column, bars_column = st.columns([3, 2])
    image_column.image(analysis.annotated, channels="BGR")
    with bars_column:
        classified = [(n, f) for n, f in enumerate(result.faces, 1) if f.probabilities is not None]
        for number, face in classified[:MAX_BAR_CHARTS]:
            figure = probability_figure(result.labels, face.probabilities, f"Face {number}: {face.display_label}")
            st.plotly_chart(figure, key=f"image_bars_{key}_{number}")
        if len(classified) > MAX_BAR_CHARTS:
            st.caption(f"Bars for the first {MAX_BAR_CHARTS} faces; the table lists all {len(result.faces)}.")
    if result.faces:
        table = faces_table(analysis)
        percent = ["confidence", *map(prob_column, result.labels)]
        config = dict.fromkeys(percent, _PERCENT)
        st.dataframe(table, hide_index=True, column_config=config)


def show_image(
    item: tuple[str, bytes, str], classifier: ClassifierLike, detector: FaceDetector, settings: PipelineSettings
) -> ImageAnalysis:
    """One upload in its own bordered box; offers whole-image classification when no face is found."""
    name, data, key = item
    whole_key = f"image_whole_{key}"
    with st.container(border=True):
        st.subheader(literal(name))
        analysis = analyse_safely(name, data, st.session_state.get(whole_key, False), classifier, detector, settings)
        if not analysis.ok:
            st.error(literal(analysis.error))
            return analysis
        if analysis.found_no_face:
            reason = no_face_reason(detector, analysis.decoded.size)
            st.warning(f"No face was found in this image. {reason} Tick the box below to classify the whole image.")
        if analysis.found_no_face or analysis.whole_image:
            st.checkbox(
                "Classify the whole image as one face",
                key=whole_key,
                help="For a photo that is already a tight face crop, where the detector has no context to work with.",
            )
        show_faces(analysis, key)
        if analysis.result.faces:
            saliency_section(analysis, classifier, settings.crop_margin, key)
    return analysis


def download_buttons(analyses: list[ImageAnalysis], model: str) -> None:
    """JSON (every image, errors included) and CSV (one row per face) of all results."""
    st.subheader("Download all results")
    json_column, csv_column = st.columns(2)
    json_column.download_button(
        "Results as JSON",
        results_json(analyses, model),
        file_name="fer_results.json",
        mime="application/json",
        on_click="ignore",
        key="image_download_json",
    )
    csv_column.download_button(
        "Faces as CSV",
        results_table(analyses).to_csv(index=False),
        file_name="fer_results.csv",
        mime="text/csv",
        on_click="ignore",
        key="image_download_csv",
    )


st.title("Image")
demo = demo_sidebar("image", max_faces=PHOTO_MAX_FACES)
model = load_classifier_or_stop(demo.model)
face_detector = get_detector(demo.detector, PHOTO_PRESET)
images = chosen_images()
if not images:
    st.info("Upload one or more photos, or tick **Use the sample photo**.")
    st.stop()
results = [show_image(item, model, face_detector, demo.pipeline) for item in images]
download_buttons(results, model.name)
del results, images  # shown and serialised for download: the pixels can go before the session idles
release_freed_memory()
