"""The one place the app loads models and detectors (cached across reruns and sessions)."""

from __future__ import annotations

import os

import streamlit as st
import torch

from fer_core.detect import available_detectors, create_detector
from fer_core.zoo import Classifier, ModelLoadError, default_model_name, list_models, load_model

__all__ = ["PHOTO_MAX_SIDE", "detector_choices", "dnn_model_path", "get_classifier", "get_detector", "model_choices"]

# Detection size for uploaded photos: larger than the live default (256 px, tuned for webcam FPS) so
# smaller faces in group photos are still found; a photo is analysed once, so the extra milliseconds are cheap.
PHOTO_MAX_SIDE = 640


def dnn_model_path() -> str | None:
    """Path of the optional YuNet model file (settings: FER_DNN_DETECTOR)."""
    return os.environ.get("FER_DNN_DETECTOR") or None


@st.cache_resource(show_spinner="Loading model...")
def get_classifier(name: str = "default") -> Classifier:
    """A loaded model, shared by every session (models are read-only at inference).

    Torch gets one intra-op thread: per-face batches are tiny, and on a 2-core server a second thread only
    fights the detector and the other sessions (the classify stage's slow frames got several times slower).
    """
    torch.set_num_threads(1)
    return load_model(name)


@st.cache_resource
def get_detector(kind: str = "haar", max_side: int | None = None):
    """A face detector; ``kind`` in ``available_detectors()``; ``max_side`` overrides its detection size."""
    options = {} if max_side is None else {"max_side": max_side}
    return create_detector(kind, model_path=dnn_model_path(), **options)


def model_choices() -> tuple[list[str], int]:
    """Shipped model names and the index of the default one (for a selectbox)."""
    names = list_models()
    try:
        default = default_model_name() if names else None
    except ModelLoadError:  # models but no (valid) default.json: the first one is as good a start as any
        default = None
    return names, names.index(default) if default in names else 0


def detector_choices() -> list[str]:
    """Detector kinds usable on this machine (for a selectbox)."""
    return available_detectors(dnn_model_path())
