"""Streamlit pieces shared by the demo pages: the settings sidebar, model loading with a clear stop, the model card.

Models and detectors themselves come only from ``fer_app.common`` (the one cached loader); this module turns the
sidebar widgets into ``PipelineSettings`` and renders what a card says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from fer_app.common import detector_choices, get_classifier, model_choices
from fer_app.plain_text import literal
from fer_core.serving.classifier import AnyClassifier, ModelLoadError
from fer_core.store.card import ModelCard, TestMetrics
from fer_core.vision.pipeline import PipelineSettings

__all__ = [
    "DemoSettings",
    "demo_sidebar",
    "load_classifier_or_stop",
    "model_card_facts",
    "render_model_card",
    "selected_default_model",
]

_NO_MODEL = (
    "No model is installed. Put a model directory (card.json + model.safetensors) under `checkpoints/` and name "
    'it in `checkpoints/default.json` as `{"model": "<directory>"}`, or train one with `python -m fer_core train`.'
)


@dataclass(frozen=True)
class DemoSettings:
    """What the sidebar chose: a model name, a detector kind and the pipeline knobs."""

    model: str
    detector: str
    pipeline: PipelineSettings


def selected_default_model() -> str | None:
    """Name of the default shipped model, or ``None`` when no model is installed."""
    names, index = model_choices()
    return names[index] if names else None


@dataclass(frozen=True)
class _Knob:
    """A sidebar slider for one ``PipelineSettings`` field (its default comes from ``PipelineSettings``)."""

    field: str
    label: str
    low: float
    high: float
    step: float
    help: str

    def slider(self, page: str) -> float:
        default = getattr(PipelineSettings(), self.field)
        return st.slider(
            self.label, self.low, self.high, default, self.step, key=f"{page}_{self.field}", help=self.help
        )


_KNOBS = (
    _Knob(
        "confidence_threshold", "Confidence threshold", 0.0, 1.0, 0.05,
        "Faces whose top probability is below this are shown as 'uncertain'.",
    ),
    _Knob(
        "crop_margin", "Crop margin", 0.0, 0.5, 0.05,
        "Widen each detected box by this fraction per side. 0 frames faces like the FER2013 training crops "
        "(for the Haar detector); a model trained on looser crops may want more.",
    ),
)  # fmt: skip
_SMOOTHING = _Knob(
    "smoothing", "Temporal smoothing", 0.0, 0.9, 0.1,
    "Weight of the past in each face's running average (0 = every frame on its own).",
)  # fmt: skip


def demo_sidebar(page: str, *, temporal: bool = False, max_faces: int = 10) -> DemoSettings:
    """Model, detector, confidence threshold and crop margin (plus smoothing when ``temporal``) in the sidebar.

    Widget keys are prefixed with ``page`` so each page keeps its own choices. Stops the page when no model exists.
    """
    names, index = model_choices()
    with st.sidebar:
        st.header("Settings")
        if not names:
            st.error(_NO_MODEL)
            st.stop()
        model = st.selectbox("Model", names, index=index, key=f"{page}_model")
        help_text = "YuNet (dnn) is offered when its model file is configured (FER_DNN_DETECTOR)."
        detector = st.selectbox("Face detector", detector_choices(), key=f"{page}_detector", help=help_text)
        knobs = (*_KNOBS, _SMOOTHING) if temporal else _KNOBS
        values: dict[str, Any] = {knob.field: knob.slider(page) for knob in knobs}
    values.setdefault("smoothing", 0.0)  # a still image has no past to smooth with
    return DemoSettings(model, detector, PipelineSettings(max_faces=max_faces, **values))


def load_classifier_or_stop(name: str) -> AnyClassifier:
    """The cached model, or an error box and a stopped page when its directory cannot be loaded."""
    try:
        return get_classifier(name)
    except ModelLoadError as err:
        st.error(f"Model {literal(name)} could not be loaded: {literal(err)}")
        st.stop()
        raise  # st.stop() raises; this keeps type checkers from assuming a fall-through


def _percent(value) -> str:
    return f"{float(value):.1%}" if isinstance(value, int | float) else "-"


def _count(params) -> str:
    """Parameter count as "1.23 M" or "45.6 k" (tiny test models would read "0.00 M")."""
    if not isinstance(params, int | float):
        return "-"
    return f"{params / 1e6:.2f} M" if params >= 1e5 else f"{params / 1e3:.1f} k"


def _tests_of(card: ModelCard) -> list[tuple[str | None, TestMetrics]]:
    """The card's test metrics: each head's on its own dataset for a model with two or more evaluated heads (the
    card's own figures are one of them, the served head's, or none for a fused answer), else its own."""
    heads = card.heads or {}
    per_head: list[tuple[str | None, TestMetrics]] = [
        (head, entry.test_metrics) for head, entry in heads.items() if entry.test_metrics is not None
    ]
    if len(per_head) > 1 or (per_head and card.test_metrics is None):
        return per_head
    return [(None, card.test_metrics or TestMetrics())]


def _where(head: str | None, test: TestMetrics) -> str:
    where = " ".join(str(v) for v in (test.dataset, test.split) if v is not None)
    return f"{where} ({head} head)" if head and where else where


def model_card_facts(card: ModelCard) -> dict[str, str]:
    """The headline facts of a card as display strings ("-" where the card does not say); a two-head model's
    test figures per head, joined by " · "."""
    tests = _tests_of(card)
    latency = card.latency_ms_per_face  # written by ``python -m fer_core bench --update-card``
    evaluated_on = ", ".join(filter(None, (_where(head, test) for head, test in tests)))
    return {
        "model": card.id or "-",
        "architecture": f"{card.architecture or '-'} ({card.family or '?'})",
        "labels": ", ".join(card.labels or ()) or "-",
        "test accuracy": " · ".join(_percent(test.accuracy) for _, test in tests),
        "test macro-F1": " · ".join(_percent(test.macro_f1) for _, test in tests),
        "evaluated on": evaluated_on or "not evaluated yet",
        "parameters": _count(card.params),
        "CPU latency": f"{latency:.2f} ms / face" if latency is not None else "-",
        "trained on": str(card.training_fact("dataset") or "-"),
        "selected on": str(card.training_fact("selection_split") or "-"),
    }


def _metric_row(metrics: list[tuple[str, str]]) -> None:
    """Up to four metrics side by side, in four columns (so every row's columns line up)."""
    for column, (title, value) in zip(st.columns(4), metrics, strict=False):
        column.metric(title, value)


def render_model_card(card: ModelCard) -> None:
    """The card's headline numbers as metrics, and the provenance facts underneath."""
    facts = model_card_facts(card)
    st.markdown(f"**Model** {literal(facts['model'])} · {literal(facts['architecture'])}")
    tests = _tests_of(card)
    # The unit "per face" goes in the title: a 4-column metric value of "0.59 ms / face" is cut off at 1280 px.
    size_and_speed = [
        ("Parameters", facts["parameters"]),
        ("CPU latency per face", facts["CPU latency"].removesuffix(" / face")),
    ]
    if len(tests) == 1:
        _metric_row(
            [("Test accuracy", facts["test accuracy"]), ("Test macro-F1", facts["test macro-F1"]), *size_and_speed]
        )
    else:  # one pair per head: "67.6% · 79.8%" in one metric is cut off at 1280 px
        per_head = [
            (f"{head} {what}", _percent(getattr(test, key)))
            for head, test in tests
            for what, key in (("test accuracy", "accuracy"), ("macro-F1", "macro_f1"))
        ]
        _metric_row(per_head[:4])
        _metric_row(size_and_speed)
    st.caption(
        f"Evaluated on: {literal(facts['evaluated on'])} · trained on {literal(facts['trained on'])}, checkpoint "
        f"selected on the {literal(facts['selected on'])} split · classes: {literal(facts['labels'])}"
    )
