"""The one place the app loads models and detectors (cached across reruns and sessions)."""

from __future__ import annotations

import sys

import streamlit as st

from fer_core import settings
from fer_core.serving.classifier import AnyClassifier, ModelLoadError, load_model
from fer_core.store.model_dir import HEAD_SEPARATOR, Checkpoints, split_head
from fer_core.vision.detect import available_detectors, create_detector

__all__ = ["detector_choices", "dnn_model_path", "get_classifier", "get_detector", "model_choices"]


def dnn_model_path() -> str | None:
    """Path of the optional YuNet model file (fer_core.settings: FER_DNN_DETECTOR)."""
    path = settings.dnn_detector()
    return str(path) if path else None


@st.cache_resource(show_spinner="Loading model...")
def get_classifier(name: str = "default") -> AnyClassifier:
    """A loaded model, shared by every session (models are read-only at inference).

    Torch gets one intra-op thread: per-face batches are tiny, and on a 2-core server a second thread only
    fights the detector and the other sessions (the classify stage's slow frames got several times slower).
    Torch is only touched when the model needed it: an ONNX model on the light install never imports it.
    """
    classifier = load_model(name)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return classifier


@st.cache_resource
def get_detector(kind: str = "haar", preset: str = "live"):
    """A face detector; ``kind`` in ``available_detectors()``, ``preset`` the source (``fer_core.vision.detect``
    presets: ``live`` for speed, ``photo`` and ``video`` for recall)."""
    return create_detector(kind, model_path=dnn_model_path(), preset=preset)


def model_choices() -> tuple[list[str], int]:
    """Model names for a selectbox (``name@head`` once per label set of a multi-head model), default's index."""
    checkpoints = Checkpoints.at()
    names = checkpoints.choices()
    try:
        default = checkpoints.default_name() if names else None
    except ModelLoadError:  # models but no (valid) default.json: the first one is as good a start as any
        default = None
    if default is not None and default not in names:
        base, head = split_head(default)
        head = head or checkpoints.read_card(base).default_head
        default = f"{base}{HEAD_SEPARATOR}{head}" if head else default
    return names, names.index(default) if default in names else 0


def detector_choices() -> list[str]:
    """Detector kinds usable on this machine (for a selectbox)."""
    return available_detectors(dnn_model_path())
