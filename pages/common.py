"""The one place the app loads models and detectors (cached across reruns and sessions)."""

from __future__ import annotations

import os

import streamlit as st

from fer_core.detect import available_detectors, create_detector
from fer_core.zoo import Classifier, default_model_name, list_models, load_model

__all__ = ["dnn_model_path", "get_classifier", "get_detector", "model_choices"]


def dnn_model_path() -> str | None:
    """Path of the optional YuNet model file (settings: FER_DNN_DETECTOR)."""
    return os.environ.get("FER_DNN_DETECTOR") or None


@st.cache_resource(show_spinner="Loading model...")
def get_classifier(name: str = "default") -> Classifier:
    """A loaded model, shared by every session (models are read-only at inference)."""
    return load_model(name)


@st.cache_resource
def get_detector(kind: str = "haar"):
    """A face detector; ``kind`` in ``available_detectors()``."""
    return create_detector(kind, model_path=dnn_model_path())


def model_choices() -> tuple[list[str], int]:
    """Shipped model names and the index of the default one (for a selectbox)."""
    names = list_models()
    default = default_model_name() if names else None
    return names, names.index(default) if default in names else 0


def detector_choices() -> list[str]:
    return available_detectors(dnn_model_path())
