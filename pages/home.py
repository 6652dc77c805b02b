"""Home page: what FER Studio does, the default model's card, and the sample photo analysed on load."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from fer_app.common import get_detector
from fer_app.demo_views import load_classifier_or_stop, render_model_card, selected_default_model
from fer_app.routing import enter_through_navigation
from fer_core.apps.photo import PHOTO_PRESET, SAMPLE_PHOTO_NAME, analyse_image, sample_photo_bytes
from fer_core.viz.demo import probability_figure

enter_through_navigation()

PAGE_LINKS = (
    ("pages/live.py", "Live webcam: faces and emotions in real time", ":material/videocam:"),
    ("pages/image.py", "Image: analyse your photos, download the results", ":material/image:"),
    ("pages/video.py", "Video: annotate a clip, emotion timeline per face", ":material/movie:"),
    ("pages/compare.py", "Leaderboard: compare the trained models", ":material/leaderboard:"),
    (
        "pages/robustness.py",
        "Robustness: accuracy on shrunken, blurred, noisy, dark or covered faces",
        ":material/photo_size_select_small:",
    ),
    ("pages/subgroups.py", "Subgroups: kids vs adults, with bootstrap intervals", ":material/groups:"),
)


def page_links() -> None:
    """Links to the other pages; a page missing from the navigation (e.g. this file run alone) is skipped."""
    for path, label, icon in PAGE_LINKS:
        try:
            st.page_link(path, label=label, icon=icon)
        except StreamlitPageNotFoundError:
            continue


def sample_analysis(model: str) -> None:
    """The bundled astronaut photo through the same path as an upload: annotated image and probability bars."""
    classifier = load_classifier_or_stop(model)
    detector = get_detector("haar", PHOTO_PRESET)
    analysis = analyse_image(SAMPLE_PHOTO_NAME, sample_photo_bytes(), classifier, detector)  # the Image page's path
    image_column, bars_column = st.columns([3, 2])
    image_column.image(analysis.annotated, channels="BGR", caption="Sample photo (scikit-image astronaut, NASA)")
    with bars_column:
        if not analysis.result.faces:
            st.info("No face found in the sample photo.")
        for number, face in enumerate(analysis.result.faces, 1):
            if face.probabilities is not None:
                figure = probability_figure(analysis.result.labels, face.probabilities, f"Face {number}")
                st.plotly_chart(figure, key=f"home_face_{number}")


st.title("FER Studio")
st.markdown(
    "Facial expression recognition in the browser: faces are found with a face detector, each face is classified "
    "into an emotion by a model trained on FER2013 or FER+, and the result is drawn on the picture. Try it on "
    "your webcam, your photos or a video file, and compare the trained models on the dashboard."
)
page_links()

default_model = selected_default_model()
if default_model is None:
    st.warning("No model is installed yet, so there is nothing to demonstrate: see `checkpoints/` in the README.")
    st.stop()

st.subheader("Default model")
render_model_card(load_classifier_or_stop(default_model).card)
st.subheader("Try it: the sample photo")
sample_analysis(default_model)
